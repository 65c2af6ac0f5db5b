"""Checkpoint files of training jobs: written by the training rules, read by the region analyses.

A file holds one run's weights at one epoch with what rebuilds its network, or, for a pack of runs
trained in one job, every member's under ``runs`` (keyed by run name).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from deepstudy.models import build_model


def checkpoint_payload(state: dict, spec, epoch: int, meta: dict) -> dict:
    """Weights of a run (``spec``: its RunSpec) at one epoch, with what is needed to rebuild the network."""
    return {"state_dict": state, "epoch": epoch, "model": spec.model, "run": spec.name, **meta}


def save_checkpoint(path: str | Path, payloads: list[dict], epoch: int) -> None:
    """One job's checkpoint file of an epoch: the run's payload, or, for a pack, every member's."""
    if len(payloads) == 1:
        torch.save(payloads[0], path)
    else:
        torch.save({"epoch": epoch, "runs": {p["run"]: p for p in payloads}}, path)


def checkpoint_epoch(path: str | Path) -> int:
    """The epoch a checkpoint file was saved at."""
    return int(torch.load(path, map_location="cpu", weights_only=False)["epoch"])


def load_checkpoint(path: str | Path, run: str | None = None) -> nn.Module:
    """The network saved in a checkpoint file, weights loaded; from the file of a pack of runs,
    that of ``run``."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    if "runs" in state:
        if run not in state["runs"]:
            raise KeyError(f"{path} holds the runs {sorted(state['runs'])}, not {run!r}")
        state = state["runs"][run]
    net = build_model(state["model"], tuple(state["input_shape"]), state["num_classes"], seed=0)
    net.load_state_dict(state["state_dict"])
    return net
