# The continual-learning study (CLEAR): make task streams, train each strategy, collect, plot.


wildcard_constraints:
    stream="[a-z][a-z0-9_]*",
    strategy="finetune|joint|er|clear|derpp|ewc",
    buffer=r"none|unbounded|\d+",


rule make_stream:
    message:
        "Making stream {wildcards.stream} of {wildcards.dataset} (seed {wildcards.seed})"
    input:
        dataset=NOISE_PATHS["dataset"],
    params:
        stream=stream_options,
    output:
        plan=CONTINUAL_PATHS["stream"],
    log:
        "results/logs/make_stream/{dataset}/{stream}_seed{seed}.log",
    benchmark:
        "results/benchmarks/make_stream/{dataset}/{stream}_seed{seed}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/training.yaml"
    script:
        "../../scripts/make_stream.py"


rule train_continual:
    message:
        "Training {wildcards.strategy} (buffer {wildcards.buffer}) on stream {wildcards.stream}, seed {wildcards.seed}"
    input:
        dataset=continual_dataset,
        plan=continual_stream,
    params:
        runs=continual_train_runs,
        device=config["device"],
    output:
        metrics=CONTINUAL_PATHS["metrics"],
    log:
        "results/logs/train_continual/{stream}/{strategy}/buffer{buffer}_seed{seed}.log",
    benchmark:
        "results/benchmarks/train_continual/{stream}/{strategy}/buffer{buffer}_seed{seed}.tsv"
    threads: 1
    resources:
        gpu=gpu_count(),
        mem_mb=config["continual"]["training"]["mem_mb"],
        runtime=config["continual"]["training"]["runtime"],
    conda:
        "../../envs/training.yaml"
    script:
        "../../scripts/train_continual.py"


rule collect_continual:
    message:
        "Collecting the continual runs into one Zarr store"
    input:
        metrics=continual_metrics(),
    params:
        buffer_sizes=buffer_labels(),
    output:
        summary=CONTINUAL_PATHS["summary"],
    log:
        "results/logs/collect_continual.log",
    benchmark:
        "results/benchmarks/collect_continual.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../../scripts/collect_continual.py"


rule plot_continual:
    message:
        "Plotting the continual-learning figures"
    input:
        summary=CONTINUAL_PATHS["summary"],
    params:
        plots=config["continual"]["plots"],
    output:
        along_stream=report(
            multiext("results/figures/continual/along_stream", ".png", ".pdf"),
            caption="../report/continual_along_stream.rst",
            category="Continual learning",
        ),
        accuracy_matrix=report(
            multiext("results/figures/continual/accuracy_matrix", ".png", ".pdf"),
            caption="../report/continual_accuracy_matrix.rst",
            category="Continual learning",
        ),
        buffer_size=report(
            multiext("results/figures/continual/buffer_size", ".png", ".pdf"),
            caption="../report/continual_buffer_size.rst",
            category="Continual learning",
        ),
    log:
        "results/logs/plot_continual.log",
    benchmark:
        "results/benchmarks/plot_continual.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/plotting.yaml"
    script:
        "../../scripts/plot_continual.py"
