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
def _extreme_magnitude(row: np.ndarray, largest: bool, scratch: tuple) -> float:
    """max |row| (``largest``) or min |row| without a temporary array (the kernels run it once per
    new point), compared as integers: four times faster than as floats. ``scratch``: a one-element
    int64 array and its float64 view, to read the bits back as a float."""
    bits, as_float = scratch
    values = row.view(np.int64)
    extreme = np.int64(0) if largest else _MAGNITUDE_BITS
    for k in range(len(values)):
        magnitude = values[k] & _MAGNITUDE_BITS
        if largest:
            extreme = magnitude if magnitude > extreme else extreme
        else:
            extreme = magnitude if magnitude < extreme else extreme
    bits[0] = extreme
    return as_float[0]


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
) -> np.ndarray:
    """The next dense layer's pre-activations at every merged point, from its values ``y + offset``
    at the old points only (``y`` float64 or float32, ``offset`` a float64 row, e.g. the bias of a
    product taken without it), without a matrix product for the new ones.

    On an interval between old points L and R where neurons j = 1..m cross zero at w_1 <= ... <=
    w_m (going from a_j to b_j), relu(z(w)) equals the interpolation of relu(z(L)) and relu(z(R))
    except in the crossing coordinates, where it falls short by |b_j| w before w_j and by
    |a_j| (1 - w) after. The next layer being affine, at the new point of slot q (weight w_q)

        y(w_q) = lerp(y_L, y_R, w_q) - (1 - w_q) sum_{slot j <= q} |a_j| W_j - w_q sum_{slot j > q} |b_j| W_j

    with W_j the weight column of neuron j (``columns[j]``, the rows of W transposed): two running
    sums per interval. Where a coordinate comes out near zero (see ``_NEAR_ZERO``) the point is
    evaluated directly, bias + sum of W_k relu(z_k) over its active neurons (those crossing there
    are zero), as a matrix product would. ``z`` holds the layer's own values at the old points.
    """
    points, width = y.shape
    added = len(point_weight)
    out = np.empty((points + added, width))
    largest_weight = np.zeros(len(columns))
    for k in range(len(columns)):
        for m in range(width):
            largest_weight[k] = max(largest_weight[k], abs(columns[k, m]))
    running, y_right = np.empty(width), np.empty(width)
    crossing_here = np.zeros(len(columns), dtype=np.bool_)
    bits = np.empty(1, dtype=np.int64)
    scratch = (bits, bits.view(np.float64))
    for i in range(points):
        at = destination[i]
        for k in range(width):
            out[at, k] = y[i, k] + offset[k]
        found = (destination[i + 1] - at - 1) if i < points - 1 else 0
        if found == 0:
            continue
        first, last, points_before = start[i], start[i + 1], at - i
        y_left = out[at]
        for k in range(width):
            y_right[k] = y[i + 1, k] + offset[k]
        scale = _extreme_magnitude(y_left, True, scratch) + _extreme_magnitude(y_right, True, scratch)
        for c in range(first, last):
            scale += (abs_left[c] + abs_right[c]) * largest_weight[neuron[c]]
        running[:] = 0.0
        c = first
        for q in range(1, found + 1):
            w, row = point_weight[points_before + q - 1], at + q
            while c < last and slot[c] <= q:
                column = columns[neuron[c]]
                for k in range(width):
                    running[k] += abs_left[c] * column[k]
                c += 1
            for k in range(width):
                out[row, k] = _lerp(y_left[k], y_right[k], w) - (1.0 - w) * running[k]
        running[:] = 0.0
        c = last - 1
        for q in range(found, 0, -1):
            w, row = point_weight[points_before + q - 1], at + q
            while c >= first and slot[c] > q:
                column = columns[neuron[c]]
                for k in range(width):
                    running[k] += abs_right[c] * column[k]
                c -= 1
            for k in range(width):
                out[row, k] -= w * running[k]
            if _extreme_magnitude(out[row], False, scratch) <= _NEAR_ZERO * scale:
                e = c  # this point's crossings: slots q, ending at c
                while e >= first and slot[e] == q:
                    crossing_here[neuron[e]] = True
                    e -= 1
                out[row, :] = bias
                for k in range(len(columns)):
                    active = _lerp(z[i, k], z[i + 1, k], w)
                    if active > 0.0 and not crossing_here[k]:
                        out[row, :] += active * columns[k]
                for j in range(e + 1, c + 1):
                    crossing_here[neuron[j]] = False
    return out
