"""Rule regions_init: region statistics of one freshly initialised MLP."""

import json

import torch
from deepstudy import data, region_study, store
from deepstudy.runner import rule_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with rule_log(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    wildcards, options = snakemake.wildcards, snakemake.params.probes
    tensors = data.Tensors(store.open_store(snakemake.input.dataset))
    net = region_study.fresh_mlp(
        int(wildcards.depth),
        int(wildcards.neurons),
        wildcards.init,
        tensors.input_shape,
        tensors.num_classes,
        int(wildcards.seed),
    )
    probes = region_study.probe_indices(len(tensors.test_x), **options["probes"])
    result = region_study.analyse(
        net, tensors.test_x, probes, options["margin"], options["grid_resolution"], options["max_polygons"]
    )
    result.attrs["factors"] = json.dumps(region_study.typed_factors(dict(snakemake.wildcards.items())))
    store.write_store(result, snakemake.output.store, snakemake.config)
