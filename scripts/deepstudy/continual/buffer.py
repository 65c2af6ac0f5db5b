"""Replay buffers kept by reservoir sampling (Vitter 1985): after n examples have streamed past,
each of them is in a buffer with probability capacity / n, whatever the task boundaries."""

from __future__ import annotations

from collections.abc import Sequence

import torch


class ReservoirBuffers:
    """The buffers of a stack of K runs, one each: fixed-capacity storage of inputs, labels and the
    logits the run's network gave when each was stored, updated for all runs at once.

    ``capacities`` are numbers of examples (an unbounded buffer's is the stream's length). The
    buffers lie end to end in one storage (run k's from ``offset[k]``), so they take no more memory
    than K separate ones. Random decisions come from each run's own seeded generator, drawn as a
    buffer of its own would draw them, so a run keeps the same examples stacked as alone. The runs
    see their streams in lockstep: every buffer has seen as many examples.
    """

    def __init__(
        self,
        capacities: Sequence[int],
        input_shape: tuple[int, ...],
        num_classes: int,
        seeds: Sequence[int],
        device: torch.device,
    ) -> None:
        if min(capacities) < 1:
            raise ValueError(f"buffer capacity must be at least 1, not {min(capacities)}")
        self.capacities = [int(c) for c in capacities]
        total = sum(self.capacities)
        self.x = torch.zeros((total, *input_shape), device=device)
        self.y = torch.zeros(total, dtype=torch.long, device=device)
        self.logits = torch.zeros((total, num_classes), device=device)
        self.capacity = torch.tensor(self.capacities, device=device)[:, None]
        self.offset = (torch.cumsum(self.capacity, 0) - self.capacity).to(device)
        self.seen = 0
        self.generators = [torch.Generator(device=device).manual_seed(int(seed)) for seed in seeds]
        self.device = device

    def lengths(self) -> list[int]:
        """How many examples each buffer holds."""
        return [min(self.seen, capacity) for capacity in self.capacities]

    def slots(self, count: int) -> torch.Tensor:
        """Where each run's next ``count`` examples go (K, count; −1: not kept), as sequential
        reservoir sampling would decide, example by example."""
        n = torch.arange(self.seen, self.seen + count, device=self.device)
        uniform = torch.stack([torch.rand(count, generator=g, device=self.device) for g in self.generators])
        slot = torch.where(n < self.capacity, n, (uniform * (n + 1)).long())
        slot = torch.where(slot < self.capacity, slot, -1)
        # a later example written to the same slot replaces an earlier one: keep only the last
        later = torch.ones(count, count, dtype=torch.bool, device=self.device).triu(diagonal=1)
        replaced = ((slot[:, :, None] == slot[:, None, :]) & later).any(dim=2)
        return torch.where(replaced, -1, slot)

    def add(self, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor) -> None:
        """Offer each run's batch (K, count, ...) to its buffer."""
        slot = self.slots(x.shape[1])
        keep = slot >= 0
        where = (slot + self.offset)[keep]
        self.x[where] = x[keep]
        self.y[where] = y[keep]
        self.logits[where] = logits[keep].detach().to(self.logits.dtype)
        self.seen += x.shape[1]

    def sample(self, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``size`` stored examples of each run drawn uniformly with replacement: inputs, labels and
        logits (K, size, ...)."""
        index = torch.stack(
            [
                torch.randint(length, (size,), generator=g, device=self.device)
                for length, g in zip(self.lengths(), self.generators, strict=True)
            ]
        )
        index = index + self.offset
        return self.x[index], self.y[index], self.logits[index]

    def state_dict(self) -> dict:
        return {
            "x": self.x.cpu(),
            "y": self.y.cpu(),
            "logits": self.logits.cpu(),
            "seen": self.seen,
            "generators": [g.get_state() for g in self.generators],
        }

    def load_state_dict(self, state: dict) -> None:
        self.x = state["x"].to(self.device)
        self.y = state["y"].to(self.device)
        self.logits = state["logits"].to(self.device)
        self.seen = state["seen"]
        for generator, saved in zip(self.generators, state["generators"], strict=True):
            generator.set_state(saved)
