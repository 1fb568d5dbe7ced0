"""``python -m benchmarks.table_signal``: how much a table's ranking of its best architectures follows
from architectures like them.

A surrogate predicts an architecture's accuracy from architectures like it. Where the table's values
among its best architectures differ mostly by measurement noise (which training seeds, which nodes or
images were held out), a surrogate cannot rank them, and a search reaches the table's validation optimum
more by how many good architectures it evaluates than by ranking them. A table's validation and test
accuracies come from the same trainings measured on different data, so how well they agree among the
best architectures indicates how much of that ranking is the architectures' own (noise shared by both,
the training seed, can only raise the agreement).

Per benchmark: the number of table entries, the validation optimum, how many entries lie within 0.2,
0.5 and 1 point of it, and Kendall's tau between validation and test accuracy over the whole table and
over its best tenth, best hundredth and best 100 entries by validation accuracy. And a reference point
for search: the mean validation regret of the best of 100 entries drawn at random from the best tenth
by test accuracy, over 1,000 draws (a searcher that knew which architectures are good by a measure the
validation noise does not touch, and nothing else; not a bound, since a searcher also sees the
validation values it measures). Results go to ``results/table_signal/summary.csv`` and ``summary.md``; a
benchmark whose test accuracies are absent (NB201 without ``nb201/nb201_test_accuracy.csv``) is
skipped, naming the file.

Examples::

    python -m benchmarks.table_signal                       # NB201's three datasets, NAS-Bench-Graph's six
    python -m benchmarks.table_signal --benchmarks nbgraph-cora nbgraph-arxiv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from benchmarks.cache import write_csv
from benchmarks.command import BenchInputError, output_folder, run_command
from bonas.errors import DataFileNotFoundError, unknown_name
from bonas.tabular import TabularBenchmark, benchmark_names, load_benchmark

BENCHMARKS = (
    "nb201-cifar10",
    "nb201-cifar100",
    "nb201-imagenet16-120",
    *(f"nbgraph-{dataset}" for dataset in ("cora", "citeseer", "pubmed", "photo", "computers", "arxiv")),
)
#: Distances (points of validation accuracy) below the optimum whose rows are counted.
WITHIN = (0.2, 0.5, 1.0)
#: The best rows by validation accuracy over which validation and test are compared: fractions of the
#: table, then a count.
TOP_FRACTIONS = (1.0, 0.1, 0.01)
TOP_COUNT = 100
#: The informed searcher: ``ORACLE_QUERIES`` rows drawn from the best ``ORACLE_FRACTION`` by test accuracy.
ORACLE_QUERIES, ORACLE_FRACTION, ORACLE_DRAWS = 100, 0.1, 1000


class NoTableError(Exception):
    """The benchmark's table cannot be compared: its space cannot be listed, or it has no test accuracy."""


def table_values(benchmark: TabularBenchmark) -> pd.DataFrame:
    """Every entry of the benchmark's table (:meth:`TabularBenchmark.table_rows`): its mean validation
    and test accuracy.

    Raises:
        NoTableError: the space cannot be listed, or the benchmark returns no ``test_accuracy``.
    """
    if not benchmark.space.is_enumerable:
        raise NoTableError(f"{benchmark.name}: its space is too large to list.")
    rows = []
    for metrics in benchmark.table_rows():
        if "test_accuracy" not in metrics:
            raise NoTableError(
                f"{benchmark.name} returns no test_accuracy (NB201's come from nb201/nb201_test_accuracy.csv "
                "in the data folder; see data/README.md)."
            )
        rows.append((metrics["val_accuracy"], metrics["test_accuracy"]))
    return pd.DataFrame(rows, columns=["val_accuracy", "test_accuracy"])


def agreement(name: str, values: pd.DataFrame) -> dict[str, object]:
    """One row of the table: entries near the validation optimum, validation/test rank agreement among
    the best entries, and the informed draw's regret.

    Raises:
        ValueError: ``values`` has fewer than two entries.
    """
    if len(values) < 2:
        raise ValueError(f"{name}: {len(values)} table entries; agreement needs at least 2.")
    val = values["val_accuracy"].to_numpy(dtype=float)
    test = values["test_accuracy"].to_numpy(dtype=float)
    order = np.argsort(-val, kind="stable")
    best = float(val.max())
    row: dict[str, object] = {"benchmark": name, "entries": len(val), "val_optimum": round(best, 3)}
    for distance in WITHIN:
        row[f"within_{distance:g}"] = int(np.sum(val >= best - distance - 1e-9))
    for column, count in top_counts(len(val)).items():
        top = order[:count]
        tau = stats.kendalltau(val[top], test[top]).statistic  # NaN when either side is constant
        row[column] = round(float(tau), 3) if np.isfinite(tau) else np.nan
    row["informed_regret"] = round(informed_regret(val, test), 3)
    return row


def top_counts(entries: int) -> dict[str, int]:
    """Column name -> how many of the best entries it compares (at least 2)."""
    counts = {
        ("tau_all" if fraction == 1 else f"tau_best_{fraction:.0%}"): max(2, round(fraction * entries))
        for fraction in TOP_FRACTIONS
    }
    counts[f"tau_best_{TOP_COUNT}"] = min(TOP_COUNT, entries)
    return counts


def informed_regret(val: np.ndarray, test: np.ndarray, seed: int = 0) -> float:
    """Mean validation regret of the best of ``ORACLE_QUERIES`` rows drawn without replacement from the
    best ``ORACLE_FRACTION`` of the table by test accuracy (all of them when that is fewer)."""
    pool = np.argsort(-test, kind="stable")[: max(1, round(ORACLE_FRACTION * len(test)))]
    rng = np.random.default_rng(seed)
    draws = min(ORACLE_QUERIES, len(pool))
    best = [val[rng.choice(pool, draws, replace=False)].max() for _ in range(ORACLE_DRAWS)]
    return float(val.max() - np.mean(best))


def markdown(frame: pd.DataFrame) -> str:
    headers = {  # column -> header
        "benchmark": "benchmark",
        "entries": "entries",
        "val_optimum": "val optimum",
        **{f"within_{d:g}": f"within {d:g}" for d in WITHIN},
        **{column: column.replace("tau_", "tau ").replace("_", " ") for column in top_counts(TOP_COUNT)},
        "informed_regret": f"regret of {ORACLE_QUERIES} from the test-best {ORACLE_FRACTION:.0%}",
    }
    lines = ["| " + " | ".join(headers.values()) + " |", "|" + "---|" * len(headers)]
    for row in frame[list(headers)].itertuples(index=False):
        lines.append("| " + " | ".join(str(value) for value in row) + " |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.table_signal", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--benchmarks", nargs="+", help=f"benchmark names (default: {' '.join(BENCHMARKS)})")
    parser.add_argument("--data-dir", help="data folder (default: $BONAS_DATA_DIR or data/)")
    parser.add_argument("--out", type=Path, default=Path("results/table_signal"), help="output folder")
    parser.add_argument("--quick", action="store_true", help="NAS-Bench-Graph cora only")
    parser.add_argument("--force", action="store_true", help="accepted for make bench; nothing is cached")
    args = parser.parse_args(argv)
    args.named = args.benchmarks is not None
    args.benchmarks = args.benchmarks or list(BENCHMARKS)
    for name in args.benchmarks:
        if name not in benchmark_names():
            parser.error(str(unknown_name("benchmark", name, benchmark_names())))
    output_folder(args.out)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = ["nbgraph-cora"] if args.quick else args.benchmarks
    rows = []
    for name in names:
        try:
            values = table_values(load_benchmark(name, data_dir=args.data_dir))
        except (DataFileNotFoundError, NoTableError) as error:
            print(f"Skipping {name}: {error}")
            continue
        rows.append(agreement(name, values))
        print(f"{name}: {len(values):,} table entries", flush=True)
    if not rows:
        if not (args.named or args.quick):
            print("No benchmark had validation and test accuracies here: nothing to report.")
            return 0
        raise BenchInputError(
            f"None of {', '.join(names)} has validation and test accuracies here (see above): nothing to report; "
            f"name benchmarks with both, e.g. {BENCHMARKS[0]}."
        )
    frame = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(frame, args.out / "summary.csv")
    table = markdown(frame)
    (args.out / "summary.md").write_text(
        "# Validation against test accuracy among each table's best rows (Kendall tau)\n\n" + table
    )
    print(table)
    print(f"Wrote {args.out / 'summary.csv'} and {args.out / 'summary.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_command(main, "python -m benchmarks.table_signal"))
