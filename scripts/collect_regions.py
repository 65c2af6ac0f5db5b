"""Rule collect_regions: every network's region statistics on named dimensions, one store per kind."""

import json

from deepstudy import region_summary, store
from deepstudy.runner import rule_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with rule_log(snakemake.log[0]):
    for kind in ("init", "trained", "memorised"):
        stores = [store.open_store(path) for path in snakemake.input[kind]]
        factors = [json.loads(ds.attrs["factors"]) for ds in stores]
        store.write_store(region_summary.collect(stores, factors), snakemake.output[kind], snakemake.config)
