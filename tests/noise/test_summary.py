"""The label-noise summary and figures: the best epoch is chosen on validation examples, and diverged
runs are counted and shown rather than silently left out of the seed means."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
from deepstudy.jobs import add_factor_coords
from deepstudy.noise import plots, summary

NAN = math.nan


def job(runs: list[dict], test: list, validation: list) -> xr.Dataset:
    """The metrics store of a training job (see deepstudy.plan_training.train_job) with these curves."""
    test, validation = np.asarray(test, dtype=float), np.asarray(validation, dtype=float)
    metrics = xr.Dataset(
        {
            "accuracy_curve": (("run", "epoch"), test),
            "validation_curve": (("run", "epoch"), validation),
            "train_loss": (("run", "epoch"), np.where(np.isnan(test), NAN, 1.0)),
            "diverged": ("run", np.isnan(test[:, -1])),
            "train_seconds": ("run", np.ones(len(runs))),
        },
        coords={"run": [f"run{i}" for i in range(len(runs))], "epoch": np.arange(1, test.shape[1] + 1)},
        attrs={"num_classes": 10},
    )
    add_factor_coords(metrics, [{"factors": run} for run in runs])
    return metrics


def run(alpha: float, seed: int, n_clean: int = 100) -> dict:
    return dict(model="mlp", noise="uniform", alpha=alpha, n_clean=n_clean, batch_size=64, lr=0.05, seed=seed)


@pytest.fixture
def grid() -> xr.Dataset:
    """Two seeds at α = 0 and 1 and two clean-set sizes; one run at α = 1 diverges after epoch 1."""
    runs = [run(0, 0), run(0, 1), run(1, 0), run(1, 1), run(0, 0, 200), run(1, 0, 200)]
    test = [
        [0.5, 0.7, 0.6],  # the test set's best epoch is 2 ...
        [0.4, 0.5, 0.6],
        [0.3, NAN, NAN],  # diverged
        [0.3, 0.4, 0.2],
        [0.6, 0.7, 0.8],
        [0.5, 0.6, 0.7],
    ]
    validation = [
        [0.5, 0.55, 0.6],  # ... the validation examples' epoch 3
        [0.45, 0.4, 0.42],
        [0.35, NAN, NAN],
        [0.3, 0.5, 0.2],
        [0.6, 0.7, 0.8],
        [0.5, 0.6, 0.7],
    ]
    return summary.collect([job(runs[:3], test[:3], validation[:3]), job(runs[3:], test[3:], validation[3:])])


def test_the_best_epoch_is_chosen_on_validation_examples_and_reports_its_test_accuracy(grid):
    point = {"model": "mlp", "noise": "uniform", "batch_size": 64, "lr": 0.05, "n_clean": 100}
    best = grid["best_epoch"].sel(point)
    accuracy = grid["best_epoch_accuracy"].sel(point)
    assert best.sel(alpha=0).values.tolist() == [3, 1]
    np.testing.assert_allclose(accuracy.sel(alpha=0).values, [0.6, 0.4])  # the test set says 0.7, 0.6
    assert best.sel(alpha=1).values.tolist() == [1, 2]  # a diverged run's best epoch is before it diverged
    np.testing.assert_allclose(accuracy.sel(alpha=1).values, [0.3, 0.4])
    assert "validation" in grid["best_epoch"].attrs["description"]
    assert "peak_accuracy" not in grid  # no choice on the test set is left
    first = grid["validation_curve"].sel({**point, "alpha": 0, "seed": 0})
    np.testing.assert_allclose(first, [0.5, 0.55, 0.6])
    missing = grid["best_epoch"].sel({**point, "n_clean": 200, "alpha": 1, "seed": 1})
    assert math.isnan(float(missing))  # no such run


def test_the_summary_counts_diverged_runs_per_point(grid):
    counts = grid["n_diverged"]
    assert "seed" not in counts.dims and counts.attrs["units"] == "runs"
    assert counts.sel(alpha=1, n_clean=100).item() == 1
    assert counts.sel(alpha=0, n_clean=100).item() == 0
    assert counts.sel(alpha=1, n_clean=200).item() == 0


def texts(figure: plt.Figure) -> str:
    found = " | ".join(t.get_text() for t in figure.findobj(lambda a: hasattr(a, "get_text")))
    plt.close(figure)
    return found


@pytest.mark.parametrize("name", list(plots.FIGURES))
def test_every_figure_shows_how_many_runs_diverged(grid, name):
    options = {"target_accuracy": 0.5, "batch_size": None, "lr": None, "n_clean": 100}
    assert "1 diverged" in texts(plots.FIGURES[name](grid, options))
    calm = grid.copy()
    calm["n_diverged"] = xr.zeros_like(calm["n_diverged"])
    assert "diverged" not in texts(plots.FIGURES[name](calm, options))
