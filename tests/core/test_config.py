"""Config validation: defaults, and one-line errors that name the offending key."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml
from conftest import validate_study as validate
from deepstudy.config import ConfigError


def set_key(config: dict, path: list, value) -> dict:
    target = config
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return config


def error_naming(config: dict, schema: dict, key: str) -> str:
    """validate's error for ``config``, checked to begin by naming ``key``."""
    with pytest.raises(ConfigError) as caught:
        validate(config, schema)
    message = str(caught.value)
    assert message.startswith(f"config key {key}:"), message
    return message


def test_the_shipped_configs_validate_and_get_defaults(repo, schema):
    """The default, each paper config and each template stands on its own, as Snakemake reads it."""
    for path in sorted([repo / "config" / "config.yaml", *(repo / "config").glob("*/*.yaml")]):
        config = validate(yaml.safe_load(path.read_text()), schema)
        assert config["studies"], path
        for study in config["studies"]:  # paper scale: a real dataset for every study it runs
            assert path.parent.name != "paper" or config[study]["dataset"] != "mnist1d", (path, study)


@pytest.mark.parametrize("study", ["noise", "regions", "continual"])
def test_config_readme_shows_each_template(repo, study):
    """config/README.md shows config/examples/<study>.yaml as it is, and README.md names it."""
    text = (repo / "config" / "examples" / f"{study}.yaml").read_text()
    shown = (repo / "config" / "README.md").read_text()
    assert f"`config/examples/{study}.yaml`:\n\n```yaml\n{text}```" in shown
    assert f"{study}.yaml" in (repo / "README.md").read_text()


def test_studies_select_what_runs(config, schema):
    noise_only = copy.deepcopy(config)
    noise_only["studies"] = ["noise"]
    noise_only["regions"]["dataset"] = "mnist"  # would fail the regions cross-check, which is skipped
    validate(noise_only, schema)
    regions_only = copy.deepcopy(config)
    regions_only["studies"] = ["regions"]
    with pytest.raises(ConfigError, match=r"^config key studies: regions needs the noise study"):
        validate(regions_only, schema)
    del config["regions"]
    config["studies"] = ["noise", "regions"]
    with pytest.raises(ConfigError, match=r"^config key studies\[1\]: study 'regions' has no"):
        validate(config, schema)


def test_a_study_not_listed_is_neither_validated_nor_read(config, schema):
    """A config runs only the studies it lists: another study's section, even a wrong one, is
    dropped unread, and a config may leave it out."""
    config["studies"] = ["continual"]
    config["noise"]["grid"][0]["alpha"] = [-1]
    config["regions"] = {"not": "a regions section"}
    validated = validate(config, schema)
    assert "noise" not in validated and "regions" not in validated
    assert validated["continual"]["training"]["lr"] == 0.05  # the listed study gets its defaults


def test_regions_trained_left_out_selects_every_grid_run(config, schema):
    from deepstudy.noise.workflow import runs
    from deepstudy.regions.workflow import trained_runs

    del config["regions"]["trained"]
    validated = validate(config, schema)
    grid_runs = runs(validated["noise"]["grid"])
    assert trained_runs(grid_runs, validated) == grid_runs


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize(
    ("path", "key"),
    [
        (["noise", "grid", 0, "alpha"], "noise.grid[0].alpha[1]"),
        (["noise", "grid", 2, "lr"], "noise.grid[2].lr[1]"),
        (["regions", "trained", "alpha"], "regions.trained.alpha[1]"),
        (["continual", "buffer_size"], "continual.buffer_size[1]"),
    ],
)
def test_non_finite_numbers_are_refused(config, schema, path, key, value):
    """YAML .nan and .inf pass a schema's number type and would plan no job, or a broken one."""
    message = error_naming(set_key(config, path, [1, value]), schema, key)
    assert "not a finite number" in message and "\n" not in message


def test_a_non_finite_number_in_a_mapping_is_refused(config, schema):
    error_naming(
        set_key(config, ["continual", "ewc"], {"lambda": float("nan")}), schema, "continual.ewc.lambda"
    )
    config["continual"]["ewc"]["lambda"] = 1.0
    config["regions"] |= yaml.safe_load("margin: .inf")
    error_naming(config, schema, "regions.margin")


def test_a_batch_larger_than_the_diluted_set_needs_full_batch(config, schema):
    """n_clean 100 at alpha 0 is 100 examples: a batch of 128 would silently train full-batch."""
    block = {"model": ["mlp"], "noise": ["uniform"], "alpha": [1, 0], "n_clean": [100, 400]}
    block |= {"batch_size": [64, 128], "lr": [0.05], "seed": [0]}
    config["noise"]["grid"].append(block)
    message = error_naming(copy.deepcopy(config), schema, "noise.grid[3].batch_size[1]")
    assert "100 examples" in message and "full_batch" in message
    config["noise"]["training"]["full_batch"] = True
    validate(config, schema)


@pytest.mark.parametrize(("alpha", "n_clean"), [(0.0001, 100), (0.005, 100), (0.002, 200)])
def test_an_alpha_that_gives_no_noisy_example_is_refused(config, schema, alpha, n_clean):
    """round(alpha * n_clean) noisy examples: 0 of them is a clean run under a noisy name."""
    config["noise"]["grid"][0] |= {"alpha": [0, alpha], "n_clean": [n_clean]}
    message = error_naming(config, schema, "noise.grid[0].alpha[1]")
    assert "0 noisy examples" in message and f"n_clean {n_clean}" in message


def test_the_smallest_alpha_that_gives_a_noisy_example_passes(config, schema):
    config["noise"]["grid"][0] |= {"alpha": [0, 0.006], "n_clean": [100]}
    validate(config, schema)


def test_defaults_are_filled_in(config, schema):
    validate(config, schema)
    assert config["noise"]["training"]["momentum"] == 0.9
    assert config["datasets"]["mnist1d"]["train_split"] == 0.8
    assert config["models"]["mlp"]["init"] == "he"
    assert config["noise"]["plots"]["lr"] is None


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        (["noise", "dataset"], "mnist2d", "noise.dataset"),
        (["noise", "dataset"], 3, "noise.dataset"),
        (["noise", "grid", 0, "alpha"], [0, -1], "noise.grid[0].alpha[1]"),
        (["noise", "grid", 1, "noise"], ["uniform", "gaussian"], "noise.grid[1].noise[1]"),
        (["noise", "grid", 0, "n_clean"], "100", "noise.grid[0].n_clean"),
        (["noise", "grid", 0, "lr"], [0], "noise.grid[0].lr[0]"),
        (["noise", "training", "epochs"], "ten", "noise.training.epochs"),
        (["noise", "training", "optimizer"], "rmsprop", "noise.training.optimizer"),
        (["noise", "structured", "delta"], 1.5, "noise.structured.delta"),
        (["device"], "tpu", "device"),
        (["models", "conv", "channels"], [8, 0], "models.conv.channels[1]"),
        (["models", "mlp", "architecture"], "transformer", "models.mlp.architecture"),
        (["noise", "training", "checkpoint_epochs"], [0, 2, 2], "noise.training.checkpoint_epochs"),
        (["regions", "memorise", "checkpoint_epochs"], [0, 0], "regions.memorise.checkpoint_epochs"),
        # a regions job analyses every width and seed of a depth: one listed twice would be two
        # identical outputs of one job, which Snakemake refuses with a traceback
        (["regions", "init", "seed"], [0, 0], "regions.init.seed"),
        (["regions", "init", "neurons"], [48, 48], "regions.init.neurons"),
        (["regions", "init", "depth"], [1, 1], "regions.init.depth"),
        (["regions", "memorise", "seed"], [0, 0], "regions.memorise.seed"),
    ],
)
def test_bad_values_name_their_key(config, schema, path, value, key):
    assert "\n" not in error_naming(set_key(config, path, value), schema, key)


@pytest.mark.parametrize(
    ("path", "misspelt", "where"),
    [
        ([], "nosie", "(top level)"),
        (["noise"], "alhpa", "noise"),
        (["noise", "training"], "epoch", "noise.training"),
        (["noise", "grid", 0], "batchsize", "noise.grid[0]"),
        (["datasets", "mnist1d"], "samples", "datasets.mnist1d"),
    ],
)
def test_misspelt_keys_are_named(config, schema, path, misspelt, where):
    target = config
    for key in path:
        target = target[key]
    target[misspelt] = 1
    with pytest.raises(ConfigError) as caught:
        validate(config, schema)
    message = str(caught.value)
    assert message.startswith(f"config key {where}:") and f"'{misspelt}'" in message, message


def test_missing_required_key_is_named(config, schema):
    del config["noise"]["grid"][0]["seed"]
    with pytest.raises(ConfigError, match=r"^config key noise\.grid\[0\]: 'seed' is a required"):
        validate(config, schema)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (
            lambda c: set_key(c, ["noise", "grid", 0, "model"], ["conv", "vgg"]),
            "noise.grid[0].model[1]",
        ),
        (
            lambda c: set_key(c, ["noise", "grid", 0, "n_clean"], [10**6]),
            "noise.grid[0].n_clean[0]",
        ),
        (
            lambda c: set_key(c, ["noise", "training", "checkpoint_epochs"], [0, 99]),
            "noise.training.checkpoint_epochs[1]",
        ),
        (
            lambda c: set_key(c, ["noise", "training", "checkpoint_epochs"], [2, 0]),
            "noise.training.checkpoint_epochs[1]",
        ),
        (
            lambda c: set_key(c, ["regions", "memorise", "checkpoint_epochs"], [2, 0]),
            "regions.memorise.checkpoint_epochs[1]",
        ),
        (
            lambda c: set_key(c, ["regions", "memorise", "checkpoint_epochs"], [0, 3]),
            "regions.memorise.checkpoint_epochs[1]",
        ),
        (lambda c: set_key(c, ["noise", "source", "images"], "mnist1d"), "noise.source.images"),
        (lambda c: set_key(c, ["noise", "source", "images"], "cifar10"), "noise.source.images"),
        (lambda c: set_key(c, ["noise", "plots", "batch_size"], 999), "noise.plots.batch_size"),
        (
            lambda c: set_key(c, ["models", "conv"], {"architecture": "resnet18"}),
            "noise.grid[1].model[0]",
        ),
    ],
)
def test_cross_checks_name_their_key(config, schema, change, key):
    error_naming(change(config), schema, key)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: set_key(c, ["noise", "grid", 0, "alpha"], [1, -2]), "noise.grid[0].alpha[1]: -2 is less"),
        (lambda c: set_key(c, ["noise", "grid", 0, "alpha"], [float("nan")]), "noise.grid[0].alpha[0]: nan"),
        (
            lambda c: set_key(c, ["noise", "grid", 1, "alpha"], [0, float("inf")]),
            "noise.grid[1].alpha[1]: inf",
        ),
        (lambda c: set_key(c, ["noise", "grid", 1, "batch_size"], [512]), "noise.grid[1].batch_size[0]: 512"),
    ],
)
def test_snakemake_stops_before_any_job_on_a_bad_config(repo, config, tmp_path, change, message):
    change(config)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "-s",
            str(repo / "workflow" / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--configfile",
            str(path),
            "--cores",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert f"config key {message}" in output, output
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda c: c.pop("models"), "(top level)"),
        (lambda c: set_key(c, ["noise", "grid"], {"model": ["mlp"]}), "noise.grid"),
        (lambda c: set_key(c, ["noise", "grid", 0, "batch_size"], [0]), "noise.grid[0].batch_size[0]"),
        (lambda c: set_key(c, ["noise", "grid", 0, "model"], "mlp"), "noise.grid[0].model"),
        (lambda c: set_key(c, ["noise", "training", "epoch_examples"], 0), "noise.training.epoch_examples"),
        (lambda c: set_key(c, ["datasets", "svhn"], {}), "datasets"),
        (lambda c: set_key(c, ["datasets", "mnist1d", "train_split"], 1.0), "datasets.mnist1d.train_split"),
    ],
)
def test_more_malformed_configs_name_their_key(config, schema, change, key):
    change(config)
    error_naming(config, schema, key)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda c: set_key(c, ["continual", "model"], "vgg"), "continual.model"),
        (
            lambda c: set_key(c, ["continual", "streams", "split", "scenarios"], ["class", "domain"]),
            "continual.streams.split.scenarios[1]",
        ),
        (
            lambda c: set_key(c, ["continual", "streams", "shifted", "scenarios"], ["task"]),
            "continual.streams.shifted.scenarios[0]",
        ),
        (
            lambda c: set_key(c, ["continual", "streams", "split", "tasks"], 11),
            "continual.streams.split.tasks",
        ),
        (
            lambda c: set_key(c, ["continual", "streams", "split", "kind"], "shuffled"),
            "continual.streams.split.kind",
        ),
        (
            lambda c: set_key(c, ["continual", "streams", "split", "overlap"], 0.9),
            "continual.streams.split.overlap",
        ),
        (lambda c: set_key(c, ["continual", "streams", "Split"], {"kind": "split"}), "continual.streams"),
        (lambda c: set_key(c, ["continual", "strategies"], ["finetune", "gem"]), "continual.strategies[1]"),
        (lambda c: set_key(c, ["continual", "buffer_size"], [100, "infinite"]), "continual.buffer_size[1]"),
        (lambda c: set_key(c, ["continual", "buffer_size"], [0]), "continual.buffer_size[0]"),
        (lambda c: set_key(c, ["continual", "clear"], {"clone_weight": 1.0}), "continual.clear"),
        (
            lambda c: set_key(c, ["continual", "plots"], {"curve_buffer_size": 999}),
            "continual.plots.curve_buffer_size",
        ),
        (lambda c: set_key(c, ["continual", "training", "eval_every"], 0), "continual.training.eval_every"),
    ],
)
def test_continual_config_errors_name_their_key(config, schema, change, key):
    change(config)
    error_naming(config, schema, key)


def test_a_stream_without_scenarios_gets_its_kinds_natural_one(config, schema):
    del config["continual"]["streams"]["split"]["scenarios"]
    del config["continual"]["streams"]["shifted"]["scenarios"]
    validate(config, schema)
    assert config["continual"]["streams"]["split"]["scenarios"] == ["class"]
    assert config["continual"]["streams"]["shifted"]["scenarios"] == ["domain"]
