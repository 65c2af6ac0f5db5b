"""The next dense layer's values at the new points of a 1D walk's layer, by interpolation.

Between two consecutive points of a segment a layer's values are affine, so relu of them is the
interpolation of relu at the two points but in the neurons that cross zero there, and the next
dense layer, affine, follows with two running sums of weight columns per interval: a few passes
over a row per new point, where a matrix product would take a row of the full product. The walk
(:mod:`deepstudy.regions.kernels`) places the points; :func:`merge` gives their values.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from deepstudy.regions.kernels import _MAGNITUDE_BITS, _lerp

# A new point's value is recomputed term by term where some coordinate is this close to zero,
# relative to the size of the terms that went into it: there the interpolation's rounding could
# decide its sign, e.g. where a whole layer is off and the next one is exactly its bias.
_NEAR_ZERO = 1e-11


@njit(cache=True, inline="always")
def _as_float(bits: int, scratch: tuple) -> float:
    """The float64 whose bits are ``bits``. ``scratch``: a one-element int64 array and its float64
    view."""
    scratch[0][0] = bits
    return scratch[1][0]


@njit(cache=True, inline="always")
def _extreme_magnitude(bits: np.ndarray, row: int, largest: bool, scratch: tuple) -> float:
    """max |value| (``largest``) or min |value| of a row, given the array's bits read as integers
    (``bits``), compared as integers: four times faster than as floats, and no temporary array
    (the kernels run it once per new point)."""
    extreme = np.int64(0) if largest else _MAGNITUDE_BITS
    for k in range(bits.shape[1]):
        magnitude = bits[row, k] & _MAGNITUDE_BITS
        if largest:
            extreme = magnitude if magnitude > extreme else extreme
        else:
            extreme = magnitude if magnitude < extreme else extreme
    return _as_float(extreme, scratch)


@njit(cache=True, inline="always")
def _evaluate(
    out: np.ndarray, row: int, z: np.ndarray, i: int, w: float, crossing: tuple, layer: tuple
) -> None:
    """The new point ``row`` (at w between old points i and i + 1) evaluated term by term: bias +
    sum of W_k relu(z_k) over its active neurons, those crossing there (``crossing``: the neurons
    of all crossings, the range of this point's, and a scratch flag per neuron) being zero."""
    neuron, first, stop, crossing_here = crossing
    columns, bias = layer
    for c in range(first, stop):
        crossing_here[neuron[c]] = True
    for m in range(out.shape[1]):
        out[row, m] = bias[m]
    for k in range(len(columns)):
        active = _lerp(z[i, k], z[i + 1, k], w)
        if active > 0.0 and not crossing_here[k]:
            for m in range(out.shape[1]):
                out[row, m] += active * columns[k, m]
    for c in range(first, stop):
        crossing_here[neuron[c]] = False


@njit(cache=True, nogil=True)
def merge(
    y: np.ndarray,
    z: np.ndarray,
    destination: np.ndarray,
    start: np.ndarray,
    neuron: np.ndarray,
    point_weight: np.ndarray,
    abs_left: np.ndarray,
    abs_right: np.ndarray,
    slot: np.ndarray,
    columns: np.ndarray,
    bias: np.ndarray,
    offset: np.ndarray,
    old_rows: bool,
) -> np.ndarray:
    """The next dense layer's pre-activations at every merged point (``old_rows``) or at the new
    points only, from its values ``y + offset`` at the old points (``y`` float64 or float32,
    ``offset`` a float64 row, e.g. the bias of a product taken without it), without a matrix
    product for the new ones.

    On an interval between old points L and R where neurons j = 1..m cross zero at w_1 <= ... <=
    w_m (going from a_j to b_j), relu(z(w)) equals the interpolation of relu(z(L)) and relu(z(R))
    except in the crossing coordinates, where it falls short by |b_j| w before w_j and by
    |a_j| (1 - w) after. The next layer being affine, at the new point of slot q (weight w_q)

        y(w_q) = lerp(y_L, y_R, w_q) - (1 - w_q) sum_{slot j <= q} |a_j| W_j - w_q sum_{slot j > q} |b_j| W_j

    with W_j the weight column of neuron j (``columns[j]``, the rows of W transposed): two running
    sums per interval. Where a coordinate comes out near zero (see ``_NEAR_ZERO``) the point is
    evaluated directly, bias + sum of W_k relu(z_k) over its active neurons (those crossing there
    are zero), as a matrix product would. ``z`` holds the layer's own values at the old points.

    Most intervals hold one crossing and one new point: that point is made in one pass over its
    row, with the same operations in the same order as the running sums, so bit for bit the same.
    Rows are indexed in place, not taken as views (each view costs two atomic reference counts).
    """
    points, width = y.shape
    added = len(point_weight)
    out = np.empty((points + added if old_rows else added, width))
    out_bits = out.view(np.int64)
    running, ends = np.empty(width), np.empty((2, width))  # an interval's ends: y + offset
    end_bits = ends.view(np.int64)
    crossing_here = np.zeros(len(columns), dtype=np.bool_)
    bits = np.empty(1, dtype=np.int64)
    scratch = (bits, bits.view(np.float64))
    largest_weight = np.empty(len(columns))  # (compared as floats, this pass cost a chunk 25 us)
    column_bits = columns.view(np.int64)
    for k in range(len(columns)):
        largest_weight[k] = _extreme_magnitude(column_bits, k, True, scratch)
    layer = (columns, bias)
    for i in range(points):
        at = destination[i]
        if old_rows:
            for k in range(width):
                out[at, k] = y[i, k] + offset[k]
        found = (destination[i + 1] - at - 1) if i < points - 1 else 0
        if found == 0:
            continue
        first, last, points_before = start[i], start[i + 1], at - i
        before = at if old_rows else points_before - 1  # new point q is row before + q
        if found == 1 and last - first == 1:  # one crossing, one new point: one pass
            w, row, j = point_weight[points_before], before + 1, neuron[first]
            size, keep = abs_left[first], 1.0 - w
            largest_left, largest_right, smallest = np.int64(0), np.int64(0), _MAGNITUDE_BITS
            for k in range(width):
                ends[0, k] = y[i, k] + offset[k]
                ends[1, k] = y[i + 1, k] + offset[k]
                value = _lerp(ends[0, k], ends[1, k], w) - keep * (0.0 + size * columns[j, k])
                out[row, k] = value
                left_magnitude = end_bits[0, k] & _MAGNITUDE_BITS
                right_magnitude = end_bits[1, k] & _MAGNITUDE_BITS
                magnitude = out_bits[row, k] & _MAGNITUDE_BITS
                largest_left = left_magnitude if left_magnitude > largest_left else largest_left
                largest_right = right_magnitude if right_magnitude > largest_right else largest_right
                smallest = magnitude if magnitude < smallest else smallest
            scale = _as_float(largest_left, scratch) + _as_float(largest_right, scratch)
            scale += (abs_left[first] + abs_right[first]) * largest_weight[j]
            if _as_float(smallest, scratch) <= _NEAR_ZERO * scale:
                _evaluate(out, row, z, i, w, (neuron, first, last, crossing_here), layer)
            continue
        for k in range(width):
            ends[0, k] = y[i, k] + offset[k]
            ends[1, k] = y[i + 1, k] + offset[k]
        scale = _extreme_magnitude(end_bits, 0, True, scratch) + _extreme_magnitude(
            end_bits, 1, True, scratch
        )
        for c in range(first, last):
            scale += (abs_left[c] + abs_right[c]) * largest_weight[neuron[c]]
        running[:] = 0.0
        c = first
        for q in range(1, found + 1):
            w, row = point_weight[points_before + q - 1], before + q
            while c < last and slot[c] <= q:
                size, j = abs_left[c], neuron[c]
                for k in range(width):
                    running[k] += size * columns[j, k]
                c += 1
            for k in range(width):
                out[row, k] = _lerp(ends[0, k], ends[1, k], w) - (1.0 - w) * running[k]
        running[:] = 0.0
        c = last - 1
        for q in range(found, 0, -1):
            w, row = point_weight[points_before + q - 1], before + q
            while c >= first and slot[c] > q:
                size, j = abs_right[c], neuron[c]
                for k in range(width):
                    running[k] += size * columns[j, k]
                c -= 1
            for k in range(width):
                out[row, k] -= w * running[k]
            if _extreme_magnitude(out_bits, row, False, scratch) <= _NEAR_ZERO * scale:
                e = c  # this point's crossings: slots q, ending at c
                while e >= first and slot[e] == q:
                    e -= 1
                _evaluate(out, row, z, i, w, (neuron, e + 1, c + 1, crossing_here), layer)
    return out
