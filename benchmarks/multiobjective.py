"""``python -m benchmarks.multiobjective``: hardware-aware search, accuracy against latency.

Two kinds of problem, each searcher run on each with the same seeds:

* **multi-objective** (``<benchmark>:<device>``): maximise validation accuracy and minimise the latency on
  a device. Quality is the **hypervolume regret**: the hypervolume of the exact Pareto front of the whole
  table minus that of the evaluations so far, both in the box between the fixed reference point
  (the table's median validation accuracy, its largest latency) and the ideal point (its best accuracy,
  its smallest latency), each objective scaled to that box, so a regret is a fraction of the box in
  [0, 1]. Hypervolumes are BoTorch's (``botorch.utils.multi_objective.hypervolume.Hypervolume``).
* **constrained** (``<benchmark>:<device><=p25``): maximise validation accuracy subject to the latency
  on the device being at most the 25th percentile of the table's latencies there. Regret is the best
  feasible validation accuracy in the table minus the best feasible one found (before any feasible
  evaluation: minus the table's worst feasible accuracy). ``feasible_share`` is the share of evaluations
  after the first 10 (bonas's initial design) that satisfy the constraint.

Beside the searchers, each multi-objective problem gets two informed references: the hypervolume regret
(on validation accuracy) of the first 100 entries by Pareto layers of *test* accuracy and latency, and of
100 drawn from the best tenth by those layers, as a searcher that knew which architectures are good by a
measure the validation noise does not touch would pick them (see ``benchmarks.table_signal``).

Latency is a cheap metric of the tables (known without training): bonas's BO uses it exactly, the other
searchers see it only in evaluated trials. Results (per-run CSVs cached under ``<out>/runs``, so an
interrupted bench resumes), ``summary.csv``, ``summary.md``, Pareto-front and regret-curve plots go to
``results/bench/multiobjective``.

Examples::

    python -m benchmarks.multiobjective                 # the full grid (make bench)
    python -m benchmarks.multiobjective --quick         # one problem of each kind, 2 seeds, 50 queries
    python -m benchmarks.multiobjective --problems nb201-cifar10:pixel3 --seeds 5 --budget 100 --jobs 2
"""

from __future__ import annotations

import argparse
import bisect
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import optuna
import pandas as pd

from benchmarks.cache import ResultCache, bonas_sources, content_digest, fingerprint_of, write_csv
from benchmarks.command import nothing_to_run, output_folder, positive_int, run_command
from benchmarks.mo_problems import (
    INITIAL_DESIGN,
    Problem,
    RunSpec,
    Table,
    benchmark_of,
    hypervolume,
    non_dominated,
    run_one,
    table_of,
)
from benchmarks.pool import progress_bar, run_tasks
from benchmarks.report import scope_lines
from benchmarks.warning_log import WarningLog
from bonas.errors import DataFileNotFoundError, unknown_name
from bonas.samplers import make_sampler, sampler_names
from bonas.tabular.nb201 import LATENCY_DEVICES, LATENCY_FILE, NB201Benchmark, latency_metric

#: Query counts reported, and the budget of a run.
REPORT_AT = (25, 50, 100, 150)
DEFAULT_BUDGET = 150
SEEDS = 20

#: Searchers of the multi-objective problems: baselines first, then bonas's BO (qLogNEHVI, the default
#: ``auto`` picks, and its cheaper qLogNParEGO form).
MULTI_OBJECTIVE_BASELINES = ("random", "regularized-evolution", "optuna-nsga2", "optuna-tpe", "optuna-gp")
MULTI_OBJECTIVE_SEARCHERS = (*MULTI_OBJECTIVE_BASELINES, "mobo-gp-wl-rbf", "parego-gp-wl-rbf")
#: Searchers of the constrained problems (single objective).
CONSTRAINED_BASELINES = ("random", "regularized-evolution", "optuna-nsga2", "optuna-tpe", "optuna-gp")
CONSTRAINED_SEARCHERS = (*CONSTRAINED_BASELINES, "mobo-gp-wl-rbf")
ALL_SEARCHERS = frozenset(MULTI_OBJECTIVE_SEARCHERS) | frozenset(CONSTRAINED_SEARCHERS)
#: The default searcher whose regret the targets compare, and the baselines it is compared with.
BONAS_DEFAULT = "mobo-gp-wl-rbf"
TARGET_BASELINES = ("optuna-nsga2", "optuna-tpe", "optuna-gp")

NB201 = ("nb201-cifar10", "nb201-cifar100", "nb201-imagenet16-120")
DEVICES = ("pixel3", "raspi4", "titan_rtx_1")
MULTI_OBJECTIVE_PROBLEMS = (
    *(f"{benchmark}:{device}" for benchmark in NB201 for device in DEVICES),
    "nbgraph-cora:latency",
    "nbgraph-arxiv:latency",
)
CONSTRAINED_PROBLEMS = tuple(f"{benchmark}:{device}<=p25" for benchmark in NB201 for device in DEVICES)
QUICK_PROBLEMS = ("nb201-cifar10:pixel3", "nb201-cifar10:pixel3<=p25")
#: The problem whose table the proposal overhead is measured on.
OVERHEAD_PROBLEM = "nb201-cifar10:pixel3"
QUICK_SEEDS, QUICK_BUDGET = 2, 50
#: The informed references of a multi-objective problem: ``INFORMED_QUERIES`` entries taken by Pareto
#: layers of test accuracy and latency, and as many drawn ``INFORMED_DRAWS`` times from the table's best
#: ``INFORMED_FRACTION`` by those layers.
INFORMED_QUERIES, INFORMED_FRACTION, INFORMED_DRAWS = 100, 0.1, 200


def fingerprint(spec: RunSpec) -> str:
    problem = Problem.parse(spec.problem)
    benchmark = benchmark_of(problem.benchmark)
    sampler = make_sampler(spec.searcher, benchmark.space, seed=spec.seed)
    roots = {cls.__module__ for cls in (type(sampler), type(benchmark), type(benchmark.space))}
    harness = [Path(__file__).with_name("mo_problems.py"), Path(__file__).with_name("pool.py")]
    return fingerprint_of(
        (spec, optuna.__version__, content_digest(benchmark.source_files)),
        [*harness, *bonas_sources(frozenset(roots | {"bonas.study"}))],
    )


# -- the report ------------------------------------------------------------------------------------------


def summarise(runs: dict[RunSpec, pd.DataFrame], report_at: tuple[int, ...]) -> pd.DataFrame:
    """One row per problem x searcher x reported query count: regret mean and std over seeds, the share
    of feasible evaluations after the initial design, and the proposal overhead (median over seeds of
    the mean seconds per query, and of the seconds of the last query)."""
    groups: dict[tuple[str, str], list[pd.DataFrame]] = {}
    for spec, frame in runs.items():
        groups.setdefault((spec.problem, spec.searcher), []).append(frame)
    rows = []
    for (problem, searcher), frames in groups.items():
        for queries in report_at:
            upto = [f[f["query"] <= queries] for f in frames if f["query"].max() >= queries]
            if not upto:
                continue
            last = np.array([f["regret"].iloc[-1] for f in upto])
            after = [f[f["query"] > INITIAL_DESIGN]["feasible"] for f in upto]
            rows.append(
                {
                    "problem": problem,
                    "searcher": searcher,
                    "queries": queries,
                    "n_seeds": len(upto),
                    "mean_regret": float(last.mean()),
                    "std_regret": float(last.std()),
                    "feasible_share": float(np.mean([a.mean() for a in after if len(a)]))
                    if any(len(a) for a in after)
                    else np.nan,
                    "overhead_s_per_query": float(np.median([f["propose_seconds"].mean() for f in upto])),
                    "last_proposal_s": float(np.median([f["propose_seconds"].iloc[-1] for f in upto])),
                }
            )
    return pd.DataFrame(rows)


def markdown(summary: pd.DataFrame, report_at: tuple[int, ...]) -> str:
    """Per problem, one row per searcher: regret mean ± std at each reported query count, the ratio of
    bonas's default to the best of NSGA-II, TPE and GP at 100 queries, feasible share and overhead."""
    lines = []
    for constrained in (False, True):
        part = summary[summary["problem"].str.contains("<=") == constrained]
        if part.empty:
            continue
        title = (
            "Constrained (latency <= 25th percentile): validation regret"
            if constrained
            else "Hypervolume regret"
        )
        header = ["problem", "searcher", "seeds", *(f"@{q}" for q in report_at)]
        header += ["feasible after init" if constrained else "", "s/query", "s at last query"]
        header = [h for h in header if h]
        lines += [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for (problem, searcher), group in part.groupby(["problem", "searcher"], sort=False):
            by_q = group.set_index("queries")
            final = by_q.index.max()
            cells = [problem, searcher, str(int(by_q.loc[final, "n_seeds"]))]
            cells += [
                f"{by_q.loc[q, 'mean_regret']:.4f} ± {by_q.loc[q, 'std_regret']:.4f}"
                if q in by_q.index
                else ""
                for q in report_at
            ]
            if constrained:
                cells.append(f"{by_q.loc[final, 'feasible_share']:.0%}")
            cells += [
                f"{by_q.loc[final, 'overhead_s_per_query']:.3f}",
                f"{by_q.loc[final, 'last_proposal_s']:.3f}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", ratio_table(part), ""]
    return "\n".join(lines)


def ratio_table(summary: pd.DataFrame, at: int = 100) -> str:
    """Per problem: bonas's default regret at ``at`` queries over each target baseline's (target <= 0.5)."""
    rows = summary[summary["queries"] == at].set_index(["problem", "searcher"])["mean_regret"]
    if rows.empty:
        return f"(no run reached {at} queries)"
    lines = [
        f"| problem | {BONAS_DEFAULT} @{at} | "
        + " | ".join(f"ratio to {b}" for b in TARGET_BASELINES)
        + " | ratio to best |",
        "|" + "---|" * (3 + len(TARGET_BASELINES)),
    ]
    for problem in dict.fromkeys(p for p, _ in rows.index):
        if (problem, BONAS_DEFAULT) not in rows.index:
            continue
        ours = rows[(problem, BONAS_DEFAULT)]
        theirs = [rows.get((problem, b), np.nan) for b in TARGET_BASELINES]
        ratios = [ours / t if t > 0 else np.nan for t in theirs]
        best = np.nanmin(theirs) if not np.all(np.isnan(theirs)) else np.nan
        lines.append(
            f"| {problem} | {ours:.4f} | "
            + " | ".join("n/a" if np.isnan(r) else f"{r:.2f}" for r in ratios)
            + f" | {'n/a' if not best > 0 else f'{ours / best:.2f}'} |"
        )
    return "\n".join(lines)


def pareto_layers(accuracy: np.ndarray, latency: np.ndarray) -> np.ndarray:
    """Each entry's non-dominated layer for accuracy (max) and latency (min): 0 for the Pareto front, 1
    for the front of the rest, and so on. In two dimensions by one pass in order of latency: an entry
    goes to the first layer none of whose (faster) members is at least as accurate. Of entries equal in
    both, all but the first go a layer down."""
    layers = np.empty(len(accuracy), dtype=int)
    best: list[float] = []  # best[k]: minus the highest accuracy of layer k so far (non-decreasing in k)
    for i in np.lexsort((-accuracy, latency)):
        k = bisect.bisect_right(best, -accuracy[i])  # layers before k hold an entry at least as accurate
        if k == len(best):
            best.append(-accuracy[i])
        else:
            best[k] = -accuracy[i]
        layers[i] = k
    return layers


def informed_reference(name: str, seed: int = 0) -> dict[str, float] | None:
    """What a searcher that knew each entry's test accuracy and latency, and nothing else, would reach on
    a multi-objective problem, scored as the searchers are (hypervolume regret on validation accuracy):
    the first ``INFORMED_QUERIES`` entries by Pareto layers of test accuracy and latency (by test accuracy
    within a layer), and ``INFORMED_QUERIES`` drawn at random from the best ``INFORMED_FRACTION`` by those
    layers (mean and std over ``INFORMED_DRAWS`` draws). Not a bound: a searcher also sees the validation
    values it measures. None for a constrained problem, a table without test accuracies or one of fewer
    than ``INFORMED_QUERIES`` entries.
    """
    problem = Problem.parse(name)
    if problem.constrained:
        return None
    rows = list(benchmark_of(problem.benchmark).table_rows())
    if len(rows) < INFORMED_QUERIES or "test_accuracy" not in rows[0]:
        return None
    table = Table(
        np.array([r["val_accuracy"] for r in rows], dtype=float),
        np.array([r[problem.latency] for r in rows], dtype=float),
    )
    test = np.array([r["test_accuracy"] for r in rows], dtype=float)
    order = np.lexsort((-test, pareto_layers(test, table.latency)))
    optimum = hypervolume(table.front(), table)

    def regret(chosen: np.ndarray) -> float:
        return optimum - hypervolume(np.stack([table.accuracy[chosen], table.latency[chosen]], -1), table)

    best = order[: max(INFORMED_QUERIES, int(INFORMED_FRACTION * len(order)))]
    rng = np.random.default_rng(seed)
    draws = [regret(rng.choice(best, INFORMED_QUERIES, replace=False)) for _ in range(INFORMED_DRAWS)]
    return {
        "first_by_test_layers": regret(order[:INFORMED_QUERIES]),
        "drawn_mean": float(np.mean(draws)),
        "drawn_std": float(np.std(draws)),
    }


def informed_markdown(problems: Sequence[str]) -> str:
    """The informed references of the multi-objective ``problems`` (see :func:`informed_reference`)."""
    lines = [
        f"| problem | first {INFORMED_QUERIES} by test Pareto layers | {INFORMED_QUERIES} drawn from the "
        f"test-best {INFORMED_FRACTION:.0%} (mean ± std over {INFORMED_DRAWS}) |",
        "|---|---|---|",
    ]
    for name in problems:
        reference = informed_reference(name)
        if reference is not None:
            lines.append(
                f"| {name} | {reference['first_by_test_layers']:.4f} | "
                f"{reference['drawn_mean']:.4f} ± {reference['drawn_std']:.4f} |"
            )
    if len(lines) == 2:
        return ""
    return "\n".join(
        [
            "### Informed references (hypervolume regret of a searcher that knew test accuracy)",
            "",
            *lines,
        ]
    )


def plot(runs: dict[RunSpec, pd.DataFrame], out: Path) -> list[Path]:
    """Per problem: regret curves (mean ± 1 s.e.) and, for multi-objective ones, the true Pareto front
    with one median seed's found front per searcher."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    by_problem: dict[str, dict[str, list[pd.DataFrame]]] = {}
    for spec, frame in runs.items():
        by_problem.setdefault(spec.problem, {}).setdefault(spec.searcher, []).append(frame)
    paths = []
    for name, searchers in sorted(by_problem.items()):
        problem = Problem.parse(name)
        slug = spec_slug(name)
        figure, axes = plt.subplots(figsize=(7, 4.5))
        for searcher, frames in sorted(searchers.items()):
            length = min(len(f) for f in frames)
            values = np.stack([f["regret"].to_numpy()[:length] for f in frames])
            mean, error = values.mean(0), values.std(0) / np.sqrt(len(frames))
            x = np.arange(1, length + 1)
            axes.plot(x, np.maximum(mean, 1e-4), label=f"{searcher} (n={len(frames)})")
            axes.fill_between(x, np.maximum(mean - error, 1e-4), np.maximum(mean + error, 1e-4), alpha=0.2)
        axes.set_yscale("log")
        axes.set_xlabel("queries")
        axes.set_ylabel(
            "validation regret (%)" if problem.constrained else "hypervolume regret (fraction of box)"
        )
        axes.set_title(f"{name}: mean ± 1 s.e. over seeds")
        axes.grid(alpha=0.3, which="both")
        axes.legend(fontsize=8)
        figure.tight_layout()
        path = out / f"{slug}-regret.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        paths.append(path)
        if problem.constrained:
            continue
        table = table_of(problem)
        figure, axes = plt.subplots(figsize=(7, 5))
        axes.scatter(table.latency, table.accuracy, s=2, color="0.85", label="all architectures")
        front = table.front()
        order = np.argsort(front[:, 1])
        axes.step(
            front[order, 1], front[order, 0], where="post", color="black", lw=1.5, label="true Pareto front"
        )
        for searcher, frames in sorted(searchers.items()):
            finals = [f["regret"].iloc[-1] for f in frames]
            median = frames[int(np.argsort(finals)[len(finals) // 2])]
            points = median[["val_accuracy", "latency"]].to_numpy()
            found = points[non_dominated(points)]
            found = found[np.argsort(found[:, 1])]
            axes.step(found[:, 1], found[:, 0], where="post", lw=1, label=f"{searcher} (median seed)")
        lowest = table.reference[0] - 5
        axes.set_ylim(lowest, table.ideal[0] + 1)
        axes.set_xscale("log")
        shown = table.latency[table.accuracy >= lowest]  # the latencies of the points in view
        axes.set_xlim(shown.min() / 1.2, shown.max() * 1.2)
        axes.set_xlabel(f"{problem.latency} ({'s' if problem.latency == 'latency_s' else 'ms'}, log)")
        axes.set_ylabel("validation accuracy (%)")
        axes.set_title(f"{name}: Pareto fronts after {len(median)} queries")
        axes.legend(fontsize=7, loc="lower right")
        axes.grid(alpha=0.3)
        figure.tight_layout()
        path = out / f"{slug}-front.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        paths.append(path)
    return paths


def spec_slug(problem: str) -> str:
    return problem.replace(":", "-").replace("<=", "-le-")


def proposal_overhead(observations: int = 150, proposals: int = 10) -> pd.DataFrame:
    """Seconds per proposal of bonas's BO with ``observations`` evaluations (on :data:`OVERHEAD_PROBLEM`,
    with the latency bounded at 5 ms for the constrained row): CPU seconds
    (``time.process_time``, one torch thread: the wall time on an idle core, whatever else the machine
    runs) and wall seconds, over ``proposals`` proposals after a warm-up one (feature caches filled; one
    in ten proposals re-selects the WL depth, four GP fits)."""
    import statistics

    import torch

    from bonas.study import search

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    logging.getLogger("bonas").setLevel(logging.ERROR)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    problem = Problem.parse(OVERHEAD_PROBLEM)
    benchmark, latency = benchmark_of(problem.benchmark), problem.latency
    rows = []
    cases = (
        (f"val_accuracy vs {latency}", {"objectives": {"val_accuracy": "maximize", latency: "minimize"}}),
        (f"val_accuracy s.t. {latency}<=5", {"constraints": {latency: ("<=", 5.0)}}),
    )
    try:
        for case, outcomes in cases:
            study = search(
                benchmark.space, benchmark, sampler="random", n_trials=observations, seed=0, **outcomes
            ).study
            names = (BONAS_DEFAULT, "parego-gp-wl-rbf") if "objectives" in outcomes else (BONAS_DEFAULT,)
            for name in names:
                sampler = make_sampler(name, benchmark.space, seed=0, cheap_metrics=benchmark.cheap_metrics)
                history = sampler.history(study)
                sampler.propose(history, np.random.default_rng(0))
                cpu, wall = [], []
                for i in range(proposals):
                    started_cpu, started = time.process_time(), time.perf_counter()
                    sampler.propose(history, np.random.default_rng(i + 1))
                    cpu.append(time.process_time() - started_cpu)
                    wall.append(time.perf_counter() - started)
                rows.append(
                    {"case": case, "searcher": name, "observations": observations,
                     "cpu_s_mean": statistics.mean(cpu), "cpu_s_max": max(cpu), "wall_s_mean": statistics.mean(wall)}
                )  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    return pd.DataFrame(rows)


def overhead_markdown(overhead: pd.DataFrame) -> str:
    lines = [
        "### Proposal overhead at 150 observations",
        "",
        "| case | searcher | CPU s (mean) | CPU s (max) | wall s (mean) |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.case} | {r.searcher} | {r.cpu_s_mean:.3f} | {r.cpu_s_max:.3f} | {r.wall_s_mean:.3f} |"
        for r in overhead.itertuples()
    ]
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.multiobjective", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--problems", nargs="+", help="BENCHMARK:DEVICE or BENCHMARK:DEVICE<=p25 (default: all)"
    )
    parser.add_argument(
        "--searchers",
        nargs="+",
        help="searchers (default: per kind of problem; one of the default lists runs on the problems whose "
        "list holds it, any other on every problem)",
    )
    parser.add_argument("--seeds", type=positive_int, help=f"seeds per problem (default {SEEDS})")
    parser.add_argument("--budget", type=positive_int, help=f"queries per run (default {DEFAULT_BUDGET})")
    parser.add_argument("--jobs", type=positive_int, help="parallel processes (default: all cores)")
    parser.add_argument("--out", type=Path, default=Path("results/bench/multiobjective"))
    parser.add_argument("--force", action="store_true", help="recompute cached runs")
    parser.add_argument("--quick", action="store_true", help="one problem of each kind, 2 seeds, 50 queries")
    parser.add_argument(
        "--overhead",
        action="store_true",
        help=f"also measure the searchers' proposal overhead on {OVERHEAD_PROBLEM} (default: only without "
        "--problems)",
    )
    return parser.parse_args(argv)


def available(problems: Sequence[str]) -> list[str]:
    """The problems whose benchmark data and latency metric are present; the others are skipped with a
    message naming the missing file."""
    kept = []
    for name in problems:
        reason = missing_data(name)
        if reason:
            print(f"Skipping {name}: {reason}")
        else:
            kept.append(name)
    return kept


def missing_data(name: str) -> str | None:
    """Why problem ``name`` cannot run here (its data is absent), None when it can.

    Raises:
        ValueError: the name is malformed, or its benchmark never returns that latency (a mistyped
            device): an error to fix, not data to bring.
    """
    problem = Problem.parse(name)
    try:
        benchmark = benchmark_of(problem.benchmark)
    except DataFileNotFoundError as error:
        return str(error)
    if problem.latency in benchmark.metric_names:
        return None
    if isinstance(benchmark, NB201Benchmark) and problem.latency in map(latency_metric, LATENCY_DEVICES):
        return (
            f"benchmark {problem.benchmark!r} returns no {problem.latency!r} here (NB201's device latencies "
            f"need {LATENCY_FILE} in the data folder, $BONAS_DATA_DIR)."
        )
    latencies = sorted(m for m in benchmark.metric_names if m.startswith("latency_") and m != "latency_s")
    devices = ", ".join(m.removeprefix("latency_") for m in latencies)
    if not devices and isinstance(benchmark, NB201Benchmark):
        devices = f"none (with {LATENCY_FILE}: {', '.join(LATENCY_DEVICES)})"
    raise ValueError(
        f"Problem {name!r}: benchmark {problem.benchmark!r} has no latency {problem.latency!r}. Its devices "
        f"here: {devices or 'none'} ('latency' means latency_s)."
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    problems = args.problems or (
        QUICK_PROBLEMS if args.quick else (*MULTI_OBJECTIVE_PROBLEMS, *CONSTRAINED_PROBLEMS)
    )
    seeds = args.seeds or (QUICK_SEEDS if args.quick else SEEDS)
    budget = args.budget or (QUICK_BUDGET if args.quick else DEFAULT_BUDGET)
    output_folder(args.out)
    for name in args.searchers or ():
        if name not in sampler_names():
            raise unknown_name("searcher", name, sampler_names())
    try:
        problems = available(problems)
    except ValueError as error:
        print(f"python -m benchmarks.multiobjective: {error}", file=sys.stderr)
        return 2
    if not problems:
        return nothing_to_run(bool(args.problems), "multi-objective problem", args.out)
    specs = []
    for name in problems:
        problem = Problem.parse(name)
        default = CONSTRAINED_SEARCHERS if problem.constrained else MULTI_OBJECTIVE_SEARCHERS
        chosen = default
        if args.searchers:
            chosen = [s for s in args.searchers if s in default or s not in ALL_SEARCHERS]
        specs += [RunSpec(name, s, seed, budget) for s in chosen for seed in range(seeds)]
    print(f"{len(specs)} runs: {len(problems)} problems, {seeds} seeds, {budget} queries each")
    warning_log = WarningLog(args.out / "warnings.log")
    cache_ = ResultCache(args.out / "runs")
    with warning_log.capture("bench setup"):
        stamps = {spec: fingerprint(spec) for spec in specs}
    todo = [s for s in specs if args.force or (s.key, stamps[s]) not in cache_]
    # Seed by seed (a cut-short bench still compares every searcher on the same seeds), long runs first.
    todo.sort(key=lambda s: (s.seed, s.searcher not in ("optuna-gp", BONAS_DEFAULT, "parego-gp-wl-rbf")))
    with progress_bar(len(specs), desc="runs", unit="run") as bar:
        bar.update(len(specs) - len(todo))
        done = run_tasks(
            run_one, [(s,) for s in todo], jobs=args.jobs, progress=bar.update, warning_log=warning_log,
            label=lambda task: task[0].label,
        )  # fmt: skip
        for (spec,), frame in done:
            cache_.store(spec.key, stamps[spec], frame)
    runs = {s: cache_.load(s.key, stamps[s]) for s in specs}
    report_at = tuple(q for q in REPORT_AT if q <= budget) or (budget,)
    summary = summarise(runs, report_at)  # type: ignore[arg-type]
    write_csv(summary, args.out / "summary.csv")
    references = "\n".join(
        f"- {name}: reference point (val accuracy {table_of(Problem.parse(name)).reference[0]:.3f}, "
        f"{Problem.parse(name).latency} {table_of(Problem.parse(name)).reference[1]:.4g})"
        + (f"; budget {table_of(Problem.parse(name)).budget:.4g}" if Problem.parse(name).constrained else "")
        for name in problems
    )
    text = markdown(summary, report_at)
    with warning_log.capture("informed references"):
        informed = informed_markdown(problems)
    elapsed = time.perf_counter() - started
    (args.out / "summary.md").write_text(
        f"{text}\n{references}\n"
        + (f"\n{informed}\n" if informed else "")
        + f"\n{len(specs) - len(todo)} of {len(specs)} runs from cache; this command's wall time {elapsed:.0f} s.\n"
    )
    if informed:
        text += "\n" + informed + "\n"
    # Unrelated to problems the user named, so measured with those only when asked.
    measure_overhead = args.overhead or not args.problems
    overhead_missing = missing_data(OVERHEAD_PROBLEM) if measure_overhead else None
    if overhead_missing is not None:
        print(f"No proposal overhead ({OVERHEAD_PROBLEM}): {overhead_missing}")
    elif measure_overhead:
        with warning_log.capture("proposal overhead"):
            overhead = proposal_overhead()
        write_csv(overhead, args.out / "overhead.csv")
        overhead_text = overhead_markdown(overhead)
        with (args.out / "summary.md").open("a") as handle:
            handle.write(f"\n{overhead_text}\n\nCPU seconds: time.process_time with one torch thread.\n")
        text += "\n" + overhead_text + "\n"
    plots = plot(runs, args.out / "plots")  # type: ignore[arg-type]
    print(text)
    print(
        f"Wrote {args.out / 'summary.csv'}, {args.out / 'summary.md'} and {len(plots)} plots in {args.out / 'plots'}"
    )
    print("\n".join(scope_lines(args.out, len(specs), len(specs) - len(todo), plots)))
    print(warning_log.summary())
    print(f"Total wall time: {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main, "python -m benchmarks.multiobjective"))
