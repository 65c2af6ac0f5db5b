"""The label-noise claims of Rolnick et al. (2017), checked on the noise summary.

Every comparison reads the final clean test accuracy at the batch size, learning rate and clean-set
size the figures hold fixed (:func:`deepstudy.noise.plots.reference`), at the largest α the run
swept, with the mean and sd over seeds.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from deepstudy.claims import Claim, Statement, mean_sd, spread_text
from deepstudy.noise.summary import clean_needed
from deepstudy.noise.workflow import NOISE_KINDS

#: How much each noise kind hurts by the paper, most first: structured noise favours a confusing
#: class, images from another source are the easiest to tell from the clean ones.
HARM_RANK = {"structured": 0, "uniform": 1, "source": 2}

_PAPER = "Rolnick et al. 2017"
GRACEFUL = Statement(
    "noise",
    "Accuracy falls gracefully with α and stays above chance at the largest α.",
    f"{_PAPER}, Fig. 1 (uniform noise)",
    "for every model, the seed-mean accuracy at the largest α under uniform noise exceeds chance by "
    "at least 0.05 and by more than 2 sd over seeds",
    "MNIST: above 0.90 at α = 100 (chance 0.10)",
)
BATCH = Statement(
    "noise",
    "Larger batches help under heavy noise.",
    f"{_PAPER}, Fig. 6 (batch size)",
    "at the largest α under uniform noise, the largest batch size's seed-mean accuracy exceeds the "
    "smallest's, for every model run at several batch sizes",
)
CLEAN = Statement(
    "noise",
    "The clean data needed grows with α.",
    f"{_PAPER}, Fig. 5 (clean examples needed)",
    "the clean examples needed to reach the target accuracy (log-interpolated over clean-set sizes; "
    "never reached counts as more than the largest size) is larger at the largest α than at the "
    "smallest, for every model and noise kind run at several clean-set sizes",
)
KINDS = Statement(
    "noise",
    "Structured noise hurts more than uniform, and images from another source hurt least.",
    f"{_PAPER}, Fig. 3 and Fig. 4",
    "at the largest α, seed-mean accuracy orders structured < uniform < source, for every model run "
    "with all three",
)
STATEMENTS = (GRACEFUL, BATCH, CLEAN, KINDS)


def _at_largest_alpha(accuracy: xr.DataArray) -> xr.DataArray:
    """Accuracy at the largest α with a finished run, keeping the other dimensions."""
    ran = accuracy["alpha"].values[accuracy.notnull().any([d for d in accuracy.dims if d != "alpha"]).values]
    return accuracy.sel(alpha=ran.max())


def _models(accuracy: xr.DataArray) -> list[str]:
    """Models with any finished run in ``accuracy``."""
    return [str(m) for m in accuracy["model"].values if accuracy.sel(model=m).notnull().any()]


def graceful(summary: xr.Dataset, ref: dict) -> Claim:
    accuracy = summary["test_accuracy"].sel(ref).sel(noise="uniform")
    chance = 1.0 / summary.attrs["num_classes"]
    models = _models(accuracy)
    if not models:
        return GRACEFUL.not_run("no uniform-noise run at the reference settings")
    largest = _at_largest_alpha(accuracy)
    parts, holds, worst = [], True, np.inf
    for model in models:
        mean, sd, _ = mean_sd(largest.sel(model=model).values)
        holds &= bool(mean - chance >= 0.05 and mean - chance > 2 * sd)
        worst = min(worst, mean)
        parts.append(f"{model}: {spread_text(largest.sel(model=model).values)}")
    alpha = float(largest["alpha"])
    return GRACEFUL.measured(holds, f"α={alpha:g}: " + "; ".join(parts) + f"; chance {chance:.2f}", worst)


def batch(summary: xr.Dataset, ref: dict) -> Claim:
    accuracy = summary["test_accuracy"].sel(lr=ref["lr"], n_clean=ref["n_clean"], noise="uniform")
    sizes = accuracy["batch_size"].values[accuracy.notnull().any(["model", "alpha", "seed"]).values]
    if len(sizes) < 2:
        return BATCH.not_run("one batch size run under uniform noise")
    largest = _at_largest_alpha(accuracy)
    parts, holds, gaps = [], True, []
    for model in _models(largest):
        runs = largest.sel(model=model).mean("seed")
        ran = runs["batch_size"].values[runs.notnull().values]
        if len(ran) < 2:
            continue
        small, big = float(runs.sel(batch_size=ran.min())), float(runs.sel(batch_size=ran.max()))
        holds &= big > small
        gaps.append(big - small)
        parts.append(f"{model}: batch {ran.max()} {big:.3f} vs batch {ran.min()} {small:.3f}")
    if not parts:
        return BATCH.not_run("no model run at several batch sizes at the largest α")
    return BATCH.measured(holds, f"α={float(largest['alpha']):g}: " + "; ".join(parts), min(gaps))


def clean(summary: xr.Dataset, ref: dict, target: float) -> Claim:
    accuracy = summary["test_accuracy"].sel(batch_size=ref["batch_size"], lr=ref["lr"]).mean("seed")
    swept = (accuracy.notnull().sum("n_clean") > 1).any("alpha")
    if not swept.any():
        return CLEAN.not_run("no model and noise kind run at several clean-set sizes")
    needed = clean_needed(accuracy, target).fillna(np.inf)  # never reached: more than the largest size
    sizes = accuracy["n_clean"].values
    parts, holds, ratios = [], True, []
    for model in accuracy["model"].values:
        for noise in accuracy["noise"].values:
            if not bool(swept.sel(model=model, noise=noise)):
                continue
            cells = accuracy.sel(model=model, noise=noise).notnull().any("n_clean")
            alphas = accuracy["alpha"].values[cells.values]
            low = float(needed.sel(model=model, noise=noise, alpha=alphas.min()))
            high = float(needed.sel(model=model, noise=noise, alpha=alphas.max()))
            if np.isinf(low) and np.isinf(high):
                parts.append(f"{model}/{noise}: target never reached")
                holds = False
                continue
            holds &= high > low
            ratios.append(high / low)
            parts.append(
                f"{model}/{noise}: {_examples(low, sizes)} at α={alphas.min():g}, "
                f"{_examples(high, sizes)} at α={alphas.max():g}"
            )
    return CLEAN.measured(holds, f"target {target}: " + "; ".join(parts), min(ratios, default=np.nan))


def _examples(needed: float, sizes: np.ndarray) -> str:
    return f"{needed:.0f}" if np.isfinite(needed) else f"not reached with {sizes.max()}"


def kinds(summary: xr.Dataset, ref: dict) -> Claim:
    order = sorted(NOISE_KINDS, key=HARM_RANK.__getitem__)
    accuracy = summary["test_accuracy"].sel(ref)
    if not set(order) <= {str(n) for n in accuracy["noise"].values}:
        return KINDS.not_run("needs structured, uniform and source noise")
    largest = _at_largest_alpha(accuracy.sel(noise=list(order)))
    parts, holds = [], True
    for model in _models(largest):
        means = [mean_sd(largest.sel(model=model, noise=noise).values)[0] for noise in order]
        if np.isnan(means).any():
            continue
        holds &= bool(means[0] < means[1] < means[2])
        parts.append(f"{model}: " + ", ".join(f"{n} {m:.3f}" for n, m in zip(order, means, strict=True)))
    if not parts:
        return KINDS.not_run("no model run with all three noise kinds at the largest α")
    return KINDS.measured(holds, f"α={float(largest['alpha']):g}: " + "; ".join(parts))


def evaluate(summary: xr.Dataset, ref: dict, target_accuracy: float) -> list[Claim]:
    """Every label-noise claim on ``summary``, at the reference settings ``ref``."""
    return [
        graceful(summary, ref),
        batch(summary, ref),
        clean(summary, ref, target_accuracy),
        kinds(summary, ref),
    ]
