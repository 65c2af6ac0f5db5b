"""The 1D walk through an MLP in one compiled call: torch's own BLAS routine taken without the GIL,
the same breakpoints and counts as the walk layer by layer, and that walk wherever it cannot run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from deepstudy.regions import blas, lines
from deepstudy.regions.dense_walk import DenseLayers
from deepstudy.regions.lines import breakpoints_1d, count_regions_1d
from torch import nn

from tests.regions.test_exact_regions import mlp, random_segments


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(
    ("rows", "inputs", "outputs"), [(2, 1, 1), (300, 40, 128), (0, 5, 3), (77, 784, 512)]
)
def test_blas_products_are_torchs(dtype, rows, inputs, outputs):
    routines = blas.gemm()
    assert routines is not None  # torch's x86 Linux wheels export the routines
    generator = torch.Generator().manual_seed(rows + inputs)
    x = torch.randn(rows, inputs, generator=generator, dtype=dtype)
    weight = torch.randn(outputs, inputs, generator=generator, dtype=dtype)
    bias = torch.randn(outputs, generator=generator, dtype=dtype)
    routine = routines.double if dtype == torch.float64 else routines.single
    out = bias.expand(rows, outputs).contiguous().numpy()
    blas.linear(routine, x.numpy(), weight.numpy(), out, True)
    tolerance = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-5}
    torch.testing.assert_close(torch.from_numpy(out), nn.functional.linear(x, weight, bias), **tolerance)
    product = np.full((rows, outputs), np.nan, dtype=out.dtype)
    blas.linear(routine, x.numpy(), weight.numpy(), product, False)  # nothing read from out
    torch.testing.assert_close(torch.from_numpy(product), x @ weight.T, **tolerance)


def test_a_library_without_the_routines_is_not_used(monkeypatch):
    blas.gemm.cache_clear()
    try:
        monkeypatch.setattr(blas, "_LIBRARIES", ("libtorch_none.so",))
        assert blas.gemm() is None
        net = mlp(6, [16, 16], seed=0)
        start, end = random_segments(9, (6,), seed=0)
        assert lines._dense_walk(net, start, end, True) is None
        assert count_regions_1d(net, start, end).sum() > 9  # counted layer by layer
    finally:
        blas.gemm.cache_clear()


@pytest.mark.parametrize(
    ("input_size", "widths", "seed", "bias"),
    [
        (8, [32, 32], 0, True),
        (40, [64, 64, 64], 1, True),
        (20, [48, 24, 48, 12], 2, False),
        (784, [96, 96], 3, True),
    ],
)
def test_one_call_walk_places_and_counts_what_the_layer_by_layer_walk_does(
    input_size, widths, seed, bias, monkeypatch
):
    net = mlp(input_size, widths, seed)
    if not bias:
        for layer in net:
            if isinstance(layer, nn.Linear):
                layer.bias = None
    start, end = random_segments(23, (input_size,), seed)
    assert lines._dense_walk(net, start, end, True) is not None  # float32 weights, walked in float64
    found = {chunk: breakpoints_1d(net, start, end, chunk=chunk) for chunk in (5, 23)}
    counts = count_regions_1d(net, start, end, chunk=5)
    monkeypatch.setattr(lines, "_dense_walk", lambda net, start, end, compiled: None)
    assert torch.equal(counts, count_regions_1d(net, start, end, chunk=5))
    for chunk, points in found.items():
        expected = breakpoints_1d(net, start, end, chunk=chunk)
        assert torch.equal(points.segment, expected.segment) and torch.equal(points.layer, expected.layer)
        # the same products to their rounding (the first layer's taken for all segments at once)
        torch.testing.assert_close(points.t, expected.t, rtol=0, atol=1e-12)
    assert torch.equal(counts, torch.bincount(found[5].segment, minlength=23) + 1)


def test_lower_precision_float32_products_leave_the_last_layer_to_float64():
    net = mlp(40, [64, 64, 64], seed=4)
    start, end = random_segments(30, (40,), seed=4)
    expected = count_regions_1d(net, start, end, compiled=False)
    float64 = lines.float64_copy(net, start.device)
    assert DenseLayers.of(float64, (64,)).certify
    precision = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("medium")
        assert not DenseLayers.of(float64, (64,)).certify
        assert torch.equal(count_regions_1d(net, start, end), expected)
    finally:
        torch.set_float32_matmul_precision(precision)


def test_the_first_hidden_layer_may_be_any_affine_layer_the_others_dense_ones():
    conv_first = nn.Sequential(
        nn.Conv1d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(18, 8), nn.ReLU(), nn.Linear(8, 2)
    ).double()
    start, end = random_segments(7, (1, 8), seed=5)
    assert lines._dense_walk(conv_first, start, end, True) is not None  # taken by torch, once
    assert torch.equal(
        count_regions_1d(conv_first, start, end), count_regions_1d(conv_first, start, end, compiled=False)
    )
    conv_second = nn.Sequential(
        nn.Conv1d(1, 3, 3), nn.ReLU(), nn.Conv1d(3, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2)
    ).double()
    assert lines._dense_walk(conv_second, start, end, True) is None
    rows = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 1)).double()
    start, end = random_segments(7, (3, 4), seed=6)
    assert lines._dense_walk(rows, start, end, True) is None  # a Linear on each row of 2-D values
    single = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 1)).double()
    start, end = random_segments(7, (4,), seed=7)
    assert lines._dense_walk(single, start, end, True) is None  # one hidden layer: nothing to multiply
    assert torch.equal(
        count_regions_1d(single, start, end), count_regions_1d(single, start, end, compiled=False)
    )


def test_mlps_of_every_depth_share_one_compiled_walk():
    # the layers go to the kernel in flat arrays, not a tuple of arrays per layer: each depth compiled
    # anew took 10-12 s (a default `make run` analyses three)
    from deepstudy.regions import dense_walk

    before = len(dense_walk.count_chunks.signatures)
    for depth, seed in ((2, 0), (3, 1), (5, 2)):
        net = mlp(6, [12] * depth, seed)
        start, end = random_segments(9, (6,), seed)
        counts = count_regions_1d(net, start, end)
        assert torch.equal(counts, count_regions_1d(net, start, end, compiled=False))
    assert len(dense_walk.count_chunks.signatures) <= before + 1
