# The regions study (Hanin & Rolnick 2018, 2019): linear regions, activation patterns and
# activation length, at initialisation and through training.


wildcard_constraints:
    depth=r"\d+",
    neurons=r"\d+",
    init=r"[A-Za-z0-9.]+",


rule regions_init:
    message:
        "Regions of a fresh network: depth {wildcards.depth}, {wildcards.neurons} neurons, {wildcards.init} init, seed {wildcards.seed}"
    input:
        dataset=region_dataset,
    params:
        probes=region_probe_params,
    output:
        store=REGION_PATHS["init"],
    log:
        "results/logs/regions_init/depth{depth}_neurons{neurons}_{init}_seed{seed}.log",
    benchmark:
        "results/benchmarks/regions_init/depth{depth}_neurons{neurons}_{init}_seed{seed}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        "../../envs/training.yaml"
    script:
        "../../scripts/regions_init.py"


rule regions_trained:
    message:
        "Regions of {wildcards.model} ({wildcards.noise} noise, alpha={wildcards.alpha}, seed {wildcards.seed}) at epoch {wildcards.epoch}"
    input:
        dataset=region_dataset,
        checkpoint=region_checkpoint,
    params:
        probes=region_probe_params,
        run=region_checkpoint_run,
    output:
        store=REGION_PATHS["trained"],
    log:
        "results/logs/regions_trained/{model}/{noise}/alpha{alpha}_nclean{n_clean}_bs{batch_size}_lr{lr}_seed{seed}_epoch{epoch}.log",
    benchmark:
        "results/benchmarks/regions_trained/{model}/{noise}/alpha{alpha}_nclean{n_clean}_bs{batch_size}_lr{lr}_seed{seed}_epoch{epoch}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/training.yaml"
    script:
        "../../scripts/regions_trained.py"


rule random_labels:
    message:
        "Memorisation plan: {wildcards.n_examples} {wildcards.dataset} images with random labels (seed {wildcards.seed})"
    input:
        dataset=NOISE_PATHS["dataset"],
    output:
        plan=REGION_PATHS["random_labels"],
    log:
        "results/logs/random_labels/{dataset}_n{n_examples}_seed{seed}.log",
    benchmark:
        "results/benchmarks/random_labels/{dataset}_n{n_examples}_seed{seed}.tsv"
    wildcard_constraints:
        n_examples=r"\d+",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/training.yaml"
    script:
        "../../scripts/random_labels.py"


rule memorise:
    message:
        "Memorising random labels: depth {wildcards.depth}, {wildcards.neurons} neurons, seed {wildcards.seed}"
    input:
        dataset=region_dataset,
        plans=memorise_plan,
    params:
        runs=memorise_runs,
        device=config["device"],
    output:
        metrics=REGION_PATHS["memorise_metrics"],
        checkpoints=expand(
            REGION_PATHS["memorise_checkpoint"],
            epoch=config["regions"]["memorise"]["checkpoint_epochs"],
            allow_missing=True,
        ),
    log:
        "results/logs/memorise/depth{depth}_neurons{neurons}_{init}_seed{seed}.log",
    benchmark:
        "results/benchmarks/memorise/depth{depth}_neurons{neurons}_{init}_seed{seed}.tsv"
    threads: 1
    resources:
        gpu=gpu_count(),
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/training.yaml"
    script:
        "../../scripts/train.py"


rule regions_memorised:
    message:
        "Regions of a network memorising random labels: depth {wildcards.depth}, {wildcards.neurons} neurons, epoch {wildcards.epoch}"
    input:
        dataset=region_dataset,
        checkpoint=memorised_checkpoint,
    params:
        probes=region_probe_params,
    output:
        store=REGION_PATHS["memorised"],
    log:
        "results/logs/regions_memorised/depth{depth}_neurons{neurons}_{init}_seed{seed}_epoch{epoch}.log",
    benchmark:
        "results/benchmarks/regions_memorised/depth{depth}_neurons{neurons}_{init}_seed{seed}_epoch{epoch}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/training.yaml"
    script:
        "../../scripts/regions_trained.py"


rule region_partition:
    message:
        "Polygons of one plane's region partition, before and after training"
    input:
        dataset=region_dataset,
        checkpoints=region_partition_checkpoints,
    params:
        probes=region_probe_params,
        run=region_partition_run,
    output:
        store="results/regions/partition.zarr/zarr.json",
    log:
        "results/logs/region_partition.log",
    benchmark:
        "results/benchmarks/region_partition.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        "../../envs/training.yaml"
    script:
        "../../scripts/region_partition.py"


rule activation_length:
    message:
        "Activation length at initialisation for every width profile and init"
    params:
        activation=region_activation_params,
    output:
        store=REGION_PATHS["activation"],
    log:
        "results/logs/activation_length.log",
    benchmark:
        "results/benchmarks/activation_length.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        "../../envs/training.yaml"
    script:
        "../../scripts/activation_length.py"


rule trainability:
    message:
        "Does training start: short runs over depth x width"
    input:
        dataset=region_dataset,
    params:
        trainability=region_trainability_params,
    output:
        store=REGION_PATHS["trainability"],
    log:
        "results/logs/trainability.log",
    benchmark:
        "results/benchmarks/trainability.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/training.yaml"
    script:
        "../../scripts/trainability.py"


rule collect_regions:
    message:
        "Collecting the region analyses into Zarr stores"
    input:
        init=region_init_targets(),
        trained=region_trained_targets(),
        memorised=memorised_targets(),
    output:
        init="results/regions/init.zarr/zarr.json",
        trained="results/regions/trained.zarr/zarr.json",
        memorised="results/regions/memorised.zarr/zarr.json",
    log:
        "results/logs/collect_regions.log",
    benchmark:
        "results/benchmarks/collect_regions.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../../scripts/collect_regions.py"


rule plot_regions:
    message:
        "Plotting the regions figures"
    input:
        init="results/regions/init.zarr/zarr.json",
        trained="results/regions/trained.zarr/zarr.json",
        memorised="results/regions/memorised.zarr/zarr.json",
        partition="results/regions/partition.zarr/zarr.json",
        activation=REGION_PATHS["activation"],
        trainability=REGION_PATHS["trainability"],
    output:
        regions_per_length=report(
            multiext("results/figures/regions/regions_per_length", ".png", ".pdf"),
            caption="../report/regions_per_length.rst",
            category="Linear regions",
        ),
        regions_through_training=report(
            multiext("results/figures/regions/regions_through_training", ".png", ".pdf"),
            caption="../report/regions_through_training.rst",
            category="Linear regions",
        ),
        distance_to_boundary=report(
            multiext("results/figures/regions/distance_to_boundary", ".png", ".pdf"),
            caption="../report/distance_to_boundary.rst",
            category="Linear regions",
        ),
        patterns_2d=report(
            multiext("results/figures/regions/patterns_2d", ".png", ".pdf"),
            caption="../report/patterns_2d.rst",
            category="Linear regions",
        ),
        partition=report(
            multiext("results/figures/regions/partition", ".png", ".pdf"),
            caption="../report/partition.rst",
            category="Linear regions",
        ),
        activation_length=report(
            multiext("results/figures/regions/activation_length", ".png", ".pdf"),
            caption="../report/activation_length.rst",
            category="Activation length",
        ),
        trainability=report(
            multiext("results/figures/regions/trainability", ".png", ".pdf"),
            caption="../report/trainability.rst",
            category="Activation length",
        ),
    log:
        "results/logs/plot_regions.log",
    benchmark:
        "results/benchmarks/plot_regions.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/plotting.yaml"
    script:
        "../../scripts/plot_regions.py"
