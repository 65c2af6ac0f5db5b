"""Rule collect_regions: every network's region statistics on named dimensions, one store per kind."""

import json

from deepstudy import store
from deepstudy.regions import summary
from deepstudy.regions.workflow import KINDS
from deepstudy.runner import rule_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with rule_log(snakemake.log[0]):
    for kind in KINDS:
        stores = [store.open_store(path) for path in snakemake.input[kind]]
        factors = [json.loads(ds.attrs["factors"]) for ds in stores]
        store.write_store(
            summary.collect(stores, factors), snakemake.output[kind], snakemake.config, snakemake.rule
        )
