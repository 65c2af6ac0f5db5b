"""Memory freed by one chunk of a region walk is kept for the next, not faulted back in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"

COUNT_FAULTS = """
import resource, sys, torch
from deepstudy import models
from deepstudy.regions import parallel
from deepstudy.regions.lines import count_regions_1d
if sys.argv[1] == "released":
    parallel.keep_freed_memory = lambda: False
torch.set_num_threads(2)
spec = {"architecture": "mlp", "depth": 4, "width": 128, "init": "he"}
net = models.build_model(spec, (40,), 10, seed=0)
points = torch.randn(2, 200, 40, generator=torch.Generator().manual_seed(0))
count_regions_1d(net, points[0], points[1])
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    count_regions_1d(net, points[0], points[1])
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 3)
"""


def page_faults_per_count(memory: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", COUNT_FAULTS, memory],
        env={"PYTHONPATH": str(SCRIPTS), "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's thresholds")
def test_counting_regions_again_takes_few_fresh_pages():
    """The benchmark's 4 x 128 case makes some 30 MB of arrays a count. Kept, a count takes a few
    dozen fresh pages (at most 140 in ten runs). Handed back to the OS, it took up to 2,500, but
    how many depends on where glibc's adaptive threshold happens to be (17 to 2,500 in ten runs),
    so that is no baseline to compare with."""
    assert page_faults_per_count("kept") < 400
