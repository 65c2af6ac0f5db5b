"""What the continual tests share: a small MLP, strategy options, run specs and split streams."""

from __future__ import annotations

from deepstudy import data
from deepstudy.continual.learner import ContinualSpec
from deepstudy.continual.streams import make_stream

MLP = {"architecture": "mlp", "depth": 1, "width": 64, "init": "he"}
OPTIONS = {
    "clear": {"replay_weight": 1.0, "cloning_weight": 1.0},
    "derpp": {"alpha": 0.3, "beta": 0.5},
    "ewc": {"lambda": 10.0, "gamma": 1.0, "fisher_examples": 200, "fisher": "expected"},
}


def mnist1d() -> tuple:
    """3,000 MNIST-1D examples, as a Dataset and as tensors."""
    ds = data.make_mnist1d(3000, seed=5)
    return ds, data.Tensors(ds)


def spec(strategy: str, **overrides) -> ContinualSpec:
    """A short run of ``strategy``, with ``overrides``."""
    values = dict(
        name=strategy,
        model=MLP,
        strategy=strategy,
        seed=0,
        lr=0.05,
        batch_size=32,
        buffer_size=300,
        strategy_options=OPTIONS.get(strategy, {}),
        eval_every=20,
        scenarios=("class", "task"),
    )
    return ContinualSpec(**{**values, **overrides})


def split_plan(dataset, tasks=3, passes=2, seed=0, **options):
    """A split stream of ``dataset`` (as :func:`mnist1d` gives it)."""
    ds, tensors = dataset
    return make_stream(
        ds["train_y"].values,
        ds["test_y"].values,
        tensors.input_shape,
        10,
        {"kind": "split", "tasks": tasks, "passes": passes, **options},
        seed=seed,
    )


def job_run(strategy: str, buffer: str = "none", seed: int = 0, **overrides) -> dict:
    """A run mapping as the workflow gives a job: a spec's fields, its name and its factors."""
    size = int(buffer) if buffer.isdigit() else None
    run = {**spec(strategy, seed=seed, buffer_size=size, **overrides).__dict__}
    run["name"] = f"{strategy}_buffer{buffer}_seed{seed}"
    run["factors"] = {"stream": "split", "strategy": strategy, "buffer_size": buffer, "seed": seed}
    return run
