"""The label-noise study's workflow module: runs of the grid, packs, names and paths."""

from __future__ import annotations

import copy

import pytest
from conftest import validate_study as validate
from deepstudy.config import ConfigError
from deepstudy.noise.workflow import FACTORS as FACTOR_NAMES
from deepstudy.noise.workflow import packs, runs
from deepstudy.paths import labels


def test_runs_are_the_union_of_the_grid_blocks(config, schema):
    validate(config, schema)
    grid = copy.deepcopy(config["noise"]["grid"])
    all_runs = runs(grid + grid)
    assert len(all_runs) == len(runs(grid))
    first = grid[0]
    expected_first_block = 1
    for factor in ("model", "noise", "alpha", "n_clean", "batch_size", "lr", "seed"):
        expected_first_block *= len(first[factor])
    assert all_runs[:expected_first_block] == runs([first])


def test_packs_group_a_blocks_runs_by_model_and_batch_size(config, schema):
    config["noise"]["training"]["pack"] = 2
    config["noise"]["grid"] = [
        {
            "model": ["mlp"],
            "noise": ["uniform", "source"],
            "alpha": [1],
            "n_clean": [100],
            "batch_size": [32],
            "lr": [0.01, 0.05],
            "seed": [0, 1],
        },
        {
            "model": ["conv"],
            "noise": ["uniform"],
            "alpha": [1],
            "n_clean": [100],
            "batch_size": [32],
            "lr": [0.01],
            "seed": [0, 1],
        },
    ]
    validate(config, schema)
    grid = config["noise"]["grid"]
    grid_packs = packs(grid, config)
    assert [len(p) for p in grid_packs] == [2, 2, 2, 2, 2]  # noise kinds, lr and seed mix; conv packs too
    assert grid_packs == packs(grid, config)  # deterministic
    assert [r for p in grid_packs for r in p] == runs(grid)  # every run once, in grid order
    assert all(
        len({r["model"] for r in p}) == 1 and len({r["batch_size"] for r in p}) == 1 for p in grid_packs
    )
    config["noise"]["training"]["pack"] = "auto"
    assert [len(p) for p in packs(grid, config)] == [8, 2]  # on a CPU: CPU_PACK runs a job
    assert [len(p) for p in packs(grid, config, on_gpu=True)] == [8, 2]  # all of each block
    # changing the second block leaves the first block's packs as they were
    config["noise"]["grid"][1]["seed"] = [0, 1, 2]
    assert (
        packs(config["noise"]["grid"], config)[0]
        == grid_packs[0] + grid_packs[1] + grid_packs[2] + grid_packs[3]
    )
    config["noise"]["training"]["pack"] = 0
    with pytest.raises(ConfigError, match="config key noise.training.pack:"):
        validate(config, schema)


def test_without_epoch_examples_only_runs_of_equal_steps_share_a_pack(config, schema):
    config["noise"]["training"]["epoch_examples"] = None
    config["noise"]["training"]["pack"] = 8
    config["noise"]["grid"] = [dict(config["noise"]["grid"][0], noise=["uniform"], alpha=[0, 1], seed=[0, 1])]
    validate(config, schema)
    assert [[r["alpha"] for r in p] for p in packs(config["noise"]["grid"], config)] == [[0, 0], [1, 1]]


def test_gpu_packs_are_sized_by_parameters_and_activations():
    from deepstudy.pack_sizes import CPU_PACK, MAX_PACK, network_size, pack_size, plans_on_gpu

    # the config alone decides, so that every machine that plans the study forms the same packs
    assert plans_on_gpu({"device": "cuda"}) and not plans_on_gpu({"device": "auto"})

    conv = {"architecture": "conv", "channels": [32, 32, 32], "kernel_size": 5, "hidden": 128}
    parameters, _ = network_size(conv, (1, 40), 10)
    assert parameters == 192 + 5152 + 5152 + 160 * 128 + 128 + 128 * 10 + 10  # deepstudy.models.conv_net
    mlp = {"architecture": "mlp", "depth": 3, "width": 64}
    assert network_size(mlp, (1, 40), 10)[0] == 40 * 64 + 64 + 2 * (64 * 64 + 64) + 64 * 10 + 10
    assert pack_size("auto", conv, (1, 40), 10, 512, on_gpu=True) == MAX_PACK
    wide = {"architecture": "mlp", "depth": 2, "width": 512}
    assert 1 < pack_size("auto", wide, (1, 28, 28), 10, 128, on_gpu=True) < MAX_PACK
    assert pack_size("auto", conv, (1, 40), 10, 512, on_gpu=False) == CPU_PACK
    assert pack_size("auto", {"architecture": "resnet18"}, (3, 32, 32), 10, 128, on_gpu=True) == 1
    assert pack_size(3, conv, (1, 40), 10, 512, on_gpu=True) == 3


class Wildcards(dict):
    """Snakemake's wildcards: a mapping whose values are also attributes."""

    __getattr__ = dict.__getitem__


def test_a_pack_is_named_by_its_leader_and_holds_its_members(config, schema):
    from deepstudy.noise.workflow import PATHS, NoiseStudy, run_key, run_name

    config["noise"]["training"]["pack"] = 4
    config["noise"]["grid"] = [
        dict(config["noise"]["grid"][0], noise=["uniform"], lr=[0.01, 0.05], seed=[0, 1])
    ]
    validate(config, schema)
    study = NoiseStudy(config)
    assert len(study.runs) == 8 and len(study.packs) == 2  # two α values, each a pack of lr x seed
    leader = study.runs[0]
    wildcards = Wildcards(zip(FACTOR_NAMES, run_key(leader), strict=True))
    pack = study.pack(wildcards)
    assert pack[0] == leader and len(pack) == 4 and {r["alpha"] for r in pack} == {leader["alpha"]}
    specs = study.train_specs(pack)
    assert [s["name"] for s in specs] == [run_name(r) for r in pack]
    assert all(s["checkpoint_epochs"] == [0, 2] for s in specs)
    assert all(s["epoch_examples"] == 256 and s["model"] == config["models"]["mlp"] for s in specs)
    # every member's checkpoint is its pack's file, named by the leader's factors
    leader_file = PATHS["checkpoint"].format(epoch=2, **labels(leader))
    assert {study.checkpoint_path(run, 2) for run in pack} == {leader_file}
    assert study.metrics_paths()[0] == PATHS["metrics"].format(**labels(leader))
    assert len(study.metrics_paths()) == 2
    # one plan per member: plans depend on α, clean-set size and seed, not on the learning rate
    assert len(set(study.plan_paths(pack))) == 2


def test_names_and_labels_of_runs():
    from deepstudy.noise.workflow import run_key, run_name

    run = {
        "model": "mlp",
        "noise": "uniform",
        "alpha": 2.0,
        "n_clean": 100,
        "batch_size": 64,
        "lr": 0.05,
        "seed": 0,
    }
    assert run_key(run) == ("mlp", "uniform", "2", "100", "64", "0.05", "0")
    assert run_name(run) == "modelmlp_noiseuniform_alpha2_n_clean100_batch_size64_lr0.05_seed0"
    assert run_key(run) == run_key({**run, "alpha": 2})  # 2 and 2.0 are one run


def test_only_source_noise_reads_a_source_dataset_and_only_its_kind_options(config, schema):
    from deepstudy.noise.workflow import NoiseStudy

    validate(config, schema)  # random source images: no dataset to read
    study = NoiseStudy(config)
    assert study.source_paths(["source"]) == [] and study.source_paths(["uniform"]) == []
    study.study["source"]["images"] = "fashion_mnist"
    assert study.source_paths(["uniform", "source"]) == ["results/datasets/fashion_mnist.zarr/zarr.json"]
    assert study.source_paths(["structured", "uniform"]) == []
    assert study.dilution_options("uniform") == {}
    assert study.dilution_options("structured") == config["noise"]["structured"]


def test_the_plot_module_draws_exactly_the_listed_figures():
    from deepstudy.noise import plots
    from deepstudy.noise.workflow import FIGURES

    assert tuple(plots.FIGURES) == FIGURES


def test_a_clean_set_that_leaves_no_noise_pool_is_refused_before_any_job(config, schema):
    """The noise pool is the training split less validation and clean examples: it may not be empty
    where uniform or structured noise draws from it (it would be the clean set itself)."""
    from deepstudy.datasets import train_size

    del config["regions"]  # its analysed runs are not in these grids
    size = train_size(validate(copy.deepcopy(config), schema), "mnist1d")  # 480 in the tiny study
    block = {"model": ["mlp"], "alpha": [0, 1], "batch_size": [64], "lr": [0.05], "seed": [0]}
    config["noise"]["validation"] = {"examples": 40}
    config["noise"]["grid"] = [{**block, "noise": ["source"], "n_clean": [size - 40]}]
    validate(copy.deepcopy(config), schema)  # source noise draws no training image
    refused = [(size, ["uniform"]), (size - 40, ["source", "structured"]), (size - 39, ["source"])]
    for n_clean, kinds in refused:
        config["noise"]["grid"] = [{**block, "noise": kinds, "n_clean": [100, n_clean]}]
        with pytest.raises(ConfigError, match=r"^config key noise\.grid\[0\]\.n_clean\[1\]: [^\n]*$"):
            validate(copy.deepcopy(config), schema)
    config["noise"]["grid"] = [{**block, "alpha": [0], "noise": ["uniform"], "n_clean": [size - 40]}]
    validate(copy.deepcopy(config), schema)  # no noisy example, no pool needed
    config["noise"]["grid"] = [{**block, "noise": ["uniform"], "n_clean": [size - 41]}]
    validate(copy.deepcopy(config), schema)  # one image left for the pool
