"""Continual learning: metrics, reservoir sampling, stream plans, task-free strategies, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from continual_helpers import OPTIONS, mnist1d, spec, split_plan
from deepstudy.continual import learner as continual_learner
from deepstudy.continual import summarize
from deepstudy.continual.buffer import ReservoirBuffers
from deepstudy.continual.job import continual_job
from deepstudy.continual.learner import train_stream
from deepstudy.continual.strategies import CLASSES, STRATEGIES
from deepstudy.continual.streams import make_stream
from deepstudy.continual.summary import collect
from deepstudy.continual.transforms import TaskTransforms
from deepstudy.stacks import Single

# -- metrics ---------------------------------------------------------------------------------


def test_summarize_on_a_hand_worked_matrix():
    r = np.array([[0.9, 0.1, 0.2], [0.5, 0.8, 0.1], [0.3, 0.6, 0.7]])
    result = summarize(r, reference=np.array([0.1, 0.1, 0.1]))
    assert result["average_accuracy"] == pytest.approx((0.3 + 0.6 + 0.7) / 3)
    assert result["backward_transfer"] == pytest.approx(((0.3 - 0.9) + (0.6 - 0.8)) / 2)
    assert result["forgetting"] == pytest.approx(((0.9 - 0.3) + (0.8 - 0.6)) / 2)
    assert result["forward_transfer"] == pytest.approx(((0.1 - 0.1) + (0.1 - 0.1)) / 2)


def test_forgetting_takes_the_best_earlier_accuracy_not_the_diagonal():
    # task 0 improves after task 1 (0.6 -> 0.9), then drops to 0.5: forgetting 0.4, BWT -0.1
    r = np.array([[0.6, 0.0, 0.0], [0.9, 0.8, 0.0], [0.5, 0.8, 0.9]])
    result = summarize(r)
    assert result["forgetting"] == pytest.approx((0.4 + 0.0) / 2)
    assert result["backward_transfer"] == pytest.approx((-0.1 + 0.0) / 2)
    assert "forward_transfer" not in result


@pytest.mark.parametrize("tasks", range(2, 11))
def test_summarize_matches_the_definitions_term_by_term(tasks):
    rng = np.random.default_rng(tasks)
    r, reference = rng.random((tasks, tasks)), rng.random(tasks)
    last = tasks - 1
    result = summarize(r, reference)
    assert result["average_accuracy"] == pytest.approx(sum(r[last, j] for j in range(tasks)) / tasks)
    assert result["backward_transfer"] == pytest.approx(sum(r[last, j] - r[j, j] for j in range(last)) / last)
    forgetting = [max(r[i, j] for i in range(last)) - r[last, j] for j in range(last)]
    assert result["forgetting"] == pytest.approx(sum(forgetting) / last)
    transfer = [r[j - 1, j] - reference[j] for j in range(1, tasks)]
    assert result["forward_transfer"] == pytest.approx(sum(transfer) / last)


def test_summarize_rejects_a_matrix_that_is_not_square():
    with pytest.raises(ValueError, match="square"):
        summarize(np.zeros((2, 3)))


# -- reservoir buffer ------------------------------------------------------------------------


def items(count: int) -> torch.Tensor:
    return torch.arange(count, dtype=torch.float32)[:, None]


def test_reservoir_batches_decide_exactly_as_one_example_at_a_time():
    capacity, stream, batch = 8, 200, 13
    buffer = ReservoirBuffers([capacity], (1,), 2, seeds=[3], device=torch.device("cpu"))
    # the same draws, applied one example at a time as in Vitter's algorithm R
    draws = torch.Generator().manual_seed(3)
    expected = [None] * capacity
    for first in range(0, stream, batch):
        count = min(batch, stream - first)
        u = torch.rand(count, generator=draws)
        for i in range(count):
            n = first + i
            slot = n if n < capacity else int(u[i] * (n + 1))
            if slot < capacity:
                expected[slot] = n
        x = items(stream)[first : first + count]
        buffer.add(x[None], torch.zeros(1, count, dtype=torch.long), torch.zeros(1, count, 2))
        assert buffer.lengths()[0] <= capacity
    assert buffer.x[:, 0].long().tolist() == expected


def test_reservoir_keeps_a_uniform_sample_of_the_stream():
    capacity, stream, runs = 10, 60, 1500
    counts = np.zeros(stream)
    for seed in range(runs):
        buffer = ReservoirBuffers([capacity], (1,), 2, seeds=[seed], device=torch.device("cpu"))
        for first in range(0, stream, 7):
            x = items(stream)[first : first + 7]
            buffer.add(x[None], torch.zeros(1, len(x), dtype=torch.long), torch.zeros(1, len(x), 2))
        kept = buffer.x[:, 0].long()
        assert buffer.lengths() == [capacity] and len(set(kept.tolist())) == capacity
        counts[kept.numpy()] += 1
    expected = runs * capacity / stream
    chi2 = ((counts - expected) ** 2 / expected).sum()
    # 59 degrees of freedom: the 99.9th percentile of chi-square is about 99
    assert chi2 < 99, f"inclusion counts far from uniform (chi2 = {chi2:.1f})"
    # early and late examples alike: no drift along the stream
    assert abs(counts[: stream // 2].mean() - counts[stream // 2 :].mean()) < 0.1 * expected


# -- stream plans ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def labels():
    rng = np.random.default_rng(0)
    return rng.integers(0, 10, 600), rng.integers(0, 10, 150)


@pytest.mark.parametrize("boundary", ["sharp", "blurry"])
@pytest.mark.parametrize("passes", [1, 3])
def test_split_stream_holds_each_example_once_per_pass_within_its_task(labels, boundary, passes):
    train_y, test_y = labels
    options = {"kind": "split", "tasks": 5, "passes": passes, "boundary": boundary, "overlap": 0.3}
    plan = make_stream(train_y, test_y, (1, 40), 10, options, seed=1)
    classes = plan["classes"].values
    assert sorted(classes.ravel().tolist()) == list(range(10))  # a partition of the classes
    example, task = plan["example"].values, plan["example_task"].values
    assert np.array_equal(np.bincount(example, minlength=600), np.full(600, passes))
    assert all(train_y[e] in classes[t] for e, t in zip(example, task, strict=True))
    assert all(
        test_y[e] in classes[t]
        for e, t in zip(plan["test_example"].values, plan["test_task"].values, strict=True)
    )
    ends = plan["task_end"].values
    assert ends[-1] == len(example) and np.all(np.diff(ends) > 0)
    if boundary == "sharp":
        assert np.array_equal(task, np.repeat(np.arange(5), np.diff(ends, prepend=0)))


def test_blurry_boundaries_mix_tasks_with_a_rising_share(labels):
    train_y, test_y = labels
    y = np.repeat(np.arange(10), 200)
    options = {"kind": "split", "tasks": 2, "boundary": "blurry", "overlap": 0.5}
    plan = make_stream(y, test_y, (1, 40), 10, options, seed=0)
    task = plan["example_task"].values
    end = int(plan["task_end"].values[0])  # 1000 examples per task, 500 of each interleaved
    assert np.all(task[: end - 500] == 0) and np.all(task[end + 500 :] == 1)
    assert np.bincount(task).tolist() == [1000, 1000]
    share = [task[i : i + 200].mean() for i in range(end - 500, end + 500, 200)]
    np.testing.assert_allclose(share, [0.1, 0.3, 0.5, 0.7, 0.9], atol=0.05)  # linear


@pytest.mark.parametrize("kind", ["permuted", "rotated"])
def test_permuted_and_1d_rotated_tasks_are_permutations_of_all_examples(labels, kind):
    train_y, test_y = labels
    options = {"kind": kind, "tasks": 4, "passes": 2, "examples_per_task": 100}
    plan = make_stream(train_y, test_y, (2, 20), 10, options, seed=2)
    permutation = plan["permutation"].values
    assert permutation.shape == (4, 40)
    assert all(sorted(row) == list(range(40)) for row in permutation)
    assert len({tuple(row) for row in permutation}) == 4  # every task transforms differently
    task = plan["example_task"].values
    for t in range(4):
        mine = plan["example"].values[task == t]
        assert len(mine) == 200 and np.array_equal(np.bincount(mine)[np.unique(mine)], np.full(100, 2))
    if kind == "rotated":  # shifts stay within each channel
        assert np.all(permutation[:, :20] < 20) and np.all(permutation[:, 20:] >= 20)


def test_task_transforms_apply_each_examples_own_task():
    y = np.repeat(np.arange(10), 10)
    plan = make_stream(y, y, (1, 6), 10, {"kind": "permuted", "tasks": 3}, seed=0)
    transforms = TaskTransforms(plan, torch.device("cpu"))
    x = torch.arange(6.0).repeat(3, 1)[:, None, :]
    out = transforms(x, torch.tensor([0, 1, 2]))
    for t in range(3):
        assert out[t, 0].tolist() == plan["permutation"].values[t].tolist()


def test_rotation_by_a_right_angle_turns_the_image():
    y = np.repeat(np.arange(10), 10)
    plan = make_stream(y, y, (1, 8, 8), 10, {"kind": "rotated", "tasks": 2, "max_angle": 90}, seed=0)
    transforms = TaskTransforms(plan, torch.device("cpu"))
    x = torch.randn(2, 1, 8, 8)
    out = transforms(x, torch.tensor([0, 1]))
    torch.testing.assert_close(out[0], x[0])
    turned = [torch.rot90(x[1], k, dims=(1, 2)) for k in (1, 3)]
    assert min(float((out[1] - t).abs().max()) for t in turned) < 1e-4


# -- strategies and training -----------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset():
    return mnist1d()


def test_task_free_strategies_never_learn_of_tasks(dataset, monkeypatch):
    calls = []

    def recording(cls):
        class Recording(cls):
            def observe(self, *args, **kwargs):
                calls.append((cls.__name__, "observe", len(args), sorted(kwargs)))
                return super().observe(*args, **kwargs)

            def end_task(self, x, y):
                calls.append((cls.__name__, "end_task", x.shape[1], y.shape[1]))  # (runs, examples)
                return super().end_task(x, y)

        return Recording

    monkeypatch.setattr(continual_learner, "CLASSES", {k: recording(v) for k, v in CLASSES.items()})
    plan = split_plan(dataset, tasks=3, passes=1)
    for strategy in STRATEGIES:
        train_stream(spec(strategy), plan, dataset[1], progress=False)
    observed = {c[0] for c in calls if c[1] == "observe"}
    assert observed == {cls.__name__ for cls in CLASSES.values()}
    assert all(c[2] == 2 and c[3] == [] for c in calls if c[1] == "observe")  # inputs, labels only
    told = [c for c in calls if c[1] == "end_task"]
    assert [c[0] for c in told] == ["OnlineEwc"] * 3  # only EWC, which needs boundaries, at each task end
    # with as many of the task's examples as its Fisher uses (each task has more in the stream)
    per_task = [int((plan["example_task"] == task).sum()) for task in range(3)]
    assert min(per_task) > OPTIONS["ewc"]["fisher_examples"]
    assert [c[2:] for c in told] == [(OPTIONS["ewc"]["fisher_examples"],) * 2] * 3


def test_a_task_free_strategy_refuses_task_boundaries(dataset):
    net = Single(torch.nn.Linear(2, 2))
    strategy = CLASSES["clear"](net, torch.optim.SGD(net.parameters(), lr=0.1), OPTIONS["clear"], None)
    with pytest.raises(RuntimeError, match="task-free"):
        strategy.end_task(torch.zeros(1, 1, 2), torch.zeros(1, 1, dtype=torch.long))


def test_finetune_forgets_the_first_tasks_and_replay_keeps_clearly_more(dataset):
    plan = split_plan(dataset, tasks=5, passes=3)
    model = {"architecture": "mlp", "depth": 2, "width": 128, "init": "he"}
    finetune = train_stream(spec("finetune", model=model), plan, dataset[1], progress=False)
    replay = train_stream(spec("er", model=model, buffer_size=None), plan, dataset[1], progress=False)
    learned, kept = np.diag(finetune.matrix[0])[:-1], finetune.matrix[0, -1, :-1]
    assert learned.mean() > 0.7 and kept.mean() < 0.05  # class-incremental: learned, then forgotten
    assert replay.matrix[0, -1, :-1].mean() > kept.mean() + 0.15
    assert summarize(finetune.matrix[0])["forgetting"] > summarize(replay.matrix[0])["forgetting"] + 0.15


def test_runs_repeat_bitwise_and_resume_after_an_interruption(dataset, tmp_path, monkeypatch):
    plan = split_plan(dataset, tasks=3, passes=1)
    whole = train_stream(spec("clear"), plan, dataset[1], progress=False)
    again = train_stream(spec("clear"), plan, dataset[1], progress=False)
    assert np.array_equal(whole.matrix, again.matrix) and np.array_equal(whole.curve, again.curve)
    steps = {"count": 0}
    original = CLASSES["clear"].observe

    def interrupted(self, x, y):
        steps["count"] += 1
        if steps["count"] == 60:  # inside the second task, after the first task's checkpoint
            raise KeyboardInterrupt
        return original(self, x, y)

    monkeypatch.setattr(CLASSES["clear"], "observe", interrupted)
    resume = tmp_path / "clear.resume.pt"
    with pytest.raises(KeyboardInterrupt):
        train_stream(spec("clear"), plan, dataset[1], resume_path=resume, progress=False)
    assert resume.exists()
    monkeypatch.setattr(CLASSES["clear"], "observe", original)
    resumed = train_stream(spec("clear"), plan, dataset[1], resume_path=resume, progress=False)
    assert np.array_equal(whole.matrix, resumed.matrix)
    assert np.array_equal(whole.curve, resumed.curve)
    assert whole.loss == resumed.loss  # the partial window of losses at a task end is carried over


def test_a_diverging_run_is_recorded_not_raised(dataset):
    plan = split_plan(dataset, tasks=2, passes=1)
    result = train_stream(spec("finetune", lr=1e6), plan, dataset[1], progress=False)
    assert result.diverged and np.isnan(result.matrix[0, -1]).all()


def test_the_summary_has_named_dims_and_buffer_free_strategies_at_every_size(dataset, tmp_path):
    plan = split_plan(dataset, tasks=2, passes=1)
    jobs = []
    for strategy, buffer in [("finetune", "none"), ("er", "100"), ("er", "unbounded")]:
        run = {
            **spec(
                strategy,
                buffer_size=None if buffer == "unbounded" else (int(buffer) if buffer != "none" else None),
            ).__dict__,
            "factors": {"stream": "split", "strategy": strategy, "buffer_size": buffer, "seed": 0},
        }
        run["name"] = f"{strategy}_{buffer}"
        jobs.append(continual_job([run], plan, dataset[1], tmp_path))
    summary = collect(jobs, ["100", "unbounded"])
    assert {"strategy", "trained_on", "eval_task", "stream", "buffer_size", "seed", "scenario"} <= set(
        summary["accuracy"].dims
    )
    finetune = summary["forgetting"].sel(strategy="finetune", stream="split", seed=0, scenario="class")
    assert finetune.notnull().all() and float(finetune[0]) == float(finetune[1])
    direct = summarize(jobs[1]["accuracy"].values[0, 0], jobs[1]["reference"].values[0, 0])
    assert float(
        summary["forgetting"].sel(strategy="er", buffer_size=100, stream="split", seed=0, scenario="class")
    ) == pytest.approx(direct["forgetting"])


def test_streams_of_different_lengths_share_one_summary(dataset, tmp_path):
    jobs = []
    for tasks in (2, 3):
        run = {**spec("finetune").__dict__, "name": f"t{tasks}"}
        run["factors"] = {"stream": f"t{tasks}", "strategy": "finetune", "buffer_size": "none", "seed": 0}
        jobs.append(continual_job([run], split_plan(dataset, tasks=tasks, passes=1), dataset[1], tmp_path))
    summary = collect(jobs, ["100"])
    assert summary.sizes["trained_on"] == 3
    for job, stream in zip(jobs, ("t2", "t3"), strict=True):
        direct = summarize(job["accuracy"].values[0, 0], job["reference"].values[0, 0])
        stored = summary.sel(stream=stream, strategy="finetune", buffer_size=100, seed=0, scenario="class")
        for name, value in direct.items():
            assert float(stored[name]) == pytest.approx(value), (stream, name)


def test_a_pack_of_runs_on_their_own_streams_equals_one_job_per_run(dataset, tmp_path):
    """A continual job trains its pack's runs one after another, each on its own stream plan (one
    per seed): the same accuracy matrices, curves and losses as one job per run."""
    ds, tensors = dataset
    plans = [
        make_stream(
            ds["train_y"].values,
            ds["test_y"].values,
            tensors.input_shape,
            10,
            {"kind": "split", "tasks": 2, "passes": 1},
            seed=seed,
        )
        for seed in (0, 1)
    ]
    runs = []
    for seed, buffer in ((0, 100), (1, 100), (0, None)):
        run = {**spec("clear", seed=seed, buffer_size=buffer).__dict__, "name": f"clear_{buffer}_{seed}"}
        label = "unbounded" if buffer is None else str(buffer)  # as the workflow's paths write it
        run["factors"] = {"stream": "split", "strategy": "clear", "buffer_size": label, "seed": seed}
        runs.append(run)
    own_plans = [plans[run["seed"]] for run in runs]
    packed = continual_job(runs, own_plans, tensors, tmp_path / "pack")
    for k, (run, plan) in enumerate(zip(runs, own_plans, strict=True)):
        alone = continual_job([run], plan, tensors, tmp_path / run["name"])
        for name in ("accuracy", "reference", "train_loss", "task_end_step"):
            np.testing.assert_array_equal(packed[name].values[k], alone[name].values[0])
        curve = packed["accuracy_curve"].values[k][:, : alone.sizes["step"]]
        np.testing.assert_array_equal(curve, alone["accuracy_curve"].values[0])
    assert not np.array_equal(packed["accuracy"].values[0], packed["accuracy"].values[1])  # own streams
    summary = collect([packed], ["100", "unbounded"])
    for size in (100, np.inf):
        assert summary["accuracy"].sel(strategy="clear", buffer_size=size).notnull().any()
