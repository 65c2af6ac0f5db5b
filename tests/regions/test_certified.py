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
