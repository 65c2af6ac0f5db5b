"""The 1D count's last layer from float32 products: every decision float32 cannot take for sure is
taken on float64 values, so the count is the float64 walk's."""

from __future__ import annotations

import pytest
import torch
from deepstudy.regions import certified
from deepstudy.regions.lines import COINCIDENT, breakpoints_1d, count_regions_1d
from torch import nn

from tests.regions.test_exact_regions import mlp, random_segments, reference_count


def kinked_net(places: list[float]) -> nn.Sequential:
    """On 1D inputs x: a first layer with relu(x) (a kink at x = 0) and the constant 1, then a last
    hidden layer whose neuron k is relu(x) - ``places[k]`` * 1, vanishing at x = places[k].
    Float64 throughout: the places differ by less than float32 can tell."""
    first, last = nn.Linear(1, 2).double(), nn.Linear(2, len(places)).double()
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.0], [0.0]]))
        first.bias.copy_(torch.tensor([0.0, 1.0]))
        last.weight[:, 0] = 1.0
        last.weight[:, 1] = -torch.tensor(places, dtype=torch.float64)
        last.bias.zero_()
    return nn.Sequential(first, nn.ReLU(), last, nn.ReLU(), nn.Linear(len(places), 1).double())


@pytest.mark.parametrize(
    ("places", "regions"),
    [
        ([0.3, 0.3 + 1e-10], 4),  # one float32 number, two float64 breakpoints
        ([0.3, 0.3 + 1e-13], 3),  # within COINCIDENT in t: one breakpoint
        ([2.5e-12], 3),  # just after the kink: float32 values would put it within COINCIDENT of it
        ([1e-12], 2),  # within COINCIDENT of the kink: no region of its own
        ([-0.4, 0.3, 0.3 + 3e-12, 0.9], 5),  # the one left of the kink never crosses: relu(x) = 0
    ],
)
def test_last_layer_places_float32_cannot_tell_apart_are_counted_as_in_float64(places, regions):
    """The segment x = -1 → 1 meets the kink at t = 1/2 and each place p at t = (1 + p) / 2."""
    assert 1e-12 / 2 < COINCIDENT < 2.5e-12 / 2
    net = kinked_net(places)
    start, end = -torch.ones(1, 1, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64)
    assert count_regions_1d(net, start, end, compiled=True).tolist() == [regions]
    assert count_regions_1d(net, start, end, compiled=False).tolist() == [regions]
    assert len(breakpoints_1d(net, start, end).t) == regions - 1
    assert reference_count(net, start[0].numpy(), end[0].numpy()) == regions


def test_float32_products_are_within_their_bound_and_refused_at_lower_precision():
    """The bound holds row by row on real products; where torch may take float32 products at lower
    precision, or inputs could overflow float32, the product is left to float64."""
    torch.manual_seed(0)
    linear = nn.Linear(300, 50).double()
    layer = certified.Float32Layer.of(linear)
    values = (
        torch.randn(400, 300, dtype=torch.float64) * torch.logspace(-3, 3, 400, dtype=torch.float64)[:, None]
    )
    product, error = certified.float32_product(values.numpy(), layer)
    exact = (torch.relu(values) @ linear.weight.detach().T).numpy()
    bound = error[:, None] * layer.norms[None, :]
    assert (abs(product - exact) <= bound).all()
    assert (abs(product - exact) > 0).any()  # float32 did round
    assert certified.float32_product((values * 2.0**110).numpy(), layer) is None
    precision = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("medium")
        assert certified.float32_product(values.numpy(), layer) is None
    finally:
        torch.set_float32_matmul_precision(precision)


@pytest.mark.parametrize(
    ("input_size", "widths", "seed"), [(8, [64, 64], 0), (40, [128, 128, 128], 1), (784, [256, 256], 2)]
)
def test_certified_counts_equal_the_float64_walks(input_size, widths, seed):
    """Random nets with biases, many segments: the certified count equals the tensor walk's, which
    takes every product in float64."""
    net = mlp(input_size, widths, seed)
    start, end = random_segments(60, (input_size,), seed)
    compiled = count_regions_1d(net, start, end, compiled=True)
    assert torch.equal(compiled, count_regions_1d(net, start, end, compiled=False))
    assert compiled.sum() > 60 * 20


def scaled_kinked_net(first_scale: float, last_scales: list[float], dtype: torch.dtype) -> nn.Sequential:
    """``kinked_net([0.3] * len(last_scales))`` with the first layer scaled by ``first_scale`` and
    last-layer neuron k by ``last_scales[k]``: its neurons all vanish at x = 0.3, one breakpoint."""
    net = kinked_net([0.3] * len(last_scales))
    with torch.no_grad():
        net[0].weight.mul_(first_scale)
        net[0].bias.mul_(first_scale)
        net[2].weight.mul_(torch.tensor(last_scales, dtype=torch.float64)[:, None])
    return net.to(dtype)


@pytest.mark.parametrize(
    ("first_scale", "last_scales", "dtype"),
    [
        (1.0, [1e-44, 1.0], torch.float64),  # a weight float32 cannot hold as a normal number
        (1.0, [1e-40, 1.0], torch.float64),
        (2.0**-66, [2.0**-66, 1.0], torch.float32),  # products below float32's normal range
    ],
)
def test_numbers_outside_float32s_normal_range_are_counted_as_in_float64(first_scale, last_scales, dtype):
    """Underflow and overflow would make float32 values wrong beyond the rounding bound: such layers
    and chunks are counted in float64, and underflow's error is bounded apart from ||W_k||."""
    net = scaled_kinked_net(first_scale, last_scales, dtype)
    start, end = -torch.ones(1, 1, dtype=dtype), torch.ones(1, 1, dtype=dtype)
    assert count_regions_1d(net, start, end, compiled=True).tolist() == [3]
    assert count_regions_1d(net, start, end, compiled=False).tolist() == [3]


def test_sums_beyond_float32s_range_are_counted_as_in_float64():
    """Products near 2^127 whose float32 sum overflows to -inf, while the exact value is +0.1 2^127:
    float32 would see a sign that is wrong at both ends of an interval."""
    huge = 2.0**127
    first, last = nn.Linear(1, 4).double(), nn.Linear(4, 1).double()
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[2.0**60], [0.0], [0.0], [0.0]]))
        first.bias.copy_(torch.tensor([0.0, 2.0**60, 2.0**60, 2.0**60]))
        last.weight.copy_(torch.tensor([[0.2, -0.9, -0.9, -0.9]]) * huge / 2**60)
        last.bias.fill_(2.6 * huge)
    net = nn.Sequential(first, nn.ReLU(), last, nn.ReLU(), nn.Linear(1, 1).double())
    start, end = -torch.ones(1, 1, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64)
    assert count_regions_1d(net, start, end, compiled=False).tolist() == [3]
    assert count_regions_1d(net, start, end, compiled=True).tolist() == [3]
