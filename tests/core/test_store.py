"""Zarr stores verify themselves: checksummed chunks, and damage reported in one line naming the store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr
from deepstudy import store
from zarr.codecs import Crc32cCodec


@pytest.fixture
def small_store(tmp_path) -> Path:
    """A store of float, integer and string arrays and an index, the first two of several chunks."""
    rng = np.random.default_rng(0)
    ds = xr.Dataset(
        {
            "images": (("example", "position"), rng.normal(size=(64, 8)).astype(np.float32)),
            "labels": ("example", rng.integers(0, 10, 64)),
        },
        coords={"example": np.arange(64), "name": ("example", [f"e{i}" for i in range(64)])},
    )
    for var in ds.variables.values():
        var.encoding["chunks"] = (16, *var.shape[1:])
    path = tmp_path / "small.zarr"
    store.write_store(ds, path / "zarr.json", config={"seed": 1}, rule="make_small")
    return path


def chunk_file(path: Path, array: str) -> Path:
    """The last chunk file of ``array`` in the store at ``path``."""
    return sorted(p for p in (path / array / "c").rglob("*") if p.is_file())[-1]


def truncate(chunk: Path) -> None:
    chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])


def overwrite(chunk: Path) -> None:
    chunk.write_bytes(np.random.default_rng(1).bytes(chunk.stat().st_size))


def test_every_array_is_checksummed(small_store):
    group = zarr.open_group(small_store, mode="r")
    for name, array in group.arrays():
        assert any(isinstance(codec, Crc32cCodec) for codec in array.metadata.codecs), name


@pytest.mark.parametrize("damage", [truncate, overwrite])
@pytest.mark.parametrize("array", ["images", "labels", "name", "example"])  # "example": read on opening
def test_a_damaged_chunk_fails_in_one_line_naming_store_array_and_rebuild(small_store, damage, array):
    damage(chunk_file(small_store, array))
    with pytest.raises(store.DamagedStoreError) as caught:
        store.open_store(small_store / "zarr.json")
    message = str(caught.value)
    assert "\n" not in message
    assert f"store '{small_store}'" in message and f"array '{array}'" in message
    assert f"--forcerun {small_store / 'zarr.json'}" in message and "rule make_small" in message


def test_a_missing_chunk_is_found(small_store):
    chunk_file(small_store, "labels").unlink()
    with pytest.raises(store.DamagedStoreError, match="array 'labels': chunks are missing"):
        store.open_store(small_store)


def test_damaged_metadata_fails_in_one_line(small_store):
    metadata = small_store / "zarr.json"
    metadata.write_text(metadata.read_text()[:100])
    with pytest.raises(store.DamagedStoreError) as caught:
        store.open_store(small_store)
    assert "\n" not in str(caught.value) and f"store '{small_store}'" in str(caught.value)
    assert "metadata" in str(caught.value)


def test_an_intact_store_is_read_whole_on_opening(small_store):
    ds = store.open_store(small_store)
    shutil.rmtree(small_store)  # nothing is left to read lazily
    assert ds.attrs["rule"] == "make_small"
    assert ds["images"].shape == (64, 8) and ds["name"].values[-1] == "e63"
    assert int(ds["labels"].max()) < 10


def test_provenance_names_python_mnist1d_and_numba():
    versions = json.loads(store.provenance({})["package_versions"])
    assert {"python", "mnist1d", "numba"} <= versions.keys()
    assert versions["python"].count(".") == 2


def test_the_terminal_shows_one_line_only(tmp_path):
    """In a rule script, nothing follows the one line: not even zarr's reads cut short at exit."""
    rng = np.random.default_rng(0)
    ds = xr.Dataset({"images": (("example", "position"), rng.normal(size=(4096, 64)).astype(np.float32))})
    ds["images"].encoding["chunks"] = (64, 64)
    path = tmp_path / "many.zarr"
    store.write_store(ds, path, {}, "make_many")
    overwrite(sorted((path / "images" / "c").rglob("*/*"))[7])
    script = "\n".join(
        [
            "from deepstudy import runner, store",
            "with runner.rule_log('job.log'):",
            "    store.open_store('many.zarr')",
        ]
    )
    env = {**os.environ, "PYTHONPATH": str(Path(store.__file__).parents[1])}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "array 'images'" in result.stderr, result.stderr
    assert (tmp_path / "job.log").read_text() == result.stderr
