"""The next dense layer's values at a walk's new points, by interpolation: what a matrix product of
relu at every point gives, on intervals with one crossing (one pass) and with several, and where a
point's values are evaluated term by term because one comes out near zero."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from deepstudy.regions import interpolation, kernels
from deepstudy.regions.lines import COINCIDENT


def interpolated_and_direct(z: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, ...]:
    """The next layer at every point after walking a layer with values ``z`` at each segment's two
    ends (rows: start, end, start, end...): by ``merge`` from its values at the ends, and by a
    product of relu at every point (the walk's own interpolation of relu, crossings zero)."""
    segments = len(z) // 2
    t = np.tile([0.0, 1.0], segments)
    segment = np.repeat(np.arange(segments), 2)
    layer = np.full(2 * segments, -1)
    walked = kernels.walk_layer(z, t, segment, layer, COINCIDENT, 0, True, kernels.FLOAT64_PRODUCT)
    start, neuron, _, abs_left, abs_right, slot = walked[:6]
    rectified, destination, point_weight, rectified_old = walked[6], walked[10], walked[11], walked[12]
    y = rectified_old @ weight.T
    crossings = (destination, start, neuron, point_weight, abs_left, abs_right, slot)
    layer = (np.ascontiguousarray(weight.T), bias, bias)
    merged = interpolation.merge(y, z, *crossings, *layer, True)
    new = np.ones(len(merged), dtype=bool)
    new[destination] = False
    assert np.array_equal(interpolation.merge(y, z, *crossings, *layer, False), merged[new])  # new rows only
    return merged, rectified @ weight.T + bias, np.diff(destination) - 1


@pytest.mark.parametrize("width", [1, 2, 9, 64])
def test_interpolated_values_are_the_products_values(width):
    generator = np.random.default_rng(width)
    start = generator.standard_normal((40, width))
    end = start * generator.uniform(0.2, 2.0, start.shape)  # no neuron changes sign...
    for s in range(40):  # ...but 1, 2, 3 or 4 of them
        flipped = generator.choice(width, size=min(s % 4 + 1, width), replace=False)
        end[s, flipped] *= -1
    z = np.stack([start, end], axis=1).reshape(80, width)
    weight, bias = generator.standard_normal((17, width)), generator.standard_normal(17)
    merged, direct, new_points = interpolated_and_direct(z, weight, bias)
    assert (new_points[::2] == 1).any()  # one crossing: the one-pass interpolation
    if width > 1:
        assert (new_points[::2] > 1).any()  # several: the running sums
    torch.testing.assert_close(torch.from_numpy(merged), torch.from_numpy(direct), rtol=1e-12, atol=1e-12)


def test_a_point_where_the_next_layer_is_its_bias_is_evaluated_term_by_term():
    # every neuron but the crossing one is off at the new point, and the crossing one is zero there:
    # the next layer is exactly its bias, 0, which interpolation would leave at rounding noise
    z = np.array([[0.3, -1.0, -2.0], [-0.7, -3.0, -1.0]])
    weight = np.array([[1.1, 0.4, -0.3], [-0.2, 0.9, 0.5]])
    merged, direct, new_points = interpolated_and_direct(z, weight, np.zeros(2))
    assert new_points.tolist() == [1]
    assert merged[1].tolist() == [0.0, 0.0] == direct[1].tolist()
