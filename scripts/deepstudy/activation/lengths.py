"""Activation length at initialisation and whether training starts (Hanin & Rolnick 2018).

For a ReLU MLP with hidden widths n_1 … n_L, weights N(0, c / fan-in) and zero biases, the
normalised squared activation length at layer l is

    M_l = (‖h_l‖² / n_l) / (‖x‖² / n_0),

whose mean is (c / 2)^l: constant with depth for He initialisation (c = 2), vanishing for c < 2 and
exploding for c > 2. Its variance over random weights grows with Σ 1/n_j, so a deep, narrow net
has wildly varying activation lengths even with c = 2, and fails to start training.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from deepstudy.activation.workflow import TORCH_DEFAULT


def init_seed(seed: int, init: float | str) -> int:
    """The seed of one initialisation's draws, derived from the study's ``seed`` and the init.

    Drawn from one sample, c = 1, 2 and 3 would be exact rescalings of each other (M_l scales as
    c^l), not independent estimates; so each init gets its own stream: NumPy's ``SeedSequence`` of
    (seed, CRC-32 of the init's label: ``torch``, or the float's repr such as ``2.0``). The seed
    depends on the init's value only, not on its place in the list.
    """
    label = TORCH_DEFAULT if init == TORCH_DEFAULT else repr(float(init))
    return int(np.random.SeedSequence([seed, zlib.crc32(label.encode())]).generate_state(1)[0])


def _weights(
    fan_out: int, fan_in: int, count: int, init: float | str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` independent weight matrices and bias vectors of one layer."""
    if init == TORCH_DEFAULT:  # nn.Linear's own: U(±1/sqrt(fan_in)) for weights and biases
        bound = 1 / math.sqrt(fan_in)
        weight = (
            torch.rand(count, fan_out, fan_in, generator=generator, dtype=torch.float64) * 2 - 1
        ) * bound
        bias = (torch.rand(count, 1, fan_out, generator=generator, dtype=torch.float64) * 2 - 1) * bound
        return weight, bias
    std = math.sqrt(float(init) / fan_in)
    weight = torch.randn(count, fan_out, fan_in, generator=generator, dtype=torch.float64) * std
    return weight, torch.zeros(count, 1, fan_out, dtype=torch.float64)


def squared_lengths(
    input_size: int, widths: list[int], init: float | str, inits: int, inputs: int, seed: int
) -> np.ndarray:
    """M_l for ``inits`` random networks × ``inputs`` random inputs, shape (inits, inputs, layers).

    ``init`` is the weight variance times fan-in (2 for He, 1 for LeCun) or ``"torch"`` for
    PyTorch's default uniform initialisation (biases included). Inputs are standard normal.
    """
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(inits, inputs, input_size, generator=generator, dtype=torch.float64)
    reference = (x**2).sum(-1) / input_size
    h, fan_in, lengths = x, input_size, []
    for width in widths:
        weight, bias = _weights(width, fan_in, inits, init, generator)
        h = torch.relu(torch.baddbmm(bias, h, weight.transpose(1, 2)))
        lengths.append(((h**2).sum(-1) / width) / reference)
        fan_in = width
    return torch.stack(lengths, dim=-1).numpy()


def reciprocal_width_sum(widths: list[int]) -> float:
    """Σ 1/n_j over the hidden layers: what the variance of the activation length grows with."""
    return float(sum(1 / w for w in widths))


def starts_training(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    widths: list[int],
    init: float | str,
    num_classes: int,
    steps: int,
    lr: float,
    batch_size: int,
    seed: int,
) -> float:
    """Training loss after ``steps`` SGD steps divided by the loss at the start (below 1: it starts).

    A plain MLP with the given hidden widths and initialisation is trained with SGD (momentum 0.9)
    on batches drawn with a seeded generator. A loss that turns NaN or infinite gives ``inf``.
    """
    generator = torch.Generator().manual_seed(seed)
    sizes = [train_x[0].numel(), *widths, num_classes]
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        weight, bias = _weights(fan_out, fan_in, 1, init, generator)
        params += [weight[0].float().requires_grad_(), bias[0, 0].float().requires_grad_()]
    x, y = train_x.flatten(1), train_y

    def loss_on(batch: torch.Tensor) -> torch.Tensor:
        h = x[batch]
        for i in range(0, len(params) - 2, 2):
            h = torch.relu(F.linear(h, params[i], params[i + 1]))
        return F.cross_entropy(F.linear(h, params[-2], params[-1]), y[batch])

    optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9)
    with torch.no_grad():
        start = loss_on(torch.arange(len(x))).item()
    for _ in range(steps):
        batch = torch.randint(0, len(x), (batch_size,), generator=generator)
        loss = loss_on(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        end = loss_on(torch.arange(len(x))).item()
    return end / start if math.isfinite(end) and math.isfinite(start) else math.inf
