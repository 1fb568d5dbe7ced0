"""Tabular benchmarks by name: ``load_benchmark("nb201-cifar10")``.

Names: ``nb201-cifar10`` (cifar10-valid), ``nb201-cifar100``, ``nb201-imagenet16-120``,
``analognas-<metric>``, ``nbgraph-<dataset>`` and ``nb301``; each also as ``<name>-flat``, its space
written as plain categorical choices without a graph (see :mod:`bonas.tabular.flat`). The NB201 ones
also as ``<name>-noisy``: each query returns one training seed's validation accuracy, drawn at random,
while :meth:`TabularBenchmark.mean_metrics` and the optimum are the means over seeds.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from bonas.data import check_data_folder
from bonas.errors import unknown_name
from bonas.tabular.analognas import METRICS as ANALOGNAS_METRICS
from bonas.tabular.analognas import AnalogNASBenchmark
from bonas.tabular.base import NOISY_SUFFIX, TEST_METRIC, VALIDATION_METRIC, Optimum, TabularBenchmark
from bonas.tabular.flat import FLAT_SUFFIX, FlatBenchmark
from bonas.tabular.nb201 import NB201Benchmark
from bonas.tabular.nb301 import NB301Benchmark
from bonas.tabular.nbgraph import DATASETS as NBGRAPH_DATASETS
from bonas.tabular.nbgraph import NBGraphBenchmark

BenchmarkFactory = Callable[..., TabularBenchmark]


def _nb201(dataset: str) -> BenchmarkFactory:
    return lambda **options: NB201Benchmark(dataset, **options)


def _noisy_nb201(dataset: str) -> BenchmarkFactory:
    def noisy(*, noisy: bool = True, **options: object) -> TabularBenchmark:  # noisy whatever is asked
        return NB201Benchmark(dataset, noisy=True, **options)  # type: ignore[arg-type]

    return noisy


def _analognas(metric: str) -> BenchmarkFactory:
    return lambda **options: AnalogNASBenchmark(metric, **options)


def _nbgraph(dataset: str) -> BenchmarkFactory:
    return lambda **options: NBGraphBenchmark(dataset, **options)


def _flat(factory: BenchmarkFactory) -> BenchmarkFactory:
    def flat(*, seed: int | None = None, **options: object) -> TabularBenchmark:
        return FlatBenchmark(factory(seed=seed, **options), seed=seed)

    return flat


_BENCHMARKS: dict[str, BenchmarkFactory] = {
    "nb201-cifar10": _nb201("cifar10"),
    "nb201-cifar100": _nb201("cifar100"),
    "nb201-imagenet16-120": _nb201("imagenet16-120"),
    "nb301": NB301Benchmark,
    **{f"analognas-{metric}": _analognas(metric) for metric in ANALOGNAS_METRICS},
    **{f"nbgraph-{dataset}": _nbgraph(dataset) for dataset in NBGRAPH_DATASETS},
}

_BENCHMARKS.update({name + FLAT_SUFFIX: _flat(factory) for name, factory in list(_BENCHMARKS.items())})

#: One training seed's value per query (NB201 has 2-3 seeds per architecture; the other tables have one).
NOISY_NB201 = tuple(f"nb201-{dataset}{NOISY_SUFFIX}" for dataset in ("cifar10", "cifar100", "imagenet16-120"))
_BENCHMARKS.update(
    {name: _noisy_nb201(name.split("-", 1)[1].removesuffix(NOISY_SUFFIX)) for name in NOISY_NB201}
)


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
        noisy: one training seed's value per query instead of the mean, where the table has seeds
            (always for the ``-noisy`` names).
        seed: seed of the benchmark's rng (used by noisy queries).
    """
    if name not in _BENCHMARKS:
        raise unknown_name("benchmark", name, _BENCHMARKS)
    check_data_folder(data_dir)
    return _BENCHMARKS[name](data_dir=data_dir, noisy=noisy, seed=seed)


__all__ = [
    "NOISY_NB201",
    "NOISY_SUFFIX",
    "TEST_METRIC",
    "VALIDATION_METRIC",
    "AnalogNASBenchmark",
    "FlatBenchmark",
    "NB201Benchmark",
    "NB301Benchmark",
    "NBGraphBenchmark",
    "Optimum",
    "TabularBenchmark",
    "benchmark_names",
    "load_benchmark",
]
