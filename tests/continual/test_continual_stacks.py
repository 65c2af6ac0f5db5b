"""Runs of one stream and strategy train stacked, in lockstep, and give what they give alone."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from continual_helpers import job_run, mnist1d, spec, split_plan
from deepstudy.continual import learner
from deepstudy.continual.catalogue import REPLAY_STRATEGIES
from deepstudy.continual.job import continual_job
from deepstudy.continual.learner import stacks, train_stream, train_streams
from deepstudy.continual.strategies import STRATEGIES


@pytest.fixture(scope="module")
def dataset():
    return mnist1d()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_stacked_runs_give_the_accuracy_matrices_of_runs_alone(dataset, strategy):
    plan = split_plan(dataset, tasks=3, passes=1)
    buffers = (100, None) if strategy in REPLAY_STRATEGIES else (None,)
    specs = [
        spec(strategy, name=f"{strategy}{size}s{seed}", seed=seed, buffer_size=size)
        for seed in (0, 1)
        for size in buffers
    ]
    together = train_streams(specs, [plan] * len(specs), dataset[1], progress=False)
    for one, stacked in zip(specs, together, strict=True):
        alone = train_stream(one, plan, dataset[1], progress=False)
        np.testing.assert_allclose(stacked.matrix, alone.matrix, atol=0.01)
        np.testing.assert_allclose(stacked.curve, alone.curve, atol=0.01)
        assert stacked.curve_steps == alone.curve_steps and not stacked.diverged
    # the runs differ: each has its own seed (and buffer)
    assert not np.array_equal(together[0].curve, together[-1].curve)


def test_runs_stack_where_they_share_settings_and_task_ends(dataset):
    cpu = torch.device("cpu")
    plans = [split_plan(dataset, tasks=3, passes=1, seed=seed) for seed in (0, 1)]
    assert not np.array_equal(plans[0]["task_end"].values, plans[1]["task_end"].values)
    specs = [
        spec("er", name=f"er{size}s{seed}", seed=seed, buffer_size=size)
        for seed in (0, 1)
        for size in (100, None)
    ]
    assert stacks(specs, [plans[0], plans[0], plans[1], plans[1]], cpu) == [[0, 1], [2, 3]]
    assert stacks(specs, [plans[0]] * 4, cpu) == [[0, 1, 2, 3]]
    other_lr = [*specs[:3], dataclasses.replace(specs[3], lr=0.01)]
    assert stacks(other_lr, [plans[0]] * 4, cpu) == [[0, 1, 2], [3]]
    conv = {"architecture": "conv", "channels": [4], "kernel_size": 3, "hidden": 8, "init": "he"}
    convs = [dataclasses.replace(s, model=conv) for s in specs]
    assert stacks(convs, [plans[0]] * 4, cpu) == [
        [0],
        [1],
        [2],
        [3],
    ]  # grouped convolutions do not pay on a CPU
    with pytest.raises(ValueError, match="stacked"):
        train_streams(specs[:2], [plans[0], plans[1]], dataset[1], progress=False)


def test_a_job_trains_its_stacks_and_keeps_run_order(dataset, tmp_path):
    plans = [split_plan(dataset, tasks=2, passes=1, seed=seed) for seed in (0, 1)]
    runs = [job_run("er", buffer=b, seed=seed) for seed in (0, 1) for b in ("100", "none")]
    metrics = continual_job(runs, [plans[0], plans[0], plans[1], plans[1]], dataset[1], tmp_path)
    assert metrics["run"].values.tolist() == [r["name"] for r in runs]
    alone = train_stream(spec("er", seed=1, buffer_size=None), plans[1], dataset[1], progress=False)
    np.testing.assert_allclose(metrics["accuracy"].values[3], alone.matrix, atol=0.01)
    assert not list(tmp_path.glob("*.resume.pt"))


@pytest.mark.parametrize("strategy", ["ewc", "derpp"])
def test_conv_nets_stack_as_on_a_gpu(dataset, monkeypatch, strategy):
    """The GPU path on the CPU: conv nets stacked through torch.func (PackedNets), EWC's Fisher and
    DER++'s buffers per run, equal to the same runs alone."""
    monkeypatch.setattr(learner, "stacking_pays", lambda spec, device: True)
    plan = split_plan(dataset, tasks=2, passes=1)
    conv = {"architecture": "conv", "channels": [4, 4], "kernel_size": 3, "hidden": 8, "init": "he"}
    specs = [spec(strategy, name=f"{strategy}{seed}", seed=seed, model=conv) for seed in (0, 1)]
    assert stacks(specs, [plan, plan], torch.device("cpu")) == [[0, 1]]
    together = train_streams(specs, [plan, plan], dataset[1], progress=False)
    for one, stacked in zip(specs, together, strict=True):
        alone = train_stream(one, plan, dataset[1], progress=False)
        np.testing.assert_allclose(stacked.matrix, alone.matrix, atol=0.01)
    assert not np.array_equal(together[0].curve, together[1].curve)


def test_a_stack_scored_in_one_pass_gives_each_runs_own_accuracies(dataset, monkeypatch):
    """The GPU's evaluation on the CPU: every run of a stack scored by one stacked forward pass per
    chunk (here 2 examples of each run's test set), as each run scores alone, in both scenarios;
    where the runs' test sets of a task differ in size, run by run."""
    from deepstudy.continual.transforms import TaskTransforms
    from deepstudy.models import build_model
    from deepstudy.stacks import stacked

    tensors, cpu = dataset[1], torch.device("cpu")
    plans = [split_plan(dataset, tasks=3, passes=1, seed=seed) for seed in (0, 1)]
    stack = stacked([build_model(spec("er").model, tensors.input_shape, 10, seed) for seed in (0, 1, 2)])
    monkeypatch.setattr(learner, "EVALUATION_EXAMPLES", 6)  # chunks of 2 examples per run
    for order in ((0, 0, 0), (0, 1, 0)):  # one plan (one pass for all), or test sets of other sizes
        evaluators = [
            learner.Evaluator(plans[p], tensors, TaskTransforms(plans[p], cpu), ("class", "task"))
            for p in order
        ]
        together = learner.evaluate(evaluators, stack, [0, 2], together=True)
        assert sorted(together) == [0, 2]
        for k in (0, 2):
            np.testing.assert_allclose(together[k], evaluators[k](stack, k), atol=1e-3)
        assert not np.array_equal(together[0], together[2])  # each run scored with its own weights
    sizes = [{len(e.sets[task][1]) for e in evaluators} for task in range(3)]
    assert any(len(s) > 1 for s in sizes)  # the second order's test sets differ in size


def test_stacked_runs_scored_together_as_on_a_gpu_keep_their_matrices(dataset, monkeypatch):
    monkeypatch.setattr(learner, "evaluating_together_pays", lambda stack, device: True)
    plan = split_plan(dataset, tasks=2, passes=1)
    specs = [spec("er", name=f"er{seed}", seed=seed, buffer_size=100) for seed in (0, 1)]
    together = train_streams(specs, [plan, plan], dataset[1], progress=False)
    for one, stacked in zip(specs, together, strict=True):
        alone = train_stream(one, plan, dataset[1], progress=False)  # a stack of one: scored alone too
        np.testing.assert_allclose(stacked.matrix, alone.matrix, atol=0.01)
        np.testing.assert_allclose(stacked.curve, alone.curve, atol=0.01)
