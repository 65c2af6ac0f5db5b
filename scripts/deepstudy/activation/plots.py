"""Figures of the activation-length study: the length's mean and variance, and the trainability map."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import xarray as xr  # noqa: E402

from deepstudy.figures import draw_figures  # noqa: E402


def activation_length(activation: xr.Dataset) -> plt.Figure:
    """Mean and variance of the squared length against depth per init; variance against Σ 1/width."""
    length = activation["squared_length"]
    profile = activation["profile"].values[int(np.argmax(activation["depth"].values))]
    deep = length.sel(profile=profile)
    stats = xr.Dataset(
        {"mean": deep.mean(("network", "input")), "variance": deep.var("network").mean("input")}
    )
    frame = stats.to_dataframe().reset_index().dropna()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    sns.lineplot(data=frame, x="layer", y="mean", hue="init", marker="o", ax=axes[0])
    axes[0].set(yscale="log", title=f"Mean of M_l ({profile})", ylabel="mean squared length M_l")
    sns.lineplot(data=frame, x="layer", y="variance", hue="init", marker="o", ax=axes[1])
    axes[1].set(yscale="log", title=f"Variance of M_l over networks ({profile})", ylabel="variance")
    he = "2" if "2" in activation["init"].values else str(activation["init"].values[0])
    final = xr.concat(
        [
            length.sel(profile=p, init=he).isel(layer=int(d) - 1)
            for p, d in zip(activation["profile"].values, activation["depth"].values, strict=True)
        ],
        dim="profile",
        coords="minimal",
        compat="override",
    )
    summary = pd.DataFrame(
        {
            "profile": activation["profile"].values,
            "reciprocal_width_sum": activation["reciprocal_width_sum"].values,
            "variance": final.var("network").mean("input").values,
            "depth": activation["depth"].values,
        }
    )
    sns.scatterplot(
        data=summary, x="reciprocal_width_sum", y="variance", hue="profile", size="depth", ax=axes[2]
    )
    axes[2].set(
        yscale="log",
        xlabel="Σ 1/width",
        ylabel="variance of M at the last layer",
        title=f"Variance vs Σ 1/width (init c={he})",
    )
    axes[2].legend(fontsize="x-small")
    fig.tight_layout()
    return fig


def trainability(train: xr.Dataset) -> plt.Figure:
    """Loss after a few hundred steps relative to the start, over depth × width, per init."""
    inits = train["init"].values
    fig, axes = plt.subplots(1, len(inits), figsize=(4.5 * len(inits), 3.5), squeeze=False)
    for ax, init in zip(axes[0], inits, strict=True):
        table = train["loss_ratio"].sel(init=init).to_pandas()
        sns.heatmap(
            table.clip(upper=1.5),
            annot=True,
            fmt=".2f",
            cmap="RdYlGn_r",
            vmin=0,
            vmax=1.5,
            ax=ax,
            cbar_kws={"label": "loss after / loss at start"},
        )
        ax.set(title=f"Does training start? (init c={init})", xlabel="width", ylabel="depth")
    fig.tight_layout()
    return fig


def figures(stores: dict[str, xr.Dataset]) -> dict:
    """Each figure's drawing, from the ``activation`` and ``trainability`` stores."""
    return {
        "activation_length": lambda: activation_length(stores["activation"]),
        "trainability": lambda: trainability(stores["trainability"]),
    }


def draw_all(stores: dict[str, xr.Dataset], outputs: dict[str, list[str]]) -> None:
    """Draw both figures into their output files (PNG and PDF)."""
    draw_figures(figures(stores), outputs)
