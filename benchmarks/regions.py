"""Benchmark: exact region counting against regioncam, dense sampling and grid hashing.

The cases (issue 15), on He-initialised MLPs with float32 weights, median of paired runs:
- 1D: 4 x 128 on 40-d input, 200 segments; 3 x 512 on 784-d input, 100 segments;
- 2D: 3 x 32 on 40-d input, 4 planes (the square of each, margin 0).

Against regioncam (an independent exact tool, in Rust, single-threaded, float32; optional, install
it with `pip install -e '.[benchmark]'`; its rows are skipped, saying so, where it is missing),
both tools must count the same regions: inputs lie on a 2^-12 grid, so that float32 segments and
planes are the same for both, and one linear layer maps regioncam's domain onto them
(`Regioncam1D(1.0)` is [-0.5, 0.5], `Regioncam(1.0)` the square [-1, 1]^2). Where counts differ,
the benchmark checks ours in float64: the activation patterns at the midpoints between our
consecutive breakpoints must all differ, so each region we count is there.

Also: the exact count against 4000-point float32 sampling (1D) and grid hashing at r = 1000 (2D);
with --load, each exact count quiet and beside a CPU-bound neighbour process (loaded / quiet); on
CUDA, when a GPU is present, the same rows for the tensor walk and 2D splitting on the GPU.

Run: .venv/bin/python benchmarks/regions.py [--threads 2] [--repeats 7] [--load] [--gpu-only]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from deepstudy import models  # noqa: E402
from deepstudy.regions.grid import grid_regions_2d  # noqa: E402
from deepstudy.regions.layers import activation_patterns  # noqa: E402
from deepstudy.regions.lines import breakpoints_1d, count_regions_1d  # noqa: E402
from deepstudy.regions.planes import count_regions_2d  # noqa: E402

try:
    import regioncam
except ImportError:  # an optional benchmark extra
    regioncam = None

GRID = 2.0**-12  # float32 represents these inputs, their sums and halves exactly


@dataclass(frozen=True)
class Case:
    """A network and its probes: ``count`` segments (dimension 1) or planes (2)."""

    dimension: int
    depth: int
    width: int
    inputs: int
    count: int

    def __str__(self) -> str:
        probes = "segments" if self.dimension == 1 else "planes"
        return f"{self.dimension}D, {self.depth}x{self.width} MLP, {self.inputs}-d, {self.count} {probes}"

    def build(self, device: torch.device) -> tuple[torch.nn.Module, torch.Tensor]:
        spec = {"architecture": "mlp", "depth": self.depth, "width": self.width, "init": "he"}
        net = models.build_model(spec, (self.inputs,), 10, seed=0).to(device)
        generator = torch.Generator().manual_seed(self.dimension * 1000 + self.depth)
        shape = (self.count, 2 if self.dimension == 1 else 3, self.inputs)
        probes = torch.round(torch.randn(shape, generator=generator) / GRID) * GRID
        return net, probes.to(device)


CASES = (Case(1, 4, 128, 40, 200), Case(1, 3, 512, 784, 100), Case(2, 3, 32, 40, 4))


def exact(net: torch.nn.Module, probes: torch.Tensor, compiled: bool | None = None) -> torch.Tensor:
    """Our exact count per segment or plane (compiled kernels on the CPU unless told otherwise)."""
    if probes.shape[1] == 2:
        return count_regions_1d(net, probes[:, 0], probes[:, 1], compiled=compiled)
    return count_regions_2d(net, probes, max_polygons=10**8, compiled=compiled)


def regioncam_count(layers: list, probes: torch.Tensor) -> torch.Tensor:
    """regioncam's count per segment (edges of a Regioncam1D) or plane (faces of a Regioncam)."""
    counts = []
    for probe in probes.cpu().numpy():
        if len(probe) == 2:  # x = (a + b) / 2 + u (b - a), u in [-0.5, 0.5]
            camera = regioncam.Regioncam1D(1.0)
            camera.linear((probe[1] - probe[0])[None, :], (probe[0] + probe[1]) / 2)
        else:  # x = a0 + s (a1 - a0) + t (a2 - a0), with s = (u + 1) / 2, t = (v + 1) / 2
            camera = regioncam.Regioncam(1.0)
            d1, d2 = probe[1] - probe[0], probe[2] - probe[0]
            camera.linear(numpy.stack([d1 / 2, d2 / 2]), probe[0] + (d1 + d2) / 2)
        camera.add(layers)
        counts.append(camera.num_edges if len(probe) == 2 else camera.num_faces)
    return torch.tensor(counts)


def regioncam_layers(net: torch.nn.Module) -> list:
    """The hidden layers (each Linear and ReLU, the output layer left out) as regioncam layers."""
    layers = [layer for layer in copy.deepcopy(net).cpu() if not isinstance(layer, torch.nn.Flatten)]
    return [regioncam.nn.convert(layer) for layer in layers[:-1]]


def confirmed_in_float64(net: torch.nn.Module, start: torch.Tensor, end: torch.Tensor) -> bool:
    """Whether the activation patterns (float64) at the midpoints between our consecutive
    breakpoints of the segment all differ: then each region we count is there."""
    net = copy.deepcopy(net).cpu().double()
    start, end = start.cpu().double(), end.cpu().double()
    found = breakpoints_1d(net, start[None], end[None])
    t = torch.cat([torch.zeros(1, dtype=found.t.dtype), found.t, torch.ones(1, dtype=found.t.dtype)])
    middle = (t[1:] + t[:-1]) / 2
    pattern = activation_patterns(net, start + middle[:, None] * (end - start))
    return bool((pattern[1:] != pattern[:-1]).any(dim=1).all())


def timed(function: Callable[[], object], device: torch.device) -> tuple[float, object]:
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    result = function()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started, result


def paired(
    ours: Callable[[], object], other: Callable[[], object], repeats: int, device: torch.device
) -> tuple[float, float, float, object, object]:
    """Median times of ``ours`` and ``other`` run alternately (a shared machine's drift hits both
    alike), the median of the per-pair ratios other / ours, and their last results."""
    ours(), other()  # warm up: compile, cache
    mine, theirs = [], []
    for _ in range(repeats):
        mine.append(timed(ours, device))
        theirs.append(timed(other, device))
    ratios = [b[0] / a[0] for a, b in zip(mine, theirs, strict=True)]
    median = statistics.median
    return (
        median(t for t, _ in mine),
        median(t for t, _ in theirs),
        median(ratios),
        mine[-1][1],
        theirs[-1][1],
    )


def under_load(function: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median times of ``function`` alone and beside a CPU-bound neighbour process, alternately."""
    function()
    quiet, loaded = [], []
    for _ in range(repeats):
        quiet.append(timed(function, torch.device("cpu"))[0])
        neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            time.sleep(0.2)  # let it take its core
            loaded.append(timed(function, torch.device("cpu"))[0])
        finally:
            neighbour.kill()
            neighbour.wait()
    return statistics.median(quiet), statistics.median(loaded)


@torch.no_grad()
def sampled_float32(
    net: torch.nn.Module, start: torch.Tensor, end: torch.Tensor, samples: int
) -> torch.Tensor:
    """Regions per segment seen by ``samples`` equally spaced points, in float32, 32 segments at a time."""
    t = torch.linspace(0, 1, samples, device=start.device)
    counts = []
    for first in range(0, len(start), 32):
        a, b = start[first : first + 32], end[first : first + 32]
        points = (a[:, None] + t[None, :, None] * (b - a)[:, None]).flatten(0, 1)
        patterns, h = [], points
        for layer in net:
            h = layer(h)
            if isinstance(layer, torch.nn.ReLU):
                patterns.append(h > 0)
        pattern = torch.cat(patterns, dim=1).view(len(a), samples, -1)
        counts.append((pattern[:, 1:] != pattern[:, :-1]).any(dim=2).sum(dim=1) + 1)
    return torch.cat(counts)


def estimate(net: torch.nn.Module, probes: torch.Tensor) -> tuple[str, torch.Tensor]:
    """The estimate an exact count replaces: dense sampling (1D) or grid hashing (2D)."""
    if probes.shape[1] == 2:
        return "4000 points", sampled_float32(net, probes[:, 0], probes[:, 1], 4000)
    return "grid r=1000", grid_regions_2d(net, probes, resolution=1000)


def run_case(case: Case, device: torch.device, repeats: int, load: bool) -> None:
    net, probes = case.build(device)
    print(f"[{device}] {case}, {torch.get_num_threads()} CPU threads")
    count, other = exact(net, probes), None
    if regioncam is None:
        print("  regioncam: not installed, rows skipped (pip install -e '.[benchmark]')")
    else:  # ours (on this device) against regioncam's (on the CPU), in turn
        layers = regioncam_layers(net)
        ours, theirs, ratio, count, other = paired(
            lambda: exact(net, probes), lambda: regioncam_count(layers, probes), repeats, device
        )
        print(f"  exact      {ours * 1e3:9.1f} ms   regions per probe {count.float().mean():.1f} ({device})")
        print(f"  regioncam  {theirs * 1e3:9.1f} ms   (1 CPU thread, float32)")
        print(f"  speed ratio (regioncam / exact): {ratio:.2f}x, median of {repeats} pairs")
    if regioncam is not None and other is not None:
        same = count.cpu() == other
        print(f"  identical counts: {int(same.sum())} of {len(same)}")
        for i in (~same).nonzero().flatten().tolist():
            mine, theirs = int(count[i]), int(other[i])
            check = (
                f"ours confirmed in float64: {confirmed_in_float64(net, probes[i, 0], probes[i, 1])}"
                if case.dimension == 1
                else ""
            )
            print(f"    probe {i}: exact {mine}, regioncam {theirs}; {check}")
    name, estimated = estimate(net, probes)
    estimate_time = timed(lambda: estimate(net, probes), device)[0]
    exact_time = timed(lambda: exact(net, probes), device)[0]
    never_below = bool((count >= estimated).all())
    print(
        f"  {name:<11}{estimate_time * 1e3:9.1f} ms   (exact {exact_time * 1e3:.1f} ms); "
        f"exact >= estimate everywhere: {never_below}"
    )
    if device.type == "cpu":  # the tensor operations other devices run, for comparison
        tensor_time, tensor = timed(lambda: exact(net, probes, compiled=False), device)
        same = bool(torch.equal(tensor, count))
        print(f"  tensor ops {tensor_time * 1e3:9.1f} ms   (what CUDA runs; same counts: {same})")
    if load and device.type == "cpu":
        quiet, loaded = under_load(lambda: exact(net, probes), repeats)
        print(
            f"  beside a CPU-bound neighbour: {loaded * 1e3:.1f} ms against {quiet * 1e3:.1f} ms quiet, "
            f"{loaded / quiet:.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--load", action="store_true", help="also time each exact count beside a busy neighbour"
    )
    parser.add_argument("--gpu-only", action="store_true", help="skip the CPU rows")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    devices = [] if args.gpu_only else [torch.device("cpu")]
    devices += [torch.device("cuda")] if torch.cuda.is_available() else []
    for device in devices:
        for case in CASES:
            run_case(case, device, args.repeats, args.load)


if __name__ == "__main__":
    main()
