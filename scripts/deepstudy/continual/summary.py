"""The continual summary: every run's accuracy matrix and metrics on one grid of named dimensions."""

from __future__ import annotations

import numpy as np
import xarray as xr

from deepstudy.continual.catalogue import TRAITS
from deepstudy.continual.metrics import summarize
from deepstudy.continual.workflow import BUFFER_SIZE_DESCRIPTION, FACTORS, NO_BUFFER, buffer_capacity

METRICS = ("average_accuracy", "backward_transfer", "forgetting", "forward_transfer")
#: The metrics that compare tasks along the stream's task order: NaN for a strategy without one.
TRANSFER_METRICS = ("backward_transfer", "forgetting", "forward_transfer")
#: Why they are NaN there.
NO_TASK_ORDER = (
    "NaN for these strategies: they see the stream shuffled, so their accuracy matrix is read at the task"
    " ends' positions of an i.i.d. order, where no task has been learnt before another"
)


def _metric(accuracy: np.ndarray, reference: np.ndarray, name: str) -> float:
    """One metric of a run's matrix; streams with fewer tasks than the grid are padded with NaN
    (the accuracy at initialisation, measured on every task of the stream, tells which are real)."""
    tasks = ~np.isnan(reference)
    if not tasks.any():
        return np.nan
    return summarize(accuracy[np.ix_(tasks, tasks)], reference[tasks])[name]


def collect(metrics: list[xr.Dataset], buffer_sizes: list[str]) -> xr.Dataset:
    """Combine the jobs' metrics (their runs along ``run``) into dims ``stream``, ``strategy``,
    ``buffer_size``, ``seed``, ``scenario`` (plus ``trained_on``/``eval_task``/``step``), and add
    the summary metrics.

    ``buffer_sizes`` and the jobs' ``buffer_size`` factors are labels as paths write them (a size,
    ``unbounded`` or ``none``); the summary's ``buffer_size`` is numeric, in examples, ``inf`` for
    the unbounded buffer (:func:`~deepstudy.continual.workflow.buffer_capacity`), so that it can be
    selected and plotted as a number. Strategies without a buffer ("none") are repeated at every
    buffer size, so that they sit beside the replay strategies in every comparison. Cells without a
    run hold NaN, as do the metrics of diverged runs (``n_diverged`` of ``n_runs`` at each point)
    and the transfer metrics of strategies without a task order (see :data:`TRANSFER_METRICS`).
    """
    runs = []
    for job in metrics:  # a job's store holds its runs along run
        job = job.load()
        for i in range(job.sizes["run"]):
            m = job.isel(run=[i])
            if str(m["buffer_size"].values[0]) == NO_BUFFER:
                m = xr.concat(
                    [m.assign_coords(buffer_size=("run", [size])) for size in buffer_sizes],
                    "run",
                    data_vars="all",
                )
            runs.append(m)
    # streams differ in length and scenarios: align on the union, NaN elsewhere
    runs = xr.concat(
        runs, dim="run", data_vars="all", join="outer", coords="minimal", compat="override", fill_value=np.nan
    )
    runs = runs.assign_coords(buffer_size=("run", [buffer_capacity(b) for b in runs["buffer_size"].values]))
    grid = runs.drop_vars("run").set_index(run=list(FACTORS)).unstack("run")
    grid = grid.reindex(buffer_size=[buffer_capacity(b) for b in buffer_sizes])
    accuracy = grid["accuracy"].transpose(*FACTORS, "scenario", "trained_on", "eval_task")
    reference = grid["reference"].transpose(*FACTORS, "scenario", "eval_task")
    summary = xr.Dataset(
        {
            "accuracy": accuracy,
            "reference": reference,
            "accuracy_curve": grid["accuracy_curve"].transpose(*FACTORS, "scenario", "step", "eval_task"),
            "train_loss": grid["train_loss"].transpose(*FACTORS, "step"),
            "diverged": grid["diverged"].astype(np.float64),
            "train_seconds": grid["train_seconds"],
            "task_end_step": grid["task_end_step"].max([d for d in FACTORS if d != "stream"]),
        }
    )
    unordered = [str(s) for s in summary["strategy"].values if not TRAITS[str(s)].task_ordered]
    for name in METRICS:
        value = xr.apply_ufunc(
            _metric,
            accuracy,
            reference,
            kwargs={"name": name},
            input_core_dims=[["trained_on", "eval_task"], ["eval_task"]],
            vectorize=True,
        )
        if name in TRANSFER_METRICS:
            value = value.where(~value["strategy"].isin(unordered))
            value.attrs.update(not_applicable=unordered, not_applicable_reason=NO_TASK_ORDER)
        summary[name] = value
        summary[name].attrs["units"] = "fraction"
    # a diverged run's metrics are NaN, and so left out of any mean over seeds: count them
    summary["n_runs"] = summary["diverged"].notnull().sum("seed")
    summary["n_diverged"] = (summary["diverged"] == 1).sum("seed")
    summary["n_runs"].attrs["description"] = "runs at this point (seeds that ran)"
    summary["n_diverged"].attrs["description"] = "of those, runs whose loss or weights turned NaN or infinite"
    summary["accuracy"].attrs.update(metrics[0]["accuracy"].attrs)
    summary["accuracy_curve"].attrs.update(metrics[0]["accuracy_curve"].attrs)
    summary["average_accuracy"].attrs["description"] = "mean over tasks of the accuracy after the last task"
    summary["backward_transfer"].attrs["description"] = "mean over j < T-1 of R[T-1, j] - R[j, j]"
    summary["forgetting"].attrs["description"] = "mean over j < T-1 of max_{i<T-1} R[i, j] - R[T-1, j]"
    summary["forward_transfer"].attrs["description"] = "mean over j > 0 of R[j-1, j] - accuracy at init on j"
    summary["buffer_size"].attrs.update(description=BUFFER_SIZE_DESCRIPTION, units="examples")
    summary["trained_on"].attrs["description"] = "last task trained through"
    summary["diverged"].attrs["description"] = "1 where the loss turned NaN, 0 where not, NaN where no run"
    return summary
