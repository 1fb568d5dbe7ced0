"""``python -m benchmarks.predictors``: how well each surrogate ranks unseen NB201 architectures.

Every surrogate of :func:`bonas.surrogates.surrogate_names`, and scikit-learn's random forest and
gradient boosting on the adjacency, path and WL (``h=2``) encodings as references, is trained on
``n`` random NB201 (cifar10-valid) architectures and scored on a held-out set: Kendall tau and
Spearman rank correlation of the predicted mean with the true validation accuracy, and the coverage of
the 95% predictive interval. Results go to ``results/predictors/``: ``runs.csv`` (one row per
surrogate x encoding x ``n`` x seed computed there; ``runs/`` caches each row under the fingerprint of
its code), ``summary.csv`` (mean over seeds of the rows asked for) and ``summary.md``.

Examples::

    python -m benchmarks.predictors                       # n in {20, 50, 100, 200}, 10 seeds, 1,000 held out
    python -m benchmarks.predictors --quick               # n in {20, 50}, 2 seeds, 200 held out
    python -m benchmarks.predictors --surrogates gp-wl random-forest --n-train 50 --seeds 3

Protocol, per seed: the architectures of the space are shuffled with ``numpy.random.default_rng(seed)``
and walked in that order, keeping one architecture per ``canonical_hash``; the first ``n_test`` kept
are the held-out set and the next ``n`` the training set. So no two architectures of a split are
isomorphic (none is in both sets, and none is counted twice), the held-out set is the same for every
``n`` of a seed, and the training sets are nested.

How each predictor is fitted and gives its interval: :mod:`benchmarks.predictor_models`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from benchmarks.cache import ResultCache, bonas_sources, fingerprint_of, write_csv
from benchmarks.pool import Progress, progress_bar, run_tasks
from benchmarks.predictor_models import REFERENCE_ENCODINGS, REFERENCES, fit_reference, fit_surrogate
from benchmarks.warning_log import WarningLog
from bonas.architecture import Architecture
from bonas.errors import unknown_name
from bonas.tabular import TabularBenchmark, load_benchmark

if TYPE_CHECKING:  # importing bonas.surrogates imports torch: only workers that fit a GP pay for it
    from bonas.surrogates import Surrogate

#: The table the predictors are scored on (cifar10-valid validation accuracy, mean over training seeds).
BENCHMARK = "nb201-cifar10"

DEFAULT_N_TRAIN = (20, 50, 100, 200)
DEFAULT_SEEDS = 10
DEFAULT_N_TEST = 1000
QUICK_N_TRAIN = (20, 50)
QUICK_SEEDS = 2
QUICK_N_TEST = 200

#: Encoding of each built-in surrogate (with its default options). Surrogates do not name their
#: encoding yet; one that has an ``encoding`` attribute (a name or an Encoding) is read from it instead.
SURROGATE_ENCODINGS = {"gp-wl": "wl", "gp-wl-rbf": "wl", "gp-categorical": "categorical", "gp-path": "path"}

REQUIRED_COLUMNS = [
    "surrogate",
    "encoding",
    "n_train",
    "kendall_tau",
    "spearman",
    "coverage95",
    "fit_seconds",
]
SUMMARY_COLUMNS = [*REQUIRED_COLUMNS, "kendall_tau_std", "spearman_std", "coverage95_std", "n_seeds"]
RUN_COLUMNS = [
    "surrogate",
    "encoding",
    "n_train",
    "seed",
    "n_test",
    "kendall_tau",
    "spearman",
    "coverage95",
    "fit_seconds",
    "interval",
    "fingerprint",
]

#: What identifies a row of runs.csv (and its cache entry, see :func:`row_key`).
RUN_KEY = ["surrogate", "encoding", "n_train", "seed", "n_test"]


@dataclass(frozen=True)
class Predictor:
    """One row group of the summary: a bonas surrogate (by registry name) or a reference on an encoding."""

    surrogate: str
    encoding: str

    @property
    def is_reference(self) -> bool:
        return self.surrogate in REFERENCES

    @property
    def label(self) -> str:
        return f"{self.surrogate}/{self.encoding}"


# -- The split -------------------------------------------------------------------------------------------


def draw_split(
    architectures: Sequence[Architecture], seed: int, n_train: int, n_test: int
) -> tuple[list[Architecture], list[Architecture]]:
    """``(train, test)``: ``n_train`` and ``n_test`` architectures, no two of them isomorphic.

    See the module docstring: the held-out set does not depend on ``n_train`` and training sets of one
    seed are nested.

    Raises:
        ValueError: the architectures hold fewer than ``n_train + n_test`` isomorphism classes.
    """
    wanted = n_train + n_test
    seen: set[str] = set()
    kept: list[Architecture] = []
    for index in np.random.default_rng(seed).permutation(len(architectures)):
        architecture = architectures[int(index)]
        if architecture.canonical_hash not in seen:
            seen.add(architecture.canonical_hash)
            kept.append(architecture)
            if len(kept) == wanted:
                return kept[n_test:], kept[:n_test]
    raise ValueError(
        f"Asked for {n_train=} training and {n_test=} held-out architectures, but the space has only "
        f"{len(kept)} non-isomorphic ones; lower --n-train or --n-test."
    )


@cache
def _benchmark() -> TabularBenchmark:
    return load_benchmark(BENCHMARK)


@cache
def _space_architectures() -> tuple[Architecture, ...]:
    return tuple(_benchmark().space.enumerate())


def _values(architectures: Iterable[Architecture]) -> np.ndarray:
    benchmark = _benchmark()
    return np.array([benchmark(architecture)["val_accuracy"] for architecture in architectures])


# -- Metrics ---------------------------------------------------------------------------------------------


def prediction_metrics(
    y: np.ndarray, mean: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> dict[str, float]:
    """Kendall tau (tau-b), Spearman rho and interval coverage of predictions of ``y`` (all ``n`` arrays).

    A constant prediction has no rank correlation: tau and rho are NaN.
    """
    y, mean = np.asarray(y, dtype=float), np.asarray(mean, dtype=float)
    constant = np.ptp(mean) == 0 or np.ptp(y) == 0
    return {
        "kendall_tau": np.nan if constant else float(stats.kendalltau(y, mean).statistic),
        "spearman": np.nan if constant else float(stats.spearmanr(y, mean).statistic),
        "coverage95": float(np.mean((np.asarray(lower) <= y) & (y <= np.asarray(upper)))),
    }


# -- Predictors ------------------------------------------------------------------------------------------


def evaluate(predictor: Predictor, seed: int, n_train: int, n_test: int) -> dict[str, object]:
    """One row of runs.csv (without its fingerprint): ``predictor`` trained on seed ``seed``'s split."""
    train, test = draw_split(_space_architectures(), seed, n_train, n_test)
    y_train, y_test = _values(train), _values(test)
    if predictor.is_reference:
        fit = fit_reference(predictor.surrogate, predictor.encoding, seed, train, y_train, test)
    else:
        fit = fit_surrogate(predictor.surrogate, _benchmark().space, seed, train, y_train, test)
    fit_seconds, (mean, lower, upper, kind) = fit
    return {
        "surrogate": predictor.surrogate,
        "encoding": predictor.encoding,
        "n_train": n_train,
        "seed": seed,
        "n_test": n_test,
        **prediction_metrics(y_test, mean, lower, upper),
        "fit_seconds": fit_seconds,
        "interval": kind,
    }


def surrogate_encoding(name: str, surrogate: Surrogate) -> str:
    """The encoding name of bonas surrogate ``name``: its ``encoding`` attribute, else SURROGATE_ENCODINGS."""
    encoding = getattr(surrogate, "encoding", None)
    if isinstance(encoding, str):
        return encoding
    if isinstance(getattr(encoding, "name", None), str):
        return encoding.name  # type: ignore[union-attr]
    return SURROGATE_ENCODINGS.get(name, "native")


def predictors(names: Sequence[str] | None = None) -> list[Predictor]:
    """The predictors called ``names`` (default: every registered surrogate, then the references).

    A reference name stands for the reference on each of :data:`REFERENCE_ENCODINGS`.

    Raises:
        UnknownNameError: a name is neither a registered surrogate nor a reference.
    """
    from bonas.surrogates import make_surrogate, surrogate_names

    registered = surrogate_names()
    chosen = list(dict.fromkeys(names)) if names else [*registered, *REFERENCES]
    result = []
    for name in chosen:
        if name in REFERENCES:
            result += [Predictor(name, encoding) for encoding in REFERENCE_ENCODINGS]
        elif name in registered:
            surrogate = make_surrogate(name, _benchmark().space)
            result.append(Predictor(name, surrogate_encoding(name, surrogate)))
        else:
            raise unknown_name("surrogate", name, [*registered, *REFERENCES])
    return result


# -- Cache and running -----------------------------------------------------------------------------------


@cache
def fingerprint(predictor: Predictor) -> str:
    """Changes whenever the predictor's results could: this harness, its model's source, the encodings."""
    harness = Path(__file__).resolve().parent
    sources = {
        harness / "predictors.py",
        harness / "predictor_models.py",
        harness / "pool.py",
        *bonas_sources(frozenset({"bonas.encodings", "bonas.architecture"})),
    }
    if predictor.is_reference:
        import sklearn

        versions = f"scikit-learn {sklearn.__version__}"
    else:
        import botorch

        from bonas.surrogates import make_surrogate

        surrogate = make_surrogate(predictor.surrogate, _benchmark().space)
        # The surrogate's classes and every bonas module they import (neural.py, blr.py, gp/models.py, ...).
        modules = {cls.__module__ for cls in type(surrogate).__mro__ if cls.__module__.startswith("bonas")}
        sources |= set(bonas_sources(frozenset(modules)))
        versions = f"botorch {botorch.__version__}"
    return fingerprint_of((predictor, versions), sorted(sources))


def row_cache(out: Path) -> ResultCache:
    """The cache of computed rows under ``out``: one entry per row of runs.csv."""
    return ResultCache(out / "runs", dtype={"fingerprint": str})


def row_key(predictor: Predictor, n_train: int, seed: int, n_test: int) -> str:
    """The cache key of one row (see RUN_KEY)."""
    return f"{predictor.surrogate}/{predictor.encoding}/seed{seed}-n{n_train}-test{n_test}"


def _task(
    predictor: Predictor, seed: int, n_trains: list[int], n_test: int, key: str
) -> list[dict[str, object]]:
    """The rows of ``predictor`` on seed ``seed`` for each of ``n_trains``, stamped with ``key``."""
    return [{**evaluate(predictor, seed, n, n_test), "fingerprint": key} for n in n_trains]


def run_predictors(
    chosen: Sequence[Predictor],
    n_trains: Sequence[int],
    seeds: Sequence[int],
    n_test: int,
    out: Path,
    *,
    force: bool = False,
    jobs: int | None = None,
    progress: Progress | None = None,
    warning_log: WarningLog | None = None,
) -> pd.DataFrame:
    """Compute every (predictor, n, seed) row not cached under ``out``; return the requested rows.

    The tasks' warnings go to ``warning_log`` when one is given.

    Work is split into one task per (predictor, seed), run in ``jobs`` processes (default: all cores;
    1, or a single task, runs in this process). Each row is cached as soon as its task ends, so an
    interrupted run resumes; ``out/runs.csv`` then lists every cached row.
    """
    rows = row_cache(out)
    tasks: list[tuple[Predictor, int, list[int], int, str]] = []
    for predictor in chosen:
        key = fingerprint(predictor)
        for seed in seeds:
            todo = [n for n in n_trains if force or (row_key(predictor, n, seed, n_test), key) not in rows]
            if todo:
                tasks.append((predictor, seed, todo, n_test, key))
    if progress is not None:
        progress(len(chosen) * len(seeds) - len(tasks))
    # GPs first: they are the long tasks, so the pool's tail is short.
    tasks.sort(key=lambda task: task[0].is_reference)
    jobs = jobs or os.cpu_count() or 1
    serial = jobs == 1 or len(tasks) <= 1
    done = run_tasks(
        _task,
        tasks,
        jobs=jobs,
        in_process=serial,
        progress=progress,
        warning_log=warning_log,
        label=lambda task: f"{task[0].label}/seed{task[1]}",
    )
    for (predictor, seed, todo, _, key), computed in done:
        for n, row in zip(todo, computed, strict=True):
            rows.store(row_key(predictor, n, seed, n_test), key, pd.DataFrame([row], columns=RUN_COLUMNS))
    everything = rows.frames()
    table = pd.concat(everything, ignore_index=True) if everything else pd.DataFrame(columns=RUN_COLUMNS)
    write_csv(table.sort_values(RUN_KEY, ignore_index=True), out / "runs.csv")
    wanted = [
        rows.load(row_key(p, n, seed, n_test), fingerprint(p))
        for p in chosen
        for n in n_trains
        for seed in seeds
    ]
    return pd.concat(wanted, ignore_index=True)[RUN_COLUMNS]


# -- Reporting -------------------------------------------------------------------------------------------


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per surrogate x encoding x n_train (SUMMARY_COLUMNS; stds are population stds)."""
    grouped = runs.groupby(["surrogate", "encoding", "n_train"], sort=False)
    means = grouped[["kendall_tau", "spearman", "coverage95", "fit_seconds"]].mean()
    stds = grouped[["kendall_tau", "spearman", "coverage95"]].std(ddof=0).add_suffix("_std")
    summary = means.join(stds).join(grouped.size().rename("n_seeds")).reset_index()
    return summary[SUMMARY_COLUMNS]


def markdown_table(summary: pd.DataFrame) -> str:
    """Per surrogate/encoding: Kendall tau (mean ± std) at each n, coverage and fit time at the largest n."""
    if summary.empty:
        return "(no runs)\n"
    n_values = sorted(summary["n_train"].unique())
    largest = n_values[-1]
    header = ["surrogate", "encoding", *(f"tau @{n}" for n in n_values)]
    header += [f"coverage95 @{largest}", f"fit s @{largest}"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (surrogate, encoding), group in summary.groupby(["surrogate", "encoding"], sort=False):
        by_n = group.set_index("n_train")
        cells = [surrogate, encoding]
        for n in n_values:
            row = by_n.loc[n] if n in by_n.index else None
            cells.append("" if row is None else f"{row['kendall_tau']:.3f} ± {row['kendall_tau_std']:.3f}")
        last = by_n.loc[largest] if largest in by_n.index else None
        cells.append("" if last is None else f"{last['coverage95']:.3f}")
        cells.append("" if last is None else f"{last['fit_seconds']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# -- CLI -------------------------------------------------------------------------------------------------


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.predictors", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--surrogates",
        nargs="+",
        help=f"registered surrogates and references (default: all surrogates, {', '.join(REFERENCES)})",
    )
    parser.add_argument(
        "--n-train", nargs="+", type=_positive, help=f"training set sizes (default {DEFAULT_N_TRAIN})"
    )
    parser.add_argument("--seeds", type=_positive, help=f"seeds 0..k-1 (default {DEFAULT_SEEDS})")
    parser.add_argument(
        "--n-test", type=_positive, help=f"held-out architectures per seed (default {DEFAULT_N_TEST})"
    )
    parser.add_argument("--out", type=Path, default=Path("results/predictors"), help="output folder")
    parser.add_argument("--jobs", type=_positive, help="parallel processes (default: all cores)")
    parser.add_argument("--force", action="store_true", help="recompute rows even if cached")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"n in {QUICK_N_TRAIN}, {QUICK_SEEDS} seeds, {QUICK_N_TEST} held out",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("bonas").setLevel(logging.ERROR)
    started = time.perf_counter()
    n_trains = sorted(set(args.n_train or (QUICK_N_TRAIN if args.quick else DEFAULT_N_TRAIN)))
    seeds = list(range(args.seeds or (QUICK_SEEDS if args.quick else DEFAULT_SEEDS)))
    n_test = args.n_test or (QUICK_N_TEST if args.quick else DEFAULT_N_TEST)
    warning_log = WarningLog(args.out / "warnings.log")
    with warning_log.capture("bench setup"):  # building the predictors imports botorch, which warns
        chosen = predictors(args.surrogates)

    print(
        f"{len(chosen)} predictors x {len(seeds)} seeds, n_train {', '.join(map(str, n_trains))}, "
        f"{n_test} held out"
    )
    with progress_bar(len(chosen) * len(seeds), desc="predictor x seed", unit="task") as bar:
        runs = run_predictors(
            chosen,
            n_trains,
            seeds,
            n_test,
            args.out,
            force=args.force,
            jobs=args.jobs,
            progress=bar.update,
            warning_log=warning_log,
        )
    summary = summarise(runs)
    write_csv(summary, args.out / "summary.csv")
    table = markdown_table(summary)
    elapsed = time.perf_counter() - started
    (args.out / "summary.md").write_text(
        f"{table}\nKendall tau on {n_test} held-out {BENCHMARK} architectures (mean ± std over "
        f"{len(seeds)} seeds); coverage of the 95% predictive interval and fit seconds at the largest "
        f"n_train. Wall time {elapsed:.0f} s.\n"
    )
    print(table)
    print(f"Wrote {args.out / 'runs.csv'}, {args.out / 'summary.csv'} and {args.out / 'summary.md'}")
    print(warning_log.summary())
    print(f"Total wall time: {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    # Run the importable module's main, so worker processes unpickle the same classes and functions.
    from benchmarks.predictors import main as _main

    sys.exit(_main())
