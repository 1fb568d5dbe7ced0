"""Shared fixtures: where the shared benchmark data lives (../shared/data beside the checkout)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("BONAS_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (or $BONAS_DATA_DIR); tests needing a file in it skip when it is absent."""
    return SHARED_DATA


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
