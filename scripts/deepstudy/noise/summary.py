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
    test accuracy, ``peak_accuracy`` the best along training (noise is often memorised late).
    """
    runs = xr.concat([m.load() for m in metrics], dim="run", coords="minimal", compat="override")
    runs["diverged"] = runs["diverged"].astype(np.float64)
    grid = runs.drop_vars("run").set_index(run=list(DIMS)).unstack("run")
    grid = grid.transpose(*DIMS, "epoch")
    curve = grid["accuracy_curve"]
    summary = xr.Dataset(
        {
            "test_accuracy": curve.isel(epoch=-1, drop=True),
            "peak_accuracy": curve.max("epoch"),
            "peak_epoch": curve.fillna(-1.0).idxmax("epoch").where(curve.notnull().any("epoch")),
            "accuracy_curve": curve,
            "train_loss": grid["train_loss"],
            "diverged": grid["diverged"],
            "train_seconds": grid["train_seconds"],
        },
        attrs={"num_classes": int(metrics[0].attrs["num_classes"])},
    )
    summary["test_accuracy"].attrs.update(
        units="fraction", description="clean test accuracy after the last epoch"
    )
    summary["peak_accuracy"].attrs.update(
        units="fraction", description="best clean test accuracy over the epochs"
    )
    summary["peak_epoch"].attrs.update(units="epoch", description="epoch of the best clean test accuracy")
    summary["accuracy_curve"].attrs.update(metrics[0]["accuracy_curve"].attrs)
    summary["train_loss"].attrs.update(metrics[0]["train_loss"].attrs)
    summary["diverged"].attrs["description"] = "1 where the loss turned NaN, 0 where not, NaN where no run"
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
