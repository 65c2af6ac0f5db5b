# Prepared datasets, stored once as Zarr and read by every study.
from deepstudy.datasets import DATASETS, prepare_options


rule prepare_dataset:
    message:
        "Preparing dataset {wildcards.dataset}"
    params:
        options=lambda wildcards: prepare_options(config, wildcards.dataset),
    output:
        store=DATASET,
    log:
        log_path("prepare_dataset", DATASET),
    benchmark:
        benchmark_path("prepare_dataset", DATASET)
    wildcard_constraints:
        dataset="|".join(DATASETS),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/training.yaml"
    script:
        "../../scripts/prepare_dataset.py"
