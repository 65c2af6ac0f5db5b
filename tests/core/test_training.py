"""Models and training: He init, sanity accuracy, bitwise repeatability, resume, divergence."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from deepstudy import models
from deepstudy.data import Tensors
from deepstudy.noise import plans as noise
from deepstudy.plan_training import training_set
from deepstudy.training import RunSpec, train_run

MLP = {"architecture": "mlp", "depth": 2, "width": 64, "init": "he"}
CONV = {"architecture": "conv", "channels": [8, 8], "kernel_size": 3, "hidden": 16, "init": "he"}


@pytest.fixture(scope="module")
def tiny(mnist1d_small):
    tensors = Tensors(mnist1d_small)
    plan = noise.dilute(mnist1d_small["train_y"].values, 10, 1600, 0, "uniform", seed=0)
    images, index, labels = training_set(plan, tensors.train_x)
    return tensors, images, index, labels


def train(tiny, spec, **kwargs):
    tensors, images, index, labels = tiny
    return train_run(
        spec, images, index, labels, tensors.test_x, tensors.test_y, 10, progress=False, **kwargs
    )


@pytest.mark.parametrize(("init", "variance"), [("he", 2.0), ("lecun", 1.0)])
def test_initialisation_has_the_requested_variance(init, variance):
    net = models.build_model({**MLP, "width": 512, "init": init}, (1, 400), 10, seed=0)
    weight = net[3].weight  # second hidden layer, fan-in 512
    assert abs(weight.var().item() * 512 / variance - 1) < 0.05
    assert torch.all(net[3].bias == 0)


def test_models_take_1d_and_2d_inputs_and_repeat_from_a_seed():
    for shape in [(1, 40), (1, 28, 28), (3, 32, 32)]:
        net = models.build_model(CONV, shape, 10, seed=3)
        assert net(torch.zeros(2, *shape)).shape == (2, 10)
        again = models.build_model(CONV, shape, 10, seed=3)
        assert all(torch.equal(a, b) for a, b in zip(net.parameters(), again.parameters(), strict=True))
    resnet = models.build_model({"architecture": "resnet18", "init": "he"}, (3, 32, 32), 10, seed=0)
    assert resnet(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="C, H, W"):
        models.build_model({"architecture": "resnet18"}, (1, 40), 10, seed=0)


def test_short_training_reaches_a_sanity_accuracy(tiny):
    conv = {**CONV, "channels": [16, 16], "hidden": 32}
    spec = RunSpec("conv", conv, seed=0, lr=0.05, batch_size=32, epochs=8)
    result = train(tiny, spec)
    assert len(result.test_accuracy) == 8 and not result.diverged
    assert result.test_accuracy[-1] > 0.5  # chance is 0.1
    assert result.train_loss[-1] < result.train_loss[0]


def test_training_is_bitwise_repeatable_and_seed_dependent(tiny):
    spec = RunSpec("mlp", MLP, seed=1, lr=0.05, batch_size=32, epochs=2)
    first, second = train(tiny, spec), train(tiny, spec)
    assert all(torch.equal(first.final_state[k], second.final_state[k]) for k in first.final_state)
    assert first.test_accuracy == second.test_accuracy
    other = train(tiny, RunSpec("mlp", MLP, seed=2, lr=0.05, batch_size=32, epochs=2))
    assert not torch.equal(first.final_state["1.weight"], other.final_state["1.weight"])


def test_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tiny, tmp_path):
    spec = RunSpec(
        "mlp",
        MLP,
        seed=4,
        lr=0.05,
        batch_size=50,
        epochs=4,
        epoch_examples=700,
        checkpoint_epochs=(0, 1, 4),
    )
    uninterrupted = train(tiny, spec)

    def kill_after_second_epoch(epoch, result):
        if epoch == 2:
            raise KeyboardInterrupt

    resume = tmp_path / "run.resume.pt"
    with pytest.raises(KeyboardInterrupt):
        train(tiny, spec, resume_path=resume, on_epoch_end=kill_after_second_epoch)
    assert torch.load(resume, weights_only=False)["epoch"] == 2
    resumed = train(tiny, spec, resume_path=resume)
    for key, value in uninterrupted.final_state.items():
        assert torch.equal(value, resumed.final_state[key]), key
    assert resumed.test_accuracy == uninterrupted.test_accuracy
    assert sorted(resumed.checkpoints) == [0, 1, 4]
    for epoch in (0, 1, 4):
        for key, value in uninterrupted.checkpoints[epoch].items():
            assert torch.equal(value, resumed.checkpoints[epoch][key])


def test_a_resume_file_of_another_run_is_ignored(tiny, tmp_path):
    resume = tmp_path / "run.resume.pt"
    train(tiny, RunSpec("a", MLP, seed=5, lr=0.05, batch_size=64, epochs=1), resume_path=resume)
    spec = RunSpec("a", MLP, seed=6, lr=0.05, batch_size=64, epochs=1)
    fresh = train(tiny, spec)
    reused = train(tiny, spec, resume_path=resume)
    assert torch.equal(fresh.final_state["1.weight"], reused.final_state["1.weight"])


def test_a_diverging_run_is_recorded_not_raised(tiny):
    spec = RunSpec("boom", MLP, seed=0, lr=1e6, batch_size=64, epochs=3, momentum=0.9)
    result = train(tiny, spec)
    assert result.diverged
    assert len(result.test_accuracy) == 3
    assert math.isnan(result.test_accuracy[-1]) and math.isnan(result.train_loss[-1])


def test_a_run_whose_loss_explodes_but_stays_finite_has_diverged(mnist1d_small):
    """An exploding learning rate can leave a finite but astronomical loss (here 6e15, then 1457)
    and chance accuracy; such a run has diverged as much as one that turned NaN, and is marked so:
    the summaries count it, the figures mark it, and its epochs from then on are NaN."""
    from deepstudy.packing import train_packed
    from deepstudy.training import has_diverged

    tensors = Tensors(mnist1d_small)
    plan = noise.dilute(mnist1d_small["train_y"].values, 10, 500, 0, "uniform", seed=0)
    images, index, labels = training_set(plan, tensors.train_x)
    spec = RunSpec("boom", {**MLP, "width": 16}, seed=1, lr=1e3, batch_size=64, epochs=2, epoch_examples=2000)
    single = train_run(spec, images, index, labels, tensors.test_x, tensors.test_y, 10, progress=False)
    calm = RunSpec(
        "calm", {**MLP, "width": 16}, seed=1, lr=0.05, batch_size=64, epochs=2, epoch_examples=2000
    )
    packed = train_packed([calm, spec], images, [index] * 2, [labels] * 2, tensors.test_x, tensors.test_y, 10)
    for result in (single, packed[1]):
        assert result.diverged
        assert math.isnan(result.test_accuracy[-1]) and math.isnan(result.train_loss[-1])
    assert not packed[0].diverged
    assert has_diverged(math.inf, 10) and has_diverged(1e4, 10) and not has_diverged(2.5, 10)


def test_epoch_examples_fixes_the_steps_of_an_epoch(tiny):
    from deepstudy.training import PermutationStream, steps_per_epoch

    assert steps_per_epoch(1600, 64, None) == 25
    assert steps_per_epoch(1600, 64, 640) == 10
    stream = PermutationStream(10, seed=0, device=torch.device("cpu"))
    batches = [stream.next(4) for _ in range(6)]
    assert [len(b) for b in batches] == [4, 4, 2, 4, 4, 2]
    assert sorted(torch.cat(batches[:3]).tolist()) == list(range(10))
    assert np.array_equal(sorted(torch.cat(batches[3:]).tolist()), np.arange(10))


def test_validation_accuracy_is_recorded_after_every_epoch(tiny):
    """On the test split as its validation set, a run's validation curve is its test curve; on
    other examples it is their own accuracy; it turns NaN, as the test curve, when a run diverges."""
    tensors = tiny[0]
    spec = RunSpec("v", MLP, seed=1, lr=0.05, batch_size=64, epochs=3, epoch_examples=640)
    on_test = train(tiny, spec, validation=(tensors.test_x, tensors.test_y))
    assert on_test.validation_accuracy == on_test.test_accuracy and len(on_test.test_accuracy) == 3
    on_train = train(tiny, spec, validation=(tensors.train_x[:300], tensors.train_y[:300]))
    assert on_train.test_accuracy == on_test.test_accuracy  # the validation set only watches
    assert len(on_train.validation_accuracy) == 3 and on_train.validation_accuracy != on_train.test_accuracy
    boom = RunSpec("boom", MLP, seed=0, lr=1e6, batch_size=64, epochs=3, momentum=0.9)
    diverged = train(tiny, boom, validation=(tensors.test_x, tensors.test_y))
    assert len(diverged.validation_accuracy) == 3 and math.isnan(diverged.validation_accuracy[-1])
