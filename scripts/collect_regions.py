"""Rule collect_regions: every network's region statistics on named dimensions, in two stores."""

import json

from deepstudy import region_study, store
from deepstudy.runner import rule_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

INIT_FACTORS = ("depth", "neurons", "init", "seed")
TRAINED_FACTORS = ("model", "noise", "alpha", "n_clean", "batch_size", "lr", "seed", "epoch")


with rule_log(snakemake.log[0]):
    for kind, names in (("init", INIT_FACTORS), ("trained", TRAINED_FACTORS)):
        paths = list(snakemake.input[kind])
        stores = [store.open_store(path) for path in paths]
        factors = [dict(zip(names, json.loads(ds.attrs["factors"]), strict=True)) for ds in stores]
        store.write_store(region_study.collect(stores, factors), snakemake.output[kind], snakemake.config)
