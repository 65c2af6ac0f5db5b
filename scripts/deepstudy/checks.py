"""What the studies' config checks share: the error they raise, and the checks of a trained model
and of its checkpoint epochs.

Kept apart from :mod:`deepstudy.config` (the schema validation, with jsonschema and PyYAML) so that
the studies' workflow modules, which rule scripts also import, need neither.
"""

from __future__ import annotations

from deepstudy.datasets import DATASETS


class ConfigError(ValueError):
    """A config that the schema or the cross-checks reject; the message starts with the key."""


def check_model(config: dict, key: str, name: str, dataset: str) -> None:
    """A model that a study trains on ``dataset`` is defined, and fits the data (config ``key``)."""
    if name not in config["models"]:
        defined = ", ".join(sorted(config["models"]))
        raise ConfigError(f"config key {key}: unknown model '{name}' (defined in models: {defined})")
    if config["models"][name]["architecture"] == "resnet18" and DATASETS[dataset].example_ndim != 3:
        raise ConfigError(f"config key {key}: resnet18 needs 2D images, but dataset '{dataset}' is 1D")


def check_checkpoint_epochs(epochs: list[int], last: int, key: str) -> None:
    """Checkpoint epochs (config ``key``; the schema makes them unique) ascend, as their files are
    listed, and none is after the ``last`` epoch trained."""
    for i, epoch in enumerate(epochs):
        if i and epoch < epochs[i - 1]:
            raise ConfigError(
                f"config key {key}[{i}]: epoch {epoch} comes after {epochs[i - 1]}; list the epochs in"
                " ascending order"
            )
        if epoch > last:
            raise ConfigError(f"config key {key}[{i}]: epoch {epoch} is after the last epoch ({last})")
