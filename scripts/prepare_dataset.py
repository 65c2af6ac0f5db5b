"""Rule prepare_dataset: build one prepared dataset and store it as Zarr."""

from deepstudy import data, store
from deepstudy.runner import rule_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with rule_log(snakemake.log[0]):
    options = dict(snakemake.params.options)
    prepared = data.prepare(snakemake.wildcards.dataset, options)
    store.write_store(prepared, snakemake.output.store, snakemake.config, snakemake.rule)
    print(f"wrote {snakemake.output.store}: {dict(prepared.sizes)}")
