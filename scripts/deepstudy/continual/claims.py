"""The continual-learning claims of CLEAR (Rolnick et al. 2019), checked on the continual summary.

Each comparison averages a metric over streams, scenarios and buffer sizes for each seed, then
gives the mean ± sd over seeds; a strategy the run did not include leaves its claim "not run".
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from deepstudy.claims import Claim, Statement, mean_sd, spread_text
from deepstudy.continual.catalogue import REPLAY_STRATEGIES, TRAITS
from deepstudy.continual.workflow import buffer_label

_PAPER = "Rolnick et al. 2019 (CLEAR)"
#: Differences in forgetting or accuracy this small count as equal (seed noise on small streams).
TOLERANCE = 0.02
#: "Close to an unbounded buffer": average accuracy within this much.
CLOSE = 0.05
FORGETS = Statement(
    "continual",
    "Fine-tuning forgets more than experience replay.",
    f"{_PAPER}, Fig. 1",
    "seed-mean forgetting of finetune exceeds that of er",
)
CLONING = Statement(
    "continual",
    "Replay with behavioural cloning (CLEAR) forgets no more than replay alone.",
    f"{_PAPER}, Fig. 2",
    f"seed-mean forgetting of clear is at most that of er + {TOLERANCE}",
)
RESERVOIR = Statement(
    "continual",
    "A small reservoir buffer comes close to an unbounded one.",
    f"{_PAPER}, Fig. 6 (reduced buffer)",
    f"for each replay strategy run, seed-mean average accuracy with the smallest finite buffer is "
    f"within {CLOSE} of the unbounded buffer's",
)
BOUNDARIES = Statement(
    "continual",
    "EWC needs task boundaries; the replay strategies do not, and still forget no more.",
    f"{_PAPER}, Sec. 4.3 and Fig. 3",
    f"only strategies that declare task boundaries (ewc) are told where tasks end, and each "
    f"boundary-free replay strategy's seed-mean forgetting is at most ewc's + {TOLERANCE}",
)
STATEMENTS = (FORGETS, CLONING, RESERVOIR, BOUNDARIES)


def per_seed(summary: xr.Dataset, metric: str, strategy: str, **where) -> np.ndarray:
    """``metric`` of ``strategy`` averaged over everything but the seed, one value per seed."""
    data = summary[metric].sel(strategy=strategy, **where)
    return data.mean([d for d in data.dims if d != "seed"]).values


def _compare(summary: xr.Dataset, metric: str, strategies: tuple[str, ...]) -> dict[str, tuple[float, str]]:
    return {
        s: (mean_sd(per_seed(summary, metric, s))[0], spread_text(per_seed(summary, metric, s)))
        for s in strategies
    }


def _ran(summary: xr.Dataset, *strategies: str) -> bool:
    return all(s in summary["strategy"].values for s in strategies)


def _forgetting_gap(
    statement: Statement, summary: xr.Dataset, first: str, second: str, limit: float
) -> Claim:
    """``statement`` checked as: ``first`` forgets more than ``second`` by more than ``limit`` (a
    negative limit: no more than ``-limit`` less)."""
    if not _ran(summary, first, second):
        return statement.not_run(f"needs {first} and {second}")
    found = _compare(summary, "forgetting", (first, second))
    gap = found[first][0] - found[second][0]
    text = f"forgetting {first} {found[first][1]}, {second} {found[second][1]}"
    return statement.measured(bool(gap > limit), text, gap)


def forgets(summary: xr.Dataset) -> Claim:
    return _forgetting_gap(FORGETS, summary, "finetune", "er", 0.0)


def cloning(summary: xr.Dataset) -> Claim:
    return _forgetting_gap(CLONING, summary, "er", "clear", -TOLERANCE)


def reservoir(summary: xr.Dataset) -> Claim:
    sizes = summary["buffer_size"].values.astype(float)  # examples; inf: unbounded
    finite = sizes[np.isfinite(sizes)]
    replay = [s for s in REPLAY_STRATEGIES if _ran(summary, s)]
    if not np.isinf(sizes).any() or not finite.size or not replay:
        return RESERVOIR.not_run("needs a replay strategy at a finite and the unbounded buffer size")
    smallest = float(finite.min())
    parts, gaps = [], []
    for strategy in replay:
        small = per_seed(summary, "average_accuracy", strategy, buffer_size=smallest)
        full = per_seed(summary, "average_accuracy", strategy, buffer_size=np.inf)
        gaps.append(mean_sd(full)[0] - mean_sd(small)[0])
        size = buffer_label(smallest)
        parts.append(f"{strategy}: buffer {size} {spread_text(small)} vs unbounded {spread_text(full)}")
    worst = max(gaps)
    return RESERVOIR.measured(bool(worst <= CLOSE), "; ".join(parts), worst)


def boundaries(summary: xr.Dataset) -> Claim:
    ran = [str(s) for s in summary["strategy"].values]
    told = [s for s in ran if TRAITS[s].uses_task_boundaries]
    replay = [s for s in REPLAY_STRATEGIES if s in ran]
    if "ewc" not in ran or not replay:
        return BOUNDARIES.not_run("needs ewc and a replay strategy")
    found = _compare(summary, "forgetting", ("ewc", *replay))
    worst = max(found[s][0] for s in replay) - found["ewc"][0]
    text = f"told task ends: {', '.join(told)}; forgetting " + ", ".join(f"{s} {found[s][1]}" for s in found)
    return BOUNDARIES.measured(bool(told == ["ewc"] and worst <= TOLERANCE), text, worst)


def evaluate(summary: xr.Dataset) -> list[Claim]:
    """Every continual-learning claim on ``summary``."""
    return [forgets(summary), cloning(summary), reservoir(summary), boundaries(summary)]
