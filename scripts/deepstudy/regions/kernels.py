"""Compiled CPU kernels for the exact 1D region walk (see :mod:`deepstudy.regions`).

On a CPU the walk is bound by its float64 matrix products and by memory traffic: each layer needs
the sign changes between consecutive points and a new point, with the next layer's values, at
each crossing. Done with tensor operations that is a dozen passes over the points' values and a
matrix-product row per point. These kernels keep the points sorted along their segments (every
pass reads consecutive rows), find and place crossings in two passes (count, then split), and
give the next dense layer's values at the new points by interpolation (``merge``), so the matrix
product covers only the points that existed before the layer. Compiled once by Numba and cached on
disk; the matrix products stay with torch. Arithmetic is float64; interpolation uses
``torch.lerp``'s formula, like the tensor path, and both place the same breakpoints.
"""

from __future__ import annotations

import numpy as np
from numba import config, njit, prange, set_num_threads


@njit(cache=True, inline="always")
def _crosses(a: float, b: float) -> bool:
    """Strictly opposite signs: a neuron that is exactly zero at a point does not cross there."""
    return (a < 0.0) != (b < 0.0) and a != 0.0 and b != 0.0


@njit(cache=True, inline="always")
def _lerp(a: float, b: float, weight: float) -> float:
    """torch.lerp's formula (exact at both ends), as the tensor path interpolates."""
    return a + weight * (b - a) if abs(weight) < 0.5 else b - (b - a) * (1.0 - weight)


@njit(cache=True, parallel=True)
def interval_crossings(z: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Number of neurons changing sign between consecutive points of one segment (rows sorted)."""
    points, width = z.shape
    counts = np.zeros(max(points - 1, 0), dtype=np.int64)
    for i in prange(points - 1):
        if segment[i] == segment[i + 1]:
            count = 0
            for k in range(width):
                count += _crosses(z[i, k], z[i + 1, k])
            counts[i] = count
    return counts


@njit(cache=True)
def per_segment(counts: np.ndarray, segment: np.ndarray, segments: int) -> np.ndarray:
    """Sum of interval counts over each segment's intervals."""
    out = np.zeros(segments, dtype=np.int64)
    for i in range(len(counts)):
        out[segment[i]] += counts[i]
    return out


@njit(cache=True, parallel=True)
def split(
    z: np.ndarray,
    t: np.ndarray,
    segment: np.ndarray,
    layer: np.ndarray,
    counts: np.ndarray,
    depth: int,
    rectify: bool,
) -> tuple[np.ndarray, ...]:
    """Insert a point at every crossing counted in ``counts``.

    Between two consecutive points z is affine, so a neuron going from a to b crosses zero at
    fraction w = a / (a - b) of the way. Crossings in one interval are placed in order of w.
    Returns, for the merged sorted points, ``t``, ``segment`` and ``layer``; where each old point
    went; for each new point (sorted) its neuron, w, |a| and |b|; and, with ``rectify``, every
    merged point's rectified values relu(z) (a new point's are its neighbours' interpolated, with
    its neuron exactly zero).
    """
    points, width = z.shape
    destination = np.empty(points, dtype=np.int64)
    added = 0
    for i in range(points):
        destination[i] = i + added
        if i < points - 1:
            added += counts[i]
    size = points + added
    values = np.empty((size if rectify else 0, width))
    t_out = np.empty(size)
    segment_out = np.empty(size, dtype=np.int64)
    layer_out = np.empty(size, dtype=np.int64)
    neuron = np.empty(added, dtype=np.int64)
    weight = np.empty(added)
    abs_left = np.empty(added)
    abs_right = np.empty(added)
    for i in prange(points):
        at = destination[i]
        t_out[at], segment_out[at], layer_out[at] = t[i], segment[i], layer[i]
        if rectify:
            for k in range(width):
                values[at, k] = max(z[i, k], 0.0)
        found = counts[i] if i < points - 1 else 0
        if found == 0:
            continue
        first = at - i  # this interval's crossings in the per-crossing arrays
        j = first
        for k in range(width):
            a, b = z[i, k], z[i + 1, k]
            if _crosses(a, b):
                neuron[j], weight[j], abs_left[j], abs_right[j] = k, a / (a - b), abs(a), abs(b)
                j += 1
        placed = first + np.argsort(weight[first : first + found], kind="mergesort")
        neuron[first : first + found] = neuron[placed]
        weight[first : first + found] = weight[placed]
        abs_left[first : first + found] = abs_left[placed]
        abs_right[first : first + found] = abs_right[placed]
        for q in range(found):
            w, row = weight[first + q], at + 1 + q
            t_out[row] = _lerp(t[i], t[i + 1], w)
            segment_out[row], layer_out[row] = segment[i], depth
            if rectify:
                for k in range(width):
                    values[row, k] = max(_lerp(z[i, k], z[i + 1, k], w), 0.0)
                values[row, neuron[first + q]] = 0.0
    return values, t_out, segment_out, layer_out, destination, neuron, weight, abs_left, abs_right


# A new point's value is recomputed term by term where some coordinate is this close to zero,
# relative to the size of the terms that went into it: there the interpolation's rounding could
# decide its sign, e.g. where a whole layer is off and the next one is exactly its bias.
_NEAR_ZERO = 1e-11


@njit(cache=True, parallel=True)
def merge(
    y: np.ndarray,
    z: np.ndarray,
    destination: np.ndarray,
    neuron: np.ndarray,
    weight: np.ndarray,
    abs_left: np.ndarray,
    abs_right: np.ndarray,
    columns: np.ndarray,
    bias: np.ndarray,
    blocks: int,
) -> np.ndarray:
    """The next dense layer's pre-activations at every merged point, from its values ``y`` at the
    old points only, without a matrix product for the new ones.

    On an interval between old points L and R where neurons j = 1..m cross zero at w_1 <= ... <=
    w_m (going from a_j to b_j), relu(z(w)) equals the interpolation of relu(z(L)) and relu(z(R))
    except in the crossing coordinates, where it falls short by |b_j| w before w_j and by
    |a_j| (1 - w) after. The next layer being affine, at the q-th crossing

        y(w_q) = lerp(y_L, y_R, w_q) - (1 - w_q) sum_{j <= q} |a_j| W_j - w_q sum_{j > q} |b_j| W_j

    with W_j the weight column of neuron j (``columns[j]``, the rows of W transposed): two running
    sums per interval. Where a coordinate comes out near zero (see ``_NEAR_ZERO``) the point is
    evaluated directly, bias + sum of W_k relu(z_k) over its active neurons, as a matrix product
    would. ``z`` holds the layer's own values at the old points; work is split into ``blocks``
    ranges of intervals, one scratch vector each.
    """
    points, width = y.shape
    added = len(weight)
    out = np.empty((points + added, width))
    largest_weight = np.empty(len(columns))
    for k in range(len(columns)):
        largest_weight[k] = np.max(np.abs(columns[k]))
    per_block = (points + blocks - 1) // blocks
    for block in prange(blocks):
        running = np.empty(width)
        for i in range(block * per_block, min(points, (block + 1) * per_block)):
            at = destination[i]
            out[at, :] = y[i, :]
            found = (destination[i + 1] - at - 1) if i < points - 1 else 0
            if found == 0:
                continue
            first = at - i
            scale = np.max(np.abs(y[i])) + np.max(np.abs(y[i + 1]))
            running[:] = 0.0
            for q in range(found):
                c, row = first + q, at + 1 + q
                w, column = weight[c], columns[neuron[c]]
                scale += (abs_left[c] + abs_right[c]) * largest_weight[neuron[c]]
                for k in range(width):
                    running[k] += abs_left[c] * column[k]
                    out[row, k] = _lerp(y[i, k], y[i + 1, k], w) - (1.0 - w) * running[k]
            running[:] = 0.0
            for q in range(found - 1, -1, -1):
                c, row = first + q, at + 1 + q
                w, column = weight[c], columns[neuron[c]]
                for k in range(width):
                    out[row, k] -= w * running[k]
                    running[k] += abs_right[c] * column[k]
                if np.min(np.abs(out[row])) <= _NEAR_ZERO * scale:
                    out[row, :] = bias
                    for k in range(len(columns)):
                        active = _lerp(z[i, k], z[i + 1, k], w)
                        if active > 0.0 and k != neuron[c]:
                            out[row, :] += active * columns[k]
    return out


def use_threads(count: int) -> None:
    """Run the parallel kernels on ``count`` threads (at most as many as Numba started), as many
    as torch uses, so that neither oversubscribes a job's cores."""
    set_num_threads(max(1, min(count, config.NUMBA_NUM_THREADS)))
