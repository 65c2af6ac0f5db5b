"""A config stands on its own: a --configfile replaces the embedded default rather than merging
over it, so each study's template in config/examples/ plans exactly its own jobs.

Each dry run sits in a folder that holds config/ (as when Snakemake runs in the repository), so
that a merge with config/config.yaml would show.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import validate_study
from deepstudy.config import load_schema
from deepstudy.continual.workflow import PATHS as CONTINUAL_PATHS
from deepstudy.continual.workflow import ContinualStudy
from deepstudy.noise.workflow import NoiseStudy
from deepstudy.regions import workflow as regions_workflow
from planned_jobs import planned_jobs

pytestmark = pytest.mark.slow

#: The rules each study plans jobs of (besides the datasets and the claims, which every config has).
STUDY_RULES = {
    "noise": {"dilute_labels", "train", "collect_noise", "plot_noise"},
    "regions": {
        "regions_init",
        "regions_trained",
        "random_labels",
        "memorise",
        "regions_memorised",
        "region_partition",
        "collect_regions",
        "plot_regions",
        "activation_length",
        "trainability",
    },
    "continual": {"make_stream", "train_continual", "collect_continual", "plot_continual"},
}


def expected_outputs(config: dict) -> dict[str, set[str]]:
    """The outputs of the jobs that the config's own grid, streams and strategies ask for, by rule."""
    expected: dict[str, set[str]] = {}
    if "noise" in config["studies"]:
        noise = NoiseStudy(config)
        expected["train"] = set(noise.metrics_paths())
        expected["dilute_labels"] = {p for pack in noise.packs.values() for p in noise.plan_paths(pack)}
    if "regions" in config["studies"]:
        noise_runs = NoiseStudy(config).runs
        expected["regions_init"] = set(regions_workflow.init_paths(config))
        expected["regions_trained"] = set(regions_workflow.trained_paths(noise_runs, config))
        expected["regions_memorised"] = set(regions_workflow.memorised_paths(config))
    if "continual" in config["studies"]:
        continual = ContinualStudy(config)
        expected["train_continual"] = set(continual.metrics_paths())
        expected["make_stream"] = {
            p for pack in continual.packs.values() for p in continual.stream_paths(pack)
        }
    return expected


def assert_plans_exactly(repo: Path, path: Path) -> None:
    """A dry run of the config at ``path`` plans the rules of its studies only, and for each
    per-run rule exactly the outputs its own runs ask for."""
    config = validate_study(
        yaml.safe_load(path.read_text()), load_schema(repo / "workflow" / "schemas" / "config.schema.yaml")
    )
    planned: dict[str, set[str]] = {}
    for rule, output in planned_jobs(repo, str(path)):
        planned.setdefault(rule, set()).add(output)
    rules = {"prepare_dataset", "claims"}.union(*(STUDY_RULES[study] for study in config["studies"]))
    assert set(planned) == rules
    for rule, outputs in expected_outputs(config).items():
        main = {o for o in planned[rule] if o.endswith("zarr.json")}  # not a training job's checkpoints
        assert main == outputs, rule


@pytest.mark.parametrize("study", ["noise", "regions", "continual"])
def test_each_template_plans_exactly_its_own_jobs(repo, study):
    """config/examples/<study>.yaml: one study (with the noise study it needs, for regions), the
    user's own models, grid, streams and strategies, and nothing of config/config.yaml."""
    assert_plans_exactly(repo, repo / "config" / "examples" / f"{study}.yaml")


def test_the_tiny_study_stands_on_its_own(repo):
    """tests/data/tiny.yaml, every study, run from beside config/ as a user would."""
    assert_plans_exactly(repo, repo / "tests" / "data" / "tiny.yaml")


def test_a_minimal_config_takes_the_schema_defaults(repo, tmp_path):
    """Only the required keys: one stream of the user's own name, nothing else of the default's."""
    config = {
        "studies": ["continual"],
        "models": {"tiny": {"architecture": "mlp"}},
        "continual": {
            "dataset": "mnist1d",
            "model": "tiny",
            "streams": {"mysplit": {"kind": "split"}},
            "strategies": ["finetune", "er"],
        },
    }
    path = tmp_path / "minimal.yaml"
    path.write_text(yaml.safe_dump(config))
    assert_plans_exactly(repo, path)
    planned = [output for rule, output in planned_jobs(repo, str(path)) if rule == "train_continual"]
    # finetune once, er at the three default buffer sizes (one pack): two jobs on mysplit only
    assert planned == sorted(
        CONTINUAL_PATHS["metrics"].format(stream="mysplit", strategy=strategy, buffer=buffer, seed=0)
        for strategy, buffer in (("finetune", "none"), ("er", "500"))
    )
