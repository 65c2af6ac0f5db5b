"""The last hidden layer of the 1D count from float32 products, every decision certified.

Counting regions along segments, the last hidden layer's breakpoints are counted, not placed, and
its matrix product is most of the walk's arithmetic (all of it for three layers). Float32 products
run at twice float64's speed on a CPU, and the count only needs, for each neuron and each interval
between consecutive points, whether it changes sign there, and whether places of crossings lie
more than :data:`~deepstudy.regions.lines.COINCIDENT` apart. So the product is taken in float32,
with a rigorous bound on its error, and every decision the bound leaves open is taken again on
float64 values: the count is the one the float64 walk gives.

The bound: with u = 2^-24 and n inputs, weights and inputs rounded to float32 and summed in float32
in any order, ``fl(W h)`` lies within ``(n + 2) u |W| |h| <= (n + 2) u ||W_k|| ||h||`` of ``W h``
in row k (Cauchy-Schwarz), while no number leaves float32's normal range. Underflow (gradual, or
flushed to zero) adds at most 2^-126 per input and per product: ``sqrt(n) 2^-126 ||W_k||`` and
``(n + 2) 2^-126``, added to the bound. Overflow is ruled out: a layer is taken in float32 only if
its weights are 0 or between 2^-100 and 2^100 in size, and a chunk only if ||W_k|| ||h|| stays
below 2^100 (else in float64, as before). The factor carries 1% more for the float64 steps after
the product, which holds for n up to 16,000. Values at the points a layer inserts are convex
combinations of their neighbours' (see ``interpolation.merge``), so their bound is the larger of
the two.

A value within its bound of zero is recomputed in float64 (bias plus the dot product over the
point's active inputs); crossings whose places are not certainly apart (nor from the interval's
ends) have their values at both ends recomputed, and are gathered into breakpoints as the float64
walk gathers them. The counts are the float64 walk's wherever float64 decides: like the compiled
and tensor float64 walks, which sum in different orders, the recomputed values can differ from the
walk's in their last bits, which matters only for places within float64's rounding of each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numba import njit
from torch import nn

from deepstudy.regions import kernels
from deepstudy.regions.kernels import _crosses_bits, _gather, _insertion_sort, _lerp, per_segment

_UNIT = 2.0**-24
_SMALLEST_NORMAL = 2.0**-126
# Inputs and weights stay below this in size, and products of their norms too: no overflow.
_LARGE = 2.0**100
# Nonzero weights stay above this in size: no subnormal weights.
_SMALL = 2.0**-100
# The most inputs for which (n + 2) u stays below 0.1%: the 1% margin covers the float64 steps.
_MOST_INPUTS = 16_000
# The certified places are widened by this much (in w, a fraction of an interval) for the float64
# walk's own rounding: its decisions are taken on values with errors of order 1e-16.
_WIDEN = 1e-12


def float64_array(parameter: torch.Tensor) -> np.ndarray:
    """A CPU parameter as a C-contiguous float64 array (a copy)."""
    return np.array(parameter.detach().numpy(), dtype=np.float64, order="C")


def float64_bias(linear: nn.Linear) -> np.ndarray:
    """A CPU layer's bias as a float64 array (a copy), zeros where it has none."""
    return np.zeros(linear.out_features) if linear.bias is None else float64_array(linear.bias)


@dataclass
class Float32Layer:
    """A dense layer as the certified count uses it, made once per count: its float32 weight (for
    the product), its float64 weight and bias (to recompute values), the norm of each weight row
    (for the bound), and whether float32 is safe for it (see the module's note)."""

    single: torch.Tensor
    weight: np.ndarray
    bias: np.ndarray
    norms: np.ndarray
    safe: bool

    @classmethod
    def of(cls, linear: nn.Linear, weight: np.ndarray | None = None) -> Float32Layer:
        """The layer (on the CPU; ``weight``: its weight in float64, where made already), made in
        numpy: a dozen torch calls cost more than the arithmetic on a layer of a few hundred
        neurons, and a count makes this before its threads start."""
        weight = float64_array(linear.weight) if weight is None else weight
        size = np.abs(weight)
        smallest = np.where(size == 0.0, _SMALL, size).min(initial=_SMALL)  # of the nonzero weights
        safe = bool(size.max(initial=0.0) < _LARGE and smallest >= _SMALL) and (
            linear.in_features <= _MOST_INPUTS
        )
        return cls(
            torch.from_numpy(weight.astype(np.float32)),
            weight,
            float64_bias(linear),
            np.sqrt(np.einsum("ij,ij->i", weight, weight)),
            safe,
        )

    @classmethod
    def cached(cls, linear: nn.Linear, cache: dict) -> Float32Layer:
        """The layer made once per count: ``cache`` is shared by the count's chunks."""
        key = ("float32", id(linear))
        if key not in cache:
            cache[key] = cls.of(linear)
        return cache[key]

    @property
    def usable(self) -> bool:
        """Whether a float32 product may be taken now: the layer is safe, and torch takes float32
        products in full float32 (a setting that can change between counts)."""
        return self.safe and _full_float32_products()

    @property
    def floor(self) -> float:
        """The bound's part that does not scale with ||W_k||: underflow of the products."""
        return (self.single.shape[1] + 2) * _SMALLEST_NORMAL


def _full_float32_products() -> bool:
    """Whether torch takes float32 matrix products in full float32 (not TF32 or bfloat16)."""
    try:
        return torch.get_float32_matmul_precision() == "highest"
    except RuntimeError:  # set through torch's newer per-backend settings: not vouched for
        return False


def float32_product(values: np.ndarray, layer: Float32Layer) -> tuple[np.ndarray, np.ndarray] | None:
    """The layer's product (without bias) with relu of ``values`` (rows, float64), taken in float32,
    and each row's error factor: value k of row i, plus the bias in float64, lies within
    ``error[i] * ||W_k|| + layer.floor`` of the exact one. None where float32 is unsafe (see the
    module's note, or torch allowed to take float32 products at lower precision)."""
    if not layer.usable:
        return None
    rectified, norms = kernels.rectified_float32(values)
    if not within_range(norms, layer.norms):
        return None
    product = torch.mm(torch.from_numpy(rectified), layer.single.T).numpy()
    return product, product_error(norms, layer.single.shape[1])


@njit(cache=True, nogil=True)
def within_range(row_norms: np.ndarray, weight_norms: np.ndarray) -> bool:
    """Whether inputs with these norms keep a float32 product with weights of these row norms
    within float32's range (see the module's note)."""
    largest = row_norms.max() if len(row_norms) else 0.0
    return largest < _LARGE and largest * weight_norms.max() < _LARGE


@njit(cache=True, nogil=True)
def product_error(row_norms: np.ndarray, inputs: int) -> np.ndarray:
    """Each row's error factor for a float32 product of ``inputs`` terms (see the module's note)."""
    return (inputs + 2) * _UNIT * 1.01 * row_norms + np.sqrt(inputs) * _SMALLEST_NORMAL


@njit(cache=True, nogil=True)
def point_origins(
    destination: np.ndarray, start: np.ndarray, slot: np.ndarray, point_weight: np.ndarray, points: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For every merged point of a layer's walk: its old point on the left, its place w between
    that point and the next old one (-1 for old points), and the range of crossings that make it
    (the neurons that are exactly zero there)."""
    origin = np.empty(points, dtype=np.int64)
    weight = np.full(points, -1.0)
    first = np.zeros(points, dtype=np.int64)
    stop = np.zeros(points, dtype=np.int64)
    old = len(destination)
    for i in range(old):
        at = destination[i]
        found = (destination[i + 1] - at - 1) if i < old - 1 else 0
        origin[at] = i
        c = start[i]
        for q in range(1, found + 1):
            row = at + q
            origin[row], weight[row] = i, point_weight[at - i + q - 1]
            while slot[c] < q:
                c += 1
            first[row] = c
            while c < start[i + 1] and slot[c] == q:
                c += 1
            stop[row] = c
    return origin, weight, first, stop


@njit(cache=True, nogil=True)
def point_errors(error: np.ndarray, origin: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Each merged point's error factor: its own at an old point, at a new one the larger of its
    old neighbours' (its values are their convex combination, plus exact terms)."""
    out = np.empty(len(origin))
    for p in range(len(origin)):
        i = origin[p]
        out[p] = error[i] if weight[p] < 0.0 else max(error[i], error[i + 1])
    return out


@njit(cache=True, nogil=True)
def _active_inputs(p: int, before: tuple, out: np.ndarray) -> None:
    """relu of the layer before at point p, as the walk has it: its value at an old point, the
    interpolation of its old neighbours' at a new one, with the neurons crossing there zero.
    ``before``: the layer before's values at the old points, then :func:`point_origins`' arrays,
    then the neuron of each crossing."""
    previous, origin, weight, first, stop, neuron = before
    i, w = origin[p], weight[p]
    if w < 0.0:
        for j in range(len(out)):
            out[j] = max(previous[i, j], 0.0)
        return
    left, right = previous[i], previous[i + 1]
    for j in range(len(out)):
        out[j] = max(_lerp(left[j], right[j], w), 0.0)
    for c in range(first[p], stop[p]):
        out[neuron[c]] = 0.0


@njit(cache=True, nogil=True, fastmath=True)
def _exact(k: int, active: np.ndarray, layer: np.ndarray, bias: np.ndarray) -> float:
    """Pre-activation k in float64 from the active inputs (inactive ones are zero)."""
    value = 0.0
    row = layer[k]
    for j in range(len(active)):
        value += active[j] * row[j]
    return bias[k] + value


@njit(cache=True, inline="always")
def _load(p: int, rows: np.ndarray, to: int, values: tuple, origin: np.ndarray, weight: np.ndarray) -> None:
    """Point p's values into ``rows[to]``: an old point's from the product, plus its offset; a new
    point's from the interpolated ones (see :func:`count_breakpoints`' ``values``)."""
    old, offset, new = values
    i = origin[p]
    if weight[p] < 0.0:
        for k in range(rows.shape[1]):
            rows[to, k] = old[i, k] + offset[k]
    else:
        for k in range(rows.shape[1]):
            rows[to, k] = new[p - i - 1, k]


@njit(cache=True, nogil=True)
def count_breakpoints(
    values: tuple,
    error: np.ndarray,
    norms: np.ndarray,
    t: np.ndarray,
    segment: np.ndarray,
    segments: int,
    tolerance: float,
    floor: float,
    layer: np.ndarray,
    bias: np.ndarray,
    before: tuple,
) -> tuple[np.ndarray, int]:
    """The last layer's new breakpoints per segment from its values at every point, each within
    ``error[p] * norms[k] + floor`` of its float64 value (corrected where needed), as
    ``kernels.count_breakpoints`` counts them on float64 values. ``values``: the float32 product
    at the old points, the offset added to it (the bias) and the values at the new points, as
    ``interpolation.merge`` gives them without old rows: each point's row is made as the pass
    reaches it, in a scratch row, not written out for all points and read back. ``layer`` and
    ``bias`` are the last layer's weights and bias, and ``before`` says how to evaluate the layer
    before at any point (see ``_active_inputs``). Also returns how many values were recomputed."""
    points, width = len(t), len(bias)
    origin, weight = before[1], before[2]
    z = np.empty((2, width))  # rows of the point before (p - 1) and of point p, by parity
    bits = z.view(np.int64)  # the same memory: values recomputed in place are seen
    active = np.empty(layer.shape[1])
    recomputed = 0
    found = np.zeros(max(points - 1, 0), dtype=np.int64)
    crossing = np.empty(width, dtype=np.int64)
    w, low, high = np.empty(width), np.empty(width), np.empty(width)
    slot = np.empty(width, dtype=np.int64)
    # (rows indexed in place, not taken as views: each view costs two atomic reference counts)
    for p in range(points):  # one pass: point p's signs made certain, then the interval before it
        bound = error[p]
        i = p - 1
        here, there = p % 2, (p + 1) % 2  # the rows of p and of i
        _load(p, z, here, values, origin, weight)
        inside = p > 0 and segment[i] == segment[p]
        left = there if inside else here
        near, m = 0, 0
        for k in range(width):  # (one read of the two rows for both counts)
            near += abs(z[here, k]) <= bound * norms[k] + floor
            m += _crosses_bits(bits[left, k], bits[here, k])
        if near > 0:  # values within their bound of zero, in float64; then the changes again
            _active_inputs(p, before, active)
            for k in range(width):
                if abs(z[here, k]) <= bound * norms[k] + floor:
                    z[here, k] = _exact(k, active, layer, bias)
                    recomputed += 1
            m = 0
            for k in range(width):
                m += _crosses_bits(bits[left, k], bits[here, k])
        if not inside or m == 0:
            continue
        j = 0
        for k in range(width):
            if _crosses_bits(bits[there, k], bits[here, k]):  # as m counted them
                a, b = z[there, k], z[here, k]
                size_a, size_b = abs(a), abs(b)
                # a value within its bound of zero was recomputed above: its error is float64's
                error_a = error[i] * norms[k] + floor
                error_b = error[p] * norms[k] + floor
                error_a = error_a if size_a > error_a else 0.0
                error_b = error_b if size_b > error_b else 0.0
                crossing[j], w[j] = k, a / (a - b)
                low[j] = (size_a - error_a) / (size_a - error_a + size_b + error_b) - _WIDEN
                high[j] = (size_a + error_a) / (size_a + error_a + size_b - error_b) + _WIDEN
                j += 1
                if j == m:  # all of the interval's crossings found
                    break
        _insertion_sort(w, crossing, low, high, 0, m)
        t_left, t_right = t[i], t[p]
        certain = _lerp(t_left, t_right, low[0]) - t_left > tolerance
        for c in range(1, m):
            gap = _lerp(t_left, t_right, low[c]) - _lerp(t_left, t_right, high[c - 1])
            certain = certain and gap > tolerance
        certain = certain and t_right - _lerp(t_left, t_right, high[m - 1]) > tolerance
        if certain:
            found[i] = m
            continue
        for side, row in ((i, there), (p, here)):  # not certainly apart: gather on float64 values
            _active_inputs(side, before, active)
            for c in range(m):
                z[row, crossing[c]] = _exact(crossing[c], active, layer, bias)
                recomputed += 1
        for c in range(m):
            a, b = z[there, crossing[c]], z[here, crossing[c]]
            w[c] = a / (a - b)
        _insertion_sort(w, crossing, low, high, 0, m)
        found[i] = _gather(t_left, t_right, w, slot, 0, m, tolerance)
    return per_segment(found, segment, segments), recomputed


@dataclass
class LastLayer:
    """What the certified count of the last hidden layer needs: the layer, its float32 product at
    the old points and the product's error factors (see :func:`float32_product`), and the layer
    before's values there and crossings, to evaluate any point in float64."""

    layer: Float32Layer
    product: np.ndarray
    error: np.ndarray
    previous: np.ndarray
    destination: np.ndarray
    start: np.ndarray
    slot: np.ndarray
    point_weight: np.ndarray
    neuron: np.ndarray

    def count(
        self, z: np.ndarray, t: np.ndarray, segment: np.ndarray, segments: int, tolerance: float
    ) -> np.ndarray:
        """The last layer's new breakpoints per segment, from its values ``z`` at the new points
        (``interpolation.merge`` without old rows)."""
        origin, weight, first, stop = point_origins(
            self.destination, self.start, self.slot, self.point_weight, len(t)
        )
        return count_breakpoints(
            (self.product, self.layer.bias, z),
            point_errors(self.error, origin, weight),
            self.layer.norms,
            t,
            segment,
            segments,
            tolerance,
            self.layer.floor,
            self.layer.weight,
            self.layer.bias,
            (self.previous, origin, weight, first, stop, self.neuron),
        )[0]
