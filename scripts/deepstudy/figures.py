"""Drawing and saving figures, shared by every study's plots: the theme, PNG and PDF files, how a
diverged run is marked, and a figure that says why it could not be drawn.

A figure job never fails on one figure: Snakemake would delete every figure of the job. A figure
that cannot be drawn is written as an image saying why, and the traceback goes to the job's log."""

from __future__ import annotations

import sys
import textwrap
import traceback
from collections.abc import Callable, Iterable
from functools import partial

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

#: The gid of every artist that marks a diverged run (tests and readers of the SVG find them by it).
DIVERGED_GID = "diverged"
#: Colour of the diverged marks.
DIVERGED_COLOUR = "firebrick"
#: How the figures write a count of diverged runs beside their mark.
DIVERGED_TEXT = {
    "color": DIVERGED_COLOUR,
    "fontsize": "x-small",
    "ha": "center",
    "bbox": {"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
}
#: Metadata key holding a figure's texts, per file format (PNG text chunk, PDF info dictionary).
DESCRIPTION_KEYS = {"png": "Description", "pdf": "Subject"}


def runs(count: int, what: str = "diverged") -> str:
    """ "1 diverged run", "3 diverged runs"."""
    return f"{count} {what} run{'s' if count != 1 else ''}"


def mark_diverged(
    ax: plt.Axes, xs: Iterable, notes: Iterable[str] | None = None, label: str | None = None
) -> None:
    """A red cross at the foot of ``ax`` at each of ``xs`` (data units) where runs diverged, each
    with its note above it (such as "2 diverged") where ``notes`` are given; ``label`` names the
    crosses in a legend."""
    xs = list(xs)
    if not xs:
        return
    transform = ax.get_xaxis_transform()  # x in data units, y in fractions of the axes
    ax.plot(
        xs,
        np.zeros(len(xs)),
        linestyle="none",
        marker="x",
        markersize=7,
        markeredgewidth=1.5,
        color=DIVERGED_COLOUR,
        transform=transform,
        clip_on=False,
        zorder=5,
        gid=DIVERGED_GID,
        label=label if label is not None else "_diverged",
    )
    for x, note in zip(xs, notes if notes is not None else [], strict=False):
        text = ax.text(x, 0.04, note, transform=transform, rotation=90, va="bottom", gid=DIVERGED_GID)
        text.set(**DIVERGED_TEXT)


def heatmap(
    ax: plt.Axes, frame, annotate: bool, colorbar: bool, vmin: float = 0.0, vmax: float = 1.0
) -> None:
    """A heatmap of ``frame`` (a pandas DataFrame: rows × columns) on ``ax``, cell (row, column) the
    unit square at (column, row), first row on top, labelled by the frame's index and columns, each
    cell's value written in it where ``annotate``. The layout of seaborn's ``heatmap``, which draws
    the whole figure once per call to place its labels: a grid of many panels paid quadratically."""
    values = np.asarray(frame.values, dtype=float)
    mesh = ax.pcolormesh(np.ma.masked_invalid(values), vmin=vmin, vmax=vmax, cmap="viridis")
    ax.set_xlim(0, values.shape[1])
    ax.set_ylim(values.shape[0], 0)
    ax.set_aspect("equal")
    ax.set_xticks(np.arange(values.shape[1]) + 0.5, [str(c) for c in frame.columns])
    ax.set_yticks(np.arange(values.shape[0]) + 0.5, [str(i) for i in frame.index], rotation=0)
    ax.set_xlabel(str(frame.columns.name or ""))
    ax.set_ylabel(str(frame.index.name or ""))
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    if annotate:
        for (row, column), value in np.ndenumerate(values):
            if np.isfinite(value):
                colour = mesh.cmap(mesh.norm(value))
                dark = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2] < 0.5
                ax.text(
                    column + 0.5,
                    row + 0.5,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize=5,
                    color="white" if dark else "black",
                )
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax)


def hatch_cells(ax: plt.Axes, cells: np.ndarray) -> None:
    """Hatch the cells of a heatmap on ``ax`` where ``cells`` (rows × columns) is true: where its
    runs diverged, so that the cell is not read as merely missing."""
    for row, column in zip(*np.nonzero(cells), strict=True):
        ax.add_patch(
            Rectangle(
                (column, row),
                1,
                1,
                fill=False,
                hatch="xx",
                edgecolor=DIVERGED_COLOUR,
                linewidth=0,
                gid=DIVERGED_GID,
            )
        )


def say(ax: plt.Axes, message: str, **options) -> None:
    """Write ``message`` across the middle of ``ax``: why it holds nothing to draw."""
    ax.text(
        0.5,
        0.5,
        textwrap.fill(message, 40),
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize="small",
        **{"color": DIVERGED_COLOUR, **options},
    )


def failed_figure(name: str, error: BaseException) -> plt.Figure:
    """A figure saying that ``name`` could not be drawn, and why."""
    fig, ax = plt.subplots(figsize=(6, 2.5))
    ax.set_axis_off()
    reason = textwrap.shorten(f"{type(error).__name__}: {error}", 300)
    say(ax, f"figure '{name}' could not be drawn: {reason} (traceback in the job's log)", color="black")
    return fig


def description(fig: plt.Figure) -> str:
    """Every text of ``fig`` (titles, labels, legend entries), joined: stored in the files so that
    a reader (or a test) finds what the image says."""
    fig.canvas.draw()  # tick labels are set when the figure is drawn
    found = (t.get_text().strip() for t in fig.findobj(lambda a: hasattr(a, "get_text")))
    return " | ".join(" ".join(t.split()) for t in found if t)


def save_figure(fig: plt.Figure, paths: list[str]) -> None:
    """Write ``fig`` to each of ``paths`` (PNG and PDF) with its texts as metadata, then free it."""
    text = description(fig)
    try:
        for path in paths:
            key = DESCRIPTION_KEYS.get(str(path).rsplit(".", 1)[-1])
            fig.savefig(path, dpi=150, bbox_inches="tight", metadata={key: text} if key else None)
    finally:
        plt.close(fig)


def draw_figures(figures: dict[str, Callable[[], plt.Figure]], outputs: dict[str, list[str]]) -> None:
    """Draw each of ``figures`` (name -> function of nothing that draws it) into its output files
    (PNG and PDF), in the project's seaborn theme; one that fails is written as a figure saying why."""
    sns.set_theme(style="whitegrid", context="paper")
    for name, draw in figures.items():
        try:
            save_figure(draw(), outputs[name])
        except Exception as error:  # noqa: BLE001 - any failure leaves the other figures standing
            plt.close("all")
            print(f"figure {name} could not be drawn:", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
            save_figure(failed_figure(name, error), outputs[name])


def draw_summary_figures(
    figures: dict[str, Callable[..., plt.Figure]], summary, plots: dict, outputs: dict[str, list[str]]
) -> None:
    """Draw each of ``figures`` (name -> function of a study's summary and its plot options)."""
    draw_figures({name: partial(draw, summary, plots) for name, draw in figures.items()}, outputs)
