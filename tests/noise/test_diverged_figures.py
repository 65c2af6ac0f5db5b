"""Noise figures never crash on diverged runs: whatever diverged (one run, every seed of a point, a
whole slice, every run, a run outside the drawn slice), every figure is drawn, marks the diverged
runs it holds with red crosses, and counts the rest; a figure job writes every figure."""

from __future__ import annotations

import itertools
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
from deepstudy.figures import DIVERGED_GID, draw_figures
from deepstudy.noise import plots, summary
from PIL import Image
from test_summary import job

NAN = np.nan
GRID = dict(
    model=["mlp", "conv"],
    noise=["uniform", "structured"],
    alpha=[0, 1],
    n_clean=[100, 200],
    batch_size=[32, 64],
    lr=[0.05],
    seed=[0, 1],
)
POINT = dict(model="mlp", noise="uniform", alpha=1, n_clean=100, batch_size=64, lr=0.05)
PATTERNS = {
    "one run": lambda r: r == {**POINT, "seed": 0},
    "every seed of a point": lambda r: {k: r[k] for k in POINT} == POINT,
    "a whole model": lambda r: r["model"] == "conv",
    "every run": lambda r: True,
    "one run at lr 1000": lambda r: r["lr"] == 1000,
}
OPTIONS = {"target_accuracy": 0.3, "batch_size": None, "lr": None, "n_clean": None}


def diverged_summary(pattern: str, after: int = 1) -> xr.Dataset:
    """The study of GRID plus one run at lr 1000, with the runs that ``pattern`` picks diverged
    after ``after`` epochs (before it, they have a best epoch)."""
    runs = [dict(zip(GRID, values, strict=True)) for values in itertools.product(*GRID.values())]
    runs.append({**POINT, "lr": 1000, "seed": 0})
    test = np.random.default_rng(0).uniform(0.2, 0.9, (len(runs), 3))
    for i, run in enumerate(runs):
        if PATTERNS[pattern](run):
            test[i, after:] = NAN
    return summary.collect([job(runs, test, test)])


def marks(figure: plt.Figure) -> tuple[int, int, int]:
    """Red crosses, the runs their notes count, and the runs the title counts outside the figure."""
    crosses = sum(
        len(line.get_xdata()) for line in figure.findobj(plt.Line2D) if line.get_gid() == DIVERGED_GID
    )
    texts = [t for t in figure.findobj(lambda a: hasattr(a, "get_text"))]
    noted = sum(int(t.get_text().split()[0]) for t in texts if t.get_gid() == DIVERGED_GID)
    found = re.search(r"(\d+) diverged runs? outside this figure", " ".join(t.get_text() for t in texts))
    plt.close(figure)
    return crosses, noted, int(found.group(1)) if found else 0


@pytest.mark.parametrize("after", [0, 1])
@pytest.mark.parametrize("pattern", list(PATTERNS))
@pytest.mark.parametrize("name", list(plots.FIGURES))
def test_every_figure_draws_and_marks_or_counts_every_diverged_run(pattern, name, after):
    grid = diverged_summary(pattern, after)
    total = int(grid["n_diverged"].sum())
    assert total == int((grid["diverged"] == 1).sum()) > 0
    crosses, noted, outside = marks(plots.FIGURES[name](grid, OPTIONS))
    assert noted + outside == total  # each diverged run marked where it is drawn, counted where not
    assert (crosses > 0) == (noted > 0)


def test_a_run_at_lr_1000_outside_the_slice_is_counted_with_its_setting():
    options = {**OPTIONS, "batch_size": 64, "n_clean": 100}
    figure = plots.accuracy_vs_alpha(diverged_summary("one run at lr 1000"), options)
    found = " ".join(t.get_text() for t in figure.findobj(lambda a: hasattr(a, "get_text")))
    plt.close(figure)
    assert "1 diverged run outside this figure (at lr 1000), not drawn" in found


def test_a_slice_without_a_finished_run_says_so():
    figure = plots.accuracy_vs_alpha(diverged_summary("every run", after=0), OPTIONS)
    found = " ".join(t.get_text() for t in figure.findobj(lambda a: hasattr(a, "get_text")))
    plt.close(figure)
    assert "no finished run in this slice" in found


def test_draw_all_writes_every_figure_when_everything_diverged(tmp_path):
    outputs = {name: [str(tmp_path / f"{name}.{ext}") for ext in ("png", "pdf")] for name in plots.FIGURES}
    plots.draw_all(diverged_summary("every run", after=0), OPTIONS, outputs)
    for paths in outputs.values():
        for path in paths:
            assert (tmp_path / path).stat().st_size > 1000
        said = Image.open(paths[0]).text["Description"]
        assert "diverged" in said and "could not be drawn" not in said


def test_a_figure_that_fails_is_written_saying_why_and_the_others_still_are(tmp_path, capsys):
    def broken() -> plt.Figure:
        raise TypeError("no numeric data to plot")

    def fine() -> plt.Figure:
        return plt.subplots()[0]

    outputs = {name: [str(tmp_path / f"{name}.{ext}") for ext in ("png", "pdf")] for name in ("a", "b", "c")}
    draw_figures({"a": fine, "b": broken, "c": fine}, outputs)
    for paths in outputs.values():
        for path in paths:
            assert (tmp_path / path).stat().st_size > 1000
    assert (
        "could not be drawn: TypeError: no numeric data to plot"
        in Image.open(tmp_path / "b.png").text["Description"]
    )
    assert "Traceback" in capsys.readouterr().err  # for the job's log
