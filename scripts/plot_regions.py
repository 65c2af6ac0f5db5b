"""Rule plot_regions: the regions figures, PNG and PDF."""

from deepstudy import region_plots, store
from deepstudy.runner import rule_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with rule_log(snakemake.log[0]):
    names = ("init", "trained", "memorised", "partition", "activation", "trainability")
    stores = {name: store.open_store(snakemake.input[name]).load() for name in names}
    outputs = {
        name: list(snakemake.output[name])
        for name in (
            "regions_per_length",
            "regions_through_training",
            "distance_to_boundary",
            "patterns_2d",
            "partition",
            "activation_length",
            "trainability",
        )
    }
    region_plots.draw_all(stores, outputs)
