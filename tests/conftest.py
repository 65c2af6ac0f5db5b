"""Shared fixtures: the repository layout and a small MNIST-1D dataset."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from deepstudy import data  # noqa: E402


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def mnist1d_small():
    """2,000 MNIST-1D examples (1,600 train, 400 test)."""
    return data.make_mnist1d(2000, seed=7)
