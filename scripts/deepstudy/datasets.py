"""The datasets the studies train on: one table of what the workflow knows before any is prepared.

Torch-free, so that config validation and the studies' workflow modules can size runs and packs
without reading data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetInfo:
    """What is known of a dataset before it is prepared."""

    input_shape: tuple[int, ...]  # one example, channel first
    num_classes: int
    train_size: int | None  # training examples; None where the config sets it (generated data)
    torchvision: bool  # read (or downloaded) through torchvision, else generated offline

    @property
    def example_ndim(self) -> int:
        """Axes of one example, channel included: 2 for 1D signals, 3 for images."""
        return len(self.input_shape)

    @property
    def input_size(self) -> int:
        """Input features per example."""
        return math.prod(self.input_shape)


DATASETS = {
    "mnist1d": DatasetInfo((1, 40), 10, None, torchvision=False),
    "mnist": DatasetInfo((1, 28, 28), 10, 60000, torchvision=True),
    "fashion_mnist": DatasetInfo((1, 28, 28), 10, 60000, torchvision=True),
    "cifar10": DatasetInfo((3, 32, 32), 10, 50000, torchvision=True),
}
TORCHVISION_DATASETS = tuple(name for name, info in DATASETS.items() if info.torchvision)


def train_size(config: dict, dataset: str) -> int:
    """Number of training examples of a prepared dataset, known before it is prepared."""
    if dataset == "mnist1d":
        options = config["datasets"]["mnist1d"]
        num_samples = options["num_samples"] // 10 * 10  # mnist1d makes equal counts per class
        return int(num_samples * options["train_split"])
    return DATASETS[dataset].train_size


def prepare_options(config: dict, dataset: str) -> dict:
    """Options of one prepared dataset; the data root matters only to downloaded ones."""
    options = dict(config["datasets"].get(dataset, {}))
    if DATASETS[dataset].torchvision:
        options.setdefault("download", True)
        options["data_root"] = config["data_root"]
    return options
