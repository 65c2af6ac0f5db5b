"""The test study through a real SLURM cluster: single node on localhost, started by .ci/slurm.sh.

The slurm profile submits every job with sbatch (snakemake-executor-plugin-slurm); the results must
equal those of a local run. Skipped, with the reason, only where the daemons cannot be installed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml
from conftest import with_slurm_plugin
from test_workflow import job_counts, small_noise_study

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

STATE = Path("/tmp/deepstudy-slurm")


@pytest.fixture(scope="module")
def cluster(repo):
    script = repo / ".ci" / "slurm.sh"
    started = subprocess.run([str(script), "start"], capture_output=True, text=True, timeout=600)
    if started.returncode == 3:
        pytest.skip(f"SLURM daemons cannot be installed here: {started.stderr.strip()}")
    assert started.returncode == 0, started.stdout + started.stderr
    yield STATE
    subprocess.run([str(script), "stop"], capture_output=True, text=True, timeout=120)


def run(repo: Path, workdir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "-s", str(repo / "workflow" / "Snakefile")]
    command += ["--directory", str(workdir), "--configfile", str(workdir / "config.yaml"), *args]
    environment = with_slurm_plugin(dict(os.environ))
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_the_study_runs_through_slurm_and_matches_a_local_run(repo, cluster, tmp_path):
    config = small_noise_study(repo, seeds=[0], noise=("uniform", "structured"))
    through_slurm, local = tmp_path / "slurm", tmp_path / "local"
    for folder in (through_slurm, local):
        folder.mkdir()
        (folder / "config.yaml").write_text(yaml.safe_dump(config))
    planned = job_counts(run(repo, through_slurm, "-n", "--cores", "1").stdout)
    submitted = run(
        repo,
        through_slurm,
        "--profile",
        str(repo / "workflow" / "profiles" / "slurm"),
        "--executor",
        "slurm",
        "--default-resources",
        "slurm_partition=debug",
        "--set-resources",
        "train:slurm_partition=debug",
        "--slurm-no-account",
        "--slurm-status-command",
        "squeue",  # no slurmdbd here, so no sacct
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--latency-wait",
        "5",
    )
    run(repo, local, "--cores", "2")
    # every job but the local target went through sbatch (dilution plans as one grouped
    # submission), and SLURM completed each submission
    output = submitted.stdout + submitted.stderr
    sbatch_ids = set(re.findall(r"submitted with SLURM jobid (\d+)", output))
    assert re.findall(r"localrule (\w+):", output) == ["all"]
    completions = (cluster / "log" / "jobcomp.txt").read_text().splitlines()
    ours = [line for line in completions if f"WorkDir={through_slurm} " in line]
    assert {re.match(r"JobId=(\d+)", line).group(1) for line in ours} == sbatch_ids
    assert all("JobState=COMPLETED" in line for line in ours)
    jobs = sum(count for rule, count in planned.items() if rule != "all")
    assert 0 < len(sbatch_ids) < jobs  # the four dilution plans travelled together
    # and the results are those of a local run
    stores = sorted(p.relative_to(local) for p in (local / "results").rglob("metrics.zarr"))
    assert sum(xr.open_zarr(local / store).sizes["run"] for store in stores) == 4  # every run, in its pack
    for store in [*stores, Path("results/noise/summary.zarr")]:
        a, b = xr.open_zarr(through_slurm / store), xr.open_zarr(local / store)
        for name in a.data_vars:
            if name != "train_seconds":
                np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=f"{store}: {name}")
    again = run(repo, through_slurm, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
