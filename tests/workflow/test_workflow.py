"""End to end: the tiny study through Snakemake, then dry runs, reruns, stores and lint."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
import yaml
from conftest import validate_study, with_slurm_plugin
from deepstudy.activation import claims as activation_claims
from deepstudy.activation import workflow as activation_workflow
from deepstudy.claims import NOT_RUN, VERDICTS
from deepstudy.config import load_schema
from deepstudy.continual import claims as continual_claims
from deepstudy.continual import workflow as continual_workflow
from deepstudy.noise import claims as noise_claims
from deepstudy.noise import workflow as noise_workflow
from deepstudy.paths import CLAIMS, labels
from deepstudy.regions import claims as regions_claims
from deepstudy.regions import workflow as regions_workflow

pytestmark = pytest.mark.slow


def snakemake(
    repo: Path, workdir: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(repo / "workflow" / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        "--cores",
        "2",
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run, as rule -> count."""
    table = output.split("Job stats:")[1].split("total")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, flags=re.M)}


@pytest.fixture(scope="module")
def study(repo, tmp_path_factory):
    """The tiny study, run once for all tests of this module."""
    workdir = tmp_path_factory.mktemp("study")
    config = yaml.safe_load((repo / "tests" / "data" / "tiny.yaml").read_text())
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(repo, workdir)
    return workdir, config


def test_a_finished_study_has_nothing_left_to_do(repo, study):
    workdir, _ = study
    result = snakemake(repo, workdir, "-n")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_every_store_opens_with_xarray(study):
    workdir, _ = study
    stores = sorted((workdir / "results").rglob("*.zarr"))
    assert len(stores) > 5
    for path in stores:
        ds = xr.open_zarr(path)
        assert "git_commit" in ds.attrs and "package_versions" in ds.attrs and "config" in ds.attrs


def test_every_plan_is_complete_and_exact(study):
    workdir, config = study
    plans = sorted((workdir / "results" / "noise" / "plans").rglob("*.zarr"))
    assert plans
    for path in plans:
        plan = xr.open_zarr(path)
        for variable in ("source_index", "label", "is_noisy"):
            assert plan[variable].dims == ("example",)
        for attribute in ("alpha", "noise", "n_clean", "num_classes", "seed"):
            assert attribute in plan.attrs
        expected = round(plan.attrs["alpha"] * plan.attrs["n_clean"])
        assert int(plan["is_noisy"].sum()) == expected
        if plan.attrs["noise"] == "structured":
            assert plan.attrs["delta"] == config["noise"]["structured"]["delta"]


def test_summary_has_the_swept_dimensions(study):
    workdir, config = study
    summary = xr.open_zarr(workdir / "results" / "noise" / "summary.zarr")
    for dim in ("model", "noise", "alpha", "batch_size", "lr", "n_clean", "seed", "epoch"):
        assert dim in summary.dims
    assert summary.sizes["epoch"] == config["noise"]["training"]["epochs"]
    assert set(summary["test_accuracy"].dims) == {
        "model",
        "noise",
        "alpha",
        "batch_size",
        "lr",
        "n_clean",
        "seed",
    }
    ran = int(summary["test_accuracy"].notnull().sum())
    from deepstudy.noise.workflow import runs

    assert ran == len(runs(config["noise"]["grid"]))
    accuracy = summary["test_accuracy"].values
    assert np.nanmin(accuracy) >= 0 and np.nanmax(accuracy) <= 1
    assert summary["accuracy_curve"].attrs["units"] == "fraction"


def test_figures_and_checkpoints_exist(repo, study):
    workdir, config = study
    for name in ("accuracy_vs_alpha", "batch_size", "clean_needed"):
        for ext in ("png", "pdf"):
            assert (workdir / "results" / "figures" / "noise" / f"{name}.{ext}").stat().st_size > 1000
    checkpoints = list((workdir / "results" / "noise" / "runs").rglob("epoch*.pt"))
    from deepstudy.noise.workflow import NoiseStudy, run_name

    study = NoiseStudy(validated(repo, config))
    epochs = config["noise"]["training"]["checkpoint_epochs"]
    assert len(checkpoints) == len(study.packs) * len(epochs)  # one file per pack and epoch
    held = [sorted(torch.load(path, weights_only=False).get("runs", [None])) for path in checkpoints]
    names = sorted(run_name(run) for run in study.runs)
    assert sum(len(file) for file in held) == len(names) * len(epochs)  # every run's weights, once an epoch
    assert not list((workdir / "results").rglob("*.resume.pt"))


def test_logs_are_free_of_warnings(study):
    workdir, _ = study
    for log in (workdir / "results" / "logs").rglob("*.log"):
        assert "Warning" not in log.read_text(), log


def test_changing_delta_reruns_only_structured_jobs(repo, study, tmp_path):
    workdir, config = study
    from deepstudy.noise.workflow import NoiseStudy, run_key, runs
    from deepstudy.regions.workflow import trained_runs

    grid_runs = runs(config["noise"]["grid"])
    structured = [r for r in grid_runs if r["noise"] == "structured"]
    plans = {(r["alpha"], r["n_clean"], r["seed"]) for r in structured}
    full = validated(repo, config)
    # the packs that hold a structured run retrain, and the analyses of their checkpoints rerun
    hit = [p for p in NoiseStudy(full).packs.values() if any(r["noise"] == "structured" for r in p)]
    retrained = {run_key(r) for p in hit for r in p}
    analysed = [r for r in trained_runs(grid_runs, full) if run_key(r) in retrained]
    changed = yaml.safe_load(yaml.safe_dump(config))
    changed["noise"]["structured"]["delta"] = 0.9
    (workdir / "config.yaml").write_text(yaml.safe_dump(changed))
    try:
        counts = job_counts(snakemake(repo, workdir, "-n").stdout)
    finally:
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    expected = {"dilute_labels": len(plans), "train": len(hit), "collect_noise": 1, "plot_noise": 1, "all": 1}
    expected |= {"claims": 1}  # the claims read the summaries
    if analysed:
        expected |= {"regions_trained": len(analysed)}  # a job per run, for all its checkpoints
        expected |= {"collect_regions": 1, "plot_regions": 1}
        partition = trained_runs(grid_runs, full)[0]
        expected |= {"region_partition": 1} if run_key(partition) in retrained else {}
    assert len(hit) < len(NoiseStudy(full).packs)  # packs without a structured run stay
    assert counts == expected


def test_report_builds_offline(repo, study):
    """`make report CONFIG=...` after a run of that config (not the default): one entry per figure,
    the PNG, and the claims page."""
    workdir, _ = study
    links = [workdir / name for name in ("workflow", "scripts")]  # make runs snakemake in the workdir
    for link in links:
        link.symlink_to(repo / link.name)
    try:
        result = subprocess.run(
            ["make", "-f", str(repo / "Makefile"), "-o", ".venv/.installed", "report", "CONFIG=config.yaml"]
            + [f"BIN={Path(sys.executable).parent}"],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        for link in links:
            link.unlink()
    assert result.returncode == 0, result.stdout + result.stderr
    assert (workdir / "report.zip").stat().st_size > 10000
    with zipfile.ZipFile(workdir / "report.zip") as report:
        names = report.namelist()
        pages = [name for name in names if name.endswith("claims.html")]
        assert pages, "the report has no claims page"
        assert "Larger batches help" in report.read(pages[0]).decode()
    figures = [Path(name).name for name in names if name.endswith((".png", ".pdf"))]
    workflows = (noise_workflow, regions_workflow, activation_workflow, continual_workflow)
    expected = [f"{figure}.png" for study in workflows for figure in study.FIGURES]
    assert sorted(figures) == sorted(expected)  # each figure once, as its PNG


def test_readme_snippets_run_on_the_results(repo, study, monkeypatch):
    """The README's Python snippets, in order in one namespace, on a finished study's results."""
    workdir, _ = study
    snippets = re.findall(r"^```python\n(.*?)^```", (repo / "README.md").read_text(), flags=re.M | re.S)
    assert len(snippets) >= 3
    monkeypatch.chdir(workdir)
    namespace: dict = {}
    for snippet in snippets:
        exec(compile(snippet, "README.md", "exec"), namespace)


def test_claims_table_lists_every_claim_with_a_verdict(study):
    """Each study's statements, in order, each measured or saying why not."""
    workdir, _ = study
    table = pd.read_csv(workdir / CLAIMS["table"], keep_default_na=False)
    statements = [
        *noise_claims.STATEMENTS,
        *regions_claims.STATEMENTS,
        *activation_claims.STATEMENTS,
        *continual_claims.STATEMENTS,
    ]
    assert list(table["claim"]) == [s.claim for s in statements]
    assert set(table["verdict"]) <= set(VERDICTS)
    assert (table["measured"].str.len() > 0).all()
    # the tiny study sweeps one batch size: that claim cannot be checked, and says so
    assert table.set_index("claim").loc[noise_claims.BATCH.claim, "verdict"] == NOT_RUN
    assert (table["verdict"] != NOT_RUN).sum() >= 10


def test_lint_is_clean(repo, study):
    workdir, _ = study
    result = snakemake(repo, workdir, "--lint", check=False)
    output = result.stdout + result.stderr
    assert "Lints for" not in output, output
    assert result.returncode == 0, output


def test_missing_dataset_fails_cleanly_without_partial_store(repo, tmp_path):
    config = yaml.safe_load((repo / "tests" / "data" / "tiny.yaml").read_text())
    config["data_root"] = str(tmp_path / "empty")
    config["datasets"]["mnist"] = {"download": False}
    config["noise"]["dataset"] = "mnist"
    config["noise"]["grid"] = config["noise"]["grid"][:1]
    config.pop("regions")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(repo, tmp_path, "results/datasets/mnist.zarr/zarr.json", check=False)
    assert result.returncode != 0
    from deepstudy.paths import DATASET, log_path

    log = (tmp_path / log_path("prepare_dataset", DATASET).format(dataset="mnist")).read_text()
    assert log.count("\n") == 1 and str(tmp_path / "empty") in log
    assert "MNIST/raw/train-images-idx3-ubyte" in log
    assert not (tmp_path / "results" / "datasets" / "mnist.zarr").exists()
    assert not list((tmp_path / "results" / "datasets").glob(".*partial"))


def test_regions_stores_have_named_dimensions(study):
    workdir, config = study
    init = xr.open_zarr(workdir / "results" / "regions" / "init.zarr")
    for dim in ("depth", "neurons", "init", "seed", "line", "plane", "point"):
        assert dim in init.dims
    hidden = init["hidden_neurons"].isel(init=0, seed=0).transpose("depth", "neurons")
    assert np.array_equal(hidden.values, np.tile(init["neurons"].values, (init.sizes["depth"], 1)))
    assert init["regions_per_length"].attrs["units"] == "regions per unit length"
    probes = config["regions"]["probes"]
    assert init.sizes["line"] == probes["lines"] + probes["directions"]
    assert list(init["line_kind"].values).count("direction") == probes["directions"]
    assert bool((init["patterns_2d"] >= init["grid_patterns_2d"]).all())
    trained = xr.open_zarr(workdir / "results" / "regions" / "trained.zarr")
    assert list(trained["epoch"].values) == sorted(config["noise"]["training"]["checkpoint_epochs"])
    activation = xr.open_zarr(workdir / "results" / "regions" / "activation_length.zarr")
    assert set(activation["profile"].values) == set(config["regions"]["activation"]["profiles"])
    for name in ("regions_per_length", "patterns_2d", "partition", "activation_length", "trainability"):
        assert (workdir / "results" / "figures" / "regions" / f"{name}.png").stat().st_size > 1000


def test_changing_a_region_option_reruns_no_training(repo, study):
    workdir, config = study
    changed = yaml.safe_load(yaml.safe_dump(config))
    changed["regions"]["grid_resolution"] = 60
    (workdir / "config.yaml").write_text(yaml.safe_dump(changed))
    try:
        counts = job_counts(snakemake(repo, workdir, "-n").stdout)
    finally:
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    assert "train" not in counts and "dilute_labels" not in counts
    full = validated(repo, config)
    trained = regions_workflow.trained_runs(noise_workflow.runs(full["noise"]["grid"]), full)
    depths = len(config["regions"]["init"]["depth"])  # a job per depth, for every width and seed
    assert counts["regions_init"] == depths and counts["regions_memorised"] == depths
    assert counts["regions_trained"] == len(trained)
    assert counts["collect_regions"] == 1 and counts["plot_regions"] == 1


def test_each_checkpoint_store_holds_what_an_analysis_of_it_alone_gives(repo, study, tmp_path):
    """A regions_trained job analyses every checkpoint of its run, a regions_memorised job every
    width and checkpoint of its depth; each checkpoint's store is that of its network alone."""
    from compare_stores import differences
    from deepstudy import data, store
    from deepstudy.checkpoints import read_checkpoint
    from deepstudy.noise.workflow import NoiseStudy, run_name
    from deepstudy.paths import DATASET, log_path
    from deepstudy.regions import analysis

    workdir, config = study
    full = validated(repo, config)
    noise = NoiseStudy(full)
    tensors = data.Tensors(store.open_store(workdir / DATASET.format(dataset="mnist1d")))
    options = regions_workflow.probe_options(full)
    analysed = []  # (checkpoint file, the run in it, the network's factors as in paths, its store)
    for run in regions_workflow.trained_runs(noise.runs, full):
        for epoch in full["noise"]["training"]["checkpoint_epochs"]:
            named = labels({**run, "epoch": epoch})
            path = regions_workflow.PATHS["trained"].format(**named)
            analysed.append((noise.checkpoint_path(run, epoch), run_name(run), named, path))
    for network in regions_workflow.memorise_networks(full):
        for epoch in full["regions"]["memorise"]["checkpoint_epochs"]:
            named = labels({**network, "epoch": epoch})
            checkpoint = regions_workflow.PATHS["memorise_checkpoint"].format(**named)
            analysed.append((checkpoint, None, named, regions_workflow.PATHS["memorised"].format(**named)))
    for checkpoint_path, run, named, path in analysed:
        checkpoint = read_checkpoint(workdir / checkpoint_path, run)
        factors = analysis.typed_factors(named)  # as a job of one network typed its wildcards
        alone = analysis.analyse_with_options(
            checkpoint.net, tensors.test_x, options, factors, excluded=checkpoint.excluded
        )
        store.write_store(alone, tmp_path / path, full, "alone")
        assert not differences(store.store_root(workdir / path), store.store_root(tmp_path / path)), path
    for kind in ("trained", "memorised"):
        logs = list((workdir / log_path(f"regions_{kind}")).with_suffix("").rglob("*.log"))
        members = len(regions_workflow.pack_outputs(kind, full))
        assert logs and all(f"analysed {members} networks in one job" in log.read_text() for log in logs)


def test_continual_summary_holds_the_accuracy_matrix(study):
    workdir, config = study
    summary = xr.open_zarr(workdir / "results" / "continual" / "summary.zarr")
    study_config = config["continual"]
    assert {"strategy", "trained_on", "eval_task", "stream", "scenario", "buffer_size", "seed"} <= set(
        summary["accuracy"].dims
    )
    assert set(summary["strategy"].values) == set(study_config["strategies"])
    assert list(summary["buffer_size"].values) == [
        np.inf if b == "unbounded" else b for b in study_config["buffer_size"]
    ]
    for stream, options in study_config["streams"].items():
        final = summary["average_accuracy"].sel(stream=stream)
        for scenario in summary["scenario"].values:
            ran = bool(final.sel(scenario=scenario).notnull().all())
            assert ran == (scenario in options["scenarios"]), (stream, scenario)
    curve = summary["accuracy_curve"].sel(stream="split", scenario="class").dropna("step", how="all")
    assert curve.sizes["step"] > 3 and float(curve.min()) >= 0 and float(curve.max()) <= 1
    for name in ("along_stream", "accuracy_matrix", "buffer_size"):
        assert (workdir / "results" / "figures" / "continual" / f"{name}.png").stat().st_size > 1000


def test_changing_clear_weights_reruns_only_clear(repo, study):
    workdir, config = study
    changed = yaml.safe_load(yaml.safe_dump(config))
    changed["continual"]["clear"] = {"cloning_weight": 0.5}
    (workdir / "config.yaml").write_text(yaml.safe_dump(changed))
    try:
        counts = job_counts(snakemake(repo, workdir, "-n").stdout)
    finally:
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    from deepstudy.continual.workflow import packs

    changed_config = validated(repo, config)
    clear_packs = [p for p in packs(changed_config) if p[0]["strategy"] == "clear"]
    clear_runs = len(config["continual"]["streams"]) * len(config["continual"]["buffer_size"])
    assert sum(len(p) for p in clear_packs) == clear_runs and all(
        r["strategy"] == "clear" for p in clear_packs for r in p
    )
    assert counts == {
        "train_continual": len(clear_packs),
        "collect_continual": 1,
        "plot_continual": 1,
        "claims": 1,
        "all": 1,
    }


def validated(repo: Path, config: dict) -> dict:
    """A copy of ``config`` as the workflow sees it: validated, defaults filled in."""
    return validate_study(
        yaml.safe_load(yaml.safe_dump(config)),
        load_schema(repo / "workflow" / "schemas" / "config.schema.yaml"),
    )


def small_noise_study(repo: Path, seeds: list[int], noise: tuple[str, ...] = ("uniform",)) -> dict:
    """The tiny config reduced to label noise: an MLP at alpha 0 and 1 for each seed."""
    config = yaml.safe_load((repo / "tests" / "data" / "tiny.yaml").read_text())
    config["studies"] = ["noise"]
    config["noise"]["grid"] = [
        {
            "model": ["mlp"],
            "noise": list(noise),
            "alpha": [0, 1],
            "n_clean": [100],
            "batch_size": [32],
            "lr": [0.05],
            "seed": seeds,
        }
    ]
    return config


def test_concurrent_gpu_jobs_get_different_devices(repo, tmp_path):
    """With --resources gpu=2, training jobs running at once take different (here fake) GPU ids."""
    config = small_noise_study(repo, seeds=[0, 1])
    config.update(device="auto", gpus=[5, 7])
    config["noise"]["training"]["pack"] = 1  # four jobs
    config["noise"]["training"]["epoch_examples"] = 6000  # a few seconds each, so that jobs overlap
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(repo, tmp_path, "--resources", "gpu=2")
    logs = sorted((tmp_path / "results" / "logs" / "train").rglob("*.log"))
    slots = [re.search(r"GPU slot: (\S+) \(CUDA_VISIBLE_DEVICES=(\S+)\)", log.read_text()) for log in logs]
    assert len(logs) == 4 and all(slots)
    assert all(m.group(1) == m.group(2) for m in slots)  # the slot is what CUDA sees
    # a job takes the first free id, so 7 is only ever taken while another job holds 5
    assert {m.group(1) for m in slots} == {"5", "7"}


def test_packed_training_jobs_match_one_run_per_job(repo, tmp_path):
    """noise.training.pack = 2: runs of one model and batch size (here across alpha and seed)
    share a job and a process, each on its own plan; their results match those of one run per job."""
    config = small_noise_study(repo, seeds=[0, 1, 2])
    summaries = {}
    for pack in (1, 2):
        workdir = tmp_path / f"pack{pack}"
        workdir.mkdir()
        config["noise"]["training"]["pack"] = pack
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
        counts = job_counts(snakemake(repo, workdir, "-n").stdout)
        assert counts["train"] == (6 if pack == 1 else 3)  # six runs of one block, in pairs
        snakemake(repo, workdir)
        summaries[pack] = xr.open_zarr(workdir / "results" / "noise" / "summary.zarr").load()
        again = snakemake(repo, workdir, "-n")
        assert "Nothing to be done" in again.stdout + again.stderr
    alone, packed = summaries[1]["accuracy_curve"], summaries[2]["accuracy_curve"]
    assert alone.shape == packed.shape and bool(packed.notnull().all())
    assert float(abs(alone - packed).mean()) <= 0.01
    np.testing.assert_allclose(summaries[1]["train_loss"], summaries[2]["train_loss"], atol=1e-4)
    logs = list((tmp_path / "pack2" / "results" / "logs" / "train").rglob("*.log"))
    assert sum("trained 2 runs packed" in log.read_text() for log in logs) == 3


@pytest.mark.parametrize("paper", ["noise_mnist", "regions_mnist", "continual_mnist"])
def test_paper_configs_plan_through_the_slurm_profile(repo, tmp_path, paper):
    """Each paper config builds its DAG with the cluster profile (a dry run: no data, no cluster)."""
    (tmp_path / "config.yaml").write_text((repo / "config" / "paper" / f"{paper}.yaml").read_text())
    profile = str(repo / "workflow" / "profiles" / "slurm")
    result = snakemake(repo, tmp_path, "--profile", profile, "-n", env=with_slurm_plugin(dict(os.environ)))
    counts = job_counts(result.stdout)
    assert counts["prepare_dataset"] >= 1 and sum(counts.values()) > 30  # a study: dozens of packed jobs
