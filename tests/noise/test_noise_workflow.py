"""The label-noise study's workflow module: runs of the grid, packs, names and paths."""

from __future__ import annotations

import copy

import pytest
from conftest import validate_study as validate
from deepstudy.config import ConfigError
from deepstudy.noise.workflow import packs, runs


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


def test_packs_group_runs_that_differ_only_in_lr_and_seed(config, schema):
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
    grid_packs = packs(runs(config["noise"]["grid"]), config)
    assert [len(p) for p in grid_packs] == [2, 2, 1, 1, 1, 1, 1, 1]  # mlp uniform; source and conv alone
    assert grid_packs == packs(runs(config["noise"]["grid"]), config)  # deterministic
    assert sorted(map(str, (r for p in grid_packs for r in p))) == sorted(
        map(str, runs(config["noise"]["grid"]))
    )
    config["noise"]["training"]["pack"] = "auto"
    assert max(len(p) for p in packs(runs(config["noise"]["grid"]), config)) == 4  # all four lr x seed
    config["noise"]["training"]["pack"] = 0
    with pytest.raises(ConfigError, match="config key noise.training.pack:"):
        validate(config, schema)
