"""``python -m benchmarks.darts_report``: what DARTS derives on NB201 and how its cells train stand-alone.

On the weight-sharing benchmark's data and network (:mod:`benchmarks.weight_sharing`: Fashion-MNIST at
12x12, NB201 cells at small width and depth), DARTS runs a fixed number of epochs per order (1 and 2)
and seed; after every epoch the derived cell (each edge's operation of largest weight, ``none``
included, as NB201's DARTS baseline) and its parameter-free edges (``none``, ``skip_connect``,
``avg_pool_3x3``) are recorded. DARTS on NB201 is known to collapse towards parameter-free operations;
this shows whether and when it does here. Every final derived cell is trained stand-alone (the
benchmark's recipe, a fresh seed) for its validation and test accuracy, beside the mean of random
cells trained the same way. Nothing is chosen on the test split.

Results: ``results/darts/epochs.csv`` (every epoch: weights, derived cell), ``results/darts/summary.md``.

Examples::

    python -m benchmarks.darts_report                      # orders 1 and 2, 3 seeds, 20 / 10 epochs
    python -m benchmarks.darts_report --quick              # 2 seeds, 4 / 2 epochs, smaller data
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.cache import write_csv
from benchmarks.pool import progress_bar, run_tasks
from benchmarks.warning_log import WarningLog
from benchmarks.weight_sharing import (
    TASK_FIELDS,
    Setup,
    TaskCache,
    _mean_std,
    _network,
    connected,
    load_data,
    sample_cells,
    standalone_task,
)

PARAMETER_FREE = ("none", "skip_connect", "avg_pool_3x3")


def key_setup(setup: Setup) -> Setup:
    """``setup`` with every field these tasks do not read reset to its default (the tasks' cache key):
    data sizes, network and stand-alone training only (the search budgets of the weight-sharing bench
    change nothing here)."""
    default = Setup()
    return dataclasses.replace(default, **{name: getattr(setup, name) for name in TASK_FIELDS["standalone"]})


def darts_task(setup: Setup, order: int, seed: int, epochs: int) -> dict[str, Any]:
    """One DARTS run: per-epoch records, the final cell, and its stand-alone training."""
    import bonas
    from bonas.supernet_search import supernet_search
    from bonas.training.darts import DartsSettings

    space = bonas.get_space("nb201")
    started = time.process_time()
    result = supernet_search(
        "darts" if order == 1 else "darts-2nd",
        space,
        load_data(setup),
        network=_network(setup),
        seed=seed,
        clock=time.process_time,
        settings=DartsSettings(
            epochs=epochs, order=order, batch_size=setup.batch_size, seed=seed, device="cpu"
        ),
    )
    search_seconds = time.process_time() - started
    final = standalone_task(setup, str(result.architecture), 1000 + seed)
    return {
        "epochs": result.log,
        "arch": str(result.architecture),
        "search_cpu_seconds": search_seconds,
        "val_accuracy": final["val_accuracy"],
        "test_accuracy": final["test_accuracy"],
    }


def parameter_free(arch: str) -> int:
    """Edges of an NB201 cell string that hold a parameter-free operation."""
    import bonas

    return sum(
        op in PARAMETER_FREE
        for op in bonas.get_space("nb201").operations(bonas.get_space("nb201").parse(arch))
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.darts_report", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--epochs",
        type=int,
        nargs=2,
        default=None,
        metavar=("FIRST", "SECOND"),
        help="epochs of first- and second-order DARTS (default 20 10; quick 4 2)",
    )
    parser.add_argument("--random-cells", type=int, default=None, help="random cells trained for reference")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("results/darts"))
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--quick", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup = Setup()
    epochs = dict(zip((1, 2), args.epochs or ((4, 2) if args.quick else (20, 10)), strict=True))
    n_random = args.random_cells if args.random_cells is not None else (4 if args.quick else 10)
    if args.quick:
        setup = dataclasses.replace(
            setup, train_size=1500, val_size=500, test_size=1000, channels=4, epochs=3
        )
        args.seeds = min(args.seeds, 2)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    warning_log = WarningLog(args.out / "warnings.log")
    cache = TaskCache(args.out / "cache", args.force)
    tasks = [(setup, order, seed, epochs[order]) for order in (1, 2) for seed in range(args.seeds)]
    randoms = [(setup, arch, 0) for arch in sample_cells(n_random)]
    results: dict[tuple[Any, ...], Any] = {}
    with progress_bar(len(tasks) + len(randoms), "DARTS report", "task") as bar:
        todo = []
        for function, argument_list in ((darts_task, tasks), (standalone_task, randoms)):
            for arguments in argument_list:
                path = cache.path(function.__name__, key_setup(setup), *arguments[1:])
                cached = cache.get(path)
                if cached is None:
                    todo.append((function, arguments, path))
                else:
                    results[(function.__name__, *arguments[1:])] = cached
                    bar.update(1)
        for function in (darts_task, standalone_task):
            pending = [(arguments, path) for f, arguments, path in todo if f is function]
            paths = {arguments: path for arguments, path in pending}
            for arguments, result in run_tasks(
                function,
                [arguments for arguments, _ in pending],
                jobs=args.jobs,
                in_process=args.jobs == 1,
                progress=bar.update,
                warning_log=warning_log,
                label=lambda a, name=function.__name__: f"{name}{a[1:]}",
            ):
                cache.put(paths[arguments], result)
                results[(function.__name__, *arguments[1:])] = result

    rows, finals = [], []
    for _, order, seed, n_epochs in tasks:
        run = results[("darts_task", order, seed, n_epochs)]
        for record in run["epochs"]:
            rows.append(
                {
                    "order": order,
                    "seed": seed,
                    "epoch": record["epoch"],
                    "train_loss": record["train_loss"],
                    "val_loss": record["val_loss"],
                    "derived": record["derived"],
                    "parameter_free_edges": parameter_free(record["derived"]),
                    "weights": json.dumps(record["weights"]),
                }
            )
        finals.append(
            {
                "order": order,
                "seed": seed,
                "epochs": n_epochs,
                **{k: v for k, v in run.items() if k != "epochs"},
            }
        )
    epoch_frame, final_frame = pd.DataFrame(rows), pd.DataFrame(finals)
    write_csv(epoch_frame, args.out / "epochs.csv")
    write_csv(final_frame, args.out / "finals.csv")
    random_runs = [results[("standalone_task", arch, 0)] for _, arch, _ in randoms]
    summary = _summary(
        setup,
        epoch_frame,
        final_frame,
        random_runs,
        [arch for _, arch, _ in randoms],
        time.perf_counter() - started,
        args,
    )
    (args.out / "summary.md").write_text(summary)
    print(summary)
    print(f"Files in {args.out}/: summary.md, epochs.csv, finals.csv. {warning_log.summary()}")
    return 0


def _summary(
    setup: Setup,
    epochs: pd.DataFrame,
    finals: pd.DataFrame,
    randoms: list[dict[str, float]],
    random_cells: list[str],
    wall: float,
    args: argparse.Namespace,
) -> str:
    lines = [
        f"# DARTS on NB201, Fashion-MNIST ({setup.train_size} training / {setup.val_size} validation images at "
        f"12x12), C={setup.channels}, N={setup.cells_per_stage}",
        "",
        "Weights train on the training split, architecture weights on the validation split; the derived cell "
        "takes each edge's operation of largest weight (`none` included). Final cells trained stand-alone "
        f"({setup.epochs} epochs, fresh seed). Wall time {wall / 60:.1f} min with {args.jobs} worker(s).",
        "",
        "| order | seed | epochs | search CPU s | derived cell | parameter-free edges | stand-alone val | test |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in finals.itertuples():
        lines.append(
            f"| {row.order} | {row.seed} | {row.epochs} | {row.search_cpu_seconds:.0f} | `{row.arch}` | "
            f"{parameter_free(row.arch)}/6 | {row.val_accuracy:.2f} | {row.test_accuracy:.2f} |"
        )
    lines.append("")
    for order, group in finals.groupby("order"):
        lines.append(
            f"DARTS order {order}: stand-alone val {_mean_std(group['val_accuracy'])}, test "
            f"{_mean_std(group['test_accuracy'])} over {len(group)} seeds."
        )
    connected_runs = [r for r, arch in zip(randoms, random_cells, strict=True) if connected(arch)]
    for label, runs in (
        ("random cells", randoms),
        ("random cells whose output depends on the input", connected_runs),
    ):
        val = [r["val_accuracy"] for r in runs]
        lines.append(
            f"Reference, {len(runs)} {label} trained the same way: val {_mean_std(val)} (best {max(val):.2f}, "
            f"median {np.median(val):.2f}), test {_mean_std([r['test_accuracy'] for r in runs])}."
        )
    lines += [
        "",
        "Parameter-free edges of the derived cell by epoch (mean over seeds):",
        "",
    ]
    for order, group in epochs.groupby("order"):
        trajectory = group.groupby("epoch")["parameter_free_edges"].mean()
        lines.append(f"- order {order}: " + ", ".join(f"{e}: {v:.1f}" for e, v in trajectory.items()))
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
