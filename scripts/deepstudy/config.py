"""Config validation: the JSON Schema with defaults, then the checks a schema cannot express.

Every error is a :class:`ConfigError` whose one-line message starts with the offending key, such
as ``config key noise.grid[0].alpha[1]: -1 is less than the minimum of 0``.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import yaml

#: Training-split sizes of the torchvision datasets, to check n_clean before any job runs.
TRAIN_SIZES = {"mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000}
#: Number of axes of one example (channel included) per dataset.
EXAMPLE_NDIM = {"mnist1d": 2, "mnist": 3, "fashion_mnist": 3, "cifar10": 3}
STUDIES = ("noise", "regions", "continual")
#: Scenarios each kind of stream can be scored in.
STREAM_SCENARIOS = {"split": ("class", "task"), "permuted": ("domain",), "rotated": ("domain",)}
GRID_FACTORS = ("model", "noise", "alpha", "n_clean", "batch_size", "lr", "seed")


class ConfigError(ValueError):
    """A config that the schema or the cross-checks reject."""


def _key(path: Iterator) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _with_defaults(validator_class: type) -> type:
    """A validator class that also fills in the schema's ``default`` of missing properties."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _message(error: jsonschema.ValidationError) -> str:
    key = _key(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        if allowed:
            return f"config key {key}: unknown key '{unknown[0]}' (allowed: {', '.join(allowed)})"
        return f"config key {key}.{unknown[0]}: {error.message}"
    if error.validator == "required":
        return f"config key {key}: {error.message}"
    return f"config key {key}: {error.message}"


def load_schema(path: str | Path) -> dict:
    with open(path) as handle:
        return yaml.safe_load(handle)


def runs(grid: list[dict]) -> list[dict]:
    """The union of the grid blocks' cartesian products, in order, without repeats."""
    seen, result = set(), []
    for block in grid:
        for values in itertools.product(*(block[f] for f in GRID_FACTORS)):
            run = dict(zip(GRID_FACTORS, values, strict=True))
            key = tuple(run.values())
            if key not in seen:
                seen.add(key)
                result.append(run)
    return result


#: Input features per example of each dataset, to size packs of MLPs before any data is read.
INPUT_SIZE = {"mnist1d": 40, "mnist": 784, "fashion_mnist": 784, "cifar10": 3072}
#: ``pack: auto`` packs as many MLPs as fit this many stacked parameters (at most MAX_PACK).
AUTO_PACK_PARAMETERS = 4_000_000
MAX_PACK = 64


def pack_size(config: dict, model: str) -> int:
    """How many runs of ``model`` one training job packs under ``noise.training.pack``."""
    setting = config["noise"]["training"]["pack"]
    spec = config["models"][model]
    if spec["architecture"] != "mlp" or setting == 1:
        return 1
    if setting != "auto":
        return int(setting)
    inputs, width, depth = INPUT_SIZE[config["noise"]["dataset"]], spec["width"], spec["depth"]
    parameters = inputs * width + (depth - 1) * width * width + width * 10
    return max(1, min(MAX_PACK, AUTO_PACK_PARAMETERS // parameters))


def packs(grid_runs: list[dict], config: dict) -> list[list[dict]]:
    """The grid's runs cut into training jobs: runs that differ only in learning rate and seed, in
    grid order, in chunks of :func:`pack_size` (source noise, whose runs read different images,
    and non-MLPs train alone). Deterministic, so an unchanged grid gives unchanged jobs."""
    groups: dict[tuple, list[dict]] = {}
    for run in grid_runs:
        key = (run["model"], run["noise"], run["alpha"], run["n_clean"], run["batch_size"])
        if run["noise"] == "source":
            key += (run["lr"], run["seed"])
        groups.setdefault(key, []).append(run)
    result = []
    for members in groups.values():
        size = pack_size(config, members[0]["model"])
        result += [members[i : i + size] for i in range(0, len(members), size)]
    return result


def train_size(config: dict, dataset: str) -> int:
    """Number of training examples of a prepared dataset, known before it is prepared."""
    if dataset == "mnist1d":
        options = config["datasets"]["mnist1d"]
        num_samples = options["num_samples"] // 10 * 10  # mnist1d makes equal counts per class
        return int(num_samples * options["train_split"])
    return TRAIN_SIZES[dataset]


def _check_noise(config: dict) -> None:
    study = config["noise"]
    dataset = study["dataset"]
    size = train_size(config, dataset)
    for b, block in enumerate(study["grid"]):
        for i, name in enumerate(block["model"]):
            if name not in config["models"]:
                raise ConfigError(
                    f"config key noise.grid[{b}].model[{i}]: unknown model '{name}'"
                    f" (defined in models: {', '.join(sorted(config['models']))})"
                )
            if config["models"][name]["architecture"] == "resnet18" and EXAMPLE_NDIM[dataset] != 3:
                raise ConfigError(
                    f"config key noise.grid[{b}].model[{i}]: resnet18 needs 2D images,"
                    f" but dataset '{dataset}' is 1D"
                )
        for i, n_clean in enumerate(block["n_clean"]):
            if n_clean > size:
                raise ConfigError(
                    f"config key noise.grid[{b}].n_clean[{i}]: {n_clean} exceeds the"
                    f" {size} training examples of '{dataset}'"
                )
    training = study["training"]
    for i, epoch in enumerate(training["checkpoint_epochs"]):
        if epoch > training["epochs"]:
            raise ConfigError(
                f"config key noise.training.checkpoint_epochs[{i}]: epoch {epoch} is after"
                f" the last epoch ({training['epochs']})"
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
    if source != "random" and EXAMPLE_NDIM[source] != EXAMPLE_NDIM[dataset]:
        raise ConfigError(
            f"config key noise.source.images: '{source}' examples cannot be reshaped into"
            f" '{dataset}' examples (1D vs 2D)"
        )
    grid_runs = runs(study["grid"])
    for factor in ("batch_size", "lr", "n_clean"):
        value = study["plots"][factor]
        if value is not None and value not in {run[factor] for run in grid_runs}:
            raise ConfigError(f"config key noise.plots.{factor}: {value} is not in the grid")


def _check_regions(config: dict) -> None:
    study = config["regions"]
    for i, depth in enumerate(study["init"]["depth"]):
        for j, neurons in enumerate(study["init"]["neurons"]):
            if neurons % depth:
                raise ConfigError(
                    f"config key regions.init.neurons[{j}]: {neurons} neurons do not split evenly over"
                    f" depth {depth} (regions.init.depth[{i}])"
                )
    if "noise" not in config["studies"]:
        raise ConfigError("config key studies: regions needs the noise study, whose checkpoints it analyses")
    if study["dataset"] != config["noise"]["dataset"]:
        raise ConfigError(
            f"config key regions.dataset: '{study['dataset']}' differs from noise.dataset"
            f" '{config['noise']['dataset']}', on which the analysed checkpoints were trained"
        )
    selected = [
        run
        for run in runs(config["noise"]["grid"])
        if all(run[factor] in values for factor, values in study["trained"].items())
    ]
    if not selected:
        raise ConfigError("config key regions.trained: selects no run of noise.grid")
    if not config["noise"]["training"]["checkpoint_epochs"]:
        raise ConfigError("config key noise.training.checkpoint_epochs: the regions study needs checkpoints")


def _check_continual(config: dict) -> None:
    study = config["continual"]
    if study["model"] not in config["models"]:
        raise ConfigError(
            f"config key continual.model: unknown model '{study['model']}'"
            f" (defined in models: {', '.join(sorted(config['models']))})"
        )
    if config["models"][study["model"]]["architecture"] == "resnet18" and EXAMPLE_NDIM[study["dataset"]] != 3:
        raise ConfigError(
            f"config key continual.model: resnet18 needs 2D images, but '{study['dataset']}' is 1D"
        )
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


def validate(config: dict, schema: dict) -> dict:
    """Validate ``config`` in place against ``schema``, fill in defaults, run the cross-checks.

    Returns the config; raises :class:`ConfigError` naming the first offending key.
    """
    validator_class = _with_defaults(jsonschema.validators.validator_for(schema))
    errors = list(validator_class(schema).iter_errors(config))
    if errors:
        error = min(errors, key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
        raise ConfigError(_message(error))
    if "studies" not in config:
        config["studies"] = [study for study in STUDIES if study in config]
    for i, study in enumerate(config["studies"]):
        if study not in config:
            raise ConfigError(f"config key studies[{i}]: study '{study}' has no '{study}' section")
    if "noise" in config["studies"]:
        _check_noise(config)
    if "regions" in config["studies"]:
        _check_regions(config)
    if "continual" in config["studies"]:
        _check_continual(config)
    return config
