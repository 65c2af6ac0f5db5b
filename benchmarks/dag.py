"""Benchmark: time of `snakemake -n` (DAG building, no jobs run) for generated label-noise studies.

Writes a study with about 1,000 and one with 10,000 training runs (in packs, ``noise.training.pack``,
plus their dilution plans) into temporary folders and times a dry run of each; the DAG must stay
fast at scale, so input functions do no file I/O.

Run: .venv/bin/python benchmarks/dag.py [--runs 1000 10000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def study(runs: int) -> dict:
    """A label-noise study of about ``runs`` trainings: 2 noise kinds × 5 clean sizes × 2 batch
    sizes × 2 learning rates × 5 or 10 seeds × as many α values as needed."""
    combinations = max(1, runs // 40)
    seeds = 10 if combinations % 10 == 0 else 5
    alphas = max(1, combinations // seeds)
    return {
        "studies": ["noise"],
        "device": "cpu",
        "datasets": {"mnist1d": {"num_samples": 4000, "seed": 1}},
        "models": {"mlp": {"architecture": "mlp", "depth": 1, "width": 32}},
        "noise": {
            "dataset": "mnist1d",
            "training": {"epochs": 1, "checkpoint_epochs": []},
            "grid": [
                {
                    "model": ["mlp"],
                    "noise": ["uniform", "structured"],
                    "alpha": list(range(alphas)),
                    "n_clean": [100, 200, 300, 400, 500],
                    "batch_size": [32, 64],
                    "lr": [0.01, 0.05],
                    "seed": list(range(seeds)),
                }
            ],
            "plots": {"target_accuracy": 0.2},
        },
    }


def dry_run_seconds(config: dict) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile")]
        command += [
            "--directory",
            folder,
            "--configfile",
            str(path),
            "-n",
            "--cores",
            "2",
            "--quiet",
            "rules",
        ]
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        return time.perf_counter() - started, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    for runs in args.runs:
        seconds, summary = dry_run_seconds(study(runs))
        trainings = next(
            (line.split()[-1] for line in summary.splitlines() if line.startswith("train ")), "?"
        )
        print(f"snakemake -n, {trainings} training jobs: {seconds:.1f} s")


if __name__ == "__main__":
    main()
