"""Every tabular benchmark bonas ships against the shared suite (:mod:`bonas.testing.tabular`).

The benchmarks read the shared data folder, so NB201 lookups include test accuracies; NB301 skips when
its surrogate files are absent. The whole-table check looks up every cell of the NB201 tables (NB201,
AnalogNAS) and of NAS-Bench-Graph's proteins table; the 59,040-cell NAS-Bench-Graph space exceeds its
bound and is checked against its table in tests/tabular/test_nbgraph.py instead.
"""

from __future__ import annotations

import pytest

from bonas.tabular import NOISY_SUFFIX, TabularBenchmark, benchmark_names, load_benchmark
from bonas.tabular.nb301 import MODEL_FILE
from bonas.testing.tabular import BenchmarkFactory, TabularBenchmarkConformance
from tests.conftest import SHARED_DATA, require_shared_file

#: Every benchmark, and one flat variant per space (the flat wrapper is the same for all of a space's tables).
#: The ``-noisy`` names are their base benchmark with ``noisy=True``, which the suite checks on the base.
CHECKED = [name for name in benchmark_names() if not name.endswith(("-flat", NOISY_SUFFIX))] + [
    "nb201-cifar10-flat",
    "nbgraph-cora-flat",
    "nb301-flat",
]


class TestTabularBenchmarkConformance(TabularBenchmarkConformance):
    @pytest.fixture(params=CHECKED)
    def benchmark_factory(self, request: pytest.FixtureRequest) -> BenchmarkFactory:
        name = request.param
        if name.startswith("nb301"):
            require_shared_file(MODEL_FILE)

        def factory(*, noisy: bool = False, seed: int | None = None) -> TabularBenchmark:
            return load_benchmark(name, data_dir=SHARED_DATA, noisy=noisy, seed=seed)

        return factory
