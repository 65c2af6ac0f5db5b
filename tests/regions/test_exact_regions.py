"""Exact linear regions: closed-form cases, an independent reference, sampling bounds, distances."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from deepstudy import models
from deepstudy.regions import sampling
from deepstudy.regions.distance import distance_to_boundary
from deepstudy.regions.grid import grid_regions_2d
from deepstudy.regions.layers import activation_patterns
from deepstudy.regions.lines import COINCIDENT, breakpoints_1d, count_regions_1d
from deepstudy.regions.planes import RegionCapExceededError, count_regions_2d, polygons_2d
from deepstudy.regions.sampling import sampled_regions_1d
from torch import nn


def mlp(input_size: int, widths: list[int], seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Linear(input_size, width), nn.ReLU()]
        input_size = width
    layers.append(nn.Linear(input_size, 3))
    net = nn.Sequential(*layers)
    generator = torch.Generator().manual_seed(seed)
    models.initialise(net, "he", generator)
    for layer in net:
        if isinstance(layer, nn.Linear):  # non-zero biases: regions not all through the origin
            nn.init.normal_(layer.bias, std=0.5, generator=generator)
    return net


def random_segments(count: int, input_shape: tuple[int, ...], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` segments between standard normal points, from their own generator."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(count, *input_shape, generator=generator), torch.randn(
        count, *input_shape, generator=generator
    )


def distinct_cuts(cuts: np.ndarray, t0: float, t1: float) -> list[float]:
    """The places of ``cuts`` in (t0, t1) as breakpoints: a cut within ``COINCIDENT`` of the one
    before it (or of t0) is the same breakpoint, and the last ones that close to t1 are t1 itself."""
    places, previous = [], t0
    for cut in np.sort(cuts[(cuts > t0) & (cuts < t1)]).tolist():
        if cut - previous > COINCIDENT:  # else the same breakpoint as the cut before (or t0)
            places.append(cut)
        previous = cut
    if places and t1 - previous <= COINCIDENT:  # the last breakpoint is t1's
        places.pop()
    return places


def reference_count(net: nn.Sequential, a: np.ndarray, b: np.ndarray) -> int:
    """Regions crossed by one segment, piece by piece in plain numpy (a separate algorithm).

    Where several neurons vanish at one place (within :data:`COINCIDENT`), the pieces between them
    have no length: the place is one breakpoint, and one within that of a piece's end is the end.
    """
    a, b = a.astype(np.float64), b.astype(np.float64)  # the segment between the points as given
    pieces = [(0.0, 1.0, a, b - a)]
    linears = [layer for layer in net if isinstance(layer, nn.Linear)][:-1]
    for layer in linears:
        weight = layer.weight.detach().double().numpy()
        bias = 0.0 if layer.bias is None else layer.bias.detach().double().numpy()
        split = []
        for t0, t1, value, slope in pieces:
            z, dz = weight @ value + bias, weight @ slope
            with np.errstate(divide="ignore", invalid="ignore"):
                crossing = -z / dz
            bounds = [t0, *distinct_cuts(crossing, t0, t1), t1]
            for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
                active = (z + (lo + hi) / 2 * dz) > 0
                split.append((lo, hi, z * active, dz * active))
        pieces = split
    return len(pieces)


# the 1D walk runs with compiled kernels on the CPU and with tensor operations elsewhere (CUDA)
WALKS = [pytest.param(True, id="compiled"), pytest.param(False, id="tensor")]


def assert_matches_reference(
    net: nn.Sequential, start: torch.Tensor, end: torch.Tensor, compiled: bool, chunk: int | None = None
) -> None:
    """Exact counts equal :func:`reference_count` per segment, with one breakpoint fewer each."""
    exact = count_regions_1d(net, start, end, chunk=chunk, compiled=compiled)
    expected = [reference_count(net, a.numpy(), b.numpy()) for a, b in zip(start, end, strict=True)]
    assert exact.tolist() == expected
    breakpoints = breakpoints_1d(net, start, end, compiled=compiled)
    assert torch.equal(torch.bincount(breakpoints.segment, minlength=len(start)) + 1, exact)


def test_one_neuron_splits_a_line_in_two_where_it_crosses():
    net = nn.Sequential(nn.Linear(2, 1), nn.ReLU(), nn.Linear(1, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0]]))
        net[0].bias.zero_()
    start = torch.tensor([[-1.0, 0.0], [0.5, -1.0]])
    end = torch.tensor([[3.0, 1.0], [2.0, 1.0]])
    assert count_regions_1d(net, start, end).tolist() == [2, 1]
    breakpoints = breakpoints_1d(net, start, end)
    assert breakpoints.segment.tolist() == [0] and breakpoints.t.tolist() == [0.25]
    assert breakpoints.t.dtype == torch.float64


def test_two_crossing_neurons():
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(2))
        net[0].bias.zero_()
    # the lines x = 0 and y = 0 cut the plane into 4 quadrants
    anchors = torch.tensor([[[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]]])
    assert count_regions_2d(net, anchors).tolist() == [4]
    # a square inside one quadrant meets a single region, one straddling x = 0 meets two
    inside = torch.tensor([[[0.1, 0.1], [0.9, 0.1], [0.1, 0.9]]])
    straddle = torch.tensor([[[-0.5, 0.1], [0.5, 0.1], [-0.5, 0.9]]])
    assert count_regions_2d(net, torch.cat([inside, straddle])).tolist() == [1, 2]
    # a line through both axes at different points crosses three regions
    start, end = torch.tensor([[-1.0, -0.5]]), torch.tensor([[1.0, 0.7]])
    assert count_regions_1d(net, start, end).tolist() == [3]
    breakpoints = breakpoints_1d(net, start, end)
    np.testing.assert_allclose(breakpoints.t.numpy(), [0.5 / 1.2, 0.5])


@pytest.mark.parametrize("compiled", WALKS)
@pytest.mark.parametrize("input_size", [2, 7, 40, 784])
def test_one_hidden_layer_counts_distinct_zero_crossings(input_size, compiled):
    net = mlp(input_size, [50], seed=input_size)
    generator = torch.Generator().manual_seed(1)
    start = torch.randn(30, input_size, generator=generator)
    end = torch.randn(30, input_size, generator=generator)
    weight, bias = net[0].weight.double(), net[0].bias.double()
    value, slope = start.double() @ weight.T + bias, (end - start).double() @ weight.T
    crossing = -value / slope
    inside = (crossing > 0) & (crossing < 1)
    expected = [len(torch.unique(c[m])) + 1 for c, m in zip(crossing, inside, strict=True)]
    assert count_regions_1d(net, start, end, compiled=compiled).tolist() == expected


@pytest.mark.parametrize("compiled", WALKS)
@pytest.mark.parametrize(
    ("input_size", "widths"),
    [(2, [5, 5, 5, 5, 5, 5]), (3, [16, 4, 16]), (10, [32, 32]), (784, [20, 20, 20]), (40, [64, 8, 64, 8])],
)
def test_exact_count_matches_an_independent_reference(input_size, widths, compiled):
    net = mlp(input_size, widths, seed=len(widths))
    generator = torch.Generator().manual_seed(2)
    start = torch.randn(12, input_size, generator=generator) * 2
    end = torch.randn(12, input_size, generator=generator) * 2
    assert_matches_reference(net, start, end, compiled, chunk=5)


@pytest.mark.parametrize("compiled", WALKS)
@pytest.mark.parametrize(("width", "depth", "input_size"), [(4, 10, 3), (6, 8, 20), (10, 5, 246)])
def test_narrow_deep_networks_whose_layers_die_on_stretches(width, depth, input_size, compiled):
    """The project's He-initialised MLPs have zero biases: where a narrow layer is off on a
    stretch, every later layer is exactly zero there, and no neuron changes sign at its ends."""
    generator = torch.Generator().manual_seed(width)
    for seed in range(3):
        spec = {"architecture": "mlp", "depth": depth, "width": width, "init": "he"}
        net = models.build_model(spec, (input_size,), 10, seed=seed)
        start = torch.randn(25, input_size, generator=generator)
        end = torch.randn(25, input_size, generator=generator)
        assert_matches_reference(net, start, end, compiled)


@pytest.mark.parametrize(("input_size", "widths", "seed"), [(40, [128] * 4, 0), (3, [7, 30, 7, 30], 1)])
def test_compiled_and_tensor_walks_place_the_same_breakpoints(input_size, widths, seed):
    net = mlp(input_size, widths, seed)
    start, end = random_segments(40, (input_size,), seed)
    compiled = breakpoints_1d(net, start, end, compiled=True)
    tensor = breakpoints_1d(net, start, end, compiled=False)
    assert torch.equal(compiled.segment, tensor.segment) and torch.equal(compiled.layer, tensor.layer)
    torch.testing.assert_close(compiled.t, tensor.t, rtol=0, atol=1e-12)


def test_compiled_kernels_refuse_other_devices():
    net = mlp(2, [3], seed=0)
    with pytest.raises(ValueError, match="compiled region kernels run on the CPU, not on meta"):
        count_regions_1d(
            net, torch.zeros(1, 2, device="meta"), torch.ones(1, 2, device="meta"), compiled=True
        )


def test_segments_that_require_grad_are_counted():
    net = mlp(3, [8, 8], seed=1)
    start = torch.zeros(2, 3, requires_grad=True)
    end = torch.ones(2, 3)
    expected = count_regions_1d(net, start.detach(), end)
    assert torch.equal(count_regions_1d(net, start, end), expected)
    assert len(breakpoints_1d(net, start, end).t) == int(expected.sum() - 2)


def test_segments_whose_ends_differ_in_shape_are_refused():
    net = mlp(3, [4], seed=0)
    with pytest.raises(ValueError, match=r"start \(2, 3\) and end \(3, 3\) differ in shape"):
        count_regions_1d(net, torch.zeros(2, 3), torch.zeros(3, 3))


def test_nested_sequentials_are_opened():
    net = mlp(5, [9, 9], seed=2)
    inner = nn.Sequential(nn.Sequential(net[2], net[3]), net[4])
    nested = nn.Sequential(nn.Sequential(net[0], net[1]), inner)
    start, end = random_segments(10, (5,), 2)
    expected = count_regions_1d(net, start, end)
    assert torch.equal(count_regions_1d(nested, start, end), expected)
    with pytest.raises(TypeError, match="not Dropout"):
        count_regions_1d(nn.Sequential(nn.Sequential(nn.Linear(5, 3), nn.Dropout())), start, end)


def test_no_segments_or_planes_give_empty_counts():
    net = mlp(3, [4], seed=0)
    nothing = torch.zeros(0, 3)
    assert count_regions_1d(net, nothing, nothing).shape == (0,)
    assert count_regions_1d(mlp(3, [4, 4, 4], seed=0), nothing, nothing).shape == (0,)  # the MLP walk
    assert sampled_regions_1d(net, nothing, nothing).shape == (0,)
    assert grid_regions_2d(net, torch.zeros(0, 3, 3)).shape == (0,)


def test_an_affine_network_has_one_region_per_segment():
    net = nn.Sequential(nn.Flatten(), nn.Linear(3, 2))
    start, end = torch.zeros(4, 3), torch.ones(4, 3)
    assert count_regions_1d(net, start, end).tolist() == [1, 1, 1, 1]
    assert len(breakpoints_1d(net, start, end).t) == 0


@pytest.mark.parametrize("compiled", WALKS)
@pytest.mark.parametrize("bias", [False, True])
def test_exact_zeros_are_no_crossings(bias, compiled):
    """Segments from the origin of a bias-free net start with every neuron exactly zero, and narrow
    layers that die on a stretch pass exact zeros on: neither is a sign change."""
    torch.manual_seed(5)
    layers: list[nn.Module] = []
    for fan_in, width in [(4, 3), (3, 2), (2, 3), (3, 2)]:
        layers += [nn.Linear(fan_in, width, bias=bias), nn.ReLU()]
    net = nn.Sequential(*layers, nn.Linear(2, 2, bias=bias))
    if bias:
        with torch.no_grad():
            for layer in net[2::2]:  # zero biases after the first layer: dead stretches give zeros
                if isinstance(layer, nn.Linear):
                    layer.bias.zero_()
    generator = torch.Generator().manual_seed(1)
    end = torch.randn(40, 4, generator=generator) * 3
    start = torch.zeros_like(end)
    start[20:] = -end[20:]  # through the origin
    assert_matches_reference(net, start, end, compiled, chunk=7)


def zero_bias_net_and_point() -> tuple[nn.Sequential, torch.Tensor]:
    """The benchmark's 4 × 128 He MLP with zero biases, and a point (in 1/4096ths) whose small
    multiples are exact in float64, so that segments from it to -λ times it meet the origin."""
    spec = {"architecture": "mlp", "depth": 4, "width": 128, "init": "he", "bias_std": 0.0}
    net = models.build_model(spec, (40,), 10, seed=0)
    point = torch.round(torch.randn(1, 40, generator=torch.Generator().manual_seed(0)) * 4096) / 4096
    return net, point


@pytest.mark.parametrize("compiled", WALKS)
def test_a_line_through_the_origin_of_a_zero_bias_net_crosses_two_regions(compiled):
    """Every hidden neuron of a bias-free net vanishes at the origin and keeps its sign along each
    ray from it, so the segment from a to -λa crosses two regions, split where it meets the origin
    (t = 1 / (1 + λ)), however many neurons change sign there."""
    net, a = zero_bias_net_and_point()
    scales = torch.tensor([1.0, 2.0, 3.0, 0.5])
    start, end = a.expand(len(scales), -1), -scales[:, None] * a
    at_origin = 1 / (1 + scales.double())
    # the truth, by sampling: one activation pattern on each side of the origin, two in all
    t = torch.linspace(0, 1, 2001, dtype=torch.float64)[:, None]
    for s, e, middle in zip(start.double(), end.double(), at_origin, strict=True):
        patterns = activation_patterns(net, s + t * (e - s))
        before, after = patterns[t[:, 0] < middle - 1e-3], patterns[t[:, 0] > middle + 1e-3]
        assert torch.all(before == before[0]) and torch.all(after == after[0])
        assert not torch.equal(before[0], after[0])
    assert count_regions_1d(net, start, end, compiled=compiled).tolist() == [2] * len(scales)
    breakpoints = breakpoints_1d(net, start, end, compiled=compiled)
    assert breakpoints.segment.tolist() == list(range(len(scales)))
    assert breakpoints.layer.tolist() == [0] * len(scales)
    torch.testing.assert_close(breakpoints.t, at_origin, rtol=0, atol=1e-15)
    assert [reference_count(net, s.numpy(), e.numpy()) for s, e in zip(start, end, strict=True)] == [2] * 4


@pytest.mark.parametrize("compiled", WALKS)
def test_lines_passing_close_to_the_origin_of_a_zero_bias_net_match_the_reference(compiled):
    """Off the origin by a little, the neurons vanish at nearby but distinct places: every one of
    them is a breakpoint, and the walks agree with the reference."""
    net, a = zero_bias_net_and_point()
    offset = torch.randn(3, 40, generator=torch.Generator().manual_seed(1))
    start = a.expand(3, -1)
    end = -2 * a + offset * torch.tensor([1e-1, 1e-3, 1e-5])[:, None]
    assert_matches_reference(net, start, end, compiled)
    assert torch.all(count_regions_1d(net, start, end, compiled=compiled) > 10)


def cut_net(cuts: list[float], then: float | None = None) -> nn.Sequential:
    """A net on 1D inputs whose first-layer neuron k vanishes at x = ``cuts[k]``; with ``then``, a
    second layer of one neuron, the sum of the first layer's minus ``then``."""
    first = nn.Linear(1, len(cuts)).double()
    layers: list[nn.Module] = [first, nn.ReLU()]
    with torch.no_grad():
        first.weight.fill_(1.0)
        first.bias.copy_(-torch.tensor(cuts, dtype=torch.float64))
        if then is not None:
            second = nn.Linear(len(cuts), 1).double()
            second.weight.fill_(1.0)
            second.bias.fill_(-then)
            layers += [second, nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(layers[-2].out_features, 1).double())


@pytest.mark.parametrize("compiled", WALKS)
@pytest.mark.parametrize(
    ("cuts", "then", "regions"),
    [
        ([0.5, 0.5 + 1e-14], None, 2),  # closer than COINCIDENT: one breakpoint
        ([0.5 + 1e-14, 0.5, 0.5 - 1e-14], None, 2),
        ([0.5, 0.5 + 1e-9], None, 3),  # farther: two
        ([0.25, 0.5, 0.75], None, 4),
        ([1 - 1e-14], None, 1),  # at an end: no piece of any length
        ([1e-14, 0.5], None, 2),
        ([0.5], 1e-15, 2),  # the second layer's neuron vanishes just after the first layer's
        ([0.5], 1e-6, 3),
    ],
)
def test_breakpoints_closer_than_float64_resolves_are_one(cuts, then, regions, compiled):
    net = cut_net(cuts, then)
    start, end = torch.zeros(1, 1, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64)
    assert count_regions_1d(net, start, end, compiled=compiled).tolist() == [regions]
    assert len(breakpoints_1d(net, start, end, compiled=compiled).t) == regions - 1
    assert reference_count(net, start[0].numpy(), end[0].numpy()) == regions


@pytest.mark.parametrize("compiled", WALKS)
def test_breakpoints_are_sorted_and_carry_their_layer(compiled):
    net = mlp(4, [12, 12, 12], seed=3)
    start, end = random_segments(6, (4,), 3)
    breakpoints = breakpoints_1d(net, start, end, compiled=compiled)
    key = breakpoints.segment.double() * 2 + breakpoints.t
    assert torch.all(key[1:] > key[:-1])
    assert set(breakpoints.layer.tolist()) <= {0, 1, 2}
    # at a breakpoint of layer l, some neuron of layer l is zero
    start, end = start.double(), end.double()
    points = start[breakpoints.segment] + breakpoints.t[:, None] * (end - start)[breakpoints.segment]
    h = points
    zeros = []
    net = net.double().requires_grad_(False)
    for layer in [m for m in net if isinstance(m, nn.Linear)][:-1]:
        z = h @ layer.weight.double().T + layer.bias.double()
        zeros.append(z.abs().min(dim=1).values)
        h = torch.relu(z)
    at_layer = torch.stack(zeros, dim=1).gather(1, breakpoints.layer[:, None]).squeeze(1)
    assert float(at_layer.max()) < 1e-9


@pytest.mark.parametrize(
    ("input_size", "widths", "seed"), [(5, [8, 8], 0), (20, [16, 16, 16], 1), (784, [32], 2)]
)
def test_exact_count_is_never_below_sampling_and_equal_at_high_resolution(input_size, widths, seed):
    net = mlp(input_size, widths, seed)
    start, end = random_segments(8, (input_size,), seed)
    exact = count_regions_1d(net, start, end)
    coarse = sampled_regions_1d(net, start, end, samples=50)
    fine = sampled_regions_1d(net, start, end, samples=100_000, chunk=1)
    assert torch.all(exact >= coarse) and torch.all(exact >= fine)
    assert torch.equal(exact, fine)


def test_sampling_splits_long_segments_into_runs_that_share_their_ends(monkeypatch):
    net = mlp(6, [30, 30], seed=6)
    start, end = random_segments(5, (6,), 6)
    whole = sampled_regions_1d(net, start, end, samples=3000)
    monkeypatch.setattr(sampling, "_SAMPLING_BUDGET", 60 * 97)  # runs of 97 points, one segment at a time
    assert torch.equal(sampled_regions_1d(net, start, end, samples=3000), whole)
    assert torch.all(whole <= count_regions_1d(net, start, end)) and torch.all(whole > 10)


@pytest.mark.parametrize("compiled", WALKS)
def test_conv_nets_are_counted_exactly(compiled):
    for shape in [(1, 16), (1, 8, 8)]:
        net = models.build_model(
            {"architecture": "conv", "channels": [3, 3], "kernel_size": 3, "hidden": 6, "init": "he"},
            shape,
            10,
            seed=4,
        )
        start, end = random_segments(4, shape, 4)
        exact = count_regions_1d(net, start, end, compiled=compiled)
        fine = sampled_regions_1d(net, start, end, samples=100_000, chunk=1)
        assert torch.equal(exact, fine)


def test_float32_networks_are_analysed_in_float64():
    net = mlp(3, [10, 10], seed=5).float()
    start, end = torch.zeros(2, 3), torch.ones(2, 3)
    assert breakpoints_1d(net, start, end).t.dtype == torch.float64
    assert distance_to_boundary(net, start).distance.dtype == torch.float64


@pytest.mark.parametrize(("input_size", "widths", "seed"), [(2, [6, 6], 0), (3, [5, 5, 5], 1), (4, [10], 2)])
def test_2d_exact_matches_a_fine_grid_on_small_networks(input_size, widths, seed):
    net = mlp(input_size, widths, seed)
    generator = torch.Generator().manual_seed(seed)
    anchors = torch.randn(3, 3, input_size, generator=generator)
    exact = count_regions_2d(net, anchors, margin=0.0)
    grid = grid_regions_2d(net, anchors, margin=0.0, resolution=1500)
    assert torch.equal(exact, grid)


@pytest.mark.parametrize(("input_size", "widths", "seed"), [(10, [32, 32], 3), (784, [16, 16, 16], 4)])
def test_2d_exact_is_never_below_the_grid(input_size, widths, seed):
    net = mlp(input_size, widths, seed)
    generator = torch.Generator().manual_seed(seed)
    anchors = torch.randn(3, 3, input_size, generator=generator)
    exact = count_regions_2d(net, anchors, margin=0.1)
    grid = grid_regions_2d(net, anchors, margin=0.1, resolution=300)
    assert torch.all(exact >= grid)
    assert torch.all(exact <= grid * 2)  # the grid misses only small regions


def test_2d_polygons_tile_the_square():
    net = mlp(3, [8, 8], seed=6)
    generator = torch.Generator().manual_seed(6)
    anchors = torch.randn(2, 3, 3, generator=generator)
    polygons = polygons_2d(net, anchors, margin=0.25)
    for plane, shapes in enumerate(polygons.as_lists()):
        area = 0.0
        for vertices in shapes:
            x, y = vertices[:, 0], vertices[:, 1]
            area += 0.5 * float((x * torch.roll(y, -1) - torch.roll(x, -1) * y).sum().abs())
        assert area == pytest.approx(1.5**2, rel=1e-9), plane


def test_2d_cap_is_an_error_not_a_truncation():
    net = mlp(3, [16, 16], seed=7)
    anchors = torch.randn(2, 3, 3, generator=torch.Generator().manual_seed(7))
    with pytest.raises(RegionCapExceededError, match="max_polygons=5"):
        count_regions_2d(net, anchors, max_polygons=5)


@pytest.mark.parametrize("net_seed", [0, 1])
def test_distance_to_boundary_matches_a_brute_force_line_search(net_seed):
    net = mlp(5, [16, 16, 16], seed=net_seed)
    generator = torch.Generator().manual_seed(net_seed)
    x = torch.randn(4, 5, generator=generator, dtype=torch.float64)
    result = distance_to_boundary(net, x)
    directions = torch.randn(1500, 5, generator=generator, dtype=torch.float64)
    directions /= directions.norm(dim=1, keepdim=True)
    for i in range(len(x)):
        distance = float(result.distance[i])
        radius = torch.linspace(0, 4 * distance, 1001, dtype=torch.float64)
        pattern = activation_patterns(net, x[i : i + 1])
        points = x[i] + radius[None, :, None] * directions[:, None, :]
        changed = (activation_patterns(net, points.reshape(-1, 5)).view(1500, 1001, -1) != pattern).any(-1)
        first = radius[changed.to(torch.int8).argmax(dim=1)][changed.any(dim=1)]
        assert float(first.min()) >= distance * (1 - 1e-9)  # no direction leaves the region sooner
        assert float(first.min()) <= distance * 1.1  # and some direction leaves about that soon
        # along the minimising neuron's gradient the region ends exactly at that distance
        layer, neuron = int(result.layer[i]), int(result.neuron[i])
        point = x[i : i + 1].clone().requires_grad_(True)
        h = point
        linears = [m.double() for m in net if isinstance(m, nn.Linear)]
        for depth, linear in enumerate(linears):
            z = linear(h)
            if depth == layer:
                z[0, neuron].backward()
                break
            h = torch.relu(z)
        gradient = point.grad[0]
        step = -torch.sign(z[0, neuron].detach()) * gradient / gradient.norm()
        inside = activation_patterns(net, (x[i] + (1 - 1e-6) * distance * step)[None])
        outside = activation_patterns(net, (x[i] + (1 + 1e-6) * distance * step)[None])
        assert torch.equal(inside, pattern) and not torch.equal(outside, pattern)
