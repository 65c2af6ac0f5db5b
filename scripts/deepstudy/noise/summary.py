"""The label-noise summary: every run's metrics on one grid of named dimensions."""

from __future__ import annotations

import numpy as np
import xarray as xr

from deepstudy.noise.workflow import FACTORS, PLOTTED_FACTORS

#: The summary's dimensions: the grid's factors with the clean-set size and the seed last.
DIMS = (*(f for f in FACTORS if f not in ("n_clean", "seed")), "n_clean", "seed")


def collect(metrics: list[xr.Dataset]) -> xr.Dataset:
    """Combine per-job metrics (dimension ``run`` with factor coordinates) into the study grid.

    The result has dimensions ``model``, ``noise``, ``alpha``, ``batch_size``, ``lr``, ``n_clean``,
    ``seed`` and ``epoch``; grid cells without a run hold NaN. ``test_accuracy`` is the final clean
    test accuracy. Noise is often memorised late, so each run's best epoch is chosen too: on its
    validation examples (``best_epoch``, never on the test set), and ``best_epoch_accuracy`` is the
    clean test accuracy there. ``n_diverged`` counts, per point of the grid, the seeds whose run
    diverged: they have no final accuracy, so the means over seeds leave them out.
    """
    runs = xr.concat([m.load() for m in metrics], dim="run", coords="minimal", compat="override")
    runs["diverged"] = runs["diverged"].astype(np.float64)
    grid = runs.drop_vars("run").set_index(run=list(DIMS)).unstack("run")
    grid = grid.transpose(*DIMS, "epoch")
    curve, validation = grid["accuracy_curve"], grid["validation_curve"]
    best = validation.fillna(-1.0).idxmax("epoch").where(validation.notnull().any("epoch"))
    summary = xr.Dataset(
        {
            "test_accuracy": curve.isel(epoch=-1, drop=True),
            "best_epoch_accuracy": curve.sel(epoch=best.fillna(1).astype(int)).where(best.notnull()),
            "best_epoch": best,
            "accuracy_curve": curve,
            "validation_curve": validation,
            "train_loss": grid["train_loss"],
            "diverged": grid["diverged"],
            "n_diverged": (grid["diverged"] == 1).sum("seed"),
            "train_seconds": grid["train_seconds"],
        },
        attrs={"num_classes": int(metrics[0].attrs["num_classes"])},
    )
    summary["test_accuracy"].attrs.update(
        units="fraction", description="clean test accuracy after the last epoch"
    )
    summary["best_epoch_accuracy"].attrs.update(
        units="fraction", description="clean test accuracy at the best epoch (chosen on validation examples)"
    )
    summary["best_epoch"].attrs.update(
        units="epoch", description="epoch of the best accuracy on the validation examples (first of ties)"
    )
    summary["accuracy_curve"].attrs.update(metrics[0]["accuracy_curve"].attrs)
    summary["validation_curve"].attrs.update(metrics[0]["validation_curve"].attrs)
    summary["train_loss"].attrs.update(metrics[0]["train_loss"].attrs)
    summary["diverged"].attrs["description"] = (
        "1 where the loss turned NaN, infinite or above 100 ln(classes), 0 where not, NaN where no run"
    )
    summary["n_diverged"].attrs.update(
        units="runs",
        description="seeds whose run diverged (no final accuracy: left out of the means over seeds)",
    )
    summary["train_seconds"].attrs["units"] = "s"
    summary["alpha"].attrs["description"] = "noisy examples per clean example"
    summary["n_clean"].attrs["description"] = "clean training examples"
    summary["lr"].attrs["description"] = "learning rate"
    summary["epoch"].attrs["description"] = "epochs completed"
    return summary


def clean_needed(accuracy: xr.DataArray, target: float) -> xr.DataArray:
    """Clean examples needed to reach ``target`` accuracy, per remaining coordinate.

    ``accuracy`` has an ``n_clean`` dimension; the answer interpolates log-linearly between the
    largest clean-set size below the target and the next one reaching it. It is NaN where no size
    reaches the target, and the smallest size where that one already does (an upper bound).
    """

    def needed(values: np.ndarray) -> float:
        ok = np.flatnonzero(np.nan_to_num(values, nan=-1.0) >= target)
        if len(ok) == 0:
            return np.nan
        i = ok[0]
        if i == 0:
            return sizes[0]
        lo, hi = values[i - 1], values[i]
        if np.isnan(lo):
            return sizes[i]
        fraction = (target - lo) / (hi - lo)
        return float(np.exp(np.log(sizes[i - 1]) + fraction * np.log(sizes[i] / sizes[i - 1])))

    accuracy = accuracy.sortby("n_clean")
    sizes = accuracy["n_clean"].values.astype(float)
    result = xr.apply_ufunc(needed, accuracy, input_core_dims=[["n_clean"]], vectorize=True)
    result.attrs.update(units="examples", description=f"clean examples needed for accuracy {target}")
    return result


def reference(summary: xr.Dataset, plots: dict) -> dict:
    """The batch size, learning rate and clean-set size that figures hold fixed.

    A value set in ``plots`` wins; otherwise the one with the most runs is taken.
    """
    ran = summary["test_accuracy"].notnull()
    chosen = {}
    for factor in PLOTTED_FACTORS:
        if plots.get(factor) is not None:
            chosen[factor] = plots[factor]
        else:
            counts = ran.sum([d for d in ran.dims if d != factor])
            chosen[factor] = counts[factor].values[int(np.argmax(counts.values))].item()
    return chosen
