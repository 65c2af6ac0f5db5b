"""Prepared datasets: build them once (MNIST-1D offline, the rest through torchvision) as xarray.

A prepared dataset is an :class:`xarray.Dataset` with ``train_x``/``train_y`` along ``train_example``
and ``test_x``/``test_y`` along ``test_example``; images keep a ``channel`` dimension and either a
``position`` (1D signals) or ``height``/``width`` (2D images) dimension. Train and test splits are
separate variables, so a test image cannot enter training by indexing the wrong split.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from deepstudy.datasets import TORCHVISION_DATASETS
from deepstudy.errors import StudyInputError
from deepstudy.validation import check_dataset, value_range

#: The files each torchvision dataset needs, relative to the data root, for the error message.
_IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_EXPECTED_FILES = {
    "mnist": [f"MNIST/raw/{name}" for name in _IDX_FILES],
    "fashion_mnist": [f"FashionMNIST/raw/{name}" for name in _IDX_FILES],
    "cifar10": [
        f"cifar-10-batches-py/{name}"
        for name in (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")
    ],
}

_DOWNLOAD_HINTS = {
    "mnist": "the four IDX files from https://ossci-datasets.s3.amazonaws.com/mnist/ (unzipped)",
    "fashion_mnist": "the four IDX files from "
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/ (unzipped)",
    "cifar10": "the contents of https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
}


class DatasetUnavailableError(StudyInputError):
    """A dataset could not be read or downloaded; the message is one line naming the path."""


def spatial_dims(ndim: int) -> tuple[str, ...]:
    """Names of the per-example dimensions of an image array with ``ndim`` of them."""
    if ndim == 2:
        return ("channel", "position")
    if ndim == 3:
        return ("channel", "height", "width")
    raise ValueError(f"examples must be (channel, position) or (channel, height, width), got {ndim} dims")


def build_dataset(
    name: str,
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    class_names: list[str],
    **attrs: object,
) -> xr.Dataset:
    """Wrap train/test arrays (examples first, channel second) in a prepared-dataset Dataset."""
    dims = spatial_dims(train_x.ndim - 1)
    ds = xr.Dataset(
        {
            "train_x": (("train_example", *dims), train_x),
            "train_y": ("train_example", train_y.astype(np.int64)),
            "test_x": (("test_example", *dims), test_x),
            "test_y": ("test_example", test_y.astype(np.int64)),
        },
        attrs={
            "dataset": name,
            "num_classes": len(class_names),
            "class_names": list(class_names),
            "input_shape": list(train_x.shape[1:]),
            **attrs,
        },
    )
    ds["train_y"].attrs["description"] = "class label"
    ds["test_y"].attrs["description"] = "class label"
    ds["train_x"].attrs.update(value_range(train_x))  # checked before training: no silent garbage
    ds["test_x"].attrs.update(value_range(test_x))
    if train_x.dtype == np.uint8:
        for var in ("train_x", "test_x"):
            ds[var].attrs.update(units="intensity / 255", scale=1 / 255)
    return ds


def make_mnist1d(num_samples: int, seed: int, train_split: float = 0.8) -> xr.Dataset:
    """Generate MNIST-1D offline with the ``mnist1d`` package (no download, no pickle written).

    ``mnist1d.data.make_dataset`` reseeds numpy's and ``random``'s global generators; their
    states are restored afterwards so that generating a dataset has no side effects.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = int(num_samples)
    args.seed = int(seed)
    args.train_split = float(train_split)
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        raw = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return build_dataset(
        "mnist1d",
        raw["x"][:, None, :].astype(np.float32),
        raw["y"],
        raw["x_test"][:, None, :].astype(np.float32),
        raw["y_test"],
        [str(c) for c in range(10)],
        num_samples=int(num_samples),
        seed=int(seed),
        train_split=float(train_split),
    )


def _unavailable(name: str, root: Path, reason: str) -> DatasetUnavailableError:
    files = ", ".join(_EXPECTED_FILES[name])
    return DatasetUnavailableError(
        f"dataset '{name}' is not readable under data root '{root}' ({reason}); "
        f"to place it by hand, put {_DOWNLOAD_HINTS[name]} so that these files exist: {files}"
    )


def _torchvision_class(name: str) -> type:
    from torchvision import datasets

    if name == "cifar10":

        class ExistingCIFAR10(datasets.CIFAR10):
            """CIFAR-10 that checks that its files exist rather than their checksums.

            The downloaded archive's checksum still guards downloads; files placed by hand (or
            written by the tests in the same pickle format) are read as they are.
            """

            def _check_integrity(self) -> bool:
                folder = Path(self.root) / self.base_folder
                names = [f for f, _ in self.train_list + self.test_list] + [self.meta["filename"]]
                return all((folder / f).is_file() for f in names)

            def _load_meta(self) -> None:
                path = Path(self.root) / self.base_folder / self.meta["filename"]
                with open(path, "rb") as handle:
                    self.classes = pickle.load(handle, encoding="latin1")[self.meta["key"]]

        return ExistingCIFAR10
    return {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST}[name]


def _read_split(cls: type, root: Path, train: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    split = cls(root=str(root), train=train, download=False)
    data = split.data.numpy() if isinstance(split.data, torch.Tensor) else np.asarray(split.data)
    if data.ndim == 3:  # MNIST stores (N, H, W): add the channel
        data = data[:, None]
    elif data.shape[-1] == 3:  # CIFAR stores (N, H, W, C)
        data = data.transpose(0, 3, 1, 2)
    targets = np.asarray(split.targets, dtype=np.int64)
    return np.ascontiguousarray(data, dtype=np.uint8), targets, [str(c) for c in split.classes]


def load_torchvision(name: str, root: str | Path, download: bool = True) -> xr.Dataset:
    """Read MNIST, Fashion-MNIST or CIFAR-10 from ``root``, downloading them first if allowed.

    Raises :class:`DatasetUnavailableError` with a one-line message naming the data root and the
    files to place by hand when the files are missing (offline) or unreadable (corrupt).
    """
    if name not in TORCHVISION_DATASETS:
        raise ValueError(f"unknown torchvision dataset '{name}', expected one of {TORCHVISION_DATASETS}")
    root = Path(root)
    cls = _torchvision_class(name)
    missing = [f for f in _EXPECTED_FILES[name] if not (root / f).is_file()]
    if missing:
        if not download:
            raise _unavailable(name, root, f"missing {missing[0]} and downloads are off")
        try:
            root.mkdir(parents=True, exist_ok=True)
            cls(root=str(root), train=True, download=True)
        except Exception as error:  # noqa: BLE001 - any download failure gets the same advice
            reason = " ".join(str(error).split()) or type(error).__name__
            raise _unavailable(name, root, f"download failed: {reason[:200]}") from error
    try:
        train_x, train_y, classes = _read_split(cls, root, train=True)
        test_x, test_y, _ = _read_split(cls, root, train=False)
    except Exception as error:  # noqa: BLE001 - corrupt files surface as many error types
        reason = " ".join(str(error).split()) or type(error).__name__
        raise _unavailable(name, root, f"corrupt or unreadable files: {reason[:200]}") from error
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise _unavailable(name, root, "corrupt files: image and label counts differ")
    return build_dataset(name, train_x, train_y, test_x, test_y, classes, data_root=str(root))


def prepare(name: str, options: dict) -> xr.Dataset:
    """Build the prepared dataset ``name`` from its config ``options`` (see config/README.md).

    Torchvision datasets take ``data_root`` and ``download`` from ``options``.
    """
    if name == "mnist1d":
        return make_mnist1d(options["num_samples"], options["seed"], options["train_split"])
    return load_torchvision(name, options["data_root"], download=options.get("download", True))


def normalised(images: np.ndarray, scale: float, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """Float32 tensor of ``images`` scaled to [0, 1] (if stored as bytes) and standardised per channel."""
    x = torch.from_numpy(np.asarray(images, dtype=np.float32) * np.float32(scale))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - torch.from_numpy(mean).view(shape)) / torch.from_numpy(std).view(shape)


class Tensors:
    """A prepared dataset as normalised tensors: ``train_x``, ``train_y``, ``test_x``, ``test_y``.

    Channel mean and standard deviation come from the training split only. The dataset is checked
    first (:func:`deepstudy.validation.check_dataset`): nothing trains on damaged data.
    """

    def __init__(self, ds: xr.Dataset, device: torch.device | str = "cpu") -> None:
        check_dataset(ds)
        scale = float(ds["train_x"].attrs.get("scale", 1.0))
        train = np.asarray(ds["train_x"].values)
        axes = tuple(i for i in range(train.ndim) if i != 1)
        mean = (train.astype(np.float64) * scale).mean(axis=axes).astype(np.float32)
        std = ((train.astype(np.float64) * scale).std(axis=axes) + 1e-8).astype(np.float32)
        self.num_classes = int(ds.attrs["num_classes"])
        self.input_shape = tuple(int(s) for s in ds.attrs["input_shape"])
        self.train_x = normalised(train, scale, mean, std).to(device)
        self.test_x = normalised(ds["test_x"].values, scale, mean, std).to(device)
        self.train_y = torch.from_numpy(ds["train_y"].values.astype(np.int64)).to(device)
        self.test_y = torch.from_numpy(ds["test_y"].values.astype(np.int64)).to(device)
