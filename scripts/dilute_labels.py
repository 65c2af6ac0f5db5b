"""Rule dilute_labels: the plan of one noisy training set (indices and labels, not images)."""

from deepstudy import store
from deepstudy.noise import plans
from deepstudy.runner import rule_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with rule_log(snakemake.log[0]):
    wildcards = snakemake.wildcards
    dataset = store.open_store(snakemake.input.dataset)
    source_size = 0
    if snakemake.input.source:
        source_size = store.open_store(snakemake.input.source[0]).sizes["train_example"]
    plan = plans.plan_from_options(
        dataset["train_y"].values,
        int(dataset.attrs["num_classes"]),
        wildcards.noise,
        float(wildcards.alpha),
        int(wildcards.n_clean),
        int(wildcards.seed),
        dict(snakemake.params.noise),
        source_size,
        dict(snakemake.params.validation),
    )
    plan.attrs["dataset"] = wildcards.dataset
    store.write_store(plan, snakemake.output.plan, snakemake.config, snakemake.rule)
    print(
        f"wrote {snakemake.output.plan}: {plan.attrs['n_clean']} clean, {plan.attrs['n_noisy']} noisy,"
        f" {plan.sizes['validation_example']} for validation"
    )
