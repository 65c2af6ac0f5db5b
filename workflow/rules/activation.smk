# The activation-length study (Hanin & Rolnick 2018): squared activation length at initialisation,
# and whether training starts. It runs with the regions study (its options: regions.activation,
# regions.trainability), and plot_regions draws its figures. Paths: deepstudy.activation.workflow.
ACTIVATION_PATHS = activation_workflow.PATHS


rule activation_length:
    message:
        "Activation length at initialisation for every width profile and init"
    params:
        activation=config["regions"]["activation"],
    output:
        store=ACTIVATION_PATHS["activation"],
    log:
        log_path("activation_length"),
    benchmark:
        benchmark_path("activation_length")
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
        dataset=DATASET.format(dataset=config["regions"]["dataset"]),
    params:
        trainability=config["regions"]["trainability"],
    output:
        store=ACTIVATION_PATHS["trainability"],
    log:
        log_path("trainability"),
    benchmark:
        benchmark_path("trainability")
    threads: 1
    # before the continual packs, so that the claims do not wait for it at the end
    priority: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/training.yaml"
    script:
        "../../scripts/trainability.py"
