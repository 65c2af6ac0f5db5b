"""Rule memorise: train fresh networks (every width of one depth, init and seed) on random labels,
one after another in this process; each one's metrics to Zarr, its checkpoints to .pt."""

from deepstudy import data, plan_training, store
from deepstudy.training import training_job

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with training_job(snakemake) as device:
    tensors = data.Tensors(store.open_store(snakemake.input.dataset), device)
    plans = [store.open_store(path) for path in snakemake.input.plans]
    runs, stores = snakemake.params.runs, list(snakemake.output.metrics)
    per_run = len(snakemake.output.checkpoints) // len(runs)  # width by width, as memorise_outputs lists them
    for i, (run, path) in enumerate(zip(runs, stores, strict=True)):
        metrics = plan_training.train_job(
            [run],
            plans,
            tensors,
            list(snakemake.output.checkpoints[i * per_run : (i + 1) * per_run]),
            resume_dir=store.store_root(path).parent,
        )
        metrics.attrs["device"] = str(device)
        store.write_store(metrics, path, snakemake.config, snakemake.rule)
