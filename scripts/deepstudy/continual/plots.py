"""Figures of the continual-learning study, drawn with seaborn from the summary Dataset.

Each figure says how many runs diverged where any did (their metrics are NaN and left out of the
means over seeds) and marks them: a red cross where a run stopped along the stream, hatched cells in
the accuracy matrices, red crosses at the foot of the buffer-size panels. A panel whose runs all
diverged says so. None draws transfer or forgetting for a strategy without a task order."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import xarray as xr  # noqa: E402

from deepstudy.continual.catalogue import REPLAY_STRATEGIES, TRAITS  # noqa: E402
from deepstudy.continual.workflow import UNBOUNDED, buffer_capacity, buffer_label  # noqa: E402
from deepstudy.figures import draw_summary_figures, hatch_cells, heatmap, mark_diverged, say  # noqa: E402


def curve_buffer_size(summary: xr.Dataset, plots: dict) -> float:
    """The buffer size shown for replay strategies where one is picked (as the summary's numeric
    coordinate): the configured one, else the largest finite size (else unbounded)."""
    if plots.get("curve_buffer_size") is not None:
        return buffer_capacity(plots["curve_buffer_size"])
    sizes = [float(s) for s in summary["buffer_size"].values]
    finite = [s for s in sizes if math.isfinite(s)]
    return max(finite) if finite else sizes[-1]


def diverged_note(summary: xr.Dataset, strategy: str, **where) -> str:
    """The note "k of n runs diverged" for ``strategy`` at the points ``where`` selects, or "" where
    none did; a buffer-free strategy's runs, repeated at every buffer size, are counted once."""
    counts = summary[["n_diverged", "n_runs"]].sel(strategy=strategy, **where)
    if strategy not in REPLAY_STRATEGIES and "buffer_size" in counts.dims:
        counts = counts.isel(buffer_size=0)
    diverged, total = int(counts["n_diverged"].sum()), int(counts["n_runs"].sum())
    return f"{diverged} of {total} runs diverged" if diverged else ""


def panel_title(summary: xr.Dataset, strategy: str, stream: str, scenario: str, size: float) -> str:
    """A panel's strategy (with its buffer size where it keeps one), stream and scenario, and how
    many of its runs diverged where any did."""
    title = strategy if strategy not in REPLAY_STRATEGIES else f"{strategy} (buffer {buffer_label(size)})"
    note = diverged_note(summary, strategy, stream=stream, buffer_size=size)
    return f"{title}\n{stream}, {scenario}" + (f"\n{note}" if note else "")


def panels(summary: xr.Dataset) -> list[tuple[str, str]]:
    """(stream, scenario) pairs that were run, in order: those with an accuracy at initialisation,
    which a run measures before it trains (so a diverged run has one too)."""
    ran = summary["reference"].notnull().any(["strategy", "buffer_size", "seed", "eval_task"])
    return [
        (str(stream), str(scenario))
        for stream in summary["stream"].values
        for scenario in summary["scenario"].values
        if bool(ran.sel(stream=stream, scenario=scenario))
    ]


def along_stream(summary: xr.Dataset, plots: dict) -> plt.Figure:
    """Accuracy on every task along the stream, one panel per strategy and stream (mean over seeds)."""
    size = curve_buffer_size(summary, plots)
    rows = panels(summary)
    if not rows:
        return _no_runs()
    strategies = [str(s) for s in summary["strategy"].values]
    fig, axes = plt.subplots(
        len(rows),
        len(strategies),
        figsize=(2.6 * len(strategies), 2.3 * len(rows)),
        squeeze=False,
        sharey=True,
    )
    palette = sns.color_palette("viridis", summary.sizes["eval_task"])
    for r, (stream, scenario) in enumerate(rows):
        ends = summary["task_end_step"].sel(stream=stream).dropna("trained_on").values
        for c, strategy in enumerate(strategies):
            ax = axes[r, c]
            curve = summary["accuracy_curve"].sel(
                stream=stream, scenario=scenario, strategy=strategy, buffer_size=size
            )
            mean = curve.mean("seed")
            for task in mean["eval_task"].values:
                line = mean.sel(eval_task=task)
                ax.plot(line["step"], line, color=palette[int(task)], label=f"task {task}", linewidth=1.2)
            for end in ends[:-1]:
                ax.axvline(end, color="grey", linestyle=":", linewidth=0.8)
            _mark_stops(
                ax, curve, summary["diverged"].sel(stream=stream, strategy=strategy, buffer_size=size)
            )
            ax.set_ylim(0, 1)
            ax.set_title(panel_title(summary, strategy, stream, scenario, size), fontsize=8)
            if r == len(rows) - 1:
                ax.set_xlabel("batches seen")
            if c == 0:
                ax.set_ylabel("test accuracy")
    axes[0, -1].legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    return fig


def _no_runs() -> plt.Figure:
    """A figure saying the summary holds no run."""
    fig, ax = plt.subplots(figsize=(5, 2.5))
    ax.set_axis_off()
    say(ax, "no run in the summary")
    return fig


def _mark_stops(ax: plt.Axes, curve: xr.DataArray, diverged: xr.DataArray) -> None:
    """A red cross at the foot of ``ax`` at the last step each diverged run of ``curve`` (its seeds)
    was evaluated, and a note where no run has a curve to draw."""
    stops, notes = [], []
    for seed in curve["seed"].values:
        if diverged.sel(seed=seed) == 1:
            finite = curve.sel(seed=seed).notnull().any("eval_task")
            steps = curve["step"].values[finite.values]
            stops.append(steps[-1] if len(steps) else 0)
            notes.append(f"seed {seed} diverged")
    mark_diverged(ax, stops, notes)
    if stops and curve.isel(step=slice(1, None)).isnull().all():
        say(ax, f"all {len(stops)} runs diverged" if len(stops) > 1 else "its run diverged")


def accuracy_matrices(summary: xr.Dataset, plots: dict) -> plt.Figure:
    """Heatmaps of R[trained_on, eval_task] per strategy and stream (mean over seeds)."""
    size = curve_buffer_size(summary, plots)
    rows = panels(summary)
    if not rows:
        return _no_runs()
    strategies = [str(s) for s in summary["strategy"].values]
    fig, axes = plt.subplots(
        len(rows), len(strategies), figsize=(2.2 * len(strategies), 2.1 * len(rows)), squeeze=False
    )
    for r, (stream, scenario) in enumerate(rows):
        tasks = summary["reference"].sel(stream=stream, scenario=scenario).notnull()
        tasks = tasks.any([d for d in tasks.dims if d != "eval_task"])
        for c, strategy in enumerate(strategies):
            where = dict(stream=stream, strategy=strategy, buffer_size=size)
            matrix = (
                summary["accuracy"]
                .sel(scenario=scenario, **where)
                .sel(trained_on=tasks["eval_task"].values[tasks.values], eval_task=tasks.values)
            )
            mean = matrix.mean("seed")
            heatmap(
                axes[r, c],
                mean.to_pandas(),
                annotate=matrix.sizes["eval_task"] <= 6,
                colorbar=c == len(strategies) - 1,
            )
            # cells a diverged run has no value for (left out of the mean, or the whole cell)
            lost = (matrix.isnull() & (summary["diverged"].sel(**where) == 1)).any("seed")
            hatch_cells(axes[r, c], lost.transpose("trained_on", "eval_task").values)
            title = panel_title(summary, strategy, stream, scenario, size)
            if not TRAITS[strategy].task_ordered:  # its rows are positions of a shuffled stream
                title = title.replace(strategy, f"{strategy} (shuffled: no task order)", 1)
            axes[r, c].set_title(title, fontsize=8)
            axes[r, c].set_xlabel("evaluated on task" if r == len(rows) - 1 else "")
            axes[r, c].set_ylabel("trained through task" if c == 0 else "")
    fig.tight_layout()
    return fig


def buffer_size_effect(summary: xr.Dataset, plots: dict) -> plt.Figure:
    """Final average accuracy and forgetting against buffer size per strategy (mean ± sd over the
    seeds that did not diverge; the legend counts those that did); unbounded marked. Strategies
    without a task order have no forgetting (NaN in the summary), so none is drawn for them."""
    frames = []
    for metric in ("average_accuracy", "forgetting"):
        frame = summary[metric].rename("value").to_dataframe().reset_index().dropna(subset=["value"])
        frames.append(frame.assign(metric=metric.replace("_", " ")))
    frame = pd.concat(frames)
    strategies = [str(s) for s in summary["strategy"].values]
    notes = {s: diverged_note(summary, s) for s in strategies}
    frame["strategy"] = frame["strategy"].map({s: f"{s} ({n})" if n else s for s, n in notes.items()})
    ran = panels(summary)
    frame = frame.loc[
        np.array([(s, c) in ran for s, c in zip(frame["stream"], frame["scenario"], strict=True)], dtype=bool)
    ].copy()
    frame["panel"] = frame["stream"] + ", " + frame["scenario"]
    # evenly spaced, labelled as the config writes them: the unbounded buffer (inf) has no position
    order = [buffer_label(s) for s in summary["buffer_size"].values]
    labels = frame["buffer_size"].map(buffer_label)
    frame["buffer_size"] = pd.Categorical(labels, categories=order, ordered=True)
    rows = [f"{stream}, {scenario}" for stream, scenario in ran]
    if frame.empty:  # every run diverged: one panel, which says so
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.set(xticks=range(len(order)), xticklabels=order, xlim=(-0.5, len(order) - 0.5))
        say(ax, "no finished run: " + "; ".join(f"{s}: {n}" for s, n in notes.items() if n))
        _mark_buffers(ax, summary, strategies, order, None)
        ax.set(xlabel="buffer size (examples)")
        return fig
    grid = sns.relplot(
        data=frame,
        x="buffer_size",
        y="value",
        hue="strategy",
        hue_order=[f"{s} ({n})" if n else s for s, n in notes.items()],
        style="strategy",
        col="metric",
        row="panel",
        row_order=rows,
        col_order=[m for m in ("average accuracy", "forgetting") if m in set(frame["metric"])],
        kind="line",
        markers=True,
        errorbar="sd",
        height=2.6,
        aspect=1.2,
        facet_kws={"sharey": False},
    )
    for (panel, _), ax in grid.axes_dict.items():
        _mark_buffers(ax, summary, strategies, order, panel.split(", ")[0])
    grid.set(xlabel="buffer size (examples)", ylabel="")
    grid.set_titles(row_template="{row_name}", col_template="{col_name}", size=8)
    if UNBOUNDED in order:
        for ax in grid.axes.flat:
            position = order.index(UNBOUNDED)
            ax.axvspan(position - 0.3, position + 0.3, color="grey", alpha=0.15, linewidth=0)
    unordered = [s for s in strategies if not TRAITS[s].task_ordered]
    note = f"; {', '.join(unordered)}: no task order, so no forgetting" if unordered else ""
    grid.figure.suptitle(
        f"buffer-free strategies are drawn flat; shaded: unbounded buffer{note}", y=1.02, fontsize=9
    )
    return grid.figure


def _mark_buffers(
    ax: plt.Axes, summary: xr.Dataset, strategies: list[str], order: list[str], stream: str | None
) -> None:
    """Red crosses at the foot of ``ax`` at each buffer size (category position) where runs of
    ``stream`` (all streams with None) diverged, noting how many and of which strategies."""
    counts = summary["n_diverged"] if stream is None else summary["n_diverged"].sel(stream=stream)
    positions, notes = [], []
    for position, size in enumerate(order):
        here = counts.sel(buffer_size=buffer_capacity(size))
        here = here.sum([d for d in here.dims if d != "strategy"])
        diverged = {s: int(here.sel(strategy=s)) for s in strategies if int(here.sel(strategy=s))}
        if diverged:
            positions.append(position)
            notes.append(f"{sum(diverged.values())} diverged ({', '.join(diverged)})")
    mark_diverged(ax, positions, notes)


FIGURES = {
    "along_stream": along_stream,
    "accuracy_matrix": accuracy_matrices,
    "buffer_size": buffer_size_effect,
}


def draw_all(summary: xr.Dataset, plots: dict, outputs: dict[str, list[str]]) -> None:
    """Draw every figure of :data:`FIGURES` into its output files."""
    summary = summary.load()
    draw_summary_figures(FIGURES, summary, plots, outputs)
