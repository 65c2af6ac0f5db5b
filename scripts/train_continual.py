"""Rule train_continual: train the job's runs on a task stream; results to Zarr."""

import torch
from deepstudy import data, store
from deepstudy.continual.job import continual_job
from deepstudy.runner import rule_log
from deepstudy.training import pick_device

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with rule_log(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    device = pick_device(snakemake.params.device)
    print(f"training on {device} with {snakemake.threads} thread(s)")
    tensors = data.Tensors(store.open_store(snakemake.input.dataset), device)
    metrics = continual_job(
        snakemake.params.runs,
        store.open_store(snakemake.input.plan),
        tensors,
        resume_dir=store.store_root(snakemake.output.metrics).parent,
    )
    metrics.attrs["device"] = str(device)
    store.write_store(metrics, snakemake.output.metrics, snakemake.config)
