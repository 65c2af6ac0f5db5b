"""Divergence is caught at every step, in a pack as alone, and a resumed run logs the same losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from continual_helpers import job_run, mnist1d, spec, split_plan
from deepstudy.continual.job import continual_job
from deepstudy.continual.learner import task_batches, train_stream
from deepstudy.continual.strategies import CLASSES


@pytest.fixture(scope="module")
def dataset():
    return mnist1d()


def poison_at(monkeypatch, strategy: str, step: int, when: str) -> None:
    """Turn the first run's weights NaN at the ``step``-th call of observe (a step of every run of a
    stack; counted over every stack):
    ``before`` the step, so that its loss is NaN, or ``after`` it, so that its loss is finite and
    only the next evaluation would meet the NaN network."""
    original, calls = CLASSES[strategy].observe, {"count": 0}

    def observe(self, x, y):
        calls["count"] += 1
        if calls["count"] == step and when == "before":
            with torch.no_grad():
                self.net.parameters()[0][0].fill_(math.nan)
        loss = original(self, x, y)
        if calls["count"] == step and when == "after":
            with torch.no_grad():
                self.net.parameters()[0][0].fill_(math.nan)
        return loss

    monkeypatch.setattr(CLASSES[strategy], "observe", observe)


def last_partial_window(plan, task: int) -> tuple[int, int]:
    """(step, eval_every): the last batch of ``task``, and an evaluation interval that leaves that
    batch in a partial window, after the task's last along-stream evaluation."""
    end = int(np.cumsum(np.bincount([t for *_, t in task_batches(plan["task_end"].values, 32)]))[task])
    eval_every = next(e for e in (20, 16, 12, 9) if end % e > 1)
    return end, eval_every


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("task", [0, 1])
def test_a_run_turning_nan_in_a_tasks_last_partial_window_is_diverged(dataset, monkeypatch, task, when):
    plan = split_plan(dataset, tasks=2, passes=1)
    step, eval_every = last_partial_window(plan, task)
    poison_at(monkeypatch, "finetune", step, when)
    result = train_stream(spec("finetune", eval_every=eval_every), plan, dataset[1], progress=False)
    assert result.diverged
    assert np.isnan(result.matrix[:, task:]).all()  # the NaN network is never scored
    assert np.isfinite(result.matrix[:, :task]).all()  # the tasks before it are
    assert max(result.curve_steps) < step and all(math.isfinite(loss) for loss in result.loss)


def test_a_packed_run_turning_nan_in_its_last_partial_window_is_diverged(dataset, monkeypatch, tmp_path):
    plan = split_plan(dataset, tasks=2, passes=1)
    step, eval_every = last_partial_window(plan, 1)
    poison_at(monkeypatch, "finetune", step, "before")  # in the first run of the pack
    runs = [job_run("finetune", seed=seed, eval_every=eval_every) for seed in (0, 1)]
    metrics = continual_job(runs, plan, dataset[1], tmp_path)
    assert metrics["diverged"].values.tolist() == [True, False]
    assert np.isnan(metrics["accuracy"].values[0, :, 1]).all()
    assert np.isfinite(metrics["accuracy"].values[1]).all()


def test_a_pack_killed_and_resumed_mid_task_logs_the_uninterrupted_losses(dataset, monkeypatch, tmp_path):
    """Each task end leaves a partial window of losses (its batches are no multiple of eval_every):
    the resume checkpoint carries it, so the first mean logged after a resume is the true one."""
    plan = split_plan(dataset, tasks=3, passes=1)
    schedule = task_batches(plan["task_end"].values, 32)
    ends = np.cumsum(np.bincount([t for *_, t in schedule]))
    eval_every = next(e for e in (20, 16, 12, 9) if all(end % e for end in ends[:-1]))
    runs = [job_run("clear", buffer="100", seed=seed, eval_every=eval_every) for seed in (0, 1)]
    whole = continual_job(runs, plan, dataset[1], tmp_path / "whole")
    original, calls = CLASSES["clear"].observe, {"count": 0}

    def interrupted(self, x, y):
        calls["count"] += 1
        if calls["count"] == ends[0] + 3:  # the stack of both runs, inside its second task
            raise KeyboardInterrupt
        return original(self, x, y)

    monkeypatch.setattr(CLASSES["clear"], "observe", interrupted)
    with pytest.raises(KeyboardInterrupt):
        continual_job(runs, plan, dataset[1], tmp_path / "resumed")
    monkeypatch.setattr(CLASSES["clear"], "observe", original)
    resumed = continual_job(runs, plan, dataset[1], tmp_path / "resumed")
    np.testing.assert_array_equal(resumed["train_loss"].values, whole["train_loss"].values)
    np.testing.assert_array_equal(resumed["accuracy_curve"].values, whole["accuracy_curve"].values)
