"""The 1D walk layer by layer with compiled kernels (CPU), for networks that are not MLPs.

Points stay sorted along the segments and each layer's new points are written between their
neighbours by the kernels of :mod:`deepstudy.regions.kernels`. Where the next layer is dense, its
values at the new points come by interpolation, not by a matrix product
(``interpolation.merge``), and the products are taken in torch between kernel calls; other layers
(convolutions, a Linear on each row of 2-D values) are evaluated at every point. Through an MLP
the same walk runs in one compiled call (:mod:`deepstudy.regions.dense_walk`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from deepstudy.regions import certified, interpolation, kernels
from deepstudy.regions.layers import DTYPE, apply_affine, dense_linear, hidden_blocks


def _columns(linear: nn.Linear, cache: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A dense layer's weight columns (W transposed, contiguous), bias and a zero row as arrays,
    made once per count, not once per chunk: ``cache`` is shared by the count's chunks."""
    if id(linear) not in cache:
        bias = linear.bias
        cache[id(linear)] = (
            linear.weight.detach().T.contiguous().numpy(),
            np.zeros(linear.out_features) if bias is None else bias.detach().numpy(),
            np.zeros(linear.out_features),
        )
    return cache[id(linear)]


def walk(
    net: nn.Module,
    start: torch.Tensor,
    end: torch.Tensor,
    last_layer_points: bool,
    columns: dict,
    tolerance: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """The walk of the segments ``start[i]`` → ``end[i]`` through a float64 ``net``: every point's
    segment, t and layer (-1 for the segments' ends), sorted along the segments, and the last
    hidden layer's new breakpoints per segment, counted (None with ``last_layer_points``: then they
    are points too). Crossings closer than ``tolerance`` make one breakpoint. ``columns`` caches
    the count's per-layer arrays across its chunks."""
    blocks = hidden_blocks(net)
    n = len(start)
    index = np.arange(2 * n)
    t, segment, layer = (index % 2).astype(np.float64), index // 2, np.full(2 * n, -1, dtype=np.int64)
    z = apply_affine(blocks[0], [torch.stack([start.to(DTYPE), end.to(DTYPE)], dim=1).flatten(0, 1)])[0]
    last_counts, last_layer = None, None
    for depth in range(len(blocks)):
        shape = z.shape[1:]
        values = z.flatten(1).contiguous().numpy()
        if depth == len(blocks) - 1 and not last_layer_points:
            if last_layer is None:
                counted = kernels.count_breakpoints(values, t, segment, n, tolerance)
            else:
                counted = last_layer.count(values, t, segment, n, tolerance)
            last_counts = counted
            break
        linear = dense_linear(blocks[depth + 1], tuple(shape)) if depth + 1 < len(blocks) else None
        rectify = depth + 1 < len(blocks) and linear is None
        certify = linear is not None and depth + 2 == len(blocks) and not last_layer_points
        layer32 = certified.Float32Layer.cached(linear, columns) if certify else None
        product = certified.float32_product(values, layer32) if certify else None
        dense64 = kernels.FLOAT64_PRODUCT if linear is not None and product is None else kernels.NO_PRODUCT
        walked = kernels.walk_layer(values, t, segment, layer, tolerance, depth, rectify, dense64)
        start, neuron, weight, abs_left, abs_right, slot = walked[:6]
        rectified, t, segment, layer, destination, point_weight, rectified_old = walked[6:13]
        if rectify:  # the next layer is not dense: evaluate it at every point
            z = apply_affine(blocks[depth + 1], [torch.from_numpy(rectified).view(-1, *shape)])[0]
        elif linear is not None:  # at the old points only; the new ones follow by interpolation
            weight_columns, bias, offset = _columns(linear, columns)
            if product is None:
                y = F.linear(torch.from_numpy(rectified_old), linear.weight, linear.bias).numpy()
            else:  # the last layer is only counted: its product in float32, the bias added after
                y, offset = product[0], bias
            crossings = (destination, start, neuron, point_weight, abs_left, abs_right, slot)
            old_rows = product is None  # (the certified count takes the product's rows as they are)
            z = torch.from_numpy(
                interpolation.merge(y, values, *crossings, weight_columns, bias, offset, old_rows)
            )
            if product is not None:
                found = (values, destination, start, slot, point_weight, neuron)
                last_layer = certified.LastLayer(layer32, product[0], product[1], *found)
    return segment, t, layer, last_counts
