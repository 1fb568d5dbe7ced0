"""The checks every tabular benchmark must pass: :class:`TabularBenchmarkConformance`.

Subclass it in a ``Test...`` class and say how to build the benchmark with the common options::

    from bonas.testing.tabular import TabularBenchmarkConformance

    class TestMyBenchmark(TabularBenchmarkConformance):
        def make_benchmark(self, *, noisy=False, seed=None):
            return MyBenchmark(noisy=noisy, seed=seed)

Override the ``benchmark_factory`` fixture (a callable taking ``noisy=`` and ``seed=``) instead of
:meth:`~TabularBenchmarkConformance.make_benchmark` to parametrize over benchmarks. The checks follow the
:class:`~bonas.tabular.base.TabularBenchmark` contract: sampled architectures look up to metrics that
are finite floats, ``val_accuracy`` among them, in percent; a noiseless lookup ignores the rng and a
noisy one is reproducible from a seeded rng or a seeded benchmark; architectures of another space are
refused; and an enumerable space has an :class:`~bonas.tabular.base.Optimum` whose architecture scores
it, which, when the space has at most :attr:`~TabularBenchmarkConformance.max_enumeration`
architectures, is checked against a lookup of every one of them (a few seconds for 15,625). Every
random draw is seeded. Needs pytest (see :mod:`bonas.testing`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from bonas.architecture import Architecture
from bonas.errors import InvalidArchitectureError
from bonas.spaces.base import Categorical, SearchSpace
from bonas.spaces.categorical import CategoricalSpace
from bonas.tabular.base import TEST_METRIC, VALIDATION_METRIC, Optimum, TabularBenchmark

#: ``(*, noisy=False, seed=None) -> benchmark``.
BenchmarkFactory = Callable[..., TabularBenchmark]


def check_metrics(metrics: object, architecture: Architecture) -> dict[str, float]:
    """``metrics`` after asserting they are what a lookup returns: finite floats by name, with a
    ``val_accuracy`` in percent."""
    assert isinstance(metrics, dict), f"a lookup returns a dict of metrics, got {type(metrics).__name__}"
    assert VALIDATION_METRIC in metrics, f"{architecture} has no {VALIDATION_METRIC!r}: {sorted(metrics)}"
    for name, value in metrics.items():
        assert isinstance(name, str)
        assert isinstance(value, float) and math.isfinite(value), f"{architecture}: {name}={value!r}"
    assert 0.0 <= metrics[VALIDATION_METRIC] <= 100.0, f"{architecture}: {metrics[VALIDATION_METRIC]}"
    return metrics


class TabularBenchmarkConformance:
    """Shared checks for :class:`bonas.tabular.base.TabularBenchmark` implementations (not collected itself)."""

    #: Architectures drawn for each per-architecture check.
    n_samples: int = 16
    #: Look up every architecture to check the optimum only when the space has at most this many.
    max_enumeration: int = 20_000

    def make_benchmark(self, *, noisy: bool = False, seed: int | None = None) -> TabularBenchmark:
        """A new instance of the benchmark under test, with the options every benchmark takes."""
        raise NotImplementedError(
            f"{type(self).__name__} must override make_benchmark(*, noisy, seed) (or the `benchmark_factory` "
            "fixture) to build the benchmark under test."
        )

    # -- fixtures and helpers --------------------------------------------------------------------------

    @pytest.fixture
    def benchmark_factory(self) -> BenchmarkFactory:
        """``(*, noisy=False, seed=None) -> benchmark`` (default: :meth:`make_benchmark`)."""
        return self.make_benchmark

    def samples(self, space: SearchSpace, seed: int = 0) -> list[Architecture]:
        rng = np.random.default_rng(seed)
        return [space.sample(rng) for _ in range(self.n_samples)]

    # -- lookups ---------------------------------------------------------------------------------------

    def test_is_a_named_benchmark_on_a_space(self, benchmark_factory: BenchmarkFactory) -> None:
        benchmark = benchmark_factory()
        assert isinstance(benchmark, TabularBenchmark)
        assert isinstance(benchmark.name, str) and benchmark.name
        assert isinstance(benchmark.benchmark_name, str) and benchmark.benchmark_name
        assert isinstance(benchmark.space, SearchSpace)

    def test_sampled_architectures_look_up_to_finite_metrics(
        self, benchmark_factory: BenchmarkFactory
    ) -> None:
        benchmark = benchmark_factory()
        names = set()
        for architecture in self.samples(benchmark.space):
            names.add(frozenset(check_metrics(benchmark(architecture), architecture)))
        assert len(names) == 1, f"architectures get different sets of metrics: {[sorted(n) for n in names]}"

    def test_noiseless_lookups_ignore_the_rng(self, benchmark_factory: BenchmarkFactory) -> None:
        benchmark = benchmark_factory()
        for architecture in self.samples(benchmark.space, seed=1)[:4]:
            first = benchmark(architecture)
            assert benchmark(architecture) == first
            for seed in range(3):
                assert benchmark(architecture, np.random.default_rng(seed)) == first

    def test_noisy_lookups_are_reproducible_with_a_seeded_rng(
        self, benchmark_factory: BenchmarkFactory
    ) -> None:
        benchmark = benchmark_factory(noisy=True, seed=0)
        architectures = self.samples(benchmark.space, seed=2)[:4]
        for architecture in architectures:
            draws = [benchmark(architecture, np.random.default_rng(seed)) for seed in range(5)]
            again = [benchmark(architecture, np.random.default_rng(seed)) for seed in range(5)]
            assert draws == again, f"noisy lookups of {architecture} differ for the same rng seeds"
            for metrics in draws:
                check_metrics(metrics, architecture)
        # Without an rng a lookup draws from the benchmark's own, seeded by `seed=`.
        first, second = benchmark_factory(noisy=True, seed=3), benchmark_factory(noisy=True, seed=3)
        assert [first(a) for a in architectures * 3] == [second(a) for a in architectures * 3]

    def test_mean_metrics_are_the_noiseless_lookups(self, benchmark_factory: BenchmarkFactory) -> None:
        noiseless, noisy = benchmark_factory(), benchmark_factory(noisy=True, seed=0)
        for architecture in self.samples(noiseless.space, seed=4)[:4]:
            assert noisy.mean_metrics(architecture) == noiseless(architecture)
            assert noiseless.mean_metrics(architecture) == noiseless(architecture)

    def test_architectures_of_another_space_are_refused(self, benchmark_factory: BenchmarkFactory) -> None:
        benchmark = benchmark_factory()
        other = CategoricalSpace("conformance-other-space", [Categorical("x", ("a", "b"))])
        with pytest.raises(InvalidArchitectureError, match="conformance-other-space"):
            benchmark(other.from_params({"x": "a"}))
        with pytest.raises(InvalidArchitectureError):
            benchmark(str(self.samples(benchmark.space)[0]))  # type: ignore[arg-type]

    # -- optimum ---------------------------------------------------------------------------------------

    def test_optimum_is_reached_by_its_architecture(self, benchmark_factory: BenchmarkFactory) -> None:
        benchmark = benchmark_factory()
        optimum = benchmark.optimum
        if optimum is None:
            assert not benchmark.space.is_enumerable, (
                f"{benchmark.name}'s space {benchmark.space.name!r} can be enumerated, so its optimum is known"
            )
            with pytest.raises(ValueError, match="too large to list"):
                next(iter(benchmark.table_rows()))
            return
        assert isinstance(optimum, Optimum)
        best = benchmark.space.parse(optimum.best_val_architecture)
        metrics = benchmark(best)
        assert metrics[VALIDATION_METRIC] == pytest.approx(optimum.val_accuracy, rel=1e-9, abs=1e-9)
        assert (optimum.test_accuracy is None) == (TEST_METRIC not in metrics)
        for architecture in self.samples(benchmark.space, seed=3):
            assert benchmark(architecture)[VALIDATION_METRIC] <= optimum.val_accuracy + 1e-9

    def test_optimum_is_the_best_of_the_whole_table(self, benchmark_factory: BenchmarkFactory) -> None:
        benchmark = benchmark_factory()
        space = benchmark.space
        if not space.is_enumerable:
            pytest.skip(f"space {space.name!r} cannot be enumerated")
        size = space.size()
        if size > self.max_enumeration:
            pytest.skip(f"{size:,} architectures: more than max_enumeration={self.max_enumeration:,}")
        optimum = benchmark.optimum
        assert optimum is not None
        table = [benchmark(architecture) for architecture in space.enumerate()]
        values = [metrics[VALIDATION_METRIC] for metrics in table]
        assert all(math.isfinite(value) for value in values)
        assert max(values) == pytest.approx(optimum.val_accuracy, rel=1e-9, abs=1e-9)
        rows = list(benchmark.table_rows())  # each table entry once: at most one per architecture
        assert 0 < len(rows) <= size
        assert max(row[VALIDATION_METRIC] for row in rows) == pytest.approx(
            optimum.val_accuracy, rel=1e-9, abs=1e-9
        )
        tests = [metrics[TEST_METRIC] for metrics in table if TEST_METRIC in metrics]
        if optimum.test_accuracy is None:
            assert not tests, f"lookups give {TEST_METRIC!r} but the optimum has none"
        else:
            assert max(tests) == pytest.approx(optimum.test_accuracy, rel=1e-9, abs=1e-9)
