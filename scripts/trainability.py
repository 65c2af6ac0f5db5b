"""Rule trainability: does training start, over depth × width of constant-width MLPs."""

import torch
from deepstudy import data, store
from deepstudy.activation import analysis
from deepstudy.runner import rule_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with rule_log(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    tensors = data.Tensors(store.open_store(snakemake.input.dataset))
    result = analysis.trainability_map(
        tensors.train_x, tensors.train_y, tensors.num_classes, dict(snakemake.params.trainability)
    )
    store.write_store(result, snakemake.output.store, snakemake.config, snakemake.rule)
