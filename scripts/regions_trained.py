"""Rule regions_trained: region statistics of one checkpoint of a label-noise run."""

import torch
from deepstudy import data, store
from deepstudy.checkpoints import read_checkpoint
from deepstudy.regions import analysis
from deepstudy.runner import rule_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with rule_log(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    tensors = data.Tensors(store.open_store(snakemake.input.dataset))
    run = snakemake.params.get("run")  # a member of a pack's checkpoint; regions_memorised has none
    checkpoint = read_checkpoint(snakemake.input.checkpoint, run)
    result = analysis.analyse_with_options(  # a diverged run's checkpoint is excluded, with the reason
        checkpoint.net,
        tensors.test_x,
        snakemake.params.probes,
        analysis.typed_factors(dict(snakemake.wildcards.items())),
        excluded=checkpoint.excluded,
    )
    store.write_store(result, snakemake.output.store, snakemake.config, snakemake.rule)
