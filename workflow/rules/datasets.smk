# Prepared datasets, stored once as Zarr and read by every study.


rule prepare_dataset:
    message:
        "Preparing dataset {wildcards.dataset}"
    params:
        options=dataset_options,
    output:
        store="results/datasets/{dataset}.zarr/zarr.json",
    log:
        "results/logs/prepare_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_dataset/{dataset}.tsv"
    wildcard_constraints:
        dataset="mnist1d|mnist|fashion_mnist|cifar10",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/training.yaml"
    script:
        "../../scripts/prepare_dataset.py"
