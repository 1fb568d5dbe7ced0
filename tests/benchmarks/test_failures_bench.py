"""``python -m benchmarks.failures``: BO on a table whose largest cells fail, with and without the failure model."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import benchmarks.failures as failures
from benchmarks.command import run_command
from bonas.architecture import Architecture
from bonas.spaces.base import Categorical
from bonas.spaces.categorical import CategoricalSpace
from bonas.tabular.base import Optimum, TabularBenchmark


class SizedTable(TabularBenchmark):
    """A 6 x 6 x 2 table: accuracy grows with size ``a * b``, so the best cells are the ones that fail."""

    name = "sized-table"

    def __init__(self) -> None:
        super().__init__()
        self.space = CategoricalSpace(
            "sized",
            [
                Categorical("a", tuple(range(1, 7))),
                Categorical("b", tuple(range(1, 7))),
                Categorical("c", (0, 1)),
            ],
        )

    def query(self, architecture: Architecture, rng: np.random.Generator) -> dict[str, float]:
        p = architecture.param_dict
        return {"val_accuracy": 50.0 + p["a"] * p["b"] + 0.5 * p["c"], "params_mb": float(p["a"] * p["b"])}

    @property
    def optimum(self) -> Optimum | None:
        return None


@pytest.fixture
def sized_table(monkeypatch) -> None:
    monkeypatch.setattr(failures, "cached_benchmark", lambda name, data_dir: SizedTable())
    monkeypatch.setattr(failures, "benchmark_names", lambda: ["sized-table", "nb201-cifar10-noisy"])


@pytest.mark.usefixtures("sized_table")
def test_the_limit_is_a_quantile_of_the_sizes_and_the_optimum_the_best_that_fits() -> None:
    limit, optimum = failures.feasible_optimum("sized-table", None, 0.75)
    assert limit == 18.0  # the 0.75 quantile of the 72 products a * b
    assert optimum == 50.0 + 18 + 0.5
    with pytest.raises(RuntimeError, match=re.escape("out of memory: 36.000 MB of parameters > 18.000")):
        failures.OutOfMemory("sized-table", None, limit)(
            SizedTable().space.from_params({"a": 6, "b": 6, "c": 0})
        )


def small_run(out: Path, *, budget: int) -> list[str]:
    """Arguments of a bench on the sized table: 2 seeds, in this process, results under ``out``."""
    return [
        "--benchmarks",
        "sized-table",
        "--seeds",
        "2",
        "--budget",
        str(budget),
        "--jobs",
        "1",
        "--out",
        str(out),
    ]


@pytest.mark.usefixtures("sized_table")
def test_main_runs_both_settings_on_the_same_seeds_and_writes_the_table(tmp_path: Path) -> None:
    argv = small_run(tmp_path, budget=14)
    assert failures.main(argv) == 0
    frame = pd.read_csv(tmp_path / "failures.csv")
    # In the order of the settings (the model on first) and seeds, whatever order the runs finished in.
    assert list(zip(frame["model_failures"], frame["seed"], strict=True)) == [
        (True, 0),
        (True, 1),
        (False, 0),
        (False, 1),
    ]
    # A quarter of the table fails, its best cells: every run meets failures, and regret counts from the
    # best cell that fits. A budget below 50 queries reports the regret at its last query only.
    assert [c for c in frame.columns if c.startswith("regret_")] == ["regret_14"]
    assert (frame["failed"] >= 1).all() and (frame["regret_14"] >= 0).all()
    table = (tmp_path / "failures.md").read_text()
    assert "| sized-table | on | 2 |" in table and "| sized-table | off | 2 |" in table
    assert table.splitlines()[0].endswith("| val regret @14 |")


def test_regret_is_reported_at_the_queries_within_the_budget() -> None:
    assert failures.report_at(100) == (50, 100)
    assert failures.report_at(70) == (50,)
    assert failures.report_at(30) == (30,)


@pytest.mark.usefixtures("sized_table")
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--benchmarks", "nb202"], "--benchmarks 'nb202'"),
        (["--seeds", "1"], "argument --seeds: '1' must be at least 2"),
        (["--jobs", "0"], "argument --jobs: '0' must be at least 1"),
        (["--quantile", "1.5"], "--quantile 1.5: give a number strictly between 0 and 1"),
        (
            ["--benchmarks", "nb201-cifar10-noisy"],
            "no fixed optimum to measure regret against; give 'nb201-cifar10'",
        ),
    ],
)
def test_bad_arguments_are_refused_naming_them(argv: list[str], message: str, capsys) -> None:
    args = ["--benchmarks", "sized-table", *argv] if argv[0] != "--benchmarks" else argv
    with pytest.raises(SystemExit) as raised:  # as `python -m benchmarks.failures` exits
        raise SystemExit(run_command(lambda: failures.main(args), "python -m benchmarks.failures"))
    error = capsys.readouterr().err
    assert raised.value.code == 2 and message in error and "Traceback" not in error


@pytest.mark.usefixtures("sized_table")
def test_a_rerun_reads_every_run_from_the_cache_and_force_recomputes(tmp_path: Path, monkeypatch) -> None:
    argv = small_run(tmp_path, budget=12)
    assert failures.main(argv) == 0
    first = (tmp_path / "failures.csv").read_text()
    assert len(list((tmp_path / "failures_runs").rglob("*.csv"))) == 4

    def no_search(*task: object) -> dict[str, object]:
        raise AssertionError(f"run {task[:3]} was computed again, though cached")

    monkeypatch.setattr(failures, "run", no_search)
    assert failures.main(argv) == 0
    assert (tmp_path / "failures.csv").read_text() == first
    with pytest.raises(AssertionError, match="computed again"):
        failures.main([*argv, "--force"])
    # Another quantile is another limit under the same keys: the fingerprint tells the runs apart.
    with pytest.raises(AssertionError, match="computed again"):
        failures.main([*argv, "--quantile", "0.5"])
