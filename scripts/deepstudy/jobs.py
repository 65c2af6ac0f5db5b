"""A training job: several runs, each on its own dilution plan, written as one metrics Dataset."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from deepstudy import trainset
from deepstudy.data import Tensors
from deepstudy.packing import packable, train_packed
from deepstudy.training import RunSpec, history_arrays, train_run

SPEC_KEYS = tuple(RunSpec.__dataclass_fields__)


def run_spec(run: dict) -> RunSpec:
    """A :class:`RunSpec` from a run mapping of the workflow (extra keys such as factors ignored)."""
    values = {key: run[key] for key in SPEC_KEYS if key in run}
    values["checkpoint_epochs"] = tuple(values.get("checkpoint_epochs", ()))
    return RunSpec(**values)


def checkpoint_payload(state: dict, spec: RunSpec, epoch: int, meta: dict) -> dict:
    """Weights of a run at one epoch, with what is needed to rebuild the network."""
    return {"state_dict": state, "epoch": epoch, "model": spec.model, "run": spec.name, **meta}


def save_checkpoint(path: str | Path, payloads: list[dict], epoch: int) -> None:
    """One job's checkpoint file of an epoch: the run's payload, or, for a pack of runs, every
    member's under ``runs`` (see :func:`deepstudy.region_study.load_checkpoint`)."""
    if len(payloads) == 1:
        torch.save(payloads[0], path)
    else:
        torch.save({"epoch": epoch, "runs": {p["run"]: p for p in payloads}}, path)


def _train_alone(specs, sets, data: Tensors, resume_dir: Path):
    results, seconds = [], []
    for spec, (images, index, labels) in zip(specs, sets, strict=True):
        started = time.perf_counter()
        results.append(
            train_run(
                spec,
                images,
                index,
                labels,
                data.test_x,
                data.test_y,
                data.num_classes,
                resume_path=resume_dir / f"{spec.name}.resume.pt",
            )
        )
        seconds.append(time.perf_counter() - started)
    return results, seconds


def train_job(
    runs: list[dict],
    plans: list[xr.Dataset],
    data: Tensors,
    checkpoint_paths: list[str],
    resume_dir: str | Path,
    source_x: torch.Tensor | None = None,
) -> xr.Dataset:
    """Train ``runs``, each on its plan, and return their metrics along ``run``.

    Runs that can share one process (equally shaped MLPs on the same images, see
    :mod:`deepstudy.packing`) train packed; others one after another, resumable from checkpoints
    in ``resume_dir`` (removed once the job has finished). ``checkpoint_paths`` lists one file per
    checkpoint epoch, in increasing order, holding every run of the job.
    """
    specs = [run_spec(run) for run in runs]
    resume_dir = Path(resume_dir)
    resume_dir.mkdir(parents=True, exist_ok=True)
    sets = []
    for plan in plans:
        source = trainset.source_images(plan, data.input_shape, source_x)
        sets.append(trainset.training_set(plan, data.train_x, source))
    shared_images = all(images is data.train_x for images, _, _ in sets)
    if len(specs) > 1 and shared_images and packable(specs, [len(index) for _, index, _ in sets]):
        started = time.perf_counter()
        results = train_packed(
            specs,
            data.train_x,
            [index for _, index, _ in sets],
            [labels for _, _, labels in sets],
            data.test_x,
            data.test_y,
            data.num_classes,
        )
        seconds = [(time.perf_counter() - started) / len(specs)] * len(specs)
        print(f"trained {len(specs)} runs packed in one process")
    else:
        results, seconds = _train_alone(specs, sets, data, resume_dir)
    histories = [history_arrays(result, spec.epochs) for spec, result in zip(specs, results, strict=True)]
    curves = [h["accuracy_curve"] for h in histories]
    losses = [h["train_loss"] for h in histories]
    diverged = [result.diverged for result in results]
    meta = {"input_shape": list(data.input_shape), "num_classes": data.num_classes}
    epochs_kept = sorted(specs[0].checkpoint_epochs)
    if any(sorted(spec.checkpoint_epochs) != epochs_kept for spec in specs):
        raise ValueError("all runs of a job must keep the same checkpoint epochs")
    for path, epoch in zip(checkpoint_paths, epochs_kept, strict=True):
        payloads = [
            checkpoint_payload(
                result.checkpoints.get(epoch, result.final_state),
                spec,
                epoch,
                {**meta, "diverged": result.diverged},
            )
            for spec, result in zip(specs, results, strict=True)
        ]
        save_checkpoint(path, payloads, epoch)
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
