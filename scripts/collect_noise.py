"""Rule collect_noise: all label-noise runs in one Zarr store with named dimensions."""

from deepstudy import store
from deepstudy.noise import summary
from deepstudy.runner import rule_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with rule_log(snakemake.log[0]):
    metrics = [store.open_store(path) for path in snakemake.input.metrics]
    result = summary.collect(metrics)
    store.write_store(result, snakemake.output.summary, snakemake.config, snakemake.rule)
    print(f"wrote {snakemake.output.summary}: {dict(result.sizes)}")
