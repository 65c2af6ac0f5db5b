"""Exact linear regions of ReLU networks along lines and in planes, and distance to the boundary.

A network here is a ``torch.nn.Sequential`` of ``Linear``, ``Conv1d``, ``Conv2d``, ``Flatten`` and
``ReLU`` layers (the project's MLPs and conv nets). Its activation regions are the sets of inputs
on which every hidden neuron keeps its sign; they are convex polytopes, and inside one the network
is affine. The output layer has no ReLU after it and does not count.

Everything exact works layer by layer on pieces of the input set (segments of a line, convex
polygons of a plane) on which every earlier neuron keeps its sign: there, the next layer's
pre-activations are affine in the piece's coordinates, so where each of them crosses zero is
computed exactly (in float64), and the piece is split there. Pieces are batched over all lines or
planes at once. Along lines, the CPU does the bookkeeping with compiled kernels
(:mod:`deepstudy.region_kernels`) and other devices with tensor operations; both place the same
breakpoints.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace

import numpy as np
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
    """The network's layers in order, nested Sequentials opened; refuses layers it cannot analyse."""
    if isinstance(net, nn.Sequential):
        return [layer for child in net for layer in _layers(child)]
    if not isinstance(net, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Flatten | nn.ReLU):
        raise TypeError(f"region analysis takes Linear, Conv1d, Conv2d, Flatten and ReLU layers, not {net}")
    return [net]


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


def _default_chunk(device: torch.device) -> int:
    """Segments processed together: a few dozen keep a CPU's working set in cache."""
    return 32 if device.type == "cpu" else 4096


@dataclass
class _Points1D:
    """A chunk's points after the walk, sorted along the segments (segment after segment): each
    point's segment, place ``t`` on it (0 start, 1 end) and the hidden layer whose neuron changes
    sign there (-1 for the segments' ends); with ``last_counts``, the last hidden layer's sign
    changes per segment, counted instead of placed."""

    segment: torch.Tensor
    t: torch.Tensor
    layer: torch.Tensor
    last_counts: torch.Tensor | None = None

    @classmethod
    def segment_ends(cls, n: int, device: torch.device) -> _Points1D:
        index = torch.arange(2 * n, device=device)
        return cls(index // 2, (index % 2).to(DTYPE), torch.full_like(index, -1))


def _hidden_blocks(net: nn.Module) -> list[list[nn.Module]]:
    """The affine layers before each ReLU."""
    return [block for block, hidden in _hidden_steps(net) if hidden]


def _dense_linear(block: list[nn.Module]) -> nn.Linear | None:
    """The Linear layer of a block that is just one (optionally after Flatten), else None."""
    layers = [layer for layer in block if not isinstance(layer, nn.Flatten)]
    return layers[0] if len(layers) == 1 and isinstance(layers[0], nn.Linear) else None


# The walk with tensor operations (any device) --------------------------------------------------


@dataclass
class _Walk:
    """The points of a chunk of segments during the tensor walk.

    Points are stored in the order they were made (rows never move); ``order`` lists them sorted
    along the segments, and ``ends[s]`` is the sorted position of segment s's last point.
    """

    points: _Points1D
    order: torch.Tensor
    ends: torch.Tensor

    def sign_changes(self, z: torch.Tensor) -> torch.Tensor:
        """(interval, neuron) → whether ``z`` changes sign bit between consecutive points of a
        segment; interval i lies between sorted points i and i + 1."""
        negative = torch.signbit(z).index_select(0, self.order)
        changes = negative[:-1] ^ negative[1:]
        changes[self.ends[:-1]] = False  # from one segment's end to the next one's start
        return changes

    def sorted(self, last_counts: torch.Tensor | None) -> _Points1D:
        p, order = self.points, self.order
        return _Points1D(p.segment[order], p.t[order], p.layer[order], last_counts)


@dataclass
class _Crossings:
    """Sign changes inside intervals: the interval (sorted position), the neuron, the two
    neighbouring points (creation order), and where in the interval the neuron's values (strictly
    opposite at its ends) cross zero: ``weight`` 0 at the left point, 1 at the right."""

    position: torch.Tensor
    neuron: torch.Tensor
    left: torch.Tensor
    right: torch.Tensor
    weight: torch.Tensor

    @classmethod
    def of(cls, z: torch.Tensor, walk: _Walk, changes: torch.Tensor) -> _Crossings:
        width = z.shape[1]
        flat = torch.nonzero(changes.view(-1)).squeeze(1)
        position = flat // width
        neuron = flat - position * width
        left = walk.order.index_select(0, position)
        right = walk.order.index_select(0, position + 1)
        values = z.view(-1)
        found = [position, neuron, left, right]
        at_left = values.index_select(0, left * width + neuron)
        at_right = values.index_select(0, right * width + neuron)
        nonzero = (at_left != 0) & (at_right != 0)  # a zero at a point is no crossing inside
        if not bool(nonzero.all()):
            found, at_left, at_right = [v[nonzero] for v in found], at_left[nonzero], at_right[nonzero]
        return cls(*found, at_left / (at_left - at_right))

    def take(self, index: torch.Tensor) -> _Crossings:
        return _Crossings(*(getattr(self, f.name)[index] for f in fields(self)))


def _crossing_counts(z: torch.Tensor, walk: _Walk, segments: int) -> torch.Tensor:
    """Number of sign changes of ``z`` inside each segment's intervals, without locating them."""
    changes = walk.sign_changes(z)
    segment = walk.points.segment
    if torch.count_nonzero(z) < z.numel():  # rare: exact zeros need the per-crossing test
        left = _Crossings.of(z, walk, changes).left
        return torch.bincount(segment.index_select(0, left), minlength=segments)
    per_interval = torch.count_nonzero(changes, dim=1)
    return torch.zeros(segments, dtype=torch.long, device=z.device).index_add_(
        0, segment.index_select(0, walk.order[:-1]), per_interval
    )


def _insert(walk: _Walk, crossings: _Crossings, depth: int) -> _Walk:
    """``walk`` with a new point at each crossing (sorted by interval, then place in it), made in
    that order after the existing points."""
    size, added = len(walk.order), len(crossings.position)
    device, position, p = walk.order.device, crossings.position, walk.points
    old = torch.arange(size, device=device)
    order = walk.order.new_empty(size + added)
    order[old + torch.searchsorted(position, old)] = walk.order
    order[position + torch.arange(1, added + 1, device=device)] = torch.arange(
        size, size + added, device=device
    )
    t = torch.lerp(p.t[crossings.left], p.t[crossings.right], crossings.weight)
    points = _Points1D(
        torch.cat([p.segment, p.segment.index_select(0, crossings.left)]),
        torch.cat([p.t, t]),
        torch.cat([p.layer, torch.full((added,), depth, dtype=torch.long, device=device)]),
    )
    return _Walk(points, order, walk.ends + torch.searchsorted(position, walk.ends))


def _rectified(z: torch.Tensor, crossings: _Crossings) -> torch.Tensor:
    """relu of the layer at the old points, then at the new ones (creation order).

    Between two consecutive points z is affine, so at a new point it is the linear interpolation
    of its neighbours' values, with the crossing neuron exactly zero.
    """
    size, width, added = len(z), z.shape[1], len(crossings.position)
    out = z.new_empty((size + added, width))
    torch.clamp(z, min=0, out=out[:size])
    new = out[size:]
    left, right = z.index_select(0, crossings.left), z.index_select(0, crossings.right)
    torch.lerp(left, right, crossings.weight[:, None], out=new)
    new.view(-1).index_fill_(0, torch.arange(added, device=z.device) * width + crossings.neuron, 0.0)
    new.clamp_(min=0)
    return out


def _walk_1d_tensor(
    net: nn.Module, start: torch.Tensor, end: torch.Tensor, last_layer_points: bool
) -> _Points1D:
    """The walk with tensor operations, on any device. Points are stored in the order they were
    made, so no rows are moved, with a permutation that sorts them along the segments."""
    blocks = _hidden_blocks(net)
    n, device = len(start), start.device
    points = _Points1D.segment_ends(n, device)
    walk = _Walk(points, torch.arange(2 * n, device=device), torch.arange(1, 2 * n, 2, device=device))
    z = _apply(blocks[0], [torch.stack([start.to(DTYPE), end.to(DTYPE)], dim=1).flatten(0, 1)])[0]
    for depth in range(len(blocks)):
        shape = z.shape[1:]
        z = z.flatten(1)
        last = depth == len(blocks) - 1
        if last and not last_layer_points:
            return walk.sorted(_crossing_counts(z, walk, n))
        crossings = _Crossings.of(z, walk, walk.sign_changes(z))
        crossings = crossings.take(torch.argsort(crossings.position.to(DTYPE) + crossings.weight))
        if not last:
            z = _apply(blocks[depth + 1], [_rectified(z, crossings).view(-1, *shape)])[0]
        walk = _insert(walk, crossings, depth)
    return walk.sorted(None)


# The walk with compiled kernels (CPU) ----------------------------------------------------------

_MERGE_BLOCKS = 16  # ranges of intervals the merge kernel spreads over its threads


def _walk_1d_compiled(
    net: nn.Module, start: torch.Tensor, end: torch.Tensor, last_layer_points: bool
) -> _Points1D:
    """The walk on the CPU with the compiled kernels of :mod:`deepstudy.region_kernels`: points
    stay sorted along the segments, each layer's new points written between their neighbours, and
    where the next layer is dense its values at the new points come by interpolation, not by a
    matrix product (see ``region_kernels.merge``)."""
    from deepstudy import region_kernels as kernels  # compiled on first use, then cached

    blocks = _hidden_blocks(net)
    kernels.use_threads(torch.get_num_threads())
    n = len(start)
    ends = _Points1D.segment_ends(n, start.device)
    t, segment, layer = ends.t.numpy(), ends.segment.numpy(), ends.layer.numpy()
    z = _apply(blocks[0], [torch.stack([start.to(DTYPE), end.to(DTYPE)], dim=1).flatten(0, 1)])[0]
    last_counts = None
    for depth in range(len(blocks)):
        shape = z.shape[1:]
        values = z.flatten(1).contiguous().numpy()
        counts = kernels.interval_crossings(values, segment)
        last = depth == len(blocks) - 1
        if last and not last_layer_points:
            last_counts = torch.from_numpy(kernels.per_segment(counts, segment, n))
            break
        linear = None if last else _dense_linear(blocks[depth + 1])
        rectify = not last and linear is None
        rectified, t, segment, layer, *crossings = kernels.split(
            values, t, segment, layer, counts, depth, rectify
        )
        if rectify:  # the next layer is not dense: evaluate it at every point
            z = _apply(blocks[depth + 1], [torch.from_numpy(rectified).view(-1, *shape)])[0]
        elif not last:  # at the old points only; the new ones follow by interpolation
            y = _apply(blocks[depth + 1], [torch.relu(z)])[0].contiguous().numpy()
            columns = linear.weight.detach().T.contiguous().numpy()
            bias = np.zeros(len(y[0])) if linear.bias is None else linear.bias.detach().numpy()
            z = torch.from_numpy(kernels.merge(y, values, *crossings, columns, bias, _MERGE_BLOCKS))
    return _Points1D(torch.from_numpy(segment), torch.from_numpy(t), torch.from_numpy(layer), last_counts)


# The public functions --------------------------------------------------------------------------


def _walks(
    net: nn.Module,
    start: torch.Tensor,
    end: torch.Tensor,
    chunk: int | None,
    last_layer_points: bool,
    compiled: bool | None,
) -> Iterator[tuple[int, _Points1D]]:
    """Each chunk's first segment and its walk, with the compiled kernels on the CPU unless
    ``compiled`` says otherwise."""
    if start.shape != end.shape:
        raise ValueError(f"start {tuple(start.shape)} and end {tuple(end.shape)} differ in shape")
    start, end, device = start.detach(), end.detach(), start.device
    if compiled and device.type != "cpu":
        raise ValueError(f"the compiled region kernels run on the CPU, not on {device}")
    walk = _walk_1d_compiled if (device.type == "cpu" if compiled is None else compiled) else _walk_1d_tensor
    chunk = chunk or _default_chunk(device)
    net = _float64(net, device)
    has_hidden = bool(_hidden_blocks(net))
    for first in range(0, len(start), chunk):
        a, b = start[first : first + chunk], end[first : first + chunk]
        if has_hidden:
            yield first, walk(net, a, b, last_layer_points)
        else:  # an affine network: one region
            none = None if last_layer_points else torch.zeros(len(a), dtype=torch.long, device=device)
            yield first, replace(_Points1D.segment_ends(len(a), device), last_counts=none)


@torch.no_grad()
def breakpoints_1d(
    net: nn.Module,
    start: torch.Tensor,
    end: torch.Tensor,
    chunk: int | None = None,
    compiled: bool | None = None,
) -> Breakpoints1D:
    """Exact breakpoints of the segments ``start[i]`` → ``end[i]`` (each (n, *input_shape)).

    The network is continuous, so each layer's input is known by its values at the points where
    earlier neurons change sign (and the segment's ends), and is affine in between. A layer's
    pre-activations are computed at those points (float64); a neuron changes sign between two
    consecutive points exactly where the linear interpolation of its values crosses zero, and there
    a new point is inserted. Segments are processed ``chunk`` at a time, all of a chunk's points
    batched together. On the CPU compiled kernels do the bookkeeping (``compiled=False``: tensor
    operations, as on other devices; both give the same points).
    """
    segment, t, layer = [], [], []
    for first, points in _walks(net, start, end, chunk, True, compiled):
        inner = points.layer >= 0
        segment.append(points.segment[inner] + first)
        t.append(points.t[inner])
        layer.append(points.layer[inner])
    if not segment:
        empty = torch.zeros(0, dtype=torch.long, device=start.device)
        return Breakpoints1D(empty, empty.to(DTYPE), empty)
    return Breakpoints1D(torch.cat(segment), torch.cat(t), torch.cat(layer))


@torch.no_grad()
def count_regions_1d(
    net: nn.Module,
    start: torch.Tensor,
    end: torch.Tensor,
    chunk: int | None = None,
    compiled: bool | None = None,
) -> torch.Tensor:
    """Exact number of activation regions each segment ``start[i]`` → ``end[i]`` crosses.

    The count is the number of breakpoints (points where some hidden neuron changes sign) plus one,
    computed as in :func:`breakpoints_1d` but only counting the last hidden layer's breakpoints.
    Returns an int64 tensor of shape (n,).
    """
    counts = []
    for _, points in _walks(net, start, end, chunk, False, compiled):
        segments = len(points.last_counts)
        inner = torch.bincount(points.segment[points.layer >= 0], minlength=segments)
        counts.append(inner + points.last_counts + 1)
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
