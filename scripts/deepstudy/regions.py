"""Exact linear regions of ReLU networks along lines and in planes, and distance to the boundary.

A network here is a ``torch.nn.Sequential`` of ``Linear``, ``Conv1d``, ``Conv2d``, ``Flatten`` and
``ReLU`` layers (the project's MLPs and conv nets). Its activation regions are the sets of inputs
on which every hidden neuron keeps its sign; they are convex polytopes, and inside one the network
is affine. The output layer has no ReLU after it and does not count.

Everything exact works layer by layer on pieces of the input set (segments of a line, convex
polygons of a plane) on which every earlier neuron keeps its sign: there, the next layer's
pre-activations are affine in the piece's coordinates, so where each of them crosses zero is
computed exactly (in float64), and the piece is split there. Pieces are batched over all lines or
planes at once.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

DTYPE = torch.float64


class RegionCapExceededError(RuntimeError):
    """Exact 2D splitting would exceed the configured number of polygons."""


def _float64(net: nn.Module, device: torch.device) -> nn.Module:
    """A float64 copy of ``net`` on ``device``, made once per call rather than per layer use."""
    first = next(net.parameters(), None)
    if first is not None and first.dtype == DTYPE and first.device == device:
        return net
    return copy.deepcopy(net).to(device=device, dtype=DTYPE)


def _layers(net: nn.Module) -> list[nn.Module]:
    layers = list(net) if isinstance(net, nn.Sequential) else [net]
    for layer in layers:
        if not isinstance(layer, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Flatten | nn.ReLU):
            raise TypeError(
                f"region analysis takes Linear, Conv1d, Conv2d, Flatten and ReLU layers, not {layer}"
            )
    return layers


def _affine(layer: nn.Module, value: torch.Tensor, with_bias: bool) -> torch.Tensor:
    """``layer`` applied in float64 to a batch of values (bias) or of directions (no bias)."""
    if isinstance(layer, nn.Flatten):
        return layer(value)
    weight = layer.weight.detach().to(value.device, DTYPE)
    bias = layer.bias.detach().to(value.device, DTYPE) if with_bias and layer.bias is not None else None
    if isinstance(layer, nn.Linear):
        return F.linear(value, weight, bias)
    conv = F.conv1d if isinstance(layer, nn.Conv1d) else F.conv2d
    return conv(value, weight, bias, layer.stride, layer.padding, layer.dilation, layer.groups)


def _hidden_steps(net: nn.Module) -> Iterator[tuple[list[nn.Module], bool]]:
    """The affine layers before each ReLU, then (with ``False``) those after the last ReLU."""
    block: list[nn.Module] = []
    for layer in _layers(net):
        if isinstance(layer, nn.ReLU):
            yield block, True
            block = []
        else:
            block.append(layer)
    yield block, False


def _apply(block: list[nn.Module], values: list[torch.Tensor]) -> list[torch.Tensor]:
    """Push an affine parametrisation (value, slopes...) through affine layers."""
    out = list(values)
    for layer in block:
        out = [_affine(layer, out[0], True)] + [_affine(layer, v, False) for v in out[1:]]
    return out


def count_neurons(net: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Total number of hidden neurons (units followed by a ReLU) for inputs of ``input_shape``."""
    total = 0
    x = torch.zeros(1, *input_shape, dtype=DTYPE)
    for block, hidden in _hidden_steps(net):
        x = _apply(block, [x])[0]
        if hidden:
            total += x[0].numel()
    return total


# --------------------------------------------------------------------------------------------
# 1D: lines
# --------------------------------------------------------------------------------------------


@dataclass
class Breakpoints1D:
    """Every point where a hidden neuron changes sign along each segment, and where it happens.

    ``segment[i]``, ``t[i]`` (0 < t < 1) and ``layer[i]`` (0-based hidden layer) describe breakpoint
    i; they are sorted by segment, then by position.
    """

    segment: torch.Tensor
    t: torch.Tensor
    layer: torch.Tensor


def _sign_changes(z: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """(interval, neuron) → whether the sign bit of ``z`` differs between consecutive points.

    Points are stored in the order they were made; ``order`` sorts them along the segments, and
    interval i lies between sorted points i and i + 1.
    """
    negative = torch.signbit(z).index_select(0, order)
    return negative[:-1] ^ negative[1:]


def _crossings(
    z: torch.Tensor, order: torch.Tensor, segment: torch.Tensor, changes: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every sign change of ``z`` between consecutive points of one segment: the interval, the
    neuron, and its values at the interval's ends (strictly opposite: a zero is no crossing)."""
    position, neuron = torch.nonzero(changes, as_tuple=True)
    left, right = order[position], order[position + 1]
    at_left, at_right = z[left, neuron], z[right, neuron]
    keep = (at_left != 0) & (at_right != 0) & (segment[left] == segment[right])
    return position[keep], neuron[keep], at_left[keep], at_right[keep]


def _crossing_counts(
    z: torch.Tensor, order: torch.Tensor, segment: torch.Tensor, segments: int
) -> torch.Tensor:
    """Number of sign changes of ``z`` along each segment, without locating them."""
    changes = _sign_changes(z, order)
    if bool((z == 0).any()):  # rare: exact zeros need the per-crossing test
        position = _crossings(z, order, segment, changes)[0]
        return torch.bincount(segment[order[position]], minlength=segments)
    per_interval = changes.sum(dim=1)
    per_interval *= segment[order[1:]] == segment[order[:-1]]
    return torch.zeros(segments, dtype=torch.long, device=z.device).index_add_(
        0, segment[order[:-1]], per_interval
    )


def _insertion(after: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions of ``size`` sorted rows and of new rows inserted after rows ``after`` (sorted)."""
    device = after.device
    added = torch.bincount(after, minlength=size)
    old_position = torch.arange(size, device=device) + torch.cumsum(added, 0) - added
    index = torch.arange(len(after), device=device)
    first = torch.ones_like(after, dtype=torch.bool)
    first[1:] = after[1:] != after[:-1]
    rank = index - torch.cummax(torch.where(first, index, 0), 0).values
    return old_position, old_position[after] + 1 + rank


def _merged(old: torch.Tensor, new: torch.Tensor, old_position, new_position) -> torch.Tensor:
    out = old.new_empty((len(old) + len(new), *old.shape[1:]))
    out[old_position] = old
    out[new_position] = new
    return out


def _alone(position: torch.Tensor) -> torch.Tensor:
    """Which of the (sorted) new points is the only one in its interval."""
    alone = torch.ones_like(position, dtype=torch.bool)
    alone[1:] &= position[1:] != position[:-1]
    alone[:-1] &= position[:-1] != position[1:]
    return alone


def _default_chunk(device: torch.device) -> int:
    """Segments processed together: a few dozen keep a CPU's working set in cache."""
    return 32 if device.type == "cpu" else 4096


def breakpoints_1d(
    net: nn.Module, start: torch.Tensor, end: torch.Tensor, chunk: int | None = None
) -> Breakpoints1D:
    """Exact breakpoints of the segments ``start[i]`` → ``end[i]`` (each (n, *input_shape)).

    The network is continuous, so each layer's input is known by its values at the points where
    earlier neurons change sign (and the segment's ends), and is affine in between. A layer's
    pre-activations are computed at those points (float64); a neuron changes sign between two
    consecutive points exactly where the linear interpolation of its values crosses zero, and there
    a new point is inserted. Points are kept in the order they were made (no rows are moved), with
    a permutation that sorts them along the segments. Segments are processed ``chunk`` at a time,
    all of a chunk's points batched together.
    """
    chunk = chunk or _default_chunk(start.device)
    net = _float64(net, start.device)
    parts = [
        _walk_1d(net, start[first : first + chunk], end[first : first + chunk], True)
        for first in range(0, len(start), chunk)
    ]
    return Breakpoints1D(
        torch.cat([p.segment + first for p, first in zip(parts, range(0, len(start), chunk), strict=True)]),
        torch.cat([p.t for p in parts]),
        torch.cat([p.layer for p in parts]),
    )


def _dense_linear(block: list[nn.Module]) -> nn.Linear | None:
    """The Linear layer of a block that is just one (optionally after Flatten), else None."""
    layers = [layer for layer in block if not isinstance(layer, nn.Flatten)]
    return layers[0] if len(layers) == 1 and isinstance(layers[0], nn.Linear) else None


@dataclass
class _NewPoints:
    """Points inserted where a neuron changes sign: between points ``left`` and ``right`` (indices
    in creation order), at fraction ``weight`` of the way, where ``neuron`` goes from ``at_left``
    to ``at_right``. The last ``alone`` of them are each the only new point in their interval."""

    left: torch.Tensor
    right: torch.Tensor
    neuron: torch.Tensor
    weight: torch.Tensor
    at_left: torch.Tensor
    at_right: torch.Tensor
    alone: int

    def take(self, index: torch.Tensor, alone: int) -> _NewPoints:
        fields = (self.left, self.right, self.neuron, self.weight, self.at_left, self.at_right)
        return _NewPoints(*(field[index] for field in fields), alone)


def _next_layer(
    z: torch.Tensor, shape: torch.Size, following: list[nn.Module], new: _NewPoints
) -> torch.Tensor:
    """The next layer's pre-activations at the old points, then at the new ones (creation order).

    Between two consecutive old points z is affine, so at a new point it is the linear
    interpolation of its neighbours' values with the crossing neuron k exactly zero; those rectified
    values go through the next layer in one product with the old points'. A new point alone in its
    interval needs no product when the next layer is dense: there relu(z) is the interpolation of
    its neighbours' relu(z) except in coordinate k, so the next layer's value is the same
    interpolation of its neighbours' values minus column k of its weights times that coordinate.
    """
    count, added = len(z), len(new.neuron)
    crowded = added - new.alone
    rectified = z.new_empty((count + crowded, z.shape[1]))
    torch.clamp(z, min=0, out=rectified[:count])
    if crowded:
        inputs = rectified[count:]
        left, right = new.left[:crowded], new.right[:crowded]
        torch.lerp(z.index_select(0, left), z.index_select(0, right), new.weight[:crowded, None], out=inputs)
        inputs[torch.arange(crowded, device=z.device), new.neuron[:crowded]] = 0.0
        inputs.clamp_(min=0)
    linear = _dense_linear(following)
    if not new.alone or linear is None:
        return _apply(following, [rectified.view(-1, *shape)])[0]
    weight = linear.weight.detach()
    out = z.new_empty((count + added, weight.shape[0]))
    if linear.bias is None:
        torch.mm(rectified, weight.T, out=out[: count + crowded])
    else:
        torch.addmm(linear.bias.detach(), rectified, weight.T, out=out[: count + crowded])
    lone = slice(crowded, None)
    w = new.weight[lone]
    lost = torch.lerp(torch.relu(new.at_left[lone]), torch.relu(new.at_right[lone]), w)
    values = out[count + crowded :]
    torch.lerp(
        out.index_select(0, new.left[lone]), out.index_select(0, new.right[lone]), w[:, None], out=values
    )
    values.addcmul_(weight.T.contiguous().index_select(0, new.neuron[lone]), lost[:, None], value=-1)
    return out


def _walk_1d(net: nn.Module, start: torch.Tensor, end: torch.Tensor, last_layer_points: bool):
    """Breakpoints layer by layer; without ``last_layer_points`` the last hidden layer's
    breakpoints are only counted per segment (what a count needs)."""
    if start.shape != end.shape:
        raise ValueError(f"start {tuple(start.shape)} and end {tuple(end.shape)} differ in shape")
    n, device = len(start), start.device
    points = torch.stack([start.to(DTYPE), end.to(DTYPE)], dim=1).flatten(0, 1)  # (2n, ...)
    segment = torch.arange(n, device=device).repeat_interleave(2)
    t = torch.tensor([0.0, 1.0], dtype=DTYPE, device=device).repeat(n)
    layer = torch.full((2 * n,), -1, dtype=torch.long, device=device)
    order = torch.arange(2 * n, device=device)
    blocks = [block for block, hidden in _hidden_steps(net) if hidden]
    z = _apply(blocks[0], [points])[0]
    for depth in range(len(blocks)):
        shape = z.shape[1:]
        z = z.flatten(1)
        last = depth == len(blocks) - 1
        if last and not last_layer_points:
            return segment, layer, _crossing_counts(z, order, segment, n)
        position, neuron, at_left, at_right = _crossings(z, order, segment, _sign_changes(z, order))
        weight = at_left / (at_left - at_right)
        along = torch.argsort(position.to(DTYPE) + weight)  # by interval, then place in it
        position = position[along]
        new = _NewPoints(
            order[position],
            order[position + 1],
            neuron[along],
            weight[along],
            at_left[along],
            at_right[along],
            0,
        )
        # new points are made crowded first, then those alone in their interval (see _next_layer)
        alone = _alone(position) if not last and _dense_linear(blocks[depth + 1]) else None
        if alone is not None and bool(alone.any()):
            made = torch.cat([torch.nonzero(~alone)[:, 0], torch.nonzero(alone)[:, 0]])
            new = new.take(made, int(alone.sum()))
        else:
            made = torch.arange(len(position), device=device)
        created = torch.empty_like(made)
        created[made] = torch.arange(len(t), len(t) + len(made), device=device)
        old_position, new_position = _insertion(position, len(order))
        order = _merged(order, created, old_position, new_position)
        t = torch.cat([t, torch.lerp(t[new.left], t[new.right], new.weight)])
        segment = torch.cat([segment, segment[new.left]])
        layer = torch.cat([layer, torch.full_like(made, depth)])
        if last:
            break
        z = _next_layer(z, shape, blocks[depth + 1], new)
    inner = order[layer[order] >= 0]
    return Breakpoints1D(segment[inner], t[inner], layer[inner])


def count_regions_1d(
    net: nn.Module, start: torch.Tensor, end: torch.Tensor, chunk: int | None = None
) -> torch.Tensor:
    """Exact number of activation regions each segment ``start[i]`` → ``end[i]`` crosses.

    The count is the number of breakpoints (points where some hidden neuron changes sign) plus one,
    computed as in :func:`breakpoints_1d` but only counting the last hidden layer's breakpoints.
    Returns an int64 tensor of shape (n,).
    """
    chunk = chunk or _default_chunk(start.device)
    net = _float64(net, start.device)
    counts = []
    for first in range(0, len(start), chunk):
        a, b = start[first : first + chunk], end[first : first + chunk]
        segment, layer, last_counts = _walk_1d(net, a, b, last_layer_points=False)
        counts.append(torch.bincount(segment[layer >= 0], minlength=len(a)) + last_counts + 1)
    return torch.cat(counts) if counts else torch.zeros(0, dtype=torch.long, device=start.device)


@torch.no_grad()
def activation_patterns(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Sign pattern (bool, one column per hidden neuron) of each input in ``x``."""
    patterns = []
    h = x.to(DTYPE)
    for block, hidden in _hidden_steps(net):
        if not hidden:
            break
        h = _apply(block, [h])[0]
        patterns.append((h > 0).flatten(1))
        h = torch.relu(h)
    return torch.cat(patterns, dim=1)


@torch.no_grad()
def sampled_regions_1d(
    net: nn.Module, start: torch.Tensor, end: torch.Tensor, samples: int = 4000, chunk: int = 64
) -> torch.Tensor:
    """Regions crossed per segment as dense sampling sees them: pattern changes between
    ``samples`` equally spaced points, plus one. Never above the exact count; misses small regions.
    """
    t = torch.linspace(0, 1, samples, dtype=DTYPE, device=start.device)
    counts = []
    for first in range(0, len(start), chunk):
        a, b = start[first : first + chunk].to(DTYPE), end[first : first + chunk].to(DTYPE)
        shape = (1, -1) + (1,) * (a.ndim - 1)
        points = a[:, None] + t.view(shape) * (b - a)[:, None]
        patterns = activation_patterns(net, points.flatten(0, 1)).view(len(a), samples, -1)
        counts.append((patterns[:, 1:] != patterns[:, :-1]).any(dim=2).sum(dim=1) + 1)
    return torch.cat(counts)


# --------------------------------------------------------------------------------------------
# 2D: planes
# --------------------------------------------------------------------------------------------


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


def _plane_parametrisation(anchors: torch.Tensor) -> list[torch.Tensor]:
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
    net = _float64(net, device)
    params = _plane_parametrisation(anchors)
    plane = torch.arange(n, device=device)
    vertices = _square(n, margin, device)
    count = torch.full((n,), 4, dtype=torch.long, device=device)
    extent = 1.0 + 2 * abs(margin)
    for block, hidden in _hidden_steps(net):
        if not hidden:
            break
        params = _apply(block, params)
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
    value, along_s, along_t = _plane_parametrisation(anchors)
    axis = torch.linspace(-margin, 1 + margin, resolution, dtype=DTYPE, device=anchors.device)
    s, t = torch.meshgrid(axis, axis, indexing="ij")
    s, t = s.reshape(-1), t.reshape(-1)
    shape = (-1,) + (1,) * (value.ndim - 1)
    chunk = max(1, 2**25 // max(1, count_neurons(net, tuple(value.shape[1:]))))
    counts = []
    for i in range(len(anchors)):
        hashes = []
        for first in range(0, len(s), chunk):
            si, ti = s[first : first + chunk].view(shape), t[first : first + chunk].view(shape)
            points = value[i] + si * along_s[i] + ti * along_t[i]
            hashes.append(_pattern_hash(activation_patterns(net, points)))
        counts.append(len(torch.unique(torch.cat(hashes), dim=0)))
    return torch.tensor(counts, dtype=torch.long)


# --------------------------------------------------------------------------------------------
# Distance to the boundary of a point's own region
# --------------------------------------------------------------------------------------------


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
    net = _float64(net, x.device)
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
    for block, hidden in _hidden_steps(net):
        if not hidden:
            break
        value, directions = _apply(block, [value, directions])
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
