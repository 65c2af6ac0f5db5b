"""Exact counts stay steady on a busy machine: beside a CPU-bound neighbour process, the
benchmark's 1D and 2D cases (benchmarks/regions.py) take at most 3 times their quiet time."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "regions.py"


def _benchmark():
    spec = importlib.util.spec_from_file_location("regions_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("dimension", [1, 2])
def test_an_exact_count_beside_a_busy_neighbour_takes_at_most_three_times_its_quiet_time(dimension):
    benchmark = _benchmark()
    case = next(case for case in benchmark.CASES if case.dimension == dimension)
    net, probes = case.build(torch.device("cpu"))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        quiet, loaded = benchmark.under_load(lambda: benchmark.exact(net, probes), repeats=5)
    finally:
        torch.set_num_threads(before)
    assert loaded <= 3 * quiet, f"{case}: {loaded:.3f} s beside a busy neighbour, {quiet:.3f} s quiet"
