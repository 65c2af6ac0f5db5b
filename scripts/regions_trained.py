"""Rules regions_trained and regions_memorised: region statistics of a trained network at each of
its checkpoints (a label-noise run's, or a memorising network's), one store per checkpoint (a job
analyses a pack of them, see deepstudy.regions.workflow.PACKED), on its GPU where it holds one."""

from deepstudy import data, store
from deepstudy.checkpoints import read_checkpoint
from deepstudy.regions import analysis
from deepstudy.training import training_job

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake

with training_job(snakemake, work="analysis") as device:
    tensors = data.Tensors(store.open_store(snakemake.input.dataset))
    test_x = tensors.test_x.to(device)  # only the test split is analysed: only it goes to the GPU
    run = snakemake.params.get("run")  # a member of a pack's checkpoint; regions_memorised has none
    networks = snakemake.params.networks
    for network, checkpoint_path, path in zip(
        networks, snakemake.input.checkpoints, snakemake.output.stores, strict=True
    ):
        checkpoint = read_checkpoint(checkpoint_path, run)
        factors = analysis.typed_factors(network)
        result = analysis.analyse_with_options(  # a diverged run's checkpoint is excluded, with the reason
            checkpoint.net.to(device),
            test_x,
            snakemake.params.probes,
            factors,
            excluded=checkpoint.excluded,
        )
        store.write_store(result, path, snakemake.config, snakemake.rule)
        print(f"analysed {factors}")
    print(f"analysed {len(networks)} networks in one job")
