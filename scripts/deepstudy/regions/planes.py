"""Exact linear regions of ReLU networks in planes: the polygons each plane's square is cut into.

Each neuron's zero set is a straight line inside a polygon on which every earlier neuron keeps its
sign (see :mod:`deepstudy.regions.layers`), so polygons are split neuron by neuron, in float64; a
vertex within a relative :data:`ON_LINE` of a line counts as on it (no sliver is cut off there).
On the CPU compiled kernels (:mod:`deepstudy.regions.polygon_kernels`) cut each polygon by a whole
layer per call, on one thread unless the layer is large (starting threads costs milliseconds when
other processes keep the cores busy); on other devices tensor operations cut all polygons of all
planes by one neuron at a time. Both cut the same polygons; results stay on the input's device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from deepstudy.regions.layers import (
    DTYPE,
    apply_affine,
    dense_linear,
    float64_copy,
    hidden_blocks,
    hidden_steps,
)

#: A vertex where a neuron's z = c + s·ds + t·dt has |z| ≤ ON_LINE · (|c| + extent · (|ds| + |dt|))
#: lies on its line (``extent``: the square's side): rounding puts vertices on a line some ulps off it.
ON_LINE = 1e-11


class RegionCapExceededError(RuntimeError):
    """Exact 2D splitting would exceed the configured number of polygons."""


def _cap_exceeded(max_polygons: int) -> RegionCapExceededError:
    return RegionCapExceededError(
        f"exact 2D splitting needs more than max_polygons={max_polygons} polygons; "
        "raise the cap or use the grid estimate"
    )


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


def _split_tensor(net: nn.Module, anchors: torch.Tensor, margin: float, max_polygons: int) -> Polygons2D:
    """Split with tensor operations, on any device: each neuron cuts every polygon, all at once."""
    n = len(anchors)
    device = anchors.device
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
            tolerance = ON_LINE * (c.abs() + extent * (ds.abs() + dt.abs()))[:, None]
            z = torch.where(z.abs() <= tolerance, 0.0, z)
            valid = torch.arange(vertices.shape[1], device=device)[None, :] < count[:, None]
            cut = ((z > 0) & valid).any(dim=1) & ((z < 0) & valid).any(dim=1)
            if not bool(cut.any()):
                continue
            which = cut.nonzero().squeeze(1)
            if len(plane) + len(which) > max_polygons:
                raise _cap_exceeded(max_polygons)
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


# The compiled CPU path (see :mod:`deepstudy.regions.polygon_kernels`) ---------------------------

_CHUNK = 16_384  # input polygons counted together before the cap is checked again
#: Estimated work (ns on one thread) below which a kernel runs on one thread: starting threads
#: costs microseconds on an idle machine but milliseconds when another process keeps a core busy.
_PARALLEL_NS = 10_000_000


def _threads(tests: int, products: int = 0) -> int:
    """Threads for a kernel call making ``tests`` neuron-polygon tests (about 15 ns each) and
    ``products`` multiply-adds of a dense layer (about 0.1 ns each): torch's thread count where
    that much work pays for them, else one."""
    return torch.get_num_threads() if 15 * tests + products // 10 >= _PARALLEL_NS else 1


def _count_pieces(
    polygons: tuple[np.ndarray, np.ndarray, np.ndarray],
    maps: tuple[np.ndarray, np.ndarray, np.ndarray],
    on_line: tuple[float, float],
    max_polygons: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Each polygon's number of pieces and of their vertices after a layer, checking the cap after
    every chunk of polygons (each polygon not yet cut counts as one piece)."""
    from deepstudy.regions.polygon_kernels import split_layer

    x, y, offsets = polygons
    count, width = maps[0].shape
    done = 0
    pieces, vertices = np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.int64)
    for lo in range(0, count, _CHUNK):
        hi = min(lo + _CHUNK, count)
        budget = max_polygons - done - (count - hi)  # the polygons after the chunk make one or more
        rows = tuple(m[lo:hi] for m in maps)
        found, size, over = split_layer(
            (x, y, offsets[lo : hi + 1]), rows, on_line, budget, threads=_threads((hi - lo) * width)
        )[:3]
        done += int(found.sum())
        if over or done + count - hi > max_polygons:
            raise _cap_exceeded(max_polygons)
        pieces[lo:hi], vertices[lo:hi] = found, size
    return pieces, vertices


def _dense(block: list[nn.Module], shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    """(W, bias) in float64 of a block that is one Linear layer on flat values of ``shape`` (see
    :func:`~deepstudy.regions.layers.dense_linear`), else None."""
    linear = dense_linear(block, shape)
    if linear is None:
        return None
    weight, bias = linear.weight.detach().to("cpu", DTYPE), linear.bias
    bias = torch.zeros(len(weight), dtype=DTYPE) if bias is None else bias.detach().to("cpu", DTYPE)
    return weight.numpy(), bias.numpy()


def _first_maps(block: list[nn.Module], params: list[torch.Tensor]) -> list[torch.Tensor]:
    """The first hidden layer's maps on the planes (a dense one's in a kernel, see ``dense_maps``)."""
    from deepstudy.regions.polygon_kernels import dense_maps

    dense = _dense(block, tuple(params[0].shape[1:]))
    if dense is None:
        return apply_affine(block, params)
    flat = tuple(p.flatten(1).contiguous().numpy() for p in params)
    return [torch.from_numpy(m) for m in dense_maps(flat, *dense)]


def _split_compiled(
    net: nn.Module, anchors: torch.Tensor, margin: float, max_polygons: int, count_only: bool
) -> Polygons2D | torch.Tensor:
    """Split on the CPU with compiled kernels, a whole layer per kernel call, the polygons flat in
    NumPy arrays. A dense next layer's maps are computed in the kernel, others by torch from the
    masked maps. With ``count_only`` the last layer's pieces are counted, not written, and counts
    per plane returned."""
    from deepstudy.regions.polygon_kernels import split_layer

    n, on_line = len(anchors), (ON_LINE, 1.0 + 2 * abs(margin))
    square = _square(n, margin, anchors.device).flatten(0, 1).numpy()
    polygons = (square[:, 0].copy(), square[:, 1].copy(), np.arange(0, 4 * n + 1, 4))
    plane = np.arange(n)
    blocks = hidden_blocks(net)
    params = _first_maps(blocks[0], plane_parametrisation(anchors)) if blocks else []
    for depth in range(len(blocks)):
        shape = params[0].shape[1:]
        maps = tuple(p.flatten(1).contiguous().numpy() for p in params)
        pieces, vertices = _count_pieces(polygons, maps, on_line, max_polygons)
        last = depth == len(blocks) - 1
        if last and count_only:
            return torch.from_numpy(np.bincount(plane, weights=pieces, minlength=n).astype(np.int64))
        placed = (np.concatenate([[0], np.cumsum(pieces)]), np.concatenate([[0], np.cumsum(vertices)]))
        dense = None if last else _dense(blocks[depth + 1], tuple(shape))
        next_maps = None if last else ("masked" if dense is None else "dense")
        pieces_out, width = int(placed[0][-1]), maps[0].shape[1]
        threads = _threads(pieces_out * width, pieces_out * width * len(dense[1]) * 3 // 2 if dense else 0)
        x, y, offsets, *masked = split_layer(
            polygons, maps, on_line, max_polygons, placed, next_maps, dense, threads
        )[3:]
        polygons = (x, y, offsets)
        plane = np.repeat(plane, pieces)
        if dense is not None:
            params = [torch.from_numpy(m) for m in masked]
        elif not last:
            params = apply_affine(blocks[depth + 1], [torch.from_numpy(m).view(-1, *shape) for m in masked])
    x, y, offsets = polygons
    count = np.diff(offsets)
    if count_only:
        return torch.from_numpy(np.bincount(plane, minlength=n))
    vertices = np.zeros((len(count), int(count.max(initial=4)), 2))
    row = np.repeat(np.arange(len(count)), count)
    column = np.arange(len(x)) - np.repeat(offsets[:-1], count)
    vertices[row, column, 0], vertices[row, column, 1] = x, y
    return Polygons2D(torch.from_numpy(plane), torch.from_numpy(vertices), torch.from_numpy(count))


# The public functions --------------------------------------------------------------------------


def _use_compiled(anchors: torch.Tensor, compiled: bool | None) -> bool:
    """Compiled kernels on the CPU unless ``compiled`` says otherwise; they refuse other devices."""
    if compiled and anchors.device.type != "cpu":
        raise ValueError(f"the compiled region kernels run on the CPU, not on {anchors.device}")
    return anchors.device.type == "cpu" if compiled is None else compiled


@torch.no_grad()
def polygons_2d(
    net: nn.Module,
    anchors: torch.Tensor,
    margin: float = 0.0,
    max_polygons: int = 2_000_000,
    compiled: bool | None = None,
) -> Polygons2D:
    """The polygons into which the hidden neurons cut each plane's square s, t ∈ [-margin, 1 + margin].

    Each neuron's zero set is a straight line inside a polygon on which earlier neurons keep their
    signs, so polygons are split by each neuron in turn. On the CPU compiled kernels split
    (``compiled=False``: tensor operations, as on other devices; both cut the same polygons).
    Raises :class:`RegionCapExceededError` rather than truncating when more than ``max_polygons`` arise.
    """
    anchors = anchors.detach()
    if _use_compiled(anchors, compiled):  # layers are read in float64 as needed, not copied
        return _split_compiled(net, anchors, margin, max_polygons, count_only=False)
    return _split_tensor(float64_copy(net, anchors.device), anchors, margin, max_polygons)


@torch.no_grad()
def count_regions_2d(
    net: nn.Module,
    anchors: torch.Tensor,
    margin: float = 0.0,
    max_polygons: int = 2_000_000,
    compiled: bool | None = None,
) -> torch.Tensor:
    """Exact number of activation regions meeting each plane's square (see :func:`polygons_2d`).

    ``anchors`` is (n, 3, *input_shape); plane i is a0 + s (a1 − a0) + t (a2 − a0) over
    s, t ∈ [−margin, 1 + margin]. Activation regions are convex, so each meets the square in one
    polygon and the count is the number of polygons.
    """
    anchors = anchors.detach()
    if _use_compiled(anchors, compiled):
        return _split_compiled(net, anchors, margin, max_polygons, count_only=True)
    polygons = polygons_2d(net, anchors, margin, max_polygons, compiled=False)
    return torch.bincount(polygons.plane, minlength=len(anchors))
