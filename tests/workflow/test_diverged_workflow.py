"""End to end: a sweep with one exploding noise run and a continual study whose runs explode
finishes, every figure is written and marks the diverged runs, and the summaries count them.

The learning rates are 1e6: in runs this short, lr 1000 can leave a ReLU net dead (finite loss)
rather than overflow it, and the noise run overflows in its second epoch."""

from __future__ import annotations

import pytest
import xarray as xr
import yaml
from deepstudy.continual import workflow as continual_workflow
from deepstudy.noise import workflow as noise_workflow
from deepstudy.paths import FIGURE_FORMATS
from deepstudy.store import store_root
from PIL import Image
from test_workflow import snakemake

pytestmark = pytest.mark.slow

CONFIG = {
    "studies": ["noise", "continual"],
    "data_root": "data",
    "device": "cpu",
    "datasets": {"mnist1d": {"num_samples": 400, "seed": 3}},
    "models": {"mlp": {"architecture": "mlp", "depth": 1, "width": 16}},
    "noise": {
        "dataset": "mnist1d",
        "validation": {"examples": 40},
        "training": {"epochs": 2, "epoch_examples": 128, "checkpoint_epochs": [2]},
        "grid": [
            {
                "model": ["mlp"],
                "noise": ["uniform"],
                "alpha": [0, 1],
                "n_clean": [50, 100],
                "batch_size": [32],
                "lr": [0.05],
                "seed": [0],
            },
            {
                "model": ["mlp"],
                "noise": ["uniform"],
                "alpha": [1],
                "n_clean": [100],
                "batch_size": [32],
                "lr": [1.0e6],
                "seed": [0],
            },
        ],
        "plots": {"target_accuracy": 0.15},
    },
    "continual": {
        "dataset": "mnist1d",
        "model": "mlp",
        "streams": {"split": {"kind": "split", "tasks": 2, "scenarios": ["class"]}},
        "strategies": ["finetune"],
        "buffer_size": [20],
        "seed": [0],
        "training": {"lr": 1.0e6, "batch_size": 32, "eval_every": 2},
    },
}


def test_a_sweep_with_diverged_runs_draws_every_figure_and_counts_them(repo, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(repo / "scripts"))  # the rule scripts import this checkout
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    result = snakemake(repo, tmp_path, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    noise = xr.open_zarr(tmp_path / store_root(noise_workflow.PATHS["summary"]))
    assert int(noise["n_diverged"].sel(lr=1.0e6).sum()) == 1 == int(noise["n_diverged"].sum())
    continual = xr.open_zarr(tmp_path / store_root(continual_workflow.PATHS["summary"]))
    assert int(continual["n_diverged"].sum()) == int(continual["n_runs"].sum()) > 0  # every run exploded
    for study in (noise_workflow, continual_workflow):
        for name in study.FIGURES:
            path = tmp_path / study.PATHS["figure"].format(figure=name)
            for ext in FIGURE_FORMATS:
                assert path.with_name(f"{path.name}.{ext}").stat().st_size > 1000
            said = Image.open(path.with_name(f"{path.name}.png")).text["Description"]
            assert "diverged" in said and "could not be drawn" not in said, (name, said)
