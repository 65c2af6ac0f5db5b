"""The continual-learning study's workflow: its runs, packs, paths, run specs and figures.

Torch-free: the Snakefile imports it to plan jobs. A run trains one strategy on one stream with one
seed; strategies that keep a replay buffer run once per swept buffer size, the others once, with
buffer ``none``. The runs of one stream and strategy, across buffer sizes and seeds, are cut in
order into packs of ``continual.training.pack`` runs (``auto``: see :mod:`deepstudy.pack_sizes`);
a pack is one job, named by its first run. In it, runs that share their stream's task ends train
stacked, in lockstep (:func:`deepstudy.continual.learner.stacks`), the others one after another.
Only a strategy's own options enter its run spec, so changing CLEAR's weights reruns only the
packs of CLEAR runs.
"""

from __future__ import annotations

import itertools
import math

from deepstudy.checks import ConfigError, check_model
from deepstudy.continual.catalogue import REPLAY_STRATEGIES
from deepstudy.pack_sizes import CPU_PACK, plans_on_gpu
from deepstudy.paths import DATASET, figure_path

#: A run's factors: the summary's dimensions, in order.
FACTORS = ("stream", "strategy", "buffer_size", "seed")
#: The factors a pack's runs share; buffer size and seed vary within a pack.
PACK_FACTORS = ("stream", "strategy")
#: A run as wildcards name it: its buffer (a size, unbounded or none) and seed as in its path.
RUN_KEYS = ("stream", "strategy", "buffer", "seed")
#: The buffer of a strategy that keeps none (in paths and in the summary, before it is spread).
NO_BUFFER = "none"
#: The buffer size that holds the whole stream (in the config and in paths; ``inf`` in the summary).
UNBOUNDED = "unbounded"
#: What the summary's numeric ``buffer_size`` coordinate means.
BUFFER_SIZE_DESCRIPTION = "replay buffer capacity in examples; inf: unbounded (holds the whole stream)"
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


def buffer_capacity(label: str | int) -> float:
    """A buffer size as the config and paths write it (a number or ``unbounded``) as the summary's
    numeric ``buffer_size``: examples, ``inf`` for the unbounded buffer."""
    return math.inf if str(label) == UNBOUNDED else float(int(label))


def buffer_label(capacity: float) -> str:
    """The inverse of :func:`buffer_capacity`: a summary's buffer size as paths and titles write it."""
    return UNBOUNDED if math.isinf(capacity) else str(int(capacity))


def runs(config: dict) -> list[dict]:
    """Every (stream, strategy, buffer, seed) of the study; buffer-free strategies run once, 'none'."""
    study = config["continual"]
    result = []
    for stream, strategy, seed in itertools.product(study["streams"], study["strategies"], study["seed"]):
        buffers = buffer_labels(config) if strategy in REPLAY_STRATEGIES else [NO_BUFFER]
        result += [dict(stream=stream, strategy=strategy, buffer=b, seed=seed) for b in buffers]
    return result


def packs(config: dict, on_gpu: bool = False) -> list[list[dict]]:
    """The runs cut into jobs: those of one stream and strategy, in order, in chunks of the pack size
    (``auto``: :data:`~deepstudy.pack_sizes.CPU_PACK` on a CPU, every run of the stream and
    strategy on a GPU, where the jobs' process start weighs most)."""
    setting = config["continual"]["training"]["pack"]
    groups: dict[tuple, list[dict]] = {}
    for run in runs(config):
        groups.setdefault(tuple(run[f] for f in PACK_FACTORS), []).append(run)
    result = []
    for members in groups.values():
        size = int(setting) if setting != "auto" else (len(members) if on_gpu else CPU_PACK)
        result += [members[i : i + size] for i in range(0, len(members), size)]
    return result


def run_key(run: dict) -> tuple[str, ...]:
    """A run as its wildcards name it."""
    return tuple(str(run[key]) for key in RUN_KEYS)


def run_spec(config: dict, run: dict) -> dict:
    """The spec of one continual run (``run``: stream, strategy, buffer and seed). Only the
    strategy's own options enter, so changing CLEAR's weights reruns only CLEAR."""
    study = config["continual"]
    training = study["training"]
    stream, strategy, buffer, seed = run["stream"], run["strategy"], str(run["buffer"]), int(run["seed"])
    return dict(
        name=f"{stream}_{strategy}_buffer{buffer}_seed{seed}",
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
        scenarios=list(study["streams"][stream]["scenarios"]),
        factors=dict(stream=stream, strategy=strategy, buffer_size=buffer, seed=seed),
    )


class ContinualStudy:
    """The study's runs and packs under one config, and the paths and specs the rules need."""

    def __init__(self, config: dict) -> None:
        self.config = config
        self.study = config["continual"]
        on_gpu = plans_on_gpu(config)
        self.packs = {run_key(pack[0]): pack for pack in packs(config, on_gpu)}

    def pack(self, wildcards) -> list[dict]:
        """The runs of the pack that a job (named by the pack's first run) trains."""
        return self.packs[tuple(wildcards[key] for key in RUN_KEYS)]

    def dataset_path(self) -> str:
        return DATASET.format(dataset=self.study["dataset"])

    def stream_paths(self, pack: list[dict]) -> list[str]:
        """The stream plan of each run of a pack (one per seed)."""
        return [PATHS["stream"].format(dataset=self.study["dataset"], **run) for run in pack]

    def metrics_paths(self) -> list[str]:
        """Metric stores of every job (one per pack, holding its runs along ``run``)."""
        return [PATHS["metrics"].format(**pack[0]) for pack in self.packs.values()]

    def train_specs(self, pack: list[dict]) -> list[dict]:
        """The run specs of one job, in pack order."""
        return [run_spec(self.config, run) for run in pack]


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
