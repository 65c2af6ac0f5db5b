"""The regions study of one network: lines, planes and points through its dataset's test split.

:func:`analyse` gathers, for one network, the exact regions crossed by lines between pairs of
test points (and their density per unit length), the exact activation patterns meeting the
triangles' squares spanned by triples of test points (with the grid-hashing cross-check, or the
grid count alone where exact splitting would pass the cap), and each test point's distance to its
region boundary, as an xarray Dataset with named dimensions and units.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr
from torch import nn

from deepstudy import regions


def probe_indices(num_test: int, lines: int, planes: int, points: int, seed: int) -> dict[str, np.ndarray]:
    """Which test examples anchor the lines (pairs), planes (triples) and distance points."""
    rng = np.random.default_rng(seed)

    def distinct(count: int, size: int) -> np.ndarray:
        return np.stack([rng.choice(num_test, size, replace=False) for _ in range(count)]).reshape(
            count, size
        )

    return {
        "line": distinct(lines, 2),
        "plane": distinct(planes, 3),
        "point": rng.choice(num_test, min(points, num_test), replace=False),
    }


def analyse(
    net: nn.Module,
    test_x: torch.Tensor,
    probes: dict[str, np.ndarray],
    margin: float = 0.0,
    grid_resolution: int = 200,
    max_polygons: int = 200_000,
) -> xr.Dataset:
    """Region statistics of ``net`` on the probes of :func:`probe_indices` (see module docstring)."""
    net = net.eval()
    shape = tuple(test_x.shape[1:])
    neurons = regions.count_neurons(net, shape)
    line = torch.as_tensor(probes["line"])
    start, end = test_x[line[:, 0]], test_x[line[:, 1]]
    counts = regions.count_regions_1d(net, start, end)
    length = (end - start).to(torch.float64).flatten(1).norm(dim=1)
    anchors = test_x[torch.as_tensor(probes["plane"])]
    grid = regions.grid_regions_2d(net, anchors, margin=margin, resolution=grid_resolution)
    try:
        exact = regions.count_regions_2d(net, anchors, margin=margin, max_polygons=max_polygons)
        method = "exact"
        patterns = exact.numpy()
    except regions.RegionCapExceededError:
        method = "grid"
        patterns = grid.numpy()
    distance = regions.distance_to_boundary(net, test_x[torch.as_tensor(probes["point"])])
    ds = xr.Dataset(
        {
            "regions_1d": ("line", counts.numpy()),
            "line_length": ("line", length.numpy()),
            "regions_per_length": ("line", counts.numpy() / length.numpy()),
            "patterns_2d": ("plane", patterns),
            "grid_patterns_2d": ("plane", grid.numpy()),
            "distance": ("point", distance.distance.numpy()),
            "distance_layer": ("point", distance.layer.numpy()),
        },
        coords={
            "line": np.arange(len(line)),
            "plane": np.arange(len(anchors)),
            "point": np.arange(len(probes["point"])),
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
    return ds
