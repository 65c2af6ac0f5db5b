"""Exact 2D region splitting: the compiled CPU path against the tensor path that other devices run."""

from __future__ import annotations

import pytest
import torch
from deepstudy import models
from deepstudy.regions import parallel
from deepstudy.regions import planes as planes_module
from deepstudy.regions.grid import grid_regions_2d
from deepstudy.regions.planes import Polygons2D, RegionCapExceededError, count_regions_2d, polygons_2d
from torch import nn

PATHS = [pytest.param(True, id="compiled"), pytest.param(False, id="tensor")]


def mlp(input_size: int, widths: list[int], seed: int, bias: bool = True) -> nn.Sequential:
    """A He-initialised MLP with 3 outputs; biases normal (std 0.5) or, without ``bias``, zero."""
    generator = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Linear(input_size, width), nn.ReLU()]
        input_size = width
    net = nn.Sequential(*layers, nn.Linear(input_size, 3))
    models.initialise(net, "he", generator)
    for layer in net:
        if isinstance(layer, nn.Linear):
            if bias:
                nn.init.normal_(layer.bias, std=0.5, generator=generator)
            else:
                nn.init.zeros_(layer.bias)
    return net


def planes(count: int, input_shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Anchors of ``count`` planes on the 2^-12 grid (as the regioncam comparison uses)."""
    anchors = torch.randn(count, 3, *input_shape, generator=torch.Generator().manual_seed(seed))
    return torch.round(anchors * 4096) / 4096


def areas(polygons: Polygons2D) -> torch.Tensor:
    """Each polygon's area by the shoelace formula over its valid vertices."""
    out = []
    for p in range(len(polygons.count)):
        v = polygons.vertices[p, : int(polygons.count[p])]
        x, y = v[:, 0], v[:, 1]
        out.append(0.5 * (x * torch.roll(y, -1) - torch.roll(x, -1) * y).sum().abs())
    return torch.stack(out)


def summary(polygons: Polygons2D) -> torch.Tensor:
    """(plane, vertex count, area, centroid) per polygon, sorted: the polygons as a set."""
    valid = torch.arange(polygons.vertices.shape[1])[None, :] < polygons.count[:, None]
    centroid = (polygons.vertices * valid[..., None]).sum(dim=1) / polygons.count[:, None]
    rows = torch.stack(
        [polygons.plane.double(), polygons.count.double(), areas(polygons), centroid[:, 0], centroid[:, 1]], 1
    )
    for column in (4, 3, 1, 0):  # lexicographic: plane, then count, then centroid
        rows = rows[torch.argsort(rows[:, column], stable=True)]
    return rows


CASES = [  # input size, widths, seed, non-zero biases, margin
    (2, [5], 0, True, 0.0),
    (3, [8, 8], 1, True, 0.25),
    (40, [16, 12, 16], 2, False, 0.0),
    (10, [8, 8, 8, 8], 3, True, 0.1),
    (784, [24, 24], 4, True, 0.0),
]


@pytest.mark.parametrize(("input_size", "widths", "seed", "bias", "margin"), CASES)
def test_compiled_and_tensor_paths_cut_the_same_polygons(input_size, widths, seed, bias, margin):
    net = mlp(input_size, widths, seed, bias)
    anchors = planes(3, (input_size,), seed)
    compiled = polygons_2d(net, anchors, margin=margin, compiled=True)
    tensor = polygons_2d(net, anchors, margin=margin, compiled=False)
    assert torch.equal(torch.bincount(compiled.plane), torch.bincount(tensor.plane))
    torch.testing.assert_close(summary(compiled), summary(tensor), rtol=0, atol=1e-9)
    square = (1 + 2 * margin) ** 2
    per_plane = torch.zeros(3, dtype=torch.float64).index_add_(0, compiled.plane, areas(compiled))
    torch.testing.assert_close(per_plane, torch.full((3,), square, dtype=torch.float64), rtol=1e-9, atol=0)
    counts = count_regions_2d(net, anchors, margin=margin, compiled=True)
    assert torch.equal(counts, count_regions_2d(net, anchors, margin=margin, compiled=False))
    assert torch.equal(counts, torch.bincount(compiled.plane, minlength=3))


@pytest.mark.parametrize("compiled", PATHS)
def test_results_stay_on_the_inputs_device_and_cover_every_plane(compiled):
    net = mlp(3, [6, 6], seed=5)
    anchors = planes(2, (3,), seed=5)
    polygons = polygons_2d(net, anchors, compiled=compiled)
    counts = count_regions_2d(net, anchors, compiled=compiled)
    for tensor in (polygons.plane, polygons.vertices, polygons.count, counts):
        assert tensor.device == anchors.device
    assert (
        polygons.vertices.dtype == torch.float64
        and counts.tolist() == torch.bincount(polygons.plane).tolist()
    )
    assert [len(shapes) for shapes in polygons.as_lists()] == counts.tolist()


@pytest.mark.parametrize("compiled", PATHS)
def test_conv_nets_are_split_alike(compiled):
    net = models.build_model(
        {"architecture": "conv", "channels": [2, 2], "kernel_size": 3, "hidden": 6, "init": "he"},
        (1, 8),
        10,
        seed=6,
    )
    anchors = planes(2, (1, 8), seed=6)
    counts = count_regions_2d(net, anchors, compiled=compiled)
    assert torch.equal(counts, count_regions_2d(net, anchors, compiled=not compiled))
    assert bool((counts > 1).all())


def test_threaded_and_single_thread_kernels_cut_identical_polygons(monkeypatch):
    net = mlp(10, [12, 12, 12], seed=9)
    anchors = planes(5, (10,), seed=9)
    single = polygons_2d(net, anchors, compiled=True)
    monkeypatch.setattr(planes_module, "_PARALLEL_NS", 0)  # every kernel call on all threads
    threaded = polygons_2d(net, anchors, compiled=True)
    for field in ("plane", "count", "vertices"):
        assert torch.equal(getattr(single, field), getattr(threaded, field)), field


def test_the_compiled_path_uses_at_most_torchs_threads(monkeypatch):
    monkeypatch.setattr(planes_module, "_PARALLEL_NS", 0)  # every kernel call on all threads
    workers = []
    real = parallel.map_chunks
    monkeypatch.setattr(parallel, "map_chunks", lambda f, chunks, n: workers.append(n) or real(f, chunks, n))
    threads = torch.get_num_threads()
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            workers.clear()
            count_regions_2d(mlp(3, [4], seed=0), planes(3, (3,), seed=0), compiled=True)
            assert workers and max(workers) == count
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("compiled", PATHS)
@pytest.mark.parametrize("count_only", [True, False])
@pytest.mark.parametrize("chunk", [1, 16_384])
def test_the_cap_is_an_error_not_a_truncation(compiled, count_only, chunk, monkeypatch):
    monkeypatch.setattr(planes_module, "_CHUNK", chunk)  # polygons counted per cap check
    net = mlp(3, [16, 16], seed=7)
    anchors = planes(2, (3,), seed=7)
    total = int(count_regions_2d(net, anchors, compiled=compiled).sum())
    split = count_regions_2d if count_only else polygons_2d
    with pytest.raises(RegionCapExceededError, match=f"max_polygons={total - 1}"):
        split(net, anchors, max_polygons=total - 1, compiled=compiled)
    assert int(count_regions_2d(net, anchors, max_polygons=total, compiled=compiled).sum()) == total


def test_compiled_splitting_refuses_other_devices():
    net = mlp(2, [3], seed=0)
    with pytest.raises(ValueError, match="compiled region kernels run on the CPU, not on meta"):
        count_regions_2d(net, torch.zeros(1, 3, 2, device="meta"), compiled=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_planes_are_counted_on_cuda():
    net = mlp(3, [6, 6], seed=8).cuda()
    anchors = planes(2, (3,), seed=8)
    counts = count_regions_2d(net, anchors.cuda())
    assert counts.is_cuda and torch.equal(counts.cpu(), count_regions_2d(net.cpu(), anchors))
    assert grid_regions_2d(net.cuda(), anchors.cuda(), resolution=50).is_cuda


def test_a_linear_layer_on_each_row_of_2d_inputs_is_split_like_the_tensor_path():
    generator = torch.Generator().manual_seed(10)
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 2))
    models.initialise(net, "he", generator)
    anchors = planes(3, (2, 4), seed=10)
    counts = count_regions_2d(net, anchors, compiled=True)
    assert torch.equal(counts, count_regions_2d(net, anchors, compiled=False))
