"""The regions study's analysis jobs: each analyses a pack of networks, one store per network, on
the device of its GPU slot; the stores hold what an analysis of each network alone gives."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from compare_stores import differences
from conftest import validate_study
from deepstudy import data, store
from deepstudy.config import load_schema
from deepstudy.paths import DATASET, log_path
from deepstudy.regions import analysis
from deepstudy.regions import workflow as regions_workflow
from test_workflow import job_counts, snakemake

pytestmark = pytest.mark.slow


def tiny(repo: Path) -> dict:
    return yaml.safe_load((repo / "tests" / "data" / "tiny.yaml").read_text())


def validated(repo: Path, config: dict) -> dict:
    schema = load_schema(repo / "workflow" / "schemas" / "config.schema.yaml")
    return validate_study(yaml.safe_load(yaml.safe_dump(config)), schema)


def test_the_tiny_study_plans_a_regions_job_per_pack(repo, tmp_path):
    """init: a job per depth (every width and seed); memorised: per depth and memorise seed (every
    width and checkpoint); trained: per selected noise run (every checkpoint)."""
    config = tiny(repo)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    counts = job_counts(snakemake(repo, tmp_path, "-n").stdout)
    full = validated(repo, config)
    regions = config["regions"]
    from deepstudy.noise.workflow import runs

    trained = regions_workflow.trained_runs(runs(full["noise"]["grid"]), full)
    assert counts["regions_init"] == len(regions["init"]["depth"]) == 2  # of 4 networks
    assert counts["regions_memorised"] == len(regions["init"]["depth"]) == 2  # of 8 checkpoints
    assert counts["regions_trained"] == len(trained) == 2  # of 4 checkpoints


def test_a_packed_job_analyses_each_network_as_alone_on_its_slot_and_a_new_depth_adds_one_job(
    repo, tmp_path, monkeypatch
):
    """The fresh networks' jobs of the tiny study, with a (fake) GPU slot to take: each job's log
    says which slot it held and where it computed (the CPU: torch sees no GPU here), and each store
    equals an analysis of its network alone. Another device reruns nothing; a depth added to the
    config plans one job."""
    monkeypatch.setenv("PYTHONPATH", str(repo / "scripts"))  # the rule scripts import this checkout
    config = tiny(repo) | {"device": "auto", "gpus": [5]}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    full = validated(repo, config)
    stores = regions_workflow.init_paths(full)
    snakemake(repo, tmp_path, *stores)
    for depth in config["regions"]["init"]["depth"]:
        first = regions_workflow.pack_outputs("init", full)[0].format(depth=depth, init="he")
        log = (tmp_path / log_path("regions_init", first)).read_text()
        assert "GPU slot: 5 (CUDA_VISIBLE_DEVICES=5)" in log and "analysis on cpu" in log
    tensors = data.Tensors(store.open_store(tmp_path / DATASET.format(dataset="mnist1d")))
    for network, path in zip(regions_workflow.init_networks(full), stores, strict=True):
        net = analysis.fresh_mlp(
            network["depth"],
            network["neurons"],
            network["init"],
            tensors.input_shape,
            tensors.num_classes,
            network["seed"],
            full["regions"]["bias_std"],
        )
        alone = analysis.analyse_with_options(
            net, tensors.test_x, regions_workflow.probe_options(full), network
        )
        store.write_store(alone, tmp_path / "alone" / path, full, "regions_init")
        assert not differences(
            store.store_root(tmp_path / path), store.store_root(tmp_path / "alone" / path)
        ), path
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config | {"device": "cpu"}))
    again = snakemake(repo, tmp_path, "-n", *stores)  # the device changes no statistic
    assert "Nothing to be done" in again.stdout + again.stderr
    config["regions"]["init"]["depth"] = [1, 2, 4]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    counts = job_counts(
        snakemake(repo, tmp_path, "-n", *regions_workflow.init_paths(validated(repo, config))).stdout
    )
    assert counts == {"regions_init": 1}  # depth 4, every width and seed; depths 1 and 2 stay
