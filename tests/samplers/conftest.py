"""Fixtures shared by the sampler tests: the known-answer NB201 problem and quiet Optuna logs."""

from __future__ import annotations

import optuna
import pytest

from bonas.architecture import Architecture
from bonas.spaces.nb201 import NB201Space
from tests.known_answer import CONV


@pytest.fixture(autouse=True)
def _quiet_optuna() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def nb201() -> NB201Space:
    # One instance per module: the BO sampler caches whole-space candidates per space instance.
    return NB201Space()


@pytest.fixture(scope="module")
def all_conv(nb201: NB201Space) -> Architecture:
    return nb201.from_operations((CONV,) * 6)
