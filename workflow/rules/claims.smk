# The reproduction table: each paper claim of the studies in the config, checked on their
# summaries (deepstudy.claims and each study's claims module). A claim that fails reads "fails".
STUDY_SUMMARIES = {
    "noise": lambda: {"noise": rules.collect_noise.output.summary},
    "regions": lambda: {
        **rules.collect_regions.output,
        "activation": rules.activation_length.output.store,
        "trainability": rules.trainability.output.store,
    },
    "continual": lambda: {"continual": rules.collect_continual.output.summary},
}


rule claims:
    message:
        "Checking the papers' claims on this run's summaries"
    input:
        **{
            name: path
            for study in config["studies"]
            for name, path in STUDY_SUMMARIES[study]().items()
        },
    params:
        studies=config["studies"],
        noise_plots=config.get("noise", {}).get("plots"),
        models=config["models"],
    output:
        table=report(CLAIMS["table"], caption="../report/claims.rst", category="Claims"),
        json=CLAIMS["json"],
        page=report(CLAIMS["page"], caption="../report/claims.rst", category="Claims"),
    log:
        log_path("claims"),
    benchmark:
        benchmark_path("claims")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../../scripts/check_claims.py"
