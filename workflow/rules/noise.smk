# The label-noise study (Rolnick et al. 2017): dilute, train, collect, plot.
# Runs, packs, paths and specs come from deepstudy.noise.workflow.
NOISE_PATHS = noise_workflow.PATHS
NOISE = noise_workflow.NoiseStudy(config)


wildcard_constraints:
    noise="|".join(noise_workflow.NOISE_KINDS),
    alpha=r"[0-9.e+-]+",
    n_clean=r"\d+",
    batch_size=r"\d+",
    lr=r"[0-9.e+-]+",
    seed=r"\d+",
    epoch=r"\d+",


rule dilute_labels:
    message:
        "Diluting {wildcards.dataset} with alpha={wildcards.alpha} {wildcards.noise} noise (seed {wildcards.seed})"
    input:
        dataset=DATASET,
        source=lambda wildcards: NOISE.source_paths([wildcards.noise]),
    params:
        noise=lambda wildcards: NOISE.dilution_options(wildcards.noise),
        validation=config["noise"]["validation"],
    output:
        plan=NOISE_PATHS["plan"],
    log:
        log_path("dilute_labels", NOISE_PATHS["plan"]),
    benchmark:
        benchmark_path("dilute_labels", NOISE_PATHS["plan"])
    threads: 1
    # as early as the training packs that wait for these plans
    priority: 2
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/training.yaml"
    script:
        "../../scripts/dilute_labels.py"


rule train:
    message:
        "Training the pack of {wildcards.model} runs led by alpha={wildcards.alpha} {wildcards.noise} noise, batch {wildcards.batch_size}, lr {wildcards.lr}, seed {wildcards.seed}"
    input:
        dataset=NOISE.dataset_path(),
        plans=lambda wildcards: NOISE.plan_paths(NOISE.pack(wildcards)),
        source=lambda wildcards: NOISE.source_paths([run["noise"] for run in NOISE.pack(wildcards)]),
    params:
        runs=lambda wildcards: NOISE.train_specs(NOISE.pack(wildcards)),
        device=config["device"],
    output:
        metrics=NOISE_PATHS["metrics"],
        checkpoints=expand(
            NOISE_PATHS["checkpoint"],
            epoch=config["noise"]["training"]["checkpoint_epochs"],
            allow_missing=True,
        ),
    log:
        log_path("train", NOISE_PATHS["metrics"]),
    benchmark:
        benchmark_path("train", NOISE_PATHS["metrics"])
    threads: 1
    # the longest jobs start first, so that short ones fill the end of a run
    priority: 2
    resources:
        gpu=gpu_count(),
        mem_mb=config["noise"]["training"]["mem_mb"],
        runtime=lambda wildcards: config["noise"]["training"]["runtime"] * len(NOISE.pack(wildcards)),
    conda:
        "../../envs/training.yaml"
    script:
        "../../scripts/train.py"


rule collect_noise:
    message:
        "Collecting the label-noise runs into one Zarr store"
    input:
        metrics=NOISE.metrics_paths(),
    output:
        summary=NOISE_PATHS["summary"],
    log:
        log_path("collect_noise"),
    benchmark:
        benchmark_path("collect_noise")
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../../scripts/collect_noise.py"


rule plot_noise:
    message:
        "Plotting the label-noise figures"
    input:
        summary=rules.collect_noise.output.summary,
    params:
        plots=config["noise"]["plots"],
    output:
        **figure_outputs(noise_workflow),
    log:
        log_path("plot_noise"),
    benchmark:
        benchmark_path("plot_noise")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/plotting.yaml"
    script:
        "../../scripts/plot_noise.py"


rule noise:
    input:
        rules.collect_noise.output,
        rules.plot_noise.output,
