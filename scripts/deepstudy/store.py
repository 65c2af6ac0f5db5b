"""Zarr stores: atomic, checksummed writes with provenance (config, package versions, git commit).

Every chunk carries a CRC-32C checksum (zarr 3's ``crc32c`` codec, after compression) and every
chunk is written, even one of fill values: a truncated, overwritten or missing chunk is found when
the store is read. :func:`open_store` reads the whole store and turns any failure into one line
naming the store, the array and the command that rebuilds it (:class:`DamagedStoreError`).

Stores are written in Zarr format 3 with consolidated metadata, chosen explicitly: zarr-python
notes that consolidation is not yet part of the v3 specification (a warning silenced here), but
without it a plain ``xarray.open_zarr(path)`` warns on every open. String coordinates are stored
as variable-length strings, which have a v3 specification, rather than fixed-width unicode.
"""

from __future__ import annotations

import asyncio
import json
import platform
import shutil
import subprocess
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
import xarray as xr
import zarr
from zarr.codecs import Crc32cCodec, ZstdCodec

from deepstudy.errors import StudyInputError

PROVENANCE_PACKAGES = (
    "deepstudy",
    "torch",
    "torchvision",
    "numpy",
    "xarray",
    "zarr",
    "snakemake",
    "mnist1d",
    "numba",
)
#: The bytes-to-bytes codecs of every array: zarr's default compression, then a checksum of the
#: compressed bytes, so that damage is found before decompression.
COMPRESSORS = (ZstdCodec(), Crc32cCodec())


class DamagedStoreError(StudyInputError):
    """A store that cannot be opened or read, or holds values its consumers cannot use."""


def package_versions(packages: tuple[str, ...] = PROVENANCE_PACKAGES) -> dict[str, str]:
    """Python's version and those of ``packages``; a package not installed maps to ``"absent"``."""
    versions = {"python": platform.python_version()}
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


def provenance(config: dict, rule: str | None = None) -> dict[str, str]:
    """Attributes every store carries: the config, package versions and git commit, as JSON text,
    and the workflow ``rule`` that wrote it (named in the advice on rebuilding a damaged store)."""
    attrs = {
        "config": json.dumps(config, sort_keys=True, default=_json_default),
        "package_versions": json.dumps(package_versions(), sort_keys=True),
        "git_commit": git_commit(),
    }
    return {**attrs, "rule": rule} if rule else attrs


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


def write_store(
    ds: xr.Dataset, path: str | Path, config: dict | None = None, rule: str | None = None
) -> None:
    """Write ``ds`` to the Zarr store ``path`` atomically: a failed write leaves nothing at ``path``.

    Every array is checksummed (:data:`COMPRESSORS`). With ``config`` given, the store's attributes
    also record it with package versions and commit, and the ``rule`` that wrote it.
    """
    path = store_root(path)
    ds = ds.copy()
    if config is not None:
        ds.attrs.update(provenance(config, rule))
    ds.attrs = _storable_attrs(ds.attrs)
    for var in ds.variables.values():
        var.attrs = _storable_attrs(var.attrs)
    ds = _variable_length_strings(ds)
    for var in ds.variables.values():
        var.encoding["compressors"] = COMPRESSORS
    partial = path.with_name(f".{path.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
            ds.to_zarr(partial, mode="w", zarr_format=3, consolidated=True, write_empty_chunks=True)
        shutil.rmtree(path, ignore_errors=True)
        partial.rename(path)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def open_store(path: str | Path) -> xr.Dataset:
    """Open a store written by :func:`write_store` and read it whole, checksums verified.

    A missing store raises :class:`FileNotFoundError`; one that cannot be opened or read (damaged
    metadata, a truncated, overwritten or missing chunk) :class:`DamagedStoreError`, one line
    naming the store, the array and how to rebuild it.
    """
    path = store_root(path)
    if not path.exists():
        raise FileNotFoundError(f"no Zarr store at '{path}'")
    try:
        ds = xr.open_zarr(path)
    except Exception as error:  # noqa: BLE001 - damage surfaces as many error types
        raise _diagnosed(path, error) from error
    ds.encoding["store"] = str(path)
    for name, var in ds.variables.items():
        try:
            var.load()
        except Exception as error:  # noqa: BLE001
            raise damaged(ds, str(name), _reason(error)) from error
    missing = _missing_chunks(path)
    if missing:
        raise damaged(ds, missing, "chunks are missing")
    return ds


def damaged(
    store: xr.Dataset | str | Path, array: str, reason: str, rule: str | None = None
) -> DamagedStoreError:
    """The one-line error for a ``store`` (an opened one, or its path) whose ``array`` (or
    metadata, where ``array`` is empty) is damaged for ``reason``, with the command that rebuilds
    it and the ``rule`` that wrote it (read from an opened store's attributes)."""
    where = f"array '{array}'" if array else "metadata"
    if isinstance(store, xr.Dataset):
        rule = store.attrs.get("rule")
        store = store.encoding.get("store")
        if store is None:  # built in memory, read from no store
            return DamagedStoreError(f"{where}: {reason}")
    made_by = f" (a job of rule {rule})" if rule else ""
    path = store_root(store)
    return DamagedStoreError(
        f"store '{path}' is damaged, {where}: {reason}; "
        f"rebuild it with `snakemake --forcerun {path / 'zarr.json'}`{made_by}"
    )


def _reason(error: Exception) -> str:
    """Why a read failed, in a few words; first lets zarr finish the reads it had started."""
    _settle()
    text = " ".join(str(error).split())
    if "checksum" in text.lower():
        return "checksum mismatch (truncated or overwritten chunk)"
    return f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__


def _settle(timeout: float = 10.0) -> None:
    """Wait for the reads still pending on zarr's event loop after one of them failed: left
    pending, they are destroyed at exit with a message on the terminal, after the one-line error."""
    from zarr.core.sync import sync

    async def others_done() -> None:
        others = asyncio.all_tasks() - {asyncio.current_task()}
        if others:
            await asyncio.wait(others, timeout=timeout)

    sync(others_done())


def _diagnosed(path: Path, error: Exception) -> DamagedStoreError:
    """Why xarray could not open the store at ``path`` (which raised ``error``): its metadata, or
    the first array that zarr cannot read (an index coordinate, read on opening)."""
    try:
        group = zarr.open_group(path, mode="r")
        rule, names = group.attrs.get("rule"), sorted(group.array_keys())
    except Exception as metadata_error:  # noqa: BLE001
        return damaged(path, "", _reason(metadata_error))
    for name in names:
        try:
            group[name][...]
        except Exception as array_error:  # noqa: BLE001
            return damaged(path, name, _reason(array_error), rule)
    return damaged(path, "", _reason(error), rule)


def _missing_chunks(path: Path) -> str:
    """The first checksummed array of the store with fewer chunks on disk than it has, or ''.

    Only stores written with checksums write every chunk; older ones may omit chunks of fill values.
    """
    group = zarr.open_group(path, mode="r")
    for name, array in sorted(group.arrays()):
        checked = any(isinstance(codec, Crc32cCodec) for codec in array.metadata.codecs)
        if checked and array.nchunks_initialized < array.nchunks:
            return name
    return ""


def stored_config(ds: xr.Dataset) -> dict:
    """The config recorded in a store's attributes."""
    return json.loads(ds.attrs["config"])
