"""The tabular suite fails the faults it checks for, and passes a benchmark written outside bonas."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from bonas.architecture import Architecture
from bonas.spaces.base import Categorical
from bonas.spaces.categorical import CategoricalSpace
from bonas.tabular.base import Optimum, TabularBenchmark
from bonas.testing.samplers import hashed_score
from bonas.testing.tabular import TabularBenchmarkConformance


class WidthTable(TabularBenchmark):
    """A 9-architecture table, with one seed's noise in noisy mode; ``fault`` breaks one promise."""

    name = "width-table"

    #: Seeds for the "unseeded-noise" fault: a new one per lookup, as an unseeded rng would be.
    _fresh_seeds = itertools.count()

    def __init__(self, *, noisy: bool = False, seed: int | None = None, fault: str | None = None) -> None:
        super().__init__(noisy=noisy, seed=seed)
        self.space = CategoricalSpace(
            "widths", [Categorical("depth", (1, 2, 3)), Categorical("width", (64, 128, 256))]
        )
        self.fault = fault

    def value(self, architecture: Architecture) -> float:
        return 60.0 + 30.0 * hashed_score(architecture)

    def query(self, architecture: Architecture, rng: np.random.Generator) -> dict[str, float]:
        value = self.value(architecture)
        if self.noisy:
            noise = np.random.default_rng(next(self._fresh_seeds)) if self.fault == "unseeded-noise" else rng
            value += float(noise.normal(0.0, 0.5))
        elif self.fault == "noise-when-noiseless":
            value += float(rng.normal(0.0, 0.5))
        if self.fault == "nan":
            value = math.nan
        metrics = {"val_accuracy": value, "params": float(architecture.param_dict["width"])}
        if self.fault == "integer-metric":
            metrics["params"] = int(architecture.param_dict["width"])  # type: ignore[assignment]
        return metrics

    def query_mean(self, architecture: Architecture) -> dict[str, float]:
        return {"val_accuracy": self.value(architecture), "params": float(architecture.param_dict["width"])}

    @property
    def optimum(self) -> Optimum | None:
        if self.fault == "no-optimum":
            return None
        best = max(self.space.enumerate(), key=self.value)
        shift = 1.0 if self.fault == "wrong-optimum" else 0.0
        return Optimum(self.value(best) + shift, None, str(best))


class TestUserWrittenBenchmark(TabularBenchmarkConformance):
    def make_benchmark(self, *, noisy: bool = False, seed: int | None = None) -> TabularBenchmark:
        return WidthTable(noisy=noisy, seed=seed)


class Unvalidated(WidthTable):
    """Skips the space check that TabularBenchmark.__call__ makes."""

    def __call__(self, architecture, rng=None):  # type: ignore[no-untyped-def, override]
        return {"val_accuracy": 50.0}


@pytest.mark.parametrize(
    ("check", "fault"),
    [
        ("test_sampled_architectures_look_up_to_finite_metrics", "nan"),
        ("test_sampled_architectures_look_up_to_finite_metrics", "integer-metric"),
        ("test_noiseless_lookups_ignore_the_rng", "noise-when-noiseless"),
        ("test_noisy_lookups_are_reproducible_with_a_seeded_rng", "unseeded-noise"),
        ("test_optimum_is_reached_by_its_architecture", "wrong-optimum"),
        ("test_optimum_is_reached_by_its_architecture", "no-optimum"),
        ("test_optimum_is_the_best_of_the_whole_table", "wrong-optimum"),
    ],
)
def test_suite_fails_a_faulty_benchmark(check: str, fault: str) -> None:
    def factory(*, noisy: bool = False, seed: int | None = None) -> TabularBenchmark:
        return WidthTable(noisy=noisy, seed=seed, fault=fault)

    with pytest.raises(AssertionError):
        getattr(TabularBenchmarkConformance(), check)(factory)


def test_suite_fails_a_benchmark_that_does_not_validate() -> None:
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        TabularBenchmarkConformance().test_architectures_of_another_space_are_refused(Unvalidated)
