"""The activation-length claims of Hanin & Rolnick (2018), checked on the activation-length table
and the trainability map."""

from __future__ import annotations

import numpy as np
import xarray as xr

from deepstudy.activation.workflow import TORCH_DEFAULT
from deepstudy.claims import Claim, Statement, spearman

_PAPER = "Hanin & Rolnick 2018"
#: PyTorch's default init draws weights with variance 1 / (3 fan-in): c = 1/3.
TORCH_DEFAULT_C = 1 / 3
#: "Constant" mean length: within this factor of 1 at the deepest layer.
MEAN_FACTOR = 2.0
MEAN = Statement(
    "activation length",
    "The mean activation length stays constant with depth under weight variance 2/fan-in, and "
    "vanishes or explodes otherwise.",
    f"{_PAPER}, Thm. 5 and Fig. 2 (failure mode 1)",
    f"at the last layer of the deepest profile, the mean of M over networks and inputs lies within a "
    f"factor {MEAN_FACTOR:g} of 1 for c = 2, below 1/{MEAN_FACTOR:g} for c < 2 (PyTorch's default: "
    f"c = 1/3) and above {MEAN_FACTOR:g} for c > 2",
    "mean of M_l = (c/2)^l",
)
VARIANCE = Statement(
    "activation length",
    "The variance of the activation length grows with the sum of reciprocal widths Σ 1/width.",
    f"{_PAPER}, Thm. 8 and Fig. 3 (failure mode 2)",
    "Spearman correlation over width profiles (c = 2) between Σ 1/width and the variance of M at "
    "the last layer is at least 0.7",
    "variance of M_L ≈ exp(C Σ 1/n_j) - 1",
)
TRAINABILITY = Statement(
    "activation length",
    "Whether training starts follows Σ 1/width: deep, narrow nets start worst.",
    f"{_PAPER}, Fig. 4",
    "Spearman correlation over depth × width cells (c = 2, constant width) between depth / width "
    "and the loss ratio after the steps is positive",
)
STATEMENTS = (MEAN, VARIANCE, TRAINABILITY)


def _c(init: str) -> float:
    return TORCH_DEFAULT_C if init == TORCH_DEFAULT else float(init)


def _he(inits: np.ndarray) -> str | None:
    """The c = 2 init's label, if the run has it."""
    return next((str(i) for i in inits if i != TORCH_DEFAULT and float(i) == 2.0), None)


def mean_length(activation: xr.Dataset) -> Claim:
    profile = activation["profile"].values[int(np.argmax(activation["depth"].values))]
    depth = int(activation["depth"].sel(profile=profile))
    last = activation["squared_length"].sel(profile=profile).isel(layer=depth - 1)
    means = {str(i): float(last.sel(init=i).mean()) for i in activation["init"].values}
    holds = True
    for init, mean in means.items():
        c = _c(init)
        if c == 2:
            holds &= 1 / MEAN_FACTOR <= mean <= MEAN_FACTOR
        else:
            holds &= mean < 1 / MEAN_FACTOR if c < 2 else mean > MEAN_FACTOR
    text = f"{profile} (depth {depth}): " + ", ".join(f"c={init} {mean:.3g}" for init, mean in means.items())
    return MEAN.measured(holds, text, means.get(_he(activation["init"].values) or "", np.nan))


def variance_length(activation: xr.Dataset) -> Claim:
    he = _he(activation["init"].values)
    if he is None or activation.sizes["profile"] < 3:
        return VARIANCE.not_run("needs c = 2 and at least three width profiles")
    final = [
        float(
            activation["squared_length"].sel(profile=p, init=he).isel(layer=int(d) - 1).var("network").mean()
        )
        for p, d in zip(activation["profile"].values, activation["depth"].values, strict=True)
    ]
    sums = activation["reciprocal_width_sum"].values
    rho = spearman(sums, final)
    text = f"ρ = {rho:.2f} over " + ", ".join(
        f"{p} (Σ1/n={s:.3f}: {v:.3g})"
        for p, s, v in zip(activation["profile"].values, sums, final, strict=True)
    )
    return VARIANCE.measured(bool(rho >= 0.7), text, rho)


def trainability(train: xr.Dataset) -> Claim:
    he = _he(train["init"].values)
    ratio = train["loss_ratio"].sel(init=he) if he is not None else None
    if ratio is None or ratio.size < 3:
        return TRAINABILITY.not_run("needs c = 2 and at least three depth × width cells")
    shape = (ratio["depth"] / ratio["width"]).broadcast_like(ratio)
    rho = spearman(shape.values, ratio.values)
    worst = ratio.where(ratio == ratio.max(), drop=True)
    text = (
        f"ρ = {rho:.2f}; worst cell depth {int(worst['depth'][0])}, width {int(worst['width'][0])} "
        f"(loss ratio {float(ratio.max()):.2f}); best {float(ratio.min()):.2f}"
    )
    return TRAINABILITY.measured(bool(rho > 0), text, rho)


def evaluate(activation: xr.Dataset, train: xr.Dataset) -> list[Claim]:
    """Every activation-length claim."""
    return [mean_length(activation), variance_length(activation), trainability(train)]
