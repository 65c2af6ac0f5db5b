"""Shared fixtures: the repository layout and a small MNIST-1D dataset."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import yaml  # noqa: E402
from deepstudy import data  # noqa: E402
from deepstudy.config import load_schema, validate  # noqa: E402
from deepstudy.continual import workflow as continual_workflow  # noqa: E402
from deepstudy.noise import workflow as noise_workflow  # noqa: E402
from deepstudy.regions import workflow as regions_workflow  # noqa: E402

#: Each study's cross-checks, as workflow/rules/common.smk passes them to validate.
STUDY_CHECKS = {
    "noise": noise_workflow.check,
    "regions": regions_workflow.check,
    "continual": continual_workflow.check,
}


def validate_study(config: dict, schema: dict) -> dict:
    """Validate a config as the workflow does: the schema, then each listed study's checks."""
    return validate(config, schema, STUDY_CHECKS)


#: Where make setup puts the SLURM executor plugin, off the venv's path (see the Makefile).
SLURM_PLUGINS = Path(sys.prefix) / "slurm-plugins"


def with_slurm_plugin(environment: dict[str, str]) -> dict[str, str]:
    """``environment`` with the SLURM executor plugin on PYTHONPATH, for a snakemake that uses the
    slurm profile (its jobs inherit it through sbatch)."""
    paths = [str(SLURM_PLUGINS), *filter(None, [environment.get("PYTHONPATH")])]
    return {**environment, "PYTHONPATH": os.pathsep.join(paths)}


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def mnist1d_small():
    """2,000 MNIST-1D examples (1,600 train, 400 test)."""
    return data.make_mnist1d(2000, seed=7)


@pytest.fixture(scope="session")
def schema():
    return load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml")


@pytest.fixture
def config():
    """The tiny test study (tests/data/tiny.yaml), fresh for each test."""
    with open(REPO / "tests" / "data" / "tiny.yaml") as handle:
        return yaml.safe_load(handle)
