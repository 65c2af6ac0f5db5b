"""The regions study's workflow: its networks, the noise runs it analyses, paths and figures.

Torch-free: the Snakefile imports it to plan jobs. Fresh networks are MLPs named by
:data:`FACTORS` (depth, hidden neurons in all, init, seed), with small normal biases
(``regions.bias_std``), analysed at initialisation and, trained to memorise random labels, at each
memorisation checkpoint. Trained networks are runs of the label-noise study, chosen by
``regions.trained`` and read from that study's checkpoints, which the rules take from the noise
study's workflow.
"""

from __future__ import annotations

import itertools
import string

from deepstudy.checks import ConfigError, check_checkpoint_epochs
from deepstudy.paths import CHECKPOINT_FILE, figure_path, labels

#: A fresh network's factors, in the order of the config's product and of its path.
FACTORS = ("depth", "neurons", "init", "seed")

_NETWORK = "depth{depth}_neurons{neurons}_{init}/seed{seed}"
_NOISE_RUN = "{model}/{noise}/alpha{alpha}_nclean{n_clean}_bs{batch_size}_lr{lr}/seed{seed}"
PATHS = {
    "init": f"results/regions/init/{_NETWORK}.zarr/zarr.json",
    "trained": f"results/regions/trained/{_NOISE_RUN}/epoch{{epoch}}.zarr/zarr.json",
    "random_labels": "results/regions/memorise/plans/{dataset}/n{n_examples}_seed{seed}.zarr/zarr.json",
    "memorise_metrics": f"results/regions/memorise/{_NETWORK}/metrics.zarr/zarr.json",
    "memorise_checkpoint": f"results/regions/memorise/{_NETWORK}/{CHECKPOINT_FILE}",
    "memorised": f"results/regions/memorised/{_NETWORK}/epoch{{epoch}}.zarr/zarr.json",
    "partition": "results/regions/partition.zarr/zarr.json",
    "init_summary": "results/regions/init.zarr/zarr.json",
    "trained_summary": "results/regions/trained.zarr/zarr.json",
    "memorised_summary": "results/regions/memorised.zarr/zarr.json",
    "figure": figure_path("regions"),
}
#: The kinds of analysed network, each collected into its own summary store.
KINDS = ("init", "trained", "memorised")
FIGURES = (
    "regions_per_length",
    "regions_through_training",
    "distance_to_boundary",
    "patterns_2d",
    "partition",
)
#: The section of the report that holds the figures.
REPORT_CATEGORY = "Linear regions"
#: The options that every analysis of a network depends on, besides the network itself.
PROBE_OPTIONS = ("probes", "margin", "grid_resolution", "max_polygons")
#: The factors whose every value one job of each kind analyses, one store per network: a job per
#: value of the other factors of the kind's path (its wildcards), so that a job's start-up (imports,
#: the compiled kernels, the dataset: about 3 s on a CPU) is paid once for several networks.
PACKED = {"init": ("neurons", "seed"), "memorised": ("neurons", "epoch"), "trained": ("epoch",)}


def init_networks(config: dict) -> list[dict]:
    """Fresh networks of the study: depth × total neurons × init × seed."""
    study = config["regions"]["init"]
    return [
        dict(zip(FACTORS, values, strict=True)) for values in itertools.product(*(study[f] for f in FACTORS))
    ]


def memorise_networks(config: dict) -> list[dict]:
    """The fresh networks' architectures, trained to memorise random labels (one per memorise seed)."""
    study = config["regions"]
    return [
        dict(zip(FACTORS, values, strict=True))
        for values in itertools.product(
            study["init"]["depth"], study["init"]["neurons"], study["init"]["init"], study["memorise"]["seed"]
        )
    ]


def width(depth: int, neurons: int) -> int:
    """Neurons per hidden layer of an MLP of ``neurons`` in all, split evenly over ``depth`` layers."""
    if neurons % depth:
        raise ValueError(f"{neurons} neurons do not split evenly over {depth} layers")
    return neurons // depth


def fresh_spec(depth: int, neurons: int, init: str, bias_std: float) -> dict:
    """The model spec of a fresh network of the study (for ``deepstudy.models.build_model``): an MLP
    of ``neurons`` split over ``depth`` layers, biases drawn with ``regions.bias_std``."""
    return {
        "architecture": "mlp",
        "depth": depth,
        "width": width(depth, neurons),
        "init": init,
        "bias_std": bias_std,
    }


def selects(selector: dict, run: dict) -> bool:
    """Whether ``regions.trained`` (factor -> values) selects a run of the noise grid."""
    return all(run[factor] in values for factor, values in selector.items())


def trained_runs(noise_runs: list[dict], config: dict) -> list[dict]:
    """The runs of the label-noise grid whose checkpoints the study analyses."""
    return [run for run in noise_runs if selects(config["regions"]["trained"], run)]


def first_and_last(epochs: list[int]) -> tuple[int, int]:
    """The first and the last of some checkpoint epochs."""
    return min(epochs), max(epochs)


def probe_options(config: dict) -> dict:
    """What the analysis of one network depends on, besides the network itself."""
    return {key: config["regions"][key] for key in PROBE_OPTIONS}


def init_paths(config: dict) -> list[str]:
    return [PATHS["init"].format(**labels(network)) for network in init_networks(config)]


def trained_paths(noise_runs: list[dict], config: dict) -> list[str]:
    epochs = config["noise"]["training"]["checkpoint_epochs"]
    return [
        PATHS["trained"].format(epoch=epoch, **labels(run))
        for run in trained_runs(noise_runs, config)
        for epoch in epochs
    ]


def memorised_paths(config: dict) -> list[str]:
    epochs = config["regions"]["memorise"]["checkpoint_epochs"]
    return [
        PATHS["memorised"].format(epoch=epoch, **labels(network))
        for network in memorise_networks(config)
        for epoch in epochs
    ]


def _packed_values(kind: str, config: dict) -> dict[str, list]:
    """The values of a kind's :data:`PACKED` factors, as the config lists them."""
    study = config["regions"]
    trained = study["memorise"] if kind == "memorised" else config["noise"]["training"]
    values = {
        "neurons": study["init"]["neurons"],
        "seed": study["init"]["seed"],
        "epoch": trained["checkpoint_epochs"],
    }
    return {factor: values[factor] for factor in PACKED[kind]}


def pack_members(kind: str, config: dict) -> list[dict[str, str]]:
    """The packed factors' values (as in paths) of each network of a job of ``kind``, in config order."""
    values = _packed_values(kind, config)
    return [
        labels(dict(zip(values, combination, strict=True)))
        for combination in itertools.product(*values.values())
    ]


class _Open(dict):
    """Path fields to fill in; a field it lacks stays a wildcard."""

    def __missing__(self, key: str) -> str:
        return f"{{{key}}}"


def pack_outputs(kind: str, config: dict) -> list[str]:
    """The output stores of a job of ``kind``: one per member (:func:`pack_members`), the job's
    wildcards (the factors not packed) left open."""
    return [PATHS[kind].format_map(_Open(member)) for member in pack_members(kind, config)]


def pack_networks(kind: str, config: dict, wildcards) -> list[dict[str, str]]:
    """The networks that the job of ``kind`` named by ``wildcards`` analyses, each as its factors'
    values in paths (in the order of its path's fields), in the order of the job's outputs."""
    job = dict(wildcards.items())
    names = [name for _, name, _, _ in string.Formatter().parse(PATHS[kind]) if name]
    return [
        {name: member[name] if name in member else job[name] for name in names}
        for member in pack_members(kind, config)
    ]


def memorised_checkpoints(config: dict, wildcards) -> list[str]:
    """The memorisation checkpoint of each network of a ``regions_memorised`` job, in output order."""
    return [
        PATHS["memorise_checkpoint"].format(**network)
        for network in pack_networks("memorised", config, wildcards)
    ]


def random_labels_path(config: dict, seed) -> str:
    """The memorisation plan of the networks of one seed."""
    study = config["regions"]
    return PATHS["random_labels"].format(
        dataset=study["dataset"], n_examples=study["memorise"]["n_examples"], seed=seed
    )


def memorise_spec(config: dict, depth: int, neurons: int, init: str, seed: int) -> dict:
    """The run spec of one memorisation training."""
    options = config["regions"]["memorise"]
    return dict(
        name=f"memorise_depth{depth}_neurons{neurons}_{init}_seed{seed}",
        model=fresh_spec(depth, neurons, init, config["regions"]["bias_std"]),
        seed=seed,
        lr=options["lr"],
        batch_size=options["batch_size"],
        epochs=options["epochs"],
        optimizer="sgd",
        momentum=options["momentum"],
        weight_decay=0.0,
        epoch_examples=options["epoch_examples"],
        checkpoint_epochs=sorted(options["checkpoint_epochs"]),
        factors={"depth": depth, "neurons": neurons, "init": init, "seed": seed},
    )


def memorise_specs(config: dict, wildcards) -> list[dict]:
    """The run specs of a ``memorise`` job: one network of each width (``regions.init.neurons``) of
    the job's depth, init and seed, in config order, each written to its own outputs
    (:func:`memorise_outputs`), so that a job's start-up is paid once."""
    depth, seed = int(wildcards.depth), int(wildcards.seed)
    return [
        memorise_spec(config, depth, int(neurons), wildcards.init, seed)
        for neurons in config["regions"]["init"]["neurons"]
    ]


def memorise_outputs(config: dict) -> dict[str, list[str]]:
    """The outputs of a ``memorise`` job, in the order of :func:`memorise_specs`: each width's
    metrics store, and its checkpoint at every memorisation checkpoint epoch (width by width); depth,
    init and seed left open as the job's wildcards."""
    widths = [_Open(neurons=str(n)) for n in config["regions"]["init"]["neurons"]]
    epochs = config["regions"]["memorise"]["checkpoint_epochs"]
    return {
        "metrics": [PATHS["memorise_metrics"].format_map(width) for width in widths],
        "checkpoints": [
            PATHS["memorise_checkpoint"].format_map(_Open(width, epoch=str(epoch)))
            for width in widths
            for epoch in epochs
        ],
    }


def summary_paths() -> list[str]:
    return [PATHS[f"{kind}_summary"] for kind in KINDS]


def check(config: dict) -> None:
    """The checks of the ``regions`` section that the schema cannot express."""
    study = config["regions"]
    for i, depth in enumerate(study["init"]["depth"]):
        for j, neurons in enumerate(study["init"]["neurons"]):
            if neurons % depth:
                raise ConfigError(
                    f"config key regions.init.neurons[{j}]: {neurons} neurons do not split evenly over"
                    f" depth {depth} (regions.init.depth[{i}])"
                )
    if "noise" not in config["studies"]:
        raise ConfigError("config key studies: regions needs the noise study, whose checkpoints it analyses")
    if study["dataset"] != config["noise"]["dataset"]:
        raise ConfigError(
            f"config key regions.dataset: '{study['dataset']}' differs from noise.dataset"
            f" '{config['noise']['dataset']}', on which the analysed checkpoints were trained"
        )
    # a block selects a run if, for every selected factor, it sweeps one of the selected values
    selected = [
        block
        for block in config["noise"]["grid"]
        if all(set(block[factor]) & set(values) for factor, values in study["trained"].items())
    ]
    if not selected:
        raise ConfigError("config key regions.trained: selects no run of noise.grid")
    if not config["noise"]["training"]["checkpoint_epochs"]:
        raise ConfigError("config key noise.training.checkpoint_epochs: the regions study needs checkpoints")
    memorise = study["memorise"]
    check_checkpoint_epochs(
        memorise["checkpoint_epochs"], memorise["epochs"], "regions.memorise.checkpoint_epochs"
    )
