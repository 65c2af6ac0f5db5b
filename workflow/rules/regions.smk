# The regions study (Hanin & Rolnick 2019): linear regions and activation patterns of fresh,
# memorising and noise-trained networks. Networks, paths and specs come from
# deepstudy.regions.workflow; the trained networks are the noise study's (rules/noise.smk).
REGIONS_PATHS = regions_workflow.PATHS
# The partition of one plane is drawn for the first trained run, at its first and last checkpoint.
PARTITION_RUN = regions_workflow.trained_runs(NOISE.runs, config)[0]
PARTITION_EPOCHS = regions_workflow.first_and_last(config["noise"]["training"]["checkpoint_epochs"])
# A regions job analyses a pack of networks (regions_workflow.PACKED), one store each, named (log,
# benchmark) after its first; on its GPU slot where it holds one, else on regions.threads CPU threads.
REGIONS_OUTPUTS = {kind: regions_workflow.pack_outputs(kind, config) for kind in regions_workflow.KINDS}
REGIONS_THREADS = config["regions"]["threads"]


wildcard_constraints:
    depth=r"\d+",
    neurons=r"\d+",
    init=r"[A-Za-z0-9.]+",


rule regions_init:
    message:
        "Regions of fresh networks of depth {wildcards.depth}, {wildcards.init} init: every width and seed"
    input:
        dataset=DATASET.format(dataset=config["regions"]["dataset"]),
    params:
        networks=lambda wildcards: regions_workflow.pack_networks("init", config, wildcards),
        probes=regions_workflow.probe_options(config),
        bias_std=config["regions"]["bias_std"],
    output:
        stores=REGIONS_OUTPUTS["init"],
    log:
        log_path("regions_init", REGIONS_OUTPUTS["init"][0]),
    benchmark:
        benchmark_path("regions_init", REGIONS_OUTPUTS["init"][0])
    threads: REGIONS_THREADS
    resources:
        gpu=gpu_count(),
        mem_mb=2000,
        runtime=20 * len(REGIONS_OUTPUTS["init"]),
    conda:
        "../../envs/training.yaml"
    script:
        "../../scripts/regions_init.py"


rule regions_trained:
    message:
        "Regions of {wildcards.model} ({wildcards.noise} noise, alpha={wildcards.alpha}, seed {wildcards.seed}) at every checkpoint"
    input:
        dataset=DATASET.format(dataset=config["regions"]["dataset"]),
        checkpoints=lambda wildcards: [
            NOISE.checkpoint_path(NOISE.run(wildcards), network["epoch"])
            for network in regions_workflow.pack_networks("trained", config, wildcards)
        ],
    params:
        networks=lambda wildcards: regions_workflow.pack_networks("trained", config, wildcards),
        probes=regions_workflow.probe_options(config),
        run=lambda wildcards: noise_workflow.run_name(NOISE.run(wildcards)),
    output:
        stores=REGIONS_OUTPUTS["trained"],
    log:
        log_path("regions_trained", REGIONS_OUTPUTS["trained"][0]),
    benchmark:
        benchmark_path("regions_trained", REGIONS_OUTPUTS["trained"][0])
    threads: REGIONS_THREADS
    resources:
        gpu=gpu_count(),
        mem_mb=2000,
        runtime=30 * len(REGIONS_OUTPUTS["trained"]),
    conda:
        "../../envs/training.yaml"
    script:
        "../../scripts/regions_trained.py"


rule random_labels:
    message:
        "Memorisation plan: {wildcards.n_examples} {wildcards.dataset} images with random labels (seed {wildcards.seed})"
    input:
        dataset=DATASET,
    output:
        plan=REGIONS_PATHS["random_labels"],
    log:
        log_path("random_labels", REGIONS_PATHS["random_labels"]),
    benchmark:
        benchmark_path("random_labels", REGIONS_PATHS["random_labels"])
    wildcard_constraints:
        n_examples=r"\d+",
    threads: 1
    # the memorisation chain (plan, training, analyses) starts with the trainings, not last
    priority: 2
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/training.yaml"
    script:
        "../../scripts/random_labels.py"


# A memorise job trains every width of one depth, init and seed, one after another (widths do not
# stack), each to its own outputs; named (log, benchmark) after its first.
MEMORISE_OUTPUTS = regions_workflow.memorise_outputs(config)


rule memorise:
    message:
        "Memorising random labels: depth {wildcards.depth}, {wildcards.init} init, seed {wildcards.seed}, every width"
    input:
        dataset=DATASET.format(dataset=config["regions"]["dataset"]),
        plans=lambda wildcards: [regions_workflow.random_labels_path(config, wildcards.seed)],
    params:
        runs=lambda wildcards: regions_workflow.memorise_specs(config, wildcards),
        device=config["device"],
    output:
        metrics=MEMORISE_OUTPUTS["metrics"],
        checkpoints=MEMORISE_OUTPUTS["checkpoints"],
    log:
        log_path("memorise", MEMORISE_OUTPUTS["metrics"][0]),
    benchmark:
        benchmark_path("memorise", MEMORISE_OUTPUTS["metrics"][0])
    threads: 1
    priority: 2
    resources:
        gpu=gpu_count(),
        mem_mb=2000,
        runtime=30 * len(MEMORISE_OUTPUTS["metrics"]),
    conda:
        "../../envs/training.yaml"
    script:
        "../../scripts/memorise.py"


rule regions_memorised:
    message:
        "Regions of networks memorising random labels: depth {wildcards.depth}, {wildcards.init} init, seed {wildcards.seed}, every width and checkpoint"
    input:
        dataset=DATASET.format(dataset=config["regions"]["dataset"]),
        checkpoints=lambda wildcards: regions_workflow.memorised_checkpoints(config, wildcards),
    params:
        networks=lambda wildcards: regions_workflow.pack_networks("memorised", config, wildcards),
        probes=regions_workflow.probe_options(config),
    output:
        stores=REGIONS_OUTPUTS["memorised"],
    log:
        log_path("regions_memorised", REGIONS_OUTPUTS["memorised"][0]),
    benchmark:
        benchmark_path("regions_memorised", REGIONS_OUTPUTS["memorised"][0])
    threads: REGIONS_THREADS
    resources:
        gpu=gpu_count(),
        mem_mb=2000,
        runtime=30 * len(REGIONS_OUTPUTS["memorised"]),
    conda:
        "../../envs/training.yaml"
    script:
        "../../scripts/regions_trained.py"


rule region_partition:
    message:
        "Polygons of one plane's region partition, before and after training"
    input:
        dataset=DATASET.format(dataset=config["regions"]["dataset"]),
        checkpoints=[NOISE.checkpoint_path(PARTITION_RUN, epoch) for epoch in PARTITION_EPOCHS],
    params:
        probes=regions_workflow.probe_options(config),
        run=noise_workflow.run_name(PARTITION_RUN),
    output:
        store=REGIONS_PATHS["partition"],
    log:
        log_path("region_partition"),
    benchmark:
        benchmark_path("region_partition")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        "../../envs/training.yaml"
    script:
        "../../scripts/region_partition.py"


rule collect_regions:
    message:
        "Collecting the region analyses into Zarr stores"
    input:
        init=regions_workflow.init_paths(config),
        trained=regions_workflow.trained_paths(NOISE.runs, config),
        memorised=regions_workflow.memorised_paths(config),
    output:
        **{kind: REGIONS_PATHS[f"{kind}_summary"] for kind in regions_workflow.KINDS},
    log:
        log_path("collect_regions"),
    benchmark:
        benchmark_path("collect_regions")
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
        "Plotting the regions and activation-length figures"
    input:
        **rules.collect_regions.output,
        partition=rules.region_partition.output.store,
        activation=rules.activation_length.output.store,
        trainability=rules.trainability.output.store,
    output:
        **figure_outputs(regions_workflow),
        **figure_outputs(activation_workflow),
    log:
        log_path("plot_regions"),
    benchmark:
        benchmark_path("plot_regions")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/plotting.yaml"
    script:
        "../../scripts/plot_regions.py"


rule regions:
    input:
        rules.collect_regions.output,
        rules.activation_length.output,
        rules.trainability.output,
        rules.plot_regions.output,
