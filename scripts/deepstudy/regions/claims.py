"""The linear-region claims of Hanin & Rolnick (2019a, 2019b), checked on the regions summaries.

Fresh networks (``init``) and networks after memorising random labels (``memorised``) have
dimensions depth and neurons; the noise study's trained MLPs (``trained``) are named by their noise
run, with their hidden widths from the model config.
"""

from __future__ import annotations

from math import comb, prod

import numpy as np
import xarray as xr

from deepstudy.claims import Claim, Statement
from deepstudy.regions.workflow import width

_PAPER_1D = "Hanin & Rolnick 2019a"
_PAPER_2D = "Hanin & Rolnick 2019b"
#: "About constant": the largest value within this factor of the smallest.
CONSTANT_FACTOR = 2.0
#: The 2D count's log-log slope against #neurons may be at most this (the theory says 2).
MAX_SLOPE = 2.5
#: "Far below" the exponential bound: at most this fraction of it.
FAR_BELOW = 0.1
DENSITY = Statement(
    "regions",
    "Regions per unit length along a line, divided by #neurons, is about constant across depths.",
    f"{_PAPER_1D}, Thm. 5 and Fig. 3",
    f"at initialisation, for each neuron count, the mean density / #neurons over lines and seeds "
    f"varies by at most a factor {CONSTANT_FACTOR:g} across depths",
    "density grows linearly in #neurons, independent of depth",
)
DISTANCE = Statement(
    "regions",
    "Distance to the nearest region boundary × #neurons is about constant.",
    f"{_PAPER_1D}, Thm. 6 and Fig. 4",
    f"at initialisation, the mean distance × #neurons varies by at most a factor {CONSTANT_FACTOR:g} "
    f"across depths and neuron counts",
    "distance ≈ C / #neurons",
)
PATTERNS_INIT = Statement(
    "regions",
    "Activation regions meeting a plane grow like (#neurons)² at initialisation.",
    f"{_PAPER_2D}, Thm. 1 and Fig. 2",
    f"log-log slope of the mean 2D count against #neurons is at most {MAX_SLOPE:g} at every depth",
    "slope 2 (#neurons to the input dimension)",
)
PATTERNS_MEMORISED = Statement(
    "regions",
    "Activation regions meeting a plane still grow like (#neurons)² after memorising random labels.",
    f"{_PAPER_2D}, Fig. 4",
    f"log-log slope of the mean 2D count against #neurons after the last epoch is at most "
    f"{MAX_SLOPE:g} at every depth",
    "slope 2 (#neurons to the input dimension)",
)
BOUND = Statement(
    "regions",
    "Region counts stay far below the exponential bound, at initialisation and through training.",
    f"{_PAPER_1D} Sec. 1; {_PAPER_2D}, Fig. 4",
    f"for every network of depth ≥ 2 (fresh, memorising at each checkpoint, the noise study's MLPs "
    f"at each checkpoint), the largest 2D count is at most {FAR_BELOW:g} of the bound "
    f"∏_l (1 + n_l + C(n_l, 2)) for a plane",
    "the maximum grows exponentially with depth",
)
STATEMENTS = (DENSITY, DISTANCE, PATTERNS_INIT, PATTERNS_MEMORISED, BOUND)


def plane_bound(widths: list[int]) -> int:
    """Most regions a ReLU net with hidden ``widths`` can cut a plane into: ∏_l Σ_{j≤2} C(n_l, j)."""
    return prod(sum(comb(n, j) for j in range(3)) for n in widths)


def _factor(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(values.max() / values.min()) if len(values) > 1 and values.min() > 0 else np.nan


def density(init: xr.Dataset) -> Claim:
    scaled = (init["regions_per_length"].mean(["line", "seed"]) / init["neurons"]).mean("init")
    if init.sizes["depth"] < 2:
        return DENSITY.not_run("one depth at initialisation")
    factors = {int(n): _factor(scaled.sel(neurons=n).values) for n in init["neurons"].values}
    worst = np.nanmax(list(factors.values()))
    text = (
        "; ".join(
            f"{n} neurons: "
            + ", ".join(
                f"depth {int(d)} {v:.3g}"
                for d, v in zip(init["depth"].values, scaled.sel(neurons=n).values, strict=True)
            )
            for n in factors
        )
        + f"; largest factor {worst:.2f}"
    )
    return DENSITY.measured(bool(worst <= CONSTANT_FACTOR), text, worst)


def distance(init: xr.Dataset) -> Claim:
    scaled = (init["distance"].mean(["point", "seed"]) * init["neurons"]).mean("init")
    factor = _factor(scaled.values.ravel())
    text = f"from {float(scaled.min()):.3g} to {float(scaled.max()):.3g} (factor {factor:.2f})"
    return DISTANCE.measured(bool(factor <= CONSTANT_FACTOR), text, factor)


def _slopes(patterns: xr.DataArray) -> dict[int, float]:
    """Least-squares log-log slope of the mean count against #neurons, per depth."""
    counts = patterns.mean([d for d in patterns.dims if d not in ("depth", "neurons")])
    slopes = {}
    for depth in counts["depth"].values:
        row = counts.sel(depth=depth)
        keep = np.isfinite(row.values) & (row.values > 0)
        if keep.sum() >= 2:
            slopes[int(depth)] = float(
                np.polyfit(np.log(row["neurons"].values[keep]), np.log(row.values[keep]), 1)[0]
            )
    return slopes


def _patterns(statement: Statement, store: xr.Dataset) -> Claim:
    if store.sizes["neurons"] < 2:
        return statement.not_run("one neuron count")
    slopes = _slopes(store["patterns_2d"])
    if not slopes:
        return statement.not_run("no depth with two finite counts")
    estimates = int((~store["exact_2d"].astype(bool)).sum())
    worst = max(slopes.values())
    text = ", ".join(f"depth {d}: slope {s:.2f}" for d, s in slopes.items())
    if estimates:
        text += f" ({estimates} of {store['exact_2d'].size} networks counted on the grid: lower bounds)"
    return statement.measured(bool(worst <= MAX_SLOPE), text, worst)


def patterns_init(init: xr.Dataset) -> Claim:
    return _patterns(PATTERNS_INIT, init)


def patterns_memorised(memorised: xr.Dataset) -> Claim:
    return _patterns(PATTERNS_MEMORISED, memorised.isel(epoch=-1))


def _ratios(store: xr.Dataset, widths: xr.DataArray) -> xr.DataArray:
    """Each network's largest 2D count over its bound, where it has depth ≥ 2."""
    bound = xr.apply_ufunc(
        lambda w: float(plane_bound([int(n) for n in w if np.isfinite(n)])),
        widths,
        input_core_dims=[["layer"]],
        vectorize=True,
    )
    deep = widths.notnull().sum("layer") >= 2
    return (store["patterns_2d"].max("plane") / bound).where(deep)


def _fresh_widths(store: xr.Dataset) -> xr.DataArray:
    depth = int(store["depth"].max())
    table = [
        [[width(int(d), int(n))] * int(d) + [np.nan] * (depth - int(d)) for n in store["neurons"].values]
        for d in store["depth"].values
    ]
    return xr.DataArray(
        table,
        dims=("depth", "neurons", "layer"),
        coords={"depth": store["depth"], "neurons": store["neurons"]},
    )


def bound(init: xr.Dataset, memorised: xr.Dataset, trained: xr.Dataset, models: dict) -> Claim:
    found = {
        "init": _ratios(init, _fresh_widths(init)),
        "memorised": _ratios(memorised, _fresh_widths(memorised)),
    }
    if trained.sizes.get("model", 0):
        widths = [[models[str(m)]["width"]] * models[str(m)]["depth"] for m in trained["model"].values]
        layers = max(len(w) for w in widths)
        padded = [w + [np.nan] * (layers - len(w)) for w in widths]
        found["trained"] = _ratios(
            trained, xr.DataArray(padded, dims=("model", "layer"), coords={"model": trained["model"]})
        )
    largest = {kind: float(ratio.max()) for kind, ratio in found.items() if ratio.notnull().any()}
    if not largest:
        return BOUND.not_run("no network of depth ≥ 2")
    worst = max(largest.values())
    text = "largest count / bound: " + ", ".join(f"{kind} {value:.2g}" for kind, value in largest.items())
    return BOUND.measured(bool(worst <= FAR_BELOW), text, worst)


def evaluate(init: xr.Dataset, memorised: xr.Dataset, trained: xr.Dataset, models: dict) -> list[Claim]:
    """Every linear-region claim; ``models`` is the config's model table (for the trained MLPs)."""
    return [
        density(init),
        distance(init),
        patterns_init(init),
        patterns_memorised(memorised),
        bound(init, memorised, trained, models),
    ]
