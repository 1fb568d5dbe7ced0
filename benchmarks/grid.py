"""What `make bench` runs: searchers x benchmarks x seeds, and how a run is identified for the cache."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import optuna

from benchmarks.cache import bonas_sources, content_digest, fingerprint_of
from bonas.samplers import make_sampler
from bonas.tabular import TabularBenchmark, load_benchmark
from bonas.tabular.base import NOISY_SUFFIX
from bonas.tabular.flat import FLAT_SUFFIX, FlatBenchmark

#: Queries per run, and the query counts reported in the summary.
DEFAULT_BUDGET = 150
REPORT_AT = (25, 50, 100, 150)

#: Baselines first, then bonas's Bayesian optimisation (the WL-kernel GP with an RBF kernel). `enas` is
#: ENAS's LSTM controller on the tables (no weight sharing: each query is one REINFORCE update).
BASELINES = (
    "random",
    "regularized-evolution",
    "local-search",
    "reinforce",
    "enas",
    "optuna-tpe",
    "optuna-gp",
)
SEARCHERS = (*BASELINES, "bo-gp-wl-rbf")

#: The neural-predictor searchers cost 0.6-4 s per proposal (10x the GP's), so the default grid runs
#: them on two NB201 datasets with 5 seeds only (about 2.3 h of CPU on their own).
NEURAL_SEARCHERS = ("bananas", "bo-gcn-blr", "bo-gcn-gp", "nao")
NEURAL_SEEDS = {"nb201-cifar10": 5, "nb201-cifar100": 5}

#: Seeds per benchmark, seeds 0..19: 20 everywhere, as the targets are stated. On NAS-Bench-Graph, whose
#: accuracies lie on a coarse grid and whose best architectures are hard to model, 10 seeds swing a
#: searcher's mean regret at 100 queries by about 0.3 between close variants.
SEEDS = 20

#: benchmark -> number of seeds in the default grid.
DEFAULT_SEEDS = dict.fromkeys(
    (
        "nb201-cifar10",
        "nb201-cifar100",
        "nb201-imagenet16-120",
        # One training seed's value per query; scored by the mean of what the searcher recommends
        # (benchmarks/runner.py). About 75 min of CPU for the three at 20 seeds and 150 queries.
        "nb201-cifar10-noisy",
        "nb201-cifar100-noisy",
        "nb201-imagenet16-120-noisy",
        "analognas-baseline",
        "nbgraph-cora",
        "nbgraph-citeseer",
        "nbgraph-pubmed",
        "nbgraph-photo",
        "nbgraph-computers",
        "nbgraph-arxiv",
        "nb301",
    ),
    SEEDS,
)

#: Every benchmark above also with its space written as plain categorical choices, as a user would give
#: it (``<name>-flat``, :mod:`bonas.tabular.flat`: no graph, no isomorphism merging). There the default
#: searcher (``auto``, whatever it picks for a flat space) runs against the baselines that search any
#: flat space. Measured wall time on 2 cores at 20 seeds and 100 queries: the six NAS-Bench-Graph flat
#: benchmarks 23 min (``auto`` and ``optuna-gp`` about 0.1 s per proposal), nb301-flat 25 min (``auto``
#: 1.3 s per proposal); 150 queries cost more than 1.5x that (a proposal's cost grows with the history).
FLAT_SEARCHERS = ("local-search", "optuna-tpe", "optuna-gp", "auto")
# Not the noisy ones: a flat space with noisy values is two changes at once, and not a registered benchmark.
FLAT_SEEDS = {f"{name}{FLAT_SUFFIX}": SEEDS for name in DEFAULT_SEEDS if not name.endswith(NOISY_SUFFIX)}
DEFAULT_SEEDS = {**DEFAULT_SEEDS, **FLAT_SEEDS}

#: The QUICK=1 grid: a few benchmarks, 2 seeds, 50 queries (about 3 minutes on 2 cores, BO on NB301 most of it).
#: ``--quick`` with benchmarks named runs as many seeds and queries on those.
QUICK_N_SEEDS = 2
QUICK_SEEDS = dict.fromkeys(
    ("nb201-cifar10", "analognas-baseline", "nbgraph-cora", "nb301", "nb201-cifar10-flat"), QUICK_N_SEEDS
)
QUICK_BUDGET = 50


def default_searchers(benchmark: str) -> tuple[str, ...]:
    """The searchers a benchmark runs when none are named: :data:`FLAT_SEARCHERS` on a flat one."""
    return FLAT_SEARCHERS if benchmark.endswith(FLAT_SUFFIX) else SEARCHERS


@dataclass(frozen=True)
class RunSpec:
    """One cell of the grid: a searcher on a benchmark with one seed and budget."""

    benchmark: str
    searcher: str
    seed: int
    budget: int

    @property
    def label(self) -> str:
        return f"{self.benchmark}/{self.searcher}/seed{self.seed}"


def grid(benchmarks: dict[str, int], searchers: tuple[str, ...] | list[str], budget: int) -> list[RunSpec]:
    """Every run of ``searchers`` on ``benchmarks`` (name -> number of seeds, seeds 0..n-1)."""
    return [
        RunSpec(benchmark, searcher, seed, budget)
        for benchmark, n_seeds in benchmarks.items()
        for searcher in searchers
        for seed in range(n_seeds)
    ]


@cache
def cached_benchmark(name: str, data_dir: str | None) -> TabularBenchmark:
    """One benchmark instance per process (tables load once per worker)."""
    return load_benchmark(name, data_dir=data_dir)


def benchmark_modules(benchmark: TabularBenchmark) -> set[str]:
    """The modules of ``benchmark``'s class and its space's, and of the table and space it wraps (a flat
    benchmark does not import the table whose lookups it answers with)."""
    tables = [benchmark]
    if isinstance(benchmark, FlatBenchmark):
        tables.append(benchmark.benchmark)
    return {cls.__module__ for table in tables for cls in (type(table), type(table.space))}


def fingerprint(spec: RunSpec, data_dir: str | None) -> str:
    """Changes whenever the run's result could: its spec, the metrics its benchmark returns, the
    contents of the files its benchmark reads (:attr:`~bonas.tabular.TabularBenchmark.source_files`), or
    the source of the code it runs.

    The metrics depend on the data folder (NB201's test accuracies and device latencies come from
    optional files): a run cached without the test file is computed again once the file is there, and
    so is one whose data files changed since. The code is the harness's runner and worker set-up, and
    every bonas module the search loop, the sampler, the benchmark and its space import, followed
    transitively (lazy imports inside functions included).
    """
    benchmark = cached_benchmark(spec.benchmark, data_dir)
    sampler = make_sampler(spec.searcher, benchmark.space, seed=spec.seed)
    roots = {type(sampler).__module__, *benchmark_modules(benchmark)}
    harness = [Path(__file__).with_name(name) for name in ("runner.py", "pool.py")]
    settings = (
        spec,
        optuna.__version__,
        metric_names(spec.benchmark, data_dir),
        content_digest(benchmark.source_files),
    )
    return fingerprint_of(settings, [*harness, *bonas_sources(frozenset(roots | {"bonas.study"}))])


@cache
def metric_names(name: str, data_dir: str | None) -> tuple[str, ...]:
    """The metrics benchmark ``name`` returns with the files of ``data_dir`` (those of one architecture)."""
    benchmark = cached_benchmark(name, data_dir)
    return tuple(sorted(benchmark.mean_metrics(benchmark.space.sample(np.random.default_rng(0)))))
