"""Activation length at initialisation: He keeps the mean constant, variance grows with Σ 1/n."""

from __future__ import annotations

import numpy as np
import pytest
from deepstudy.activation import lengths as activations


def test_he_mean_length_is_constant_with_depth():
    lengths = activations.squared_lengths(50, [100] * 10, 2.0, inits=200, inputs=4, seed=0)
    mean = lengths.mean(axis=(0, 1))
    standard_error = lengths.std(axis=(0, 1)) / np.sqrt(lengths.shape[0] * lengths.shape[1])
    assert np.all(np.abs(mean - 1) < 5 * standard_error + 0.02), mean


@pytest.mark.parametrize("c", [1.0, 3.0])
def test_other_variances_shrink_or_grow_geometrically(c):
    lengths = activations.squared_lengths(50, [200] * 8, c, inits=200, inputs=2, seed=1)
    mean = lengths.mean(axis=(0, 1))
    np.testing.assert_allclose(mean, (c / 2) ** np.arange(1, 9), rtol=0.1)


def test_variance_grows_with_the_sum_of_reciprocal_widths():
    wide = activations.squared_lengths(20, [200] * 10, 2.0, inits=400, inputs=1, seed=2)[..., -1].var()
    narrow = activations.squared_lengths(20, [10] * 10, 2.0, inits=400, inputs=1, seed=2)[..., -1].var()
    assert narrow > 5 * wide
    assert activations.reciprocal_width_sum([10] * 10) == pytest.approx(1.0)


def test_torch_default_initialisation_shrinks_lengths():
    lengths = activations.squared_lengths(100, [100] * 6, "torch", inits=100, inputs=2, seed=3)
    assert lengths.mean(axis=(0, 1))[-1] < 0.05


def test_a_sensible_net_starts_training_and_a_collapsing_one_does_not(mnist1d_small):
    from deepstudy.data import Tensors

    data = Tensors(mnist1d_small)
    good = activations.starts_training(data.train_x, data.train_y, [64, 64], 2.0, 10, 200, 0.01, 64, seed=0)
    bad = activations.starts_training(data.train_x, data.train_y, [64] * 30, 0.5, 10, 200, 0.01, 64, seed=0)
    assert good < 0.8
    assert bad > 0.95


def test_each_init_draws_its_own_networks_and_inputs():
    """c = 1 and c = 3 from one sample would be exact rescalings: M_l(3) = 3^l M_l(1) for every network."""
    from deepstudy.activation.analysis import activation_table

    table = activation_table({"deep": [16] * 4}, [1, 3], 8, networks=30, inputs=2, seed=0)["squared_length"]
    ratio = (table.sel(init="3") / table.sel(init="1")).isel(profile=0).values
    layers = np.arange(1, 5)
    assert not np.allclose(ratio, 3.0**layers), "the inits share one sample"
    alone = activation_table({"deep": [16] * 4}, [3], 8, networks=30, inputs=2, seed=0)["squared_length"]
    np.testing.assert_array_equal(alone.sel(init="3"), table.sel(init="3"))  # order of the list: no matter
    other = activation_table({"deep": [16] * 4}, [3], 8, networks=30, inputs=2, seed=1)["squared_length"]
    assert not np.allclose(other.sel(init="3"), table.sel(init="3"))


def test_each_init_of_the_trainability_map_trains_from_its_own_seed(monkeypatch):
    from deepstudy.activation import analysis

    seeds = {}

    def record(train_x, train_y, widths, init, num_classes, steps, lr, batch_size, seed):
        seeds[init] = seed
        return 1.0

    monkeypatch.setattr(analysis, "starts_training", record)
    options = {"depth": [1], "width": [4], "init": [1, 2], "steps": 1, "lr": 0.1, "batch_size": 2, "seed": 0}
    analysis.trainability_map(None, None, 10, options)
    assert seeds[1] != seeds[2]
    both = dict(seeds)
    analysis.trainability_map(None, None, 10, {**options, "init": [2]})
    assert seeds[2] == both[2]
