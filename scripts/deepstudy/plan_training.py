"""A training job on label plans: several runs, each on its own plan, written as one metrics Dataset.

A label plan (a dilution plan of the noise study, or a memorisation plan of the regions study)
lists, per training example, the index of its image (``source_index``; into another pool of images
where ``from_source``) and the label it is trained with (``label``). A dilution plan also names
validation examples (``validation_index``, into the training split), on which each run's accuracy
is recorded after every epoch to choose its best epoch; memorisation plans name none.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from deepstudy.checkpoints import checkpoint_payload, epoch_files, save_checkpoint
from deepstudy.data import Tensors
from deepstudy.jobs import add_factor_coords, remove_resume_files, resume_path, spec_from_run
from deepstudy.packing import packable, stacking_pays, train_packed
from deepstudy.training import RunSpec, history_arrays, train_run
from deepstudy.validation import check_label_plan


def run_spec(run: dict) -> RunSpec:
    """A :class:`RunSpec` from a run mapping of the workflow (extra keys such as factors ignored)."""
    return spec_from_run(RunSpec, run, {"checkpoint_epochs": ()})


def plan_index(
    plan: xr.Dataset, train_x: torch.Tensor, has_source: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """A plan's per-example image index and labels, on ``train_x``'s device: ``from_source``
    examples index the source images stored after the training split (``has_source``)."""
    device = train_x.device
    index = torch.from_numpy(plan["source_index"].values).to(device)
    from_source = torch.from_numpy(plan["from_source"].values).to(device)
    if bool(from_source.any()):
        if not has_source:
            raise ValueError("this plan draws images from a source; pass source_x")
        index = torch.where(from_source, index + len(train_x), index)
    return index, torch.from_numpy(plan["label"].values).to(device)


def training_set(
    plan: xr.Dataset, train_x: torch.Tensor, source_x: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images, per-example image index and labels of a plan, on ``train_x``'s device.

    ``source_x`` holds the images that ``from_source`` examples index, shaped as ``train_x``'s.
    Images are stored once (training split, then the source's images); the index refers into them,
    so α = 100 costs an index, not a hundred copies of the data.
    """
    index, labels = plan_index(plan, train_x, source_x is not None)
    uses_source = source_x is not None and bool(plan["from_source"].values.any())
    images = torch.cat([train_x, source_x.to(train_x.device)]) if uses_source else train_x
    return images, index, labels


def shared_images(train_x: torch.Tensor, sources: list[torch.Tensor | None]) -> torch.Tensor | None:
    """The images that plans with these ``sources`` can all index (see :func:`training_set`): the
    training split, followed by the one source pool they share (equal pools count as one); None
    where their pools differ."""
    pools = [s for s in sources if s is not None]
    if any(not torch.equal(pool, pools[0]) for pool in pools[1:]):
        return None
    return torch.cat([train_x, pools[0].to(train_x.device)]) if pools else train_x


def validation_set(plans: list[xr.Dataset], data: Tensors) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The validation examples that a job's plans name: training images with their clean labels;
    None where they name none. All plans of a job must name the same ones (one config's split)."""
    indices = [plan["validation_index"].values if "validation_index" in plan else None for plan in plans]
    if indices[0] is None or len(indices[0]) == 0:
        if any(i is not None and len(i) for i in indices):
            raise ValueError("all plans of a job must name the same validation examples")
        return None
    if any(i is None or not np.array_equal(i, indices[0]) for i in indices[1:]):
        raise ValueError("all plans of a job must name the same validation examples")
    index = torch.from_numpy(indices[0]).to(data.train_x.device)
    return data.train_x[index], data.train_y[index]


def _train_alone(specs, sets, data: Tensors, resume_dir: Path, validation):
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
                resume_path=resume_path(resume_dir, spec.name),
                validation=validation,
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
    sources: list[torch.Tensor | None] | None = None,
    cuda_graphs: bool = True,
) -> xr.Dataset:
    """Train ``runs``, each on its plan, and return their metrics along ``run``.

    ``sources`` gives, per plan, the images its ``from_source`` examples index (see
    :mod:`deepstudy.noise.sources`), or None. Runs that can share one process (equally shaped MLPs
    or conv nets on the same images, see :mod:`deepstudy.packing`) train stacked where that pays;
    others one after another in this process; either way resumable from checkpoints in
    ``resume_dir`` (removed once the job has finished). On CUDA a pack's steps replay as a
    captured graph unless ``cuda_graphs`` is off (:mod:`deepstudy.graphs`); the metrics' attribute
    ``training_step`` says how the steps ran.
    ``checkpoint_paths`` lists one file per checkpoint epoch, in any order, each named for its epoch
    (:data:`deepstudy.paths.CHECKPOINT_FILE`) and holding every run of the job.
    """
    specs = [run_spec(run) for run in runs]
    epochs_kept = set(specs[0].checkpoint_epochs)
    if any(set(spec.checkpoint_epochs) != epochs_kept for spec in specs):
        raise ValueError("all runs of a job must keep the same checkpoint epochs")
    files = epoch_files(checkpoint_paths, epochs_kept)  # before training: a wrong file list fails at once
    resume_dir = Path(resume_dir)
    resume_dir.mkdir(parents=True, exist_ok=True)
    sources = sources or [None] * len(plans)
    for plan, source in zip(plans, sources, strict=True):  # before any training
        check_label_plan(plan, len(data.train_x), 0 if source is None else len(source), data.num_classes)
    images = shared_images(data.train_x, sources)
    if images is None:  # pools differ: each plan's own images
        sets = [training_set(plan, data.train_x, source) for plan, source in zip(plans, sources, strict=True)]
    else:  # one copy of the images for every plan
        sets = [
            (images, *plan_index(plan, data.train_x, s is not None))
            for plan, s in zip(plans, sources, strict=True)
        ]
    validation = validation_set(plans, data)
    examples = [len(index) for _, index, _ in sets]
    stack = images is not None and packable(specs, examples) and stacking_pays(specs[0], data.train_x.device)
    if len(specs) > 1 and stack:
        started = time.perf_counter()
        results = train_packed(
            specs,
            images,
            [index for _, index, _ in sets],
            [labels for _, _, labels in sets],
            data.test_x,
            data.test_y,
            data.num_classes,
            resume_path=resume_path(resume_dir, "pack"),
            validation=validation,
            cuda_graphs=cuda_graphs,
        )
        seconds = [(time.perf_counter() - started) / len(specs)] * len(specs)
        print(f"trained {len(specs)} runs packed in one process")
        resume_path(resume_dir, "pack").unlink(missing_ok=True)
    else:
        results, seconds = _train_alone(specs, sets, data, resume_dir, validation)
    histories = [history_arrays(result, spec.epochs) for spec, result in zip(specs, results, strict=True)]
    curves = [h["accuracy_curve"] for h in histories]
    losses = [h["train_loss"] for h in histories]
    diverged = [result.diverged for result in results]
    meta = {"input_shape": list(data.input_shape), "num_classes": data.num_classes}
    for epoch, path in sorted(files.items()):
        payloads = [
            checkpoint_payload(
                result.checkpoints.get(epoch, result.final_state),
                spec,
                epoch,
                {**meta, "diverged": result.diverged},
                reached=epoch in result.checkpoints,
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
        attrs={
            "num_classes": data.num_classes,
            "training_step": "; ".join(sorted({result.training_step for result in results})),
        },
    )
    if validation is not None:
        metrics["validation_curve"] = (("run", "epoch"), np.stack([h["validation_curve"] for h in histories]))
        metrics["validation_curve"].attrs.update(
            units="fraction",
            description="accuracy after each epoch on the plans' validation examples (clean labels,"
            " never trained on), which choose the best epoch",
        )
    add_factor_coords(metrics, runs)
    metrics["accuracy_curve"].attrs.update(
        units="fraction", description="clean test accuracy after each epoch"
    )
    metrics["train_loss"].attrs.update(
        units="nats", description="mean cross-entropy over the epoch's batches"
    )
    metrics["diverged"].attrs["description"] = (
        "an epoch's mean training loss turned NaN, infinite or above 100 ln(classes) (training.has_diverged)"
    )
    metrics["train_seconds"].attrs["units"] = "s"
    remove_resume_files(resume_dir, specs)
    return metrics
