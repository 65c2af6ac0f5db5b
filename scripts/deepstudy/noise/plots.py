"""Figures of the label-noise study, drawn with seaborn from the summary Dataset."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import xarray as xr  # noqa: E402

from deepstudy.figures import draw_summary_figures  # noqa: E402
from deepstudy.noise.summary import clean_needed, reference  # noqa: E402


def _frame(data: xr.DataArray, name: str) -> pd.DataFrame:
    return data.rename(name).to_dataframe().reset_index().dropna(subset=[name])


def _swept(frame: pd.DataFrame, factor: str) -> pd.DataFrame:
    """Rows of the (model, noise) pairs whose runs take more than one value of ``factor``."""
    values = frame.groupby(["model", "noise"])[factor].transform("nunique")
    return frame[values > 1]


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
        summary,
        _frame(fixed["n_diverged"], "n_diverged"),
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
    fixed = summary.sel(lr=ref["lr"], n_clean=ref["n_clean"])
    frame = _swept(_frame(fixed["test_accuracy"], "accuracy"), "batch_size")
    if frame.empty:
        frame = _frame(fixed["test_accuracy"], "accuracy")
    return _accuracy_facets(
        frame,
        summary,
        _frame(fixed["n_diverged"], "n_diverged"),
        f"Batch size under label noise (lr {ref['lr']}, {ref['n_clean']} clean)",
        hue="batch_size",
        col="noise",
        row="model",
        palette="viridis",
    )


def clean_examples_needed(summary: xr.Dataset, plots: dict) -> plt.Figure:
    """Clean examples needed to reach the target accuracy against α (seed-mean accuracy).

    Only the (model, noise) pairs run at several clean-set sizes are drawn; each point says how
    many of the runs it was interpolated from diverged (left out of the seed means).
    """
    ref = reference(summary, plots)
    target = plots["target_accuracy"]
    fixed = summary.sel(batch_size=ref["batch_size"], lr=ref["lr"])
    accuracy = fixed["test_accuracy"]
    swept = _swept(_frame(accuracy, "accuracy"), "n_clean")[["model", "noise"]].drop_duplicates()
    needed = clean_needed(accuracy.mean("seed"), target)
    frame = _frame(needed, "clean_needed").merge(swept, on=["model", "noise"])
    diverged = _frame(fixed["n_diverged"].sum("n_clean"), "n_diverged").merge(swept, on=["model", "noise"])
    fig, ax = plt.subplots(figsize=(5, 3.5))
    if frame.empty:
        ax.text(
            0.5,
            0.5,
            f"no clean-set size reaches accuracy {target}",
            ha="center",
            transform=ax.transAxes,
        )
    else:
        sns.lineplot(data=frame, x="alpha", y="clean_needed", hue="noise", style="model", marker="o", ax=ax)
        points = frame.merge(diverged, on=["model", "noise", "alpha"])
        for row in points[points["n_diverged"] > 0].itertuples():
            ax.annotate(
                f"{row.n_diverged} diverged", (row.alpha, row.clean_needed), **_DIVERGED_STYLE, va="bottom"
            )
    total = int(diverged["n_diverged"].sum())
    ax.set(
        xlabel="α (noisy examples per clean example)",
        ylabel="clean examples needed",
        title=f"Clean examples to reach accuracy {target}\n(batch {ref['batch_size']}, lr {ref['lr']})"
        + (f"\n{_diverged_note(total)}" if total else ""),
    )
    ax.set_yscale("log")
    return fig


#: How the figures write the count of diverged runs.
_DIVERGED_STYLE = {
    "color": "firebrick",
    "fontsize": "x-small",
    "ha": "center",
    "bbox": {"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
}


def _diverged_note(total: int) -> str:
    return f"{total} diverged run{'s' if total != 1 else ''}: no final accuracy, left out of its means"


def _mark_diverged(grid: sns.FacetGrid, frame: pd.DataFrame, diverged: pd.DataFrame, facets: dict) -> int:
    """Write "k diverged" at the foot of each panel at every α where k of its drawn runs diverged;
    returns how many diverged in all."""
    panels = [facets[f] for f in ("row", "col") if f in facets]
    drawn = [*panels, facets["hue"]]
    counts = diverged.merge(frame[drawn].drop_duplicates(), on=drawn)
    counts = counts[counts["n_diverged"] > 0]
    for names, ax in grid.axes_dict.items():
        mine = counts
        for panel, name in zip(panels, names if isinstance(names, tuple) else (names,), strict=True):
            mine = mine[mine[panel] == name]
        for alpha, k in mine.groupby("alpha")["n_diverged"].sum().items():
            ax.text(alpha, 0.02, f"{k} diverged", rotation=90, va="bottom", **_DIVERGED_STYLE)
    return int(counts["n_diverged"].sum())


def _accuracy_facets(
    frame: pd.DataFrame, summary: xr.Dataset, diverged: pd.DataFrame, title: str, **facets
) -> plt.Figure:
    """Accuracy against α in panels, mean ± sd over seeds, with chance as a dotted line; the runs
    that diverged (``diverged``: ``n_diverged`` per point) are counted where they are missing."""
    grid = sns.relplot(
        data=frame,
        x="alpha",
        y="accuracy",
        kind="line",
        marker="o",
        errorbar="sd",
        height=3.5,
        aspect=1.2,
        **facets,
    )
    grid.set(ylim=(0, 1), xlabel="α (noisy examples per clean example)", ylabel="clean test accuracy")
    chance = 1 / summary.attrs.get("num_classes", 10)
    for ax in grid.axes.flat:
        ax.axhline(chance, color="grey", linestyle=":", linewidth=1)
    total = _mark_diverged(grid, frame, diverged, facets)
    if total:
        grid.figure.suptitle(f"{title}\n{_diverged_note(total)}", y=1.1)
    else:
        grid.figure.suptitle(title, y=1.04)
    return grid.figure


FIGURES = {
    "accuracy_vs_alpha": accuracy_vs_alpha,
    "batch_size": batch_size_effect,
    "clean_needed": clean_examples_needed,
}


def draw_all(summary: xr.Dataset, plots: dict, outputs: dict[str, list[str]]) -> None:
    """Draw every figure of :data:`FIGURES` into its output files."""
    draw_summary_figures(FIGURES, summary, plots, outputs)
