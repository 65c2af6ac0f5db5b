"""Rule activation_length: squared activation length at initialisation per width profile and init."""

from deepstudy import store
from deepstudy.activation import analysis
from deepstudy.runner import rule_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with rule_log(snakemake.log[0]):
    options = snakemake.params.activation
    result = analysis.activation_table(
        options["profiles"],
        options["init"],
        options["input_size"],
        options["networks"],
        options["inputs"],
        options["seed"],
    )
    store.write_store(result, snakemake.output.store, snakemake.config, snakemake.rule)
