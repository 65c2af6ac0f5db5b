"""Rule regions_init: region statistics of one freshly initialised MLP."""

import torch
from deepstudy import data, store
from deepstudy.regions import analysis
from deepstudy.runner import rule_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with rule_log(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    wildcards = snakemake.wildcards
    tensors = data.Tensors(store.open_store(snakemake.input.dataset))
    net = analysis.fresh_mlp(
        int(wildcards.depth),
        int(wildcards.neurons),
        wildcards.init,
        tensors.input_shape,
        tensors.num_classes,
        int(wildcards.seed),
        snakemake.params.bias_std,
    )
    result = analysis.analyse_with_options(
        net,
        tensors.test_x,
        snakemake.params.probes,
        analysis.typed_factors(dict(snakemake.wildcards.items())),
    )
    store.write_store(result, snakemake.output.store, snakemake.config, snakemake.rule)
