"""Running one cell of the grid, and the whole grid in parallel with a cache of finished runs.

Protocol (the published NB201 one): after each query, take the best architecture by validation
accuracy seen so far; report its validation regret and, where the table has test accuracy, its test
regret against the table's optimum.

On a noisy benchmark (``nb201-<dataset>-noisy``) the searcher sees one training seed's value per query,
drawn by a generator seeded with the run's seed. After each query the protocol takes the architecture
the searcher itself would report (:meth:`bonas.samplers.ArchitectureSampler.recommend`: the best mean
observed value) and scores its mean validation and test accuracy over
training seeds (:meth:`bonas.tabular.TabularBenchmark.mean_metrics`) against the optimum of the means.
BO searchers run with ``allow_repeats`` there (they model the noise and decide when evaluating an
architecture again pays); the others keep their default of never repeating one (local search with
repeats allowed walks among neighbours it already evaluated).
"""

from __future__ import annotations

import logging
import math
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from benchmarks.cache import ResultCache
from benchmarks.grid import RunSpec, cached_benchmark, fingerprint
from benchmarks.pool import Progress, run_tasks
from benchmarks.warning_log import WarningLog
from bonas.samplers import ArchitectureSampler, make_sampler
from bonas.tabular import TabularBenchmark, load_benchmark

if TYPE_CHECKING:
    import optuna

RUN_COLUMNS = [
    "query",
    "val_accuracy",
    "test_accuracy",
    "best_val_accuracy",
    "val_regret",
    "test_regret",
    "propose_seconds",
]


def run_one(spec: RunSpec, data_dir: str | None) -> pd.DataFrame:
    """One search; one row per query (see RUN_COLUMNS)."""
    import optuna

    from bonas.study import search

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("bonas").setLevel(logging.ERROR)
    benchmark = run_benchmark(spec, data_dir)
    sampler = run_sampler(spec, benchmark)
    result = search(benchmark.space, benchmark, sampler=sampler, n_trials=spec.budget)
    if not benchmark.noisy:
        return trajectory(result.history, benchmark.optimum)
    return trajectory(
        result.history, benchmark.optimum, recommended_metrics(sampler, result.study, benchmark)
    )


def run_benchmark(spec: RunSpec, data_dir: str | None) -> TabularBenchmark:
    """The run's benchmark: the process's shared instance, or for a noisy one an instance whose noise is
    drawn by a generator seeded with the run's seed (the run is reproducible)."""
    benchmark = cached_benchmark(spec.benchmark, data_dir)
    if benchmark.noisy:
        benchmark = load_benchmark(spec.benchmark, data_dir=data_dir, seed=spec.seed)
    return benchmark


def run_sampler(spec: RunSpec, benchmark: TabularBenchmark) -> ArchitectureSampler:
    """The run's searcher; on a noisy benchmark BO searchers allow repeats (see the module docstring)."""
    from bonas.samplers.bayesian import BayesianOptimizationSampler

    sampler = make_sampler(spec.searcher, benchmark.space, seed=spec.seed)
    if benchmark.noisy and isinstance(sampler, BayesianOptimizationSampler):
        sampler = make_sampler(spec.searcher, benchmark.space, seed=spec.seed, allow_repeats=True)
    if not isinstance(sampler, ArchitectureSampler):  # pragma: no cover - every searcher by name is one
        raise TypeError(f"Searcher {spec.searcher!r} is not a bonas ArchitectureSampler.")
    return sampler


def recommended_metrics(
    sampler: ArchitectureSampler, study: optuna.Study, benchmark: TabularBenchmark
) -> list[dict[str, float]]:
    """Per evaluation ``t``, the mean metrics of the architecture ``sampler`` recommends after the first
    ``t`` evaluations of ``study``."""
    history = sampler.history(study)
    scored = []
    for t in range(1, len(history.observations) + 1):
        architecture = sampler.recommend(history.prefix(t))
        if architecture is None:  # pragma: no cover - a history with an observation has a best
            raise RuntimeError(f"{sampler!r} recommended nothing after {t} evaluations.")
        scored.append(benchmark.mean_metrics(architecture))
    return scored


def trajectory(
    history: pd.DataFrame, optimum: object | None, recommended: list[dict[str, float]] | None = None
) -> pd.DataFrame:
    """Per-query protocol values from a search history (see :func:`bonas.trials.history_frame`).

    Args:
        history: the search's history frame.
        optimum: the benchmark's :class:`~bonas.tabular.Optimum` (None when unknown).
        recommended: per evaluation, the metrics to score (those of the searcher's recommendation on a
            noisy benchmark); None scores the best validation accuracy observed so far.
    """
    # Proposal time of repeats and failed proposals is charged to the next query.
    propose = history["propose_seconds"].fillna(0.0).to_numpy()
    queried = history["query"].notna().to_numpy()
    charged = np.cumsum(propose)[queried]
    charged = np.diff(np.concatenate([[0.0], charged]))
    spent = history[queried]
    values = (
        spent["val_accuracy"].to_numpy(dtype=float)
        if "val_accuracy" in spent
        else np.full(len(spent), np.nan)
    )
    tests = (
        spent["test_accuracy"].to_numpy(dtype=float)
        if "test_accuracy" in spent
        else np.full(len(spent), np.nan)
    )
    best_val = np.full(len(spent), np.nan)
    test_at_best = np.full(len(spent), np.nan)
    best, best_test = -math.inf, math.nan
    evaluations = 0
    for i, (value, test) in enumerate(zip(values, tests, strict=True)):
        if recommended is not None:
            evaluations += bool(np.isfinite(value))
            if evaluations:
                scored = recommended[evaluations - 1]
                best, best_test = scored["val_accuracy"], scored.get("test_accuracy", math.nan)
        elif np.isfinite(value) and value > best:
            best, best_test = value, test
        best_val[i] = best if np.isfinite(best) else np.nan
        test_at_best[i] = best_test
    optimum_val = getattr(optimum, "val_accuracy", None)
    optimum_test = getattr(optimum, "test_accuracy", None)
    return pd.DataFrame(
        {
            "query": spent["query"].to_numpy(dtype=int),
            "val_accuracy": values,
            "test_accuracy": tests,
            "best_val_accuracy": best_val,
            "val_regret": optimum_val - best_val if optimum_val is not None else np.nan,
            "test_regret": optimum_test - test_at_best if optimum_test is not None else np.nan,
            "propose_seconds": charged,
        }
    )


def run_key(spec: RunSpec) -> str:
    """The run's key in the bench cache (under ``out/runs``)."""
    return f"{spec.benchmark}/{spec.searcher}/seed{spec.seed}-q{spec.budget}"


class GridRuns(dict[RunSpec, pd.DataFrame]):
    """Every run's frame by spec (see :func:`run_grid`), and how many were reused from the cache.

    Args:
        n_cached: the runs read from the cache rather than computed by this call.
    """

    def __init__(self, runs: dict[RunSpec, pd.DataFrame], *, n_cached: int) -> None:
        super().__init__(runs)
        self.n_cached = n_cached


def run_cache(out: Path) -> ResultCache:
    """The cache of finished runs under ``out``."""
    return ResultCache(out / "runs")


def run_grid(
    specs: list[RunSpec],
    out: Path,
    *,
    data_dir: str | None,
    force: bool = False,
    jobs: int | None = None,
    progress: Progress | None = None,
    warning_log: WarningLog | None = None,
) -> GridRuns:
    """Run every spec not already cached (same fingerprint) under ``out``; return every run's frame.

    The runs' warnings go to ``warning_log`` when one is given (see :class:`benchmarks.warning_log.WarningLog`).
    """
    runs = run_cache(out)
    with warning_log.capture("bench setup") if warning_log is not None else nullcontext():
        # Building the samplers for their fingerprints imports botorch, which warns.
        fingerprints = {spec: fingerprint(spec, data_dir) for spec in specs}
    todo = [spec for spec in specs if force or (run_key(spec), fingerprints[spec]) not in runs]
    logging.getLogger(__name__).info("%d of %d runs to compute", len(todo), len(specs))
    if progress is not None:
        progress(len(specs) - len(todo))
    # Long runs first so the pool's tail is short.
    todo.sort(key=lambda spec: spec.searcher != "optuna-gp")
    tasks = [(spec, data_dir, out, fingerprints[spec]) for spec in todo]
    # Each worker stores its own run (atomically), so a Ctrl-C keeps every run that finished.
    for _ in run_tasks(
        run_and_store,
        tasks,
        jobs=jobs,
        progress=progress,
        warning_log=warning_log,
        label=lambda task: task[0].label,
    ):
        pass
    frames = {spec: _load(runs, spec, fingerprints[spec]) for spec in specs}
    return GridRuns(frames, n_cached=len(specs) - len(todo))


def run_and_store(spec: RunSpec, data_dir: str | None, out: Path, stamp: str) -> None:
    """Run ``spec`` and store its frame in the cache under ``out`` as ``stamp`` (in the worker process)."""
    run_cache(out).store(run_key(spec), stamp, run_one(spec, data_dir))


def _load(runs: ResultCache, spec: RunSpec, stamp: str) -> pd.DataFrame:
    frame = runs.load(run_key(spec), stamp)
    if frame is None:  # pragma: no cover - stored above
        raise FileNotFoundError(f"{spec.label}: no cached run under {runs.root}")
    return frame
