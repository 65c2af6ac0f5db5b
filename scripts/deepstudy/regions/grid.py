"""Activation patterns of a plane counted on a grid: a lower bound on the exact count."""

from __future__ import annotations

import math

import torch
from torch import nn

from deepstudy.regions.layers import DTYPE, activation_patterns, count_neurons
from deepstudy.regions.planes import plane_parametrisation


def _pattern_hash(patterns: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Two hashes per pattern row: sums of random integer weights over the active neurons.

    The weights are small enough that the sums never overflow int64; two patterns collide with
    probability about 2^-(2 · (62 - log2 #neurons)). Elementwise sums work on CPU and CUDA alike.
    """
    bits = 62 - max(1, patterns.shape[1] - 1).bit_length()
    generator = torch.Generator().manual_seed(seed)
    weights = torch.randint(0, 2**bits, (2, patterns.shape[1]), generator=generator).to(patterns.device)
    active = patterns.to(torch.int64)
    return torch.stack([(active * w).sum(dim=1) for w in weights], dim=1)


@torch.no_grad()
def grid_regions_2d(
    net: nn.Module, anchors: torch.Tensor, margin: float = 0.0, resolution: int = 200
) -> torch.Tensor:
    """Distinct activation patterns on a ``resolution`` × ``resolution`` grid of each plane's square.

    A lower bound on the exact count (small regions between grid points are missed); the
    cross-check for :func:`count_regions_2d` and the fallback for networks too large to split.
    """
    value, along_s, along_t = plane_parametrisation(anchors)
    axis = torch.linspace(-margin, 1 + margin, resolution, dtype=DTYPE, device=anchors.device)
    s, t = torch.meshgrid(axis, axis, indexing="ij")
    s, t = s.reshape(-1), t.reshape(-1)
    shape = (-1,) + (1,) * (value.ndim - 1)
    # points per chunk: about 2**25 float64 numbers (256 MiB) in the widest of input and patterns
    input_shape = tuple(value.shape[1:])
    chunk = max(1, 2**25 // max(1, math.prod(input_shape), count_neurons(net, input_shape)))
    counts = []
    for i in range(len(anchors)):
        hashes = []
        for first in range(0, len(s), chunk):
            si, ti = s[first : first + chunk].view(shape), t[first : first + chunk].view(shape)
            points = value[i] + si * along_s[i] + ti * along_t[i]
            hashes.append(_pattern_hash(activation_patterns(net, points)))
        counts.append(len(torch.unique(torch.cat(hashes), dim=0)))
    return torch.tensor(counts, dtype=torch.long, device=anchors.device)
