"""Figures of the regions study, drawn with seaborn from its Zarr stores."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402

from deepstudy.figures import draw_figures  # noqa: E402

#: Legend label of the 2D counts that are only the grid estimate (exact splitting passed the cap).
GRID_LOWER_BOUND = "grid lower bound (exact splitting passed max_polygons)"


def _per_network(store: xr.Dataset, variable: str, over: str) -> pd.DataFrame:
    """Mean of ``variable`` over its probe dimension, one row per network that exists and was not
    excluded (those have NaN statistics), with its hidden neurons and whether its 2D count is exact."""
    frame = store[variable].mean(over).to_dataframe(name=variable).reset_index()
    info = store[[name for name in ("hidden_neurons", "exact_2d") if name in store]].to_dataframe()
    info = info.reset_index().rename(columns={"hidden_neurons": "neurons_total"})
    frame = frame.merge(info, on=[c for c in info.columns if c not in ("neurons_total", "exact_2d")])
    frame = frame.dropna(subset=[variable])
    frame["exact_2d"] = frame["exact_2d"].astype(bool) if "exact_2d" in frame else True
    return frame


def _excluded(store: xr.Dataset, over: str | None = None) -> pd.DataFrame:
    """The networks left out of the analyses (diverged runs), one row each with its factors; with
    ``over``, a network excluded anywhere along that dimension (a run at any of its epochs) counts once."""
    if "excluded" not in store:
        return pd.DataFrame()
    excluded = store["excluded"].astype(bool)
    if over is not None:
        excluded = excluded.any(over)
    frame = excluded.to_dataframe(name="excluded").reset_index()
    return frame[frame["excluded"]]


def _excluded_note(count: int) -> str:
    """Legend text counting the diverged runs a curve or set of points leaves out."""
    return f" ({count} diverged run{'s' if count != 1 else ''} excluded)" if count else ""


def _against_neurons(frame: pd.DataFrame, y: str, ax: plt.Axes, style: str = "init", **options) -> None:
    """``y`` against the number of hidden neurons, one colour per depth, mean ± sd over networks."""
    sns.lineplot(
        data=frame,
        x="neurons_total",
        y=y,
        hue="depth",
        style=style,
        marker="o",
        errorbar="sd",
        palette="viridis",
        ax=ax,
        **options,
    )


def regions_per_length(init: xr.Dataset) -> plt.Figure:
    """Regions per unit length along lines against #neurons, per depth, raw and divided by #neurons."""
    frame = _per_network(init, "regions_per_length", "line")
    frame["per_neuron"] = frame["regions_per_length"] / frame["neurons_total"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    _against_neurons(frame, "regions_per_length", axes[0])
    _against_neurons(frame, "per_neuron", axes[1], legend=False)
    axes[0].set(xlabel="hidden neurons", ylabel="regions per unit length", title="At initialisation")
    axes[1].set(
        xlabel="hidden neurons",
        ylabel="regions per unit length / neurons",
        title="Divided by #neurons",
        ylim=(0, None),
    )
    fig.tight_layout()
    return fig


def _run_label(frame: pd.DataFrame) -> pd.Series:
    """A noise run's legend label: model, noise kind and α."""
    return frame["model"] + ", " + frame["noise"] + " α=" + frame["alpha"].map("{:g}".format)


def regions_through_training(trained: xr.Dataset) -> plt.Figure:
    """Regions per unit length (divided by #neurons) along training, per run of the noise study;
    each legend entry counts the diverged runs its mean over seeds leaves out."""
    frame = _per_network(trained, "regions_per_length", "line")
    frame["per_neuron"] = frame["regions_per_length"] / frame["neurons_total"]
    frame["run"] = _run_label(frame)
    excluded = _excluded(trained, over="epoch")
    counts = _run_label(excluded).value_counts() if len(excluded) else pd.Series(dtype=int)
    frame["run"] = frame["run"].map(lambda run: run + _excluded_note(int(counts.get(run, 0))))
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    sns.lineplot(data=frame, x="epoch", y="per_neuron", hue="run", marker="o", errorbar="sd", ax=ax)
    ax.set(
        xlabel="epoch (0 = initialisation)",
        ylabel="regions per unit length / neurons",
        ylim=(0, None),
        title="Regions along lines through training",
    )
    return fig


def distance_to_boundary(init: xr.Dataset) -> plt.Figure:
    """Mean distance to the nearest region boundary × #neurons against #neurons (≈ constant)."""
    frame = _per_network(init, "distance", "point")
    frame["scaled"] = frame["distance"] * frame["neurons_total"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    _against_neurons(frame, "scaled", ax)
    ax.set(
        xlabel="hidden neurons",
        ylabel="distance to boundary × neurons",
        ylim=(0, None),
        title="Distance to the nearest region boundary",
    )
    return fig


def patterns_2d(init: xr.Dataset, trained: xr.Dataset, memorised: xr.Dataset) -> plt.Figure:
    """Activation patterns in a 2D square against #neurons, log-log, with the (#neurons)² reference:
    at initialisation (solid) and after memorising random labels (dashed). Curves and crosses are
    exact counts; networks whose exact splitting passed ``max_polygons`` have only the grid count,
    a lower bound, drawn apart as hollow circles. Legend entries count the diverged runs left out."""
    last_memorised, last_trained = memorised.isel(epoch=-1), trained.isel(epoch=-1)
    at_init = _per_network(init, "patterns_2d", "plane").assign(state="initialisation")
    memorised_label = "memorised random labels" + _excluded_note(len(_excluded(last_memorised)))
    after = _per_network(last_memorised, "patterns_2d", "plane").assign(state=memorised_label)
    runs = _per_network(last_trained, "patterns_2d", "plane")
    frame = pd.concat([at_init, after])
    fig, ax = plt.subplots(figsize=(5.5, 4))
    exact = frame[frame["exact_2d"]]
    if not exact.empty:
        _against_neurons(exact, "patterns_2d", ax, style="state")
    neurons = np.array(sorted(frame["neurons_total"].unique()), dtype=float)
    reference = at_init[at_init["exact_2d"]] if at_init["exact_2d"].any() else at_init
    scale = reference["patterns_2d"].mean() / (reference["neurons_total"] ** 2).mean()
    ax.plot(neurons, scale * neurons**2, color="grey", linestyle="--", label="∝ neurons²")
    exact_runs = runs[runs["exact_2d"]]
    if not runs.empty:
        ax.scatter(
            exact_runs["neurons_total"],
            exact_runs["patterns_2d"],
            color="black",
            marker="x",
            label="noise-study MLPs, last checkpoint" + _excluded_note(len(_excluded(last_trained))),
            zorder=3,
        )
    bounds = pd.concat([frame, runs])
    bounds = bounds[~bounds["exact_2d"]]
    if not bounds.empty:
        ax.scatter(
            bounds["neurons_total"],
            bounds["patterns_2d"],
            facecolors="none",
            edgecolors="black",
            marker="o",
            label=GRID_LOWER_BOUND,
            zorder=3,
        )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="hidden neurons",
        ylabel="activation regions in the square",
        title="2D activation patterns",
    )
    ax.legend(fontsize="small")
    return fig


def partition(partition_store: xr.Dataset) -> plt.Figure:
    """One plane's regions as polygons, at the first and the last checkpoint."""
    epochs = partition_store["epoch"].values
    fig, axes = plt.subplots(1, len(epochs), figsize=(4 * len(epochs), 4))
    rng = np.random.default_rng(0)
    for ax, epoch in zip(np.atleast_1d(axes), epochs, strict=True):
        vertices = partition_store["vertices"].sel(epoch=epoch).values
        shapes = [v[~np.isnan(v[:, 0])] for v in vertices]
        shapes = [s for s in shapes if len(s) >= 3]
        ax.add_collection(
            PolyCollection(
                shapes, facecolors=rng.random((len(shapes), 3)), edgecolors="black", linewidths=0.2
            )
        )
        margin = float(partition_store.attrs.get("margin", 0.0))
        excluded = "excluded" in partition_store and bool(partition_store["excluded"].sel(epoch=epoch))
        ax.set(
            xlim=(-margin, 1 + margin),
            ylim=(-margin, 1 + margin),
            aspect="equal",
            title=f"epoch {epoch}: "
            + ("excluded, the run diverged" if excluded else f"{len(shapes)} regions"),
            xlabel="s",
            ylabel="t",
        )
    fig.tight_layout()
    return fig


def figures(stores: dict[str, xr.Dataset]) -> dict:
    """Each regions figure's drawing, from the study's stores (``init``, ``trained``, ``memorised``,
    ``partition``)."""
    return {
        "regions_per_length": lambda: regions_per_length(stores["init"]),
        "regions_through_training": lambda: regions_through_training(stores["trained"]),
        "distance_to_boundary": lambda: distance_to_boundary(stores["init"]),
        "patterns_2d": lambda: patterns_2d(stores["init"], stores["trained"], stores["memorised"]),
        "partition": lambda: partition(stores["partition"]),
    }


def draw_all(stores: dict[str, xr.Dataset], outputs: dict[str, list[str]]) -> None:
    """Draw every regions figure into its output files (PNG and PDF)."""
    draw_figures(figures(stores), outputs)
