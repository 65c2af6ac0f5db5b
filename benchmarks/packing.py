"""Benchmark: K small MLPs trained packed (one process, batched matmuls) against one after another.

Throughput = training steps of all K runs per second; each run draws its own batches (batch 64)
from MNIST-1D-shaped data (40 inputs, 10 classes). Prints the ratio packed / one-after-another for
K = 1, 4, 16, 64, for 40-128-128-10 and 40-32-32-10 MLPs, on CPU (2 threads) and, for K up to 256,
on CUDA when a GPU is present: there also packed with the step replayed as a captured CUDA graph
(as the pipeline trains, see deepstudy.graphs), and how busy the GPU is while packed.

Run: .venv/bin/python benchmarks/packing.py [--threads 2] [--steps 30]
"""

from __future__ import annotations

import argparse
import sys
import time
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


def packed(k: int, width: int, x, y, steps: int, device, graph: bool = False) -> float:
    """Steps of all K runs per second, packed; with ``graph``, each step replayed as a CUDA graph."""
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
    synchronise(device)
    started = time.perf_counter()
    for _ in range(steps):
        batch.copy_(torch.randint(len(x), (k, 64), generator=generator, device=device))
        step()
    synchronise(device)
    return k * steps / (time.perf_counter() - started)


def gpu_utilisation(function, *args) -> tuple[float, str]:
    """Run ``function(*args)`` while sampling torch.cuda.utilization() every 50 ms; its result and the mean
    utilisation (n/a where NVML is missing)."""
    import threading

    samples, done = [], threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                samples.append(torch.cuda.utilization())
            except Exception:  # noqa: BLE001 - pynvml missing or unsupported: report n/a
                return
            done.wait(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    result = function(*args)
    done.set()
    sampler.join()
    return result, f"{sum(samples) / len(samples):.0f}%" if samples else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        x = torch.randn(4000, 1, 40, device=device)
        y = torch.randint(10, (4000,), device=device)
        for width in (128, 32):
            for k in (1, 4, 16, 64) + ((256,) if device.type == "cuda" else ()):
                packed(k, width, x, y, 3, device)  # warm up
                alone = max(one_after_another(k, width, x, y, args.steps, device) for _ in range(2))
                together = max(packed(k, width, x, y, args.steps, device) for _ in range(2))
                utilisation = ""
                if device.type == "cuda":
                    graphed = max(packed(k, width, x, y, args.steps * 10, device, True) for _ in range(2))
                    _, busy = gpu_utilisation(packed, k, width, x, y, args.steps * 10, device)
                    _, graph_busy = gpu_utilisation(packed, k, width, x, y, args.steps * 30, device, True)
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
