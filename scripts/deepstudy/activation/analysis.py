"""The activation-length study's tables (Hanin & Rolnick 2018): squared activation length at
initialisation per width profile and init, and whether training starts over depth × width."""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from deepstudy.activation.lengths import init_seed, reciprocal_width_sum, squared_lengths, starts_training


def activation_table(
    profiles: dict[str, list[int]], inits: list, input_size: int, networks: int, inputs: int, seed: int
) -> xr.Dataset:
    """Normalised squared activation lengths for every width profile and initialisation; each init
    draws its own networks and inputs (:func:`~deepstudy.activation.lengths.init_seed`)."""
    depth = max(len(widths) for widths in profiles.values())
    table = np.full((len(profiles), len(inits), networks, inputs, depth), np.nan)
    for p, widths in enumerate(profiles.values()):
        for i, init in enumerate(inits):
            table[p, i, ..., : len(widths)] = squared_lengths(
                input_size, widths, init, networks, inputs, init_seed(seed, init)
            )
    ds = xr.Dataset(
        {
            "squared_length": (("profile", "init", "network", "input", "layer"), table),
            "reciprocal_width_sum": ("profile", [reciprocal_width_sum(w) for w in profiles.values()]),
            "depth": ("profile", [len(w) for w in profiles.values()]),
        },
        coords={"profile": list(profiles), "init": [str(i) for i in inits], "layer": np.arange(1, depth + 1)},
    )
    ds["squared_length"].attrs.update(
        units="1", description="(|h_l|^2 / n_l) / (|x|^2 / n_0) at initialisation; NaN past a profile's depth"
    )
    ds["reciprocal_width_sum"].attrs["description"] = "sum over hidden layers of 1 / width"
    return ds


def trainability_map(
    train_x: torch.Tensor, train_y: torch.Tensor, num_classes: int, options: dict
) -> xr.Dataset:
    """Loss after a few hundred steps relative to the start, over depth × width (constant width);
    each init trains from its own seed (:func:`~deepstudy.activation.lengths.init_seed`)."""
    depths, widths, inits = options["depth"], options["width"], options["init"]
    ratio = np.empty((len(inits), len(depths), len(widths)))
    for i, init in enumerate(inits):
        for d, depth in enumerate(depths):
            for w, width in enumerate(widths):
                ratio[i, d, w] = starts_training(
                    train_x,
                    train_y,
                    [width] * depth,
                    init,
                    num_classes,
                    options["steps"],
                    options["lr"],
                    options["batch_size"],
                    init_seed(options["seed"], init),
                )
    ds = xr.Dataset(
        {"loss_ratio": (("init", "depth", "width"), ratio)},
        coords={"init": [str(i) for i in inits], "depth": depths, "width": widths},
        attrs={"steps": options["steps"], "lr": options["lr"], "batch_size": options["batch_size"]},
    )
    ds["loss_ratio"].attrs.update(units="1", description="training loss after the steps / loss at the start")
    return ds
