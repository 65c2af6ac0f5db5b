"""Figures of the label-noise study, drawn with seaborn from the summary Dataset.

A run that diverged has no accuracy: each figure draws it as a red cross at the foot of its panel,
at its α, counts it in the title, and counts apart the diverged runs outside the slice it draws.
A panel, or a figure, whose runs all diverged says so instead of staying blank."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import xarray as xr  # noqa: E402

from deepstudy.figures import draw_summary_figures, mark_diverged, runs, say  # noqa: E402
from deepstudy.noise.summary import clean_needed, reference  # noqa: E402

#: Legend label of the red crosses.
DIVERGED_LABEL = "diverged (no accuracy)"


def _frame(data: xr.DataArray, name: str) -> pd.DataFrame:
    return data.rename(name).to_dataframe().reset_index().dropna(subset=[name])


def _diverged(counts: xr.DataArray) -> pd.DataFrame:
    """The points of ``counts`` (``n_diverged``) where runs diverged, one row each."""
    frame = counts.rename("n_diverged").to_dataframe().reset_index()
    return frame[frame["n_diverged"] > 0]


def _swept(frame: pd.DataFrame, points: pd.DataFrame, factor: str) -> pd.DataFrame:
    """The (model, noise) pairs whose runs, finished or diverged, take more than one value of ``factor``."""
    ran = pd.concat([frame[["model", "noise", factor]], points[["model", "noise", factor]]])
    values = ran.groupby(["model", "noise"])[factor].nunique()
    return values[values > 1].reset_index()[["model", "noise"]]


def _note(drawn: int, summary: xr.Dataset, where: dict) -> str:
    """The title's lines counting the diverged runs drawn (``drawn``) and those of the summary that
    the figure leaves out, with the settings of ``where`` at which they ran instead."""
    lines = [f"{runs(drawn)} (red ×): no final accuracy, left out of the means"] if drawn else []
    left = int(summary["n_diverged"].sum()) - drawn
    if left:
        outside = _diverged(summary["n_diverged"])
        settings = [
            f"{factor} {', '.join(f'{v:g}' for v in sorted(set(outside[factor]) - {value}))}"
            for factor, value in where.items()
            if set(outside[factor]) - {value}
        ]
        at = f" (at {'; '.join(settings)})" if settings else ""
        lines.append(f"{runs(left)} outside this figure{at}, not drawn")
    return "\n".join(lines)


def accuracy_vs_alpha(summary: xr.Dataset, plots: dict) -> plt.Figure:
    """Final clean test accuracy, and that at the best epoch (chosen on the validation examples),
    against α, per model (panel) and noise kind (colour)."""
    ref = reference(summary, plots)
    fixed = summary.sel(ref)
    frame = pd.concat(
        [
            _frame(fixed["test_accuracy"], "accuracy").assign(measure="final"),
            _frame(fixed["best_epoch_accuracy"], "accuracy").assign(measure="best epoch (validation)"),
        ]
    )
    return _accuracy_facets(
        frame,
        _diverged(fixed["n_diverged"]),
        summary,
        ref,
        f"Accuracy vs label noise (batch {ref['batch_size']}, lr {ref['lr']}, "
        f"{ref['n_clean']} clean; mean ± sd over seeds)",
        hue="noise",
        style="measure",
        col="model",
    )


def batch_size_effect(summary: xr.Dataset, plots: dict) -> plt.Figure:
    """Final clean test accuracy against α for every batch size, per model and noise kind.

    Only the (model, noise) pairs run at several batch sizes are drawn, unless there are none.
    """
    ref = reference(summary, plots)
    where = {"lr": ref["lr"], "n_clean": ref["n_clean"]}
    fixed = summary.sel(where)
    frame, points = _frame(fixed["test_accuracy"], "accuracy"), _diverged(fixed["n_diverged"])
    swept = _swept(frame, points, "batch_size")
    if not swept.empty:
        frame, points = frame.merge(swept, on=["model", "noise"]), points.merge(swept, on=["model", "noise"])
    return _accuracy_facets(
        frame,
        points,
        summary,
        where,
        f"Batch size under label noise (lr {ref['lr']}, {ref['n_clean']} clean)",
        hue="batch_size",
        col="noise",
        row="model",
        palette="viridis",
    )


def clean_examples_needed(summary: xr.Dataset, plots: dict) -> plt.Figure:
    """Clean examples needed to reach the target accuracy against α (seed-mean accuracy).

    Only the (model, noise) pairs run at several clean-set sizes are drawn; a red cross at the foot
    marks each α where runs it was interpolated from diverged (left out of the seed means).
    """
    ref = reference(summary, plots)
    target = plots["target_accuracy"]
    where = {"batch_size": ref["batch_size"], "lr": ref["lr"]}
    fixed = summary.sel(where)
    accuracy = fixed["test_accuracy"]
    swept = _swept(_frame(accuracy, "accuracy"), _diverged(fixed["n_diverged"]), "n_clean")
    frame = _frame(clean_needed(accuracy.mean("seed"), target), "clean_needed").merge(
        swept, on=["model", "noise"]
    )
    points = _diverged(fixed["n_diverged"].sum("n_clean")).merge(swept, on=["model", "noise"])
    fig, ax = plt.subplots(figsize=(5, 3.5))
    if not frame.empty:
        sns.lineplot(data=frame, x="alpha", y="clean_needed", hue="noise", style="model", marker="o", ax=ax)
        ax.set_yscale("log")
    elif swept.empty:
        say(ax, "no (model, noise) pair has runs at several clean-set sizes", color="black")
    else:
        finished = bool(accuracy.notnull().any())
        say(ax, f"no clean-set size reaches accuracy {target}" if finished else "no finished run to draw")
    per_alpha = points.groupby("alpha")["n_diverged"].sum()
    notes = [f"{k} diverged" for k in per_alpha.values]
    mark_diverged(ax, per_alpha.index, notes, label=DIVERGED_LABEL)
    if len(per_alpha):
        ax.legend(fontsize="small")
    note = _note(int(points["n_diverged"].sum()), summary, where)
    ax.set(
        xlabel="α (noisy examples per clean example)",
        ylabel="clean examples needed",
        title=f"Clean examples to reach accuracy {target}\n(batch {ref['batch_size']}, lr {ref['lr']})"
        + (f"\n{note}" if note else ""),
    )
    return fig


def _levels(frame: pd.DataFrame, points: pd.DataFrame, column: str) -> list:
    """The values of ``column`` among finished and diverged points, in order."""
    return sorted(set(frame[column]) | set(points[column]))


def _accuracy_facets(
    frame: pd.DataFrame, points: pd.DataFrame, summary: xr.Dataset, where: dict, title: str, **facets
) -> plt.Figure:
    """Accuracy against α in panels, mean ± sd over seeds, with chance as a dotted line; the points
    where runs diverged (``points``: ``n_diverged`` per point) are marked at the foot of their panel,
    and a panel whose runs all diverged says so."""
    panels = [facets[f] for f in ("row", "col") if f in facets]
    orders = {f"{f}_order": _levels(frame, points, facets[f]) for f in ("row", "col") if f in facets}
    if frame.empty:  # nothing finished: one panel, which says so
        fig, ax = plt.subplots(figsize=(5, 3.5))
        axes = {None: ax}
        say(
            ax,
            "no finished run in this slice"
            + (f": {runs(int(points['n_diverged'].sum()))}" if len(points) else ""),
        )
    else:
        grid = sns.relplot(
            data=frame,
            x="alpha",
            y="accuracy",
            kind="line",
            marker="o",
            errorbar="sd",
            height=3.5,
            aspect=1.2,
            **orders,
            **facets,
        )
        fig, axes = grid.figure, grid.axes_dict
    hues = _levels(frame, points, facets["hue"])
    chance = 1 / summary.attrs.get("num_classes", 10)
    for names, ax in axes.items():
        ax.set(ylim=(0, 1), xlabel="α (noisy examples per clean example)", ylabel="clean test accuracy")
        ax.axhline(chance, color="grey", linestyle=":", linewidth=1)
        mine, drawn = points, frame
        if names is not None:
            for panel, name in zip(panels, names if isinstance(names, tuple) else (names,), strict=True):
                mine, drawn = mine[mine[panel] == name], drawn[drawn[panel] == name]
            if drawn.empty:
                say(ax, "no finished run" + (f": {runs(int(mine['n_diverged'].sum()))}" if len(mine) else ""))
        groups = list(mine.groupby("alpha"))
        hue = facets["hue"]
        notes = [
            f"{group['n_diverged'].sum()} diverged"
            + (f" ({', '.join(str(h) for h in sorted(set(group[hue])))})" if len(hues) > 1 else "")
            for _, group in groups
        ]
        mark_diverged(ax, [alpha for alpha, _ in groups], notes)
    note = _note(int(points["n_diverged"].sum()), summary, where)
    fig.suptitle(
        f"{title}\n{note}" if note else title, y=1.04 + 0.03 * note.count("\n") + (0.03 if note else 0)
    )
    return fig


FIGURES = {
    "accuracy_vs_alpha": accuracy_vs_alpha,
    "batch_size": batch_size_effect,
    "clean_needed": clean_examples_needed,
}


def draw_all(summary: xr.Dataset, plots: dict, outputs: dict[str, list[str]]) -> None:
    """Draw every figure of :data:`FIGURES` into its output files."""
    draw_summary_figures(FIGURES, summary, plots, outputs)
