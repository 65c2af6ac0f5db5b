"""The 1D walk of a chunk of segments through an MLP in one compiled call.

Where every hidden layer after the first is one dense Linear, a chunk's walk is the compiled
kernels of :mod:`deepstudy.regions.kernels` and a matrix product per layer. Here the products are
taken by the BLAS routine torch calls (:mod:`deepstudy.regions.blas`) from inside the kernel, so a
chunk runs start to end without the GIL, and threads running chunks side by side never wait on
each other. It is the walk of :mod:`deepstudy.regions.layer_walk`, step for step: the same
kernels, the same float64 products (to their rounding), and the last hidden layer counted from a
certified float32 product (:mod:`deepstudy.regions.certified`) where that is safe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from numba import njit, types
from numba.extending import intrinsic
from torch import nn

from deepstudy.regions import blas, certified, interpolation, kernels, parallel
from deepstudy.regions.kernels import FLOAT32_PRODUCT, FLOAT64_PRODUCT, NO_PRODUCT
from deepstudy.regions.layers import DTYPE, apply_affine, dense_linear, hidden_blocks


@dataclass(frozen=True)
class DenseLayers:
    """The hidden layers after the first, as the kernel takes them: ``packed``, their float64
    weights (out, in), biases and weight columns (the weights transposed, for
    ``interpolation.merge``), each kind in one flat array, layer after layer, and each layer's
    (outputs, inputs); and the last one's float32 weights with what its certified count needs, or
    ``certify`` False where float32 is unsafe (see :func:`certified.float32_product`).

    Flat arrays, whose types do not depend on the number of layers, let one compiled walk serve
    MLPs of every depth: as a tuple of arrays per layer, each depth was compiled anew (10-12 s each).
    """

    packed: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    single: np.ndarray
    norms: np.ndarray
    floor: float
    certify: bool

    @classmethod
    def of(cls, net: nn.Module, shape: tuple[int, ...]) -> DenseLayers | None:
        """The layers of ``net`` (in float64) whose first hidden layer gives values of ``shape``, or
        None where one of the others is not a dense Linear (or there are none)."""
        linears = []
        for block in hidden_blocks(net)[1:]:
            linear = dense_linear(block, shape)
            if linear is None:
                return None
            linears.append(linear)
            shape = (linear.out_features,)
        if not linears:
            return None
        shapes = np.array([(linear.out_features, linear.in_features) for linear in linears], dtype=np.int64)
        size = int((shapes[:, 0] * shapes[:, 1]).sum())
        weights, columns, start = np.empty(size), np.empty(size), 0
        for linear, (outputs, inputs) in zip(linears, shapes, strict=True):
            stop = start + outputs * inputs
            source = linear.weight.detach().numpy()  # each copied once, into its place
            weight = weights[start:stop].reshape(outputs, inputs)
            weight[...] = source
            columns[start:stop].reshape(inputs, outputs)[...] = source.T
            start = stop
        biases = np.concatenate([certified.float64_bias(linear) for linear in linears])
        last = certified.Float32Layer.of(linears[-1], weight)  # (weight: the last layer's)
        return cls(
            (weights, biases, columns, shapes), last.single.numpy(), last.norms, last.floor, last.usable
        )


@njit(cache=True, inline="always")
def _layer(packed: tuple, depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layer ``depth``'s weight (outputs, inputs), bias and columns: views of
    :attr:`DenseLayers.packed`."""
    weights, biases, columns, shapes = packed
    start, first = 0, 0
    for d in range(depth):
        start += shapes[d, 0] * shapes[d, 1]
        first += shapes[d, 0]
    outputs, inputs = shapes[depth, 0], shapes[depth, 1]
    stop = start + outputs * inputs
    weight = weights[start:stop].reshape((outputs, inputs))
    return weight, biases[first : first + outputs], columns[start:stop].reshape((inputs, outputs))


@njit(cache=True, nogil=True)
def _product(gemm, x: np.ndarray, weight: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """``x @ weight.T`` (the bias is added after, by ``interpolation.merge``)."""
    out = np.empty((x.shape[0], weight.shape[0]), dtype=x.dtype)
    blas.linear(gemm, x, weight, out, False)
    return out


@njit(cache=True, nogil=True)
def walk(
    gemm64,  # noqa: ANN001
    gemm32,  # noqa: ANN001
    inputs: np.ndarray,
    first: tuple,
    layers: tuple,
    single: np.ndarray,
    norms: np.ndarray,
    floor: float,
    certify: bool,
    tolerance: float,
    last_layer_points: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The walk of segments whose ends are ``inputs`` (rows: each segment's start, then its end):
    every point's segment, t and layer, sorted along the segments, and the last hidden layer's
    breakpoints per segment, counted (zeros with ``last_layer_points``: then they are points too).
    ``first``: the first hidden layer's float64 weight and bias, applied to the inputs here; where
    the weight has no rows, the inputs are that layer's values already. ``layers``:
    :attr:`DenseLayers.packed`."""
    first_weight, first_bias = first
    z = inputs
    if len(first_weight) > 0:
        z = np.empty((len(inputs), len(first_bias)))
        for p in range(len(z)):
            z[p] = first_bias
        blas.linear(gemm64, inputs, first_weight, z, True)
    segments = len(z) // 2
    t = np.empty(2 * segments)
    segment = np.empty(2 * segments, dtype=np.int64)
    for p in range(2 * segments):
        t[p], segment[p] = p % 2, p // 2
    layer = np.full(2 * segments, -1, dtype=np.int64)
    values = z
    counts = np.zeros(segments, dtype=np.int64)
    hidden = len(layers[3]) + 1
    # the certified count's inputs, from the product of the last hidden layer
    error = np.empty(0)
    previous = np.empty((0, 0))
    destination, start = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    slot, neuron = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    point_weight = np.empty(0)
    product32 = np.empty((0, 0), dtype=np.float32)
    certified_here = False
    for depth in range(hidden):
        if depth == hidden - 1:
            if last_layer_points:
                walked = kernels.walk_layer(values, t, segment, layer, tolerance, depth, False, NO_PRODUCT)
                t, segment, layer = walked[7], walked[8], walked[9]
            elif certified_here:
                last_weight, last_bias, _ = _layer(layers, depth - 1)
                origin, weight, first, stop = certified.point_origins(
                    destination, start, slot, point_weight, len(t)
                )
                before = (previous, origin, weight, first, stop, neuron)
                counts = certified.count_breakpoints(
                    (product32, last_bias, values),  # values: at the new points only
                    certified.point_errors(error, origin, weight),
                    norms,
                    t,
                    segment,
                    segments,
                    tolerance,
                    floor,
                    last_weight,
                    last_bias,
                    before,
                )[0]
            else:
                counts = kernels.count_breakpoints(values, t, segment, segments, tolerance)
            break
        weight_matrix, bias, columns = _layer(layers, depth)
        single_here = certify and depth + 2 == hidden and not last_layer_points
        product = FLOAT32_PRODUCT if single_here else FLOAT64_PRODUCT
        walked = kernels.walk_layer(values, t, segment, layer, tolerance, depth, False, product)
        start, neuron, abs_left, abs_right, slot = walked[0], walked[1], walked[3], walked[4], walked[5]
        t, segment, layer, destination, point_weight = walked[7], walked[8], walked[9], walked[10], walked[11]
        crossings = (destination, start, neuron, point_weight, abs_left, abs_right, slot)
        if single_here and certified.within_range(walked[14], norms):  # as float32_product takes it
            product32 = _product(gemm32, walked[13], single)
            error = certified.product_error(walked[14], weight_matrix.shape[1])
            certified_here = True
            merged = interpolation.merge(product32, values, *crossings, columns, bias, bias, False)
            previous = values
        else:
            rectified = np.maximum(values, 0.0) if single_here else walked[12]  # (rare: out of range)
            y = _product(gemm64, rectified, weight_matrix)
            merged = interpolation.merge(y, values, *crossings, columns, bias, bias, True)
        values = merged
    return segment, t, layer, counts


@intrinsic
def _claim(typingctx, counter):  # noqa: ANN001, ANN202
    """counter[0] (an int64 array), incremented atomically: threads running one compiled loop each
    take the next chunk by it, without the GIL."""
    if not (isinstance(counter, types.Array) and counter.dtype == types.int64):
        return None

    def codegen(context, builder, signature, arguments):  # noqa: ANN001, ANN202
        data = context.make_array(signature.args[0])(context, builder, arguments[0]).data
        return builder.atomic_rmw("add", data, context.get_constant(types.int64, 1), "monotonic")

    return types.int64(counter), codegen


@njit(cache=True, nogil=True)
def count_chunks(claimed: np.ndarray, chunk: int, arguments: tuple, out: np.ndarray) -> None:
    """Regions per segment into ``out``, chunk after chunk of ``chunk`` segments, each taken by the
    next number of ``claimed`` (shared by the threads running this loop side by side): one call
    per thread and count, where one per chunk cost its arguments' unpacking and a return to Python.
    ``arguments``: :func:`walk`'s but ``last_layer_points``, the inputs those of all segments."""
    gemm64, gemm32, inputs, first, layers, single, norms, floor, certify, tolerance = arguments
    segments = len(inputs) // 2
    while True:
        begin = _claim(claimed) * chunk
        if begin >= segments:
            return
        stop = min(begin + chunk, segments)
        ends = inputs[2 * begin : 2 * stop]
        segment, _, layer, counts = walk(
            gemm64, gemm32, ends, first, layers, single, norms, floor, certify, tolerance, False
        )
        for s in range(stop - begin):
            out[begin + s] = counts[s] + 1
        for p in range(len(layer)):
            if layer[p] >= 0:
                out[begin + segment[p]] += 1


@dataclass(frozen=True)
class ChunkWalker:
    """:func:`walk` with a count's arguments, made once per count (see :func:`chunk_walker`)."""

    arguments: tuple  # walk's but last_layer_points, the inputs those of all segments

    def __call__(self, first: int, segments: int, last_layer_points: bool) -> tuple[np.ndarray, ...]:
        """The walk of ``segments`` segments from ``first`` (see :func:`walk`)."""
        gemm64, gemm32, inputs, *rest = self.arguments
        ends = inputs[2 * first : 2 * (first + segments)]
        return walk(gemm64, gemm32, ends, *rest, last_layer_points)

    def regions(self, chunk: int, threads: int) -> np.ndarray:
        """Regions per segment, chunks of ``chunk`` segments walked on ``threads`` threads."""
        out = np.empty(len(self.arguments[2]) // 2, dtype=np.int64)
        claimed = np.zeros(1, dtype=np.int64)
        chunks = -(-len(out) // chunk)  # (no thread woken for nothing to do)
        parallel.together(lambda: count_chunks(claimed, chunk, self.arguments, out), min(threads, chunks))
        return out


def _ends(start: torch.Tensor, end: torch.Tensor) -> np.ndarray:
    """Each segment's start, then its end, flat, as float64 rows: in numpy, as torch's stack of
    the two took a count a quarter of a millisecond before its threads start."""
    shape = (len(start), math.prod(start.shape[1:]))
    ends = np.empty((2 * shape[0], shape[1]))
    ends[0::2] = start.detach().reshape(shape).numpy()
    ends[1::2] = end.detach().reshape(shape).numpy()
    return ends


def chunk_walker(
    net: nn.Module, start: torch.Tensor, end: torch.Tensor, tolerance: float
) -> ChunkWalker | None:
    """Where ``net`` (of any float dtype) is an MLP and a checked BLAS is at hand, :func:`walk` of
    any chunk of the segments; else None (then the walk runs layer by layer, its products in torch).
    Where the first hidden layer is one dense Linear, each chunk's call applies it too, in the
    chunk's thread; else its values at every segment's ends are taken here in torch (float64),
    before the chunks."""
    routines = blas.gemm()
    if routines is None:
        return None
    blocks = hidden_blocks(net)
    linear = dense_linear(blocks[0], tuple(start.shape[1:]))
    if linear is None:  # (a convolution) its values at the ends, in torch, before the chunks
        ends = torch.stack([start.to(DTYPE), end.to(DTYPE)], dim=1).flatten(0, 1)
        with parallel.torch_threads(1):  # else OpenMP's team, woken for a small product, spins a while
            values = apply_affine(blocks[0], [ends])[0]
        shape, first = tuple(values.shape[1:]), (np.empty((0, 0)), np.empty(0))
        values = values.flatten(1).contiguous().numpy()
    else:  # applied in each chunk's call, in the chunks' threads
        values, shape = _ends(start, end), (linear.out_features,)
        first = (certified.float64_array(linear.weight), certified.float64_bias(linear))
    layers = DenseLayers.of(net, shape)
    if layers is None:
        return None
    return ChunkWalker(
        (
            routines.double,
            routines.single,
            values,
            first,
            layers.packed,
            layers.single,
            layers.norms,
            layers.floor,
            layers.certify,
            tolerance,
        )
    )
