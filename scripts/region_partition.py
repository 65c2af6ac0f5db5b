"""Rule region_partition: the polygons of one plane, for the first and last checkpoint of a run."""

import torch
from deepstudy import data, store
from deepstudy.checkpoints import read_checkpoint
from deepstudy.regions import analysis
from deepstudy.runner import rule_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with rule_log(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    options = snakemake.params.probes
    tensors = data.Tensors(store.open_store(snakemake.input.dataset))
    probes = analysis.probe_indices(len(tensors.test_x), **options["probes"])
    anchors = tensors.test_x[torch.as_tensor(probes["plane"][0])]
    checkpoints = [read_checkpoint(path, snakemake.params.run) for path in snakemake.input.checkpoints]
    result = analysis.partition(
        {c.epoch: c.net for c in checkpoints},
        anchors,
        options["margin"],
        options["max_polygons"],
        excluded={c.epoch: c.excluded for c in checkpoints},
    )
    store.write_store(result, snakemake.output.store, snakemake.config, snakemake.rule)
