"""The regions study of one network: lines, planes and points through its dataset's test split.

:func:`analyse` gathers, for one network, the exact regions crossed by lines between pairs of
test points (and their density per unit length), the exact activation patterns meeting the
triangles' squares spanned by triples of test points (with the grid-hashing cross-check, or the
grid count alone where exact splitting would pass the cap), and each test point's distance to its
region boundary, as an xarray Dataset with named dimensions and units. :func:`analyse_with_options`
leaves out a network with non-finite weights (a diverged run's), or one its checkpoint excludes:
such a network's statistics are NaN and it is marked ``excluded``, with the reason.
"""

from __future__ import annotations

import json

import numpy as np
import torch
import xarray as xr
from torch import nn

from deepstudy.checkpoints import non_finite
from deepstudy.models import build_model
from deepstudy.regions.distance import distance_to_boundary
from deepstudy.regions.grid import grid_regions_2d
from deepstudy.regions.layers import count_neurons
from deepstudy.regions.lines import count_regions_1d
from deepstudy.regions.planes import RegionCapExceededError, count_regions_2d, polygons_2d
from deepstudy.regions.workflow import fresh_spec

#: The statistics of a network, each along its probe dimension.
_STATISTICS = {
    "regions_1d": "line",
    "patterns_2d": "plane",
    "grid_patterns_2d": "plane",
    "distance": "point",
    "distance_layer": "point",
}


def probe_indices(
    num_test: int, lines: int, planes: int, points: int, seed: int, directions: int = 0
) -> dict[str, np.ndarray]:
    """Which test examples anchor the lines (pairs), the random-direction lines (their starts),
    planes (triples) and distance points."""
    rng = np.random.default_rng(seed)

    def distinct(count: int, size: int) -> np.ndarray:
        return np.stack([rng.choice(num_test, size, replace=False) for _ in range(count)]).reshape(
            count, size
        )

    return {
        "line": distinct(lines, 2),
        "plane": distinct(planes, 3),
        "point": rng.choice(num_test, min(points, num_test), replace=False),
        "direction": rng.choice(num_test, directions, replace=True),
        "direction_seed": np.array(seed),
    }


def _segments(
    test_x: torch.Tensor, probes: dict[str, np.ndarray]
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Starts and ends of every line: between test pairs, then from test points in random directions.

    A random-direction line is as long as the median pair line, so both kinds span the data's scale.
    """
    pairs = torch.as_tensor(probes["line"])
    start, end = test_x[pairs[:, 0]], test_x[pairs[:, 1]]
    kinds = ["pair"] * len(pairs)
    origins = torch.as_tensor(probes.get("direction", np.zeros(0, dtype=np.int64)))
    if len(origins):
        generator = torch.Generator().manual_seed(int(probes["direction_seed"]))
        direction = torch.randn((len(origins), *test_x.shape[1:]), generator=generator, dtype=test_x.dtype)
        direction = direction / direction.flatten(1).norm(dim=1).view(-1, *([1] * (test_x.ndim - 1)))
        scale = (end - start).flatten(1).norm(dim=1).median()
        start = torch.cat([start, test_x[origins]])
        end = torch.cat([end, test_x[origins] + scale * direction.to(test_x.device)])
        kinds += ["direction"] * len(origins)
    return start, end, kinds


def analyse(
    net: nn.Module,
    test_x: torch.Tensor,
    probes: dict[str, np.ndarray],
    margin: float = 0.0,
    grid_resolution: int = 200,
    max_polygons: int = 200_000,
) -> xr.Dataset:
    """Region statistics of ``net`` on the probes of :func:`probe_indices` (see module docstring),
    computed on the device of ``net`` and ``test_x`` (the CPU's compiled kernels, or tensor
    operations on a GPU), returned on the CPU."""
    net = net.eval()
    start, end, kinds = _segments(test_x, probes)
    counts = count_regions_1d(net, start, end)
    anchors = test_x[torch.as_tensor(probes["plane"])]
    grid = grid_regions_2d(net, anchors, margin=margin, resolution=grid_resolution)
    try:
        exact = count_regions_2d(net, anchors, margin=margin, max_polygons=max_polygons)
        method = "exact"
        patterns = exact.cpu().numpy()
    except RegionCapExceededError:
        method = "grid"
        patterns = grid.cpu().numpy()
    distance = distance_to_boundary(net, test_x[torch.as_tensor(probes["point"])])
    statistics = {
        "regions_1d": counts.cpu().numpy(),
        "patterns_2d": patterns,
        "grid_patterns_2d": grid.cpu().numpy(),
        "distance": distance.distance.cpu().numpy(),
        "distance_layer": distance.layer.cpu().numpy(),
    }
    neurons = count_neurons(net, tuple(test_x.shape[1:]))
    return _dataset(statistics, start, end, kinds, neurons, method, margin, grid_resolution)


def excluded_analysis(
    net: nn.Module,
    test_x: torch.Tensor,
    probes: dict[str, np.ndarray],
    reason: str,
    margin: float = 0.0,
    grid_resolution: int = 200,
) -> xr.Dataset:
    """What :func:`analyse` gives, every statistic of the network NaN, for a network left out of the
    analyses (``reason``: say, a diverged run's non-finite weights, on which every line would cross
    one region): marked ``excluded``, so that summaries skip it and count it."""
    start, end, kinds = _segments(test_x, probes)
    sizes = {"line": len(start), "plane": len(probes["plane"]), "point": len(probes["point"])}
    nan = {name: np.full(sizes[dim], np.nan) for name, dim in _STATISTICS.items()}
    neurons = count_neurons(net, tuple(test_x.shape[1:]))
    return _dataset(nan, start, end, kinds, neurons, "excluded", margin, grid_resolution, reason)


def _dataset(
    statistics: dict[str, np.ndarray],
    start: torch.Tensor,
    end: torch.Tensor,
    kinds: list[str],
    neurons: int,
    method: str,
    margin: float,
    grid_resolution: int,
    excluded: str | None = None,
) -> xr.Dataset:
    """The statistics of one network as a Dataset with named dimensions, units and descriptions."""
    length = (end - start).to(torch.float64).flatten(1).norm(dim=1).cpu().numpy()
    ds = xr.Dataset(
        {
            **{name: (dim, statistics[name]) for name, dim in _STATISTICS.items()},
            "line_length": ("line", length),
            "regions_per_length": ("line", statistics["regions_1d"] / length),
            "excluded": ((), excluded is not None),
        },
        coords={
            "line": np.arange(len(start)),
            "line_kind": ("line", np.array(kinds, dtype=object)),
            "plane": np.arange(len(statistics["patterns_2d"])),
            "point": np.arange(len(statistics["distance"])),
        },
        attrs={"neurons": neurons, "patterns_2d_method": method, "margin": margin},
    )
    ds["regions_1d"].attrs.update(
        units="regions", description="activation regions crossed by the segment (exact)"
    )
    ds["line_length"].attrs.update(units="input units (standardised)", description="Euclidean segment length")
    ds["regions_per_length"].attrs.update(units="regions per unit length")
    ds["patterns_2d"].attrs.update(
        units="regions",
        description=f"activation regions meeting the plane's square s, t in [-{margin}, 1 + {margin}] "
        f"({method}: exact polygon splitting, or grid hashing where that passes the cap)",
    )
    ds["grid_patterns_2d"].attrs.update(
        units="regions",
        description=f"distinct activation patterns on a {grid_resolution}^2 grid (lower bound)",
    )
    ds["distance"].attrs.update(
        units="input units (standardised)", description="distance to the region boundary"
    )
    ds["distance_layer"].attrs["description"] = "hidden layer (0-based) of the neuron nearest to the point"
    ds["excluded"].attrs.update(
        description="the network is left out of the analyses (its statistics are NaN)",
        reason=excluded or "",
    )
    return ds


def analyse_with_options(
    net: nn.Module, test_x: torch.Tensor, options: dict, factors: dict, excluded: str | None = None
) -> xr.Dataset:
    """:func:`analyse` with the regions config's probe options, recording the network's factors.

    ``factors`` (typed by :func:`typed_factors`) become the store's ``factors`` attribute, from
    which collection puts every network on the study's grid. A network with non-finite weights, or
    one given a reason it is ``excluded`` (see :class:`deepstudy.checkpoints.Checkpoint`), is not
    analysed: see :func:`excluded_analysis`.
    """
    probes = probe_indices(len(test_x), **options["probes"])
    reason = excluded or non_finite(net)
    if reason is not None:
        print(f"excluded from the analyses: {reason}")
        result = excluded_analysis(net, test_x, probes, reason, options["margin"], options["grid_resolution"])
    else:
        result = analyse(
            net, test_x, probes, options["margin"], options["grid_resolution"], options["max_polygons"]
        )
    result.attrs["factors"] = json.dumps(factors)
    return result


def typed_factors(wildcards: dict[str, str]) -> dict[str, int | float | str]:
    """Wildcard values as the numbers (or names) they stand for, to become coordinates."""
    factors: dict[str, int | float | str] = {}
    for key, text in wildcards.items():
        try:
            factors[key] = int(text)
        except ValueError:
            try:
                factors[key] = float(text)
            except ValueError:
                factors[key] = text
    return factors


def fresh_mlp(
    depth: int,
    neurons: int,
    init: str,
    input_shape: tuple[int, ...],
    num_classes: int,
    seed: int,
    bias_std: float,
) -> nn.Module:
    """An MLP with ``neurons`` hidden neurons in all, split evenly over ``depth`` layers, its
    biases drawn from N(0, ``bias_std``²) (``regions.bias_std``; 0: zero biases)."""
    spec = fresh_spec(depth, neurons, init, bias_std)
    return build_model(spec, input_shape, num_classes, seed)


def partition(
    nets: dict[int, nn.Module],
    anchors: torch.Tensor,
    margin: float,
    max_polygons: int,
    excluded: dict[int, str | None] | None = None,
) -> xr.Dataset:
    """The polygons of one plane's region partition for each network (keyed by epoch).

    A network ``excluded`` (epoch -> reason; see :class:`deepstudy.checkpoints.Checkpoint`), or
    with non-finite weights, gets no polygons but ``excluded`` set, the reason in the attributes.
    """
    frames, reasons = [], {}
    for epoch, net in nets.items():
        reason = (excluded or {}).get(epoch) or non_finite(net)
        if reason is not None:
            reasons[str(epoch)] = reason
            vertices = np.full((1, 1, 2), np.nan)
        else:
            polygons = polygons_2d(net, anchors[None], margin=margin, max_polygons=max_polygons)
            vertices = polygons.vertices.numpy().copy()
            valid = np.arange(vertices.shape[1])[None, :] < polygons.count.numpy()[:, None]
            vertices[~valid] = np.nan
        frames.append(
            xr.Dataset(
                {
                    "vertices": (("polygon", "vertex", "coordinate"), vertices),
                    "excluded": ((), reason is not None),
                },
                coords={"epoch": epoch, "coordinate": ["s", "t"]},
            )
        )
    most = {dim: max(f.sizes[dim] for f in frames) for dim in ("polygon", "vertex")}
    frames = [f.pad({dim: (0, most[dim] - f.sizes[dim]) for dim in most}) for f in frames]
    ds = xr.concat(frames, dim="epoch")
    ds["vertices"].attrs.update(
        units="plane coordinates",
        description="polygon vertices in order (NaN past a polygon's last vertex and past the last polygon)",
    )
    ds["excluded"].attrs.update(
        description="the network is left out (no polygons); reasons by epoch in the attribute reasons",
        reasons=json.dumps(reasons),
    )
    ds.attrs["margin"] = margin
    return ds
