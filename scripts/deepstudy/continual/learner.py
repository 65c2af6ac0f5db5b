"""Training a strategy on a stream, evaluating every task along the way (the CLEAR picture) and at
every task end (the accuracy matrix). Reuses the project's training machinery: data on the device,
explicit seeded generators (bitwise repeatable on CPU), a progress bar, a resume checkpoint written
at every task end, and NaN recorded as divergence.

Divergence is caught at every step without a device sync per step: each step's loss is folded
into a non-finite flag on the device, read (with the weights' finiteness) wherever the learner
syncs anyway, before every evaluation. A NaN network is never scored: the run stops there,
``diverged``, with NaN in the matrix from that task on."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from tqdm import tqdm

from deepstudy.continual.buffer import ReservoirBuffer
from deepstudy.continual.strategies import CLASSES, Strategy
from deepstudy.continual.transforms import TaskTransforms
from deepstudy.data import Tensors
from deepstudy.jobs import fingerprint
from deepstudy.models import build_model
from deepstudy.training import make_optimizer, save_atomically


@dataclass(frozen=True)
class ContinualSpec:
    """Everything that determines one continual run (the stream plan aside)."""

    name: str
    model: dict
    strategy: str
    seed: int
    lr: float
    batch_size: int
    buffer_size: int | None = None  # examples; None: as long as the stream (unbounded)
    strategy_options: dict = field(default_factory=dict)
    optimizer: str = "sgd"
    momentum: float = 0.0
    weight_decay: float = 0.0
    eval_every: int = 50
    scenarios: tuple[str, ...] = ("class",)

    def fingerprint(self) -> str:
        """A hash of the spec: a resume checkpoint is only used by the run that wrote it."""
        return fingerprint(self)


@dataclass
class StreamResult:
    """Accuracy matrices (scenario, trained_on, eval_task), along-stream curves and losses."""

    matrix: np.ndarray
    reference: np.ndarray
    curve: np.ndarray
    curve_steps: list[int]
    loss: list[float]
    diverged: bool = False


def task_batches(task_end: np.ndarray, batch_size: int) -> list[tuple[int, int, int]]:
    """(start, stop, task) of every batch: consecutive slices of the stream that never cross the
    end of a task's block, so the accuracy matrix is measured exactly at task ends."""
    batches, start = [], 0
    for task, end in enumerate(task_end.tolist()):
        for first in range(start, end, batch_size):
            batches.append((first, min(first + batch_size, end), task))
        start = end
    return batches


class Evaluator:
    """Each task's test set, transformed as the task sees it, scored per scenario."""

    def __init__(self, plan: xr.Dataset, data: Tensors, transforms: TaskTransforms, scenarios) -> None:
        tasks = int(plan.attrs["tasks"])
        test_example = torch.from_numpy(plan["test_example"].values).to(data.test_x.device)
        test_task = torch.from_numpy(plan["test_task"].values).to(data.test_x.device)
        self.sets = []
        for task in range(tasks):
            index = test_example[test_task == task]
            x = transforms(data.test_x[index], torch.full_like(index, task))
            self.sets.append((x, data.test_y[index]))
        self.scenarios = tuple(scenarios)
        self.masks = None
        if "task" in self.scenarios:
            classes = plan["classes"].values
            masks = torch.zeros((tasks, data.num_classes), dtype=torch.bool)
            for task in range(tasks):
                masks[task, classes[task][classes[task] >= 0]] = True
            self.masks = masks.to(data.test_x.device)

    @torch.no_grad()
    def __call__(self, net: torch.nn.Module) -> np.ndarray:
        """Accuracy per (scenario, task)."""
        was_training = net.training
        net.eval()
        result = np.zeros((len(self.scenarios), len(self.sets)))
        for task, (x, y) in enumerate(self.sets):
            logits = torch.cat([net(x[i : i + 4096]) for i in range(0, len(x), 4096)])
            for s, scenario in enumerate(self.scenarios):
                scored = logits.masked_fill(~self.masks[task], -math.inf) if scenario == "task" else logits
                result[s, task] = (scored.argmax(dim=1) == y).double().mean().item()
        net.train(was_training)
        return result


def finite(net: torch.nn.Module) -> torch.Tensor:
    """Whether every weight and floating buffer of ``net`` is finite, as a tensor (no sync)."""
    tensors = [t for t in net.state_dict().values() if t.is_floating_point()]
    return torch.stack([torch.isfinite(t).all() for t in tensors]).all()


def diverging(loss: torch.Tensor, nonfinite: torch.Tensor, net: torch.nn.Module) -> tuple[float, bool]:
    """``loss`` as a number, and whether the run has diverged: a step's loss was not finite, or the
    weights are not (the last step's update may have broken them); one device sync for both."""
    broken = nonfinite | ~torch.isfinite(loss) | ~finite(net)
    value, flag = torch.stack([loss.double(), broken.double()]).tolist()
    return value, bool(flag)


def make_strategy(spec: ContinualSpec, net, stream_length: int, input_shape, num_classes, device) -> Strategy:
    optimizer = make_optimizer(spec, net.parameters())
    buffer = None
    if CLASSES[spec.strategy].traits.uses_buffer:
        capacity = stream_length if spec.buffer_size is None else spec.buffer_size
        buffer = ReservoirBuffer(capacity, input_shape, num_classes, spec.seed, device)
    return CLASSES[spec.strategy](net, optimizer, dict(spec.strategy_options), buffer)


def train_stream(
    spec: ContinualSpec,
    plan: xr.Dataset,
    data: Tensors,
    resume_path: str | Path | None = None,
    progress: bool = True,
) -> StreamResult:
    """Train ``spec``'s strategy on the stream of ``plan`` and evaluate it; see the module docstring."""
    device = data.train_x.device
    tasks = int(plan.attrs["tasks"])
    transforms = TaskTransforms(plan, device)
    evaluator = Evaluator(plan, data, transforms, spec.scenarios)
    example = torch.from_numpy(plan["example"].values).to(device)
    example_task = torch.from_numpy(plan["example_task"].values).to(device)
    task_end = plan["task_end"].values
    if CLASSES[spec.strategy].traits.shuffles_stream:  # joint: the same examples, i.i.d. order
        order = torch.from_numpy(np.random.default_rng(spec.seed).permutation(len(example))).to(device)
        example, example_task = example[order], example_task[order]
    net = build_model(spec.model, data.input_shape, data.num_classes, spec.seed).to(device)
    strategy = make_strategy(spec, net, len(example), data.input_shape, data.num_classes, device)
    batches = task_batches(task_end, spec.batch_size)
    scenarios = len(spec.scenarios)
    matrix = np.full((scenarios, tasks, tasks), np.nan)
    reference = evaluator(net)
    curve, curve_steps, losses = [reference], [0], []
    done_tasks, step, diverged, running = 0, 0, False, 0.0
    resume_path = Path(resume_path) if resume_path is not None else None
    if resume_path is not None and resume_path.exists():
        state = torch.load(resume_path, map_location="cpu", weights_only=False)
        if state["fingerprint"] == spec.fingerprint() and "running_loss" in state:  # else: start afresh
            net.load_state_dict(state["model"])
            strategy.optimizer.load_state_dict(state["optimizer"])
            strategy.load_state_dict(state["strategy"])
            matrix, reference, curve, curve_steps, losses = state["progress"]
            done_tasks, step, running = state["tasks_done"], state["step"], state["running_loss"]
            print(f"{spec.name} resumed from task {done_tasks} of {tasks} (step {step})")
    bar = tqdm(
        total=len(batches), initial=step, desc=spec.name, disable=not progress, mininterval=5.0, ascii=True
    )
    net.train()
    # the loss summed since the last evaluation (carried over task ends and resumes), and whether
    # any step's loss was not finite: both stay on the device until a sync point reads them
    running = torch.tensor(running, dtype=torch.float64, device=device)
    nonfinite = torch.zeros((), dtype=torch.bool, device=device)
    for task in range(done_tasks, tasks):
        for first, stop, _ in (b for b in batches[step:] if b[2] == task):
            position = slice(first, stop)
            x = transforms(data.train_x[example[position]], example_task[position])
            loss = strategy.observe(x, data.train_y[example[position]])  # inputs and labels only
            running += loss
            nonfinite |= ~torch.isfinite(loss)
            step += 1
            bar.update(1)
            if step % spec.eval_every == 0:
                mean_loss, diverged = diverging(running / spec.eval_every, nonfinite, net)
                running.zero_()
                if diverged:
                    break
                losses.append(mean_loss)
                curve.append(evaluator(net))
                curve_steps.append(step)
        if diverged or diverging(running, nonfinite, net)[1]:  # the task's last partial window too
            diverged = True
            break
        matrix[:, task] = evaluator(net)
        if strategy.traits.uses_task_boundaries:  # only task-aware strategies learn where a task ends
            # in stream order, as many as the strategy uses: the rest need no transforming
            mine = torch.nonzero(example_task == task).squeeze(1)[: strategy.task_end_examples]
            x = transforms(data.train_x[example[mine]], example_task[mine])
            strategy.end_task(x, data.train_y[example[mine]])
        if resume_path is not None:
            save_atomically(
                {
                    "fingerprint": spec.fingerprint(),
                    "model": net.state_dict(),
                    "optimizer": strategy.optimizer.state_dict(),
                    "strategy": strategy.state_dict(),
                    "progress": (matrix, reference, curve, curve_steps, losses),
                    "tasks_done": task + 1,
                    "step": step,
                    "running_loss": running.item(),
                },
                resume_path,
            )
        bar.set_postfix(task=task, average=f"{np.nanmean(matrix[0, task, : task + 1]):.3f}")
    bar.close()
    return StreamResult(matrix, reference, np.stack(curve), curve_steps, losses, diverged)
