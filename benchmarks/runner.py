"""Running one cell of the grid, and the whole grid in parallel with a cache of finished runs.

Protocol (the published NB201 one): after each query, take the best architecture by validation
accuracy seen so far; report its validation regret and, where the table has test accuracy, its test
regret against the table's optimum.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.grid import RunSpec, cached_benchmark, fingerprint

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
    benchmark = cached_benchmark(spec.benchmark, data_dir)
    result = search(benchmark.space, benchmark, sampler=spec.searcher, n_trials=spec.budget, seed=spec.seed)
    return trajectory(result.history, benchmark.optimum)


def trajectory(history: pd.DataFrame, optimum: object | None) -> pd.DataFrame:
    """Per-query protocol values from a search history (see :func:`bonas.trials.history_frame`)."""
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
    for i, (value, test) in enumerate(zip(values, tests, strict=True)):
        if np.isfinite(value) and value > best:
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


def _worker(spec: RunSpec, data_dir: str | None, path: Path, key: str) -> tuple[RunSpec, float]:
    started = time.perf_counter()
    frame = run_one(spec, data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    frame.to_csv(temporary, index=False)
    temporary.replace(path)
    path.with_suffix(".key").write_text(key)
    return spec, time.perf_counter() - started


def _init_worker() -> None:
    # One process per run on every core: keep each process single-threaded.
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


def run_path(out: Path, spec: RunSpec) -> Path:
    return out / "runs" / spec.benchmark / spec.searcher / f"seed{spec.seed}-q{spec.budget}.csv"


def run_grid(
    specs: list[RunSpec],
    out: Path,
    *,
    data_dir: str | None,
    force: bool = False,
    jobs: int | None = None,
    progress: Callable[[int], object] | None = None,
) -> dict[RunSpec, pd.DataFrame]:
    """Run every spec not already cached (same fingerprint) under ``out``; return every run's frame."""
    todo: list[tuple[RunSpec, Path, str]] = []
    for spec in specs:
        path = run_path(out, spec)
        key = fingerprint(spec, data_dir)
        key_file = path.with_suffix(".key")
        if force or not path.is_file() or not key_file.is_file() or key_file.read_text() != key:
            todo.append((spec, path, key))
    logging.getLogger(__name__).info("%d of %d runs to compute", len(todo), len(specs))
    if progress is not None:
        progress(len(specs) - len(todo))
    if todo:
        # Long runs first so the pool's tail is short.
        todo.sort(key=lambda item: item[0].searcher != "optuna-gp")
        with ProcessPoolExecutor(max_workers=jobs or os.cpu_count() or 1, initializer=_init_worker) as pool:
            futures = [pool.submit(_worker, spec, data_dir, path, key) for spec, path, key in todo]
            for future in as_completed(futures):
                future.result()
                if progress is not None:
                    progress(1)
    return {spec: pd.read_csv(run_path(out, spec)) for spec in specs}
