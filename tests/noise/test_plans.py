"""Dilution plans: exact counts, label statistics, and no test image in training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from deepstudy.noise import plans as noise
from deepstudy.noise import sources
from deepstudy.noise.workflow import NOISE_KINDS
from deepstudy.plan_training import training_set

K = 10


def labels(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, K, n)


def job_run(k: int) -> dict:
    """Run k of a small training job: a one-layer MLP, seed k, two epochs, weights kept at the end."""
    model = {"architecture": "mlp", "depth": 1, "width": 16, "init": "he"}
    return dict(
        name=f"run{k}",
        model=model,
        seed=k,
        lr=0.05,
        batch_size=32,
        epochs=2,
        epoch_examples=320,
        checkpoint_epochs=[2],
        factors={"k": k},
    )


@pytest.mark.parametrize(
    ("alpha", "n_clean"), [(0, 50), (1, 100), (2.5, 33), (0.3, 7), (10, 120), (100, 3), (1.5, 1)]
)
@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_plan_has_exactly_round_alpha_n_clean_noisy_examples(alpha, n_clean, kind):
    plan = noise.dilute(labels(500), K, n_clean, alpha, kind, seed=1, source_size=40)
    expected = round(alpha * n_clean)
    assert int(plan["is_noisy"].sum()) == expected
    assert plan.sizes["example"] == n_clean + expected
    assert plan.attrs["n_noisy"] == expected
    for key in ("alpha", "noise", "n_clean", "num_classes", "seed"):
        assert key in plan.attrs
    for variable in ("source_index", "label", "is_noisy"):
        assert plan[variable].dims == ("example",)


def test_clean_examples_are_distinct_and_keep_their_labels():
    train_y = labels(1000)
    plan = noise.dilute(train_y, K, 300, 2, "uniform", seed=3)
    clean = plan.where(~plan["is_noisy"], drop=True)
    index = clean["source_index"].values.astype(int)
    assert len(np.unique(index)) == 300
    np.testing.assert_array_equal(clean["label"].values, train_y[index])


def test_uniform_noisy_labels_are_uniform_and_images_avoid_the_clean_subset():
    train_y = labels(2000)
    plan = noise.dilute(train_y, K, 200, 100, "uniform", seed=4)
    noisy = plan["is_noisy"].values
    counts = np.bincount(plan["label"].values[noisy], minlength=K)
    expected = noisy.sum() / K
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 30  # 9 degrees of freedom: p < 0.001 beyond this
    clean_index = set(plan["source_index"].values[~noisy].tolist())
    assert clean_index.isdisjoint(plan["source_index"].values[noisy].tolist())
    # uniform labels disagree with the image's class about (K - 1) / K of the time
    agree = (plan["label"].values[noisy] == plan["original_label"].values[noisy]).mean()
    assert abs(agree - 1 / K) < 0.01


@pytest.mark.parametrize("delta", [0.0, 0.3, 0.5, 0.9])
def test_structured_labels_favour_the_confusing_class_with_probability_delta(delta):
    train_y = labels(3000)
    plan = noise.dilute(train_y, K, 500, 40, "structured", seed=5, delta=delta)
    noisy = plan["is_noisy"].values
    sigma = np.asarray(plan.attrs["confusion_map"])
    original = train_y[plan["source_index"].values[noisy]]
    to_confusing = (plan["label"].values[noisy] == sigma[original]).mean()
    expected = delta + (1 - delta) / K
    assert abs(to_confusing - expected) < 0.01
    assert plan.attrs["delta"] == delta
    assert np.all(sigma != np.arange(K))


def test_structured_accepts_an_explicit_confusion_map():
    sigma = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    plan = noise.dilute(labels(500), K, 100, 5, "structured", seed=0, delta=1.0, sigma=sigma)
    noisy = plan["is_noisy"].values
    assert np.all(plan["label"].values[noisy] == 9 - plan["original_label"].values[noisy])


def test_source_noise_draws_every_noisy_image_from_the_source():
    plan = noise.dilute(labels(500), K, 100, 3, "source", seed=6, source="random", source_size=50)
    noisy = plan["is_noisy"].values
    assert plan["from_source"].values[noisy].all() and not plan["from_source"].values[~noisy].any()
    assert plan["source_index"].values[noisy].max() < 50
    assert plan.attrs["source"] == "random"


def test_training_set_never_contains_a_test_image(mnist1d_small):
    from deepstudy.data import Tensors

    tensors = Tensors(mnist1d_small)
    train_y = mnist1d_small["train_y"].values
    for kind in ("uniform", "structured"):
        plan = noise.dilute(train_y, K, 800, 20, kind, seed=2)
        images, index, labels_ = training_set(plan, tensors.train_x)
        used = images[index]
        assert used.shape[0] == plan.sizes["example"]
        # every example's image is a training image, and no test image appears in training
        matches = torch.cdist(used.flatten(1)[:2000], tensors.test_x.flatten(1)).min(dim=1).values
        assert float(matches.min()) > 1e-3
        assert torch.equal(labels_, torch.from_numpy(plan["label"].values))


def test_source_images_are_appended_after_the_training_images():
    train_x = torch.zeros(30, 1, 8)
    plan = noise.dilute(labels(30), K, 10, 2, "source", seed=0, source="random", source_size=5)
    plan.attrs["source_seed"] = 11
    source = sources.source_images(plan, (1, 8), None)
    images, index, _ = training_set(plan, train_x, source)
    noisy = torch.from_numpy(plan["is_noisy"].values)
    assert images.shape == (35, 1, 8)
    assert bool((index[noisy] >= 30).all()) and bool((index[~noisy] < 30).all())
    torch.testing.assert_close(images[30:], sources.random_images(5, (1, 8), 11))


def test_match_shape_turns_colour_images_into_grey_ones():
    colour = torch.rand(4, 3, 32, 32)
    grey = sources.match_shape(colour, (1, 28, 28))
    assert grey.shape == (4, 1, 28, 28)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="alpha"):
        noise.dilute(labels(10), K, 5, -1, "uniform", seed=0)
    with pytest.raises(ValueError, match="n_clean"):
        noise.dilute(labels(10), K, 11, 1, "uniform", seed=0)
    with pytest.raises(ValueError, match="noise kind"):
        noise.dilute(labels(10), K, 5, 1, "gaussian", seed=0)


def test_a_pack_mixing_source_and_uniform_plans_trains_each_on_its_own_images(tmp_path, capsys):
    """Source plans index a random pool after the training images; in one stacked pack with uniform
    plans, every run still sees its own images and labels: the same as training it alone."""
    from deepstudy.data import Tensors, make_mnist1d
    from deepstudy.plan_training import train_job

    ds = make_mnist1d(1000, seed=3)
    tensors = Tensors(ds)
    train_y = ds["train_y"].values
    plans, runs = [], []
    for k, kind in enumerate(["uniform", "source", "source"]):
        extra = {"source": "random", "source_size": 50} if kind == "source" else {}
        plan = noise.dilute(train_y, K, 100 + 50 * k, 2, kind, seed=k, **extra)
        if kind == "source":
            plan.attrs["source_seed"] = 4
        plans.append(plan)
        runs.append(job_run(k))
    pools = [sources.source_images(plan, tensors.input_shape, None) for plan in plans]
    packed = train_job(runs, plans, tensors, [str(tmp_path / "epoch2.pt")], tmp_path / "resume", pools)
    assert "trained 3 runs packed" in capsys.readouterr().out and packed.sizes["run"] == 3
    for k in range(3):
        folder = tmp_path / f"alone{k}"  # checkpoint files are named for their epoch: one folder each
        folder.mkdir()
        alone = train_job(
            [runs[k]], [plans[k]], tensors, [str(folder / "epoch2.pt")], tmp_path / "r", [pools[k]]
        )
        np.testing.assert_allclose(packed["train_loss"].values[k], alone["train_loss"].values[0], atol=1e-5)
        np.testing.assert_allclose(
            packed["accuracy_curve"].values[k], alone["accuracy_curve"].values[0], atol=1e-9
        )


@pytest.mark.parametrize("kind", ["uniform", "structured"])
def test_the_noise_pool_never_overlaps_the_clean_set(kind):
    """With n_clean the whole available split, there is no image left to draw noise from: refused."""
    with pytest.raises(ValueError, match="noise pool"):
        noise.dilute(labels(100), K, 100, 1, kind, seed=0)
    with pytest.raises(ValueError, match="noise pool"):
        noise.dilute(labels(100), K, 80, 1, kind, seed=0, validation_examples=20)
    plan = noise.dilute(labels(100), K, 99, 3, kind, seed=0)  # one image left: every noisy one is it
    clean = set(plan["source_index"].values[~plan["is_noisy"].values].tolist())
    assert clean.isdisjoint(plan["source_index"].values[plan["is_noisy"].values].tolist())
    # no pool is needed without noisy training images, nor for images from a source
    assert noise.dilute(labels(100), K, 100, 0, kind, seed=0).sizes["example"] == 100
    assert noise.dilute(labels(100), K, 100, 1, "source", seed=0, source_size=5).sizes["example"] == 200


def test_validation_examples_are_carved_from_the_training_split_before_clean_and_noisy_ones():
    train_y = labels(1000)
    plans = [
        noise.dilute(train_y, K, n_clean, 2, kind, seed=seed, validation_examples=100, validation_seed=7)
        for kind, n_clean, seed in [("uniform", 300, 0), ("structured", 600, 1), ("uniform", 899, 2)]
    ]
    validation = plans[0]["validation_index"].values
    assert plans[0]["validation_index"].dims == ("validation_example",)
    assert len(np.unique(validation)) == 100 and validation.max() < 1000
    for plan in plans:  # one split for every plan, as the test split is: disjoint from its training set
        np.testing.assert_array_equal(plan["validation_index"].values, validation)
        assert set(validation.tolist()).isdisjoint(plan["source_index"].values.tolist())
        assert plan.attrs["validation_examples"] == 100 and plan.attrs["validation_seed"] == 7
    other = noise.dilute(train_y, K, 300, 2, "uniform", seed=0, validation_examples=100, validation_seed=8)
    assert not np.array_equal(other["validation_index"].values, validation)
    with pytest.raises(ValueError, match="n_clean"):
        noise.dilute(train_y, K, 901, 0, "uniform", seed=0, validation_examples=100)


@pytest.mark.parametrize("count", [1, 2])  # alone, and stacked in a pack
def test_a_job_records_accuracy_on_its_plans_validation_examples(tmp_path, count):
    from deepstudy.checkpoints import load_checkpoint
    from deepstudy.data import Tensors, make_mnist1d
    from deepstudy.plan_training import train_job
    from deepstudy.training import accuracy

    tensors = Tensors(make_mnist1d(1000, seed=3))
    train_y = tensors.train_y.numpy()
    plans = [
        noise.dilute(train_y, K, 100, 1, "uniform", seed=k, validation_examples=60, validation_seed=5)
        for k in range(count)
    ]
    runs = [job_run(k) for k in range(count)]
    metrics = train_job(runs, plans, tensors, [str(tmp_path / "epoch2.pt")], tmp_path / "resume")
    # a CPU runs every step eagerly
    assert metrics.attrs["training_step"] == ("eager (cpu)" if count > 1 else "eager (trained alone)")
    assert metrics["validation_curve"].dims == ("run", "epoch")
    assert "validation" in metrics["validation_curve"].attrs["description"]
    index = torch.from_numpy(plans[0]["validation_index"].values)
    for k in range(count):
        net = load_checkpoint(tmp_path / "epoch2.pt", f"run{k}")
        expected = accuracy(net, tensors.train_x[index], tensors.train_y[index])  # clean labels
        assert metrics["validation_curve"].values[k, -1] == pytest.approx(expected, abs=1 / 60 + 1e-9)
    memorise = noise.dilute(train_y, K, 100, 0, "uniform", seed=0)  # no validation examples: no curve
    (tmp_path / "memorise").mkdir()
    alone = train_job(
        runs[:1], [memorise], tensors, [str(tmp_path / "memorise" / "epoch2.pt")], tmp_path / "r"
    )
    assert "validation_curve" not in alone
