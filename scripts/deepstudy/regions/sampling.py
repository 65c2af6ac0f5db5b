"""Regions along lines as dense sampling sees them: the inexact baseline the exact count beats."""

from __future__ import annotations

import math

import torch
from torch import nn

from deepstudy.regions.layers import DTYPE, activation_patterns, count_neurons

_SAMPLING_BUDGET = 2**25  # float64 numbers per sampling pass (256 MiB)


@torch.no_grad()
def sampled_regions_1d(
    net: nn.Module, start: torch.Tensor, end: torch.Tensor, samples: int = 4000, chunk: int | None = None
) -> torch.Tensor:
    """Regions crossed per segment as dense sampling sees them: pattern changes between
    ``samples`` equally spaced points, plus one. Never above the exact count; misses small regions.

    Runs ``chunk`` segments at a time (default: as many as keep a pass near ``_SAMPLING_BUDGET``
    numbers), and a long segment in overlapping runs of samples, so memory stays bounded for any
    ``samples``.
    """
    t = torch.linspace(0, 1, samples, dtype=DTYPE, device=start.device)
    input_shape = tuple(start.shape[1:])
    width = max(1, math.prod(input_shape), count_neurons(net, input_shape))
    points_per_pass = max(2, _SAMPLING_BUDGET // width)
    chunk = chunk or max(1, points_per_pass // samples)
    step = max(1, min(samples, points_per_pass) - 1)  # runs of step + 1 samples share their ends
    shape = (1, -1) + (1,) * (start.ndim - 1)
    counts = []
    for first in range(0, len(start), chunk):
        a, b = start[first : first + chunk].to(DTYPE), end[first : first + chunk].to(DTYPE)
        changes = torch.zeros(len(a), dtype=torch.long, device=start.device)
        for low in range(0, samples - 1, step):
            run = t[low : low + step + 1]
            points = a[:, None] + run.view(shape) * (b - a)[:, None]
            patterns = activation_patterns(net, points.flatten(0, 1)).view(len(a), len(run), -1)
            changes += (patterns[:, 1:] != patterns[:, :-1]).any(dim=2).sum(dim=1)
        counts.append(changes + 1)
    return torch.cat(counts) if counts else torch.zeros(0, dtype=torch.long, device=start.device)


# --------------------------------------------------------------------------------------------
# 2D: planes
# --------------------------------------------------------------------------------------------
