"""Checkpoint files: each holds the epoch it is named for, and says whether its run got there."""

from __future__ import annotations

import pytest
import torch
from deepstudy import models
from deepstudy.checkpoints import (
    checkpoint_epoch,
    checkpoint_payload,
    load_checkpoint,
    save_checkpoint,
)
from deepstudy.data import Tensors
from deepstudy.noise import plans as noise
from deepstudy.plan_training import run_spec, train_job

MLP = {"architecture": "mlp", "depth": 1, "width": 16, "init": "he"}


def mlp_run(name: str, seed: int, lr: float, factors: dict) -> dict:
    """One MLP run of two short epochs, keeping the weights at epochs 0 and 2."""
    return dict(
        name=name,
        model=MLP,
        seed=seed,
        lr=lr,
        batch_size=50,
        epochs=2,
        epoch_examples=100,
        checkpoint_epochs=[0, 2],
        factors=factors,
    )


def job(mnist1d_small, tmp_path, files: list[str], lr: float = 0.05, runs: int = 1):
    """A training job of ``runs`` MLPs keeping epochs 0 and 2, written to ``files`` (in that order)."""
    tensors = Tensors(mnist1d_small)
    plan = noise.dilute(mnist1d_small["train_y"].values, 10, 200, 0, "uniform", seed=0)
    specs = [mlp_run(f"run{k}", k, lr, {"seed": k}) for k in range(runs)]
    paths = [str(tmp_path / name) for name in files]
    train_job(specs, [plan] * runs, tensors, paths, tmp_path / "resume")
    return tensors, specs, paths


def test_each_checkpoint_file_holds_the_epoch_it_is_named_for(mnist1d_small, tmp_path):
    """The rule lists the files in the config's order of epochs; whatever that order, the weights
    of epoch E land in ``epoch<E>.pt`` (paired by epoch, not by position)."""
    tensors, specs, _ = job(mnist1d_small, tmp_path, ["epoch2.pt", "epoch0.pt"])
    assert checkpoint_epoch(tmp_path / "epoch0.pt") == 0
    assert checkpoint_epoch(tmp_path / "epoch2.pt") == 2
    fresh = models.build_model(MLP, tensors.input_shape, tensors.num_classes, seed=0)
    saved = load_checkpoint(tmp_path / "epoch0.pt")
    for key, value in fresh.state_dict().items():
        assert torch.equal(saved.state_dict()[key], value), key


def test_files_not_named_for_the_kept_epochs_are_refused(mnist1d_small, tmp_path):
    with pytest.raises(ValueError, match=r"epoch5\.pt"):
        job(mnist1d_small, tmp_path, ["epoch0.pt", "epoch5.pt"])
    with pytest.raises(ValueError, match="not named epoch"):
        job(mnist1d_small, tmp_path, ["epoch0.pt", "last.pt"])


def test_a_mislabelled_checkpoint_file_is_refused_when_loaded(tmp_path):
    """A file written before checkpoints were paired by epoch may hold another epoch than its name."""
    spec = run_spec(dict(name="a", model=MLP, seed=0, lr=0.1, batch_size=8, epochs=10))
    net = models.build_model(MLP, (1, 40), 10, seed=0)
    meta = {"input_shape": [1, 40], "num_classes": 10}
    save_checkpoint(tmp_path / "epoch10.pt", [checkpoint_payload(net.state_dict(), spec, 0, meta)], 0)
    with pytest.raises(ValueError, match=r"epoch10\.pt holds the weights of epoch 0"):
        load_checkpoint(tmp_path / "epoch10.pt")
    save_checkpoint(tmp_path / "epoch0.pt", [checkpoint_payload(net.state_dict(), spec, 0, meta)], 0)
    assert isinstance(load_checkpoint(tmp_path / "epoch0.pt"), torch.nn.Module)


def test_a_checkpoint_past_its_runs_divergence_is_excluded(mnist1d_small, tmp_path):
    """A run that diverged before a checkpoint epoch has its file (a pack writes one for all its
    runs), holding the weights it diverged with: marked excluded, unlike its earlier checkpoints
    and the other runs of its pack."""
    from deepstudy.checkpoints import read_checkpoint

    tensors = Tensors(mnist1d_small)
    plan = noise.dilute(mnist1d_small["train_y"].values, 10, 200, 0, "uniform", seed=0)
    runs = [mlp_run(name, 0, lr, {"lr": lr}) for name, lr in (("calm", 0.05), ("boom", 1e20))]
    paths = [str(tmp_path / "epoch0.pt"), str(tmp_path / "epoch2.pt")]
    metrics = train_job(runs, [plan, plan], tensors, paths, tmp_path / "resume")
    assert metrics["diverged"].values.tolist() == [False, True]
    assert read_checkpoint(paths[0], "boom").excluded is None
    assert read_checkpoint(paths[1], "calm").excluded is None
    assert "boom diverged before epoch 2" in read_checkpoint(paths[1], "boom").excluded
