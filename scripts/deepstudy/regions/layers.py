"""The layers of a ReLU network as region analysis sees them: affine blocks between ReLUs.

A network here is a ``torch.nn.Sequential`` of ``Linear``, ``Conv1d``, ``Conv2d``, ``Flatten`` and
``ReLU`` layers (the project's MLPs and conv nets). Its activation regions are the sets of inputs
on which every hidden neuron keeps its sign; they are convex polytopes, and inside one the network
is affine. The output layer has no ReLU after it and does not count. Every exact method here
(:mod:`~deepstudy.regions.lines`, :mod:`~deepstudy.regions.planes`,
:mod:`~deepstudy.regions.distance`) pushes affine parametrisations through these blocks in float64.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

DTYPE = torch.float64


def float64_copy(net: nn.Module, device: torch.device) -> nn.Module:
    """A float64 copy of ``net`` on ``device``, made once per call rather than per layer use."""
    first = next(net.parameters(), None)
    if first is not None and first.dtype == DTYPE and first.device == device:
        return net
    return copy.deepcopy(net).to(device=device, dtype=DTYPE)


def flat_layers(net: nn.Module) -> list[nn.Module]:
    """The network's layers in order, nested Sequentials opened; refuses layers it cannot analyse."""
    if isinstance(net, nn.Sequential):
        return [layer for child in net for layer in flat_layers(child)]
    if not isinstance(net, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Flatten | nn.ReLU):
        raise TypeError(f"region analysis takes Linear, Conv1d, Conv2d, Flatten and ReLU layers, not {net}")
    return [net]


def affine(layer: nn.Module, value: torch.Tensor, with_bias: bool) -> torch.Tensor:
    """``layer`` applied in float64 to a batch of values (bias) or of directions (no bias)."""
    if isinstance(layer, nn.Flatten):
        return layer(value)
    weight = layer.weight.detach().to(value.device, DTYPE)
    bias = layer.bias.detach().to(value.device, DTYPE) if with_bias and layer.bias is not None else None
    if isinstance(layer, nn.Linear):
        return F.linear(value, weight, bias)
    conv = F.conv1d if isinstance(layer, nn.Conv1d) else F.conv2d
    return conv(value, weight, bias, layer.stride, layer.padding, layer.dilation, layer.groups)


def hidden_steps(net: nn.Module) -> Iterator[tuple[list[nn.Module], bool]]:
    """The affine layers before each ReLU, then (with ``False``) those after the last ReLU."""
    block: list[nn.Module] = []
    for layer in flat_layers(net):
        if isinstance(layer, nn.ReLU):
            yield block, True
            block = []
        else:
            block.append(layer)
    yield block, False


def hidden_blocks(net: nn.Module) -> list[list[nn.Module]]:
    """The affine layers before each ReLU."""
    return [block for block, hidden in hidden_steps(net) if hidden]


def dense_linear(block: list[nn.Module], shape: tuple[int, ...]) -> nn.Linear | None:
    """The Linear layer of a block that is one Linear on the flat values of ``shape`` (each value
    flat, or flattened whole by a Flatten before it), else None: a Linear on 2-D values acts on
    each row, not on the whole value, and one that does not fit is left for torch to refuse."""
    flat = len(shape) == 1
    if (
        len(block) == 2
        and isinstance(block[0], nn.Flatten)
        and (block[0].start_dim, block[0].end_dim) == (1, -1)
    ):
        block, flat = block[1:], True
    if not flat or len(block) != 1 or not isinstance(block[0], nn.Linear):
        return None
    return block[0] if block[0].in_features == math.prod(shape) else None


def apply_affine(block: list[nn.Module], values: list[torch.Tensor]) -> list[torch.Tensor]:
    """Push an affine parametrisation (value, slopes...) through affine layers."""
    out = list(values)
    for layer in block:
        out = [affine(layer, out[0], True)] + [affine(layer, v, False) for v in out[1:]]
    return out


def count_neurons(net: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Total number of hidden neurons (units followed by a ReLU) for inputs of ``input_shape``."""
    total = 0
    x = torch.zeros(1, *input_shape, dtype=DTYPE)
    for block, hidden in hidden_steps(net):
        x = apply_affine(block, [x])[0]
        if hidden:
            total += x[0].numel()
    return total


@torch.no_grad()
def activation_patterns(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Sign pattern (bool, one column per hidden neuron) of each input in ``x``."""
    patterns = []
    h = x.to(DTYPE)
    for block, hidden in hidden_steps(net):
        if not hidden:
            break
        h = apply_affine(block, [h])[0]
        patterns.append((h > 0).flatten(1))
        h = torch.relu(h)
    return torch.cat(patterns, dim=1)
