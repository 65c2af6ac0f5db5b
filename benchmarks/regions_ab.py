"""Benchmark: two checkouts' exact 1D region counts against each other, in one process.

A change to the walk that saves a few percent is lost in this machine's drift between runs (its
speed moves by 10-20% within minutes). Here both versions count the same case in one process,
alternately, and the ratio of each pair is taken (drift hits both members of a pair alike). Each
version runs with its own ``deepstudy`` modules in ``sys.modules``: the walks import their compiled
parts lazily, so without the swap both versions would run the one imported last. The counts must
agree.

Run: .venv/bin/python benchmarks/regions_ab.py OLD_CHECKOUT NEW_CHECKOUT [--case 0] [--threads 2]
[--pairs 80] (a checkout is a folder holding ``scripts/deepstudy``, e.g. a ``git worktree``).
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from regions import CASES  # noqa: E402

#: The package's modules the 1D count imports, eagerly or on first use.
MODULES = ("lines", "dense_walk", "layer_walk", "kernels", "interpolation", "certified", "blas", "heap")


def _loaded() -> dict[str, ModuleType]:
    return {name: module for name, module in sys.modules.items() if name.split(".")[0] == "deepstudy"}


def _use(modules: dict[str, ModuleType]) -> None:
    """Make ``modules`` the process's ``deepstudy`` modules."""
    for name in _loaded():
        del sys.modules[name]
    sys.modules.update(modules)


def load(checkout: Path) -> tuple[Callable, dict[str, ModuleType]]:
    """A checkout's ``count_regions_1d`` and its modules, imported afresh."""
    _use({})
    sys.path.insert(0, str(checkout / "scripts"))
    try:
        for name in MODULES:
            if (checkout / "scripts" / "deepstudy" / "regions" / f"{name}.py").exists():
                importlib.import_module(f"deepstudy.regions.{name}")
    finally:
        sys.path.pop(0)
    return sys.modules["deepstudy.regions.lines"].count_regions_1d, _loaded()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--case", type=int, default=0, help="index into benchmarks/regions.py's CASES (1D)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=80)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    case = CASES[args.case]
    if case.dimension != 1:
        parser.error(f"case {args.case} is {case.dimension}D; this compares 1D counts")
    versions = [load(args.old), load(args.new)]
    net, probes = case.build(torch.device("cpu"))
    start, end = probes[:, 0], probes[:, 1]
    counts = []
    for count, modules in versions:
        _use(modules)
        counts.append(count(net, start, end))  # (compiles or loads the kernels, warms up)
    if not torch.equal(*counts):
        sys.exit("the two checkouts count differently")
    times: list[list[float]] = [[], []]
    for pair in range(args.pairs):
        for which in (0, 1) if pair % 2 == 0 else (1, 0):  # each goes first in half the pairs
            count, modules = versions[which]
            _use(modules)
            started = time.perf_counter()
            count(net, start, end)
            times[which].append(time.perf_counter() - started)
    old, new = (statistics.median(t) for t in times)
    ratio = statistics.median(a / b for a, b in zip(*times, strict=True))
    print(f"{case}, {args.threads} threads: old {1e3 * old:.2f} ms, new {1e3 * new:.2f} ms")
    print(f"  old / new: {ratio:.3f}, median of {args.pairs} pairs")


if __name__ == "__main__":
    main()
