"""A continual job: several runs on one stream, written as one metrics Dataset along ``run``."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import xarray as xr

from deepstudy.continual.learner import ContinualSpec, stacks, task_batches, train_streams
from deepstudy.data import Tensors
from deepstudy.jobs import add_factor_coords, remove_resume_files, resume_path, spec_from_run
from deepstudy.validation import check_stream


def continual_spec(run: dict) -> ContinualSpec:
    """A :class:`ContinualSpec` from a run mapping of the workflow (factors and extra keys ignored)."""
    return spec_from_run(ContinualSpec, run, {"scenarios": ("class",)})


def continual_job(
    runs: list[dict], plans: xr.Dataset | list[xr.Dataset], data: Tensors, resume_dir: str | Path
) -> xr.Dataset:
    """Train ``runs``, each on its stream plan (``plans``, one per run, or one for all), in this
    process: those that can, stacked (:func:`~deepstudy.continual.learner.stacks`), the others one
    after another; their results along ``run``. A stacked run's ``train_seconds`` is its share of
    its stack's time.

    Variables: ``accuracy`` (run, scenario, trained_on, eval_task), ``reference`` (accuracy at
    initialisation), ``accuracy_curve`` (run, scenario, step, eval_task), ``train_loss`` (run, step),
    ``diverged`` and ``train_seconds``. Resume checkpoints in ``resume_dir`` go once the job is done.
    """
    specs = [continual_spec(run) for run in runs]
    shared = {(spec.scenarios, spec.eval_every, spec.batch_size) for spec in specs}
    if len(shared) != 1:  # their curves share one step axis: checked before any training
        raise ValueError("all runs of a continual job must share scenarios, eval_every and batch size")
    plans = plans if isinstance(plans, list) else [plans] * len(specs)
    if len({int(plan.attrs["tasks"]) for plan in plans}) != 1 or len(plans) != len(specs):
        raise ValueError("a continual job takes one plan per run, all with as many tasks")
    for plan in plans:  # before any training
        check_stream(plan, len(data.train_x), len(data.test_x))
    resume_dir = Path(resume_dir)
    resume_dir.mkdir(parents=True, exist_ok=True)
    tasks = int(plans[0].attrs["tasks"])
    results, seconds = [None] * len(specs), np.zeros(len(specs))
    for members in stacks(specs, plans, data.train_x.device):
        started = time.perf_counter()
        trained = train_streams(
            [specs[i] for i in members],
            [plans[i] for i in members],
            data,
            resume_path=resume_path(resume_dir, specs[members[0]].name),
        )
        for i, result in zip(members, trained, strict=True):
            results[i] = result
            seconds[i] = (time.perf_counter() - started) / len(members)
    scenarios = specs[0].scenarios
    schedules = [task_batches(plan["task_end"].values, specs[0].batch_size) for plan in plans]
    task_end_step = np.stack(
        [np.cumsum(np.bincount([task for _, _, task in schedule], minlength=tasks)) for schedule in schedules]
    )
    steps = np.arange(0, max(len(schedule) for schedule in schedules) + 1, specs[0].eval_every)
    curve = np.full((len(specs), len(scenarios), len(steps), tasks), np.nan)
    loss = np.full((len(specs), len(steps)), np.nan)
    for r, result in enumerate(results):
        curve[r, :, : len(result.curve_steps)] = result.curve.transpose(1, 0, 2)
        loss[r, 1 : 1 + len(result.loss)] = result.loss
    metrics = xr.Dataset(
        {
            "accuracy": (
                ("run", "scenario", "trained_on", "eval_task"),
                np.stack([r.matrix for r in results]),
            ),
            "reference": (("run", "scenario", "eval_task"), np.stack([r.reference for r in results])),
            "accuracy_curve": (("run", "scenario", "step", "eval_task"), curve),
            "train_loss": (("run", "step"), loss),
            "diverged": ("run", np.asarray([r.diverged for r in results])),
            "train_seconds": ("run", np.asarray(seconds)),
            "task_end_step": (("run", "trained_on"), task_end_step),
        },
        coords={
            "run": [spec.name for spec in specs],
            "scenario": list(scenarios),
            "trained_on": np.arange(tasks),
            "eval_task": np.arange(tasks),
            "step": steps,
        },
        attrs={"tasks": tasks, "stream_kind": plans[0].attrs["kind"], "boundary": plans[0].attrs["boundary"]},
    )
    add_factor_coords(metrics, runs)
    metrics["accuracy"].attrs.update(
        units="fraction", description="test accuracy on eval_task after training through trained_on"
    )
    metrics["reference"].attrs.update(units="fraction", description="test accuracy at initialisation")
    metrics["accuracy_curve"].attrs.update(units="fraction", description="test accuracy along the stream")
    metrics["train_loss"].attrs.update(units="nats", description="mean training loss over the last steps")
    metrics["step"].attrs.update(units="batches", description="batches of the stream seen")
    metrics["train_seconds"].attrs.update(units="s", description="training time (a stacked run's share)")
    metrics["task_end_step"].attrs.update(units="batches", description="step at which each task's block ends")
    remove_resume_files(resume_dir, specs)
    return metrics
