"""Tabular benchmarks by name: ``load_benchmark("nb201-cifar10")``.

Names: ``nb201-cifar10`` (cifar10-valid), ``nb201-cifar100``, ``nb201-imagenet16-120``,
``analognas-<metric>``, ``nbgraph-<dataset>`` and ``nb301``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from bonas.errors import unknown_name
from bonas.tabular.base import TEST_METRIC, VALIDATION_METRIC, Optimum, TabularBenchmark
from bonas.tabular.nb201 import NB201Benchmark

BenchmarkFactory = Callable[..., TabularBenchmark]


def _nb201(dataset: str) -> BenchmarkFactory:
    return lambda **options: NB201Benchmark(dataset, **options)


_BENCHMARKS: dict[str, BenchmarkFactory] = {
    "nb201-cifar10": _nb201("cifar10"),
    "nb201-cifar100": _nb201("cifar100"),
    "nb201-imagenet16-120": _nb201("imagenet16-120"),
}


def benchmark_names() -> list[str]:
    """Every benchmark name :func:`load_benchmark` accepts."""
    return sorted(_BENCHMARKS)


def load_benchmark(
    name: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    noisy: bool = False,
    seed: int | None = None,
) -> TabularBenchmark:
    """The tabular benchmark called ``name`` (see :func:`benchmark_names`).

    Args:
        data_dir: folder with the local data files (default: ``$BONAS_DATA_DIR`` or the checkout's data/).
        noisy: one training seed's value per query instead of the mean, where the table has seeds.
        seed: seed of the benchmark's rng (used by noisy queries).
    """
    if name not in _BENCHMARKS:
        raise unknown_name("benchmark", name, _BENCHMARKS)
    return _BENCHMARKS[name](data_dir=data_dir, noisy=noisy, seed=seed)


__all__ = [
    "TEST_METRIC",
    "VALIDATION_METRIC",
    "NB201Benchmark",
    "Optimum",
    "TabularBenchmark",
    "benchmark_names",
    "load_benchmark",
]
