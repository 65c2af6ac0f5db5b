"""Checkpoint files of training jobs: written by the training rules, read by the region analyses.

A file holds one run's weights at one epoch with what rebuilds its network, or, for a pack of runs
trained in one job, every member's under ``runs`` (keyed by run name). A file is named for its
epoch (:data:`deepstudy.paths.CHECKPOINT_FILE`): weights are paired with files by that name, never
by position, and a file whose name and content disagree is refused when loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from deepstudy.models import build_model
from deepstudy.paths import CHECKPOINT_FILE, checkpoint_file_epoch


def checkpoint_payload(state: dict, spec, epoch: int, meta: dict, reached: bool = True) -> dict:
    """Weights of a run (``spec``: its RunSpec) at one epoch, with what is needed to rebuild the network.

    ``reached``: whether the run trained to this epoch; if not (it diverged before), ``state`` is
    the weights it diverged with, kept so that every run of a pack has its file.
    """
    return {
        "state_dict": state,
        "epoch": epoch,
        "model": spec.model,
        "run": spec.name,
        "reached": reached,
        **meta,
    }


def save_checkpoint(path: str | Path, payloads: list[dict], epoch: int) -> None:
    """One job's checkpoint file of an epoch: the run's payload, or, for a pack, every member's."""
    if len(payloads) == 1:
        torch.save(payloads[0], path)
    else:
        torch.save({"epoch": epoch, "runs": {p["run"]: p for p in payloads}}, path)


def epoch_files(paths: list[str], epochs: list[int]) -> dict[int, str]:
    """Each of ``epochs`` with its file among ``paths``, by the epoch each file is named for."""
    files = {}
    for path in paths:
        epoch = checkpoint_file_epoch(path)
        if epoch is None:
            raise ValueError(f"checkpoint file {path} is not named {CHECKPOINT_FILE}")
        files[epoch] = path
    if set(files) != set(epochs):
        raise ValueError(f"checkpoint files {list(paths)} are not those of the epochs {sorted(set(epochs))}")
    return files


def checkpoint_epoch(path: str | Path) -> int:
    """The epoch a checkpoint file was saved at."""
    return int(torch.load(path, map_location="cpu", weights_only=False)["epoch"])


@dataclass
class Checkpoint:
    """The network of a checkpoint file, its epoch, and why it is no network of that epoch to
    analyse (``excluded``; None if it is): its run diverged before the epoch, so that the file holds
    the weights the run diverged with."""

    net: nn.Module
    epoch: int
    excluded: str | None


def read_checkpoint(path: str | Path, run: str | None = None) -> Checkpoint:
    """The network saved in a checkpoint file, weights loaded, with its epoch and whether it is
    excluded from analyses (see :class:`Checkpoint`); from the file of a pack of runs, that of ``run``."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    named = checkpoint_file_epoch(path)
    if named is not None and named != state["epoch"]:
        raise ValueError(
            f"{path} holds the weights of epoch {state['epoch']}, not {named}: written before"
            " checkpoints were paired with files by epoch, it must be trained again"
        )
    if "runs" in state:
        if run not in state["runs"]:
            raise KeyError(f"{path} holds the runs {sorted(state['runs'])}, not {run!r}")
        state = state["runs"][run]
    net = build_model(state["model"], tuple(state["input_shape"]), state["num_classes"], seed=0)
    net.load_state_dict(state["state_dict"])
    excluded = None
    if not state.get("reached", True):  # files written before "reached" was kept count as reached
        excluded = f"run {state['run']} diverged before epoch {state['epoch']} (weights it diverged with)"
    return Checkpoint(net, int(state["epoch"]), excluded)


def load_checkpoint(path: str | Path, run: str | None = None) -> nn.Module:
    """The network saved in a checkpoint file, weights loaded; from the file of a pack of runs,
    that of ``run`` (see :func:`read_checkpoint`)."""
    return read_checkpoint(path, run).net


def non_finite(net: nn.Module) -> str | None:
    """Why ``net`` cannot be analysed if some weight is NaN or infinite (a diverged run's), else None."""
    bad = [name for name, value in net.state_dict().items() if not bool(torch.isfinite(value).all())]
    if not bad:
        return None
    return f"non-finite weights in {', '.join(bad)}"
