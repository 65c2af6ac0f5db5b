"""Compiled CPU kernels for the exact 1D region walk (see :mod:`deepstudy.regions`).

On a CPU the walk is bound by its float64 matrix products and by memory traffic: each layer needs
the sign changes between consecutive points and a new point, with the next layer's values, at
each crossing. Done with tensor operations that is a dozen passes over the points' values and a
matrix-product row per point. These kernels keep the points sorted along their segments (every
pass reads consecutive rows), find and place crossings in three passes (count; place and gather
into breakpoints, crossings closer than a tolerance making one, see :mod:`deepstudy.regions.lines`;
split); the next dense layer's values at the new points come by interpolation
(:mod:`deepstudy.regions.interpolation`), so the matrix product covers only the points that
existed before the layer. Compiled once by Numba and cached on disk; the matrix products stay
with torch. The kernels are serial and release the GIL: threads run chunks of segments side by
side (see :mod:`deepstudy.regions.parallel`).
Arithmetic is float64; interpolation uses ``torch.lerp``'s formula, like the tensor path, and both
place the same breakpoints.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# The bits of a float64 but its sign. Read as integers, the bits of non-negative floats order as
# the floats do, and integer comparisons vectorise where float max and min do not (NaN's rules).
_MAGNITUDE_BITS = np.int64(0x7FFFFFFFFFFFFFFF)


@njit(cache=True, inline="always")
def _crosses_bits(a: int, b: int) -> bool:
    """Whether two floats, given by their bits read as integers, have strictly opposite signs: a
    neuron that is exactly zero (either zero) at a point does not cross there. Their sign bits
    differ and neither is zero, the float comparisons' answer for every value but NaN; counting
    over rows, integer comparisons vectorise."""
    return ((a ^ b) < 0) & ((a & _MAGNITUDE_BITS) != 0) & ((b & _MAGNITUDE_BITS) != 0)


@njit(cache=True, inline="always")
def _lerp(a: float, b: float, weight: float) -> float:
    """torch.lerp's formula (exact at both ends), as the tensor path interpolates."""
    return a + weight * (b - a) if abs(weight) < 0.5 else b - (b - a) * (1.0 - weight)


#: What :func:`walk_layer` gives for the next layer's matrix product, at the old points: nothing,
#: relu(z) in float64, or relu(z) rounded to float32 with each row's norm (see ``_rectify_float32``).
NO_PRODUCT, FLOAT64_PRODUCT, FLOAT32_PRODUCT = 0, 1, 2


# The norm's sum may be taken in any order, and with fused multiply-adds: its rounding error is
# within (n + 1) float64 units in any order, which the bound's 1% margin covers. So it vectorises
# (4.7 times faster here). The other arithmetic here is on integers and maxima, which these flags
# leave as they are.
@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def interval_crossings(z: np.ndarray, segment: np.ndarray, product: int) -> tuple[np.ndarray, ...]:
    """Number of neurons changing sign between consecutive points of one segment (rows sorted),
    and in the same pass over the rows what ``product`` asks for (see :data:`FLOAT64_PRODUCT`;
    empty arrays where not asked): relu(z) in float64, relu(z) in float32, each row's norm."""
    points, width = z.shape
    bits = z.view(np.int64)
    counts = np.zeros(max(points - 1, 0), dtype=np.int64)
    double = np.empty((points if product == FLOAT64_PRODUCT else 0, width))
    single = np.empty((points if product == FLOAT32_PRODUCT else 0, width), dtype=np.float32)
    norms = np.empty(points if product == FLOAT32_PRODUCT else 0)
    for i in range(points):
        if product == FLOAT64_PRODUCT:
            for k in range(width):
                double[i, k] = max(z[i, k], 0.0)
        elif product == FLOAT32_PRODUCT:
            norms[i] = _rectify_float32(z, single, i)
        if i < points - 1 and segment[i] == segment[i + 1]:
            count = 0
            for k in range(width):  # (rows indexed in place: a view costs two reference counts)
                count += _crosses_bits(bits[i, k], bits[i + 1, k])
            counts[i] = count
    return counts, double, single, norms


@njit(cache=True)
def per_segment(counts: np.ndarray, segment: np.ndarray, segments: int) -> np.ndarray:
    """Sum of interval counts over each segment's intervals."""
    out = np.zeros(segments, dtype=np.int64)
    for i in range(len(counts)):
        out[segment[i]] += counts[i]
    return out


@njit(cache=True, inline="always")
def _gather(
    t_left: float,
    t_right: float,
    weight: np.ndarray,
    slot: np.ndarray,
    first: int,
    found: int,
    tolerance: float,
) -> int:
    """Number the crossings ``first``.. of one interval (sorted by weight) by breakpoint: a crossing
    within ``tolerance`` (in t) of the one before (or of the left end) shares its breakpoint. Slot 0
    is the left end's, 1..m the new points', m + 1 the right end's (the last group, if that close
    to it). Returns m."""
    group, previous = 0, t_left
    for c in range(first, first + found):
        place = _lerp(t_left, t_right, weight[c])
        if place - previous > tolerance:
            group += 1
        slot[c] = group
        previous = place
    if group > 0 and t_right - previous <= tolerance:
        return group - 1
    return group


# Intervals with at most this many crossings are sorted in place (most have one or two); longer
# ones, as on a segment's first layer, by a merge sort.
_INSERTION_SORT = 32


@njit(cache=True, inline="always")
def _insertion_sort(
    weight: np.ndarray, neuron: np.ndarray, abs_left: np.ndarray, abs_right: np.ndarray, first: int, stop: int
) -> None:
    """Sort crossings first..stop-1 by weight, stably, carrying their other fields along."""
    for c in range(first + 1, stop):
        w, k, left, right = weight[c], neuron[c], abs_left[c], abs_right[c]
        d = c - 1
        while d >= first and weight[d] > w:
            weight[d + 1], neuron[d + 1], abs_left[d + 1], abs_right[d + 1] = (
                weight[d],
                neuron[d],
                abs_left[d],
                abs_right[d],
            )
            d -= 1
        weight[d + 1], neuron[d + 1], abs_left[d + 1], abs_right[d + 1] = w, k, left, right


@njit(cache=True, nogil=True)
def place(z: np.ndarray, t: np.ndarray, counts: np.ndarray, tolerance: float) -> tuple[np.ndarray, ...]:
    """Every crossing counted in ``counts``, sorted by place in its interval and gathered into
    breakpoints (see ``_gather``).

    Between two consecutive points z is affine, so a neuron going from a to b crosses zero at
    fraction w = a / (a - b) of the way. Returns each interval's first crossing (then their
    number); each crossing's neuron, w, |a|, |b| and slot; and each interval's new points.
    """
    intervals, width = len(counts), z.shape[1]
    start = np.empty(intervals + 1, dtype=np.int64)
    start[0] = 0
    for i in range(intervals):
        start[i + 1] = start[i] + counts[i]
    total = start[intervals]
    neuron = np.empty(total, dtype=np.int64)
    weight = np.empty(total)
    abs_left = np.empty(total)
    abs_right = np.empty(total)
    slot = np.empty(total, dtype=np.int64)
    new = np.zeros(intervals, dtype=np.int64)
    bits = z.view(np.int64)
    for i in range(intervals):
        found, first = counts[i], start[i]
        if found == 0:
            continue
        j, stop = first, first + found
        for k in range(width):
            if _crosses_bits(bits[i, k], bits[i + 1, k]):
                a, b = z[i, k], z[i + 1, k]
                neuron[j], weight[j], abs_left[j], abs_right[j] = k, a / (a - b), abs(a), abs(b)
                j += 1
                if j == stop:  # all of the interval's crossings found
                    break
        if found > _INSERTION_SORT:
            placed = first + np.argsort(weight[first : first + found], kind="mergesort")
            neuron[first : first + found] = neuron[placed]
            weight[first : first + found] = weight[placed]
            abs_left[first : first + found] = abs_left[placed]
            abs_right[first : first + found] = abs_right[placed]
        elif found > 1:
            _insertion_sort(weight, neuron, abs_left, abs_right, first, first + found)
        new[i] = _gather(t[i], t[i + 1], weight, slot, first, found, tolerance)
    return start, neuron, weight, abs_left, abs_right, slot, new


@njit(cache=True, nogil=True)
def split(
    z: np.ndarray,
    t: np.ndarray,
    segment: np.ndarray,
    layer: np.ndarray,
    start: np.ndarray,
    neuron: np.ndarray,
    weight: np.ndarray,
    slot: np.ndarray,
    new: np.ndarray,
    depth: int,
    rectify: bool,
) -> tuple[np.ndarray, ...]:
    """Insert the new points of :func:`place`, each at its first crossing's place.

    Returns, for the merged sorted points, ``t``, ``segment`` and ``layer``; where each old point
    went; each new point's w; and, with ``rectify``, every merged point's rectified values relu(z)
    (a new point's are its neighbours' interpolated, with the neurons crossing there exactly zero).
    """
    points, width = z.shape
    destination = np.empty(points, dtype=np.int64)
    added = 0
    for i in range(points):
        destination[i] = i + added
        if i < points - 1:
            added += new[i]
    size = points + added
    values = np.empty((size if rectify else 0, width))
    t_out = np.empty(size)
    segment_out = np.empty(size, dtype=np.int64)
    layer_out = np.empty(size, dtype=np.int64)
    point_weight = np.empty(added)
    for i in range(points):
        at = destination[i]
        t_out[at], segment_out[at], layer_out[at] = t[i], segment[i], layer[i]
        if rectify:
            for k in range(width):
                values[at, k] = max(z[i, k], 0.0)
        if i == points - 1 or new[i] == 0:
            continue
        c = start[i]
        for q in range(1, new[i] + 1):
            while slot[c] < q:
                c += 1
            w, row = weight[c], at + q
            point_weight[at - i + q - 1] = w
            t_out[row] = _lerp(t[i], t[i + 1], w)
            segment_out[row], layer_out[row] = segment[i], depth
            if rectify:
                for k in range(width):
                    values[row, k] = max(_lerp(z[i, k], z[i + 1, k], w), 0.0)
                e = c
                while e < start[i + 1] and slot[e] == q:
                    values[row, neuron[e]] = 0.0
                    e += 1
    return values, t_out, segment_out, layer_out, destination, point_weight


@njit(cache=True, nogil=True)
def walk_layer(
    z: np.ndarray,
    t: np.ndarray,
    segment: np.ndarray,
    layer: np.ndarray,
    tolerance: float,
    depth: int,
    rectify: bool,
    product: int,
) -> tuple[np.ndarray, ...]:
    """One layer of the walk in one call (the fewer calls, the fewer hand-overs of the GIL between
    threads): its crossings placed and gathered (:func:`place`) and its new points inserted
    (:func:`split`). Returns place's arrays but ``new``, then split's, then what ``product`` asks
    for at the old points (see :func:`interval_crossings`): relu(z) in float64, in float32, and
    the rows' norms."""
    counts, double, single, norms = interval_crossings(z, segment, product)
    start, neuron, weight, abs_left, abs_right, slot, new = place(z, t, counts, tolerance)
    inserted = split(z, t, segment, layer, start, neuron, weight, slot, new, depth, rectify)
    return (start, neuron, weight, abs_left, abs_right, slot) + inserted + (double, single, norms)


@njit(cache=True, nogil=True)
def count_breakpoints(
    z: np.ndarray, t: np.ndarray, segment: np.ndarray, segments: int, tolerance: float
) -> np.ndarray:
    """The last layer's new breakpoints per segment, counted, not placed."""
    counts = interval_crossings(z, segment, NO_PRODUCT)[0]
    new = place(z, t, counts, tolerance)[6]
    return per_segment(new, segment, segments)


@njit(cache=True, inline="always")
def _rectify_float32(z: np.ndarray, out: np.ndarray, row: int) -> float:
    """relu of a row of ``z`` rounded to float32 into ``out`` (for a float32 matrix product), and
    its norm (float64) for the product's error bound; callers take the norm's sum in any order
    (see :func:`interval_crossings`)."""
    total = 0.0
    for k in range(z.shape[1]):
        value = max(z[row, k], 0.0)
        out[row, k] = value
        total += value * value
    return np.sqrt(total)


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def rectified_float32(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """relu(z) rounded to float32 and each row's norm, in one pass (see ``_rectify_float32``)."""
    out = np.empty(z.shape, dtype=np.float32)
    norms = np.empty(len(z))
    for i in range(len(z)):
        norms[i] = _rectify_float32(z, out, i)
    return out, norms
