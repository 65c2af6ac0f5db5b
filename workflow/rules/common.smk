# Helpers shared by the rules: config validation, the run grid, paths and per-job parameters.
from deepstudy.config import ConfigError, load_schema, runs, validate


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


NOISE_RUNS = runs(config["noise"]["grid"]) if "noise" in config else []
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


NOISE_RUNS_BY_LABEL = {
    tuple(labelled(run)[f] for f in NOISE_FACTORS): run for run in NOISE_RUNS
}


def noise_run(wildcards):
    """The grid run that a training job trains."""
    return NOISE_RUNS_BY_LABEL[tuple(wildcards[f] for f in NOISE_FACTORS)]


def noise_plan(wildcards):
    """The dilution plan a training job reads."""
    return expand(
        NOISE_PATHS["plan"],
        dataset=config["noise"]["dataset"],
        noise=wildcards.noise,
        alpha=wildcards.alpha,
        n_clean=wildcards.n_clean,
        seed=wildcards.seed,
    )


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


def train_runs(wildcards):
    """The run specs one training job trains (one grid run here; the script takes a list)."""
    run = noise_run(wildcards)
    training = config["noise"]["training"]
    return [
        dict(
            name="_".join(f"{key}{value}" for key, value in labelled(run).items()),
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
    ]


def noise_metrics():
    """Metric stores of every run of the grid."""
    return [NOISE_PATHS["metrics"].format(**labelled(run)) for run in NOISE_RUNS]


def noise_figures():
    return expand(
        "results/figures/noise/{figure}.{ext}",
        figure=("accuracy_vs_alpha", "batch_size", "clean_needed"),
        ext=("png", "pdf"),
    )


def noise_targets():
    if "noise" not in config:
        return []
    return ["results/noise/summary.zarr/zarr.json", *noise_figures()]
