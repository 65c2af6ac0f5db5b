"""The activation-length study's workflow: its two stores and figures (Hanin & Rolnick 2018).

Torch-free: the Snakefile imports it to plan jobs. Its options sit in the ``regions`` section of the
config (``regions.activation``, ``regions.trainability``), and it runs with the regions study; its
figures are drawn beside the regions figures.
"""

from __future__ import annotations

from deepstudy.paths import figure_path

PATHS = {
    "activation": "results/regions/activation_length.zarr/zarr.json",
    "trainability": "results/regions/trainability.zarr/zarr.json",
    "figure": figure_path("regions"),  # drawn beside the regions figures
}
FIGURES = ("activation_length", "trainability")
#: The section of the report that holds the figures.
REPORT_CATEGORY = "Activation length"
#: The init that is PyTorch's own default (uniform weights and biases), beside the numbers c.
TORCH_DEFAULT = "torch"
