"""Rule plot_continual: the continual-learning figures from the summary store."""

from deepstudy import store
from deepstudy.continual import plots
from deepstudy.continual.workflow import FIGURES
from deepstudy.runner import rule_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with rule_log(snakemake.log[0]):
    summary = store.open_store(snakemake.input.summary)
    outputs = {name: list(snakemake.output[name]) for name in FIGURES}
    plots.draw_all(summary, dict(snakemake.params.plots), outputs)
