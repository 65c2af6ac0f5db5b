"""Rule claims: the papers' claims checked on the summaries of the studies in the config."""

from deepstudy import claims, store
from deepstudy.activation import claims as activation_claims
from deepstudy.continual import claims as continual_claims
from deepstudy.noise import claims as noise_claims
from deepstudy.noise.summary import reference
from deepstudy.regions import claims as regions_claims
from deepstudy.runner import rule_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake


def opened(name: str):
    return store.open_store(snakemake.input[name])  # read whole, checked


def noise() -> list[claims.Claim]:
    summary, plots = opened("noise"), dict(snakemake.params.noise_plots)
    return noise_claims.evaluate(summary, reference(summary, plots), plots["target_accuracy"])


def regions() -> list[claims.Claim]:
    found = regions_claims.evaluate(
        opened("init"), opened("memorised"), opened("trained"), dict(snakemake.params.models)
    )
    return found + activation_claims.evaluate(opened("activation"), opened("trainability"))


def continual() -> list[claims.Claim]:
    return continual_claims.evaluate(opened("continual"))


#: Each study in the config, its claims' evaluation, and the statements it checks.
STUDIES = {
    "noise": (noise, noise_claims.STATEMENTS),
    "regions": (regions, regions_claims.STATEMENTS + activation_claims.STATEMENTS),
    "continual": (continual, continual_claims.STATEMENTS),
}

with rule_log(snakemake.log[0]):
    table = []
    for study, (evaluate, statements) in STUDIES.items():
        if study in snakemake.params.studies:
            table += evaluate()
        else:
            table += [s.not_run(f"the {study} study is not in this run's config") for s in statements]
    claims.write_table(table, snakemake.output.table, snakemake.output.json, snakemake.output.page)
    for claim in table:
        print(f"{claim.verdict:>8}  {claim.study}: {claim.claim}  [{claim.measured}]")
