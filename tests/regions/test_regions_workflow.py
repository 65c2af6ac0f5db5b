"""The regions and activation-length studies' workflow modules: networks, selections, paths, specs."""

from __future__ import annotations

import pytest
from conftest import validate_study as validate
from deepstudy.activation import plots as activation_plots
from deepstudy.activation import workflow as activation_workflow
from deepstudy.checks import ConfigError
from deepstudy.noise.workflow import runs
from deepstudy.regions import plots as regions_plots
from deepstudy.regions import workflow


class Wildcards(dict):
    __getattr__ = dict.__getitem__


def test_networks_are_the_product_of_the_config(config, schema):
    validate(config, schema)
    networks = workflow.init_networks(config)
    assert len(networks) == 2 * 2 * 1 * 1  # depth x neurons x init x seed of tests/data/tiny.yaml
    assert networks[0] == {"depth": 1, "neurons": 8, "init": "he", "seed": 0}
    paths = workflow.init_paths(config)
    assert paths[0] == "results/regions/init/depth1_neurons8_he/seed0.zarr/zarr.json"
    assert len(set(paths)) == len(paths)
    memorised = workflow.memorised_paths(config)
    assert len(memorised) == len(workflow.memorise_networks(config)) * 2  # two memorise checkpoints
    assert memorised[-1] == "results/regions/memorised/depth2_neurons16_he/seed0/epoch2.zarr/zarr.json"


def test_trained_networks_are_the_selected_noise_runs_at_every_checkpoint(config, schema):
    validate(config, schema)
    noise_runs = runs(config["noise"]["grid"])
    selected = workflow.trained_runs(noise_runs, config)
    assert selected and all(
        r["model"] == "mlp" and r["noise"] == "uniform" and r["n_clean"] == 100 for r in selected
    )
    assert len(selected) == sum(workflow.selects(config["regions"]["trained"], r) for r in noise_runs)
    paths = workflow.trained_paths(noise_runs, config)
    assert len(paths) == len(selected) * len(config["noise"]["training"]["checkpoint_epochs"])
    assert paths[0].startswith("results/regions/trained/mlp/uniform/alpha0_nclean100_bs64_lr0.05/seed0/")


def test_a_selection_of_no_run_is_refused_before_any_job(config, schema):
    config["regions"]["trained"] = {"model": ["mlp"], "noise": ["structured"], "n_clean": [50]}
    with pytest.raises(ConfigError, match="config key regions.trained: selects no run"):
        validate(config, schema)
    # the same values in separate blocks select nothing either: the check reads each block
    config["regions"]["trained"] = {"noise": ["structured"], "model": ["conv"]}
    with pytest.raises(ConfigError, match="config key regions.trained"):
        validate(config, schema)


def test_a_memorisation_spec_splits_the_neurons_over_the_depth(config, schema):
    validate(config, schema)
    [spec] = workflow.memorise_specs(config, Wildcards(depth="2", neurons="16", init="he", seed="0"))
    assert spec["model"] == {"architecture": "mlp", "depth": 2, "width": 8, "init": "he"}
    assert spec["factors"] == {"depth": 2, "neurons": 16, "init": "he", "seed": 0}
    assert spec["checkpoint_epochs"] == sorted(config["regions"]["memorise"]["checkpoint_epochs"])
    assert (
        workflow.random_labels_path(config, "0")
        == "results/regions/memorise/plans/mnist1d/n50_seed0.zarr/zarr.json"
    )
    with pytest.raises(ValueError, match="do not split evenly"):
        workflow.width(3, 16)


def test_the_plot_modules_draw_exactly_the_listed_figures():
    assert tuple(regions_plots.figures({})) == workflow.FIGURES
    assert tuple(activation_plots.figures({})) == activation_workflow.FIGURES
    assert not set(workflow.FIGURES) & set(activation_workflow.FIGURES)  # they share one folder
