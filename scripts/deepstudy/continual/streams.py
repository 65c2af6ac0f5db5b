"""Task streams as plans: which training example comes at each position of the stream, of which
task, and the fixed transformation each task applies. Plans hold indices, not copies of images.

Kinds of stream:

- ``split``: the classes, in an order drawn from the seed, partitioned into ``tasks`` tasks;
- ``permuted``: every task sees the whole input under its own fixed random permutation of features;
- ``rotated``: every task rotates 2D images by its own angle (0 to ``max_angle`` degrees, evenly
  spaced); a 1D signal of length L is circularly shifted by round(t·L/T) positions in task t and, with
  ``reflect``, also reversed in odd tasks (both are permutations of positions).

Within a task each pass is a random permutation of the task's examples, so every example appears
exactly once per pass. With ``boundary: blurry`` the last ``overlap`` fraction of one task and the
first of the next are interleaved so that the share of the next task rises linearly from 0 to 1.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from deepstudy.continual.workflow import STREAM_SCENARIOS

KINDS = tuple(STREAM_SCENARIOS)
BOUNDARIES = ("sharp", "blurry")


def task_classes(num_classes: int, tasks: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The classes of each split task: a random class order cut into ``tasks`` nearly equal parts."""
    if not 1 <= tasks <= num_classes:
        raise ValueError(f"cannot split {num_classes} classes into {tasks} tasks")
    return [np.sort(part) for part in np.array_split(rng.permutation(num_classes), tasks)]


def position_permutation(input_shape: tuple[int, ...], task: int, tasks: int, reflect: bool) -> np.ndarray:
    """The flattened-feature permutation of a 1D signal's shift (and reflection) in ``task``."""
    channels, length = input_shape
    positions = (np.arange(length) - round(task * length / tasks)) % length
    if reflect and task % 2 == 1:
        positions = positions[::-1]
    return (np.arange(channels)[:, None] * length + positions[None, :]).ravel()


def blur(order: np.ndarray, ends: list[int], overlap: float) -> np.ndarray:
    """Interleave the stream around each task end so that the next task's share rises linearly.

    In a window of m examples from each side, the k-th example of the next task goes to where a
    share rising linearly from 0 to 1 has accumulated k − ½ of them (x = √((k − ½)/m)), and the k-th
    of the ending task where its own falling share has (x = 1 − √(1 − (k − ½)/m)); each side keeps
    its order and every example stays in the stream exactly once.
    """
    order = order.copy()
    starts = [0, *ends[:-1]]
    for boundary in range(len(ends) - 1):
        end = ends[boundary]
        m = math.floor(overlap * min(end - starts[boundary], ends[boundary + 1] - end))
        if m == 0:
            continue
        rank = (np.arange(1, m + 1) - 0.5) / m
        place = np.concatenate([1 - np.sqrt(1 - rank), np.sqrt(rank)])
        window = order[end - m : end + m]
        order[end - m : end + m] = window[np.argsort(place, kind="stable")]
    return order


def make_stream(
    train_y: np.ndarray,
    test_y: np.ndarray,
    input_shape: tuple[int, ...],
    num_classes: int,
    options: dict,
    seed: int,
) -> xr.Dataset:
    """The plan of one stream (see the module docstring for ``options``), drawn from ``seed``.

    Variables: ``example`` and ``example_task`` along ``position`` (the stream), ``task_end`` (the position
    where each task's block ends, where the accuracy matrix is measured), ``test_example`` and
    ``test_task`` along ``test_position`` (each task's test set), and per task its ``classes`` or
    its ``permutation`` of flattened features or its ``angle``.
    """
    kind, tasks = options["kind"], int(options["tasks"])
    if kind not in KINDS:
        raise ValueError(f"unknown stream kind '{kind}', expected one of {KINDS}")
    if options.get("boundary", "sharp") not in BOUNDARIES:
        raise ValueError(f"unknown boundary '{options['boundary']}', expected one of {BOUNDARIES}")
    rng = np.random.default_rng(seed)
    features = math.prod(input_shape)
    per_task = options.get("examples_per_task")
    eval_per_task = options.get("eval_examples_per_task")
    passes = int(options.get("passes", 1))
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    data_vars: dict = {}
    if kind == "split":
        classes = task_classes(num_classes, tasks, rng)
        pools = [np.flatnonzero(np.isin(train_y, c)) for c in classes]
        test_pools = [np.flatnonzero(np.isin(test_y, c)) for c in classes]
        width = max(len(c) for c in classes)
        padded = np.full((tasks, width), -1, dtype=np.int64)
        for t, c in enumerate(classes):
            padded[t, : len(c)] = c
        data_vars["classes"] = (("task", "class_slot"), padded)
        transform = "none"
    else:
        pools = [np.arange(len(train_y))] * tasks
        test_pools = [np.arange(len(test_y))] * tasks
        if kind == "permuted":
            permutation = np.stack(
                [np.arange(features)] + [rng.permutation(features) for _ in range(tasks - 1)]
            )
            data_vars["permutation"] = (("task", "feature"), permutation)
            transform = "permutation"
        elif len(input_shape) == 2:  # 1D signals: shifts and reflections
            reflect = bool(options.get("reflect", True))
            permutation = np.stack(
                [position_permutation(input_shape, t, tasks, reflect) for t in range(tasks)]
            )
            data_vars["permutation"] = (("task", "feature"), permutation)
            transform = "permutation"
        else:
            max_angle = float(options.get("max_angle", 180.0))
            angles = np.linspace(0.0, max_angle, tasks) if tasks > 1 else np.zeros(1)
            data_vars["angle"] = ("task", angles)
            transform = "rotation"
    # each task's examples (a subsample when asked), then its passes, each a fresh permutation
    chosen = [
        pool if per_task is None or per_task >= len(pool) else rng.choice(pool, per_task, replace=False)
        for pool in pools
    ]
    blocks = [np.concatenate([rng.permutation(c) for _ in range(passes)]) for c in chosen]
    example = np.concatenate(blocks)
    task = np.concatenate([np.full(len(b), t, dtype=np.int64) for t, b in enumerate(blocks)])
    ends = np.cumsum([len(b) for b in blocks]).tolist()
    if options.get("boundary", "sharp") == "blurry":
        order = blur(np.arange(len(example)), ends, float(options.get("overlap", 0.2)))
        example, task = example[order], task[order]
    test_chosen = [
        p
        if eval_per_task is None or eval_per_task >= len(p)
        else np.sort(rng.choice(p, eval_per_task, replace=False))
        for p in test_pools
    ]
    plan = xr.Dataset(
        {
            "example": ("position", example.astype(np.int64)),
            "example_task": ("position", task),
            "task_end": ("task", np.asarray(ends, dtype=np.int64)),
            "test_example": ("test_position", np.concatenate(test_chosen).astype(np.int64)),
            "test_task": (
                "test_position",
                np.concatenate([np.full(len(p), t, dtype=np.int64) for t, p in enumerate(test_chosen)]),
            ),
            **data_vars,
        },
        coords={"task": np.arange(tasks)},
        attrs={
            "kind": kind,
            "transform": transform,
            "tasks": tasks,
            "passes": passes,
            "boundary": options.get("boundary", "sharp"),
            "overlap": float(options.get("overlap", 0.0)) if options.get("boundary") == "blurry" else 0.0,
            "seed": seed,
            "num_classes": num_classes,
            "input_shape": list(input_shape),
        },
    )
    plan["example"].attrs["description"] = (
        "index into the training split of the example at each stream position"
    )
    plan["example_task"].attrs["description"] = (
        "task of the example (known to the evaluator, not to task-free learners)"
    )
    plan["task_end"].attrs["description"] = "stream position where each task's block ends (exclusive)"
    plan["test_example"].attrs["description"] = "index into the test split"
    return plan
