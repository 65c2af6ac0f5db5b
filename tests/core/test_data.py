"""Prepared datasets: MNIST-1D offline, and the torchvision loaders on tiny files in real formats."""

from __future__ import annotations

import pickle
import random
import struct
from pathlib import Path

import numpy as np
import pytest
from deepstudy import data, store
from deepstudy.datasets import DATASETS


def write_idx_images(path: Path, images: np.ndarray) -> None:
    """An IDX3 file as MNIST ships it (big-endian header, then the uint8 pixels)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">IIII", 0x00000803, len(images), *images.shape[1:])
    path.write_bytes(header + images.astype(np.uint8).tobytes())


def write_idx_labels(path: Path, labels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack(">II", 0x00000801, len(labels)) + labels.astype(np.uint8).tobytes())


def write_mnist(root: Path, folder: str, n_train: int = 12, n_test: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train": (rng.integers(0, 256, (n_train, 28, 28)), rng.integers(0, 10, n_train)),
        "t10k": (rng.integers(0, 256, (n_test, 28, 28)), rng.integers(0, 10, n_test)),
    }
    raw = root / folder / "raw"
    for prefix, (images, labels) in arrays.items():
        write_idx_images(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx_labels(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return arrays


def write_cifar10(root: Path, per_batch: int = 4, seed: int = 0):
    """CIFAR-10's python pickle batches: rows of 3072 bytes (R, G, B planes), labels as a list.

    The real batches were pickled by Python 2, whose str keys load as str under the latin1
    encoding that readers use; Python 3 str keys load the same way.
    """
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        rows = rng.integers(0, 256, (per_batch, 3072)).astype(np.uint8)
        labels = rng.integers(0, 10, per_batch).tolist()
        with open(folder / name, "wb") as handle:
            pickle.dump({"data": rows, "labels": labels, "batch_label": name}, handle, protocol=2)
        batches[name] = (rows, labels)
    names = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ]
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": names, "num_vis": 3072}, handle, protocol=2)
    return batches


def test_mnist1d_is_offline_deterministic_and_leaves_global_rngs_alone():
    np.random.seed(123)
    random.seed(123)
    expected_numpy, expected_python = np.random.random(), random.random()
    np.random.seed(123)
    random.seed(123)
    first = data.make_mnist1d(500, seed=1)
    assert np.random.random() == expected_numpy
    assert random.random() == expected_python
    second = data.make_mnist1d(500, seed=1)
    assert first["train_x"].dims == ("train_example", "channel", "position")
    assert first.sizes["train_example"] == 400 and first.sizes["test_example"] == 100
    np.testing.assert_array_equal(first["train_x"].values, second["train_x"].values)
    other = data.make_mnist1d(500, seed=2)
    assert not np.array_equal(first["train_x"].values, other["train_x"].values)
    assert set(np.unique(first["train_y"].values)) == set(range(10))


@pytest.mark.parametrize(("name", "folder"), [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_idx_loaders_read_real_format(tmp_path, name, folder):
    arrays = write_mnist(tmp_path, folder)
    ds = data.load_torchvision(name, tmp_path, download=False)
    assert ds["train_x"].dims == ("train_example", "channel", "height", "width")
    assert ds["train_x"].dtype == np.uint8
    np.testing.assert_array_equal(ds["train_x"].values[:, 0], arrays["train"][0])
    np.testing.assert_array_equal(ds["train_y"].values, arrays["train"][1])
    np.testing.assert_array_equal(ds["test_x"].values[:, 0], arrays["t10k"][0])
    np.testing.assert_array_equal(ds["test_y"].values, arrays["t10k"][1])
    assert ds.attrs["num_classes"] == 10 and ds.attrs["input_shape"] == [1, 28, 28]
    assert tuple(ds.attrs["input_shape"]) == DATASETS[name].input_shape  # the table the workflow plans by


def test_cifar10_loader_reads_pickle_batches(tmp_path):
    batches = write_cifar10(tmp_path)
    ds = data.load_torchvision("cifar10", tmp_path, download=False)
    assert ds.sizes["train_example"] == 20 and ds.sizes["test_example"] == 4
    assert ds["train_x"].shape[1:] == (3, 32, 32)
    first_rows, first_labels = batches["data_batch_1"]
    np.testing.assert_array_equal(ds["train_x"].values[:4], first_rows.reshape(4, 3, 32, 32))
    assert ds["train_y"].values[:4].tolist() == first_labels
    test_rows, test_labels = batches["test_batch"]
    np.testing.assert_array_equal(ds["test_x"].values, test_rows.reshape(4, 3, 32, 32))
    assert ds.attrs["class_names"][0] == "airplane"
    assert tuple(ds.attrs["input_shape"]) == DATASETS["cifar10"].input_shape
    assert ds.attrs["num_classes"] == DATASETS["cifar10"].num_classes


def test_missing_files_without_download_name_the_path(tmp_path):
    with pytest.raises(data.DatasetUnavailableError) as caught:
        data.load_torchvision("mnist", tmp_path / "nowhere", download=False)
    message = str(caught.value)
    assert "\n" not in message
    assert str(tmp_path / "nowhere") in message
    assert "MNIST/raw/train-images-idx3-ubyte" in message


def test_failed_download_names_the_path_and_manual_placement(tmp_path, monkeypatch):
    from torchvision import datasets

    def offline(self):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(datasets.CIFAR10, "download", offline)
    with pytest.raises(data.DatasetUnavailableError) as caught:
        data.load_torchvision("cifar10", tmp_path, download=True)
    message = str(caught.value)
    assert "\n" not in message
    assert "download failed" in message and "name resolution" in message
    assert "cifar-10-batches-py/data_batch_1" in message and str(tmp_path) in message


def test_corrupt_idx_file_is_reported_in_one_line(tmp_path):
    write_mnist(tmp_path, "MNIST")
    images = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:100])
    with pytest.raises(data.DatasetUnavailableError) as caught:
        data.load_torchvision("mnist", tmp_path, download=False)
    assert "corrupt" in str(caught.value) and "\n" not in str(caught.value)


def test_prepared_store_round_trips_with_provenance(tmp_path, mnist1d_small):
    path = tmp_path / "mnist1d.zarr"
    store.write_store(mnist1d_small, path / "zarr.json", config={"noise": {"alpha": [np.int64(1)]}})
    reopened = store.open_store(path)
    np.testing.assert_array_equal(reopened["train_x"].values, mnist1d_small["train_x"].values)
    assert store.stored_config(reopened) == {"noise": {"alpha": [1]}}
    assert "torch" in reopened.attrs["package_versions"]
    assert reopened.attrs["git_commit"]
    assert not list(tmp_path.glob(".*partial"))


def test_a_failed_write_leaves_no_store(tmp_path, mnist1d_small, monkeypatch):
    import xarray as xr

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_zarr", broken)
    with pytest.raises(OSError):
        store.write_store(mnist1d_small, tmp_path / "broken.zarr")
    assert list(tmp_path.iterdir()) == []


def test_tensors_are_standardised_on_the_training_split(mnist1d_small):
    tensors = data.Tensors(mnist1d_small)
    assert tensors.train_x.shape == (1600, 1, 40)
    assert abs(float(tensors.train_x.mean())) < 1e-4
    assert abs(float(tensors.train_x.std()) - 1) < 1e-2
    assert tensors.num_classes == 10 and tensors.input_shape == (1, 40)
    assert tensors.input_shape == DATASETS["mnist1d"].input_shape  # the table the workflow plans by
