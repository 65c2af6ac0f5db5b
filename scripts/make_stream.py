"""Rule make_stream: the plan of one task stream (indices, tasks, transformations), as Zarr."""

from deepstudy import store
from deepstudy.continual import streams
from deepstudy.runner import rule_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with rule_log(snakemake.log[0]):
    dataset = store.open_store(snakemake.input.dataset)
    plan = streams.make_stream(
        dataset["train_y"].values,
        dataset["test_y"].values,
        tuple(int(s) for s in dataset.attrs["input_shape"]),
        int(dataset.attrs["num_classes"]),
        snakemake.params.stream,
        int(snakemake.wildcards.seed),
    )
    store.write_store(plan, snakemake.output.plan, snakemake.config, snakemake.rule)
    print(f"wrote {snakemake.output.plan}: {dict(plan.sizes)}")
