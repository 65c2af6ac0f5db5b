"""A training job: several runs, each on its own dilution plan, written as one metrics Dataset."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from deepstudy import trainset
from deepstudy.data import Tensors
from deepstudy.training import RunSpec, history_arrays, train_run

SPEC_KEYS = tuple(RunSpec.__dataclass_fields__)


def run_spec(run: dict) -> RunSpec:
    """A :class:`RunSpec` from a run mapping of the workflow (extra keys such as factors ignored)."""
    values = {key: run[key] for key in SPEC_KEYS if key in run}
    values["checkpoint_epochs"] = tuple(values.get("checkpoint_epochs", ()))
    return RunSpec(**values)


def save_checkpoint(path: str | Path, state: dict, spec: RunSpec, epoch: int, meta: dict) -> None:
    """Weights of a run at one epoch, with what is needed to rebuild the network."""
    torch.save({"state_dict": state, "epoch": epoch, "model": spec.model, "run": spec.name, **meta}, path)


def train_job(
    runs: list[dict],
    plans: list[xr.Dataset],
    data: Tensors,
    checkpoint_paths: list[str],
    resume_dir: str | Path,
    source_x: torch.Tensor | None = None,
) -> xr.Dataset:
    """Train ``runs`` one after another, each on its plan, and return their metrics along ``run``.

    ``checkpoint_paths`` lists, run by run, one file per checkpoint epoch in increasing order.
    Resume checkpoints live in ``resume_dir`` and are removed once the job has finished.
    """
    specs = [run_spec(run) for run in runs]
    resume_dir = Path(resume_dir)
    resume_dir.mkdir(parents=True, exist_ok=True)
    curves, losses, diverged, seconds = [], [], [], []
    paths = iter(checkpoint_paths)
    for spec, plan in zip(specs, plans, strict=True):
        source = trainset.source_images(plan, data.input_shape, source_x)
        images, index, labels = trainset.training_set(plan, data.train_x, source)
        started = time.perf_counter()
        result = train_run(
            spec,
            images,
            index,
            labels,
            data.test_x,
            data.test_y,
            data.num_classes,
            resume_path=resume_dir / f"{spec.name}.resume.pt",
        )
        seconds.append(time.perf_counter() - started)
        history = history_arrays(result, spec.epochs)
        curves.append(history["accuracy_curve"])
        losses.append(history["train_loss"])
        diverged.append(result.diverged)
        meta = {"input_shape": list(data.input_shape), "num_classes": data.num_classes}
        for epoch in sorted(spec.checkpoint_epochs):
            state = result.checkpoints.get(epoch, result.final_state)
            save_checkpoint(next(paths), state, spec, epoch, {**meta, "diverged": result.diverged})
    epochs = specs[0].epochs
    if any(spec.epochs != epochs for spec in specs):
        raise ValueError("all runs of a job must train for the same number of epochs")
    metrics = xr.Dataset(
        {
            "accuracy_curve": (("run", "epoch"), np.stack(curves)),
            "train_loss": (("run", "epoch"), np.stack(losses)),
            "diverged": ("run", np.asarray(diverged, dtype=bool)),
            "train_seconds": ("run", np.asarray(seconds)),
        },
        coords={"run": [spec.name for spec in specs], "epoch": np.arange(1, epochs + 1)},
        attrs={"num_classes": data.num_classes},
    )
    factors = [run.get("factors", {}) for run in runs]
    for key in factors[0]:
        metrics.coords[key] = ("run", [f[key] for f in factors])
    metrics["accuracy_curve"].attrs.update(
        units="fraction", description="clean test accuracy after each epoch"
    )
    metrics["train_loss"].attrs.update(
        units="nats", description="mean cross-entropy over the epoch's batches"
    )
    metrics["diverged"].attrs["description"] = "the training loss turned NaN or infinite"
    metrics["train_seconds"].attrs["units"] = "s"
    for spec in specs:
        (resume_dir / f"{spec.name}.resume.pt").unlink(missing_ok=True)
    return metrics
