"""Turning finished runs into summary.csv, a markdown table and regret-curve plots."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.grid import REPORT_AT, RunSpec

SUMMARY_COLUMNS = [
    "benchmark",
    "searcher",
    "queries",
    "n_seeds",
    "mean_val_regret",
    "std_val_regret",
    "mean_test_regret",
    "hit_rate",
    "overhead_s_per_query",
    "mean_best_val",
    "std_best_val",
    "median_queries_to_optimum",
    "p90_queries_to_optimum",
]

#: Regret below this counts as having found the validation optimum (table values are rounded floats).
HIT_TOLERANCE = 1e-9


def summarise(runs: dict[RunSpec, pd.DataFrame], report_at: tuple[int, ...] = REPORT_AT) -> pd.DataFrame:
    """One row per benchmark x searcher x reported query count (see SUMMARY_COLUMNS).

    ``overhead_s_per_query`` is the searcher's wall time per query up to that point, objective
    excluded; ``mean_best_val`` is the best validation accuracy found (the measure for NB301, whose
    optimum is unknown). ``median_queries_to_optimum`` and ``p90_queries_to_optimum`` are over seeds of
    the query at which a seed first reached the validation optimum, counting a seed that did not by
    then as ``queries + 1`` (NaN without a known optimum).
    """
    rows = []
    groups: dict[tuple[str, str], list[pd.DataFrame]] = {}
    for spec, frame in runs.items():
        groups.setdefault((spec.benchmark, spec.searcher), []).append(frame)
    for (benchmark, searcher), frames in groups.items():
        for queries in report_at:
            upto = [frame[frame["query"] <= queries] for frame in frames if frame["query"].max() >= queries]
            if not upto:
                continue
            last = pd.DataFrame([frame.iloc[-1] for frame in upto])
            overhead = [frame["propose_seconds"].sum() / len(frame) for frame in upto]
            to_optimum = [queries_to_optimum(frame, queries) for frame in upto]
            rows.append(
                {
                    "benchmark": benchmark,
                    "searcher": searcher,
                    "queries": queries,
                    "n_seeds": len(upto),
                    "mean_val_regret": last["val_regret"].mean(),
                    "std_val_regret": last["val_regret"].std(ddof=0),
                    "mean_test_regret": last["test_regret"].mean(),
                    "hit_rate": (last["val_regret"] <= HIT_TOLERANCE).mean()
                    if last["val_regret"].notna().all()
                    else np.nan,
                    "median_queries_to_optimum": float(np.median(to_optimum)),
                    "p90_queries_to_optimum": float(np.percentile(to_optimum, 90)),
                    "overhead_s_per_query": float(np.median(overhead)),
                    "mean_best_val": last["best_val_accuracy"].mean(),
                    "std_best_val": last["best_val_accuracy"].std(ddof=0),
                }
            )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def queries_to_optimum(frame: pd.DataFrame, budget: int) -> float:
    """The first query of a run (up to ``budget``) at the validation optimum; ``budget + 1`` if none
    is; NaN when the benchmark's optimum is unknown."""
    upto = frame[frame["query"] <= budget]
    if upto["val_regret"].isna().all():
        return math.nan
    hits = upto["query"][upto["val_regret"] <= HIT_TOLERANCE]
    return float(hits.iloc[0]) if len(hits) else float(budget + 1)


def markdown_table(summary: pd.DataFrame, queries: tuple[int, ...] = (100, 150)) -> str:
    """A compact markdown table: per benchmark and searcher, regret mean ± std at ``queries``."""
    if summary.empty:
        return "(no runs)\n"
    final = max(queries)
    header = ["benchmark", "searcher", "seeds"]
    header += [f"val regret @{q}" for q in queries]
    header += [f"test regret @{final}", f"hit rate @{final}", "queries to optimum (median / p90)"]
    header += ["overhead s/query"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (benchmark, searcher), group in summary.groupby(["benchmark", "searcher"], sort=False):
        by_queries = group.set_index("queries")
        if final not in by_queries.index:
            continue
        row = by_queries.loc[final]
        cells = [benchmark, searcher, str(int(row["n_seeds"]))]
        for q in queries:
            cells.append(_regret_cell(by_queries.loc[q]) if q in by_queries.index else "")
        cells.append(_number(row["mean_test_regret"]))
        cells.append(_number(row["hit_rate"], "{:.0%}"))
        cells.append(_queries_cell(row, final))
        cells.append(f"{row['overhead_s_per_query']:.4f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _regret_cell(row: pd.Series) -> str:
    if pd.isna(row["mean_val_regret"]):  # no known optimum: report the best validation accuracy found
        return f"best val {row['mean_best_val']:.3f} ± {row['std_best_val']:.3f}"
    return f"{row['mean_val_regret']:.3f} ± {row['std_val_regret']:.3f}"


def _queries_cell(row: pd.Series, budget: int) -> str:
    if pd.isna(row["median_queries_to_optimum"]):
        return "n/a"
    return " / ".join(
        f">{budget}" if value > budget else f"{value:.1f}".removesuffix(".0")
        for value in (row["median_queries_to_optimum"], row["p90_queries_to_optimum"])
    )


def _number(value: float, template: str = "{:.3f}") -> str:
    return "n/a" if pd.isna(value) else template.format(value)


def flat_comparison(
    runs: dict[RunSpec, pd.DataFrame],
    queries: tuple[int, ...] = (50, 100),
    *,
    default: str = "auto",
    baselines: tuple[str, ...] = ("local-search", "optuna-tpe", "optuna-gp"),
) -> pd.DataFrame:
    """Per benchmark where ``default`` and some of ``baselines`` ran, and per query count: the mean
    validation regret of ``default``, that of the best baseline, and their ratio.

    Without a known optimum (NB301), regret is measured from the best validation accuracy any run on
    that benchmark reached within the largest query count reported (a lower bound on the true regret).
    """
    by_benchmark: dict[str, dict[str, list[pd.DataFrame]]] = {}
    for spec, frame in runs.items():
        if spec.searcher == default or spec.searcher in baselines:
            by_benchmark.setdefault(spec.benchmark, {}).setdefault(spec.searcher, []).append(frame)
    rows = []
    for benchmark, searchers in by_benchmark.items():
        if default not in searchers or not set(searchers) & set(baselines):
            continue
        frames = [frame for group in searchers.values() for frame in group]
        known = all(frame["val_regret"].notna().any() for frame in frames)
        reference = max(
            float(frame[frame["query"] <= max(queries)]["best_val_accuracy"].max()) for frame in frames
        )
        for q in queries:
            regrets = {
                searcher: float(
                    np.mean([_regret_at(frame, q, None if known else reference) for frame in group])
                )
                for searcher, group in searchers.items()
                if all(frame["query"].max() >= q for frame in group)
            }
            if default not in regrets or not set(regrets) - {default}:
                continue
            best = min((name for name in regrets if name != default), key=regrets.__getitem__)
            rows.append(
                {
                    "benchmark": benchmark,
                    "queries": q,
                    "default_regret": regrets[default],
                    "best_baseline": best,
                    "baseline_regret": regrets[best],
                    "ratio": _ratio(regrets[default], regrets[best]),
                    "regret_from": "optimum" if known else "best found by any run",
                }
            )
    return pd.DataFrame(rows)


def _ratio(regret: float, baseline: float) -> float:
    """``regret / baseline``; NaN when both are 0 (every seed of both at the optimum), inf when only the
    baseline's are."""
    if baseline > 0:
        return regret / baseline
    return math.nan if regret <= 0 else math.inf


def _regret_at(frame: pd.DataFrame, queries: int, reference: float | None) -> float:
    last = frame[frame["query"] <= queries].iloc[-1]
    return float(last["val_regret"]) if reference is None else reference - float(last["best_val_accuracy"])


def comparison_table(comparison: pd.DataFrame) -> str:
    """:func:`flat_comparison` as markdown: per benchmark, the ratio at each query count."""
    if comparison.empty:
        return ""
    lines = [
        "| benchmark | queries | default regret | best baseline | its regret | ratio | regret from |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in comparison.itertuples():
        lines.append(
            f"| {row.benchmark} | {row.queries} | {row.default_regret:.3f} | {row.best_baseline} | "
            f"{row.baseline_regret:.3f} | {'both 0' if math.isnan(row.ratio) else f'{row.ratio:.2f}'} | "
            f"{row.regret_from} |"
        )
    return "\n".join(lines) + "\n"


def plot_curves(runs: dict[RunSpec, pd.DataFrame], out: Path) -> list[Path]:
    """One PNG per benchmark: mean validation regret per query (log y) with a ±1 standard-error band;
    for benchmarks without a known optimum, mean best validation accuracy (linear y)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_benchmark: dict[str, dict[str, list[pd.DataFrame]]] = {}
    for spec, frame in runs.items():
        by_benchmark.setdefault(spec.benchmark, {}).setdefault(spec.searcher, []).append(frame)
    paths = []
    out.mkdir(parents=True, exist_ok=True)
    for benchmark, searchers in sorted(by_benchmark.items()):
        figure, axes = plt.subplots(figsize=(7, 4.5))
        has_optimum = all(
            frame["val_regret"].notna().any() for frames in searchers.values() for frame in frames
        )
        column = "val_regret" if has_optimum else "best_val_accuracy"
        for searcher, frames in sorted(searchers.items()):
            length = min(len(frame) for frame in frames)
            values = np.stack([frame[column].to_numpy(dtype=float)[:length] for frame in frames])
            mean = np.nanmean(values, axis=0)
            error = np.nanstd(values, axis=0) / np.sqrt(len(frames))
            x = np.arange(1, length + 1)
            if has_optimum:  # log scale: show a found optimum (regret 0) at the floor
                floor = 1e-3
                mean, lower, upper = np.maximum(mean, floor), np.maximum(mean - error, floor), mean + error
            else:
                lower, upper = mean - error, mean + error
            axes.plot(x, mean, label=f"{searcher} (n={len(frames)})")
            axes.fill_between(x, lower, upper, alpha=0.2)
        axes.set_xlabel("queries")
        if has_optimum:
            axes.set_yscale("log")
            axes.set_ylabel("validation regret (%, floor 1e-3)")
        else:
            axes.set_ylabel("best validation accuracy (%)")
        axes.set_title(f"{benchmark}: mean ± 1 s.e. over seeds")
        axes.grid(alpha=0.3, which="both")
        axes.legend(fontsize=8)
        figure.tight_layout()
        path = out / f"{benchmark}.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        paths.append(path)
    return paths


def scope_lines(out: Path, n_runs: int, n_cached: int, plots: list[Path]) -> list[str]:
    """What a bench command's summary covers, for the terminal: its runs (how many from the cache), that
    earlier commands' runs stay cached in ``out/runs``, and the plots in ``out/plots`` that are not this
    command's (left by earlier commands, kept)."""
    lines = [
        f"{n_cached} of {n_runs} runs from cache. The summary covers this command's {n_runs} runs; runs of "
        f"earlier commands stay cached in {out / 'runs'}."
    ]
    earlier = sorted(path.name for path in (out / "plots").glob("*.png") if path not in set(plots))
    if earlier:
        lines.append(
            f"{out / 'plots'} also holds plots of earlier commands, not of this summary: {', '.join(earlier)}"
        )
    return lines
