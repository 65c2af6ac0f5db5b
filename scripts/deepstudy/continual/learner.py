"""Training a strategy on a stream, evaluating every task along the way (the CLEAR picture) and at
every task end (the accuracy matrix). Reuses the project's training machinery: data on the device,
explicit seeded generators (bitwise repeatable on CPU), a progress bar, a resume checkpoint written
at every task end, and NaN recorded as divergence.

Runs train as a stack (:mod:`deepstudy.stacks`): the runs of one :func:`stack_key` (settings and
task ends) in lockstep, one batched step for all, each with its own weights, stream plan, buffer
and seed; a run alone is a stack of one, through the same kernels, so that stacking changes no
number (bitwise on a CPU).

Divergence is caught at every step without a device sync per step: each step's loss is folded
into a non-finite flag on the device, read (with the weights' finiteness) wherever the learner
syncs anyway, before every evaluation. A NaN network is never scored: the run stops being scored
there, ``diverged``, with NaN in the matrix from that task on; the other runs of its stack go on."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from tqdm import tqdm

from deepstudy.continual.buffer import ReservoirBuffers
from deepstudy.continual.strategies import CLASSES, Strategy
from deepstudy.continual.transforms import TaskTransforms
from deepstudy.data import Tensors
from deepstudy.jobs import fingerprint
from deepstudy.models import build_model
from deepstudy.packing import PACKABLE_ARCHITECTURES, stacking_pays
from deepstudy.stacks import Single, stacked
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

    def score(self, task: int, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Accuracy per scenario on ``task`` of logits (..., B, classes) against labels (..., B)."""
        scores = []
        for scenario in self.scenarios:
            scored = logits.masked_fill(~self.masks[task], -math.inf) if scenario == "task" else logits
            scores.append((scored.argmax(dim=-1) == y).double().mean(dim=-1))
        return torch.stack(scores)

    @torch.no_grad()
    def task_scores(self, stack, run: int, task: int) -> np.ndarray:
        """Accuracy per scenario on ``task`` of run ``run`` of ``stack``."""
        x, y = self.sets[task]
        logits = torch.cat([stack.run_forward(run, x[i : i + 4096]) for i in range(0, len(x), 4096)])
        return self.score(task, logits, y).cpu().numpy()

    def __call__(self, stack, run: int) -> np.ndarray:
        """Accuracy per (scenario, task) of run ``run`` of ``stack``."""
        return np.stack([self.task_scores(stack, run, task) for task in range(len(self.sets))], axis=1)


#: Stacked test examples scored in one forward pass: at most this many over all runs of a stack.
EVALUATION_EXAMPLES = 2**16


def evaluating_together_pays(stack, device: torch.device) -> bool:
    """Whether a stack's runs are scored in one forward pass: on a GPU, where that launches K times
    fewer kernels, for stacked MLPs and conv nets (a single network may hold batch norm). A CPU
    scores run by run, as a run alone does, so that stacking changes no number there."""
    return device.type != "cpu" and not isinstance(stack, Single)


@torch.no_grad()
def evaluate(evaluators: list[Evaluator], stack, runs, together: bool) -> dict[int, np.ndarray]:
    """Accuracy per (scenario, task) of each of ``runs`` (indices into ``stack``, whose run k
    ``evaluators[k]`` scores). ``together``: each task's test sets of all the stack's runs, where
    they are equally long, go through one stacked forward pass per chunk; else run by run."""
    if not together:
        return {k: evaluators[k](stack, k) for k in runs}
    first = evaluators[0]
    result = {k: np.zeros((len(first.scenarios), len(first.sets))) for k in runs}
    for task in range(len(first.sets)):
        if len({len(e.sets[task][1]) for e in evaluators}) > 1:  # test sets of different sizes
            for k in runs:
                result[k][:, task] = evaluators[k].task_scores(stack, k, task)
            continue
        x = torch.stack([e.sets[task][0] for e in evaluators])  # (K, n, ...)
        chunk = max(1, EVALUATION_EXAMPLES // len(evaluators))
        logits = torch.cat([stack(x[:, i : i + chunk]) for i in range(0, x.shape[1], chunk)], dim=1)
        scores = (
            torch.stack([e.score(task, logits[k], e.sets[task][1]) for k, e in enumerate(evaluators)], dim=1)
            .cpu()
            .numpy()
        )  # one sync: (scenario, K)
        for k in runs:
            result[k][:, task] = scores[:, k]
    return result


def diverging(loss: torch.Tensor, nonfinite: torch.Tensor, stack) -> tuple[np.ndarray, np.ndarray]:
    """Each run's ``loss`` (K,) as numbers, and whether it has diverged: a step's loss was not
    finite, or its weights are not (the last step's update may have broken them); one device sync."""
    weights_finite = torch.stack([torch.isfinite(t).flatten(1).all(dim=1) for t in stack.tensors()]).all(0)
    broken = nonfinite | ~torch.isfinite(loss) | ~weights_finite
    values = torch.stack([loss.double(), broken.double()]).cpu().numpy()
    return values[0], values[1].astype(bool)


def stack_key(spec: ContinualSpec, plan: xr.Dataset) -> str:
    """What runs must share to train stacked, in lockstep: everything but their seed, buffer size
    and stream plan, whose schedule of batches and task ends (``task_end``) must be the same."""
    shared = {k: v for k, v in dataclasses.asdict(spec).items() if k not in ("name", "seed", "buffer_size")}
    return json.dumps([shared, plan["task_end"].values.tolist()], sort_keys=True, default=list)


def stackable(spec: ContinualSpec, device: torch.device) -> bool:
    """Whether a run's model stacks, and stacking pays on ``device``."""
    return spec.model["architecture"] in PACKABLE_ARCHITECTURES and stacking_pays(spec, device)


def stacks(specs: list[ContinualSpec], plans: list[xr.Dataset], device: torch.device) -> list[list[int]]:
    """The runs (indices, in order) that train together: those of one :func:`stack_key`, where
    stacking pays (:func:`deepstudy.packing.stacking_pays`) and the model stacks; others alone."""
    groups: dict[str, list[int]] = {}
    for i, (spec, plan) in enumerate(zip(specs, plans, strict=True)):
        groups.setdefault(stack_key(spec, plan) if stackable(spec, device) else f"alone {i}", []).append(i)
    return list(groups.values())


def make_strategy(specs: list[ContinualSpec], stack, stream_length: int, data: Tensors) -> Strategy:
    """The runs' strategy over ``stack``, each replaying run with its own seeded buffer."""
    first, device = specs[0], data.train_x.device
    optimizer = make_optimizer(first, stack.parameters())
    buffers = None
    if CLASSES[first.strategy].traits.uses_buffer:
        capacities = [stream_length if spec.buffer_size is None else spec.buffer_size for spec in specs]
        seeds = [spec.seed for spec in specs]
        buffers = ReservoirBuffers(capacities, data.input_shape, data.num_classes, seeds, device)
    return CLASSES[first.strategy](stack, optimizer, dict(first.strategy_options), buffers)


def stream_order(
    spec: ContinualSpec, plan: xr.Dataset, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """The stream's examples and their tasks in the order the run meets them; ``joint`` shuffles
    them i.i.d. with the run's seed."""
    example = torch.from_numpy(plan["example"].values).to(device)
    example_task = torch.from_numpy(plan["example_task"].values).to(device)
    if CLASSES[spec.strategy].traits.shuffles_stream:  # joint: the same examples, i.i.d. order
        order = torch.from_numpy(np.random.default_rng(spec.seed).permutation(len(example))).to(device)
        example, example_task = example[order], example_task[order]
    return example, example_task


def stream_examples(
    data: Tensors,
    transforms: list[TaskTransforms],
    orders: list[tuple[torch.Tensor, torch.Tensor]],
    positions: list,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each run's examples at its stream ``positions`` (a slice or an index per run), as their tasks
    see them: inputs (K, B, ...) and labels (K, B)."""
    x, y = [], []
    for transform, (example, example_task), where in zip(transforms, orders, positions, strict=True):
        x.append(transform(data.train_x[example[where]], example_task[where]))
        y.append(data.train_y[example[where]])
    return torch.stack(x), torch.stack(y)


def train_stream(
    spec: ContinualSpec,
    plan: xr.Dataset,
    data: Tensors,
    resume_path: str | Path | None = None,
    progress: bool = True,
) -> StreamResult:
    """Train ``spec``'s strategy on the stream of ``plan`` and evaluate it; see the module docstring."""
    return train_streams([spec], [plan], data, resume_path, progress)[0]


def train_streams(
    specs: list[ContinualSpec],
    plans: list[xr.Dataset],
    data: Tensors,
    resume_path: str | Path | None = None,
    progress: bool = True,
) -> list[StreamResult]:
    """Train runs of one :func:`stack_key` in lockstep, one stack (a single run of any model alone);
    run k on the stream of ``plans[k]``. Each run's result equals the one it gives alone up to the
    rounding of batched products; a run that diverges stops being scored, the others go on."""
    device, first, runs = data.train_x.device, specs[0], len(specs)
    if len({stack_key(spec, plan) for spec, plan in zip(specs, plans, strict=True)}) != 1 or (
        runs > 1 and not stackable(first, device)
    ):
        raise ValueError("runs train stacked only with a stackable model, the same settings and tasks")
    tasks, scenarios = int(plans[0].attrs["tasks"]), len(first.scenarios)
    transforms = [TaskTransforms(plan, device) for plan in plans]
    evaluators = [
        Evaluator(plan, data, t, first.scenarios) for plan, t in zip(plans, transforms, strict=True)
    ]
    orders = [stream_order(spec, plan, device) for spec, plan in zip(specs, plans, strict=True)]
    nets = [
        build_model(spec.model, data.input_shape, data.num_classes, spec.seed).to(device) for spec in specs
    ]
    # a run that could stack trains as a stack of one: the same kernels, so the same numbers
    stack = stacked(nets) if stackable(first, device) else Single(nets[0])
    strategy = make_strategy(specs, stack, len(orders[0][0]), data)
    batches = task_batches(plans[0]["task_end"].values, first.batch_size)
    matrix = np.full((runs, scenarios, tasks, tasks), np.nan)
    together = evaluating_together_pays(stack, device)
    reference = list(evaluate(evaluators, stack, range(runs), together).values())
    curves, curve_steps, losses = [[r] for r in reference], [[0] for _ in specs], [[] for _ in specs]
    done_tasks, step, alive, running = 0, 0, np.ones(runs, dtype=bool), [0.0] * runs
    print_name = first.name if runs == 1 else f"the stack of {runs} runs led by {first.name}"
    fingerprint = "stack:" + "".join(spec.fingerprint() for spec in specs)  # not a pre-stack checkpoint
    resume_path = Path(resume_path) if resume_path is not None else None
    if resume_path is not None and resume_path.exists():
        state = torch.load(resume_path, map_location="cpu", weights_only=False)
        if state["fingerprint"] == fingerprint and "running_loss" in state:  # else: start afresh
            stack.load_pack_state(state["model"])
            strategy.optimizer.load_state_dict(state["optimizer"])
            strategy.load_state_dict(state["strategy"])
            matrix, reference, curves, curve_steps, losses, alive = state["progress"]
            done_tasks, step, running = state["tasks_done"], state["step"], state["running_loss"]
            print(f"{print_name} resumed from task {done_tasks} of {tasks} (step {step})")
    bar = tqdm(
        total=len(batches), initial=step, desc=first.name, disable=not progress, mininterval=5.0, ascii=True
    )
    # the loss summed since the last evaluation (carried over task ends and resumes), and whether
    # any step's loss was not finite: both stay on the device until a sync point reads them
    running = torch.tensor(running, dtype=torch.float64, device=device)
    nonfinite = torch.zeros(runs, dtype=torch.bool, device=device)
    for task in range(done_tasks, tasks):
        for start, stop, _ in (b for b in batches[step:] if b[2] == task):
            x, y = stream_examples(data, transforms, orders, [slice(start, stop)] * runs)
            loss = strategy.observe(x, y)  # inputs and labels only
            running += loss
            nonfinite |= ~torch.isfinite(loss)
            step += 1
            bar.update(1)
            if step % first.eval_every == 0:
                mean_loss, broken = diverging(running / first.eval_every, nonfinite, stack)
                running.zero_()
                alive &= ~broken
                if not alive.any():
                    break
                for k, scores in evaluate(evaluators, stack, np.flatnonzero(alive), together).items():
                    losses[k].append(float(mean_loss[k]))
                    curves[k].append(scores)
                    curve_steps[k].append(step)
        alive &= ~diverging(running, nonfinite, stack)[1]  # the task's last partial window too
        if not alive.any():
            break
        for k, scores in evaluate(evaluators, stack, np.flatnonzero(alive), together).items():
            matrix[k, :, task] = scores
        if strategy.traits.uses_task_boundaries:  # only task-aware strategies learn where a task ends
            # in stream order, as many as the strategy uses: the rest need no transforming
            mine = [
                torch.nonzero(order[1] == task).squeeze(1)[: strategy.task_end_examples] for order in orders
            ]
            strategy.end_task(*stream_examples(data, transforms, orders, mine))
        if resume_path is not None:
            save_atomically(
                {
                    "fingerprint": fingerprint,
                    "model": stack.pack_state(),
                    "optimizer": strategy.optimizer.state_dict(),
                    "strategy": strategy.state_dict(),
                    "progress": (matrix, reference, curves, curve_steps, losses, alive),
                    "tasks_done": task + 1,
                    "step": step,
                    "running_loss": running.tolist(),
                },
                resume_path,
            )
        bar.set_postfix(task=task, average=f"{np.nanmean(matrix[:, 0, task, : task + 1]):.3f}")
    bar.close()
    return [
        StreamResult(matrix[k], reference[k], np.stack(curves[k]), curve_steps[k], losses[k], not alive[k])
        for k in range(runs)
    ]
