"""The bench's flat benchmarks (grid, comparison table) and the proposal-cost benchmark."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import benchmarks.proposal_cost as proposal_cost
from benchmarks.grid import (
    DEFAULT_SEEDS,
    FLAT_SEARCHERS,
    QUICK_SEEDS,
    SEARCHERS,
    RunSpec,
    default_searchers,
)
from benchmarks.report import comparison_table, flat_comparison
from benchmarks.runner import GridRuns
from bonas.architecture import Architecture
from bonas.spaces.base import Categorical
from bonas.spaces.categorical import CategoricalSpace
from bonas.tabular import benchmark_names
from bonas.tabular.base import Optimum, TabularBenchmark


def test_every_default_benchmark_also_runs_flat_with_the_flat_searchers() -> None:
    graph = [name for name in DEFAULT_SEEDS if not name.endswith(("-flat", "-noisy"))]
    assert {f"{name}-flat" for name in graph} <= set(DEFAULT_SEEDS)
    # Every name of the default grid is a registered benchmark (a noisy one has no flat form).
    assert set(DEFAULT_SEEDS) <= set(benchmark_names())
    assert any(name.endswith("-noisy") for name in DEFAULT_SEEDS)
    assert set(DEFAULT_SEEDS.values()) == {20}
    assert default_searchers("nb201-cifar100-flat") == FLAT_SEARCHERS
    assert set(FLAT_SEARCHERS) == {"local-search", "optuna-tpe", "optuna-gp", "auto"}
    assert default_searchers("nb201-cifar100") == SEARCHERS
    assert any(name.endswith("-flat") for name in QUICK_SEEDS)


def test_main_plans_the_flat_searchers_on_flat_benchmarks(tmp_path: Path, monkeypatch) -> None:
    import benchmarks.__main__ as cli

    captured: list[RunSpec] = []
    monkeypatch.setattr(
        cli, "run_grid", lambda specs, *args, **kwargs: captured.extend(specs) or GridRuns({}, n_cached=0)
    )
    monkeypatch.setattr(cli, "plot_curves", lambda runs, out: [])
    argv = ["--benchmarks", "analognas-baseline", "analognas-baseline-flat", "--seeds", "2"]
    assert cli.main([*argv, "--out", str(tmp_path)]) == 0
    pairs = {(spec.benchmark, spec.searcher) for spec in captured}
    assert pairs == {
        *(("analognas-baseline", s) for s in SEARCHERS),
        *(("analognas-baseline-flat", s) for s in FLAT_SEARCHERS),
    }


def run(best_values: list[float], optimum: float | None) -> pd.DataFrame:
    best = np.maximum.accumulate(np.asarray(best_values, dtype=float))
    return pd.DataFrame(
        {
            "query": np.arange(1, len(best) + 1),
            "best_val_accuracy": best,
            "val_regret": optimum - best if optimum is not None else np.nan,
        }
    )


def test_flat_comparison_divides_the_defaults_regret_by_the_best_baselines() -> None:
    runs = {
        RunSpec("b-flat", "auto", 0, 4): run([1, 2, 9, 10], 10),
        RunSpec("b-flat", "auto", 1, 4): run([1, 8, 8, 9], 10),
        RunSpec("b-flat", "local-search", 0, 4): run([1, 2, 6, 8], 10),
        RunSpec("b-flat", "optuna-tpe", 0, 4): run([5, 6, 6, 7], 10),
        RunSpec("b-flat", "random", 0, 4): run([10, 10, 10, 10], 10),  # not a baseline here
    }
    comparison = flat_comparison(runs, (2, 4)).set_index("queries")
    assert comparison.loc[2, "default_regret"] == pytest.approx(5.0)  # mean of 8 and 2
    assert comparison.loc[2, "best_baseline"] == "optuna-tpe"
    assert comparison.loc[2, "ratio"] == pytest.approx(5.0 / 4.0)
    assert comparison.loc[4, "best_baseline"] == "local-search"
    assert comparison.loc[4, "ratio"] == pytest.approx(0.5 / 2.0)
    assert (comparison["regret_from"] == "optimum").all()
    assert "| b-flat | 4 | 0.500 | local-search | 2.000 | 0.25 | optimum |" in comparison_table(
        comparison.reset_index()
    )


def test_without_an_optimum_regret_counts_from_the_best_any_run_found() -> None:
    runs = {
        RunSpec("nb301-flat", "auto", 0, 3): run([90, 93, 94], None),
        RunSpec("nb301-flat", "optuna-gp", 0, 3): run([91, 92, 92], None),
    }
    comparison = flat_comparison(runs, (3,))
    row = comparison.iloc[0]
    assert (row["default_regret"], row["baseline_regret"], row["ratio"]) == (0.0, 2.0, 0.0)
    assert row["regret_from"] == "best found by any run"


def test_flat_comparison_ratio_when_the_baseline_found_the_optimum() -> None:
    both = {
        RunSpec("b-flat", "auto", 0, 2): run([1, 10], 10),
        RunSpec("b-flat", "optuna-gp", 0, 2): run([10, 10], 10),
    }
    tie = flat_comparison(both, (2,))
    assert math.isnan(tie.iloc[0]["ratio"])
    assert "| both 0 |" in comparison_table(tie)
    only_baseline = {**both, RunSpec("b-flat", "auto", 0, 2): run([1, 9], 10)}
    assert flat_comparison(only_baseline, (2,)).iloc[0]["ratio"] == math.inf
    assert flat_comparison({RunSpec("b-flat", "auto", 0, 2): run([1, 9], 10)}, (2,)).empty


class GridTable(TabularBenchmark):
    """36 architectures of a flat space: the value rewards choosing 2 for both parameters."""

    name = "grid-table"

    def __init__(self) -> None:
        super().__init__()
        self.space = CategoricalSpace(
            "grid", [Categorical("a", tuple(range(6))), Categorical("b", tuple(range(6)))]
        )

    def query(self, architecture: Architecture, rng: np.random.Generator) -> dict[str, float]:
        params = architecture.param_dict
        return {"val_accuracy": 90.0 - abs(params["a"] - 2) - abs(params["b"] - 2)}

    @property
    def optimum(self) -> Optimum | None:
        return Optimum(90.0, None, "a=2,b=2")


def test_proposal_cost_times_the_auto_searcher_and_writes_a_table(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(proposal_cost, "load_benchmark", lambda name, data_dir=None: GridTable())
    monkeypatch.setattr(proposal_cost, "benchmark_names", lambda: ["grid-table"])
    argv = ["--benchmarks", "grid-table", "--sizes", "12", "20", "--repeats", "1", "--threads", "1"]
    assert proposal_cost.main([*argv, "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "proposal_cost.csv")
    assert list(table["observations"]) == [12, 20]
    assert (table["searcher"] == "bo-gp-categorical-tr").all()
    assert (table["s_per_proposal"] > 0).all() and (table["fit_s"] > 0).all()
    assert (table["fit_s"] <= table["s_per_proposal"] + 1e-3).all()
    assert "| grid-table | bo-gp-categorical-tr | 20 |" in (tmp_path / "proposal_cost.md").read_text()


def test_random_history_is_distinct_and_says_when_the_space_is_too_small() -> None:
    history = proposal_cost.random_history(GridTable(), 30)
    assert len({o.architecture for o in history}) == 30
    with pytest.raises(ValueError, match="only 36"):
        proposal_cost.random_history(GridTable(), 40)


def test_proposal_cost_rejects_bad_sizes(capsys) -> None:
    with pytest.raises(SystemExit):
        proposal_cost.parse_args(["--sizes", "0"])
    assert "--sizes must be positive" in capsys.readouterr().err
