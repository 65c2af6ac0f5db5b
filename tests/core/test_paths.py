"""Shared paths: labels of numbers, and every job's log and benchmark file named after its output."""

from __future__ import annotations

from deepstudy import paths
from deepstudy.noise.workflow import PATHS as NOISE_PATHS
from deepstudy.regions.workflow import PATHS as REGIONS_PATHS


def test_numbers_are_labelled_as_in_paths():
    assert paths.number_label(10) == paths.number_label(10.0) == "10"
    assert paths.number_label(0.05) == "0.05" and paths.number_label(1e-4) == "0.0001"
    assert paths.labels({"model": "mlp", "alpha": 2.0, "seed": 3}) == {
        "model": "mlp",
        "alpha": "2",
        "seed": "3",
    }


def test_a_jobs_log_and_benchmark_keep_its_outputs_wildcards():
    log = paths.log_path("train", NOISE_PATHS["metrics"])
    assert log == (
        "results/logs/train/noise/runs/{model}/{noise}/alpha{alpha}_nclean{n_clean}_bs{batch_size}"
        "_lr{lr}/seed{seed}/metrics.log"
    )
    assert (
        paths.benchmark_path("train", NOISE_PATHS["metrics"])
        == log.replace("logs", "benchmarks", 1)[:-4] + ".tsv"
    )
    assert paths.log_path("collect_noise") == "results/logs/collect_noise.log"
    # two rules on outputs of one template get apart logs; one rule's jobs get one log each
    init, memorised = (paths.log_path("regions_trained", REGIONS_PATHS[k]) for k in ("init", "memorised"))
    assert init != memorised and "{epoch}" in memorised and "{seed}" in init


def test_figures_are_written_in_every_format():
    template = paths.figure_path("noise")
    assert paths.figure_files(template, "batch_size") == [
        f"results/figures/noise/batch_size.{ext}" for ext in paths.FIGURE_FORMATS
    ]
