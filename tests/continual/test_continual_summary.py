"""The continual summary and its figures: transfer metrics only where a strategy sees its tasks in
order, and every diverged run counted and shown."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
from continual_helpers import job_run, mnist1d, split_plan
from deepstudy.continual import plots
from deepstudy.continual.job import continual_job
from deepstudy.continual.summary import collect
from deepstudy.figures import DIVERGED_GID

BUFFERS = ["100", "unbounded"]
TRANSFER_METRICS = ("backward_transfer", "forgetting", "forward_transfer")


@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    """Short runs of finetune, joint and er, two seeds each; finetune's second seed diverges."""
    dataset = mnist1d()
    root = tmp_path_factory.mktemp("jobs")
    plans = [split_plan(dataset, tasks=3, passes=1, seed=s, examples_per_task=96) for s in (0, 1)]
    jobs = []
    for strategy, buffers in (("finetune", ["none"]), ("joint", ["none"]), ("er", BUFFERS)):
        runs = [
            job_run(
                strategy, buffer, seed, eval_every=2, lr=1e6 if (strategy, seed) == ("finetune", 1) else 0.05
            )
            for buffer in buffers
            for seed in (0, 1)
        ]
        jobs.append(continual_job(runs, [plans[run["seed"]] for run in runs], dataset[1], root / strategy))
    return collect(jobs, BUFFERS)


def texts(figure: plt.Figure) -> str:
    """Every text of a figure (titles, labels, legend entries), one per line."""
    found = "\n".join(t.get_text() for t in figure.findobj(lambda a: hasattr(a, "get_text")))
    plt.close(figure)
    return found


def test_joint_has_no_transfer_metrics_and_says_why(summary):
    point = dict(stream="split", buffer_size=100, scenario="class")
    for name in TRANSFER_METRICS:
        assert summary[name].sel(strategy="joint", **point).isnull().all(), name
        assert summary[name].sel(strategy="er", **point).notnull().all(), name
        assert summary[name].attrs["not_applicable"] == ["joint"]
        assert "shuffled" in summary[name].attrs["not_applicable_reason"]
    assert summary["average_accuracy"].sel(strategy="joint", **point).notnull().all()


def test_buffer_size_is_numeric_with_inf_for_the_unbounded_buffer(summary):
    """The summary's buffer sizes are numbers (``sel(buffer_size=100)``), the unbounded one inf, and
    the buffer-free strategies sit at each of them."""
    sizes = summary["buffer_size"]
    assert sizes.dtype.kind == "f" and list(sizes.values) == [100, np.inf]
    assert "inf" in sizes.attrs["description"] and sizes.attrs["units"] == "examples"
    point = dict(stream="split", scenario="class", seed=0)
    for size in (100, np.inf):
        for strategy in ("er", "joint"):
            assert summary["average_accuracy"].sel(strategy=strategy, buffer_size=size, **point).notnull()
    joint = summary["average_accuracy"].sel(strategy="joint", **point)
    assert float(joint.sel(buffer_size=100)) == float(joint.sel(buffer_size=np.inf))


def test_the_buffer_size_figure_labels_sizes_as_the_config_writes_them(summary):
    figure = plots.buffer_size_effect(summary, {"curve_buffer_size": None})
    labels = {t.get_text() for ax in figure.axes for t in ax.get_xticklabels()}
    plt.close(figure)
    assert {"100", "unbounded"} <= labels


def test_the_buffer_size_figure_draws_no_forgetting_for_joint_and_says_so(summary):
    figure = plots.buffer_size_effect(summary, {"curve_buffer_size": None})
    lines: dict[str, set[int]] = {}
    for ax in figure.axes:  # titled "<stream>, <scenario> | <metric>"
        drawn = [line for line in ax.get_lines() if len(line.get_xdata()) and line.get_gid() != DIVERGED_GID]
        lines.setdefault(ax.get_title().split(" | ")[-1], set()).add(len(drawn))
    # finetune, joint and er where accuracy is drawn; no joint line where forgetting is
    assert lines == {"average accuracy": {3}, "forgetting": {2}}
    assert "joint: no task order" in texts(figure)


def test_the_summary_counts_each_points_runs_and_diverged_runs(summary):
    runs, diverged = summary["n_runs"], summary["n_diverged"]
    assert set(runs.dims) == set(diverged.dims) == {"stream", "strategy", "buffer_size"}
    point = dict(stream="split", buffer_size=100)
    assert [int(runs.sel(strategy=s, **point)) for s in ("finetune", "joint", "er")] == [2, 2, 2]
    assert [int(diverged.sel(strategy=s, **point)) for s in ("finetune", "joint", "er")] == [1, 0, 0]
    assert bool(summary["diverged"].sel(strategy="finetune", seed=1, **point))
    assert np.isnan(
        float(summary["average_accuracy"].sel(strategy="finetune", seed=1, scenario="class", **point))
    )


@pytest.mark.parametrize("figure", list(plots.FIGURES))
def test_every_figure_shows_how_many_runs_diverged(summary, figure):
    drawn = texts(plots.FIGURES[figure](summary, {"curve_buffer_size": None}))
    assert "1 of 2 runs diverged" in drawn  # finetune, once
    assert drawn.count("runs diverged") == drawn.count("1 of 2 runs diverged")  # the others: none


def diverge(summary, **where):
    """``summary`` with the runs at ``where`` diverged from their first evaluation on: no metrics,
    no matrix, a curve only at step 0, and counted."""
    summary = summary.copy(deep=True)
    hit = xr.zeros_like(summary["diverged"], dtype=bool)
    hit.loc[where] = True
    hit = hit & summary["diverged"].notnull()
    for name in ("accuracy", "average_accuracy", "backward_transfer", "forgetting", "forward_transfer"):
        summary[name] = summary[name].where(~hit)
    summary["accuracy_curve"] = summary["accuracy_curve"].where(~hit | (summary["step"] == 0))
    summary["diverged"] = summary["diverged"].where(~hit, 1.0)
    summary["n_diverged"] = (summary["diverged"] == 1).sum("seed")
    return summary


PATTERNS = {
    "one run": {},  # finetune's second seed, in the fixture
    "every seed of er": {"strategy": "er"},
    "every strategy but joint": {"strategy": ["finetune", "er"]},
    "every run": {"strategy": ["finetune", "joint", "er"]},
}


@pytest.mark.parametrize("pattern", list(PATTERNS))
@pytest.mark.parametrize("figure", list(plots.FIGURES))
def test_every_figure_draws_and_marks_diverged_runs_whatever_diverged(summary, pattern, figure):
    diverged = diverge(summary, **PATTERNS[pattern]) if PATTERNS[pattern] else summary
    drawn = plots.FIGURES[figure](diverged, {"curve_buffer_size": None})
    marks = [a for a in drawn.findobj() if getattr(a, "get_gid", lambda: None)() == DIVERGED_GID]
    written = texts(drawn)
    assert marks, "no diverged run is marked"
    assert "diverged" in written
    if pattern == "every run" and figure != "accuracy_matrix":  # there: every cell hatched
        assert "no finished run" in written or "all 2 runs diverged" in written
