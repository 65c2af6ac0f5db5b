"""Rule collect_continual: all continual runs in one Zarr store, with the summary metrics."""

from deepstudy import store
from deepstudy.continual import summary
from deepstudy.runner import rule_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with rule_log(snakemake.log[0]):
    metrics = [store.open_store(path) for path in snakemake.input.metrics]
    result = summary.collect(metrics, list(snakemake.params.buffer_sizes))
    store.write_store(result, snakemake.output.summary, snakemake.config, snakemake.rule)
    print(f"wrote {snakemake.output.summary}: {dict(result.sizes)}")
