# The label-noise study (Rolnick et al. 2017): dilute, train, collect, plot.


wildcard_constraints:
    noise="uniform|structured|source",
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
        dataset=NOISE_PATHS["dataset"],
        source=noise_source_stores,
    params:
        noise=dilution_params,
    output:
        plan=NOISE_PATHS["plan"],
    log:
        "results/logs/dilute_labels/{dataset}/{noise}/alpha{alpha}_nclean{n_clean}_seed{seed}.log",
    benchmark:
        "results/benchmarks/dilute_labels/{dataset}/{noise}/alpha{alpha}_nclean{n_clean}_seed{seed}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/training.yaml"
    script:
        "../../scripts/dilute_labels.py"


rule train:
    message:
        "Training {wildcards.model} on alpha={wildcards.alpha} {wildcards.noise} noise, batch {wildcards.batch_size}, lr {wildcards.lr}, seed {wildcards.seed}"
    input:
        dataset=noise_dataset,
        plans=noise_plan,
        source=noise_source_stores,
    params:
        runs=train_runs,
        device=config["device"],
    output:
        metrics=NOISE_PATHS["metrics"],
        checkpoints=expand(
            NOISE_PATHS["checkpoint"],
            epoch=config["noise"]["training"]["checkpoint_epochs"],
            allow_missing=True,
        ),
    log:
        "results/logs/train/{model}/{noise}/alpha{alpha}_nclean{n_clean}_bs{batch_size}_lr{lr}_seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{model}/{noise}/alpha{alpha}_nclean{n_clean}_bs{batch_size}_lr{lr}_seed{seed}.tsv"
    threads: 1
    resources:
        gpu=gpu_count(),
        mem_mb=config["noise"]["training"]["mem_mb"],
        runtime=config["noise"]["training"]["runtime"],
    conda:
        "../../envs/training.yaml"
    script:
        "../../scripts/train.py"


rule collect_noise:
    message:
        "Collecting the label-noise runs into one Zarr store"
    input:
        metrics=noise_metrics(),
    output:
        summary="results/noise/summary.zarr/zarr.json",
    log:
        "results/logs/collect_noise.log",
    benchmark:
        "results/benchmarks/collect_noise.tsv"
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
        summary="results/noise/summary.zarr/zarr.json",
    params:
        plots=config["noise"]["plots"],
    output:
        accuracy_vs_alpha=report(
            multiext("results/figures/noise/accuracy_vs_alpha", ".png", ".pdf"),
            caption="../report/noise_accuracy_vs_alpha.rst",
            category="Label noise",
        ),
        batch_size=report(
            multiext("results/figures/noise/batch_size", ".png", ".pdf"),
            caption="../report/noise_batch_size.rst",
            category="Label noise",
        ),
        clean_needed=report(
            multiext("results/figures/noise/clean_needed", ".png", ".pdf"),
            caption="../report/noise_clean_needed.rst",
            category="Label noise",
        ),
    log:
        "results/logs/plot_noise.log",
    benchmark:
        "results/benchmarks/plot_noise.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/plotting.yaml"
    script:
        "../../scripts/plot_noise.py"
