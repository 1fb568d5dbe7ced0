"""``python -m benchmarks.failures``: BO when evaluations fail, with and without its failure model.

A real search loses trials to the architecture itself: the deepest and widest cells run out of memory.
Here NB201 (its cells, and the same space written flat) stands in for such a search: evaluating a cell
whose parameter count lies above the ``--quantile`` of the table's (0.75 by default) raises "out of
memory", and the best of the others is the optimum. The default searcher (``auto``) runs with its
failure model (``model_failures=True``, the default) and without it, on the same seeds. Reported per
benchmark and setting: the failed trials after the first 10 (the random initial design), and the validation regret
against the best cell that fits after 50 and 100 trials, failed ones included (a failed training run
costs time too; each search runs until 100 evaluations complete), mean ± std over seeds. Results go to
``results/bench/failures.csv`` and ``.md``; third-party warnings to ``failures_warnings.log``. Each run
is cached under ``failures_runs/`` with the fingerprint of its settings and of the code it runs, so a
re-run (``make bench``) computes only what is missing or changed.

Examples::

    python -m benchmarks.failures                       # 20 seeds, 100 queries, 2 processes
    python -m benchmarks.failures --quick               # the flat space, 2 seeds, 30 queries (regrets at 30)
    python -m benchmarks.failures --seeds 5 --benchmarks nb201-cifar100-flat
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
import pandas as pd

from benchmarks.cache import ResultCache, bonas_sources, content_digest, fingerprint_of, write_csv
from benchmarks.command import BenchInputError, output_folder, positive_int, run_command
from benchmarks.grid import benchmark_modules, cached_benchmark
from benchmarks.pool import progress_bar, run_tasks
from benchmarks.warning_log import WarningLog
from bonas.architecture import Architecture
from bonas.cli import whole_number
from bonas.errors import unknown_name
from bonas.samplers import make_sampler
from bonas.study import search
from bonas.tabular import benchmark_names
from bonas.tabular.base import NOISY_SUFFIX

BENCHMARKS = ("nb201-cifar10", "nb201-cifar10-flat")
SEEDS, BUDGET = 20, 100
#: ``--quick``: the flat space only, 2 seeds, 30 queries (4 runs: 16 s of wall time, 23 s of CPU, idle).
QUICK_BENCHMARKS, QUICK_SEEDS, QUICK_BUDGET = ("nb201-cifar10-flat",), 2, 30
#: ``auto``'s random initial design lasts until 10 evaluations complete: failures among the first 10
#: trials are not the model's (both settings share them, seed by seed).
N_INITIAL = 10
#: Queries at which the regret is reported (those within the budget; the budget alone if it is smaller).
REPORT_AT = (50, 100)


@dataclass(frozen=True)
class OutOfMemory:
    """A tabular benchmark whose cells above ``limit`` parameters (MB) fail, as a training run would."""

    benchmark: str
    data_dir: str | None
    limit: float

    def __call__(self, architecture: Architecture) -> dict[str, float]:
        metrics = cached_benchmark(self.benchmark, self.data_dir)(architecture)
        if metrics["params_mb"] > self.limit:
            raise RuntimeError(
                f"out of memory: {metrics['params_mb']:.3f} MB of parameters > {self.limit:.3f}"
            )
        return metrics


def feasible_optimum(benchmark: str, data_dir: str | None, quantile: float) -> tuple[float, float]:
    """The parameter limit (the ``quantile`` of the table's counts) and the best validation accuracy under it."""
    table = cached_benchmark(benchmark, data_dir)
    if "params_mb" not in table.metric_names:
        raise BenchInputError(
            f"--benchmarks {benchmark!r} returns no params_mb (its metrics: {', '.join(table.metric_names)}), "
            "which decides here which cells fail; give an NB201 benchmark (nb201-cifar10, nb201-cifar10-flat...)."
        )
    rows = [table(a) for a in table.space.enumerate()]
    params = np.array([r["params_mb"] for r in rows])
    limit = float(np.quantile(params, quantile))
    return limit, max(r["val_accuracy"] for r, p in zip(rows, params, strict=True) if p <= limit)


#: One run's settings: benchmark, model_failures, seed, budget, limit, optimum, data folder.
Task = tuple[str, bool, int, int, float, float, str | None]


def run(
    benchmark: str,
    model_failures: bool,
    seed: int,
    budget: int,
    limit: float,
    optimum: float,
    data_dir: str | None,
) -> dict[str, object]:
    """One search of ``auto`` (with or without its failure model) on ``benchmark`` with its cells above
    ``limit`` failing; its failed trials and regrets against ``optimum``."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    logging.getLogger("bonas").setLevel(logging.ERROR)  # every trial that fails would log a warning
    space = cached_benchmark(benchmark, data_dir).space
    sampler = make_sampler("auto", space, seed=seed, model_failures=model_failures)
    result = search(
        space,
        OutOfMemory(benchmark, data_dir, limit),
        sampler=sampler,
        n_trials=budget,
        seed=seed,
        max_consecutive_failures=None,
    )
    frame = result.history
    states = frame["state"].tolist()
    best = frame["val_accuracy"].cummax().ffill().fillna(-np.inf).to_numpy()
    row: dict[str, object] = {
        "benchmark": benchmark,
        "model_failures": model_failures,
        "seed": seed,
        "failed_after_initial": states[N_INITIAL:].count("FAIL"),
        "failed": states.count("FAIL"),
    }
    for query in report_at(budget):
        row[f"regret_{query}"] = optimum - best[min(query, len(best)) - 1]
    return row


def report_at(budget: int) -> tuple[int, ...]:
    """The queries of :data:`REPORT_AT` within ``budget``, or ``(budget,)`` when it is below them all."""
    return tuple(query for query in REPORT_AT if query <= budget) or (budget,)


def run_key(task: Task) -> str:
    """The run's entry in the cache (``<benchmark>/model-on/seed3-q100``)."""
    benchmark, model_failures, seed, budget = task[:4]
    return f"{benchmark}/model-{'on' if model_failures else 'off'}/seed{seed}-q{budget}"


def fingerprint(task: Task) -> str:
    """Changes whenever the run's result could: its settings (the limit and optimum included), Optuna's
    version, this harness, or the source of the sampler, the benchmark, the search loop and the failure
    model (and every bonas module they import)."""
    benchmark, model_failures, seed, _, _, _, data_dir = task
    table = cached_benchmark(benchmark, data_dir)
    sampler = make_sampler("auto", table.space, seed=seed, model_failures=model_failures)
    roots = {type(sampler).__module__, *benchmark_modules(table), "bonas.study", "bonas.surrogates.failures"}
    harness = [Path(__file__), Path(__file__).with_name("pool.py")]
    settings = (task[:-1], optuna.__version__, content_digest(table.source_files))
    return fingerprint_of(settings, [*harness, *bonas_sources(frozenset(roots))])


def markdown(frame: pd.DataFrame) -> str:
    """One row per benchmark and setting: failed trials after the first 10, and the regrets (mean ± std)."""
    regrets = [column for column in frame.columns if column.startswith("regret_")]
    lines = [
        "| benchmark | failure model | seeds | failed trials after the first 10 | "
        + " | ".join(f"val regret @{column.removeprefix('regret_')}" for column in regrets)
        + " |",
        "|---|---|---|---|" + "---|" * len(regrets),
    ]
    for (benchmark, model_failures), group in frame.groupby(["benchmark", "model_failures"], sort=False):
        failed = group["failed_after_initial"]
        cells = [f"{failed.mean():.1f} ± {failed.std(ddof=1):.1f}"]
        cells += [f"{group[c].mean():.3f} ± {group[c].std(ddof=1):.3f}" for c in regrets]
        lines.append(
            f"| {benchmark} | {'on' if model_failures else 'off'} | {len(group)} | {' | '.join(cells)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.failures", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--benchmarks",
        nargs="+",
        help=f"benchmarks whose metrics include params_mb (default: {' '.join(BENCHMARKS)})",
    )
    parser.add_argument(
        "--seeds",
        type=whole_number(2),
        help=f"seeds 0..N-1 per setting, at least 2 for a spread (default: {SEEDS})",
    )
    parser.add_argument("--budget", type=positive_int, help=f"queries per run (default: {BUDGET})")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"defaults {' '.join(QUICK_BENCHMARKS)}, {QUICK_SEEDS} seeds, {QUICK_BUDGET} queries",
    )
    parser.add_argument("--force", action="store_true", help="recompute runs even if cached")
    parser.add_argument(
        "--quantile", type=float, default=0.75, help="cells above this quantile of parameters fail"
    )
    parser.add_argument("--jobs", type=positive_int, default=2, help="processes")
    parser.add_argument("--data-dir", help="data folder (default: $BONAS_DATA_DIR or data/)")
    parser.add_argument("--out", type=Path, default=Path("results/bench"), help="output folder")
    args = parser.parse_args(argv)
    args.benchmarks = args.benchmarks or list(QUICK_BENCHMARKS if args.quick else BENCHMARKS)
    args.seeds = args.seeds if args.seeds is not None else QUICK_SEEDS if args.quick else SEEDS
    args.budget = args.budget if args.budget is not None else QUICK_BUDGET if args.quick else BUDGET
    for name in args.benchmarks:
        if name not in benchmark_names():
            raise BenchInputError(
                f"--benchmarks {name!r}: {unknown_name('benchmark', name, benchmark_names())}"
            )
        if name.endswith(NOISY_SUFFIX):
            raise BenchInputError(
                f"--benchmarks {name!r}: a noisy table has no fixed optimum to measure regret against; "
                f"give {name.removesuffix(NOISY_SUFFIX)!r}."
            )
    if args.seeds < 2:  # --quick's default is checked here; a value given is checked as it is parsed
        raise BenchInputError(f"--seeds {args.seeds}: give at least 2 (for a spread).")
    if not 0 < args.quantile < 1:
        raise BenchInputError(
            f"--quantile {args.quantile}: give a number strictly between 0 and 1 (0.75: a quarter fails)."
        )
    output_folder(args.out)
    tasks = []
    for name in args.benchmarks:
        limit, optimum = feasible_optimum(name, args.data_dir, args.quantile)
        print(
            f"{name}: cells above {limit:.3f} MB of parameters fail; the best that fits scores {optimum:.3f}"
        )
        for model_failures in (True, False):
            tasks += [
                (name, model_failures, s, args.budget, limit, optimum, args.data_dir)
                for s in range(args.seeds)
            ]
    warning_log = WarningLog(args.out / "failures_warnings.log")
    cache = ResultCache(args.out / "failures_runs")
    with warning_log.capture("fingerprints"):  # building each run's sampler imports torch, which warns
        keys = {task: (run_key(task), fingerprint(task)) for task in tasks}
    frames = {} if args.force else {task: cache.load(*keys[task]) for task in tasks}
    todo = [task for task in tasks if frames.get(task) is None]
    with progress_bar(len(tasks), "failures bench", "run") as bar:
        bar.update(len(tasks) - len(todo))
        for task, row in run_tasks(
            run,
            todo,
            jobs=args.jobs,
            in_process=args.jobs == 1,
            progress=bar.update,
            warning_log=warning_log,
            label=lambda task: f"{task[0]}/model_failures={task[1]}/seed{task[2]}",
        ):
            frames[task] = pd.DataFrame([row])
            cache.store(*keys[task], frames[task])
    # In the order of the tasks (by benchmark, the model on first, seed), whatever order the runs finished in.
    frame = pd.concat([frames[task] for task in tasks], ignore_index=True)
    write_csv(frame, args.out / "failures.csv")
    table = markdown(frame)
    (args.out / "failures.md").write_text(table + "\n")
    print(table)
    print(f"Wrote {args.out / 'failures.csv'} and {args.out / 'failures.md'}. {warning_log.summary()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_command(main, "python -m benchmarks.failures"))
