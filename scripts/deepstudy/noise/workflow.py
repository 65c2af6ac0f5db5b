"""The label-noise study's workflow: its run grid, training packs, run specs, paths and figures.

Torch-free: the Snakefile imports it to plan jobs. A run is one training, a mapping of the grid's
:data:`FACTORS` to values. Runs of one grid block that share model and batch size (and, without
``epoch_examples``, steps per epoch) can train in one process, each on its own dilution plan, with
its own seed, data order and learning rate (:mod:`deepstudy.packing`): they are cut, in grid order,
into packs of ``noise.training.pack`` runs (:mod:`deepstudy.pack_sizes`). A pack is one training
job, named by its first run (its leader), whose paths hold the whole pack's outputs. Packs form
within each block, so changing a block leaves the other blocks' packs as they are (unless a run
moves between blocks, which share no runs); within a block a change can regroup its packs.
"""

from __future__ import annotations

import itertools
import math

from deepstudy.checks import ConfigError, check_checkpoint_epochs, check_model
from deepstudy.datasets import DATASETS, train_size
from deepstudy.pack_sizes import pack_size, plans_on_gpu
from deepstudy.paths import CHECKPOINT_FILE, DATASET, figure_path, labels

#: A run's factors, in the order of the grid blocks' product, of run names and of wildcards.
FACTORS = ("model", "noise", "alpha", "n_clean", "batch_size", "lr", "seed")
#: The factors a pack's runs share; the others vary within a pack.
PACK_FACTORS = ("model", "batch_size")
NOISE_KINDS = ("uniform", "structured", "source")
#: ``noise.source.images`` value for a pool of random images rather than another dataset.
RANDOM_SOURCE = "random"
#: The plot options that hold a factor fixed (else the value with the most runs is taken).
PLOTTED_FACTORS = ("batch_size", "lr", "n_clean")

_RUN = "{model}/{noise}/alpha{alpha}_nclean{n_clean}_bs{batch_size}_lr{lr}/seed{seed}"
PATHS = {
    "plan": "results/noise/plans/{dataset}/{noise}/alpha{alpha}_nclean{n_clean}_seed{seed}.zarr/zarr.json",
    "metrics": f"results/noise/runs/{_RUN}/metrics.zarr/zarr.json",
    "checkpoint": f"results/noise/runs/{_RUN}/{CHECKPOINT_FILE}",
    "summary": "results/noise/summary.zarr/zarr.json",
    "figure": figure_path("noise"),
}
FIGURES = ("accuracy_vs_alpha", "batch_size", "clean_needed")
#: The section of the report that holds the figures.
REPORT_CATEGORY = "Label noise"


def block_runs(grid: list[dict]) -> list[list[dict]]:
    """Each grid block's cartesian product, in order, without the runs of earlier blocks."""
    seen, result = set(), []
    for block in grid:
        mine = []
        for values in itertools.product(*(block[f] for f in FACTORS)):
            run = dict(zip(FACTORS, values, strict=True))
            key = tuple(run.values())
            if key not in seen:
                seen.add(key)
                mine.append(run)
        result.append(mine)
    return result


def runs(grid: list[dict]) -> list[dict]:
    """The union of the grid blocks' cartesian products, in order, without repeats."""
    return [run for block in block_runs(grid) for run in block]


def run_key(run: dict) -> tuple[str, ...]:
    """A run's factors as labels, in :data:`FACTORS` order: how wildcards name a run."""
    labelled = labels(run)
    return tuple(labelled[f] for f in FACTORS)


def wildcard_key(wildcards) -> tuple[str, ...]:
    """The run that a job's wildcards name, as its :func:`run_key`."""
    return tuple(wildcards[f] for f in FACTORS)


def run_name(run: dict) -> str:
    """A run's name inside metrics stores and checkpoint files."""
    return "_".join(f"{key}{value}" for key, value in labels(run).items())


def noisy_examples(alpha: float, n_clean: int) -> int:
    """Noisy examples that dilute ``n_clean`` clean ones at ``alpha``: round(α · n_clean) (half to even)."""
    return round(alpha * n_clean)


def training_examples(run: dict) -> int:
    """Examples of a run's diluted training set: its clean ones and round(α · n_clean) noisy ones."""
    return run["n_clean"] + noisy_examples(run["alpha"], run["n_clean"])


def packs(grid: list[dict], config: dict, on_gpu: bool = False) -> list[list[dict]]:
    """The grid's runs cut into training jobs: within each block, runs that share
    :data:`PACK_FACTORS` (and steps per epoch, where an epoch is one pass), in grid order, in
    chunks of :func:`deepstudy.pack_sizes.pack_size`."""
    training, dataset = config["noise"]["training"], DATASETS[config["noise"]["dataset"]]
    result = []
    for block in block_runs(grid):
        groups: dict[tuple, list[dict]] = {}
        for run in block:
            key = tuple(run[f] for f in PACK_FACTORS)
            if training["epoch_examples"] is None:
                key += (math.ceil(training_examples(run) / run["batch_size"]),)
            groups.setdefault(key, []).append(run)
        for members in groups.values():
            model, batch_size = config["models"][members[0]["model"]], members[0]["batch_size"]
            size = pack_size(
                training["pack"], model, dataset.input_shape, dataset.num_classes, batch_size, on_gpu
            )
            result += [members[i : i + size] for i in range(0, len(members), size)]
    return result


class NoiseStudy:
    """The study's runs and packs under one config, and the paths and specs the rules need."""

    def __init__(self, config: dict) -> None:
        self.config = config
        self.study = config["noise"]
        self.runs = runs(self.study["grid"])
        # only SGD runs stack; others pack as on a CPU, one after another
        on_gpu = plans_on_gpu(config) and self.study["training"]["optimizer"] == "sgd"
        self.packs = {run_key(pack[0]): pack for pack in packs(self.study["grid"], config, on_gpu)}
        self._leader = {run_key(run): pack[0] for pack in self.packs.values() for run in pack}
        self._by_key = {run_key(run): run for run in self.runs}

    def run(self, wildcards) -> dict:
        """The run that a job's wildcards name."""
        return self._by_key[wildcard_key(wildcards)]

    def pack(self, wildcards) -> list[dict]:
        """The runs of the pack that a training job (named by the pack's leader) trains."""
        return self.packs[wildcard_key(wildcards)]

    def dataset_path(self) -> str:
        return DATASET.format(dataset=self.study["dataset"])

    def source_paths(self, kinds: list[str]) -> list[str]:
        """The prepared dataset that source noise draws its images from, if any of ``kinds`` (the
        noise kinds of a plan, or of a pack's runs) is source noise."""
        images = self.study["source"]["images"]
        return [DATASET.format(dataset=images)] if "source" in kinds and images != RANDOM_SOURCE else []

    def dilution_options(self, noise: str) -> dict:
        """Only the options of the plan's own noise kind, so changing one reruns only its plans."""
        return dict(self.study[noise]) if noise in ("structured", "source") else {}

    def plan_paths(self, pack: list[dict]) -> list[str]:
        """The dilution plans a training job reads, one per run of its pack."""
        return [PATHS["plan"].format(dataset=self.study["dataset"], **labels(run)) for run in pack]

    def train_specs(self, pack: list[dict]) -> list[dict]:
        """The run specs one training job trains: its pack's runs, in order."""
        training = self.study["training"]
        return [
            dict(
                name=run_name(run),
                model=self.config["models"][run["model"]],
                seed=run["seed"],
                lr=run["lr"],
                batch_size=run["batch_size"],
                epochs=training["epochs"],
                optimizer=training["optimizer"],
                momentum=training["momentum"],
                weight_decay=training["weight_decay"],
                epoch_examples=training["epoch_examples"],
                checkpoint_epochs=sorted(training["checkpoint_epochs"]),
                factors=run,
            )
            for run in pack
        ]

    def metrics_paths(self) -> list[str]:
        """Metric stores of every training job (one per pack, holding its runs along ``run``)."""
        return [PATHS["metrics"].format(**labels(pack[0])) for pack in self.packs.values()]

    def checkpoint_path(self, run: dict, epoch) -> str:
        """The checkpoint file that holds ``run`` at ``epoch``: its pack's."""
        return PATHS["checkpoint"].format(epoch=epoch, **labels(self._leader[run_key(run)]))


def _check_clean_set(block: dict, n_clean: int, key: str, size: int, validation: int, dataset: str) -> None:
    """Validation, clean and (for uniform and structured noise) noise-pool examples are disjoint
    parts of the training split (:func:`deepstudy.noise.plans.dilute`): they must fit in it."""
    left = size - validation
    if n_clean > left:
        raise ConfigError(
            f"config key {key}: {n_clean} exceeds the {left} training examples of '{dataset}' left"
            f" after the {validation} of noise.validation.examples"
        )
    pooled = [kind for kind in block["noise"] if kind != "source"]
    if n_clean == left and pooled and any(round(alpha * n_clean) > 0 for alpha in block["alpha"]):
        raise ConfigError(
            f"config key {key}: {n_clean} clean examples leave no training image of '{dataset}' for the"
            f" {pooled[0]} noise pool ({size} training examples, {validation} of them for validation);"
            " the pool must not be the clean set"
        )


def _check_dilution(block: dict, key: str, full_batch: bool) -> None:
    """Every α > 0 of a grid block gives each of its ``n_clean`` at least one noisy example, and
    (unless ``full_batch``) every batch size fits each diluted training set it meets."""
    for i, alpha in enumerate(block["alpha"]):
        for j, n_clean in enumerate(block["n_clean"]):
            if alpha > 0 and noisy_examples(alpha, n_clean) == 0:
                raise ConfigError(
                    f"config key {key}.alpha[{i}]: {alpha} gives round({alpha} × {n_clean}) = 0 noisy"
                    f" examples with n_clean {n_clean} ({key}.n_clean[{j}]); use 0 for a clean run,"
                    f" or more than {0.5 / n_clean:g}"
                )
    if full_batch:
        return
    smallest = min(n + noisy_examples(a, n) for a in block["alpha"] for n in block["n_clean"])
    for i, batch_size in enumerate(block["batch_size"]):
        if batch_size > smallest:
            raise ConfigError(
                f"config key {key}.batch_size[{i}]: {batch_size} exceeds a run's diluted training set"
                f" of {smallest} examples (n_clean + round(α × n_clean)), which would train full-batch;"
                " set noise.training.full_batch: true to mean that"
            )


def check(config: dict) -> None:
    """The checks of the ``noise`` section that the schema cannot express."""
    study = config["noise"]
    dataset = study["dataset"]
    size = train_size(config, dataset)
    validation = study["validation"]["examples"]
    for b, block in enumerate(study["grid"]):
        for i, name in enumerate(block["model"]):
            check_model(config, f"noise.grid[{b}].model[{i}]", name, dataset)
        for i, n_clean in enumerate(block["n_clean"]):
            _check_clean_set(block, n_clean, f"noise.grid[{b}].n_clean[{i}]", size, validation, dataset)
    training = study["training"]
    for b, block in enumerate(study["grid"]):
        _check_dilution(block, f"noise.grid[{b}]", training["full_batch"])
    check_checkpoint_epochs(
        training["checkpoint_epochs"], training["epochs"], "noise.training.checkpoint_epochs"
    )
    sigma = study["structured"]["confusion_map"]
    if sigma is not None and (len(sigma) != 10 or max(sigma) >= 10):
        raise ConfigError(
            "config key noise.structured.confusion_map: must give a class in 0..9 for each of the 10 classes"
        )
    source = study["source"]["images"]
    if source == dataset:
        raise ConfigError(
            f"config key noise.source.images: the source must differ from the diluted dataset '{dataset}'"
        )
    if source != RANDOM_SOURCE and DATASETS[source].example_ndim != DATASETS[dataset].example_ndim:
        raise ConfigError(
            f"config key noise.source.images: '{source}' examples cannot be reshaped into"
            f" '{dataset}' examples (1D vs 2D)"
        )
    grid_runs = runs(study["grid"])
    for factor in PLOTTED_FACTORS:
        value = study["plots"][factor]
        if value is not None and value not in {run[factor] for run in grid_runs}:
            raise ConfigError(f"config key noise.plots.{factor}: {value} is not in the grid")
