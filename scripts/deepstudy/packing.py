"""Many small MLPs trained at once in one process: their parameters stacked along a leading run
axis, every layer one batched matmul (``torch.baddbmm``) over all runs.

Each run keeps its own initial weights, data order (its own seeded permutation stream), learning
rate and labels; only the shapes must agree (architecture, batch size, examples per epoch). The
update is plain SGD with momentum and weight decay exactly as ``torch.optim.SGD`` does it, so a
packed run follows its unpacked twin up to the rounding of the batched products.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from deepstudy.models import build_model
from deepstudy.training import PermutationStream, RunResult, RunSpec, steps_per_epoch


def packable(specs: list[RunSpec], examples: list[int]) -> bool:
    """Whether ``specs`` (with so many training examples each) can train as one pack."""
    first = specs[0]
    same = ("model", "batch_size", "epochs", "optimizer", "momentum", "weight_decay", "epoch_examples")
    return (
        first.model.get("architecture") == "mlp"
        and first.optimizer == "sgd"
        and all(all(getattr(s, key) == getattr(first, key) for key in same) for s in specs)
        and len(set(examples)) == 1
    )


class PackedMLP:
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

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 4096) -> list[float]:
        """Each run's fraction of ``x`` classified as ``y`` (every run sees the same examples)."""
        correct = torch.zeros(len(self.weights[0]), dtype=torch.int64, device=x.device)
        for start in range(0, len(x), batch_size):
            chunk = x[start : start + batch_size]
            logits = self(chunk.expand(len(correct), *chunk.shape))
            correct += (logits.argmax(dim=2) == y[start : start + batch_size]).sum(dim=1)
        return (correct.double() / len(x)).tolist()

    def state_dict(self, run: int) -> dict[str, torch.Tensor]:
        """Run ``run``'s weights under the keys of its ``build_model`` network."""
        state = {}
        for name, weight, bias in zip(self.names, self.weights, self.biases, strict=True):
            state[f"{name}.weight"] = weight[run].detach().cpu().clone()
            state[f"{name}.bias"] = bias[run].detach().cpu().clone()
        return state


class PackedSGD:
    """``torch.optim.SGD`` (momentum, dampening 0, weight decay) with one learning rate per run."""

    def __init__(
        self, params: list[torch.Tensor], lr: torch.Tensor, momentum: float, weight_decay: float
    ) -> None:
        self.params, self.lr, self.momentum, self.weight_decay = params, lr, momentum, weight_decay
        self.buffers: list[torch.Tensor | None] = [None] * len(params)

    @torch.no_grad()
    def step(self) -> None:
        for i, param in enumerate(self.params):
            grad = param.grad
            if self.weight_decay:
                grad = grad.add(param, alpha=self.weight_decay)
            if self.momentum:
                if self.buffers[i] is None:
                    self.buffers[i] = grad.clone()
                else:
                    self.buffers[i].mul_(self.momentum).add_(grad)
                grad = self.buffers[i]
            param.sub_(self.lr.view(-1, *([1] * (param.ndim - 1))) * grad)
            param.grad = None


def train_packed(
    specs: list[RunSpec],
    images: torch.Tensor,
    indices: list[torch.Tensor],
    labels: list[torch.Tensor],
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    num_classes: int,
) -> list[RunResult]:
    """Train the runs of one pack together; each run's history, checkpoints and final weights as
    :func:`deepstudy.training.train_run` would give them (no resume checkpoint)."""
    device = images.device
    nets = [build_model(s.model, tuple(images.shape[1:]), num_classes, s.seed).to(device) for s in specs]
    packed = PackedMLP(nets)
    lr = torch.tensor([s.lr for s in specs], device=device, dtype=images.dtype)
    optimizer = PackedSGD(packed.parameters(), lr, specs[0].momentum, specs[0].weight_decay)
    streams = [PermutationStream(len(index), s.seed, device) for s, index in zip(specs, indices, strict=True)]
    index, label = torch.stack(indices), torch.stack(labels)
    results = [RunResult() for _ in specs]
    for k, spec in enumerate(specs):
        if 0 in spec.checkpoint_epochs:
            results[k].checkpoints[0] = packed.state_dict(k)
    steps = steps_per_epoch(len(indices[0]), specs[0].batch_size, specs[0].epoch_examples)
    rows = torch.arange(len(specs), device=device)[:, None]
    for epoch in range(1, specs[0].epochs + 1):
        total = torch.zeros(len(specs), dtype=torch.float64, device=device)
        seen = 0
        for _ in range(steps):
            batch = torch.stack([stream.next(specs[0].batch_size) for stream in streams])
            logits = packed(images[index[rows, batch]])
            loss = F.cross_entropy(logits.flatten(0, 1), label[rows, batch].flatten(), reduction="none")
            per_run = loss.view(len(specs), -1).mean(dim=1)
            per_run.sum().backward()
            optimizer.step()
            total += per_run.detach() * batch.shape[1]
            seen += batch.shape[1]
        mean_loss = (total / seen).tolist()
        test_accuracy = packed.accuracy(test_x, test_y)
        for k, spec in enumerate(specs):
            result = results[k]
            if result.diverged:
                continue
            if not math.isfinite(mean_loss[k]):
                result.diverged = True
                missing = spec.epochs - len(result.train_loss)
                result.train_loss += [math.nan] * missing
                result.test_accuracy += [math.nan] * missing
                continue
            result.train_loss.append(mean_loss[k])
            result.test_accuracy.append(test_accuracy[k])
            if epoch in spec.checkpoint_epochs:
                result.checkpoints[epoch] = packed.state_dict(k)
    for k, result in enumerate(results):
        result.final_state = packed.state_dict(k)
    return results
