"""Networks stacked along a leading run axis, so that one forward pass trains or scores K of them.
MLPs run every layer as one batched matmul (``torch.baddbmm``) over all runs; conv nets run through
``torch.func`` (``stack_module_state``, ``functional_call`` and ``vmap``), which turns each
convolution into one grouped convolution over all runs. :class:`Single` gives one network of any
architecture (batch norm included) the same interface, so a learner written for K runs trains one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap


class _Pack:
    """What every pack of K networks offers besides its forward pass: each run's parameters and
    buffers as slices of stacked (K, ...) tensors, and a base network (on the meta device) that
    ``torch.func.functional_call`` runs on one run's slices."""

    runs: int
    base: nn.Module

    def named_parameters(self) -> dict[str, torch.Tensor]:
        """The stacked parameters (K, ...) under the keys of a ``build_model`` network."""
        raise NotImplementedError

    def named_buffers(self) -> dict[str, torch.Tensor]:
        return {}

    def run_function(self, run: int) -> tuple[dict[str, torch.Tensor], Callable]:
        """Run ``run``'s detached parameters, and ``f(parameters, x)``: its logits of ``x`` (B, ...)
        under any parameters of its shapes (``torch.func`` transforms take gradients through it)."""
        buffers = {name: b[run] for name, b in self.named_buffers().items()}

        def call(params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, (params, buffers), (x,))

        return {name: p[run].detach() for name, p in self.named_parameters().items()}, call

    @torch.no_grad()
    def run_forward(self, run: int, x: torch.Tensor) -> torch.Tensor:
        """Run ``run``'s logits of ``x`` (B, ...), without gradients."""
        params, call = self.run_function(run)
        return call(params, x)

    def tensors(self) -> list[torch.Tensor]:
        """Every stacked parameter and floating buffer (K, ...): what must stay finite."""
        buffers = [b for b in self.named_buffers().values() if b.is_floating_point()]
        return [*self.named_parameters().values(), *buffers]

    def pack_state(self) -> dict[str, torch.Tensor]:
        """The stacked parameters and buffers, on the CPU: a resume checkpoint's weights."""
        named = {**self.named_parameters(), **self.named_buffers()}
        return {name: t.detach().cpu() for name, t in named.items()}

    @torch.no_grad()
    def load_pack_state(self, state: dict[str, torch.Tensor]) -> None:
        for name, tensor in {**self.named_parameters(), **self.named_buffers()}.items():
            tensor.copy_(state[name])

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 4096) -> list[float]:
        """Each run's fraction of ``x`` classified as ``y`` (every run sees the same examples)."""
        correct = torch.zeros(self.runs, dtype=torch.int64, device=x.device)
        for start in range(0, len(x), batch_size):
            chunk = x[start : start + batch_size]
            logits = self(chunk.expand(len(correct), *chunk.shape))
            correct += (logits.argmax(dim=2) == y[start : start + batch_size]).sum(dim=1)
        return (correct.double() / len(x)).tolist()


class PackedMLP(_Pack):
    """The linear layers of K equally shaped MLPs (``build_model`` MLPs), stacked: weights (K, out,
    in) and biases (K, out) as leaf tensors."""

    def __init__(self, nets: list[nn.Module]) -> None:
        linears = [[m for m in net if isinstance(m, nn.Linear)] for net in nets]
        self.weights = [
            torch.stack([net[i].weight.detach() for net in linears]).requires_grad_()
            for i in range(len(linears[0]))
        ]
        self.biases = [
            torch.stack([net[i].bias.detach() for net in linears]).requires_grad_()
            for i in range(len(linears[0]))
        ]
        self.names = [name for name, module in nets[0].named_modules() if isinstance(module, nn.Linear)]
        self.runs = len(nets)
        self.base = copy.deepcopy(nets[0]).to("meta")

    def named_parameters(self) -> dict[str, torch.Tensor]:
        named = {}
        for name, weight, bias in zip(self.names, self.weights, self.biases, strict=True):
            named[f"{name}.weight"], named[f"{name}.bias"] = weight, bias
        return named

    def parameters(self) -> list[torch.Tensor]:
        return [p for pair in zip(self.weights, self.biases, strict=True) for p in pair]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (K, B, classes) of inputs (K, B, *input_shape), run k's batch through net k."""
        h = x.flatten(2)
        for layer, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2))
            if layer < len(self.weights) - 1:
                h = torch.relu(h)
        return h

    def state_dict(self, run: int) -> dict[str, torch.Tensor]:
        """Run ``run``'s weights under the keys of its ``build_model`` network."""
        state = {}
        for name, weight, bias in zip(self.names, self.weights, self.biases, strict=True):
            state[f"{name}.weight"] = weight[run].detach().cpu().clone()
            state[f"{name}.bias"] = bias[run].detach().cpu().clone()
        return state


class PackedNets(_Pack):
    """K equally shaped networks of any architecture without batch norm, stacked by ``torch.func``:
    each parameter (K, ...) a leaf tensor; a call maps the base network over the run axis."""

    def __init__(self, nets: list[nn.Module]) -> None:
        params, self.buffers = stack_module_state(nets)
        self.params = {name: p.detach().requires_grad_() for name, p in params.items()}
        self.base = copy.deepcopy(nets[0]).to("meta")
        self.runs = len(nets)

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def named_parameters(self) -> dict[str, torch.Tensor]:
        return self.params

    def named_buffers(self) -> dict[str, torch.Tensor]:
        return self.buffers

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (K, B, classes) of inputs (K, B, *input_shape), run k's batch through net k."""

        def one(params: dict, buffers: dict, batch: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, (params, buffers), (batch,))

        return vmap(one)(self.params, self.buffers, x)

    def state_dict(self, run: int) -> dict[str, torch.Tensor]:
        """Run ``run``'s weights under the keys of its ``build_model`` network."""
        return {name: p[run].detach().cpu().clone() for name, p in {**self.params, **self.buffers}.items()}


def stacked(nets: list[nn.Module]) -> PackedMLP | PackedNets:
    """The pack of ``nets``: batched matmuls for MLPs, ``torch.func`` for the others."""
    linear_only = all(
        isinstance(m, nn.Linear | nn.Flatten | nn.ReLU | nn.Sequential) for m in nets[0].modules()
    )
    return PackedMLP(nets) if linear_only else PackedNets(nets)


class Single:
    """One network of any architecture as a pack of one: the interface of :class:`PackedMLP` over a
    plain module (batch norm included), whose parameters the run axis only views."""

    runs = 1

    def __init__(self, net: nn.Module) -> None:
        self.net = net

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (1, B, classes) of inputs (1, B, *input_shape)."""
        return self.net(x[0]).unsqueeze(0)

    def parameters(self) -> list[torch.Tensor]:
        return list(self.net.parameters())

    def named_parameters(self) -> dict[str, torch.Tensor]:
        return {name: p.unsqueeze(0) for name, p in self.net.named_parameters()}

    def run_function(self, run: int) -> tuple[dict[str, torch.Tensor], Callable]:
        buffers = {name: b.detach() for name, b in self.net.named_buffers()}

        def call(params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
            return functional_call(self.net, (params, buffers), (x,))

        return {name: p.detach() for name, p in self.net.named_parameters()}, call

    @torch.no_grad()
    def run_forward(self, run: int, x: torch.Tensor) -> torch.Tensor:
        """The network's logits of ``x`` in evaluation mode (batch norm reads its running means)."""
        was_training = self.net.training
        self.net.eval()
        logits = self.net(x)
        self.net.train(was_training)
        return logits

    def tensors(self) -> list[torch.Tensor]:
        return [t.unsqueeze(0) for t in self.net.state_dict().values() if t.is_floating_point()]

    def pack_state(self) -> dict[str, torch.Tensor]:
        return {name: t.detach().cpu() for name, t in self.net.state_dict().items()}

    def load_pack_state(self, state: dict[str, torch.Tensor]) -> None:
        self.net.load_state_dict(state)
