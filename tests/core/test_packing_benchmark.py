"""benchmarks/packing.py reads the GPU's utilisation over the run alone: NVML reports the busy share
of its last sample period, so readings taken right after the run starts still hold the idle time
before it, and a run shorter than a period reads low."""

import importlib.util
import sys
import time
from pathlib import Path

import torch

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "packing.py"


def _benchmark():
    spec = importlib.util.spec_from_file_location("packing_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_utilisation_is_sampled_past_the_idle_period_before_the_run(monkeypatch):
    benchmark = _benchmark()
    started = time.perf_counter()
    period = 0.3  # a GPU fully busy from the start, as NVML would report it: idle for one period
    reading = lambda: 0 if time.perf_counter() - started < period else 100  # noqa: E731
    monkeypatch.setattr(torch.cuda, "utilization", reading)
    runs = []
    busy = benchmark.gpu_utilisation(lambda: runs.append(time.sleep(0.02)), seconds=0.8, settle=0.4)
    assert busy == "100%"
    assert time.perf_counter() - started >= 0.8 and len(runs) >= 20  # the run repeated for the window


def test_utilisation_is_not_available_without_nvml(monkeypatch):
    def missing() -> int:
        raise ModuleNotFoundError("pynvml")

    monkeypatch.setattr(torch.cuda, "utilization", missing)
    assert _benchmark().gpu_utilisation(lambda: None, seconds=0.1, settle=0.0) == "n/a"
