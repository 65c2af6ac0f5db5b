# Helpers shared by the rules: config validation, the run grid, paths and per-job parameters.
import itertools

from deepstudy.config import ConfigError, load_schema, packs, runs, validate


try:
    validate(config, load_schema(workflow.source_path("../schemas/config.schema.yaml")))
except ConfigError as error:
    raise WorkflowError(str(error)) from None


def number_label(value):
    """A number as it appears in paths: 10 for 10 and 10.0, 0.05 for 0.05."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def gpu_count():
    """GPUs a training job asks the scheduler for."""
    return 0 if config["device"] == "cpu" else 1


def dataset_options(wildcards):
    """Options of one prepared dataset; the data root matters only to downloaded ones."""
    options = dict(config["datasets"].get(wildcards.dataset, {}))
    if wildcards.dataset != "mnist1d":
        options.setdefault("download", True)
        options["data_root"] = config["data_root"]
    return options


NOISE_RUNS = runs(config["noise"]["grid"]) if "noise" in config["studies"] else []
NOISE_FACTORS = ("model", "noise", "alpha", "n_clean", "batch_size", "lr", "seed")
# Zarr stores are directories; rules declare their root metadata file, zarr.json, so that Snakemake
# leaves no marker file inside the store (see deepstudy.store.store_root).
NOISE_PATHS = {
    "dataset": "results/datasets/{dataset}.zarr/zarr.json",
    "plan": "results/noise/plans/{dataset}/{noise}/alpha{alpha}_nclean{n_clean}_seed{seed}.zarr/zarr.json",
    "metrics": "results/noise/runs/{model}/{noise}/alpha{alpha}_nclean{n_clean}_bs{batch_size}_lr{lr}/seed{seed}/metrics.zarr/zarr.json",
    "checkpoint": "results/noise/runs/{model}/{noise}/alpha{alpha}_nclean{n_clean}_bs{batch_size}_lr{lr}/seed{seed}/epoch{epoch}.pt",
}


def labelled(run):
    """A run's factors as they appear in paths and wildcards."""
    return {
        key: value if key in ("model", "noise") else number_label(value)
        for key, value in run.items()
    }


def run_key(run):
    """A run's factors as labels, in NOISE_FACTORS order: how wildcards name a run."""
    return tuple(labelled(run)[f] for f in NOISE_FACTORS)


def run_name(run):
    return "_".join(f"{key}{value}" for key, value in labelled(run).items())


# Trainings that share model, noise, alpha, clean-set size and batch size differ only in learning
# rate and seed and can train in one process (deepstudy.packing); noise.training.pack says how many.
# A pack is named by its first run (its leader), whose paths hold the whole pack's outputs.
NOISE_PACKS = {run_key(pack[0]): pack for pack in packs(NOISE_RUNS, config)}
PACK_LEADER = {run_key(run): pack[0] for pack in NOISE_PACKS.values() for run in pack}
NOISE_RUNS_BY_KEY = {run_key(run): run for run in NOISE_RUNS}


def noise_dataset(wildcards):
    """The prepared dataset the label-noise study dilutes."""
    return NOISE_PATHS["dataset"].format(dataset=config["noise"]["dataset"])


def noise_source_stores(wildcards):
    """The prepared dataset that source noise draws its images from, if any."""
    images = config["noise"]["source"]["images"]
    if wildcards.noise == "source" and images != "random":
        return expand(NOISE_PATHS["dataset"], dataset=images)
    return []


def dilution_params(wildcards):
    """Only the options of the plan's own noise kind, so changing one reruns only its plans."""
    if wildcards.noise == "structured":
        return dict(config["noise"]["structured"])
    if wildcards.noise == "source":
        return dict(config["noise"]["source"])
    return {}


def pack_runs(wildcards):
    """The runs of the pack that a training job (named by the pack's leader) trains."""
    return NOISE_PACKS[tuple(wildcards[f] for f in NOISE_FACTORS)]


def noise_plan(wildcards):
    """The dilution plans a training job reads, one per run of its pack."""
    return [
        NOISE_PATHS["plan"].format(dataset=config["noise"]["dataset"], **labelled(run))
        for run in pack_runs(wildcards)
    ]


def train_runs(wildcards):
    """The run specs one training job trains: its pack's runs, in order."""
    training = config["noise"]["training"]
    return [
        dict(
            name=run_name(run),
            model=config["models"][run["model"]],
            seed=run["seed"],
            lr=run["lr"],
            batch_size=run["batch_size"],
            epochs=training["epochs"],
            optimizer=training["optimizer"],
            momentum=training["momentum"],
            weight_decay=training["weight_decay"],
            epoch_examples=training["epoch_examples"],
            checkpoint_epochs=sorted(training["checkpoint_epochs"]),
            factors=run,
        )
        for run in pack_runs(wildcards)
    ]


def noise_metrics():
    """Metric stores of every training job (one per pack, holding its runs along ``run``)."""
    return [NOISE_PATHS["metrics"].format(**labelled(pack[0])) for pack in NOISE_PACKS.values()]


def noise_figures():
    return expand(
        "results/figures/noise/{figure}.{ext}",
        figure=("accuracy_vs_alpha", "batch_size", "clean_needed"),
        ext=("png", "pdf"),
    )


def noise_targets():
    if "noise" not in config["studies"]:
        return []
    return ["results/noise/summary.zarr/zarr.json", *noise_figures()]


# --------------------------------------------------------------------------------------------
# The regions study
# --------------------------------------------------------------------------------------------

REGION_PATHS = {
    "init": "results/regions/init/depth{depth}_neurons{neurons}_{init}/seed{seed}.zarr/zarr.json",
    "trained": "results/regions/trained/{model}/{noise}/alpha{alpha}_nclean{n_clean}_bs{batch_size}_lr{lr}/seed{seed}/epoch{epoch}.zarr/zarr.json",
    "activation": "results/regions/activation_length.zarr/zarr.json",
    "trainability": "results/regions/trainability.zarr/zarr.json",
    "random_labels": "results/regions/memorise/plans/{dataset}/n{n_examples}_seed{seed}.zarr/zarr.json",
    "memorise_metrics": "results/regions/memorise/depth{depth}_neurons{neurons}_{init}/seed{seed}/metrics.zarr/zarr.json",
    "memorise_checkpoint": "results/regions/memorise/depth{depth}_neurons{neurons}_{init}/seed{seed}/epoch{epoch}.pt",
    "memorised": "results/regions/memorised/depth{depth}_neurons{neurons}_{init}/seed{seed}/epoch{epoch}.zarr/zarr.json",
}
REGION_FACTORS = ("depth", "neurons", "init", "seed")


def region_dataset(wildcards):
    """The prepared dataset whose test split anchors the lines, planes and points."""
    return NOISE_PATHS["dataset"].format(dataset=config["regions"]["dataset"])


def region_probe_params(wildcards):
    """What the analysis of one network depends on, besides the network itself."""
    study = config["regions"]
    return {key: study[key] for key in ("probes", "margin", "grid_resolution", "max_polygons")}


def region_init_networks():
    """Fresh networks of the study: depth × total neurons × init × seed."""
    study = config["regions"]["init"]
    return [
        dict(zip(REGION_FACTORS, values))
        for values in itertools.product(*(study[f] for f in REGION_FACTORS))
    ]


def region_init_targets():
    return [
        REGION_PATHS["init"].format(**{k: number_label(v) if k != "init" else v for k, v in n.items()})
        for n in region_init_networks()
    ]


def region_trained_runs():
    """Runs of the label-noise grid whose checkpoints the regions study analyses."""
    selector = config["regions"]["trained"]
    return [
        run
        for run in NOISE_RUNS
        if all(run[factor] in values for factor, values in selector.items())
    ]


def region_trained_targets():
    return [
        REGION_PATHS["trained"].format(epoch=epoch, **labelled(run))
        for run in region_trained_runs()
        for epoch in config["noise"]["training"]["checkpoint_epochs"]
    ]


def leader_checkpoint(run, epoch):
    """The checkpoint file that holds ``run`` at ``epoch``: its pack's."""
    return NOISE_PATHS["checkpoint"].format(epoch=epoch, **labelled(PACK_LEADER[run_key(run)]))


def region_checkpoint(wildcards):
    """The checkpoint file of the label-noise run that one trained analysis reads."""
    return leader_checkpoint(NOISE_RUNS_BY_KEY[tuple(wildcards[f] for f in NOISE_FACTORS)], wildcards.epoch)


def region_checkpoint_run(wildcards):
    """The name of that run inside its (pack's) checkpoint file."""
    return run_name(NOISE_RUNS_BY_KEY[tuple(wildcards[f] for f in NOISE_FACTORS)])


def memorise_networks():
    """The fresh networks' architectures, trained to memorise random labels (one per seed)."""
    study = config["regions"]
    return [
        dict(zip(REGION_FACTORS, values))
        for values in itertools.product(
            study["init"]["depth"], study["init"]["neurons"], study["init"]["init"], study["memorise"]["seed"]
        )
    ]


def memorised_targets():
    return [
        REGION_PATHS["memorised"].format(
            epoch=epoch, **{k: number_label(v) if k != "init" else v for k, v in network.items()}
        )
        for network in memorise_networks()
        for epoch in config["regions"]["memorise"]["checkpoint_epochs"]
    ]


def memorise_plan(wildcards):
    """The memorisation plan of a training job, as a list: the train script takes one per run."""
    return [
        REGION_PATHS["random_labels"].format(
            dataset=config["regions"]["dataset"],
            n_examples=config["regions"]["memorise"]["n_examples"],
            seed=wildcards.seed,
        )
    ]


def memorise_runs(wildcards):
    """The run spec of one memorisation training (the train script takes a list)."""
    options = config["regions"]["memorise"]
    depth, neurons = int(wildcards.depth), int(wildcards.neurons)
    return [
        dict(
            name=f"memorise_depth{depth}_neurons{neurons}_{wildcards.init}_seed{wildcards.seed}",
            model={"architecture": "mlp", "depth": depth, "width": neurons // depth, "init": wildcards.init},
            seed=int(wildcards.seed),
            lr=options["lr"],
            batch_size=options["batch_size"],
            epochs=options["epochs"],
            optimizer="sgd",
            momentum=options["momentum"],
            weight_decay=0.0,
            epoch_examples=options["epoch_examples"],
            checkpoint_epochs=sorted(options["checkpoint_epochs"]),
            factors={"depth": depth, "neurons": neurons, "init": wildcards.init, "seed": int(wildcards.seed)},
        )
    ]


def memorised_checkpoint(wildcards):
    return REGION_PATHS["memorise_checkpoint"].format(**wildcards)


def region_targets():
    if "regions" not in config["studies"]:
        return []
    return [
        "results/regions/init.zarr/zarr.json",
        "results/regions/memorised.zarr/zarr.json",
        "results/regions/trained.zarr/zarr.json",
        REGION_PATHS["activation"],
        REGION_PATHS["trainability"],
        *region_figures(),
    ]


def region_figures():
    return expand(
        "results/figures/regions/{figure}.{ext}",
        figure=(
            "regions_per_length",
            "regions_through_training",
            "distance_to_boundary",
            "patterns_2d",
            "partition",
            "activation_length",
            "trainability",
        ),
        ext=("png", "pdf"),
    )


def region_partition_checkpoints(wildcards):
    """First and last checkpoint of the first trained run: the partition before and after."""
    run = region_trained_runs()[0]
    epochs = sorted(config["noise"]["training"]["checkpoint_epochs"])
    return [leader_checkpoint(run, e) for e in (epochs[0], epochs[-1])]


def region_partition_run(wildcards):
    return run_name(region_trained_runs()[0])


def region_activation_params(wildcards):
    return config["regions"]["activation"]


def region_trainability_params(wildcards):
    return config["regions"]["trainability"]


# --------------------------------------------------------------------------------------------
# The continual-learning study
# --------------------------------------------------------------------------------------------

from deepstudy.continual.catalogue import REPLAY_STRATEGIES

CONTINUAL_PATHS = {
    "stream": "results/continual/streams/{dataset}/{stream}_seed{seed}.zarr/zarr.json",
    "metrics": "results/continual/runs/{stream}/{strategy}/buffer{buffer}/seed{seed}/metrics.zarr/zarr.json",
    "summary": "results/continual/summary.zarr/zarr.json",
}


def buffer_labels():
    """The swept buffer sizes as they appear in paths and in the summary's buffer_size dimension."""
    return [str(size) for size in config["continual"]["buffer_size"]]


def continual_runs():
    """Every (stream, strategy, buffer, seed) of the study; buffer-free strategies run once, 'none'."""
    study = config["continual"]
    result = []
    for stream, strategy, seed in itertools.product(study["streams"], study["strategies"], study["seed"]):
        buffers = buffer_labels() if strategy in REPLAY_STRATEGIES else ["none"]
        result += [dict(stream=stream, strategy=strategy, buffer=b, seed=seed) for b in buffers]
    return result


def continual_metrics():
    """Metric stores of every continual run."""
    return [CONTINUAL_PATHS["metrics"].format(**run) for run in continual_runs()]


def continual_dataset(wildcards):
    return NOISE_PATHS["dataset"].format(dataset=config["continual"]["dataset"])


def continual_stream(wildcards):
    """The stream plan a continual job trains on."""
    return CONTINUAL_PATHS["stream"].format(
        dataset=config["continual"]["dataset"], stream=wildcards.stream, seed=wildcards.seed
    )


def stream_options(wildcards):
    """Only this stream's options, so editing one stream remakes only its plans."""
    return dict(config["continual"]["streams"][wildcards.stream])


def continual_train_runs(wildcards):
    """The run specs of one continual job (one run here; the script takes a list). Only the
    strategy's own options enter, so changing CLEAR's weights reruns only CLEAR."""
    study = config["continual"]
    training = study["training"]
    strategy, buffer = wildcards.strategy, wildcards.buffer
    return [
        dict(
            name=f"{wildcards.stream}_{strategy}_buffer{buffer}_seed{wildcards.seed}",
            model=config["models"][study["model"]],
            strategy=strategy,
            seed=int(wildcards.seed),
            lr=training["lr"],
            batch_size=training["batch_size"],
            buffer_size=int(buffer) if buffer.isdigit() else None,
            strategy_options=dict(study.get(strategy, {})),
            optimizer=training["optimizer"],
            momentum=training["momentum"],
            weight_decay=training["weight_decay"],
            eval_every=training["eval_every"],
            scenarios=list(study["streams"][wildcards.stream]["scenarios"]),
            factors=dict(stream=wildcards.stream, strategy=strategy, buffer_size=buffer, seed=int(wildcards.seed)),
        )
    ]


def continual_figures():
    return expand(
        "results/figures/continual/{figure}.{ext}",
        figure=("along_stream", "accuracy_matrix", "buffer_size"),
        ext=("png", "pdf"),
    )


def continual_targets():
    if "continual" not in config["studies"]:
        return []
    return [CONTINUAL_PATHS["summary"], *continual_figures()]
