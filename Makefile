# The README's commands: `make run` runs the default study, `make test` the test suite;
# `make run CONFIG=FILE` and `make report CONFIG=FILE` run a study of another config and build its report.
PYTHON ?= python3
# The config of `run` and `report`; a config file replaces the default rather than merging over it.
CONFIG ?= config/config.yaml
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The tests' SLURM executor plugin (the slurm extra), kept off the venv's path: snakemake imports
# every installed executor plugin at start, and this one then asks `scontrol` for the cluster's
# config, which waits 9 s where a SLURM client has no controller (this CI machine, between its
# SLURM tests). The tests that use the slurm profile put it on PYTHONPATH (tests/conftest.py).
SLURM_PLUGINS := $(VENV)/slurm-plugins
SLURM_PLUGIN_WHEELS := snakemake-executor-plugin-slurm==2.8.0 snakemake-executor-plugin-slurm-jobstep==0.6.1
SNAKEMAKE_ARGS ?=

.PHONY: setup run test lint report clean

setup: $(STAMP)

# uv installs (pip's own sources, read from pip's config, so that torch and torchvision, pinned, come from
# this machine's disk): it unpacks wheels in parallel and keeps them in its cache, so setup takes
# about 30 s on 2 cores (22 s for uv's part with a cold cache, 3 s with a warm one), against 99 s
# for pip plus 17 s to byte-compile the venv. Nothing is byte-compiled ahead: Python writes the
# bytecode of what a job imports the first time (about 5 s for torch, once), which the later jobs
# share, rather than compiling every module of the venv. An environment's PYTHONDONTWRITEBYTECODE
# is not passed on, or every job would compile torch anew.
# uv itself stays off the venv's path, as the SLURM plugin does: not a dependency of the project.
unexport PYTHONDONTWRITEBYTECODE
UV_HOME := $(VENV)/uv
UV = $(UV_HOME)/bin/uv
PIP_SOURCE = $(shell $(PYTHON) -m pip config get global.$(1) 2>/dev/null)
UV_SOURCES = $(addprefix --index-url ,$(or $(PIP_INDEX_URL),$(call PIP_SOURCE,index-url))) \
	$(addprefix --extra-index-url ,$(sort $(PIP_EXTRA_INDEX_URL) $(call PIP_SOURCE,extra-index-url))) \
	$(addprefix --find-links ,$(sort $(PIP_FIND_LINKS) $(call PIP_SOURCE,find-links))) \
	--index-strategy unsafe-best-match

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --target $(UV_HOME) uv
	$(UV) pip install --quiet --python $(BIN)/python $(UV_SOURCES) torch==2.14.1 torchvision==0.29.1 -e '.[test]'
	$(UV) pip install --quiet --python $(BIN)/python $(UV_SOURCES) --no-deps --target $(SLURM_PLUGINS) $(SLURM_PLUGIN_WHEELS)
	touch $(STAMP)

run: setup
	$(BIN)/snakemake --configfile $(CONFIG) --cores all $(SNAKEMAKE_ARGS)

test: setup
	$(BIN)/python -m pytest -ra $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check scripts tests
	$(BIN)/snakemake --lint

report: setup
	$(BIN)/snakemake --configfile $(CONFIG) --report report.zip

clean:
	rm -rf results .snakemake report.zip
