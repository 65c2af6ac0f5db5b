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
