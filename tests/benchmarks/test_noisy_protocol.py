"""The bench's protocol on noisy benchmarks: the searcher sees one training seed's value per query; each
query is scored by the mean accuracy of the architecture the searcher recommends (benchmarks/runner.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchmarks.grid import RunSpec
from benchmarks.runner import run_benchmark, run_one, run_sampler, trajectory
from bonas.samplers.bayesian import BayesianOptimizationSampler
from bonas.study import search
from bonas.tabular import Optimum

NAN = math.nan


def history(values: list[float]) -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame(
        {
            "state": ["COMPLETE"] * n,
            "query": list(range(1, n + 1)),
            "repeat_of": [None] * n,
            "propose_seconds": [0.1] * n,
            "val_accuracy": values,
            "test_accuracy": [NAN] * n,
        }
    )


def test_trajectory_scores_the_recommendation_not_the_best_value_seen() -> None:
    recommended = [
        {"val_accuracy": 70.0, "test_accuracy": 69.0},
        {"val_accuracy": 70.0, "test_accuracy": 69.0},
        {"val_accuracy": 68.0, "test_accuracy": 71.0},  # a recommendation may get worse
    ]
    frame = trajectory(history([71.0, 75.0, 72.0]), Optimum(74.0, 72.0, "|best|"), recommended)
    np.testing.assert_allclose(frame["val_accuracy"], [71, 75, 72])  # what the searcher saw
    np.testing.assert_allclose(frame["best_val_accuracy"], [70, 70, 68])
    np.testing.assert_allclose(frame["val_regret"], [4, 4, 6])
    np.testing.assert_allclose(frame["test_regret"], [3, 3, 1])


def test_a_noisy_run_is_reproducible_and_scored_by_the_mean_of_the_best_mean_observed() -> None:
    spec = RunSpec("nb201-cifar100-noisy", "random", 0, 12)
    frame = run_one(spec, None)
    pd.testing.assert_frame_equal(
        frame.drop(columns="propose_seconds"), run_one(spec, None).drop(columns="propose_seconds")
    )

    benchmark = run_benchmark(spec, None)
    result = search(benchmark.space, benchmark, sampler=run_sampler(spec, benchmark), n_trials=12)
    architectures = [benchmark.space.parse(text) for text in result.history["arch"]]
    seen = result.history["val_accuracy"].to_numpy()
    means = np.array([benchmark.mean_metrics(a)["val_accuracy"] for a in architectures])
    np.testing.assert_allclose(seen, frame["val_accuracy"])  # the same noise draws, run for run
    assert not np.allclose(seen, means), "the searcher should see single-seed values"
    expected = [means[int(np.argmax(seen[: t + 1]))] for t in range(12)]  # distinct cells: best seen
    np.testing.assert_allclose(frame["best_val_accuracy"], expected)
    np.testing.assert_allclose(frame["val_regret"], benchmark.optimum.val_accuracy - np.array(expected))


@pytest.mark.parametrize(
    ("benchmark", "searcher", "repeats"),
    [
        ("nb201-cifar10-noisy", "bo-gp-wl-rbf", True),
        ("nb201-cifar10", "bo-gp-wl-rbf", False),
        ("nb201-cifar10-noisy", "local-search", False),
        ("nb201-cifar10-noisy", "optuna-tpe", False),
    ],
)
def test_only_bo_evaluates_again_on_a_noisy_benchmark(benchmark: str, searcher: str, repeats: bool) -> None:
    spec = RunSpec(benchmark, searcher, 0, 10)
    sampler = run_sampler(spec, run_benchmark(spec, None))
    assert sampler.allow_repeats == repeats
    if isinstance(sampler, BayesianOptimizationSampler):
        assert sampler.noisy == repeats and sampler.surrogate.noisy == repeats
