"""Shared fixtures: where the shared benchmark data lives (../shared/data beside the checkout), the
NB201 benchmark, and Optuna kept quiet."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from bonas.tabular import load_benchmark

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("BONAS_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (or $BONAS_DATA_DIR); tests needing a file in it skip when it is absent."""
    return SHARED_DATA


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
