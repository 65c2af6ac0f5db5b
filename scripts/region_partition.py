"""Rule region_partition: the polygons of one plane, for the first and last checkpoint of a run."""

import torch
from deepstudy import data, store
from deepstudy.checkpoints import checkpoint_epoch, load_checkpoint
from deepstudy.regions import analysis
from deepstudy.runner import rule_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with rule_log(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    options = snakemake.params.probes
    tensors = data.Tensors(store.open_store(snakemake.input.dataset))
    probes = analysis.probe_indices(len(tensors.test_x), **options["probes"])
    anchors = tensors.test_x[torch.as_tensor(probes["plane"][0])]
    nets = {
        checkpoint_epoch(path): load_checkpoint(path, snakemake.params.run)
        for path in snakemake.input.checkpoints
    }
    result = analysis.partition(nets, anchors, options["margin"], options["max_polygons"])
    store.write_store(result, snakemake.output.store, snakemake.config, snakemake.rule)
