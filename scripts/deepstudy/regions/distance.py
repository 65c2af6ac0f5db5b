"""Exact distance from points to the boundary of their own activation region."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from deepstudy.regions.layers import DTYPE, apply_affine, count_neurons, float64_copy, hidden_steps


@dataclass
class BoundaryDistance:
    """Per point: distance to its region's boundary, and the (hidden layer, neuron) that sets it."""

    distance: torch.Tensor
    layer: torch.Tensor
    neuron: torch.Tensor


def distance_to_boundary(net: nn.Module, x: torch.Tensor, chunk: int | None = None) -> BoundaryDistance:
    """Exact Euclidean distance from each point of ``x`` (n, *input_shape) to the boundary of its
    activation region.

    Inside a region every hidden pre-activation z_i is affine and the region is the polytope where
    all keep their signs, so the distance is min over neurons of |z_i(x)| / ‖∇z_i(x)‖. The
    gradients of all neurons come from propagating the local Jacobian (one forward pass of the
    d_in input directions alongside each point), in float64. Points are processed ``chunk`` at a
    time (by default enough to keep each Jacobian under about 256 MB).
    """
    input_size = x[0].numel()
    net = float64_copy(net, x.device)
    neurons = count_neurons(net, tuple(x.shape[1:]))
    chunk = chunk or max(1, 2**25 // max(1, input_size * neurons))
    parts = [_distance_chunk(net, x[first : first + chunk]) for first in range(0, len(x), chunk)]
    return BoundaryDistance(
        *(torch.cat([getattr(p, f) for p in parts]) for f in ("distance", "layer", "neuron"))
    )


@torch.no_grad()
def _distance_chunk(net: nn.Module, x: torch.Tensor) -> BoundaryDistance:
    m, shape = len(x), tuple(x.shape[1:])
    input_size = x[0].numel()
    value = x.to(DTYPE)
    eye = torch.eye(input_size, dtype=DTYPE, device=x.device)
    directions = eye.expand(m, -1, -1).reshape(m * input_size, *shape)
    best = torch.full((m,), torch.inf, dtype=DTYPE, device=x.device)
    best_layer = torch.full((m,), -1, dtype=torch.long, device=x.device)
    best_neuron = torch.full((m,), -1, dtype=torch.long, device=x.device)
    depth = 0
    for block, hidden in hidden_steps(net):
        if not hidden:
            break
        value, directions = apply_affine(block, [value, directions])
        z = value.flatten(1)
        gradient = directions.reshape(m, input_size, -1)
        norm = gradient.norm(dim=1)
        distance = torch.where(norm > 0, z.abs() / norm, torch.inf)
        layer_best, layer_neuron = distance.min(dim=1)
        better = layer_best < best
        best = torch.where(better, layer_best, best)
        best_layer = torch.where(better, depth, best_layer)
        best_neuron = torch.where(better, layer_neuron, best_neuron)
        active = value > 0
        value = value * active
        directions = (directions.reshape(m, input_size, *value.shape[1:]) * active[:, None]).reshape(
            m * input_size, *value.shape[1:]
        )
        depth += 1
    return BoundaryDistance(best, best_layer, best_neuron)
