"""Zarr stores: atomic writes with provenance (config, package versions, git commit).

Stores are written in Zarr format 3 with consolidated metadata, chosen explicitly: zarr-python
notes that consolidation is not yet part of the v3 specification (a warning silenced here), but
without it a plain ``xarray.open_zarr(path)`` warns on every open. String coordinates are stored
as variable-length strings, which have a v3 specification, rather than fixed-width unicode.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
import xarray as xr

PROVENANCE_PACKAGES = ("deepstudy", "torch", "torchvision", "numpy", "xarray", "zarr", "snakemake")


def package_versions(packages: tuple[str, ...] = PROVENANCE_PACKAGES) -> dict[str, str]:
    """Installed versions of ``packages``; a package that is not installed maps to ``"absent"``."""
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def git_commit(directory: str | Path = ".") -> str:
    """The commit checked out in ``directory`` (suffixed ``-dirty`` with local changes), or ``unknown``."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=directory,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}-dirty" if status else commit


def provenance(config: dict) -> dict[str, str]:
    """Attributes every store carries: the config, package versions and git commit, as JSON text."""
    return {
        "config": json.dumps(config, sort_keys=True, default=_json_default),
        "package_versions": json.dumps(package_versions(), sort_keys=True),
        "git_commit": git_commit(),
    }


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a JSON attribute")


def _storable_attrs(attrs: dict) -> dict:
    """Attributes with numpy scalars made plain, since zarr 3 cannot serialise nested numpy values."""
    return json.loads(json.dumps(attrs, default=_json_default))


def _variable_length_strings(ds: xr.Dataset) -> xr.Dataset:
    for name, var in ds.variables.items():
        if var.dtype.kind == "U":
            ds[name] = var.astype(object)
    return ds


def store_root(path: str | Path) -> Path:
    """The store directory of ``path``, which is the store or its root metadata file ``zarr.json``.

    Workflow rules name a store by its ``zarr.json``: declaring the directory itself would make
    Snakemake put a marker file into it, which zarr then warns about on every open.
    """
    path = Path(path)
    return path.parent if path.name == "zarr.json" else path


def write_store(ds: xr.Dataset, path: str | Path, config: dict | None = None) -> None:
    """Write ``ds`` to the Zarr store ``path`` atomically: a failed write leaves nothing at ``path``.

    With ``config`` given, the store's attributes also record it with package versions and commit.
    """
    path = store_root(path)
    ds = ds.copy()
    if config is not None:
        ds.attrs.update(provenance(config))
    ds.attrs = _storable_attrs(ds.attrs)
    for var in ds.variables.values():
        var.attrs = _storable_attrs(var.attrs)
    ds = _variable_length_strings(ds)
    partial = path.with_name(f".{path.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
            ds.to_zarr(partial, mode="w", zarr_format=3, consolidated=True)
        shutil.rmtree(path, ignore_errors=True)
        partial.rename(path)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def open_store(path: str | Path) -> xr.Dataset:
    """Open a store written by :func:`write_store`; a missing store raises one clear error."""
    path = store_root(path)
    if not path.exists():
        raise FileNotFoundError(f"no Zarr store at '{path}'")
    return xr.open_zarr(path)


def stored_config(ds: xr.Dataset) -> dict:
    """The config recorded in a store's attributes."""
    return json.loads(ds.attrs["config"])
