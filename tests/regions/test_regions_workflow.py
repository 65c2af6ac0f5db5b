"""The regions and activation-length studies' workflow modules: networks, selections, paths, specs."""

from __future__ import annotations

import string

import pytest
import torch
from conftest import validate_study as validate
from deepstudy import models
from deepstudy.activation import plots as activation_plots
from deepstudy.activation import workflow as activation_workflow
from deepstudy.checks import ConfigError
from deepstudy.noise.workflow import runs
from deepstudy.paths import labels
from deepstudy.regions import analysis, workflow
from deepstudy.regions import plots as regions_plots
from torch import nn


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


def fields(template: str) -> list[str]:
    """The wildcards of a path template, in order."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def test_a_regions_job_analyses_a_pack_of_networks_each_network_once(config, schema):
    """A job per value of the factors that are not packed: init per depth and init (every width and
    seed), memorised per depth, init and memorise seed (every width and checkpoint), trained per
    noise run (every checkpoint); its outputs are the networks' own stores, each in one job."""
    validate(config, schema)
    noise_runs = runs(config["noise"]["grid"])
    networks = {
        "init": [labels(n) for n in workflow.init_networks(config)],
        "memorised": [
            labels({**n, "epoch": e})
            for n in workflow.memorise_networks(config)
            for e in config["regions"]["memorise"]["checkpoint_epochs"]
        ],
        "trained": [
            labels({**r, "epoch": e})
            for r in workflow.trained_runs(noise_runs, config)
            for e in config["noise"]["training"]["checkpoint_epochs"]
        ],
    }
    paths = {
        "init": workflow.init_paths(config),
        "memorised": workflow.memorised_paths(config),
        "trained": workflow.trained_paths(noise_runs, config),
    }
    init = config["regions"]["init"]
    expected_jobs = {
        "init": len(init["depth"]) * len(init["init"]),
        "memorised": len(init["depth"]) * len(init["init"]) * len(config["regions"]["memorise"]["seed"]),
        "trained": len(workflow.trained_runs(noise_runs, config)),
    }
    for kind in workflow.KINDS:
        outputs = workflow.pack_outputs(kind, config)
        open_factors = fields(outputs[0])
        assert all(fields(output) == open_factors for output in outputs)
        jobs = {tuple(n[f] for f in open_factors) for n in networks[kind]}
        assert len(jobs) == expected_jobs[kind] < len(paths[kind])
        written = []
        for key in sorted(jobs):
            wildcards = Wildcards(zip(open_factors, key, strict=True))
            stores = [output.format(**wildcards) for output in outputs]
            pack = workflow.pack_networks(kind, config, wildcards)
            assert [workflow.PATHS[kind].format(**n) for n in pack] == stores  # in the order of the outputs
            assert pack == workflow.pack_networks(kind, config, wildcards)  # the same every time
            written += stores
        assert sorted(written) == sorted(paths[kind])  # every network, once
    # a memorised network is read from its own memorisation checkpoint
    wildcards = Wildcards(depth="2", init="he", seed="0")
    pack = workflow.pack_networks("memorised", config, wildcards)
    checkpoints = workflow.memorised_checkpoints(config, wildcards)
    assert len(checkpoints) == len(pack) == len(config["regions"]["init"]["neurons"]) * 2
    for network, path in zip(pack, checkpoints, strict=True):
        network_folder = f"results/regions/memorise/depth2_neurons{network['neurons']}_he/seed0"
        assert path == f"{network_folder}/epoch{network['epoch']}.pt"


def test_a_memorise_job_trains_every_width_each_to_its_own_outputs(config, schema):
    """A memorise job per depth, init and memorise seed; its runs, in output order, each write the
    metrics store and checkpoints that the memorised analyses read; every network once."""
    validate(config, schema)
    outputs = workflow.memorise_outputs(config)
    epochs = config["regions"]["memorise"]["checkpoint_epochs"]
    assert {tuple(fields(o)) for o in outputs["metrics"] + outputs["checkpoints"]} == {
        ("depth", "init", "seed")
    }
    trained = []
    for network in workflow.memorise_networks(config):
        if network["neurons"] != config["regions"]["init"]["neurons"][0]:
            continue  # one job per depth, init and seed: the first width names it
        wildcards = Wildcards(depth=str(network["depth"]), init=network["init"], seed=str(network["seed"]))
        specs = workflow.memorise_specs(config, wildcards)
        metrics = [path.format(**wildcards) for path in outputs["metrics"]]
        checkpoints = [path.format(**wildcards) for path in outputs["checkpoints"]]
        assert len(checkpoints) == len(specs) * len(epochs) and len(metrics) == len(specs)
        for i, spec in enumerate(specs):
            folder = (
                workflow.PATHS["memorise_metrics"]
                .format(**spec["factors"])
                .removesuffix("/metrics.zarr/zarr.json")
            )
            assert metrics[i].startswith(folder + "/")
            assert checkpoints[i * len(epochs) : (i + 1) * len(epochs)] == [
                f"{folder}/epoch{e}.pt" for e in epochs
            ]
            trained.append(spec["factors"])
    assert sorted(map(str, trained)) == sorted(map(str, workflow.memorise_networks(config)))
    read = {
        path
        for w in ("2",)
        for path in workflow.memorised_checkpoints(config, Wildcards(depth=w, init="he", seed="0"))
    }
    assert read <= {path.format(depth="2", init="he", seed="0") for path in outputs["checkpoints"]}


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
    spec = workflow.memorise_spec(config, 2, 16, "he", 0)
    bias_std = config["regions"]["bias_std"]
    assert spec["model"] == dict(architecture="mlp", depth=2, width=8, init="he", bias_std=bias_std)
    assert spec["factors"] == {"depth": 2, "neurons": 16, "init": "he", "seed": 0}
    assert spec["checkpoint_epochs"] == sorted(config["regions"]["memorise"]["checkpoint_epochs"])
    assert (
        workflow.random_labels_path(config, "0")
        == "results/regions/memorise/plans/mnist1d/n50_seed0.zarr/zarr.json"
    )
    with pytest.raises(ValueError, match="do not split evenly"):
        workflow.width(3, 16)


def biases(net: nn.Module) -> torch.Tensor:
    return torch.cat([m.bias.detach() for m in net.modules() if isinstance(m, nn.Linear)])


def test_fresh_networks_draw_small_normal_biases_from_their_seed(config, schema):
    """Hanin & Rolnick (2019) draw biases with variance 1e-6, which keeps the regions of a fresh
    network from collapsing onto the origin; bias_std 0 still gives zero biases."""
    validate(config, schema)
    bias_std = config["regions"]["bias_std"]
    assert bias_std**2 == pytest.approx(1e-6)  # the default follows the paper

    def fresh(seed: int, std: float) -> nn.Module:
        return analysis.fresh_mlp(2, 1024, "he", (40,), 10, seed, std)

    net = fresh(0, bias_std)
    drawn = biases(net)
    assert torch.all(drawn != 0) and float(drawn.std()) == pytest.approx(bias_std, rel=0.1)
    assert torch.equal(biases(fresh(0, bias_std)), drawn)  # from the seed, not the global RNG
    assert not torch.equal(biases(fresh(1, bias_std)), drawn)
    zero = fresh(0, 0.0)
    assert torch.all(biases(zero) == 0)
    weights = [(m.weight for m in n.modules() if isinstance(m, nn.Linear)) for n in (net, zero)]
    assert all(torch.equal(a, b) for a, b in zip(*weights, strict=True))  # the biases add to them
    # the memorising networks start from the same draw
    spec = workflow.memorise_spec(config, 2, 1024, "he", 0)
    assert torch.equal(biases(models.build_model(spec["model"], (40,), 10, seed=0)), drawn)


def test_the_noise_study_networks_keep_zero_biases(config, schema):
    validate(config, schema)
    for spec in config["models"].values():
        assert torch.all(biases(models.build_model(spec, (1, 40), 10, seed=0)) == 0)


def test_the_plot_modules_draw_exactly_the_listed_figures():
    assert tuple(regions_plots.figures({})) == workflow.FIGURES
    assert tuple(activation_plots.figures({})) == activation_workflow.FIGURES
    assert not set(workflow.FIGURES) & set(activation_workflow.FIGURES)  # they share one folder
