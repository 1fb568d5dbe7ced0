"""Shared fixtures: where the shared benchmark data lives (../shared/data beside the checkout), the
NB201 benchmark, Debian's Fashion-MNIST, and Optuna kept quiet."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from bonas.tabular import load_benchmark
from bonas.training.datasets import DEBIAN_FASHION_MNIST, FASHION_MNIST_FILES

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("BONAS_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (or $BONAS_DATA_DIR); tests needing a file in it skip when it is absent."""
    return SHARED_DATA


@pytest.fixture(scope="session")
def fashion_mnist_dir() -> Path:
    """Debian's Fashion-MNIST folder, installing ``dataset-fashion-mnist`` (30 MB) if it is missing.

    Skips only where apt-get is unavailable (not a Debian machine) or not permitted (not root).
    """
    if not all((DEBIAN_FASHION_MNIST / name).is_file() for name in FASHION_MNIST_FILES.values()):
        os.environ.setdefault("DEBIAN_FRONTEND", "noninteractive")
        apt = shutil.which("apt-get")
        if apt is None:
            pytest.skip(
                "Fashion-MNIST needs Debian's dataset-fashion-mnist package and apt-get is unavailable"
            )
        install = subprocess.run(
            [apt, "install", "-y", "-q", "dataset-fashion-mnist"], capture_output=True, text=True, check=False
        )
        if install.returncode != 0:
            update = subprocess.run([apt, "update", "-q"], capture_output=True, text=True, check=False)
            install = subprocess.run(
                [apt, "install", "-y", "-q", "dataset-fashion-mnist"],
                capture_output=True,
                text=True,
                check=False,
            )
            if install.returncode != 0 and "Permission denied" in install.stderr + update.stderr:
                pytest.skip("apt-get install dataset-fashion-mnist needs root; install it to run this test")
        assert install.returncode == 0, f"apt-get install dataset-fashion-mnist failed:\n{install.stderr}"
    return DEBIAN_FASHION_MNIST


@pytest.fixture
def quiet_optuna() -> None:
    """Optuna logs warnings and errors only (use with ``pytest.mark.usefixtures("quiet_optuna")``)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def nb201_benchmark():
    """The NB201 CIFAR-10 tabular benchmark, loaded once per test module."""
    return load_benchmark("nb201-cifar10")


def require_shared_file(relative: str) -> Path:
    """The shared data file ``relative``, or skip the test with a message naming it."""
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"shared data file {path} is absent")
    return path


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> Iterator[None]:
    """Small GP fits run 10-40x slower when two OpenMP threads spin against other work on 2 cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
