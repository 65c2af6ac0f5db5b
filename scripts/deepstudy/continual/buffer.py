"""A replay buffer kept by reservoir sampling (Vitter 1985): after n examples have streamed past,
each of them is in the buffer with probability capacity / n, whatever the task boundaries."""

from __future__ import annotations

import torch


class ReservoirBuffer:
    """Fixed-capacity storage of inputs, labels and the logits the network gave when each was stored.

    ``capacity`` is a number of examples; an unbounded buffer is one whose capacity is the length of
    the stream. Random decisions come from the buffer's own seeded generator.
    """

    def __init__(
        self, capacity: int, input_shape: tuple[int, ...], num_classes: int, seed: int, device: torch.device
    ) -> None:
        if capacity < 1:
            raise ValueError(f"buffer capacity must be at least 1, not {capacity}")
        self.capacity = capacity
        self.x = torch.zeros((capacity, *input_shape), device=device)
        self.y = torch.zeros(capacity, dtype=torch.long, device=device)
        self.logits = torch.zeros((capacity, num_classes), device=device)
        self.seen = 0
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.device = device

    def __len__(self) -> int:
        return min(self.seen, self.capacity)

    def slots(self, count: int) -> torch.Tensor:
        """Where each of the next ``count`` examples goes (−1: not kept), as sequential reservoir
        sampling would decide, example by example."""
        n = torch.arange(self.seen, self.seen + count, device=self.device)
        draw = (torch.rand(count, generator=self.generator, device=self.device) * (n + 1)).long()
        slot = torch.where(n < self.capacity, n, draw)
        slot = torch.where(slot < self.capacity, slot, -1)
        # a later example written to the same slot replaces an earlier one: keep only the last
        kept = torch.nonzero(slot >= 0).squeeze(1)
        if len(kept) > 1:
            target = slot[kept]
            order = torch.argsort(target * count + kept)
            target, kept_sorted = target[order], kept[order]
            last = torch.ones_like(target, dtype=torch.bool)
            last[:-1] = target[1:] != target[:-1]
            slot[kept_sorted[~last]] = -1
        return slot

    def add(self, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor) -> None:
        slot = self.slots(len(x))
        keep = slot >= 0
        self.x[slot[keep]] = x[keep]
        self.y[slot[keep]] = y[keep]
        self.logits[slot[keep]] = logits[keep].detach().to(self.logits.dtype)
        self.seen += len(x)

    def sample(self, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``size`` stored examples drawn uniformly with replacement (inputs, labels, logits)."""
        index = torch.randint(len(self), (size,), generator=self.generator, device=self.device)
        return self.x[index], self.y[index], self.logits[index]

    def state_dict(self) -> dict:
        return {
            "x": self.x.cpu(),
            "y": self.y.cpu(),
            "logits": self.logits.cpu(),
            "seen": self.seen,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.x = state["x"].to(self.device)
        self.y = state["y"].to(self.device)
        self.logits = state["logits"].to(self.device)
        self.seen = state["seen"]
        self.generator.set_state(state["generator"])
