"""Benchmark: exact region counting against dense sampling and grid hashing.

1D: a 4 × 128 He-initialised MLP on 40-dimensional input, 200 segments between random points;
exact counting (count_regions_1d, compiled kernels on the CPU) against 4000-point sampling of the
same segments (float32, the fast way to sample), on 2 CPU threads. Prints the speed ratio, checks
that the exact count is never below the sampled one, and times the tensor walk (what other devices
run) on the CPU too.
2D: exact polygon splitting (count_regions_2d, compiled kernels on the CPU) against grid hashing
at r = 1000 on planes through random points; on the CPU times the tensor path too. Repeats on CUDA
when a GPU is present.

Run: .venv/bin/python benchmarks/regions.py [--threads 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from deepstudy import models  # noqa: E402
from deepstudy.regions.grid import grid_regions_2d  # noqa: E402
from deepstudy.regions.lines import count_regions_1d  # noqa: E402
from deepstudy.regions.planes import count_regions_2d  # noqa: E402


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


def best_time(function, repeats: int, device: torch.device) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        result = function()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return min(times), result


def run(device: torch.device, repeats: int) -> None:
    net = models.build_model(
        {"architecture": "mlp", "depth": 4, "width": 128, "init": "he"}, (40,), 10, seed=0
    )
    net = net.to(device)
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(200, 40, generator=generator).to(device)
    end = torch.randn(200, 40, generator=generator).to(device)
    count_regions_1d(net, start, end)  # warm up
    # alternate the two so that a shared machine's drift hits both alike; report paired ratios
    exact_times, sampled_times = [], []
    for _ in range(repeats):
        exact_time, exact = best_time(lambda: count_regions_1d(net, start, end), 1, device)
        sampled_time, sampled = best_time(lambda: sampled_float32(net, start, end, 4000), 1, device)
        exact_times.append(exact_time)
        sampled_times.append(sampled_time)
    ratios = sorted(s / e for s, e in zip(sampled_times, exact_times, strict=True))
    print(f"[{device}] 1D, 4x128 MLP, 40-d input, 200 segments, {torch.get_num_threads()} threads")
    print(f"  exact       {min(exact_times) * 1e3:8.1f} ms   regions per segment {exact.float().mean():.1f}")
    print(
        f"  4000 points {min(sampled_times) * 1e3:8.1f} ms   regions per segment {sampled.float().mean():.1f}"
    )
    print(
        f"  speed ratio (sampling / exact): median {ratios[len(ratios) // 2]:.1f}x, "
        f"best times {min(sampled_times) / min(exact_times):.1f}x, worst pair {ratios[0]:.1f}x"
    )
    if device.type == "cpu":  # the tensor walk that other devices run, for comparison
        tensor_time, tensor = best_time(
            lambda: count_regions_1d(net, start, end, compiled=False), repeats, device
        )
        same = bool(torch.equal(tensor, exact))
        print(f"  tensor walk {tensor_time * 1e3:8.1f} ms   (what CUDA runs; same counts: {same})")
    missed = int((exact - sampled).sum())
    never_below = bool((exact >= sampled).all())
    print(f"  exact >= sampled on every segment: {never_below} (sampling missed {missed} regions)")

    planes = torch.randn(4, 3, 40, generator=generator).to(device)
    small = models.build_model(
        {"architecture": "mlp", "depth": 3, "width": 32, "init": "he"}, (40,), 10, seed=0
    )
    small = small.to(device)
    count_regions_2d(small, planes)  # warm up
    exact_time, exact = best_time(lambda: count_regions_2d(small, planes), repeats, device)
    grid_time, grid = best_time(lambda: grid_regions_2d(small, planes, resolution=1000), 1, device)
    print(f"[{device}] 2D, 3x32 MLP, 40-d input, 4 planes")
    print(f"  exact       {exact_time * 1e3:8.1f} ms   regions per plane {exact.tolist()}")
    if device.type == "cpu":  # the tensor path that other devices run, for comparison
        tensor_time, tensor = best_time(
            lambda: count_regions_2d(small, planes, compiled=False), repeats, device
        )
        same = bool(torch.equal(tensor, exact))
        print(f"  tensor path {tensor_time * 1e3:8.1f} ms   (what CUDA runs; same counts: {same})")
    print(f"  grid r=1000 {grid_time * 1e3:8.1f} ms   regions per plane {grid.tolist()}")
    above = bool((exact >= grid).all())
    print(f"  speed ratio (grid / exact): {grid_time / exact_time:.1f}x; exact >= grid: {above}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run(torch.device("cpu"), args.repeats)
    if torch.cuda.is_available():
        run(torch.device("cuda"), args.repeats)


if __name__ == "__main__":
    main()
