"""Memorisation plans: training images with uniformly random labels, for the regions study's
networks trained until they memorise (the 2D pattern count after memorisation)."""

from __future__ import annotations

import numpy as np
import xarray as xr


def random_label_plan(train_y: np.ndarray, num_classes: int, n_examples: int, seed: int) -> xr.Dataset:
    """A memorisation plan: ``n_examples`` distinct training images, every label uniformly random.

    The labels carry no information about the images, so a network can only fit them by
    memorising (Zhang et al. 2017); the plan has the variables of a dilution plan, all noisy.
    """
    if not 0 < n_examples <= len(train_y):
        raise ValueError(f"n_examples={n_examples} must be in 1..{len(train_y)} (the training split)")
    rng = np.random.default_rng(seed)
    index = np.sort(rng.choice(len(train_y), n_examples, replace=False))
    labels = rng.integers(0, num_classes, n_examples)
    return xr.Dataset(
        {
            "source_index": ("example", index.astype(np.int64)),
            "label": ("example", labels.astype(np.int64)),
            "is_noisy": ("example", np.ones(n_examples, dtype=bool)),
            "from_source": ("example", np.zeros(n_examples, dtype=bool)),
            "original_label": ("example", train_y[index].astype(np.int64)),
        },
        attrs={
            "noise": "random_labels",
            "n_examples": int(n_examples),
            "num_classes": int(num_classes),
            "seed": int(seed),
        },
    )
