"""Packed training: K MLPs in one process follow their unpacked twins."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from deepstudy import data
from deepstudy.packing import packable, train_packed
from deepstudy.training import RunSpec, train_run


@pytest.fixture(scope="module")
def tensors(mnist1d_small):
    return data.Tensors(mnist1d_small)


def specs(count: int, **values) -> list[RunSpec]:
    model = {"architecture": "mlp", "depth": 2, "width": 32, "init": "he"}
    base = dict(model=model, batch_size=32, epochs=1, momentum=0.9, weight_decay=1e-4, epoch_examples=320)
    base.update(values)
    return [RunSpec(name=f"run{k}", seed=k, lr=0.01 * (k + 1), **base) for k in range(count)]


def twins(runs: list[RunSpec], tensors, labels: list[torch.Tensor]):
    index = torch.arange(len(tensors.train_x))
    packed = train_packed(
        runs, tensors.train_x, [index] * len(runs), labels, tensors.test_x, tensors.test_y, 10
    )
    alone = [
        train_run(run, tensors.train_x, index, y, tensors.test_x, tensors.test_y, 10, progress=False)
        for run, y in zip(runs, labels, strict=True)
    ]
    return packed, alone


def test_packed_runs_equal_their_unpacked_twins_after_ten_steps(tensors):
    runs = specs(4, checkpoint_epochs=(0, 1))
    generator = torch.Generator().manual_seed(0)
    labels = [
        tensors.train_y,
        *(torch.randint(0, 10, tensors.train_y.shape, generator=generator) for _ in range(3)),
    ]
    packed, alone = twins(runs, tensors, labels)
    for p, a in zip(packed, alone, strict=True):
        assert p.final_state.keys() == a.final_state.keys()
        for key in a.final_state:
            torch.testing.assert_close(p.final_state[key], a.final_state[key], atol=1e-5, rtol=0)
        torch.testing.assert_close(p.checkpoints[0]["1.weight"], a.checkpoints[0]["1.weight"])
        assert p.train_loss == pytest.approx(a.train_loss, abs=1e-5)
    # the runs really differ from each other (own seed, data order, lr, labels)
    assert not torch.allclose(packed[0].final_state["1.weight"], packed[1].final_state["1.weight"])


def test_packed_runs_reach_the_same_accuracy(tensors):
    runs = specs(3, epochs=3, epoch_examples=None)
    packed, alone = twins(runs, tensors, [tensors.train_y] * 3)
    difference = np.mean(
        [abs(p.test_accuracy[-1] - a.test_accuracy[-1]) for p, a in zip(packed, alone, strict=True)]
    )
    assert difference <= 0.01
    assert min(p.test_accuracy[-1] for p in packed) > 0.2


def test_only_equal_shapes_pack():
    runs = specs(2)  # 320 examples per epoch: as many steps whatever a run's set size
    assert packable(runs, [100, 100]) and packable(runs, [100, 200])
    one_pass = specs(2, epoch_examples=None)  # one pass over each set: 4 and 7 batches of 32
    assert packable(one_pass, [100, 120]) and not packable(one_pass, [100, 200])
    assert not packable([runs[0], specs(1, batch_size=64)[0]], [100, 100])
    conv = {"architecture": "conv", "channels": [8], "kernel_size": 3, "hidden": 8}
    assert packable(specs(2, model=conv), [100, 100])
    assert not packable(specs(2, model={"architecture": "resnet18"}), [100, 100])
    assert not packable(specs(2, optimizer="adam"), [100, 100])


CONV = {"architecture": "conv", "channels": [8, 8], "kernel_size": 3, "hidden": 16, "init": "he"}


def test_packed_conv_nets_on_their_own_sets_equal_their_unpacked_twins_after_ten_steps(tensors):
    """Conv nets pack through torch.func; each run has its own examples (sets of different sizes),
    labels, seed, data order and learning rate."""
    runs = specs(3, model=CONV, epoch_examples=320, checkpoint_epochs=(0, 1))  # 10 steps of 32
    generator = torch.Generator().manual_seed(1)
    sizes = [len(tensors.train_x), 100, 150]  # passes of 100 and 150 end in short batches (4 and 22)
    indices = [torch.randperm(len(tensors.train_x), generator=generator)[:n] for n in sizes]
    labels = [torch.randint(0, 10, (n,), generator=generator) for n in sizes]
    packed = train_packed(runs, tensors.train_x, indices, labels, tensors.test_x, tensors.test_y, 10)
    for run, index, y, p in zip(runs, indices, labels, packed, strict=True):
        alone = train_run(run, tensors.train_x, index, y, tensors.test_x, tensors.test_y, 10, progress=False)
        assert p.final_state.keys() == alone.final_state.keys()
        for key in alone.final_state:
            torch.testing.assert_close(p.final_state[key], alone.final_state[key], atol=1e-5, rtol=0)
        torch.testing.assert_close(p.checkpoints[0]["0.weight"], alone.checkpoints[0]["0.weight"])
        assert p.train_loss == pytest.approx(alone.train_loss, abs=1e-5)
        assert p.test_accuracy == pytest.approx(alone.test_accuracy, abs=1e-9)
    assert not torch.allclose(packed[0].final_state["0.weight"], packed[1].final_state["0.weight"])


def test_a_killed_pack_resumes_and_ends_as_an_uninterrupted_one(tensors, tmp_path, monkeypatch):
    from deepstudy import packing

    runs = specs(3, model=CONV, epochs=3, epoch_examples=160, checkpoint_epochs=(0, 2, 3))
    index = torch.arange(len(tensors.train_x))
    args = (runs, tensors.train_x, [index] * 3, [tensors.train_y] * 3, tensors.test_x, tensors.test_y, 10)
    whole = train_packed(*args)
    original, calls = packing.PackedSGD.step, []

    def killed(self):
        calls.append(1)
        if len(calls) == 12:  # in the third epoch (5 steps an epoch)
            raise KeyboardInterrupt
        original(self)

    monkeypatch.setattr(packing.PackedSGD, "step", killed)
    with pytest.raises(KeyboardInterrupt):
        train_packed(*args, resume_path=tmp_path / "pack.resume.pt")
    steps_after = []

    def counted(self):
        steps_after.append(1)
        original(self)

    monkeypatch.setattr(packing.PackedSGD, "step", counted)
    resumed = train_packed(*args, resume_path=tmp_path / "pack.resume.pt")
    assert len(steps_after) == 5  # only the third epoch again: the first two came from the file
    for a, b in zip(whole, resumed, strict=True):
        assert a.train_loss == b.train_loss and a.test_accuracy == b.test_accuracy
        for key in a.final_state:
            assert torch.equal(a.final_state[key], b.final_state[key])
        assert a.checkpoints.keys() == b.checkpoints.keys() == {0, 2, 3}
        assert torch.equal(a.checkpoints[2]["0.weight"], b.checkpoints[2]["0.weight"])


def test_a_packs_checkpoint_file_gives_each_runs_network(tensors, tmp_path):
    from deepstudy import checkpoints

    runs = specs(2)
    index = torch.arange(len(tensors.train_x))
    results = train_packed(
        runs, tensors.train_x, [index] * 2, [tensors.train_y] * 2, tensors.test_x, tensors.test_y, 10
    )
    meta = {"input_shape": list(tensors.input_shape), "num_classes": 10}
    payloads = [
        checkpoints.checkpoint_payload(r.final_state, s, 1, meta) for s, r in zip(runs, results, strict=True)
    ]
    checkpoints.save_checkpoint(tmp_path / "epoch1.pt", payloads, 1)
    for spec, result in zip(runs, results, strict=True):
        net = checkpoints.load_checkpoint(str(tmp_path / "epoch1.pt"), spec.name)
        torch.testing.assert_close(net.state_dict()["1.weight"], result.final_state["1.weight"])
    with pytest.raises(KeyError, match="run0"):
        checkpoints.load_checkpoint(str(tmp_path / "epoch1.pt"), "run9")


def test_packed_accuracy_is_each_networks_own(tensors):
    from deepstudy.models import build_model
    from deepstudy.stacks import PackedMLP
    from deepstudy.training import accuracy

    nets = [build_model(s.model, tensors.input_shape, 10, s.seed) for s in specs(3)]
    together = PackedMLP(nets).accuracy(tensors.test_x, tensors.test_y, batch_size=64)
    assert together == [accuracy(net, tensors.test_x, tensors.test_y) for net in nets]


def test_packed_runs_record_their_own_validation_accuracy(tensors):
    runs = specs(3, epochs=2)
    index = torch.arange(len(tensors.train_x))
    validation = (tensors.train_x[:200], tensors.train_y[:200])
    arguments = (tensors.train_x, [index] * 3, [tensors.train_y] * 3, tensors.test_x, tensors.test_y, 10)
    packed = train_packed(runs, *arguments, validation=validation)
    on_test = train_packed(runs, *arguments, validation=(tensors.test_x, tensors.test_y))
    for k, run in enumerate(runs):
        assert len(packed[k].validation_accuracy) == 2
        assert on_test[k].validation_accuracy == on_test[k].test_accuracy
        alone = train_run(
            run,
            tensors.train_x,
            index,
            tensors.train_y,
            tensors.test_x,
            tensors.test_y,
            10,
            progress=False,
            validation=validation,
        )
        assert packed[k].validation_accuracy == pytest.approx(alone.validation_accuracy, abs=0.011)
