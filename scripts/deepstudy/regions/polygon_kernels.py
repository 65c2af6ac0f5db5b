"""Compiled CPU kernels for exact 2D region splitting (see :mod:`deepstudy.regions.planes`).

With tensor operations every neuron costs a dozen small operations over all polygons, plus copies
of all polygons' vertices and affine maps whenever one is cut. Here one kernel call cuts each
polygon of a layer's input by all of the layer's neurons in turn (their pre-activations are affine
on it, c + s·ds + t·dt: one row of maps per input polygon), the pieces kept in a pool of vertices
that only grows: a cut writes its two halves at the pool's end, an uncut piece is not touched. A
neuron whose zero line misses the input polygon misses its pieces too (they lie inside it), so it
is tested once, on the polygon's own vertices; the others are the polygon's cutters.

A layer takes two calls of :func:`split_layer`: the first counts each polygon's pieces and
vertices, the second (after the caller has placed them) cuts again and writes them, with each
piece's maps for the next layer: those of a dense next layer computed here (the pieces of a
polygon share all but their cutters' part of the product), otherwise the masked maps (neurons
inactive at the piece's centroid zeroed) for torch to push on. Workers take input polygons in
turn, not in ranges, so that a worker's share does not depend on where the dense areas of the
planes lie. Compiled once by Numba and cached on disk. The cuts use the tensor path's float64
arithmetic in its order; the next layer's product sums in another order than torch's, so the two
paths' polygons agree to rounding (and their counts exactly, but for ties at that level).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from deepstudy.regions import parallel as threads_pool


@njit(cache=True)
def _grow(array: np.ndarray, size: int) -> np.ndarray:
    """``array``, or a copy at least twice as long if it is shorter than ``size``."""
    if size <= len(array):
        return array
    out = np.empty(max(size, 2 * len(array)), dtype=array.dtype)
    out[: len(array)] = array
    return out


@njit(cache=True, inline="always")
def _clip(x: np.ndarray, y: np.ndarray, first: int, count: int, z: np.ndarray, side: float, at: int) -> int:
    """Write the part of polygon ``first``..``first + count`` where side · z ≥ 0 at ``at``; returns
    the pool's new end. An edge whose ends lie strictly on opposite sides adds its zero crossing."""
    for v in range(count):
        following = v + 1 if v + 1 < count else 0
        here, there = z[v], z[following]
        if side * here >= 0:
            x[at], y[at] = x[first + v], y[first + v]
            at += 1
        if here * there < 0:
            weight = here / (here - there)
            x[at] = x[first + v] + weight * (x[first + following] - x[first + v])
            y[at] = y[first + v] + weight * (y[first + following] - y[first + v])
            at += 1
    return at


@njit(cache=True)
def _split_polygon(
    x: np.ndarray,
    y: np.ndarray,
    c: np.ndarray,
    ds: np.ndarray,
    dt: np.ndarray,
    on_line: tuple[float, float],
    limit: int,
    pool: tuple,
) -> tuple[int, int, tuple]:
    """Cut the convex polygon (x, y) by each neuron (maps ``c``, ``ds``, ``dt``) in turn; a vertex
    where |z| ≤ relative · (|c| + extent · (|ds| + |dt|)), ``on_line`` = (relative, extent), lies
    on the neuron's line.

    ``pool`` is (vertex x, vertex y, piece start, piece size, and scratch: z, cutters, tolerances,
    sides), grown as needed and returned. Returns the number of pieces (the pool's first ones; -1
    past ``limit`` pieces) and of cutters, the neurons whose line crosses the polygon (all others
    keep their sign on it); their indices are the pool's first cutters.
    """
    px, py, start, size, z, cutters, tolerance, side = pool
    relative, extent = on_line
    width, n = len(c), len(x)
    cutters, tolerance, side = _grow(cutters, width), _grow(tolerance, width), _grow(side, width)
    for k in range(width):  # the neurons that cut the polygon, all at once (the loops vectorise)
        tolerance[k] = relative * (abs(c[k]) + extent * (abs(ds[k]) + abs(dt[k])))
        side[k] = 0
    for v in range(n):
        xv, yv = x[v], y[v]
        for k in range(width):
            value = c[k] + xv * ds[k] + yv * dt[k]
            side[k] |= (value > tolerance[k]) | ((value < -tolerance[k]) << 1)
    crossing = 0
    for k in range(width):
        if side[k] == 3:  # positive and negative at some vertices
            cutters[crossing] = k
            crossing += 1
    px, py = _grow(px, n), _grow(py, n)
    px[:n], py[:n] = x, y
    start[0], size[0] = 0, n
    pieces, used = 1, n
    for q in range(crossing):  # the others miss the polygon, so they miss every piece
        k = cutters[q]
        ck, sk, tk, on = c[k], ds[k], dt[k], tolerance[k]
        for j in range(pieces):
            first, count = start[j], size[j]
            z = _grow(z, count)
            positive = negative = False
            for v in range(count):
                value = ck + px[first + v] * sk + py[first + v] * tk
                if abs(value) <= on:
                    value = 0.0
                z[v] = value
                positive |= value > 0
                negative |= value < 0
            if not (positive and negative):
                continue
            if pieces >= limit:
                return -1, crossing, (px, py, start, size, z, cutters, tolerance, side)
            px, py = _grow(px, used + 2 * count + 4), _grow(py, used + 2 * count + 4)
            start, size = _grow(start, pieces + 1), _grow(size, pieces + 1)
            start[j] = used
            used = _clip(px, py, first, count, z, 1.0, used)
            size[j] = used - start[j]
            start[pieces] = used
            used = _clip(px, py, first, count, z, -1.0, used)
            size[pieces] = used - start[pieces]
            pieces += 1
    return pieces, crossing, (px, py, start, size, z, cutters, tolerance, side)


@njit(cache=True)
def _add_rows(maps: tuple, active: np.ndarray, count: int, weight_t: np.ndarray, out: tuple) -> None:
    """Add Σ_k m_k · Wᵀ[k] over the neurons k = ``active[:count]`` to ``out`` = (c, ds, dt) for the
    maps ``maps`` = (c, ds, dt) of one polygon. Rows of Wᵀ are contiguous, so the loops vectorise;
    four rows at a time make a pass over ``out`` (the bound on speed) do four times the work."""
    c, ds, dt = maps
    out_c, out_ds, out_dt = out
    a = 0
    while a + 4 <= count:
        k0, k1, k2, k3 = active[a], active[a + 1], active[a + 2], active[a + 3]
        r0, r1, r2, r3 = weight_t[k0], weight_t[k1], weight_t[k2], weight_t[k3]
        c0, c1, c2, c3 = c[k0], c[k1], c[k2], c[k3]
        s0, s1, s2, s3 = ds[k0], ds[k1], ds[k2], ds[k3]
        t0, t1, t2, t3 = dt[k0], dt[k1], dt[k2], dt[k3]
        for o in range(len(out_c)):
            w0, w1, w2, w3 = r0[o], r1[o], r2[o], r3[o]
            out_c[o] += (c0 * w0 + c1 * w1) + (c2 * w2 + c3 * w3)
            out_ds[o] += (s0 * w0 + s1 * w1) + (s2 * w2 + s3 * w3)
            out_dt[o] += (t0 * w0 + t1 * w1) + (t2 * w2 + t3 * w3)
        a += 4
    for k in active[a:count]:
        row = weight_t[k]
        for o in range(len(out_c)):
            out_c[o] += c[k] * row[o]
            out_ds[o] += ds[k] * row[o]
            out_dt[o] += dt[k] * row[o]


@njit(cache=True, inline="always")
def _on(c: np.ndarray, ds: np.ndarray, dt: np.ndarray, k: int, centre_x: float, centre_y: float) -> bool:
    """Whether neuron k is active at a piece's centre, in the tensor path's order of operations."""
    return c[k] + centre_x * ds[k] + centre_y * dt[k] > 0


@njit(cache=True, inline="always")
def _centre(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    return np.sum(x) / len(x), np.sum(y) / len(y)


@njit(cache=True)
def dense_maps(
    maps: tuple, weight: np.ndarray, bias: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A dense layer's maps (c Wᵀ + bias, ds Wᵀ, dt Wᵀ) from its input's maps (c, ds, dt), each
    (P, D), on one thread: the first layer's, for a few planes, cost less than starting threads."""
    c, ds, dt = maps
    weight_t = np.ascontiguousarray(weight.T)
    out = (np.empty((len(c), len(bias))), np.empty((len(c), len(bias))), np.empty((len(c), len(bias))))
    every = np.arange(len(weight_t))
    for i in range(len(c)):
        row = (out[0][i], out[1][i], out[2][i])
        row[0][:], row[1][:], row[2][:] = bias, 0.0, 0.0
        _add_rows((c[i], ds[i], dt[i]), every, len(every), weight_t, row)
    return out


@njit(cache=True, nogil=True)
def _split_share(
    share: int,
    shares: int,
    polygons: tuple,
    maps: tuple,
    on_line: tuple,
    budget: int,
    placed: tuple,
    found: tuple,
    out: tuple,
    dense: tuple,
) -> None:
    """Cut polygons ``share``, ``share + shares``, ... (see :func:`split_layer`), with one pool.

    A dense next layer's maps at a piece are W (mask ⊙ maps) + bias; the mask differs between the
    pieces of one polygon only at its cutters, so the other neurons' part (``base``, by the mask at
    the polygon's centre) is computed once per polygon and each piece adds its active cutters'.
    """
    x, y, offsets = polygons
    c, ds, dt = maps
    piece_offsets, vertex_offsets = placed
    pieces, vertices, over = found
    out_x, out_y, out_offsets, out_c, out_ds, out_dt = out
    weight_t, bias = dense
    write, next_maps, is_dense = len(piece_offsets) > 0, len(out_c) > 0, len(weight_t) > 0
    pool = (
        np.empty(256),
        np.empty(256),
        np.empty(64, np.int64),
        np.empty(64, np.int64),
        np.empty(16),
        np.empty(0, np.int64),
        np.empty(0),
        np.empty(0, np.uint8),
    )
    cutter = np.zeros(c.shape[1], dtype=np.bool_)
    active = np.empty(c.shape[1], dtype=np.int64)
    base = (np.empty(len(bias)), np.empty(len(bias)), np.empty(len(bias)))
    polygons_here, made, taken = len(offsets) - 1, 0, 0
    for i in range(share, polygons_here, shares):
        if over[0]:
            return  # the budget is spent (another worker may have found it so)
        lo, hi = offsets[i], offsets[i + 1]
        limit = budget - made - (polygons_here - taken - 1)  # every other polygon makes a piece or more
        count, crossing, pool = _split_polygon(x[lo:hi], y[lo:hi], c[i], ds[i], dt[i], on_line, limit, pool)
        px, py, start, size, cutters = pool[0], pool[1], pool[2], pool[3], pool[5]
        pieces[i] = count
        if count < 0:
            over[0] = True
            return
        made, taken = made + count, taken + 1
        for j in range(count):
            vertices[i] += size[j]
        if not write:
            continue
        if is_dense:
            centre_x, centre_y = _centre(x[lo:hi], y[lo:hi])
            cutter[cutters[:crossing]] = True
            on = 0
            for k in range(c.shape[1]):
                if not cutter[k] and _on(c[i], ds[i], dt[i], k, centre_x, centre_y):
                    active[on] = k
                    on += 1
            base[0][:], base[1][:], base[2][:] = bias, 0.0, 0.0
            _add_rows((c[i], ds[i], dt[i]), active, on, weight_t, base)
            cutter[cutters[:crossing]] = False
        at = vertex_offsets[i]
        for j in range(count):
            piece, first, m = piece_offsets[i] + j, start[j], size[j]
            out_offsets[piece] = at
            out_x[at : at + m] = px[first : first + m]
            out_y[at : at + m] = py[first : first + m]
            at += m
            if not next_maps:
                continue
            centre_x, centre_y = _centre(px[first : first + m], py[first : first + m])
            row = (out_c[piece], out_ds[piece], out_dt[piece])
            if is_dense:
                on = 0
                for k in cutters[:crossing]:
                    if _on(c[i], ds[i], dt[i], k, centre_x, centre_y):
                        active[on] = k
                        on += 1
                row[0][:], row[1][:], row[2][:] = base
                _add_rows((c[i], ds[i], dt[i]), active, on, weight_t, row)
                continue
            for k in range(c.shape[1]):
                on = _on(c[i], ds[i], dt[i], k, centre_x, centre_y)
                row[0][k], row[1][k], row[2][k] = (c[i, k], ds[i, k], dt[i, k]) if on else (0.0, 0.0, 0.0)


def split_layer(
    polygons: tuple[np.ndarray, np.ndarray, np.ndarray],
    maps: tuple[np.ndarray, np.ndarray, np.ndarray],
    on_line: tuple[float, float],
    budget: int,
    placed: tuple[np.ndarray, np.ndarray] | None = None,
    next_maps: str | None = None,
    dense: tuple[np.ndarray, np.ndarray] | None = None,
    threads: int = 1,
) -> tuple[np.ndarray, ...]:
    """Cut polygon i (vertices ``offsets[i]``..``offsets[i + 1]`` of ``polygons`` = (x, y, offsets))
    by the neurons of row i of ``maps`` = (c, ds, dt), each (P, W); ``on_line`` = (relative
    tolerance, extent of the square), see ``_split_polygon``.

    Returns each polygon's number of pieces and of their vertices, and whether the polygons would
    make more than ``budget`` pieces in all (then the counts are incomplete: the work stops). Given
    ``placed`` = (piece offsets, vertex offsets) from those counts, polygon i's pieces also become
    pieces ``piece_offsets[i]``.. of the output, their vertices from ``vertex_offsets[i]``, and the
    output's vertex x, y and piece offsets follow; with ``next_maps`` = "masked" each piece's maps,
    the neurons inactive at its centroid zeroed; with "dense" those maps pushed through the next
    layer, ``dense`` = (W, bias). Polygons are dealt in turn to ``threads`` workers, each with its
    own pool, on threads of :mod:`deepstudy.regions.parallel` (the kernel releases the GIL).
    """
    x, y, offsets = polygons
    count, width = maps[0].shape
    piece_offsets, vertex_offsets = placed if placed is not None else (np.zeros(0, np.int64),) * 2
    total_pieces = int(piece_offsets[-1]) if placed is not None else 0
    total_vertices = int(vertex_offsets[-1]) if placed is not None else 0
    weight_t, bias = (
        (np.ascontiguousarray(dense[0].T), dense[1]) if dense is not None else (np.zeros((0, 0)), np.zeros(0))
    )
    columns = {None: 0, "masked": width, "dense": len(bias)}[next_maps]
    rows = total_pieces if next_maps else 0
    out = (
        np.empty(total_vertices),
        np.empty(total_vertices),
        np.full(total_pieces + 1, total_vertices, dtype=np.int64),
        *(np.empty((rows, columns)) for _ in range(3)),
    )
    found = (np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.int64), np.zeros(1, dtype=np.bool_))
    args = (
        (x, y, offsets),
        maps,
        on_line,
        budget,
        (piece_offsets, vertex_offsets),
        found,
        out,
        (weight_t, bias),
    )
    shares = max(1, min(threads, count))
    threads_pool.map_chunks(lambda share: _split_share(share, shares, *args), range(shares), shares)
    return found[0], found[1], bool(found[2][0]), *out
