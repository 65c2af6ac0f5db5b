"""Rule train_continual: train the job's runs on a task stream; results to Zarr."""

from deepstudy import data, store
from deepstudy.continual.job import continual_job
from deepstudy.training import training_job

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with training_job(snakemake) as device:
    tensors = data.Tensors(store.open_store(snakemake.input.dataset), device)
    metrics = continual_job(
        snakemake.params.runs,
        [store.open_store(path) for path in snakemake.input.plans],
        tensors,
        resume_dir=store.store_root(snakemake.output.metrics).parent,
    )
    metrics.attrs["device"] = str(device)
    store.write_store(metrics, snakemake.output.metrics, snakemake.config, snakemake.rule)
