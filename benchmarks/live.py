"""``python -m benchmarks.live``: a live search that really trains, BO vs random search on digits.

Every candidate NB201 cell is built as a small NB201 network and trained on scikit-learn's digits on
the CPU; the searched value is the measured validation accuracy. Bayesian optimization
(``bo-gp-wl-rbf``, a few random proposals first) and random search get the same budget of trials
on the same seeds. Training seed ``s`` is used for every candidate of seed ``s``, so both searchers
face the same (deterministic) objective, and a cell trained once for a seed is looked up, not trained
again, when the other searcher proposes it.

Results go to ``results/live/``: ``runs.csv`` (one row per trial), ``summary.csv`` and ``summary.md``
(mean ± std over seeds of the best validation accuracy found and of the test accuracy of the cell
chosen by validation accuracy).

Examples::

    python -m benchmarks.live             # 3 seeds x 12 trials, 3 epochs, C=8, N=1: a few minutes on 2 cores
    python -m benchmarks.live --quick     # 2 seeds x 6 trials, 2 epochs, C=4
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import optuna
import pandas as pd
import torch

import bonas
from benchmarks.warning_log import WarningLog
from bonas.architecture import Architecture
from bonas.training import NetworkSettings, TrainingSettings

SEARCHERS = ("random", "bo-gp-wl-rbf")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.live", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=12, help="trained candidates per search")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--channels", type=int, default=8, help="C of the NB201 network")
    parser.add_argument("--cells", type=int, default=1, help="N of the NB201 network")
    parser.add_argument(
        "--train-size", type=int, default=300, help="training images (of 1,150): fewer spread the cells apart"
    )
    parser.add_argument("--n-initial", type=int, default=4, help="random proposals before BO's surrogate")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1: OpenMP threads spin badly on a shared machine)",
    )
    parser.add_argument("--out", type=Path, default=Path("results/live"))
    parser.add_argument("--quick", action="store_true", help="2 seeds x 6 trials, 2 epochs, C=4")
    return parser.parse_args(argv)


class CachedObjective:
    """``bonas.objectives.train`` on digits, remembering results by architecture string for one seed."""

    def __init__(
        self, objective: bonas.objectives.TrainingObjective, cache: dict[str, dict[str, float]]
    ) -> None:
        self.objective = objective
        self.cache = cache
        self.name = objective.name

    def __call__(self, architecture: Architecture) -> dict[str, float]:
        key = str(architecture)
        if key not in self.cache:
            self.cache[key] = self.objective(architecture)
        return self.cache[key]


def run(
    searcher: str, seed: int, args: argparse.Namespace, cache: dict[str, dict[str, float]]
) -> pd.DataFrame:
    space = bonas.get_space("nb201")
    objective = bonas.objectives.train(
        "digits",
        network=NetworkSettings(channels=args.channels, cells_per_stage=args.cells),
        settings=TrainingSettings(epochs=args.epochs, batch_size=64, seed=seed),
        train_size=args.train_size,
    )
    options = {"n_initial": args.n_initial} if searcher.startswith("bo-") else {}
    sampler = bonas.make_sampler(searcher, space, seed=seed, **options)
    started = time.perf_counter()
    result = bonas.search(space, CachedObjective(objective, cache), sampler=sampler, n_trials=args.trials)
    history = result.history.copy()
    history.insert(0, "searcher", searcher)
    history.insert(1, "seed", seed)
    history["search_seconds"] = time.perf_counter() - started
    return history


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (searcher, seed), group in runs.groupby(["searcher", "seed"], sort=False):
        done = group[group["state"] == "COMPLETE"]
        best = done.loc[done["val_accuracy"].idxmax()]
        rows.append(
            {
                "searcher": searcher,
                "seed": seed,
                "best_val": best["val_accuracy"],
                "test_of_best": best["test_accuracy"],
                "arch": best["arch"],
                "seconds": group["search_seconds"].iloc[0],
            }
        )
    per_seed = pd.DataFrame(rows)
    summary = per_seed.groupby("searcher", sort=False).agg(
        seeds=("seed", "count"),
        best_val_mean=("best_val", "mean"),
        best_val_std=("best_val", "std"),
        test_of_best_mean=("test_of_best", "mean"),
        test_of_best_std=("test_of_best", "std"),
        seconds_mean=("seconds", "mean"),
    )
    return summary.reset_index().round(3), per_seed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.quick:
        args.seeds, args.trials, args.epochs, args.channels = 2, 6, 2, 4
        args.n_initial = min(args.n_initial, 3)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    histories = []
    warning_log = WarningLog(args.out / "warnings.log")
    for seed in range(args.seeds):
        cache: dict[str, dict[str, float]] = {}
        for searcher in SEARCHERS:
            with warning_log.capture(f"seed {seed} {searcher}"):
                history = run(searcher, seed, args, cache)
            best = history["val_accuracy"].max()
            print(
                f"seed {seed} {searcher}: best val accuracy {best:.2f} in {history['search_seconds'].iloc[0]:.0f} s"
            )
            histories.append(history)
    runs = pd.concat(histories, ignore_index=True)
    summary, per_seed = summarise(runs)
    args.out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out / "runs.csv", index=False)
    summary.to_csv(args.out / "summary.csv", index=False)
    wall = time.perf_counter() - started
    header = (
        f"# Live search on digits ({args.train_size} training images): NB201 cells, C={args.channels}, "
        f"N={args.cells}, {args.epochs} epochs, "
        f"{args.trials} trials x {args.seeds} seeds, CPU\n\n"
        f"Wall time {wall:.0f} s. Values are validation / test accuracy in percent, mean ± std over seeds; "
        "the test accuracy is that of the cell with the best validation accuracy.\n\n"
    )
    lines = [
        "| searcher | seeds | best val accuracy | test accuracy of chosen cell | s per search |",
        "|---|---|---|---|---|",
    ]
    for row in summary.itertuples():
        lines.append(
            f"| {row.searcher} | {row.seeds} | {row.best_val_mean:.2f} ± {row.best_val_std:.2f} | "
            f"{row.test_of_best_mean:.2f} ± {row.test_of_best_std:.2f} | {row.seconds_mean:.0f} |"
        )
    lines += [
        "",
        "Per seed:",
        "",
        "| searcher | seed | best val | test of chosen | chosen cell | s |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.searcher} | {r.seed} | {r.best_val:.2f} | {r.test_of_best:.2f} | `{r.arch}` | {r.seconds:.0f} |"
        for r in per_seed.itertuples()
    ]
    (args.out / "summary.md").write_text(header + "\n".join(lines) + "\n")
    print(header + "\n".join(lines))
    print(warning_log.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
