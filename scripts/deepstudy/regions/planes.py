"""Exact linear regions of ReLU networks in planes: the polygons each plane's square is cut into.

Each neuron's zero set is a straight line inside a polygon on which every earlier neuron keeps its
sign (see :mod:`deepstudy.regions.layers`), so polygons are split neuron by neuron, batched over all
polygons of all planes, in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from deepstudy.regions.layers import DTYPE, apply_affine, float64_copy, hidden_steps


class RegionCapExceededError(RuntimeError):
    """Exact 2D splitting would exceed the configured number of polygons."""


@dataclass
class Polygons2D:
    """Convex polygons of planes (``plane`` indexes them) on which no hidden neuron changes sign.

    ``vertices`` is (P, V, 2) in plane coordinates (s, t), padded past ``count[p]`` vertices.
    """

    plane: torch.Tensor
    vertices: torch.Tensor
    count: torch.Tensor

    def as_lists(self) -> list[list[torch.Tensor]]:
        """Per plane, the list of its polygons' (k, 2) vertex arrays."""
        out: list[list[torch.Tensor]] = [[] for _ in range(int(self.plane.max()) + 1)]
        for p in range(len(self.plane)):
            out[int(self.plane[p])].append(self.vertices[p, : int(self.count[p])])
        return out


def plane_parametrisation(anchors: torch.Tensor) -> list[torch.Tensor]:
    """x(s, t) = a0 + s (a1 - a0) + t (a2 - a0) as [value at the origin, ∂/∂s, ∂/∂t]."""
    if anchors.ndim < 3 or anchors.shape[1] != 3:
        raise ValueError(f"anchors must be (n, 3, *input_shape), not {tuple(anchors.shape)}")
    a = anchors.to(DTYPE)
    return [a[:, 0], a[:, 1] - a[:, 0], a[:, 2] - a[:, 0]]


def _square(n: int, margin: float, device: torch.device) -> torch.Tensor:
    low, high = -margin, 1.0 + margin
    corners = torch.tensor([[low, low], [high, low], [high, high], [low, high]], dtype=DTYPE, device=device)
    return corners.expand(n, 4, 2).clone()


def _clip(
    vertices: torch.Tensor, count: torch.Tensor, z: torch.Tensor, side: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The part of each convex polygon where ``side · z ≥ 0`` (z given at the vertices, 0 = on the line).

    Vertices are kept in order; an edge whose ends lie strictly on opposite sides contributes the
    point where z crosses zero. Returns padded vertices (Q, 2V, 2) compacted to the front, and counts.
    """
    q, v = z.shape
    index = torch.arange(v, device=z.device)[None, :]
    valid = index < count[:, None]
    following = torch.where(index + 1 < count[:, None], index + 1, 0).expand(q, v)
    z_next = z.gather(1, following)
    vertex_next = vertices.gather(1, following[..., None].expand(q, v, 2))
    crossing = valid & (z * z_next < 0)
    weight = torch.where(crossing, z / (z - z_next), 0.0)
    point = vertices + weight[..., None] * (vertex_next - vertices)
    keep = torch.stack([valid & (side * z >= 0), crossing], dim=2).flatten(1)  # (Q, 2V)
    candidates = torch.stack([vertices, point], dim=2).flatten(1, 2)  # (Q, 2V, 2)
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)
    compact = candidates.gather(1, order[..., None].expand(-1, -1, 2))
    return compact, keep.sum(dim=1)


def _pad(vertices: torch.Tensor, width: int) -> torch.Tensor:
    if vertices.shape[1] >= width:
        return vertices
    return F.pad(vertices, (0, 0, 0, width - vertices.shape[1]))


def polygons_2d(
    net: nn.Module, anchors: torch.Tensor, margin: float = 0.0, max_polygons: int = 2_000_000
) -> Polygons2D:
    """The polygons into which the hidden neurons cut each plane's square s, t ∈ [-margin, 1 + margin].

    Each neuron's zero set is a straight line inside a polygon on which earlier neurons keep their
    signs, so polygons are split by each neuron in turn, batched over all polygons of all planes.
    Raises :class:`RegionCapExceededError` rather than truncating when more than ``max_polygons`` arise.
    """
    n = len(anchors)
    device = anchors.device
    net = float64_copy(net, device)
    params = plane_parametrisation(anchors)
    plane = torch.arange(n, device=device)
    vertices = _square(n, margin, device)
    count = torch.full((n,), 4, dtype=torch.long, device=device)
    extent = 1.0 + 2 * abs(margin)
    for block, hidden in hidden_steps(net):
        if not hidden:
            break
        params = apply_affine(block, params)
        flat = [p.flatten(1) for p in params]
        for neuron in range(flat[0].shape[1]):
            c, ds, dt = (p[:, neuron] for p in flat)
            z = c[:, None] + vertices[..., 0] * ds[:, None] + vertices[..., 1] * dt[:, None]
            tolerance = 1e-11 * (c.abs() + extent * (ds.abs() + dt.abs()))[:, None]
            z = torch.where(z.abs() <= tolerance, 0.0, z)
            valid = torch.arange(vertices.shape[1], device=device)[None, :] < count[:, None]
            cut = ((z > 0) & valid).any(dim=1) & ((z < 0) & valid).any(dim=1)
            if not bool(cut.any()):
                continue
            which = cut.nonzero().squeeze(1)
            if len(plane) + len(which) > max_polygons:
                raise RegionCapExceededError(
                    f"exact 2D splitting needs more than max_polygons={max_polygons} polygons; "
                    "raise the cap or use the grid estimate"
                )
            positive, positive_count = _clip(vertices[which], count[which], z[which], 1)
            negative, negative_count = _clip(vertices[which], count[which], z[which], -1)
            width = max(int(positive_count.max()), int(negative_count.max()), vertices.shape[1])
            vertices = _pad(vertices, width)
            vertices[which] = _pad(positive, width)[:, :width]
            count[which] = positive_count
            vertices = torch.cat([vertices, _pad(negative, width)[:, :width]])
            count = torch.cat([count, negative_count])
            plane = torch.cat([plane, plane[which]])
            params = [torch.cat([p, p[which]]) for p in params]
            flat = [p.flatten(1) for p in params]
        valid = torch.arange(vertices.shape[1], device=device)[None, :] < count[:, None]
        centroid = (vertices * valid[..., None]).sum(dim=1) / count[:, None]
        shape = (-1,) + (1,) * (params[0].ndim - 1)
        inside = params[0] + centroid[:, 0].view(shape) * params[1] + centroid[:, 1].view(shape) * params[2]
        active = (inside > 0).to(DTYPE)
        params = [p * active for p in params]
    return Polygons2D(plane, vertices, count)


def count_regions_2d(
    net: nn.Module, anchors: torch.Tensor, margin: float = 0.0, max_polygons: int = 2_000_000
) -> torch.Tensor:
    """Exact number of activation regions meeting each plane's square (see :func:`polygons_2d`).

    ``anchors`` is (n, 3, *input_shape); plane i is a0 + s (a1 − a0) + t (a2 − a0) over
    s, t ∈ [−margin, 1 + margin]. Activation regions are convex, so each meets the square in one
    polygon and the count is the number of polygons.
    """
    polygons = polygons_2d(net, anchors, margin, max_polygons)
    return torch.bincount(polygons.plane, minlength=len(anchors))
