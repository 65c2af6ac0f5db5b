"""Drawing and saving figures, shared by every study's plots: the theme, PNG and PDF files."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402


def save_figure(fig: plt.Figure, paths: list[str]) -> None:
    """Write ``fig`` to each of ``paths`` (PNG and PDF), then free it."""
    for path in paths:
        fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)


def draw_figures(figures: dict[str, Callable[[], plt.Figure]], outputs: dict[str, list[str]]) -> None:
    """Draw each of ``figures`` (name -> function of nothing that draws it) into its output files
    (PNG and PDF), in the project's seaborn theme."""
    sns.set_theme(style="whitegrid", context="paper")
    for name, draw in figures.items():
        save_figure(draw(), outputs[name])


def draw_summary_figures(
    figures: dict[str, Callable[..., plt.Figure]], summary, plots: dict, outputs: dict[str, list[str]]
) -> None:
    """Draw each of ``figures`` (name -> function of a study's summary and its plot options)."""
    draw_figures({name: partial(draw, summary, plots) for name, draw in figures.items()}, outputs)
