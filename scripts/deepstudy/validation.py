"""Checks of a job's inputs before it trains: images finite and within the range recorded when the
dataset was prepared, labels that are classes, plan indices within the data they index.

A checksum finds a damaged chunk; these find values no checksum vouches for (a store written
before stores had checksums, or a bug upstream), so that no job trains on them. They cost one pass
of comparisons over arrays already in memory. A failure is one line naming the store and the
array, with the command that rebuilds the store (:func:`deepstudy.store.damaged`).
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from deepstudy.store import damaged


def value_range(images: np.ndarray) -> dict[str, float]:
    """The attributes that record the range of ``images`` (CF's ``valid_min`` and ``valid_max``)."""
    return {"valid_min": float(images.min()), "valid_max": float(images.max())}


def check_dataset(ds: xr.Dataset) -> None:
    """A prepared dataset's images are finite, of its input shape and within their recorded range,
    and its labels are among its classes."""
    shape = tuple(int(s) for s in ds.attrs["input_shape"])
    for split in ("train", "test"):
        images = ds[f"{split}_x"]
        name = f"{split}_x"
        if tuple(images.shape[1:]) != shape:
            raise damaged(ds, name, f"examples of shape {tuple(images.shape[1:])}, not {shape}")
        _check_finite(ds, name)
        if "valid_min" in images.attrs:
            low, high = images.attrs["valid_min"], images.attrs["valid_max"]
            outside = int(np.count_nonzero((images.values < low) | (images.values > high)))
            if outside:
                raise damaged(ds, name, f"{outside} values outside the recorded range [{low}, {high}]")
        _check_indices(ds, f"{split}_y", int(ds.attrs["num_classes"]), "a class")
        if len(ds[f"{split}_y"]) != len(images):
            raise damaged(ds, f"{split}_y", f"{len(ds[f'{split}_y'])} labels for {len(images)} images")


def check_label_plan(plan: xr.Dataset, train_size: int, source_size: int, num_classes: int) -> None:
    """A label plan (see :mod:`deepstudy.plan_training`) indexes the ``train_size`` training
    images, or, ``from_source``, the ``source_size`` images of its source; its labels are classes."""
    from_source = plan["from_source"].values.astype(bool)
    index = plan["source_index"].values
    _check_indices(plan, "source_index", train_size, "a training image", index[~from_source])
    _check_indices(plan, "source_index", source_size, "a source image", index[from_source])
    _check_indices(plan, "label", num_classes, "a class")


def check_stream(plan: xr.Dataset, train_size: int, test_size: int) -> None:
    """A stream plan (see :mod:`deepstudy.continual.streams`) indexes the training and test splits,
    its tasks are among its ``tasks``, its task ends are in order, and its transformations are
    classes, permutations of the input's features, or finite angles."""
    tasks = int(plan.attrs["tasks"])
    _check_indices(plan, "example", train_size, "a training example")
    _check_indices(plan, "test_example", test_size, "a test example")
    _check_indices(plan, "example_task", tasks, "a task")
    _check_indices(plan, "test_task", tasks, "a task")
    if "classes" in plan:  # padded with -1 where a task has fewer classes
        classes = plan["classes"].values
        _check_indices(plan, "classes", int(plan.attrs["num_classes"]), "a class", classes[classes != -1])
    if "permutation" in plan:
        features = math.prod(int(s) for s in plan.attrs["input_shape"])
        _check_indices(plan, "permutation", features, "an input feature")
    ends = plan["task_end"].values
    if np.any(np.diff(ends) < 0) or ends.min(initial=0) < 0 or ends.max(initial=0) > len(plan["example"]):
        raise damaged(plan, "task_end", f"task ends {ends.tolist()} are not in order within the stream")
    for name, var in plan.data_vars.items():
        if var.dtype.kind == "f":
            _check_finite(plan, str(name))


def _check_finite(ds: xr.Dataset, name: str) -> None:
    values = ds[name].values
    if values.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(values)))
        if bad:
            raise damaged(ds, name, f"{bad} values are not finite")


def _check_indices(ds: xr.Dataset, name: str, size: int, what: str, values: np.ndarray | None = None) -> None:
    """The integers ``values`` (default: all of ``ds[name]``) each index one of ``size`` things."""
    values = ds[name].values if values is None else values
    if values.dtype.kind not in "iu":
        raise damaged(ds, name, f"values of type {values.dtype}, not integers")
    outside = int(np.count_nonzero((values < 0) | (values >= size)))
    if outside:
        raise damaged(ds, name, f"{outside} values are not {what} (0 to {size - 1})")
