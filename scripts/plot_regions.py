"""Rule plot_regions: the regions and activation-length figures, PNG and PDF."""

from deepstudy import store
from deepstudy.activation import plots as activation_plots
from deepstudy.activation import workflow as activation_workflow
from deepstudy.regions import plots as regions_plots
from deepstudy.regions import workflow as regions_workflow
from deepstudy.runner import rule_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with rule_log(snakemake.log[0]):
    names = (*regions_workflow.KINDS, "partition", "activation", "trainability")
    stores = {name: store.open_store(snakemake.input[name]).load() for name in names}
    for study, plots in ((regions_workflow, regions_plots), (activation_workflow, activation_plots)):
        plots.draw_all(stores, {name: list(snakemake.output[name]) for name in study.FIGURES})
