"""Many small networks trained at once in one process, stacked along a leading run axis
(:mod:`deepstudy.stacks`). ResNet-18 (batch norm) trains alone.

Each run keeps its own initial weights, training set (its own examples and labels, of any size),
data order (its own seeded permutation stream) and learning rate; only the shapes must agree
(architecture, batch size, steps per epoch). The update is plain SGD with momentum and weight decay
exactly as ``torch.optim.SGD`` does it, so a packed run follows its unpacked twin up to the
rounding of the batched products. A pack writes one resume file at each epoch's end.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812

from deepstudy.graphs import GraphedStep
from deepstudy.models import build_model
from deepstudy.stacks import stacked
from deepstudy.training import (
    PermutationStream,
    RunResult,
    RunSpec,
    has_diverged,
    save_atomically,
    steps_per_epoch,
)

#: Architectures whose runs can share one process.
PACKABLE_ARCHITECTURES = ("mlp", "conv")


def packable(specs: list[RunSpec], examples: list[int]) -> bool:
    """Whether ``specs`` (with so many training examples each) can train as one pack: equally shaped
    MLPs or conv nets, trained by SGD with equal batches and equally many steps per epoch."""
    first = specs[0]
    same = ("model", "batch_size", "epochs", "optimizer", "momentum", "weight_decay", "epoch_examples")
    steps = {steps_per_epoch(n, first.batch_size, first.epoch_examples) for n in examples}
    return (
        first.model.get("architecture") in PACKABLE_ARCHITECTURES
        and first.optimizer == "sgd"
        and all(all(getattr(s, key) == getattr(first, key) for key in same) for s in specs)
        and len(steps) == 1
    )


def stacking_pays(spec: RunSpec, device: torch.device) -> bool:
    """Whether stacking pays over training one run after another: on a GPU always; on a CPU for
    MLPs (batched matmuls, about 1.2-1.5x), not for conv nets (grouped convolutions run slower)."""
    return device.type != "cpu" or spec.model.get("architecture") == "mlp"


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


def padded(batches: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The runs' batches as one (K, B) tensor. A run whose pass ends with a shorter batch is padded
    with its first example and weighted 0 there (the weights are None when no batch is short)."""
    longest = max(len(b) for b in batches)
    if all(len(b) == longest for b in batches):
        return torch.stack(batches), None
    weight = torch.zeros(len(batches), longest, device=batches[0].device)
    rows = []
    for k, b in enumerate(batches):
        weight[k, : len(b)] = 1.0
        rows.append(torch.cat([b, b[:1].expand(longest - len(b))]))
    return torch.stack(rows), weight


def pack_fingerprint(specs: list[RunSpec]) -> str:
    """A hash of a pack's specs, in order: a resume file is only used by the pack that wrote it."""
    return hashlib.sha256("".join(s.fingerprint() for s in specs).encode()).hexdigest()[:16]


def train_packed(
    specs: list[RunSpec],
    images: torch.Tensor,
    indices: list[torch.Tensor],
    labels: list[torch.Tensor],
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    num_classes: int,
    resume_path: str | Path | None = None,
    validation: tuple[torch.Tensor, torch.Tensor] | None = None,
    cuda_graphs: bool = True,
) -> list[RunResult]:
    """Train the runs of one pack together, run k on ``images[indices[k]]`` with ``labels[k]``;
    each run's history (validation accuracy on the pack's shared ``validation`` examples, if
    given), checkpoints and final weights as :func:`deepstudy.training.train_run` would give them.
    With ``resume_path``, the pack's state is saved there after every epoch and a later call with
    the same specs continues from it. On CUDA its steps of full batches replay as a captured graph
    unless ``cuda_graphs`` is off; each result's ``training_step`` says how they ran."""
    device = images.device
    nets = [build_model(s.model, tuple(images.shape[1:]), num_classes, s.seed).to(device) for s in specs]
    packed = stacked(nets)
    lr = torch.tensor([s.lr for s in specs], device=device, dtype=images.dtype)
    optimizer = PackedSGD(packed.parameters(), lr, specs[0].momentum, specs[0].weight_decay)
    streams = [PermutationStream(len(index), s.seed, device) for s, index in zip(specs, indices, strict=True)]
    # every run's examples in one flat index, run k's from offset[k]: one gather per step
    offset = torch.tensor([0, *(len(i) for i in indices)], device=device).cumsum(0)[:-1, None]
    index, label = torch.cat(indices), torch.cat(labels)
    results = [RunResult() for _ in specs]
    for k, spec in enumerate(specs):
        if 0 in spec.checkpoint_epochs:
            results[k].checkpoints[0] = packed.state_dict(k)
    start_epoch = 0
    resume_path = Path(resume_path) if resume_path is not None else None
    if resume_path is not None and resume_path.exists():
        state = torch.load(resume_path, map_location="cpu", weights_only=False)
        if state["fingerprint"] == pack_fingerprint(specs):
            with torch.no_grad():
                for param, saved in zip(packed.parameters(), state["parameters"], strict=True):
                    param.copy_(saved)
            optimizer.buffers = [None if b is None else b.to(device) for b in state["momentum"]]
            for stream, saved in zip(streams, state["streams"], strict=True):
                stream.load_state_dict(saved)
            results, start_epoch = state["results"], state["epoch"]
            print(f"the pack of {len(specs)} runs resumed from epoch {start_epoch} of {specs[0].epochs}")
    steps = steps_per_epoch(len(indices[0]), specs[0].batch_size, specs[0].epoch_examples)
    runs, size = len(specs), specs[0].batch_size
    # a step of full batches reads its batch from, and adds its losses to, static tensors: on CUDA
    # it is replayed as a captured graph (see deepstudy.graphs)
    static_batch = torch.zeros((runs, size), dtype=torch.long, device=device)
    total = torch.zeros(runs, dtype=torch.float64, device=device)
    seen = torch.zeros(runs, dtype=torch.float64, device=device)

    def step(batch: torch.Tensor, weight: torch.Tensor | None) -> None:
        rows = batch + offset
        logits = packed(images[index[rows]])
        loss = F.cross_entropy(logits.flatten(0, 1), label[rows].flatten(), reduction="none")
        if weight is None:
            per_run = loss.view(runs, -1).mean(dim=1)
            counts = batch.shape[1]
        else:  # a run at the end of its pass: its short batch, padded, weighs only its own examples
            counts = weight.sum(dim=1)
            per_run = (loss.view(runs, -1) * weight).sum(dim=1) / counts
        per_run.sum().backward()
        optimizer.step()
        total.add_(per_run.detach() * counts)
        seen.add_(counts)

    full_step = GraphedStep(lambda: step(static_batch, None), device, packed.parameters(), cuda_graphs)
    for epoch in range(start_epoch + 1, specs[0].epochs + 1):
        total.zero_()
        seen.zero_()
        for _ in range(steps):
            batch, weight = padded([stream.next(size) for stream in streams])
            if weight is None and batch.shape == static_batch.shape:
                static_batch.copy_(batch)
                full_step()
            else:
                step(batch, weight)
        mean_loss = (total / seen).tolist()
        test_accuracy = packed.accuracy(test_x, test_y)
        validation_accuracy = packed.accuracy(*validation) if validation is not None else None
        for k, spec in enumerate(specs):
            result = results[k]
            if result.diverged:
                continue
            if has_diverged(mean_loss[k], num_classes):
                result.diverged = True
                missing = spec.epochs - len(result.train_loss)
                result.train_loss += [math.nan] * missing
                result.test_accuracy += [math.nan] * missing
                if validation is not None:
                    result.validation_accuracy += [math.nan] * missing
                continue
            result.train_loss.append(mean_loss[k])
            result.test_accuracy.append(test_accuracy[k])
            if validation_accuracy is not None:
                result.validation_accuracy.append(validation_accuracy[k])
            if epoch in spec.checkpoint_epochs:
                result.checkpoints[epoch] = packed.state_dict(k)
        if resume_path is not None:
            save_atomically(
                {
                    "fingerprint": pack_fingerprint(specs),
                    "epoch": epoch,
                    "parameters": [p.detach().cpu() for p in packed.parameters()],
                    "momentum": [None if b is None else b.cpu() for b in optimizer.buffers],
                    "streams": [stream.state_dict() for stream in streams],
                    "results": results,
                },
                resume_path,
            )
    for k, result in enumerate(results):
        result.final_state = packed.state_dict(k)
        result.training_step = full_step.mode
    return results
