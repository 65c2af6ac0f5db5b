"""Benchmark: K small MLPs trained packed (one process, batched matmuls) against one after another.

Throughput = training steps of all K runs per second; each run draws its own batches (batch 64)
from MNIST-1D-shaped data (40 inputs, 10 classes). Prints the ratio packed / one-after-another for
K = 1, 4, 16, 64, for 40-128-128-10 and 40-32-32-10 MLPs, on CPU (2 threads) and, for K up to 256,
on CUDA when a GPU is present: there also packed with the step replayed as a captured CUDA graph
(as the pipeline trains, see deepstudy.graphs), and how busy the GPU is while packed.

GPU utilisation is NVML's, sampled every 50 ms while the same packed steps run on for
--busy-seconds (after the first second, so that NVML's sample period holds only the run).

Run: .venv/bin/python benchmarks/packing.py [--threads 2] [--steps 30] [--busy-seconds 4]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from deepstudy.graphs import GraphedStep  # noqa: E402
from deepstudy.models import build_model  # noqa: E402
from deepstudy.packing import PackedSGD  # noqa: E402
from deepstudy.stacks import PackedMLP  # noqa: E402


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def one_after_another(k: int, width: int, x, y, steps: int, device) -> float:
    nets = [
        build_model({"architecture": "mlp", "depth": 2, "width": width}, (1, 40), 10, s).to(device)
        for s in range(k)
    ]
    optimizers = [torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9) for net in nets]
    generator = torch.Generator(device=device).manual_seed(0)
    synchronise(device)
    started = time.perf_counter()
    for net, optimizer in zip(nets, optimizers, strict=True):
        for _ in range(steps):
            batch = torch.randint(len(x), (64,), generator=generator, device=device)
            loss = F.cross_entropy(net(x[batch]), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    synchronise(device)
    return k * steps / (time.perf_counter() - started)


def packed(
    k: int, width: int, x, y, steps: int, device, graph: bool = False, busy_seconds: float = 0.0
) -> tuple[float, str]:
    """Steps of all K runs per second, packed; with ``graph``, each step replayed as a CUDA graph.
    With ``busy_seconds``, also the GPU's utilisation while the same steps run on for that long
    (see :func:`gpu_utilisation`), else ''."""
    nets = [
        build_model({"architecture": "mlp", "depth": 2, "width": width}, (1, 40), 10, s).to(device)
        for s in range(k)
    ]
    pack = PackedMLP(nets)
    optimizer = PackedSGD(pack.parameters(), torch.full((k,), 0.05, device=device), 0.9, 0.0)
    generator = torch.Generator(device=device).manual_seed(0)
    batch = torch.zeros((k, 64), dtype=torch.long, device=device)

    def train_step() -> None:
        logits = pack(x[batch])
        loss = F.cross_entropy(logits.flatten(0, 1), y[batch].flatten(), reduction="none").view(k, -1).mean(1)
        loss.sum().backward()
        optimizer.step()

    step = GraphedStep(train_step, device, pack.parameters(), capture=graph)

    def run() -> None:
        for _ in range(steps):
            batch.copy_(torch.randint(len(x), (k, 64), generator=generator, device=device))
            step()
        synchronise(device)

    synchronise(device)
    started = time.perf_counter()
    run()
    rate = k * steps / (time.perf_counter() - started)
    return rate, gpu_utilisation(run, busy_seconds) if busy_seconds else ""


def gpu_utilisation(function: Callable[[], None], seconds: float, settle: float = 1.0) -> str:
    """Mean GPU utilisation while ``function()`` runs again and again for ``seconds``, sampled
    every 50 ms from NVML (torch.cuda.utilization), or n/a where NVML is missing.

    NVML reports the share of its last sample period (1/6 s to 1 s, by GPU) in which a kernel ran,
    so a run shorter than that reads low, diluted by the idle time before it: the samples of the
    first ``settle`` seconds are dropped, and the window is several periods long."""
    import threading

    samples, done = [], threading.Event()

    def sample() -> None:
        started = time.perf_counter()
        while not done.is_set():
            try:
                busy = torch.cuda.utilization()
            except Exception:  # noqa: BLE001 - pynvml missing or unsupported: report n/a
                return
            if time.perf_counter() - started >= settle:
                samples.append(busy)
            done.wait(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        function()
    done.set()
    sampler.join()
    return f"{sum(samples) / len(samples):.0f}%" if samples else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument(
        "--busy-seconds", type=float, default=4.0, help="how long GPU utilisation is sampled (CUDA)"
    )
    parser.add_argument("--packs", type=int, nargs="+", help="pack sizes K (default: all)")
    parser.add_argument("--gpu-only", action="store_true", help="skip the CPU rows")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    devices = [] if args.gpu_only else [torch.device("cpu")]
    devices += [torch.device("cuda")] if torch.cuda.is_available() else []
    for device in devices:
        x = torch.randn(4000, 1, 40, device=device)
        y = torch.randint(10, (4000,), device=device)
        for width in (128, 32):
            for k in args.packs or (1, 4, 16, 64) + ((256,) if device.type == "cuda" else ()):
                packed(k, width, x, y, 3, device)  # warm up
                alone = max(one_after_another(k, width, x, y, args.steps, device) for _ in range(2))
                together = max(packed(k, width, x, y, args.steps, device)[0] for _ in range(2))
                utilisation = ""
                if device.type == "cuda":
                    _, busy = packed(k, width, x, y, args.steps, device, busy_seconds=args.busy_seconds)
                    graphed, graph_busy = packed(
                        k, width, x, y, args.steps * 10, device, True, busy_seconds=args.busy_seconds
                    )
                    utilisation = (
                        f", GPU busy {busy} while packed; as a CUDA graph {graphed:8.0f} steps/s"
                        f" ({graphed / alone:5.1f}x), GPU busy {graph_busy}"
                    )
                print(
                    f"[{device}] 40-{width}-{width}-10, K={k:3d}: one after another {alone:8.0f} steps/s,"
                    f" packed {together:8.0f} steps/s, ratio {together / alone:5.1f}x{utilisation}"
                )


if __name__ == "__main__":
    main()
