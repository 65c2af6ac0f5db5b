"""Rule memorise: train a fresh network on random labels; metrics to Zarr, checkpoints to .pt."""

from deepstudy import data, plan_training, store
from deepstudy.training import training_job

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with training_job(snakemake) as device:
    tensors = data.Tensors(store.open_store(snakemake.input.dataset), device)
    metrics = plan_training.train_job(
        snakemake.params.runs,
        [store.open_store(path) for path in snakemake.input.plans],
        tensors,
        list(snakemake.output.checkpoints),
        resume_dir=store.store_root(snakemake.output.metrics).parent,
    )
    metrics.attrs["device"] = str(device)
    store.write_store(metrics, snakemake.output.metrics, snakemake.config, snakemake.rule)
