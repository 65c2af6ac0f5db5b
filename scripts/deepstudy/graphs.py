"""A training step replayed as a captured CUDA graph, so that a GPU is not left waiting on launches.

A packed step of small networks is a few hundred short kernels, and on a GPU their launches, not
their arithmetic, set its pace (about 1.4 ms a step on an H100, whatever the batch). Captured once
into a CUDA graph (``torch.cuda.CUDAGraph``), the whole step, forward, backward and update, is
replayed by one launch. A graph replays fixed kernels on fixed memory: the step reads its inputs
from static tensors that the caller fills before each call, and it keeps its outputs in tensors
that it updates in place, with no Python side effects and no sync with the CPU.

On CUDA, as PyTorch's documentation asks, the first calls run eagerly on a side stream (warm-up:
cuBLAS and the autograd engine set themselves up, and an optimiser makes its state), then the
step is captured on that stream and replayed from then on. A failed capture is not fatal: the step
runs eagerly from then on, and :attr:`GraphedStep.mode` says why, for the job's log and its
store. On other devices the step always runs eagerly, through the same static tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

#: Eager calls before the capture (PyTorch's documentation warms up with three).
WARMUP_CALLS = 3


class GraphedStep:
    """``step()`` replayed as a CUDA graph after :data:`WARMUP_CALLS` eager calls where ``capture``
    is on and ``device`` is CUDA; called eagerly otherwise. ``parameters`` lose their gradients if a
    capture fails half-way, before the step runs eagerly instead."""

    def __init__(
        self,
        step: Callable[[], None],
        device: torch.device,
        parameters: Iterable[torch.Tensor],
        capture: bool = True,
    ) -> None:
        self.step = step
        self.parameters = list(parameters)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.calls = 0
        self.capturing = capture and device.type == "cuda"
        self.stream = torch.cuda.Stream(device) if self.capturing else None
        self.mode = "graph (warming up)" if self.capturing else f"eager ({device.type})"
        if device.type == "cuda" and not capture:
            self.mode = "eager (CUDA graphs off in the config)"

    def __call__(self) -> None:
        if self.graph is not None:
            self.graph.replay()
            return
        if not self.capturing:
            self.step()
            return
        self.calls += 1
        current = torch.cuda.current_stream(self.stream.device)
        self.stream.wait_stream(current)  # the static inputs were filled on the current stream
        if self.calls <= WARMUP_CALLS:
            with torch.cuda.stream(self.stream):
                self.step()
            current.wait_stream(self.stream)
            return
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, stream=self.stream):
                self.step()  # recorded, not run
        except Exception as error:  # noqa: BLE001 - any capture failure falls back, and says so
            self.fall_back(error)
            return
        self.graph, self.mode = graph, "graph"
        graph.replay()

    def fall_back(self, error: Exception) -> None:
        """Run this call and every later one eagerly: a capture that failed ran nothing, but may
        have left gradients in the graph's memory."""
        self.capturing = False
        self.mode = f"eager (CUDA graph capture failed: {type(error).__name__}: {error})"
        print(f"training step: {self.mode}")
        for parameter in self.parameters:
            parameter.grad = None
        torch.cuda.synchronize(self.stream.device)
        self.step()
