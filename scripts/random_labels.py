"""Rule random_labels: a memorisation plan, training images with uniformly random labels."""

from deepstudy import store
from deepstudy.regions import memorise
from deepstudy.runner import rule_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with rule_log(snakemake.log[0]):
    dataset = store.open_store(snakemake.input.dataset)
    plan = memorise.random_label_plan(
        dataset["train_y"].values,
        int(dataset.attrs["num_classes"]),
        int(snakemake.wildcards.n_examples),
        int(snakemake.wildcards.seed),
    )
    plan.attrs["dataset"] = snakemake.wildcards.dataset
    store.write_store(plan, snakemake.output.plan, snakemake.config, snakemake.rule)
