"""Noisy dilution of a clean training subset: plans, not copies of images.

Following Rolnick et al. (2017), each of ``n_clean`` clean training examples is joined by ``alpha``
noisy ones on average: exactly ``round(alpha * n_clean)`` noisy examples in all. A plan records,
per training example, where its image comes from (``source_index``, ``from_source``), the label it
is trained with (``label``) and whether that label is noise (``is_noisy``). Only training-split
indices ever enter a plan; evaluation uses the clean test split.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
import xarray as xr

NOISE_KINDS = ("uniform", "structured", "source")
RANDOM_SOURCE = "random"


def confusion_map(num_classes: int, mapping: list[int] | None = None) -> np.ndarray:
    """The structured-noise confusion map σ: ``mapping`` if given, else c ↦ (c + 1) mod K."""
    if mapping is None:
        return (np.arange(num_classes) + 1) % num_classes
    sigma = np.asarray(mapping, dtype=np.int64)
    if sigma.shape != (num_classes,) or sigma.min() < 0 or sigma.max() >= num_classes:
        raise ValueError(f"confusion_map must list {num_classes} classes in [0, {num_classes})")
    return sigma


def dilute(
    train_y: np.ndarray,
    num_classes: int,
    n_clean: int,
    alpha: float,
    noise: str,
    seed: int,
    *,
    delta: float = 0.5,
    sigma: list[int] | None = None,
    source: str = RANDOM_SOURCE,
    source_size: int = 0,
) -> xr.Dataset:
    """The dilution plan of a training split with labels ``train_y``.

    - ``uniform``: noisy images drawn (with replacement) from the training examples outside the
      clean subset, labels uniform over all classes;
    - ``structured``: as uniform, but with probability ``delta`` the label is σ(true class);
    - ``source``: noisy images drawn from another source of ``source_size`` images (another
      dataset's training split, or a pool of random images), labels uniform.
    """
    if noise not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind '{noise}', expected one of {NOISE_KINDS}")
    if not 0 < n_clean <= len(train_y):
        raise ValueError(f"n_clean={n_clean} must be in 1..{len(train_y)} (the training split)")
    if alpha < 0:
        raise ValueError(f"alpha={alpha} must be non-negative")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train_y))
    clean = np.sort(order[:n_clean])
    pool = order[n_clean:] if n_clean < len(train_y) else order
    n_noisy = round(alpha * n_clean)
    attrs: dict[str, object] = {
        "alpha": float(alpha),
        "noise": noise,
        "n_clean": int(n_clean),
        "n_noisy": int(n_noisy),
        "num_classes": int(num_classes),
        "seed": int(seed),
    }
    from_source = np.zeros(n_noisy, dtype=bool)
    if noise == "source":
        if source_size <= 0:
            raise ValueError("source noise needs a non-empty source of images")
        noisy_index = rng.integers(0, source_size, n_noisy)
        from_source[:] = True
        original = np.full(n_noisy, -1, dtype=np.int64)
        attrs.update(source=source, source_size=int(source_size))
    else:
        noisy_index = rng.choice(pool, n_noisy, replace=True)
        original = train_y[noisy_index].astype(np.int64)
    noisy_label = rng.integers(0, num_classes, n_noisy)
    if noise == "structured":
        confusion = confusion_map(num_classes, sigma)
        confused = rng.random(n_noisy) < delta
        noisy_label = np.where(confused, confusion[original], noisy_label)
        attrs.update(delta=float(delta), confusion_map=confusion.tolist())
    plan = xr.Dataset(
        {
            "source_index": ("example", np.concatenate([clean, noisy_index]).astype(np.int64)),
            "label": ("example", np.concatenate([train_y[clean], noisy_label]).astype(np.int64)),
            "is_noisy": ("example", np.concatenate([np.zeros(n_clean, bool), np.ones(n_noisy, bool)])),
            "from_source": ("example", np.concatenate([np.zeros(n_clean, bool), from_source])),
            "original_label": ("example", np.concatenate([train_y[clean], original]).astype(np.int64)),
        },
        attrs=attrs,
    )
    plan["source_index"].attrs["description"] = (
        "index into the training split, or into the noise source where from_source is true"
    )
    plan["label"].attrs["description"] = "label the example is trained with"
    plan["is_noisy"].attrs["description"] = "true for the round(alpha * n_clean) noisy examples"
    plan["original_label"].attrs["description"] = "true class of the image (-1 for random images)"
    return plan


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


def plan_from_options(
    train_y: np.ndarray,
    num_classes: int,
    noise: str,
    alpha: float,
    n_clean: int,
    seed: int,
    options: dict,
    source_size: int = 0,
) -> xr.Dataset:
    """A plan from the config's options of its noise kind (``noise.structured`` or ``noise.source``)."""
    kwargs: dict = {}
    if noise == "structured":
        kwargs = {"delta": options["delta"], "sigma": options.get("confusion_map")}
    elif noise == "source":
        images = options["images"]
        kwargs = {
            "source": images,
            "source_size": options["pool_size"] if images == RANDOM_SOURCE else source_size,
        }
    plan = dilute(train_y, num_classes, n_clean, alpha, noise, seed, **kwargs)
    if noise == "source" and options["images"] == RANDOM_SOURCE:
        plan.attrs["source_seed"] = int(options["seed"])
    return plan


def source_images(plan: xr.Dataset, shape: tuple[int, ...], source_x: torch.Tensor | None):
    """The images a plan's ``from_source`` examples index: random ones, or ``source_x``."""
    if plan.attrs.get("source") == RANDOM_SOURCE:
        return random_images(plan.attrs["source_size"], shape, plan.attrs["source_seed"])
    return source_x
