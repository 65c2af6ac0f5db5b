"""Exact linear regions of ReLU networks along lines: breakpoints and region counts per segment.

Every exact method works layer by layer on pieces of the input set on which every earlier neuron
keeps its sign (see :mod:`deepstudy.regions.layers`): along a segment, the next layer's
pre-activations are affine between consecutive breakpoints, so where each of them crosses zero is
computed exactly (in float64), and the segment is split there. Segments are batched. On the CPU the
bookkeeping runs in compiled kernels (:mod:`deepstudy.regions.kernels`), on other devices in tensor
operations; both place the same breakpoints. Counting on the CPU, the last hidden layer's matrix
product is taken in float32 and every decision on it certified (:mod:`deepstudy.regions.certified`):
the counts are the float64 walk's wherever float64 decides.

A region is a maximal piece of the segment on which the activation pattern is constant, so a
breakpoint is a place, not a neuron: where several neurons change sign at once (all of a layer's,
where a line meets the origin of a bias-free net) it is one breakpoint, and a neuron that reaches
zero without changing sign makes none. Float64 resolves places only to its rounding, so crossings
closer than :data:`COINCIDENT` to the one before them along the segment (or to an existing point)
are one breakpoint, at the first of them; pieces shorter than that are no region.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from deepstudy.regions import parallel
from deepstudy.regions.layers import DTYPE, apply_affine, float64_copy, hidden_blocks

if TYPE_CHECKING:
    from deepstudy.regions.dense_walk import ChunkWalker

#: Breakpoints closer than this along a segment (in t, the fraction of its length) are one: 2^-40,
#: 4096 float64 ulps of t = 1. The places of coincident crossings, computed through a few layers,
#: differ by some ulps; distinct ones in the study lie many orders of magnitude farther apart.
COINCIDENT = 2.0**-40

# 1D: lines
# --------------------------------------------------------------------------------------------


@dataclass
class Breakpoints1D:
    """Every place where hidden neurons change sign along each segment (coincident ones once).

    ``segment[i]``, ``t[i]`` (0 < t < 1) and ``layer[i]`` (0-based, the first hidden layer with a
    neuron changing sign there) describe breakpoint i; they are sorted by segment, then by position.
    """

    segment: torch.Tensor
    t: torch.Tensor
    layer: torch.Tensor


def _default_chunk(device: torch.device, segments: int, threads: int) -> int:
    """Segments processed together: on the CPU at most a few dozen, which keep a thread's working
    set in cache, and few enough that each thread gets several chunks."""
    return parallel.chunk_size(segments, threads, 32) if device.type == "cpu" else 4096


@dataclass
class _Points1D:
    """A chunk's points after the walk, sorted along the segments (segment after segment): each
    point's segment, place ``t`` on it (0 start, 1 end) and the hidden layer whose neuron changes
    sign there (-1 for the segments' ends); with ``last_counts``, the last hidden layer's new
    breakpoints per segment, counted instead of placed."""

    segment: torch.Tensor
    t: torch.Tensor
    layer: torch.Tensor
    last_counts: torch.Tensor | None = None

    @classmethod
    def of_arrays(
        cls, segment: np.ndarray, t: np.ndarray, layer: np.ndarray, last_counts: np.ndarray | None
    ) -> _Points1D:
        """A compiled walk's arrays as tensors (sharing their memory)."""
        counts = None if last_counts is None else torch.from_numpy(last_counts)
        return cls(torch.from_numpy(segment), torch.from_numpy(t), torch.from_numpy(layer), counts)

    @classmethod
    def segment_ends(cls, n: int, device: torch.device) -> _Points1D:
        index = torch.arange(2 * n, device=device)
        return cls(index // 2, (index % 2).to(DTYPE), torch.full_like(index, -1))


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
    """Sign changes inside intervals, sorted by interval, then place: the interval (sorted
    position), the neuron, the two neighbouring points (creation order), and where in the interval
    the neuron's values (strictly opposite at its ends) cross zero: ``weight`` 0 at the left point,
    1 at the right."""

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
        crossings = cls(*found, at_left / (at_left - at_right))
        by_place = torch.argsort(crossings.weight)  # then, stably, by interval
        return crossings.take(by_place[torch.argsort(crossings.position[by_place], stable=True)])

    def take(self, index: torch.Tensor) -> _Crossings:
        return _Crossings(*(getattr(self, f.name)[index] for f in fields(self)))


@dataclass
class _Breakpoints:
    """A layer's crossings gathered into breakpoints (see :data:`COINCIDENT`): ``point[c]`` is the
    new point of crossing c, or -1 where c is that close to an end of its interval (the existing
    point is the breakpoint); ``first`` is each new point's first crossing and ``t`` its place."""

    crossings: _Crossings
    point: torch.Tensor
    first: torch.Tensor
    t: torch.Tensor

    @classmethod
    def of(cls, crossings: _Crossings, t: torch.Tensor) -> _Breakpoints:
        c, device = crossings, t.device
        t_left, t_right = t.index_select(0, c.left), t.index_select(0, c.right)
        place = torch.lerp(t_left, t_right, c.weight)
        head = torch.searchsorted(c.position, c.position)  # each interval's first crossing
        tail = torch.searchsorted(c.position, c.position, right=True) - 1  # and its last
        previous = torch.cat([place[:1], place[:-1]])
        previous = torch.where(head == torch.arange(len(c.position), device=device), t_left, previous)
        new = place - previous > COINCIDENT  # else the breakpoint of the crossing before (or the end)
        group = torch.cumsum(new, 0)
        at_left = (group == group[head]) & ~new[head]
        at_right = (group == group[tail]) & (t_right - place[tail] <= COINCIDENT) & ~at_left
        kept = ~(at_left | at_right)
        starts = new & kept
        point = torch.where(kept, torch.cumsum(starts, 0) - 1, -1)
        first = torch.nonzero(starts).squeeze(1)
        return cls(crossings, point, first, place[first])


def _insert(walk: _Walk, breakpoints: _Breakpoints, depth: int) -> _Walk:
    """``walk`` with the new points of ``breakpoints`` (sorted by interval, then place in it), made
    in that order after the existing points."""
    first, p = breakpoints.first, walk.points
    position, left = breakpoints.crossings.position[first], breakpoints.crossings.left[first]
    size, added, device = len(walk.order), len(first), walk.order.device
    old = torch.arange(size, device=device)
    order = walk.order.new_empty(size + added)
    order[old + torch.searchsorted(position, old)] = walk.order
    order[position + torch.arange(1, added + 1, device=device)] = torch.arange(
        size, size + added, device=device
    )
    points = _Points1D(
        torch.cat([p.segment, p.segment.index_select(0, left)]),
        torch.cat([p.t, breakpoints.t]),
        torch.cat([p.layer, torch.full((added,), depth, dtype=torch.long, device=device)]),
    )
    return _Walk(points, order, walk.ends + torch.searchsorted(position, walk.ends))


def _rectified(z: torch.Tensor, breakpoints: _Breakpoints) -> torch.Tensor:
    """relu of the layer at the old points, then at the new ones (creation order).

    Between two consecutive points z is affine, so at a new point it is the linear interpolation
    of its neighbours' values, with the neurons that cross there exactly zero.
    """
    c, first, point = breakpoints.crossings, breakpoints.first, breakpoints.point
    size, width, added = len(z), z.shape[1], len(first)
    out = z.new_empty((size + added, width))
    torch.clamp(z, min=0, out=out[:size])
    new = out[size:]
    left, right = z.index_select(0, c.left[first]), z.index_select(0, c.right[first])
    torch.lerp(left, right, c.weight[first][:, None], out=new)
    kept = point >= 0
    new.view(-1).index_fill_(0, point[kept] * width + c.neuron[kept], 0.0)
    new.clamp_(min=0)
    return out


def _walk_1d_tensor(
    net: nn.Module, start: torch.Tensor, end: torch.Tensor, last_layer_points: bool
) -> _Points1D:
    """The walk with tensor operations, on any device. Points are stored in the order they were
    made, so no rows are moved, with a permutation that sorts them along the segments."""
    blocks = hidden_blocks(net)
    n, device = len(start), start.device
    points = _Points1D.segment_ends(n, device)
    walk = _Walk(points, torch.arange(2 * n, device=device), torch.arange(1, 2 * n, 2, device=device))
    z = apply_affine(blocks[0], [torch.stack([start.to(DTYPE), end.to(DTYPE)], dim=1).flatten(0, 1)])[0]
    for depth in range(len(blocks)):
        shape = z.shape[1:]
        z = z.flatten(1)
        last = depth == len(blocks) - 1
        found = _Breakpoints.of(_Crossings.of(z, walk, walk.sign_changes(z)), walk.points.t)
        if last and not last_layer_points:
            segment = walk.points.segment.index_select(0, found.crossings.left[found.first])
            return walk.sorted(torch.bincount(segment, minlength=n))
        if not last:
            z = apply_affine(blocks[depth + 1], [_rectified(z, found).view(-1, *shape)])[0]
        walk = _insert(walk, found, depth)
    return walk.sorted(None)


# The walk with compiled kernels (CPU) ----------------------------------------------------------


def _walk_1d_compiled(
    net: nn.Module, start: torch.Tensor, end: torch.Tensor, last_layer_points: bool, columns: dict
) -> _Points1D:
    """The walk layer by layer with the compiled kernels (see :mod:`deepstudy.regions.layer_walk`)."""
    from deepstudy.regions import layer_walk  # compiled on first use, then cached

    return _Points1D.of_arrays(*layer_walk.walk(net, start, end, last_layer_points, columns, COINCIDENT))


# The public functions --------------------------------------------------------------------------


def _dense_walk(net: nn.Module, start: torch.Tensor, end: torch.Tensor, compiled: bool) -> ChunkWalker | None:
    """Where the compiled kernels walk ``net`` and it is an MLP, the walk of any chunk in one
    compiled call (see :mod:`deepstudy.regions.dense_walk`); None for other networks, the tensor
    walk, or without a checked BLAS."""
    if not compiled or not hidden_blocks(net):
        return None
    from deepstudy.regions import dense_walk  # compiled on first use, then cached

    return dense_walk.chunk_walker(net, start, end, COINCIDENT)


def _checked(
    start: torch.Tensor, end: torch.Tensor, compiled: bool | None
) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """The segments' ends, detached, and whether the compiled kernels walk them (by default on the
    CPU; asked for elsewhere, an error)."""
    if start.shape != end.shape:
        raise ValueError(f"start {tuple(start.shape)} and end {tuple(end.shape)} differ in shape")
    if compiled and start.device.type != "cpu":
        raise ValueError(f"the compiled region kernels run on the CPU, not on {start.device}")
    return start.detach(), end.detach(), start.device.type == "cpu" if compiled is None else compiled


def _walks(
    net: nn.Module,
    start: torch.Tensor,
    end: torch.Tensor,
    chunk: int | None,
    last_layer_points: bool,
    compiled: bool,
    dense: ChunkWalker | None,
    finish: Callable[[_Points1D], object] | None = None,
) -> list[tuple[int, object]]:
    """Each chunk's first segment and its walk (``finish`` of it, where given: taken in the thread
    that walked the chunk) of the segments (as :func:`_checked` gives them), with the compiled
    kernels or not (``compiled``), an MLP's in one compiled call (``dense``, see
    :func:`_dense_walk`). Compiled walks run a chunk per thread (torch's thread count, see
    :mod:`deepstudy.regions.parallel`); the tensor walk runs chunks in turn, each op threaded."""
    device = start.device
    walk = partial(_walk_1d_compiled, columns={}) if compiled else _walk_1d_tensor
    threads = torch.get_num_threads()
    chunk = chunk or _default_chunk(device, len(start), threads)
    has_hidden = bool(hidden_blocks(net))
    net = float64_copy(net, device) if dense is None else net

    @torch.no_grad()  # grad mode is per thread
    def chunk_points(first: int) -> _Points1D:
        if dense is not None:  # (no slices of the tensors: each torch call hands the GIL over)
            walked = dense(first, min(chunk, len(start) - first), last_layer_points)
            return _Points1D.of_arrays(*walked[:3], None if last_layer_points else walked[3])
        a, b = start[first : first + chunk], end[first : first + chunk]
        if has_hidden:
            return walk(net, a, b, last_layer_points)
        none = None if last_layer_points else torch.zeros(len(a), dtype=torch.long, device=device)
        return replace(_Points1D.segment_ends(len(a), device), last_counts=none)  # affine: one region

    def chunk_walk(first: int) -> tuple[int, object]:
        points = chunk_points(first)
        return first, points if finish is None else finish(points)

    return parallel.map_chunks(chunk_walk, range(0, len(start), chunk), threads if compiled else 1)


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
    a new point is inserted, one for crossings closer than :data:`COINCIDENT`. Segments are
    processed ``chunk`` at a time, all of a chunk's points batched together. On the CPU compiled
    kernels do the bookkeeping (``compiled=False``: tensor operations, as on other devices; both
    give the same points).
    """
    start, end, compiled = _checked(start, end, compiled)
    dense = _dense_walk(net, start, end, compiled)
    segment, t, layer = [], [], []
    for first, points in _walks(net, start, end, chunk, True, compiled, dense):
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

    The count is the number of breakpoints (places where hidden neurons change sign, coincident
    ones once) plus one, computed as in :func:`breakpoints_1d` but only counting the last hidden
    layer's breakpoints.
    Returns an int64 tensor of shape (n,).
    """
    start, end, compiled = _checked(start, end, compiled)
    dense = _dense_walk(net, start, end, compiled)
    if dense is not None:  # an MLP: each thread walks chunk after chunk in one compiled call
        threads = torch.get_num_threads()
        chunk = chunk or _default_chunk(start.device, len(start), threads)
        return torch.from_numpy(dense.regions(chunk, threads))
    on_cpu = start.device.type == "cpu"

    def regions(p: _Points1D) -> torch.Tensor:  # taken in the chunk's thread, in parallel
        if on_cpu:  # numpy's calls cost less than torch's on a chunk's arrays
            inner = np.bincount(p.segment.numpy()[p.layer.numpy() >= 0], minlength=len(p.last_counts))
            return torch.from_numpy(inner + p.last_counts.numpy() + 1)
        return torch.bincount(p.segment[p.layer >= 0], minlength=len(p.last_counts)) + p.last_counts + 1

    counts = [c for _, c in _walks(net, start, end, chunk, False, compiled, None, regions)]
    return torch.cat(counts) if counts else torch.zeros(0, dtype=torch.long, device=start.device)
