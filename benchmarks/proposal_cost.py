"""``python -m benchmarks.proposal_cost``: seconds per proposal of the default searcher as the run grows.

For each space and each history size ``n`` (150, 500 and 1,000 observations by default), the searcher
``auto`` picks for the space (see :func:`bonas.samplers.auto_searcher`) proposes from a history of
``n`` architectures drawn at random and valued by the benchmark: one proposal first (``first s``: it
encodes every architecture of the history and fits from scratch), then ``--repeats`` proposals, each
after one more observation, as in a running search (``s/proposal``: their median). Where the searcher
has a surrogate, the time its fits take is reported too (``fit s``, median), so the table says where
the cost lies: the GP fit, or encoding and scoring the candidates.

Torch runs with ``--threads`` threads (2 by default: the target is a proposal under 1 s at 1,000
observations on 2 cores). Results go to ``results/bench/proposal_cost.csv`` and ``.md``.

Examples::

    python -m benchmarks.proposal_cost                       # nb301, nb301-flat, nb201-cifar10-flat
    python -m benchmarks.proposal_cost --quick               # 150 and 500 observations, one repeat
    python -m benchmarks.proposal_cost --benchmarks nb301-flat --sizes 1000 --repeats 5
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks.cache import write_csv
from benchmarks.command import output_folder, run_command
from benchmarks.warning_log import WarningLog
from bonas.errors import DataFileNotFoundError, unknown_name
from bonas.history import Observation, SearchHistory
from bonas.samplers import auto_searcher, make_sampler
from bonas.tabular import TabularBenchmark, benchmark_names, load_benchmark

#: The default spaces: NB301's cells (the graph searcher), and two flat spaces: NB301's 34 choices (too
#: large to list) and NB201's 6 (15,625 architectures, scored whole).
BENCHMARKS = ("nb301", "nb301-flat", "nb201-cifar10-flat")
SIZES = (150, 500, 1000)
QUICK_SIZES = (150, 500)

COLUMNS = ["benchmark", "searcher", "observations", "first_s", "s_per_proposal", "fit_s", "threads"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.proposal_cost", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--benchmarks", nargs="+", default=list(BENCHMARKS), help="benchmark names")
    parser.add_argument("--sizes", nargs="+", type=int, help=f"history sizes (default {SIZES})")
    parser.add_argument("--repeats", type=int, default=3, help="timed proposals per size (median)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--data-dir", help="data folder (default: $BONAS_DATA_DIR or data/)")
    parser.add_argument("--out", type=Path, default=Path("results/bench"), help="output folder")
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}, one timed proposal")
    args = parser.parse_args(argv)
    for size in args.sizes or ():
        if size < 1:
            parser.error(f"--sizes must be positive, got {size}.")
    if args.repeats < 1 or args.threads < 1:
        parser.error(f"--repeats and --threads must be positive, got {args.repeats} and {args.threads}.")
    return args


@dataclass
class _FitTimer:
    """Wraps a surrogate's ``fit`` to record how long each call took."""

    fit: Callable[..., None]
    seconds: list[float]

    def __call__(self, *args: object, **kwargs: object) -> None:
        started = time.perf_counter()
        self.fit(*args, **kwargs)
        self.seconds.append(time.perf_counter() - started)


def random_history(benchmark: TabularBenchmark, n: int, seed: int = 0) -> list[Observation]:
    """``n`` distinct random architectures of the benchmark's space with their validation accuracy."""
    rng = np.random.default_rng(seed)
    found: dict[str, Observation] = {}
    for _ in range(100 * n):
        if len(found) == n:
            break
        architecture = benchmark.space.sample(rng)
        if architecture.canonical_hash not in found:
            value = benchmark.query(architecture, rng)["val_accuracy"]
            found[architecture.canonical_hash] = Observation(architecture, value)
    if len(found) < n:
        raise ValueError(f"{benchmark.name}: found only {len(found)} distinct architectures, {n} asked for.")
    return list(found.values())


def measure(benchmark: TabularBenchmark, size: int, repeats: int) -> dict[str, object]:
    """One row of the table: the auto searcher's proposal seconds from ``size`` observations."""
    observations = random_history(benchmark, size + repeats)
    searcher = auto_searcher(benchmark.space)
    sampler = make_sampler("auto", benchmark.space, seed=0)
    fits: list[float] = []
    surrogate = getattr(sampler, "surrogate", None)
    if surrogate is not None:
        surrogate.fit = _FitTimer(surrogate.fit, fits)  # type: ignore[method-assign]
    rng = np.random.default_rng(0)
    seconds = []
    for extra in range(repeats + 1):
        history = SearchHistory(observations[: size + extra])
        history.seen = {o.architecture.canonical_hash for o in history.observations}
        started = time.perf_counter()
        sampler.propose(history, rng)  # type: ignore[attr-defined]
        seconds.append(time.perf_counter() - started)
    return {
        "benchmark": benchmark.name,
        "searcher": searcher,
        "observations": size,
        "first_s": round(seconds[0], 3),
        "s_per_proposal": round(statistics.median(seconds[1:]), 3),
        "fit_s": round(statistics.median(fits[1:]), 3) if len(fits) > 1 else np.nan,
        "threads": torch.get_num_threads(),
    }


def markdown(frame: pd.DataFrame) -> str:
    header = ["benchmark", "searcher", "observations", "s/proposal", "of which fit s", "first proposal s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in frame.itertuples():
        fit = "" if pd.isna(row.fit_s) else f"{row.fit_s:.3f}"
        lines.append(
            f"| {row.benchmark} | {row.searcher} | {row.observations} | {row.s_per_proposal:.3f} | {fit} "
            f"| {row.first_s:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("bonas").setLevel(logging.ERROR)
    for name in args.benchmarks:
        if name not in benchmark_names():
            raise unknown_name("benchmark", name, benchmark_names())
    output_folder(args.out)
    sizes = tuple(args.sizes or (QUICK_SIZES if args.quick else SIZES))
    repeats = 1 if args.quick else args.repeats
    torch.set_num_threads(args.threads)
    warning_log = WarningLog(args.out / "proposal_cost_warnings.log")
    rows = []
    for name in args.benchmarks:
        try:
            benchmark = load_benchmark(name, data_dir=args.data_dir)
        except DataFileNotFoundError as error:
            print(f"Skipping {name}: {error}")
            continue
        for size in sizes:
            with warning_log.capture(f"{name}/{size}"):
                row = measure(benchmark, size, repeats)
            rows.append(row)
            print(
                f"{name} ({row['searcher']}), {size} observations: {row['s_per_proposal']:.3f} s per proposal "
                f"(fit {row['fit_s']} s; first {row['first_s']:.3f} s)",
                flush=True,
            )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    write_csv(frame, args.out / "proposal_cost.csv")
    table = markdown(frame)
    (args.out / "proposal_cost.md").write_text(
        f"# Seconds per proposal of the default searcher ({args.threads} torch thread"
        f"{'s' if args.threads > 1 else ''})\n\n{table}"
    )
    print(table)
    print(f"Wrote {args.out / 'proposal_cost.csv'} and {args.out / 'proposal_cost.md'}")
    print(warning_log.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(run_command(main, "python -m benchmarks.proposal_cost"))
