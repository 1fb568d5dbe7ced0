"""``python -m benchmarks``: run searchers x benchmarks x seeds and write results/bench/.

Examples::

    python -m benchmarks                                  # the default grid (make bench)
    python -m benchmarks --quick                          # a small grid in a few minutes
    python -m benchmarks --benchmarks nb201-cifar10 --searchers local-search --seeds 3 --budget 100
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from benchmarks.cache import write_csv
from benchmarks.command import BenchInputError, nothing_to_run, output_folder, positive_int, run_command
from benchmarks.grid import (
    DEFAULT_BUDGET,
    DEFAULT_SEEDS,
    FLAT_SEARCHERS,
    NEURAL_SEARCHERS,
    NEURAL_SEEDS,
    QUICK_BUDGET,
    QUICK_N_SEEDS,
    QUICK_SEEDS,
    REPORT_AT,
    SEARCHERS,
    SEEDS,
    cached_benchmark,
    default_searchers,
    grid,
)
from benchmarks.pool import progress_bar
from benchmarks.report import (
    comparison_table,
    flat_comparison,
    markdown_table,
    plot_curves,
    scope_lines,
    summarise,
)
from benchmarks.runner import run_grid
from benchmarks.warning_log import WarningLog
from bonas.errors import DataFileNotFoundError, unknown_name
from bonas.samplers import make_sampler, sampler_names
from bonas.tabular import benchmark_names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--benchmarks", nargs="+", help=f"benchmark names (default: {', '.join(DEFAULT_SEEDS)})"
    )
    parser.add_argument(
        "--searchers",
        nargs="+",
        help=f"searcher names (default: {', '.join(SEARCHERS)}; and {', '.join(NEURAL_SEARCHERS)} on {', '.join(NEURAL_SEEDS)} with 5 seeds; {', '.join(FLAT_SEARCHERS)} on the -flat benchmarks)",
    )
    parser.add_argument("--seeds", type=positive_int, help=f"seeds per benchmark (default: {SEEDS})")
    parser.add_argument("--budget", type=positive_int, help=f"queries per run (default {DEFAULT_BUDGET})")
    parser.add_argument("--out", type=Path, default=Path("results/bench"), help="output folder")
    parser.add_argument("--data-dir", help="data folder (default: $BONAS_DATA_DIR or data/)")
    parser.add_argument("--jobs", type=positive_int, help="parallel processes (default: all cores)")
    parser.add_argument("--force", action="store_true", help="recompute runs even if cached")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"small grid: {len(QUICK_SEEDS)} benchmarks (or those of --benchmarks), {QUICK_N_SEEDS} seeds, "
        f"{QUICK_BUDGET} queries (--seeds and --budget override)",
    )
    return parser.parse_args(argv)


def available(seeds: dict[str, int], data_dir: str | None) -> dict[str, int]:
    """The benchmarks whose data files are present; the others are skipped with a message, and one whose
    optional test-accuracy file is missing is run with a warning that its test regret is not reported."""
    kept = {}
    for name, n_seeds in seeds.items():
        try:
            benchmark = cached_benchmark(name, data_dir)
        except DataFileNotFoundError as error:
            print(f"Skipping {name}: {error}")
            continue
        missing = benchmark.missing_metric_hint("test_accuracy")
        if missing is not None:
            print(f"Warning: {name}: test regret is not reported: {missing}.")
        kept[name] = n_seeds
    return kept


def check_searchers(pairs: list[tuple[str, str]], data_dir: str | None) -> None:
    """Refuse, before any run, a searcher that cannot search a benchmark's space (a graph-based one on a
    ``-flat`` benchmark), naming the searchers that can.

    Args:
        pairs: ``(benchmark, searcher)`` names.
    """
    for benchmark, searcher in pairs:
        space = cached_benchmark(benchmark, data_dir).space
        try:
            make_sampler(searcher, space, seed=0)
        except ValueError as error:
            reason = str(error).split(";")[0].rstrip(".")
            working = []
            for name in sampler_names():
                try:
                    make_sampler(name, space, seed=0)
                except ValueError:
                    continue
                working.append(name)
            raise BenchInputError(
                f"--searchers {searcher!r} cannot search {benchmark!r} ({reason}); searchers that can: "
                f"{', '.join(working)}. Drop it from --searchers or run it on another benchmark."
            ) from None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    seeds = dict(QUICK_SEEDS if args.quick else DEFAULT_SEEDS)
    budget = args.budget or (QUICK_BUDGET if args.quick else DEFAULT_BUDGET)
    output_folder(args.out)
    if args.benchmarks:
        for name in args.benchmarks:
            if name not in benchmark_names():
                raise unknown_name("benchmark", name, benchmark_names())
        seeds = {name: seeds.get(name, QUICK_N_SEEDS if args.quick else SEEDS) for name in args.benchmarks}
    if args.seeds is not None:
        seeds = dict.fromkeys(seeds, args.seeds)
    for name in args.searchers or ():
        if name not in sampler_names():
            raise unknown_name("searcher", name, sampler_names())
    if args.searchers:
        args.searchers = list(dict.fromkeys(args.searchers))  # a name given twice is one run
    seeds = available(seeds, args.data_dir)
    if not seeds:
        return nothing_to_run(bool(args.benchmarks), "benchmark", args.out)

    specs = [
        spec
        for name, n_seeds in seeds.items()
        for spec in grid({name: n_seeds}, args.searchers or default_searchers(name), budget)
    ]
    searchers = tuple(dict.fromkeys(spec.searcher for spec in specs))
    if not args.searchers and not args.quick:
        neural = {name: args.seeds or n for name, n in NEURAL_SEEDS.items() if name in seeds}
        specs += grid(neural, NEURAL_SEARCHERS, budget)
        searchers += tuple(name for name in NEURAL_SEARCHERS if neural)
    check_searchers(list(dict.fromkeys((spec.benchmark, spec.searcher) for spec in specs)), args.data_dir)
    print(f"{len(specs)} runs: {len(seeds)} benchmarks x {len(searchers)} searchers, {budget} queries each")
    warning_log = WarningLog(args.out / "warnings.log")
    with progress_bar(len(specs), desc="runs", unit="run") as bar:
        runs = run_grid(
            specs,
            args.out,
            data_dir=args.data_dir,
            force=args.force,
            jobs=args.jobs,
            progress=bar.update,
            warning_log=warning_log,
        )

    report_at = tuple(q for q in REPORT_AT if q <= budget)
    if budget not in report_at:
        report_at = (*report_at, budget)
    summary = summarise(runs, report_at)
    write_csv(summary, args.out / "summary.csv")
    table = markdown_table(summary, tuple(dict.fromkeys(q for q in (100, budget) if q in report_at)))
    comparison = flat_comparison(runs, tuple(q for q in (50, 100) if q <= budget))
    if not comparison.empty:
        write_csv(comparison, args.out / "flat_comparison.csv")
        table += (
            "\nThe default searcher (auto) against the best of local-search, optuna-tpe and optuna-gp "
            "(mean validation regret; ratio = default / best baseline):\n\n" + comparison_table(comparison)
        )
    elapsed = time.perf_counter() - started
    reused = f"{runs.n_cached} of {len(specs)} runs from cache"
    (args.out / "summary.md").write_text(
        f"{table}\nValidation regret in accuracy points (mean ± std over seeds); {reused}; this command's "
        f"wall time {elapsed:.0f} s.\n"
    )
    plots = plot_curves(runs, args.out / "plots")
    print(table)
    print(
        f"Wrote {args.out / 'summary.csv'}, {args.out / 'summary.md'} and {len(plots)} plots in {args.out / 'plots'}"
    )
    print("\n".join(scope_lines(args.out, len(specs), runs.n_cached, plots)))
    print(warning_log.summary())
    print(f"Total wall time: {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main, "python -m benchmarks"))
