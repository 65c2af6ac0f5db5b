"""Networks of the studies: MLPs, small conv nets (1D or 2D by input shape) and ResNet-18.

MLPs and conv nets are plain ``torch.nn.Sequential`` stacks of ``Linear``/``Conv``/``ReLU``/
``Flatten`` layers, which the linear-region analysis walks layer by layer. Weights get He
initialisation (variance 2/fan-in) by default, biases zero unless a spec's ``bias_std`` asks for
small normal ones (the regions study's fresh networks, as Hanin & Rolnick 2019 draw them).
"""

from __future__ import annotations

import math

import torch
from torch import nn

ARCHITECTURES = ("mlp", "conv", "resnet18")
#: Weight variance × fan-in for each initialisation; ``torch`` keeps PyTorch's defaults.
INIT_VARIANCE = {"he": 2.0, "lecun": 1.0}
INITS = ("he", "lecun", "xavier", "torch")


def mlp(input_size: int, depth: int, width: int, num_classes: int) -> nn.Sequential:
    """Flatten, then ``depth`` hidden ReLU layers of ``width`` neurons, then a linear output."""
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = input_size
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), nn.ReLU()]
        fan_in = width
    layers.append(nn.Linear(fan_in, num_classes))
    return nn.Sequential(*layers)


def conv_net(
    input_shape: tuple[int, ...],
    channels: list[int],
    kernel_size: int,
    hidden: int,
    num_classes: int,
) -> nn.Sequential:
    """Strided ReLU convolutions (1D for (C, L) inputs, 2D for (C, H, W)), a hidden layer, output."""
    if len(input_shape) not in (2, 3):
        raise ValueError(f"conv nets take (C, L) or (C, H, W) inputs, not {input_shape}")
    conv = nn.Conv1d if len(input_shape) == 2 else nn.Conv2d
    layers: list[nn.Module] = []
    in_channels = input_shape[0]
    for out_channels in channels:
        layers += [
            conv(in_channels, out_channels, kernel_size, stride=2, padding=kernel_size // 2),
            nn.ReLU(),
        ]
        in_channels = out_channels
    layers.append(nn.Flatten())
    with torch.no_grad():
        flat = nn.Sequential(*layers)(torch.zeros(1, *input_shape)).shape[1]
    layers += [nn.Linear(flat, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)]
    return nn.Sequential(*layers)


def resnet18(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """torchvision's ResNet-18 with the usual small-image stem (3×3 stride-1 conv, no max-pool)."""
    from torchvision.models import resnet18 as torchvision_resnet18

    if len(input_shape) != 3:
        raise ValueError(f"resnet18 takes (C, H, W) images, not inputs of shape {input_shape}")
    net = torchvision_resnet18(num_classes=num_classes)
    net.conv1 = nn.Conv2d(input_shape[0], 64, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    return net


def initialise(net: nn.Module, init: str, generator: torch.Generator, bias_std: float = 0.0) -> None:
    """Draw weights of every linear and conv layer from N(0, σ²) with σ² set by ``init``, then
    biases from N(0, ``bias_std``²) (zero where ``bias_std`` is 0).

    ``he``: 2/fan-in, ``lecun``: 1/fan-in, ``xavier``: 2/(fan-in + fan-out); ``torch`` keeps the
    layers' own initialisation, biases included (drawn under the same seed). The biases are drawn
    after all the weights, so the weights do not depend on ``bias_std``.
    """
    if init not in INITS:
        raise ValueError(f"unknown init '{init}', expected one of {INITS}")
    if init == "torch":
        return
    layers = [m for m in net.modules() if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d)]
    with torch.no_grad():
        for module in layers:
            fan_out, fan_in = module.weight.shape[0], module.weight[0].numel()
            receptive = module.weight[0, 0].numel()
            if init == "xavier":
                variance = 2.0 / (fan_in + fan_out * receptive)
            else:
                variance = INIT_VARIANCE[init] / fan_in
            module.weight.normal_(0.0, math.sqrt(variance), generator=generator)
        for module in layers:
            if module.bias is not None and bias_std > 0:
                module.bias.normal_(0.0, bias_std, generator=generator)
            elif module.bias is not None:
                module.bias.zero_()


def build_model(spec: dict, input_shape: tuple[int, ...], num_classes: int, seed: int) -> nn.Module:
    """The network described by a model ``spec`` from the config, initialised from ``seed``.

    The same spec, shape and seed give bitwise the same weights; the global RNG is left untouched.
    ``spec["bias_std"]`` (default 0: zero biases) is the standard deviation of the biases.
    """
    architecture = spec["architecture"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if architecture == "mlp":
            net = mlp(math.prod(input_shape), spec["depth"], spec["width"], num_classes)
        elif architecture == "conv":
            net = conv_net(input_shape, spec["channels"], spec["kernel_size"], spec["hidden"], num_classes)
        elif architecture == "resnet18":
            net = resnet18(input_shape, num_classes)
        else:
            raise ValueError(f"unknown architecture '{architecture}', expected one of {ARCHITECTURES}")
        generator = torch.Generator().manual_seed(seed)
        initialise(net, spec.get("init", "he"), generator, spec.get("bias_std", 0.0))
    return net
