"""Paths shared by every study: prepared datasets, figures, and each job's log and benchmark files.

Each study's own outputs are listed once, in its ``workflow`` module's ``PATHS``; a job's log and
benchmark file are named after its rule and its main output, so that they are never written by hand.
Zarr stores are named by their root metadata file, ``zarr.json``, so that Snakemake leaves no marker
file inside the store (see :func:`deepstudy.store.store_root`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

DATASET = "results/datasets/{dataset}.zarr/zarr.json"
#: Every figure is written in these formats, the first shown in the report (the others lie beside it).
FIGURE_FORMATS = ("png", "pdf")
_OUTPUT_SUFFIXES = (".zarr/zarr.json", ".pt", ".png", ".pdf")
#: A checkpoint file's name: the epoch whose weights it holds (0 is the initialisation).
CHECKPOINT_FILE = "epoch{epoch}.pt"
_CHECKPOINT_NAME = re.compile(re.escape(CHECKPOINT_FILE).replace(r"\{epoch\}", r"(\d+)"))


def number_label(value: float) -> str:
    """A number as it appears in paths: 10 for 10 and 10.0, 0.05 for 0.05."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def labels(values: dict) -> dict[str, str]:
    """Factor values as they appear in paths and wildcards: names as they are, numbers labelled."""
    return {key: value if isinstance(value, str) else number_label(value) for key, value in values.items()}


def checkpoint_file_epoch(path: str | Path) -> int | None:
    """The epoch a checkpoint file is named for (see :data:`CHECKPOINT_FILE`), or None for another name."""
    match = _CHECKPOINT_NAME.fullmatch(Path(path).name)
    return int(match.group(1)) if match else None


def _job_name(output: str) -> str:
    """The part of an output path that names its job: without ``results/`` and the file suffix."""
    name = output.removeprefix("results/")
    for suffix in _OUTPUT_SUFFIXES:
        name = name.removesuffix(suffix)
    return name


def log_path(rule: str, output: str | None = None) -> str:
    """The log file of the ``rule`` job that writes ``output`` (a path template of that rule, with
    its wildcards); a rule of one job needs no output to tell its jobs apart."""
    return f"results/logs/{rule}/{_job_name(output)}.log" if output else f"results/logs/{rule}.log"


def benchmark_path(rule: str, output: str | None = None) -> str:
    """The benchmark file (time and memory) of the ``rule`` job that writes ``output``."""
    return (
        f"results/benchmarks/{rule}/{_job_name(output)}.tsv" if output else f"results/benchmarks/{rule}.tsv"
    )


def figure_path(folder: str) -> str:
    """A study's figure path template (``{figure}`` left to fill in, no extension), in ``folder``."""
    return f"results/figures/{folder}/{{figure}}"


def figure_files(template: str, figure: str) -> list[str]:
    """The files of one figure, one per format, from a study's figure path ``template`` (the
    path without its extension)."""
    return [f"{template.format(figure=figure)}.{ext}" for ext in FIGURE_FORMATS]


def figure_outputs(template: str, figures: tuple[str, ...], mark: Callable[[str, str], object]) -> dict:
    """A plot rule's named outputs: each of ``figures``' files (:func:`figure_files`), the first
    format marked for the report by ``mark(path, figure)`` (Snakemake's ``report()`` with the
    figure's caption), the others beside it unmarked, so that the report shows each figure once."""
    outputs = {}
    for figure in figures:
        shown, *beside = figure_files(template, figure)
        outputs[figure] = [mark(shown, figure), *beside]
    return outputs


#: The reproduction table (see :mod:`deepstudy.claims`): CSV, its JSON twin, and the report's page.
CLAIMS = {"table": "results/claims.csv", "json": "results/claims.json", "page": "results/claims.html"}
