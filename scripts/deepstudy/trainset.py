"""The training set of a dilution plan as tensors: images once, plus an index and labels.

Kept apart from :mod:`deepstudy.noise` so that making plans needs no torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
import xarray as xr

from deepstudy.noise import RANDOM_SOURCE


def random_images(count: int, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """``count`` standard-normal images of ``shape``, the scale of standardised training data."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((count, *shape), generator=generator)


def match_shape(images: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Images of another dataset made to look like ``shape``: channels averaged or repeated, resized."""
    channels = shape[0]
    if images.shape[1] != channels:
        images = images.mean(dim=1, keepdim=True)
        images = images.expand(-1, channels, *images.shape[2:]).contiguous()
    if tuple(images.shape[2:]) != tuple(shape[1:]):
        if images.ndim != len(shape) + 1:
            raise ValueError(f"cannot turn images of shape {tuple(images.shape[1:])} into {shape}")
        mode = "linear" if len(shape) == 2 else "bilinear"
        images = F.interpolate(images, size=tuple(shape[1:]), mode=mode, align_corners=False)
    return images


def training_set(
    plan: xr.Dataset, train_x: torch.Tensor, source_x: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images, per-example image index and labels of a plan, on ``train_x``'s device.

    Images are stored once (training split, then the source's images); the index refers into them,
    so α = 100 costs an index, not a hundred copies of the data.
    """
    device = train_x.device
    index = torch.from_numpy(plan["source_index"].values).to(device)
    from_source = torch.from_numpy(plan["from_source"].values).to(device)
    images = train_x
    if bool(from_source.any()):
        if source_x is None:
            raise ValueError("this plan draws images from a source; pass source_x")
        images = torch.cat([train_x, match_shape(source_x.to(device), tuple(train_x.shape[1:]))])
        index = torch.where(from_source, index + len(train_x), index)
    labels = torch.from_numpy(plan["label"].values).to(device)
    return images, index, labels


def source_images(plan: xr.Dataset, shape: tuple[int, ...], source_x: torch.Tensor | None):
    """The images a plan's ``from_source`` examples index: random ones, or ``source_x``."""
    if plan.attrs.get("source") == RANDOM_SOURCE:
        return random_images(plan.attrs["source_size"], shape, plan.attrs["source_seed"])
    return source_x
