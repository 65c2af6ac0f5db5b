"""Benchmark: a whole study through Snakemake on this machine, on its GPU and on its CPU cores.

Runs a config (the embedded default unless told otherwise) in a fresh working folder and prints,
per study, the wall time from its first job's start to its last job's end, the trainings (runs, not
jobs) it finished per second, and the mean GPU utilisation while its training jobs ran (sampled
every 0.5 s with ``nvidia-smi``). With ``--cpu-too`` (on a GPU machine) the same config runs again
with ``device: cpu`` and the ratios CPU / GPU are printed, measured side by side on one machine.

Job times come from Snakemake's benchmark files (a job ends when its file is written and started
its ``s`` seconds earlier); rules belong to the study whose ``workflow/rules/<study>.smk`` holds them.

Run: .venv/bin/python benchmarks/study.py [--configfile FILE] [--cores N] [--gpus N]
     [--jobs-per-gpu N] [--cpu-too] [--keep DIR]
On a GPU machine without a package index, carry the other dependencies as wheels (DEVELOPERS.md).
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Rules whose jobs train networks; GPU utilisation is averaged over the times they run.
TRAINING_RULES = ("train", "train_continual", "memorise")


def rule_studies() -> dict[str, str]:
    """Each rule's study, from the rule files (datasets.smk: shared)."""
    owner = {}
    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        for rule in re.findall(r"^rule (\w+):", path.read_text(), flags=re.M):
            owner[rule] = {"activation": "regions", "datasets": "shared"}.get(path.stem, path.stem)
    return owner


class GpuSampler(threading.Thread):
    """Samples ``nvidia-smi`` utilisation (mean over GPUs) with timestamps until stopped."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float]] = []
        self.stopped = threading.Event()
        self.available = shutil.which("nvidia-smi") is not None

    def run(self) -> None:
        while self.available and not self.stopped.is_set():
            query = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
            out = subprocess.run(query, capture_output=True, text=True).stdout.split()
            if out:
                self.samples.append((time.time(), sum(map(float, out)) / len(out)))
            self.stopped.wait(0.5)

    def mean_over(self, intervals: list[tuple[float, float]]) -> float | None:
        inside = [u for t, u in self.samples if any(a <= t <= b for a, b in intervals)]
        return sum(inside) / len(inside) if inside else None


def jobs(workdir: Path) -> list[dict]:
    """Every finished job: its rule, start and end (seconds since the epoch)."""
    found = []
    for path in (workdir / "results" / "benchmarks").rglob("*.tsv"):
        rule = path.relative_to(workdir / "results" / "benchmarks").parts[0].removesuffix(".tsv")
        with open(path) as handle:
            row = next(csv.DictReader(handle, delimiter="\t"))
        end = path.stat().st_mtime
        found.append({"rule": rule, "start": end - float(row["s"]), "end": end})
    return found


def trainings(workdir: Path, study: str) -> int:
    """Runs trained by a study: the ``run`` entries of its training jobs' metric stores."""
    import xarray as xr

    folders = {"noise": ["noise/runs"], "continual": ["continual/runs"], "regions": ["regions/memorise"]}
    total = 0
    for folder in folders.get(study, []):
        for store in (workdir / "results" / folder).rglob("metrics.zarr"):
            total += xr.open_zarr(store).sizes["run"]
    return total


def run_study(args, device: str) -> dict[str, dict]:
    workdir = Path(args.keep or tempfile.mkdtemp(prefix="deepstudy-study-")) / device
    workdir.mkdir(parents=True, exist_ok=True)
    if not args.configfile and not (workdir / "config").exists():  # the embedded default, found as
        (workdir / "config").symlink_to(REPO / "config")  # the Snakefile's configfile: is
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile")]
    command += ["--directory", str(workdir), "--cores", str(args.cores), "--config", f"device={device}"]
    command += [f"jobs_per_gpu={args.jobs_per_gpu}", "--resources", f"gpu={args.gpus * args.jobs_per_gpu}"]
    if args.configfile:
        command += ["--configfile", str(Path(args.configfile).resolve())]
    sampler = GpuSampler()
    sampler.start()
    started = time.time()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.time() - started
    sampler.stopped.set()
    sampler.join()
    if result.returncode != 0:
        raise SystemExit(f"snakemake failed on {device}:\n{result.stderr[-3000:]}")
    owner, done = rule_studies(), jobs(workdir)
    report = {"all": {"wall": wall, "trainings": 0, "gpu": None}}
    for study in sorted({owner.get(j["rule"], "shared") for j in done} - {"shared"}):
        mine = [j for j in done if owner.get(j["rule"]) == study]
        training = [(j["start"], j["end"]) for j in mine if j["rule"] in TRAINING_RULES]
        report[study] = {
            "wall": max(j["end"] for j in mine) - min(j["start"] for j in mine),
            "trainings": trainings(workdir, study),
            "gpu": sampler.mean_over(training) if device != "cpu" else None,
        }
        report["all"]["trainings"] += report[study]["trainings"]
    everything = [(j["start"], j["end"]) for j in done if j["rule"] in TRAINING_RULES]
    report["all"]["gpu"] = sampler.mean_over(everything) if device != "cpu" else None
    return report


def show(device: str, report: dict[str, dict]) -> None:
    print(f"\n{device}: study          wall s   trainings   trainings/s   mean GPU % (training jobs)")
    for study, row in report.items():
        gpu = "-" if row["gpu"] is None else f"{row['gpu']:.0f}"
        rate = row["trainings"] / row["wall"] if row["wall"] else 0.0
        print(f"  {study:<20} {row['wall']:8.1f}   {row['trainings']:9d}   {rate:11.3f}   {gpu}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", help="a study config (default: config/config.yaml)")
    parser.add_argument("--cores", type=int, default=0, help="cores for Snakemake (default: all)")
    parser.add_argument("--gpus", type=int, default=1, help="GPUs the jobs share out")
    parser.add_argument("--jobs-per-gpu", type=int, default=1)
    parser.add_argument("--cpu-too", action="store_true", help="also run on the CPU and print ratios")
    parser.add_argument("--keep", help="folder for the runs' results (default: a temporary one)")
    args = parser.parse_args()
    args.cores = args.cores or "all"
    gpu = shutil.which("nvidia-smi") is not None
    if not gpu:
        print("no nvidia-smi: GPU rows are not measured on this machine; running on the CPU only")
    reports = {}
    for device in (["cuda"] if gpu else []) + (["cpu"] if args.cpu_too or not gpu else []):
        reports[device] = run_study(args, device)
        show(device, reports[device])
    if len(reports) == 2:
        print("\nratios CPU / GPU (wall time), measured side by side on this machine:")
        for study, row in reports["cuda"].items():
            cpu = reports["cpu"].get(study)
            if cpu and row["wall"]:
                print(f"  {study:<20} {cpu['wall'] / row['wall']:6.1f}x")


if __name__ == "__main__":
    main()
