"""Noisy dilution of a clean training subset: plans, not copies of images.

Following Rolnick et al. (2017), each of ``n_clean`` clean training examples is joined by ``alpha``
noisy ones on average: exactly ``round(alpha * n_clean)`` noisy examples in all. A plan records,
per training example, where its image comes from (``source_index``, ``from_source``), the label it
is trained with (``label``) and whether that label is noise (``is_noisy``). Only training-split
indices ever enter a plan; evaluation uses the clean test split. A plan also names the validation
examples (``validation_index``), carved from the training split before anything else is drawn and
the same for every plan of a study: the best epoch is chosen on them, with their clean labels.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from deepstudy.noise.workflow import NOISE_KINDS, RANDOM_SOURCE


def confusion_map(num_classes: int, mapping: list[int] | None = None) -> np.ndarray:
    """The structured-noise confusion map σ: ``mapping`` if given, else c ↦ (c + 1) mod K."""
    if mapping is None:
        return (np.arange(num_classes) + 1) % num_classes
    sigma = np.asarray(mapping, dtype=np.int64)
    if sigma.shape != (num_classes,) or sigma.min() < 0 or sigma.max() >= num_classes:
        raise ValueError(f"confusion_map must list {num_classes} classes in [0, {num_classes})")
    return sigma


def validation_split(n_train: int, examples: int, seed: int) -> np.ndarray:
    """The sorted training-split indices of ``examples`` validation examples, drawn with ``seed``
    alone: one split for every plan of a study, whatever its noise, clean-set size or seed."""
    if not 0 <= examples < n_train:
        raise ValueError(f"validation_examples={examples} must be in 0..{n_train - 1} (the training split)")
    return np.sort(np.random.default_rng(seed).permutation(n_train)[:examples])


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
    validation_examples: int = 0,
    validation_seed: int = 0,
) -> xr.Dataset:
    """The dilution plan of a training split with labels ``train_y``.

    First ``validation_examples`` examples are set aside (:func:`validation_split`); of the rest,
    ``n_clean`` form the clean subset and the others the noise pool, so validation, clean and
    noisy images never overlap.

    - ``uniform``: noisy images drawn (with replacement) from the noise pool, labels uniform over
      all classes; a plan with noisy examples and an empty pool is refused;
    - ``structured``: as uniform, but with probability ``delta`` the label is σ(true class);
    - ``source``: noisy images drawn from another source of ``source_size`` images (another
      dataset's training split, or a pool of random images), labels uniform.
    """
    if noise not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind '{noise}', expected one of {NOISE_KINDS}")
    validation = validation_split(len(train_y), validation_examples, validation_seed)
    rest = np.setdiff1d(np.arange(len(train_y)), validation)
    if not 0 < n_clean <= len(rest):
        raise ValueError(
            f"n_clean={n_clean} must be in 1..{len(rest)} (the training split less"
            f" {len(validation)} validation examples)"
        )
    if alpha < 0:
        raise ValueError(f"alpha={alpha} must be non-negative")
    rng = np.random.default_rng(seed)
    order = rest[rng.permutation(len(rest))]
    clean = np.sort(order[:n_clean])
    pool = order[n_clean:]
    n_noisy = round(alpha * n_clean)
    if noise != "source" and n_noisy > 0 and len(pool) == 0:
        raise ValueError(
            f"n_clean={n_clean} leaves no training image for the {noise} noise pool (the training"
            f" split less {len(validation)} validation examples holds {len(rest)}): the pool must not"
            " be the clean set"
        )
    attrs: dict[str, object] = {
        "alpha": float(alpha),
        "noise": noise,
        "n_clean": int(n_clean),
        "n_noisy": int(n_noisy),
        "num_classes": int(num_classes),
        "seed": int(seed),
        "validation_examples": int(validation_examples),
        "validation_seed": int(validation_seed),
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
            "is_noisy": (
                "example",
                np.concatenate([np.zeros(n_clean, bool), np.ones(n_noisy, bool)]),
            ),
            "from_source": ("example", np.concatenate([np.zeros(n_clean, bool), from_source])),
            "original_label": (
                "example",
                np.concatenate([train_y[clean], original]).astype(np.int64),
            ),
            "validation_index": ("validation_example", validation.astype(np.int64)),
        },
        attrs=attrs,
    )
    plan["validation_index"].attrs["description"] = (
        "training-split index of a validation example (clean label), never trained on"
    )
    plan["source_index"].attrs["description"] = (
        "index into the training split, or into the noise source where from_source is true"
    )
    plan["label"].attrs["description"] = "label the example is trained with"
    plan["is_noisy"].attrs["description"] = "true for the round(alpha * n_clean) noisy examples"
    plan["original_label"].attrs["description"] = "true class of the image (-1 for random images)"
    return plan


def plan_from_options(
    train_y: np.ndarray,
    num_classes: int,
    noise: str,
    alpha: float,
    n_clean: int,
    seed: int,
    options: dict,
    source_size: int = 0,
    validation: dict | None = None,
) -> xr.Dataset:
    """A plan from the config's options of its noise kind (``noise.structured`` or ``noise.source``)
    and of the validation split (``noise.validation``: ``examples`` and ``seed``)."""
    kwargs: dict = {}
    if validation is not None:
        kwargs = {"validation_examples": validation["examples"], "validation_seed": validation["seed"]}
    if noise == "structured":
        kwargs |= {"delta": options["delta"], "sigma": options.get("confusion_map")}
    elif noise == "source":
        images = options["images"]
        kwargs |= {
            "source": images,
            "source_size": options["pool_size"] if images == RANDOM_SOURCE else source_size,
        }
    plan = dilute(train_y, num_classes, n_clean, alpha, noise, seed, **kwargs)
    if noise == "source" and options["images"] == RANDOM_SOURCE:
        plan.attrs["source_seed"] = int(options["seed"])
    return plan
