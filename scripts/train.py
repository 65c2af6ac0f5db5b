"""Rule train: train the job's runs on their dilution plans; metrics to Zarr, checkpoints to .pt."""

from deepstudy import data, plan_training, store
from deepstudy.noise.sources import source_images
from deepstudy.training import training_job

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with training_job(snakemake) as device:
    tensors = data.Tensors(store.open_store(snakemake.input.dataset), device)
    source_x = None
    if snakemake.input.source:  # only source noise from another dataset has one
        source_x = data.Tensors(store.open_store(snakemake.input.source[0]), device).train_x
    plans = [store.open_store(path) for path in snakemake.input.plans]
    metrics = plan_training.train_job(
        snakemake.params.runs,
        plans,
        tensors,
        list(snakemake.output.checkpoints),
        resume_dir=store.store_root(snakemake.output.metrics).parent,
        sources=[source_images(plan, tensors.input_shape, source_x) for plan in plans],
        cuda_graphs=snakemake.config["cuda_graphs"],
    )
    metrics.attrs["device"] = str(device)
    store.write_store(metrics, snakemake.output.metrics, snakemake.config, snakemake.rule)
