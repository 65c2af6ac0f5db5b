"""What every training job shares: run specs from the workflow's run mappings, resume files, and
the factor coordinates of its metrics.

A job trains a list of runs; each run is a mapping from the workflow holding the fields of a spec
dataclass (plus ``factors``, its place in the study's grid). A run resumes from its own file in the
job's resume folder, which is removed once the job has finished.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import xarray as xr


def spec_from_run(spec_class: type, run: dict, tuples: dict[str, tuple] | None = None):
    """A ``spec_class`` instance from a run mapping (extra keys such as factors ignored); the
    fields in ``tuples`` become tuples (YAML and JSON give lists), defaulting to their value there."""
    values = {f.name: run[f.name] for f in dataclasses.fields(spec_class) if f.name in run}
    for name, default in (tuples or {}).items():
        values[name] = tuple(values.get(name, default))
    return spec_class(**values)


def fingerprint(spec) -> str:
    """A hash of a spec dataclass: a resume checkpoint is only used by the run that wrote it."""
    text = json.dumps(dataclasses.asdict(spec), sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def resume_path(resume_dir: str | Path, name: str) -> Path:
    """Where run ``name`` of a job keeps its resume checkpoint."""
    return Path(resume_dir) / f"{name}.resume.pt"


def remove_resume_files(resume_dir: str | Path, specs: list) -> None:
    """Drop the resume checkpoints of a finished job's runs."""
    for spec in specs:
        resume_path(resume_dir, spec.name).unlink(missing_ok=True)


def add_factor_coords(metrics: xr.Dataset, runs: list[dict]) -> None:
    """Each run's factors (its place in the study's grid) as coordinates along ``run``."""
    factors = [run.get("factors", {}) for run in runs]
    for key in factors[0]:
        metrics.coords[key] = ("run", [f[key] for f in factors])
