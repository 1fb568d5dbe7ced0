"""ENAS and DARTS in the weight-sharing bench's search table: registered, within budget, choosing by validation."""

from __future__ import annotations

import dataclasses
import time

import pytest

from benchmarks import weight_sharing
from benchmarks.weight_sharing_searchers import METHODS
from bonas.spaces import get_space


def test_enas_and_darts_join_the_search_table() -> None:
    weight_sharing._load_optional_methods()
    assert {"enas", "darts", "darts-2nd"} <= set(weight_sharing._METHODS)
    assert {"enas", "darts"} <= {
        weight_sharing.method_budget(m, 1.0)[0] for m in weight_sharing.DEFAULT_METHODS
    }


@pytest.mark.slow
@pytest.mark.usefixtures("fashion_mnist_dir")
@pytest.mark.parametrize("method", ["enas", "darts"])
def test_a_runner_answers_within_a_tiny_budget(method: str) -> None:
    setup = dataclasses.replace(
        weight_sharing.Setup(),
        train_size=128,
        val_size=64,
        test_size=64,
        channels=2,
        epochs=1,
        batch_size=32,
        score_size=64,
        top_k=2,
        standalone_seconds=0.5,
    )
    started = time.process_time()
    outcome = METHODS[method](setup, 0, 4.0)
    assert get_space("nb201").parse(outcome.arch).space == "nb201"
    assert 0 <= outcome.val_accuracy <= 100
    # The search stops at its budget less the retraining it reserves; one retraining may pass the end.
    assert outcome.cpu_seconds <= time.process_time() - started + 1e-6
    assert outcome.cpu_seconds < 4.0 + 3 * setup.standalone_seconds + 5.0
