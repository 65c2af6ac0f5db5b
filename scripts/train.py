"""Rule train: train the job's runs on their dilution plans; metrics to Zarr, checkpoints to .pt."""

import torch
from deepstudy import data, jobs, store
from deepstudy.runner import rule_log
from deepstudy.training import pick_device

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with rule_log(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    device = pick_device(snakemake.params.device)
    print(f"training on {device} with {snakemake.threads} thread(s)")
    tensors = data.Tensors(store.open_store(snakemake.input.dataset), device)
    source_x = None
    source = list(snakemake.input.get("source", []))  # only source noise has a source dataset
    if source:
        source_x = data.Tensors(store.open_store(source[0]), device).train_x
    metrics = jobs.train_job(
        snakemake.params.runs,
        [store.open_store(path) for path in snakemake.input.plans],
        tensors,
        list(snakemake.output.checkpoints),
        resume_dir=store.store_root(snakemake.output.metrics).parent,
        source_x=source_x,
    )
    metrics.attrs["device"] = str(device)
    store.write_store(metrics, snakemake.output.metrics, snakemake.config)
