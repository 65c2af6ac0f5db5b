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

# torch and torchvision pinned, so that pip takes the builds on this machine's disk. pip byte-compiles
# one file at a time; compileall on every core does it in a third of the time (setup 93 -> 76 s on
# 2 cores). Its status is ignored: a few of torch's test helpers are newer Python than the venv's,
# which pip would skip just as silently.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --no-compile torch==2.14.1 torchvision==0.29.1 -e '.[test]'
	-$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null 2>&1
	$(BIN)/pip install --quiet --no-deps --target $(SLURM_PLUGINS) $(SLURM_PLUGIN_WHEELS)
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
