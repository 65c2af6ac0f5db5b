"""The continual-learning study's workflow: its runs, paths, run specs and figures.

Torch-free: the Snakefile imports it to plan jobs. A run trains one strategy on one stream with one
seed; strategies that keep a replay buffer run once per swept buffer size, the others once, with
buffer ``none``. Only a strategy's own options enter its run spec, so changing CLEAR's weights
reruns only the CLEAR runs.
"""

from __future__ import annotations

import itertools

from deepstudy.checks import ConfigError, check_model
from deepstudy.continual.catalogue import REPLAY_STRATEGIES
from deepstudy.paths import DATASET, figure_path

#: A run's factors: the summary's dimensions, in order.
FACTORS = ("stream", "strategy", "buffer_size", "seed")
#: The buffer of a strategy that keeps none (in paths and in the summary, before it is spread).
NO_BUFFER = "none"
#: The buffer size that holds the whole stream.
UNBOUNDED = "unbounded"
#: The scenarios each kind of stream can be scored in; a stream's first is its default.
STREAM_SCENARIOS = {"split": ("class", "task"), "permuted": ("domain",), "rotated": ("domain",)}
#: How each scenario reads the network: over all classes, or over the example's task's classes.
SCENARIOS = ("class", "task", "domain")

PATHS = {
    "stream": "results/continual/streams/{dataset}/{stream}_seed{seed}.zarr/zarr.json",
    "metrics": "results/continual/runs/{stream}/{strategy}/buffer{buffer}/seed{seed}/metrics.zarr/zarr.json",
    "summary": "results/continual/summary.zarr/zarr.json",
    "figure": figure_path("continual"),
}
FIGURES = ("along_stream", "accuracy_matrix", "buffer_size")
#: The section of the report that holds the figures.
REPORT_CATEGORY = "Continual learning"


def buffer_labels(config: dict) -> list[str]:
    """The swept buffer sizes as they appear in paths and in the summary's buffer_size dimension."""
    return [str(size) for size in config["continual"]["buffer_size"]]


def runs(config: dict) -> list[dict]:
    """Every (stream, strategy, buffer, seed) of the study; buffer-free strategies run once, 'none'."""
    study = config["continual"]
    result = []
    for stream, strategy, seed in itertools.product(study["streams"], study["strategies"], study["seed"]):
        buffers = buffer_labels(config) if strategy in REPLAY_STRATEGIES else [NO_BUFFER]
        result += [dict(stream=stream, strategy=strategy, buffer=b, seed=seed) for b in buffers]
    return result


def metrics_paths(config: dict) -> list[str]:
    """Metric stores of every continual run."""
    return [PATHS["metrics"].format(**run) for run in runs(config)]


def dataset_path(config: dict) -> str:
    return DATASET.format(dataset=config["continual"]["dataset"])


def stream_path(config: dict, stream: str, seed) -> str:
    """The stream plan a continual job trains on."""
    return PATHS["stream"].format(dataset=config["continual"]["dataset"], stream=stream, seed=seed)


def train_specs(config: dict, wildcards) -> list[dict]:
    """The run specs of one continual job (one run; jobs take lists of runs). Only the strategy's
    own options enter, so changing CLEAR's weights reruns only CLEAR."""
    study = config["continual"]
    training = study["training"]
    strategy, buffer, seed = wildcards.strategy, wildcards.buffer, int(wildcards.seed)
    return [
        dict(
            name=f"{wildcards.stream}_{strategy}_buffer{buffer}_seed{seed}",
            model=config["models"][study["model"]],
            strategy=strategy,
            seed=seed,
            lr=training["lr"],
            batch_size=training["batch_size"],
            buffer_size=int(buffer) if buffer.isdigit() else None,
            strategy_options=dict(study.get(strategy, {})),
            optimizer=training["optimizer"],
            momentum=training["momentum"],
            weight_decay=training["weight_decay"],
            eval_every=training["eval_every"],
            scenarios=list(study["streams"][wildcards.stream]["scenarios"]),
            factors=dict(stream=wildcards.stream, strategy=strategy, buffer_size=buffer, seed=seed),
        )
    ]


def check(config: dict) -> None:
    """The checks of the ``continual`` section that the schema cannot express; fills in each
    stream's default scenarios."""
    study = config["continual"]
    check_model(config, "continual.model", study["model"], study["dataset"])
    for name, stream in study["streams"].items():
        kind = stream["kind"]
        allowed = STREAM_SCENARIOS[kind]
        stream.setdefault("scenarios", list(allowed[:1]))
        for i, scenario in enumerate(stream["scenarios"]):
            if scenario not in allowed:
                raise ConfigError(
                    f"config key continual.streams.{name}.scenarios[{i}]: a {kind} stream is scored"
                    f" as {' or '.join(allowed)}, not {scenario}"
                )
        if kind == "split" and stream["tasks"] > 10:
            raise ConfigError(
                f"config key continual.streams.{name}.tasks: {stream['tasks']} tasks cannot split 10 classes"
            )
    curve_size = study["plots"]["curve_buffer_size"]
    if curve_size is not None and curve_size not in study["buffer_size"]:
        raise ConfigError(
            f"config key continual.plots.curve_buffer_size: {curve_size} is not in continual.buffer_size"
        )
