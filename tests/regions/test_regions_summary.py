"""Region summaries and figures: diverged networks left out and counted, grid lower bounds apart."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import xarray as xr
from deepstudy.regions import analysis, plots, summary

OPTIONS = {
    "probes": {"lines": 2, "directions": 1, "planes": 1, "points": 3, "seed": 0},
    "margin": 0.0,
    "grid_resolution": 10,
    "max_polygons": 1000,
}
RUN = {"model": "mlp", "noise": "uniform", "alpha": 1.0, "n_clean": 100, "batch_size": 64, "lr": 0.05}


def diverged(net: torch.nn.Module) -> torch.nn.Module:
    """``net`` with the NaN weight a diverged run ends with."""
    with torch.no_grad():
        net[1].weight[0, 0] = float("nan")
    return net


def network(value: float, neurons: int = 8, method: str = "exact", excluded: bool = False) -> xr.Dataset:
    """One network's analysis as :func:`analysis.analyse` stores it, every statistic ``value``
    (NaN if ``excluded``)."""
    value = np.nan if excluded else value
    return xr.Dataset(
        {
            "regions_1d": ("line", [value] * 2),
            "line_length": ("line", [1.0, 1.0]),
            "regions_per_length": ("line", [value] * 2),
            "patterns_2d": ("plane", [value]),
            "grid_patterns_2d": ("plane", [value]),
            "distance": ("point", [value] * 3),
            "excluded": ((), excluded),
        },
        coords={"line": [0, 1], "plane": [0], "point": [0, 1, 2]},
        attrs={"neurons": neurons, "patterns_2d_method": "excluded" if excluded else method},
    )


def collected(networks: list[tuple[dict, xr.Dataset]]) -> xr.Dataset:
    return summary.collect([ds for _, ds in networks], [factors for factors, _ in networks])


def legend_texts(fig) -> list[str]:
    return [text.get_text() for text in fig.axes[0].get_legend().get_texts()]


@pytest.fixture
def trained() -> xr.Dataset:
    """Two seeds of one noise run at epochs 0 and 2; seed 1 diverged before epoch 2."""
    return collected(
        [
            ({**RUN, "seed": 0, "epoch": 0}, network(4.0)),
            ({**RUN, "seed": 0, "epoch": 2}, network(6.0)),
            ({**RUN, "seed": 1, "epoch": 0}, network(4.0)),
            ({**RUN, "seed": 1, "epoch": 2}, network(0.0, excluded=True)),
        ]
    )


def test_a_network_with_non_finite_weights_is_left_out_not_counted():
    """A diverged run's NaN weights would cross one region per line; its analysis is NaN instead."""
    net = diverged(analysis.fresh_mlp(1, 8, "he", (1, 10), 10, seed=0, bias_std=1e-3))
    test_x = torch.randn(30, 1, 10, generator=torch.Generator().manual_seed(0))
    result = analysis.analyse_with_options(net, test_x, OPTIONS, {"seed": 0})
    for name in ("regions_1d", "regions_per_length", "patterns_2d", "grid_patterns_2d", "distance"):
        assert np.isnan(result[name].values).all(), name
    assert result.sizes == {"line": 3, "plane": 1, "point": 3}
    assert bool(result["excluded"]) and "non-finite weights in 1.weight" in result["excluded"].attrs["reason"]


def test_collect_records_and_counts_the_excluded_networks(trained):
    assert bool(trained["excluded"].sel(seed=1, epoch=2)) and not bool(
        trained["excluded"].sel(seed=0, epoch=2)
    )
    assert trained["n_excluded"].sel(epoch=2).item() == 1 and trained["n_excluded"].sel(epoch=0).item() == 0
    [reason] = json.loads(trained["excluded"].attrs["reasons"])
    assert reason["seed"] == 1 and reason["epoch"] == 2
    assert np.isnan(trained["regions_per_length"].sel(seed=1, epoch=2)).all()


def test_regions_through_training_counts_the_diverged_runs_it_leaves_out(trained):
    fig = plots.regions_through_training(trained)
    assert "mlp, uniform α=1 (1 diverged run excluded)" in legend_texts(fig)
    [line] = fig.axes[0].get_lines()[:1]
    # the mean at epoch 2 is the one remaining seed's, 6 regions per unit length over 8 neurons
    assert line.get_ydata()[list(line.get_xdata()).index(2)] == pytest.approx(6.0 / 8)


def test_the_2d_figure_draws_grid_lower_bounds_apart_from_exact_counts(trained):
    """Where exact splitting passed the cap, the count is the grid's lower bound: hollow circles,
    with their own legend entry, not points on the curves of exact counts."""
    cell = {"depth": 1, "init": "he"}
    init = collected(
        [
            ({**cell, "neurons": 8, "seed": 0}, network(20.0, 8)),
            ({**cell, "neurons": 16, "seed": 0}, network(60.0, 16)),
            ({**cell, "neurons": 16, "seed": 1}, network(40.0, 16, method="grid")),
        ]
    )
    memorised = collected(
        [
            ({**cell, "neurons": 8, "seed": 0, "epoch": 2}, network(25.0, 8)),
            ({**cell, "neurons": 16, "seed": 0, "epoch": 2}, network(0.0, 16, excluded=True)),
        ]
    )
    trained_grid = collected(
        [
            ({**RUN, "seed": 0, "epoch": 2}, network(30.0, 8, method="grid")),
            ({**RUN, "seed": 1, "epoch": 2}, network(35.0, 8)),
        ]
    )
    fig = plots.patterns_2d(init, trained_grid, memorised)
    ax = fig.axes[0]
    bounds = [c for c in ax.collections if c.get_label().startswith("grid lower bound")]
    assert len(bounds) == 1, [c.get_label() for c in ax.collections]
    bounds = bounds[0]
    assert sorted(map(tuple, bounds.get_offsets().tolist())) == [(8.0, 30.0), (16.0, 40.0)]
    assert len(bounds.get_facecolors()) == 0 or bounds.get_facecolors()[:, 3].max() == 0  # hollow
    [crosses] = [c for c in ax.collections if c.get_label().startswith("noise-study MLPs")]
    assert crosses.get_offsets().tolist() == [[8.0, 35.0]]
    at_init = [line for line in ax.get_lines() if 16 in line.get_xdata()][0]
    assert at_init.get_ydata()[list(at_init.get_xdata()).index(16)] == pytest.approx(60.0)  # exact only
    texts = legend_texts(fig)
    assert bounds.get_label() in texts
    assert "memorised random labels (1 diverged run excluded)" in texts


def test_a_diverged_checkpoint_has_no_partition_drawn():
    fresh = analysis.fresh_mlp(1, 8, "he", (1, 10), 10, seed=0, bias_std=1e-3)
    anchors = torch.randn(3, 1, 10, generator=torch.Generator().manual_seed(0))
    ds = analysis.partition(
        {0: fresh, 2: diverged(analysis.fresh_mlp(1, 8, "he", (1, 10), 10, seed=0, bias_std=1e-3))},
        anchors,
        0.0,
        1000,
    )
    assert ds["excluded"].values.tolist() == [False, True]
    assert "non-finite" in json.loads(ds["excluded"].attrs["reasons"])["2"]
    assert np.isnan(ds["vertices"].sel(epoch=2)).all()
    titles = [ax.get_title() for ax in plots.partition(ds).axes]
    assert titles[1] == "epoch 2: excluded, the run diverged" and "regions" in titles[0]


def test_counts_left_out_stay_nan_through_the_stores(tmp_path):
    """Region counts are integers in a network's store; in the summary an excluded network's (and a
    missing cell's) are NaN, not the integer that NaN would be cast to by the stored encoding."""
    from deepstudy import store

    def stored(name: str, ds: xr.Dataset) -> xr.Dataset:
        store.write_store(ds, tmp_path / f"{name}.zarr", {})
        return store.open_store(tmp_path / f"{name}.zarr")

    counted = network(3.0).assign(regions_1d=("line", np.array([3, 4])), patterns_2d=("plane", np.array([7])))
    stores = [stored("a", counted), stored("b", network(0.0, excluded=True)), stored("c", counted)]
    cells = [
        {"alpha": 0, "seed": 0},
        {"alpha": 0, "seed": 1},
        {"alpha": 1, "seed": 0},
    ]  # alpha 1 seed 1: none
    collected_store = stored("summary", summary.collect(stores, cells)).load()
    assert collected_store["regions_1d"].sel(alpha=0, seed=0).values.tolist() == [3, 4]
    for alpha, seed in ((0, 1), (1, 1)):
        for name in ("regions_1d", "patterns_2d"):
            assert np.isnan(collected_store[name].sel(alpha=alpha, seed=seed)).all(), (name, alpha, seed)
