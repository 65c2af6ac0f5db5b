# The continual-learning study (CLEAR, Rolnick et al. 2019): make task streams, train each
# strategy, collect, plot. Runs, paths and specs come from deepstudy.continual.workflow.
from deepstudy.continual.catalogue import STRATEGIES

CONTINUAL_PATHS = continual_workflow.PATHS
CONTINUAL = continual_workflow.ContinualStudy(config)


wildcard_constraints:
    stream="[a-z][a-z0-9_]*",
    strategy="|".join(STRATEGIES),
    buffer=rf"{continual_workflow.NO_BUFFER}|{continual_workflow.UNBOUNDED}|\d+",


rule make_stream:
    message:
        "Making stream {wildcards.stream} of {wildcards.dataset} (seed {wildcards.seed})"
    input:
        dataset=DATASET,
    params:
        stream=lambda wildcards: dict(config["continual"]["streams"][wildcards.stream]),
    output:
        plan=CONTINUAL_PATHS["stream"],
    log:
        log_path("make_stream", CONTINUAL_PATHS["stream"]),
    benchmark:
        benchmark_path("make_stream", CONTINUAL_PATHS["stream"])
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
        "Training the pack of {wildcards.strategy} runs on stream {wildcards.stream} led by buffer {wildcards.buffer}, seed {wildcards.seed}"
    input:
        dataset=CONTINUAL.dataset_path(),
        plans=lambda wildcards: CONTINUAL.stream_paths(CONTINUAL.pack(wildcards)),
    params:
        runs=lambda wildcards: CONTINUAL.train_specs(CONTINUAL.pack(wildcards)),
        device=config["device"],
    output:
        metrics=CONTINUAL_PATHS["metrics"],
    log:
        log_path("train_continual", CONTINUAL_PATHS["metrics"]),
    benchmark:
        benchmark_path("train_continual", CONTINUAL_PATHS["metrics"])
    threads: 1
    # the longest jobs start first, so that short ones fill the end of a run
    priority: 1
    resources:
        gpu=gpu_count(),
        mem_mb=config["continual"]["training"]["mem_mb"],
        runtime=lambda wildcards: config["continual"]["training"]["runtime"] * len(CONTINUAL.pack(wildcards)),
    conda:
        "../../envs/training.yaml"
    script:
        "../../scripts/train_continual.py"


rule collect_continual:
    message:
        "Collecting the continual runs into one Zarr store"
    input:
        metrics=CONTINUAL.metrics_paths(),
    params:
        buffer_sizes=continual_workflow.buffer_labels(config),
    output:
        summary=CONTINUAL_PATHS["summary"],
    log:
        log_path("collect_continual"),
    benchmark:
        benchmark_path("collect_continual")
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
        summary=rules.collect_continual.output.summary,
    params:
        plots=config["continual"]["plots"],
    output:
        **figure_outputs(continual_workflow),
    log:
        log_path("plot_continual"),
    benchmark:
        benchmark_path("plot_continual")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/plotting.yaml"
    script:
        "../../scripts/plot_continual.py"


rule continual:
    input:
        rules.collect_continual.output,
        rules.plot_continual.output,
