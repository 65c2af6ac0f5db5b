"""The reproduction table: each study's claims evaluated on small synthetic summaries whose verdict
is known, and the table's files."""

from __future__ import annotations

import json
from dataclasses import fields

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from deepstudy import claims
from deepstudy.activation import claims as activation_claims
from deepstudy.continual import claims as continual_claims
from deepstudy.noise import claims as noise_claims
from deepstudy.regions import claims as regions_claims

REF = {"batch_size": 512, "lr": 0.05, "n_clean": 1000}


def noise_summary(accuracy, noises=("structured", "uniform", "source"), batches=(512,), cleans=(1000,)):
    """A noise summary whose test accuracy is ``accuracy(noise, alpha, batch, n_clean, seed)``."""
    coords = dict(
        model=["conv"],
        noise=list(noises),
        alpha=[0.0, 10.0],
        batch_size=list(batches),
        lr=[0.05],
        n_clean=list(cleans),
        seed=[0, 1],
    )
    values = np.empty([len(v) for v in coords.values()])
    for index in np.ndindex(values.shape):
        point = {k: coords[k][i] for k, i in zip(coords, index, strict=True)}
        values[index] = accuracy(
            point["noise"], point["alpha"], point["batch_size"], point["n_clean"], point["seed"]
        )
    return xr.Dataset({"test_accuracy": (tuple(coords), values)}, coords=coords, attrs={"num_classes": 10})


def test_kinds_hold_in_the_paper_order_and_fail_otherwise():
    order = {"structured": 0.3, "uniform": 0.5, "source": 0.7}
    summary = noise_summary(lambda n, a, b, c, s: 0.9 - a * 0.01 * (1 - order[n]) * 10 + 0.01 * s)
    assert noise_claims.kinds(summary, REF).verdict == claims.HOLDS
    swapped = noise_summary(lambda n, a, b, c, s: 0.9 - a * order[n] * 0.05)
    found = noise_claims.kinds(swapped, REF)
    assert found.verdict == claims.FAILS
    assert "structured" in found.measured


def test_a_claim_without_what_it_compares_is_not_run():
    summary = noise_summary(lambda n, a, b, c, s: 0.8, noises=("uniform",))
    assert noise_claims.kinds(summary, REF).verdict == claims.NOT_RUN
    assert noise_claims.batch(summary, REF).verdict == claims.NOT_RUN
    assert noise_claims.clean(summary, REF, 0.5).verdict == claims.NOT_RUN


def test_graceful_needs_accuracy_clearly_above_chance():
    high = noise_summary(lambda n, a, b, c, s: 0.9 - 0.02 * a + 0.01 * s)
    assert noise_claims.graceful(high, REF).verdict == claims.HOLDS
    chance = noise_summary(lambda n, a, b, c, s: 0.9 if a == 0 else 0.11 + 0.01 * s)
    found = noise_claims.graceful(chance, REF)
    assert found.verdict == claims.FAILS
    assert found.value == pytest.approx(0.115)


def test_batch_and_clean_claims_read_the_swept_factor():
    bigger_helps = noise_summary(lambda n, a, b, c, s: 0.9 - a * 0.03 * (512 / b), batches=(128, 512, 2048))
    assert noise_claims.batch(bigger_helps, REF).verdict == claims.HOLDS
    smaller_helps = noise_summary(lambda n, a, b, c, s: 0.9 - a * 0.03 * (b / 512), batches=(128, 512, 2048))
    assert noise_claims.batch(smaller_helps, REF).verdict == claims.FAILS
    # accuracy grows with the clean set and falls with alpha: more clean data needed at large alpha
    grows = noise_summary(
        lambda n, a, b, c, s: 0.3 + 0.1 * np.log2(c / 250) - 0.02 * a, cleans=(250, 1000, 4000)
    )
    found = noise_claims.clean(grows, REF, 0.45)
    assert found.verdict == claims.HOLDS and found.value > 1
    flat = noise_summary(lambda n, a, b, c, s: 0.3 + 0.1 * np.log2(c / 250), cleans=(250, 1000, 4000))
    assert noise_claims.clean(flat, REF, 0.45).verdict == claims.FAILS


def regions_store(density, patterns, depths=(1, 2), neurons=(8, 16), epochs=None):
    """Region summaries: density per unit length and 2D count as functions of (depth, neurons)."""
    coords = dict(depth=list(depths), neurons=list(neurons), init=["he"], seed=[0])
    shape = (len(depths), len(neurons), 1, 1)
    dens = np.array([[density(d, n) for n in neurons] for d in depths]).reshape(shape)
    pats = np.array([[patterns(d, n) for n in neurons] for d in depths]).reshape(shape)
    store = xr.Dataset(
        {
            "regions_per_length": (
                ("depth", "neurons", "init", "seed", "line"),
                np.repeat(dens[..., None], 3, -1),
            ),
            "distance": (
                ("depth", "neurons", "init", "seed", "point"),
                np.repeat(1 / dens[..., None], 4, -1),
            ),
            "patterns_2d": (("depth", "neurons", "init", "seed", "plane"), np.repeat(pats[..., None], 2, -1)),
            "exact_2d": (("depth", "neurons", "init", "seed"), np.ones(shape, bool)),
        },
        coords=coords,
    )
    return store.expand_dims(epoch=epochs) if epochs else store


def test_region_density_and_slope_claims():
    linear = regions_store(lambda d, n: 0.05 * n, lambda d, n: 0.5 * n**2)
    assert regions_claims.density(linear).verdict == claims.HOLDS
    assert regions_claims.distance(linear).verdict == claims.HOLDS
    assert regions_claims.patterns_init(linear).verdict == claims.HOLDS
    assert regions_claims.patterns_init(linear).value == pytest.approx(2.0)
    by_depth = regions_store(lambda d, n: 0.05 * n * 3**d, lambda d, n: 2.0**n)
    assert regions_claims.density(by_depth).verdict == claims.FAILS
    assert regions_claims.patterns_init(by_depth).verdict == claims.FAILS
    memorised = regions_store(lambda d, n: 0.05 * n, lambda d, n: n**3, epochs=[0, 10])
    assert regions_claims.patterns_memorised(memorised).verdict == claims.FAILS


def test_plane_bound_counts_an_arrangement_of_lines_per_layer():
    # one layer of n lines in general position cuts the plane into 1 + n + n(n-1)/2 regions
    assert regions_claims.plane_bound([3]) == 7
    assert regions_claims.plane_bound([4, 4]) == 11 * 11
    fresh = regions_store(lambda d, n: 0.05 * n, lambda d, n: 0.5 * n**2, depths=(2,), neurons=(16,))
    memorised = regions_store(
        lambda d, n: 0.05 * n, lambda d, n: 0.5 * n**2, depths=(2,), neurons=(16,), epochs=[0]
    )
    trained = xr.Dataset({"patterns_2d": (("model", "plane"), [[5000.0, 10.0]])}, coords={"model": ["mlp"]})
    found = regions_claims.bound(fresh, memorised, trained, {"mlp": {"depth": 2, "width": 8}})
    assert found.verdict == claims.FAILS  # 5000 of the bound 37² = 1369 for the trained net
    assert found.value == pytest.approx(5000 / 37**2)
    trained["patterns_2d"][:] = 10.0
    assert (
        regions_claims.bound(fresh, memorised, trained, {"mlp": {"depth": 2, "width": 8}}).verdict
        == claims.HOLDS
    )


def activation_store(mean_of_c, variances):
    profiles = list(variances)
    rng = np.random.default_rng(0)
    table = np.empty((len(profiles), 3, 400, 1, 4))
    for p, profile in enumerate(profiles):
        for i, c in enumerate((1, 2, 3)):
            noise = rng.normal(0, np.sqrt(variances[profile]), (400, 1, 4))
            table[p, i] = mean_of_c(c) + noise - noise.mean()
    return xr.Dataset(
        {
            "squared_length": (("profile", "init", "network", "input", "layer"), table),
            "reciprocal_width_sum": ("profile", [0.1 * (k + 1) for k in range(len(profiles))]),
            "depth": ("profile", [4] * len(profiles)),
        },
        coords={"profile": profiles, "init": ["1", "2", "3"], "layer": [1, 2, 3, 4]},
    )


def test_activation_claims():
    paper = activation_store(lambda c: (c / 2) ** 4, {"a": 0.01, "b": 0.02, "c": 0.04})
    assert activation_claims.mean_length(paper).verdict == claims.HOLDS
    assert activation_claims.variance_length(paper).verdict == claims.HOLDS
    wrong = activation_store(lambda c: 1.0, {"a": 0.04, "b": 0.02, "c": 0.01})
    assert activation_claims.mean_length(wrong).verdict == claims.FAILS
    assert activation_claims.variance_length(wrong).verdict == claims.FAILS
    ratio = np.array([[[0.1, 0.1, 0.1], [0.3, 0.2, 0.1], [1.0, 0.6, 0.2]]])
    train = xr.Dataset(
        {"loss_ratio": (("init", "depth", "width"), ratio)},
        coords={"init": ["2"], "depth": [2, 8, 32], "width": [8, 32, 128]},
    )
    assert activation_claims.trainability(train).verdict == claims.HOLDS
    train["loss_ratio"][:] = ratio[:, ::-1, ::-1]
    assert activation_claims.trainability(train).verdict == claims.FAILS


def continual_summary(forgetting: dict, accuracy: dict):
    """Forgetting per strategy; average accuracy per (strategy, buffer size)."""
    strategies, buffers = list(forgetting), [20.0, np.inf]  # as the summary writes them: inf, unbounded
    coords = dict(stream=["split"], strategy=strategies, buffer_size=buffers, seed=[0, 1], scenario=["class"])
    shape = (1, len(strategies), 2, 2, 1)
    forget = np.broadcast_to(np.array([forgetting[s] for s in strategies])[None, :, None, None, None], shape)
    average = np.array([[accuracy.get((s, b), 0.5) for b in buffers] for s in strategies])
    average = np.broadcast_to(average[None, :, :, None, None], shape)
    return xr.Dataset(
        {"forgetting": (tuple(coords), forget.copy()), "average_accuracy": (tuple(coords), average.copy())},
        coords=coords,
    )


def test_continual_claims():
    paper = continual_summary(
        {"finetune": 0.8, "er": 0.3, "clear": 0.25, "ewc": 0.6},
        {("er", 20): 0.6, ("er", np.inf): 0.62},
    )
    assert [c.verdict for c in continual_claims.evaluate(paper)] == [claims.HOLDS] * 4
    assert continual_claims.reservoir(paper).measured.startswith("er: buffer 20 0.6")
    assert "vs unbounded 0.62" in continual_claims.reservoir(paper).measured
    wrong = continual_summary(
        {"finetune": 0.2, "er": 0.3, "clear": 0.5, "ewc": 0.1}, {("er", 20): 0.3, ("er", np.inf): 0.62}
    )
    assert [c.verdict for c in continual_claims.evaluate(wrong)] == [claims.FAILS] * 4
    without = continual_summary({"finetune": 0.8, "ewc": 0.6}, {})
    assert [c.verdict for c in continual_claims.evaluate(without)] == [claims.NOT_RUN] * 4


def test_table_files_hold_every_row(tmp_path):
    rows = [
        noise_claims.GRACEFUL.measured(True, "0.9 ± 0.01 (n=2)", 0.9),
        noise_claims.BATCH.not_run("one"),
    ]
    paths = [tmp_path / name for name in ("c.csv", "c.json", "c.html")]
    claims.write_table(rows, *paths)
    frame = pd.read_csv(paths[0])
    assert list(frame.columns) == list(claims.COLUMNS)
    assert sorted(claims.COLUMNS) == sorted(field.name for field in fields(claims.Claim))
    assert list(frame["verdict"]) == [claims.HOLDS, claims.NOT_RUN]
    records = json.loads(paths[1].read_text())
    assert records[1]["value"] is None and records[0]["value"] == 0.9
    assert "Larger batches help" in paths[2].read_text()


def test_spearman_matches_pandas_with_ties():
    x, y = np.array([1, 2, 2, 3, 5.0, np.nan]), np.array([2, 1, 4, 4, 9, 1.0])
    expected = pd.Series(x[:5]).corr(pd.Series(y[:5]), method="spearman")
    assert claims.spearman(x, y) == pytest.approx(expected)


def test_the_harm_order_ranks_every_noise_kind():
    from deepstudy.noise.workflow import NOISE_KINDS

    assert sorted(noise_claims.HARM_RANK) == sorted(NOISE_KINDS)
