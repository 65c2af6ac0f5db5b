"""Rule regions_init: region statistics of freshly initialised MLPs, one store per network (a job
analyses a pack of them, see deepstudy.regions.workflow.PACKED), on its GPU where it holds one."""

from deepstudy import data, store
from deepstudy.regions import analysis
from deepstudy.training import training_job

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with training_job(snakemake, work="analysis") as device:
    tensors = data.Tensors(store.open_store(snakemake.input.dataset))
    test_x = tensors.test_x.to(device)  # only the test split is analysed: only it goes to the GPU
    networks = snakemake.params.networks
    for network, path in zip(networks, snakemake.output.stores, strict=True):
        net = analysis.fresh_mlp(
            int(network["depth"]),
            int(network["neurons"]),
            network["init"],
            tensors.input_shape,
            tensors.num_classes,
            int(network["seed"]),
            snakemake.params.bias_std,
        )
        factors = analysis.typed_factors(network)
        result = analysis.analyse_with_options(net.to(device), test_x, snakemake.params.probes, factors)
        store.write_store(result, path, snakemake.config, snakemake.rule)
        print(f"analysed {factors}")
    print(f"analysed {len(networks)} networks in one job")
