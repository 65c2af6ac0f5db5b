"""Training of one or many runs: device-resident data, ``randperm`` batches, resumable, repeatable.

The training set lives on the device as one image tensor plus an index and a label per example; a
batch is a slice of a random permutation, gathered with one indexing operation (no DataLoader in
the hot loop). Every source of randomness is an explicit, seeded generator, so a run is bitwise
repeatable on CPU, and a resume checkpoint written after every epoch holds all of its state: a
killed job continues where it stopped and ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from tqdm import tqdm

from deepstudy.gpus import gpu_slot, job_gpu_ids
from deepstudy.jobs import fingerprint
from deepstudy.models import build_model
from deepstudy.runner import rule_log

OPTIMIZERS = ("sgd", "adam")
#: Where training may run: ``auto`` picks CUDA when torch sees a GPU.
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one training run (data aside)."""

    name: str
    model: dict
    seed: int
    lr: float
    batch_size: int
    epochs: int
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0
    epoch_examples: int | None = None
    checkpoint_epochs: tuple[int, ...] = ()

    def fingerprint(self) -> str:
        """A hash of the spec: a resume checkpoint is only used by the run that wrote it."""
        return fingerprint(self)


@dataclass
class RunResult:
    """Per-epoch history of a run and the weights kept at its checkpoint epochs."""

    train_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    #: accuracy on the validation examples after each epoch (empty without them): picks the best epoch
    validation_accuracy: list[float] = field(default_factory=list)
    diverged: bool = False
    checkpoints: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    final_state: dict[str, torch.Tensor] | None = None
    #: how the training steps ran: eagerly, or replayed as a CUDA graph (see deepstudy.graphs)
    training_step: str = "eager (trained alone)"


@contextmanager
def training_slot(
    gpus_requested: int,
    configured: list[int] | str,
    device: str,
    threads: int,
    jobs_per_gpu: int = 1,
    work: str = "training",
):
    """For a job that computes on a device: hold a GPU slot if it asked for one (``jobs_per_gpu``
    slots a GPU), then pick its torch device (and threads); yields the device. The log says which
    GPU the job got and where its ``work`` runs."""
    with gpu_slot(job_gpu_ids(gpus_requested, configured), jobs_per_gpu=jobs_per_gpu) as gpu:
        chosen = training_device(device, threads, gpus_requested, work)
        print(f"GPU slot: {gpu} (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')})")
        yield chosen


@contextmanager
def training_job(snakemake, work: str = "training") -> Iterator[torch.device]:
    """What a rule script that trains (or analyses, ``work``) on a device runs in: its log
    (:func:`deepstudy.runner.rule_log`) and, where the job asked for a GPU, a GPU slot (``gpus``
    and ``jobs_per_gpu`` from the config); yields the torch device.

    The config's ``device`` is a param of the training rules, so that changing it reruns them; the
    region analyses read it from the config: it does not change what they compute."""
    gpus = snakemake.resources.get("gpu", 0), snakemake.config.get("gpus", "auto")
    share = snakemake.config.get("jobs_per_gpu", 1)
    device = getattr(snakemake.params, "device", None) or snakemake.config["device"]
    with (
        rule_log(snakemake.log[0]),
        training_slot(*gpus, device, snakemake.threads, share, work) as device,
    ):
        yield device


def training_device(requested: str, threads: int, gpus: int = 1, work: str = "training") -> torch.device:
    """The device a job uses (see :func:`pick_device`), with ``threads`` CPU threads; says which in
    the job's log."""
    torch.set_num_threads(threads)
    device = pick_device(requested, gpus)
    print(f"{work} on {device} with {threads} thread(s)")
    return device


def pick_device(requested: str = "auto", gpus: int = 1) -> torch.device:
    """``cuda`` when asked for or when ``auto`` finds a GPU, else ``cpu``; a job that asked the
    scheduler for no GPU (``gpus`` 0: it holds no slot) runs on the CPU, so that it never computes
    on a GPU that another job holds."""
    if requested not in DEVICES:
        raise ValueError(f"unknown device '{requested}', expected one of {DEVICES}")
    if gpus == 0:
        return torch.device("cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but torch sees no GPU")
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(requested)


class PermutationStream:
    """Batches as consecutive slices of an endless sequence of seeded random permutations.

    A batch never straddles two permutations (the last one of a pass may be smaller), so with
    ``examples = n`` an epoch is exactly one pass over the data.
    """

    def __init__(self, n: int, seed: int, device: torch.device) -> None:
        self.n = n
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.device = device
        self.order = torch.randperm(n, generator=self.generator, device=device)
        self.position = 0

    def next(self, batch_size: int) -> torch.Tensor:
        if self.position >= self.n:
            self.order = torch.randperm(self.n, generator=self.generator, device=self.device)
            self.position = 0
        batch = self.order[self.position : self.position + batch_size]
        self.position += len(batch)
        return batch

    def state_dict(self) -> dict:
        return {
            "generator": self.generator.get_state(),
            "order": self.order.cpu(),
            "position": self.position,
        }

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.order = state["order"].to(self.device)
        self.position = state["position"]


def steps_per_epoch(n: int, batch_size: int, epoch_examples: int | None) -> int:
    """Number of batches in an epoch: one pass over ``n`` examples, or ``epoch_examples`` of them."""
    if epoch_examples is None:
        return math.ceil(n / batch_size)
    return math.ceil(epoch_examples / batch_size)


def make_optimizer(spec: RunSpec, params) -> torch.optim.Optimizer:
    if spec.optimizer == "sgd":
        return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay)
    if spec.optimizer == "adam":
        return torch.optim.Adam(params, lr=spec.lr, weight_decay=spec.weight_decay)
    raise ValueError(f"unknown optimizer '{spec.optimizer}', expected one of {OPTIMIZERS}")


@torch.no_grad()
def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 4096) -> float:
    """Fraction of ``x`` that ``net`` classifies as ``y`` (evaluation mode, in batches)."""
    was_training = net.training
    net.eval()
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    for start in range(0, len(x), batch_size):
        logits = net(x[start : start + batch_size])
        correct += (logits.argmax(dim=1) == y[start : start + batch_size]).sum()
    net.train(was_training)
    return correct.item() / len(x)


def cpu_state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}


def save_atomically(obj: object, path: Path) -> None:
    """``torch.save`` to a partial file, then rename: a killed job never leaves half a checkpoint."""
    partial = path.with_name(path.name + ".partial")
    torch.save(obj, partial)
    os.replace(partial, path)


#: A run has diverged when its mean loss over an epoch is not finite or exceeds this many times
#: ln(classes), the loss of guessing uniformly: an exploding learning rate can leave a finite but
#: astronomical loss and chance accuracy, and such weights no longer describe a trained network.
DIVERGENCE_FACTOR = 100.0


def has_diverged(mean_loss: float, num_classes: int) -> bool:
    """Whether an epoch's mean training loss says the run has diverged (see DIVERGENCE_FACTOR)."""
    return not math.isfinite(mean_loss) or mean_loss > DIVERGENCE_FACTOR * math.log(num_classes)


def train_run(
    spec: RunSpec,
    images: torch.Tensor,
    index: torch.Tensor,
    labels: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    num_classes: int,
    resume_path: str | Path | None = None,
    on_epoch_end: Callable[[int, RunResult], None] | None = None,
    progress: bool = True,
    validation: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> RunResult:
    """Train one run on the examples ``images[index]`` with ``labels``; evaluate on the test split.

    After each epoch the run records mean training loss, clean test accuracy and, given
    ``validation`` (images and clean labels, never trained on), validation accuracy; keeps the weights
    if the epoch is a checkpoint epoch (epoch 0 means at initialisation), and writes its full state
    to ``resume_path``; a later call with the same spec and path continues from there. A loss that
    turns NaN, infinite or astronomical (:func:`has_diverged`) marks the run diverged and ends it,
    with NaN for the epochs left.
    """
    device = images.device
    net = build_model(spec.model, tuple(images.shape[1:]), num_classes, spec.seed).to(device)
    optimizer = make_optimizer(spec, net.parameters())
    stream = PermutationStream(len(index), spec.seed, device)
    result = RunResult()
    if 0 in spec.checkpoint_epochs:
        result.checkpoints[0] = cpu_state(net)
    start_epoch = 0
    resume_path = Path(resume_path) if resume_path is not None else None
    if resume_path is not None and resume_path.exists():
        state = torch.load(resume_path, map_location="cpu", weights_only=False)
        if state["fingerprint"] == spec.fingerprint():
            net.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            stream.load_state_dict(state["stream"])
            result = state["result"]
            start_epoch = state["epoch"]
            print(f"{spec.name} resumed from epoch {start_epoch} of {spec.epochs}")
    steps = steps_per_epoch(len(index), spec.batch_size, spec.epoch_examples)
    bar = tqdm(
        total=spec.epochs * steps,
        initial=start_epoch * steps,
        desc=spec.name,
        disable=not progress,
        mininterval=5.0,
        ascii=True,
    )
    net.train()
    for epoch in range(start_epoch + 1, spec.epochs + 1):
        if result.diverged:
            break
        total_loss = torch.zeros((), dtype=torch.float64, device=device)
        seen = 0
        for _ in range(steps):
            batch = stream.next(spec.batch_size)
            loss = F.cross_entropy(net(images[index[batch]]), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.detach() * len(batch)
            seen += len(batch)
            bar.update(1)
        mean_loss = (total_loss / seen).item()
        if has_diverged(mean_loss, num_classes):
            result.diverged = True
            missing = spec.epochs - len(result.train_loss)
            result.train_loss += [math.nan] * missing
            result.test_accuracy += [math.nan] * missing
            if validation is not None:
                result.validation_accuracy += [math.nan] * missing
        else:
            result.train_loss.append(mean_loss)
            result.test_accuracy.append(accuracy(net, test_x, test_y))
            if validation is not None:
                result.validation_accuracy.append(accuracy(net, *validation))
            if epoch in spec.checkpoint_epochs:
                result.checkpoints[epoch] = cpu_state(net)
        bar.set_postfix(loss=f"{mean_loss:.3f}", acc=f"{result.test_accuracy[-1]:.3f}")
        if resume_path is not None:
            save_atomically(
                {
                    "fingerprint": spec.fingerprint(),
                    "epoch": epoch,
                    "model": net.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "stream": stream.state_dict(),
                    "result": result,
                },
                resume_path,
            )
        if on_epoch_end is not None:
            on_epoch_end(epoch, result)
    bar.close()
    result.final_state = cpu_state(net)
    return result


def history_arrays(result: RunResult, epochs: int) -> dict[str, np.ndarray]:
    """The per-epoch history of a run as arrays of length ``epochs`` (``validation_curve`` only
    where the run had validation examples)."""
    history = {
        "train_loss": np.asarray(result.train_loss, dtype=np.float64)[:epochs],
        "accuracy_curve": np.asarray(result.test_accuracy, dtype=np.float64)[:epochs],
    }
    if result.validation_accuracy:
        history["validation_curve"] = np.asarray(result.validation_accuracy, dtype=np.float64)[:epochs]
    return history
