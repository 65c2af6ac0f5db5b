"""Rule plot_noise: the label-noise figures, PNG and PDF."""

from deepstudy import store
from deepstudy.noise import plots
from deepstudy.noise.workflow import FIGURES
from deepstudy.runner import rule_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with rule_log(snakemake.log[0]):
    summary = store.open_store(snakemake.input.summary).load()
    outputs = {name: list(snakemake.output[name]) for name in FIGURES}
    plots.draw_all(summary, dict(snakemake.params.plots), outputs)
