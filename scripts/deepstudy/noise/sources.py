"""The images that source noise draws from: random images, or another dataset's made to fit.

Kept apart from :mod:`deepstudy.noise.plans` so that making plans needs no torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
import xarray as xr

from deepstudy.noise.workflow import RANDOM_SOURCE


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


def source_images(
    plan: xr.Dataset, shape: tuple[int, ...], source_x: torch.Tensor | None
) -> torch.Tensor | None:
    """The images a plan's ``from_source`` examples index, as examples of ``shape``: random ones,
    or ``source_x`` (another dataset's training images) made to fit; None without a source."""
    if plan.attrs.get("source") == RANDOM_SOURCE:
        return random_images(plan.attrs["source_size"], shape, plan.attrs["source_seed"])
    return None if source_x is None else match_shape(source_x, shape)
