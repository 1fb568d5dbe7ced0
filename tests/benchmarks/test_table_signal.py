"""benchmarks.table_signal: validation/test agreement among a table's best rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import benchmarks.table_signal as table_signal
from benchmarks.command import run_command
from bonas.architecture import Architecture
from bonas.spaces.base import Categorical
from bonas.spaces.categorical import CategoricalSpace
from bonas.tabular.base import Optimum, TabularBenchmark


class SmallTable(TabularBenchmark):
    """36 settings of two parameters; with ``a == 0`` the table has one entry whatever ``b`` is, and two
    other entries (``a == 1``, ``b`` of 0 and 1) hold equal values."""

    def __init__(self, name: str = "small-table", *, with_test: bool = True) -> None:
        super().__init__()
        self.name = name
        self.with_test = with_test
        self.space = CategoricalSpace(
            "small", [Categorical("a", tuple(range(6))), Categorical("b", tuple(range(6)))]
        )

    def query(self, architecture: Architecture, rng: np.random.Generator) -> dict[str, float]:
        a, b = architecture.param_dict["a"], architecture.param_dict["b"]
        value = 50.0 + 6 * a + (b if a > 1 else 0)
        metrics = {"val_accuracy": value}
        if self.with_test:
            metrics["test_accuracy"] = value / 2
        return metrics

    @property
    def optimum(self) -> Optimum | None:
        return Optimum(85.0, 42.5, "a=5,b=5")

    def table_rows(self) -> Iterator[dict[str, float]]:
        for architecture in self.space.enumerate():
            params = architecture.param_dict
            if params["a"] or not params["b"]:
                yield self.query_mean(architecture)


def test_every_table_entry_is_compared_once_even_when_two_hold_equal_values() -> None:
    values = table_signal.table_values(SmallTable())
    assert len(values) == 31  # 30 settings with a > 0 (two of them equal), and one entry for a == 0
    assert (values["val_accuracy"] == 56.0).sum() == 6  # a == 1: six entries, all of value 56
    assert values["val_accuracy"].max() == 85.0
    np.testing.assert_allclose(values["test_accuracy"], values["val_accuracy"] / 2)


def test_agreement_is_measured_among_the_best_rows_only() -> None:
    val = np.arange(1000, dtype=float) / 10
    test = val.copy()
    top = val >= np.quantile(val, 0.9)
    test[top] = -val[top]  # the best tenth ranked backwards on test, the rest in order
    row = table_signal.agreement("made-up", pd.DataFrame({"val_accuracy": val, "test_accuracy": test}))
    assert row["entries"] == 1000 and row["val_optimum"] == 99.9
    assert (row["within_0.2"], row["within_0.5"], row["within_1"]) == (3, 6, 11)
    assert row["tau_best_10%"] == row["tau_best_1%"] == row["tau_best_100"] == -1.0
    assert row["tau_all"] > 0.5
    # The test-best tenth is rows 800-899 (the top tenth's test values are negative): all 100 drawn.
    assert row["informed_regret"] == pytest.approx(99.9 - 89.9)


def test_the_informed_searcher_draws_from_the_test_best_tenth_at_random() -> None:
    val = np.zeros(2000)
    val[0] = 1.0  # the validation optimum, in the test-best tenth (200 rows): drawn half the time
    test = -np.arange(2000.0)
    assert table_signal.informed_regret(val, test) == pytest.approx(0.5, abs=0.05)
    assert table_signal.informed_regret(val, -test) == 1.0  # outside the test-best tenth: never drawn


def test_main_writes_the_table_and_skips_a_benchmark_without_test_accuracies(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    tables = {"small-table": SmallTable(), "no-test": SmallTable("no-test", with_test=False)}
    monkeypatch.setattr(table_signal, "load_benchmark", lambda name, data_dir=None: tables[name])
    monkeypatch.setattr(table_signal, "benchmark_names", lambda: list(tables))
    assert table_signal.main(["--benchmarks", "small-table", "no-test", "--out", str(tmp_path)]) == 0
    assert "Skipping no-test: no-test returns no test_accuracy" in capsys.readouterr().out
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary["benchmark"]) == ["small-table"]
    assert summary.loc[0, "tau_all"] == 1.0
    assert "| small-table | 31 | 85.0 |" in (tmp_path / "summary.md").read_text()


def test_named_benchmarks_without_test_accuracies_are_an_error_the_default_grid_is_not(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    tables = {"no-test": SmallTable("no-test", with_test=False)}
    monkeypatch.setattr(table_signal, "load_benchmark", lambda name, data_dir=None: tables[name])
    monkeypatch.setattr(table_signal, "benchmark_names", lambda: list(tables))
    named = ["--benchmarks", "no-test", "--out", str(tmp_path)]
    assert run_command(lambda: table_signal.main(named), "python -m benchmarks.table_signal") == 2
    assert "None of no-test has validation and test accuracies" in capsys.readouterr().err
    monkeypatch.setattr(table_signal, "BENCHMARKS", ("no-test",))
    assert table_signal.main(["--out", str(tmp_path)]) == 0  # a machine without the data: make bench goes on
    assert not list(tmp_path.iterdir())


def test_constant_values_give_no_agreement_and_too_few_entries_are_refused() -> None:
    flat = pd.DataFrame({"val_accuracy": np.arange(200.0), "test_accuracy": np.full(200, 70.0)})
    assert np.isnan(table_signal.agreement("constant-test", flat)["tau_all"])
    with pytest.raises(ValueError, match="1 table entries"):
        table_signal.agreement("one", flat.iloc[:1])


def test_an_unknown_benchmark_is_refused_naming_it(capsys) -> None:
    with pytest.raises(SystemExit):
        table_signal.parse_args(["--benchmarks", "nbgraph-corra"])
    assert "nbgraph-corra" in capsys.readouterr().err
