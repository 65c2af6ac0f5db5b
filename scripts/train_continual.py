"""Rule train_continual: train the job's runs on a task stream; results to Zarr."""

import os

from deepstudy import data, store
from deepstudy.continual.job import continual_job
from deepstudy.gpus import gpu_slot, job_gpu_ids
from deepstudy.runner import rule_log
from deepstudy.training import training_device

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

gpus = job_gpu_ids(snakemake.resources.get("gpu", 0), snakemake.config.get("gpus", "auto"))
with rule_log(snakemake.log[0]), gpu_slot(gpus) as gpu:
    device = training_device(snakemake.params.device, snakemake.threads)
    print(f"GPU slot: {gpu} (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')})")
    tensors = data.Tensors(store.open_store(snakemake.input.dataset), device)
    metrics = continual_job(
        snakemake.params.runs,
        store.open_store(snakemake.input.plan),
        tensors,
        resume_dir=store.store_root(snakemake.output.metrics).parent,
    )
    metrics.attrs["device"] = str(device)
    store.write_store(metrics, snakemake.output.metrics, snakemake.config)
