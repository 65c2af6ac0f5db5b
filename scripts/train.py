"""Rule train: train the job's runs on their dilution plans; metrics to Zarr, checkpoints to .pt."""

from deepstudy import data, jobs, store
from deepstudy.gpus import training_slot
from deepstudy.runner import rule_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

gpus = snakemake.resources.get("gpu", 0), snakemake.config.get("gpus", "auto")
with rule_log(snakemake.log[0]), training_slot(*gpus, snakemake.params.device, snakemake.threads) as device:
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
