"""The bench harness (``python -m benchmarks``): trajectories, summaries, plots, the cached grid, the CLI.

The top-level ``benchmarks`` package is the harness under test; this folder is ``tests.benchmarks``.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# run_grid's worker processes import torch (to keep it single-threaded); importing it here once lets
# the forked workers inherit it instead of paying ~1.5 s per process pool.
import torch  # noqa: F401

import benchmarks
import benchmarks.pool
import benchmarks.runner
from benchmarks.__main__ import main
from benchmarks.cache import bonas_sources
from benchmarks.command import run_command
from benchmarks.grid import RunSpec, fingerprint, grid
from benchmarks.report import SUMMARY_COLUMNS, markdown_table, plot_curves, summarise
from benchmarks.runner import RUN_COLUMNS, GridRuns, run_cache, run_grid, run_key, trajectory
from bonas.data import data_dir
from bonas.errors import UnknownNameError
from bonas.tabular import Optimum
from tests.conftest import REPO_ROOT

NAN = math.nan


def test_benchmarks_is_the_top_level_harness() -> None:
    assert Path(benchmarks.__file__).resolve().parent == REPO_ROOT / "benchmarks"
    assert benchmarks.runner.__name__ == "benchmarks.runner"


# -- trajectory ------------------------------------------------------------------------------------------


def history(rows: list[tuple[object, ...]]) -> pd.DataFrame:
    """A history frame (as bonas.trials.history_frame builds) from (state, query, repeat_of,
    fail_reason, propose_seconds, val_accuracy, test_accuracy) rows."""
    columns = [
        "state",
        "query",
        "repeat_of",
        "fail_reason",
        "propose_seconds",
        "val_accuracy",
        "test_accuracy",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    frame.insert(0, "trial", range(len(frame)))
    frame["query"] = frame["query"].astype("Int64")
    return frame


#: Queries 1-5 with a repeat (trial 1), an objective failure (trial 3, query 3), a proposal failure
#: (trial 4, no proposal time recorded) and a trailing repeat (trial 7).
HISTORY_ROWS = [
    ("COMPLETE", 1, None, None, 0.1, 80.0, 79.0),
    ("COMPLETE", pd.NA, 0, None, 0.2, NAN, NAN),
    ("COMPLETE", 2, None, None, 0.3, 85.0, 83.0),
    ("FAIL", 3, None, "RuntimeError: boom", 0.05, NAN, NAN),
    ("FAIL", pd.NA, None, "proposal failed: InvalidArchitectureError", NAN, NAN, NAN),
    ("COMPLETE", 4, None, None, 0.1, 84.0, 90.0),
    ("COMPLETE", 5, None, None, 0.2, 90.0, 88.0),
    ("COMPLETE", pd.NA, 6, None, 0.4, NAN, NAN),
]


def test_trajectory_follows_the_best_by_validation() -> None:
    frame = trajectory(history(HISTORY_ROWS), Optimum(91.0, 92.0, "|best|"))
    assert list(frame.columns) == RUN_COLUMNS
    assert frame["query"].tolist() == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(frame["val_accuracy"], [80, 85, NAN, 84, 90])
    np.testing.assert_allclose(frame["best_val_accuracy"], [80, 85, 85, 85, 90])
    np.testing.assert_allclose(frame["val_regret"], [11, 6, 6, 6, 1])
    # Test regret is that of the best-by-validation architecture, not the best test accuracy seen (90).
    np.testing.assert_allclose(frame["test_regret"], [13, 9, 9, 9, 4])
    # A repeat's and a failed proposal's time is charged to the next query; a trailing repeat's to none.
    np.testing.assert_allclose(frame["propose_seconds"], [0.1, 0.5, 0.05, 0.1, 0.2])


def test_trajectory_before_any_success_and_without_optimum_or_test() -> None:
    rows = [
        ("FAIL", 1, None, "RuntimeError: boom", 0.1, NAN, NAN),
        ("COMPLETE", 2, None, None, 0.1, 70.0, NAN),
        ("COMPLETE", 3, None, None, 0.1, 75.0, NAN),
    ]
    frame = trajectory(history(rows), Optimum(80.0, None, "|best|"))
    np.testing.assert_allclose(frame["best_val_accuracy"], [NAN, 70, 75])
    np.testing.assert_allclose(frame["val_regret"], [NAN, 10, 5])
    assert frame["test_regret"].isna().all()

    no_optimum = trajectory(history(rows).drop(columns=["test_accuracy"]), None)
    assert no_optimum["val_regret"].isna().all()
    assert no_optimum["test_accuracy"].isna().all()
    np.testing.assert_allclose(no_optimum["best_val_accuracy"], [NAN, 70, 75])


# -- summary, table, plots -------------------------------------------------------------------------------


def run_frame(best_val: list[float], optimum: float | None, propose: float) -> pd.DataFrame:
    best = np.asarray(best_val, dtype=float)
    return pd.DataFrame(
        {
            "query": np.arange(1, len(best) + 1),
            "val_accuracy": best,
            "test_accuracy": NAN,
            "best_val_accuracy": best,
            "val_regret": optimum - best if optimum is not None else NAN,
            "test_regret": NAN,
            "propose_seconds": propose,
        }
    )[RUN_COLUMNS]


@pytest.fixture
def runs() -> dict[RunSpec, pd.DataFrame]:
    """Searcher A on a benchmark with optimum 10 (seed 2 stopped after 2 queries); B on one without."""
    return {
        RunSpec("known", "A", 0, 4): run_frame([7, 8, 9, 10], 10.0, propose=0.1),
        RunSpec("known", "A", 1, 4): run_frame([6, 6, 8, 8], 10.0, propose=0.3),
        RunSpec("known", "A", 2, 4): run_frame([5, 7], 10.0, propose=0.2),
        RunSpec("unknown", "B", 0, 4): run_frame([50, 60, 60, 70], None, propose=0.01),
        RunSpec("unknown", "B", 1, 4): run_frame([40, 40, 60, 60], None, propose=0.01),
    }


def test_summarise(runs: dict[RunSpec, pd.DataFrame]) -> None:
    summary = summarise(runs, (2, 4))
    assert list(summary.columns) == SUMMARY_COLUMNS
    rows = summary.set_index(["benchmark", "searcher", "queries"])
    assert len(rows) == 4

    at2 = rows.loc[("known", "A", 2)]
    assert at2["n_seeds"] == 3
    assert at2["mean_val_regret"] == pytest.approx(3.0)  # regrets 2, 4, 3
    assert at2["std_val_regret"] == pytest.approx(np.std([2, 4, 3]))
    assert at2["hit_rate"] == 0.0
    assert at2["overhead_s_per_query"] == pytest.approx(0.2)  # median of 0.1, 0.3, 0.2
    # No seed at the optimum by query 2: each counts as 3.
    assert (at2["median_queries_to_optimum"], at2["p90_queries_to_optimum"]) == (3.0, 3.0)

    at4 = rows.loc[("known", "A", 4)]
    assert at4["n_seeds"] == 2  # seed 2 never reached 4 queries
    assert at4["mean_val_regret"] == pytest.approx(1.0)
    assert at4["std_val_regret"] == pytest.approx(1.0)
    assert at4["hit_rate"] == pytest.approx(0.5)
    assert math.isnan(at4["mean_test_regret"])
    assert at4["mean_best_val"] == pytest.approx(9.0)
    # Seed 0 reached the optimum at query 4, seed 1 never (counted as 5).
    assert at4["median_queries_to_optimum"] == pytest.approx(4.5)
    assert at4["p90_queries_to_optimum"] == pytest.approx(4.9)

    unknown = rows.loc[("unknown", "B", 4)]
    assert math.isnan(unknown["mean_val_regret"]) and math.isnan(unknown["hit_rate"])
    assert math.isnan(unknown["median_queries_to_optimum"])
    assert unknown["mean_best_val"] == pytest.approx(65.0)
    assert unknown["std_best_val"] == pytest.approx(5.0)


def test_summarise_of_no_runs_has_the_columns() -> None:
    assert list(summarise({}, (2,)).columns) == SUMMARY_COLUMNS


def test_markdown_table(runs: dict[RunSpec, pd.DataFrame]) -> None:
    table = markdown_table(summarise(runs, (2, 4)), (2, 4))
    lines = table.strip().splitlines()
    assert lines[0] == (
        "| benchmark | searcher | seeds | val regret @2 | val regret @4 | test regret @4 | hit rate @4 "
        "| queries to optimum (median / p90) | overhead s/query |"
    )
    assert lines[1] == "|" + "---|" * 9
    known = next(line for line in lines if line.startswith("| known |"))
    cells = [cell.strip() for cell in known.strip("|").split("|")]
    assert cells[:3] == ["known", "A", "2"]
    assert cells[3].startswith("3.000 ± ")
    assert cells[4:8] == [
        "1.000 ± 1.000",
        "n/a",
        "50%",
        ">4 / >4",
    ]  # the median lies between a hit at 4 and a miss
    assert float(cells[8]) == pytest.approx(0.2)
    unknown = next(line for line in lines if line.startswith("| unknown |"))
    assert "best val 65.000 ± 5.000" in unknown
    assert "| n/a | n/a | n/a |" in unknown  # no test regret, hit rate or queries without an optimum
    assert markdown_table(summarise({}, (2,)), (2,)) == "(no runs)\n"


def test_plot_curves_writes_one_png_per_benchmark(runs: dict[RunSpec, pd.DataFrame], tmp_path: Path) -> None:
    paths = plot_curves(runs, tmp_path / "plots")
    assert sorted(path.name for path in paths) == ["known.png", "unknown.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 1000


# -- the cached grid -------------------------------------------------------------------------------------


class _NoPool:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("run_grid started processes although every run was cached")


@pytest.fixture(scope="module")
def tiny_grid(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[RunSpec], Path, dict[RunSpec, pd.DataFrame]]:
    """nb201-cifar10 x (random, local-search) x 2 seeds x 15 queries, run once for the module."""
    specs = grid({"nb201-cifar10": 2}, ("random", "local-search"), 15)
    out = tmp_path_factory.mktemp("bench")
    counted: list[int] = []
    runs = run_grid(specs, out, data_dir=None, jobs=1, progress=counted.append)
    assert sum(counted) == len(specs) == 4
    return specs, out, runs


def run_path(out: Path, spec: RunSpec) -> Path:
    """The cache file of ``spec``'s run under ``out`` at the current code."""
    return run_cache(out).path(run_key(spec), fingerprint(spec, None))


def test_run_grid_writes_one_csv_per_run(tiny_grid) -> None:
    specs, out, runs = tiny_grid
    assert set(runs) == set(specs)
    optimum = benchmarks.grid.cached_benchmark("nb201-cifar10", None).optimum
    for spec in specs:
        path = run_path(out, spec)
        folder = out / "runs" / "nb201-cifar10" / spec.searcher
        assert path == folder / f"seed{spec.seed}-q15.{fingerprint(spec, None)}.csv"
        assert path.is_file() and len(list(folder.glob(f"seed{spec.seed}-q15.*"))) == 1
        frame = runs[spec]
        assert list(frame.columns) == RUN_COLUMNS
        assert frame["query"].tolist() == list(range(1, 16))
        best = frame["best_val_accuracy"].to_numpy()
        assert (np.diff(best) >= 0).all()
        np.testing.assert_allclose(frame["val_regret"], optimum.val_accuracy - best)
        assert (frame["val_regret"] >= 0).all()
        assert (frame["propose_seconds"] >= 0).all()
    assert not runs[specs[0]].equals(runs[specs[1]]), "seeds 0 and 1 should differ"


def test_run_grid_reuses_cached_runs(tiny_grid, monkeypatch: pytest.MonkeyPatch) -> None:
    specs, out, runs = tiny_grid
    monkeypatch.setattr(benchmarks.pool, "ProcessPoolExecutor", _NoPool)
    counted: list[int] = []
    again = run_grid(specs, out, data_dir=None, jobs=1, progress=counted.append)
    assert counted == [len(specs)]
    for spec in specs:
        pd.testing.assert_frame_equal(again[spec], runs[spec])


def test_a_run_depends_on_its_own_searchers_code_only() -> None:
    def sources(*modules: str) -> set[str]:
        paths = bonas_sources(frozenset({*modules, "bonas.study"}))
        return {path.relative_to(REPO_ROOT).as_posix() for path in paths}

    evolution = sources("bonas.samplers.evolution")
    bayesian = sources("bonas.samplers.bayesian")
    assert {"bonas/samplers/evolution.py", "bonas/samplers/__init__.py", "bonas/study.py"} <= evolution
    assert "bonas/samplers/bayesian.py" not in evolution
    assert "bonas/surrogates/gp/models.py" not in evolution
    # The BO sampler's run follows its imports transitively (surrogates through their registry).
    assert {"bonas/samplers/bayesian.py", "bonas/acquisition.py", "bonas/surrogates/gp/models.py"} <= bayesian
    assert "bonas/samplers/evolution.py" not in bayesian


def test_a_flat_benchmark_counts_the_modules_of_the_table_it_wraps() -> None:
    # A flat table answers through the NB201 table without importing it: a change to NB201's lookup
    # must still invalidate the flat runs.
    flat = benchmarks.grid.cached_benchmark("nb201-cifar10-flat", None)
    assert benchmarks.grid.benchmark_modules(flat) == {
        "bonas.tabular.flat",
        "bonas.spaces.categorical",
        "bonas.tabular.nb201",
        "bonas.spaces.nb201",
    }


def test_a_run_is_fingerprinted_with_the_metrics_its_data_folder_gives(tmp_path: Path) -> None:
    # Without nb201_test_accuracy.csv the runs have no test regret: once the file is there they run again.
    spec = RunSpec("nb201-cifar10", "random", 0, 15)
    assert "test_accuracy" not in benchmarks.grid.metric_names(spec.benchmark, str(tmp_path))
    shared = data_dir()
    if not (shared / "nb201" / "nb201_test_accuracy.csv").is_file():
        pytest.skip("nb201/nb201_test_accuracy.csv is not in the data folder")
    assert "test_accuracy" in benchmarks.grid.metric_names(spec.benchmark, str(shared))
    assert fingerprint(spec, str(tmp_path)) != fingerprint(spec, str(shared))


def test_a_run_is_fingerprinted_with_the_contents_of_its_data_files(tmp_path: Path) -> None:
    shared = data_dir()
    if not (shared / "nb201" / "nb201_test_accuracy.csv").is_file():
        pytest.skip("nb201/nb201_test_accuracy.csv is not in the data folder")
    (tmp_path / "nb201").mkdir()
    test_file = tmp_path / "nb201" / "nb201_test_accuracy.csv"
    test_file.write_bytes((shared / "nb201" / "nb201_test_accuracy.csv").read_bytes())
    specs = [RunSpec("nb201-cifar10", "random", 0, 15), RunSpec("nb201-cifar10-flat", "random", 0, 15)]
    before = [fingerprint(spec, str(tmp_path)) for spec in specs]
    header, first, *rest = test_file.read_text().splitlines(keepends=True)
    changed = first.replace("9", "8", 1) if "9" in first else first.replace("1", "2", 1)
    assert changed != first
    test_file.write_text("".join([header, changed, *rest]))
    status = test_file.stat()  # a later modification time even where the clock is coarse
    os.utime(test_file, ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))
    after = [fingerprint(spec, str(tmp_path)) for spec in specs]
    assert all(b != a for b, a in zip(before, after, strict=True))


def test_run_grid_recomputes_stale_and_forced_runs(tiny_grid) -> None:
    specs, out, runs = tiny_grid
    timing_free = [column for column in RUN_COLUMNS if column != "propose_seconds"]

    def tamper(spec: RunSpec) -> None:
        path = run_path(out, spec)
        frame = pd.read_csv(path)
        frame["val_accuracy"] = -1.0
        frame.to_csv(path, index=False)

    for spec in specs:
        tamper(spec)
    stale = run_path(out, specs[0]).with_name(f"seed{specs[0].seed}-q15.0123456789abcdef.csv")
    run_path(out, specs[0]).rename(stale)
    mixed = run_grid(specs, out, data_dir=None, jobs=1)
    assert not stale.exists(), "the run's entry under its old fingerprint was kept"
    pd.testing.assert_frame_equal(mixed[specs[0]][timing_free], runs[specs[0]][timing_free])
    assert (mixed[specs[1]]["val_accuracy"] == -1.0).all(), "a cached run was recomputed"

    forced = run_grid(specs, out, data_dir=None, jobs=1, force=True)
    for spec in specs:
        pd.testing.assert_frame_equal(forced[spec][timing_free], runs[spec][timing_free])


# -- the command line ------------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--benchmarks", "--searchers"])
def test_main_rejects_unknown_names(flag: str, tmp_path: Path) -> None:
    argv = ["--benchmarks", "nb201-cifar10", "--out", str(tmp_path), flag, "nope"]
    with pytest.raises(UnknownNameError, match="'nope'"):
        main(argv)
    assert not any(tmp_path.iterdir())


def test_main_runs_a_tiny_grid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--benchmarks", "nb201-cifar10", "--searchers", "random", "--seeds", "2", "--budget", "10"]
    assert main([*argv, "--out", str(tmp_path), "--jobs", "1"]) == 0
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary.columns[:9]) == [
        "benchmark",
        "searcher",
        "queries",
        "n_seeds",
        "mean_val_regret",
        "std_val_regret",
        "mean_test_regret",
        "hit_rate",
        "overhead_s_per_query",
    ]
    assert len(summary) == 1
    row = summary.iloc[0]
    assert (row["benchmark"], row["searcher"], row["queries"], row["n_seeds"]) == (
        "nb201-cifar10",
        "random",
        10,
        2,
    )
    assert row["mean_val_regret"] >= 0
    assert 0 <= row["hit_rate"] <= 1
    assert "| nb201-cifar10 | random | 2 |" in (tmp_path / "summary.md").read_text()
    assert (tmp_path / "plots" / "nb201-cifar10.png").is_file()
    assert len(list((tmp_path / "runs").rglob("*.csv"))) == 2
    assert "2 runs" in capsys.readouterr().out


@pytest.fixture
def planned_grid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``argv -> specs``: the runs ``benchmarks.__main__.main(argv)`` would start, none of them run."""
    import benchmarks.__main__ as cli

    captured: list[list[RunSpec]] = []

    def fake_run_grid(specs: list[RunSpec], *args: object, **kwargs: object) -> GridRuns:
        captured.append(list(specs))
        return GridRuns({}, n_cached=0)

    monkeypatch.setattr(cli, "run_grid", fake_run_grid)
    monkeypatch.setattr(cli, "plot_curves", lambda runs, out: [])

    def plan(argv: list[str]) -> list[RunSpec]:
        captured.clear()
        assert cli.main([*argv, "--out", str(tmp_path)]) == 0
        (specs,) = captured
        return specs

    return plan


def test_default_searchers_add_the_neural_ones_on_their_benchmarks_only(planned_grid) -> None:
    """Without --searchers, the grid is every searcher of SEARCHERS plus NEURAL_SEARCHERS on NEURAL_SEEDS."""
    import benchmarks.__main__ as cli

    specs = planned_grid(["--benchmarks", "nb201-cifar100", "analognas-baseline", "--seeds", "2"])
    pairs = {(spec.benchmark, spec.searcher) for spec in specs}
    assert pairs == {
        *((benchmark, s) for benchmark in ("nb201-cifar100", "analognas-baseline") for s in cli.SEARCHERS),
        *(("nb201-cifar100", s) for s in cli.NEURAL_SEARCHERS),
    }
    assert {spec.seed for spec in specs} == {0, 1}


def test_every_benchmark_runs_20_seeds_unless_asked_otherwise(planned_grid) -> None:
    """The targets are stated over 20 seeds; a benchmark outside the default grid gets as many."""
    import benchmarks.__main__ as cli

    specs = planned_grid(["--benchmarks", "nbgraph-pubmed", "nbgraph-cs", "--searchers", "random"])
    seeds = {
        name: sorted(spec.seed for spec in specs if spec.benchmark == name)
        for name in ("nbgraph-pubmed", "nbgraph-cs")
    }
    assert seeds == {"nbgraph-pubmed": list(range(20)), "nbgraph-cs": list(range(20))}
    assert set(cli.DEFAULT_SEEDS.values()) == {cli.SEEDS} == {20}


def _quick_seed_zero(spec: RunSpec, data_dir: str | None) -> pd.DataFrame:
    """A stand-in run: seed 0 at once, the others 20 s."""
    if spec.seed:
        time.sleep(20)
    return pd.DataFrame({"query": [1], "val_regret": [0.5]})


def test_ctrl_c_keeps_the_finished_runs_and_stops_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ctrl_c_after
) -> None:
    # Workers are forked: they run the stand-in too.
    monkeypatch.setattr(benchmarks.runner, "run_one", _quick_seed_zero)
    specs = grid({"nb201-cifar10": 6}, ("random",), 5)
    started = time.perf_counter()
    ctrl_c_after(3.0)
    with pytest.raises(KeyboardInterrupt):
        run_grid(specs, tmp_path, data_dir=None, jobs=2)
    assert time.perf_counter() - started < 15
    assert (run_key(specs[0]), fingerprint(specs[0], None)) in run_cache(tmp_path)
    assert len(list((tmp_path / "runs").rglob("*.csv"))) == 1


def test_a_searcher_that_cannot_search_a_benchmark_is_refused_before_any_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--benchmarks", "nb201-cifar10", "nb201-cifar10-flat", "--searchers", "random", "bo-gp-wl-rbf"]
    assert (
        run_command(lambda: main([*argv, "--seeds", "1", "--budget", "3", "--out", str(tmp_path)]), "bench")
        == 2
    )
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.splitlines()
    assert "'bo-gp-wl-rbf'" in line and "'nb201-cifar10-flat'" in line
    assert "searchers that can: " in line and "bo-gp-categorical" in line
    assert not (tmp_path / "runs").exists()


def test_quick_means_two_seeds_and_50_queries_on_any_benchmark(planned_grid) -> None:
    specs = planned_grid(
        ["--quick", "--benchmarks", "nbgraph-citeseer", "nb201-cifar10", "--searchers", "random"]
    )
    assert {(spec.benchmark, spec.seed, spec.budget) for spec in specs} == {
        (name, seed, 50) for name in ("nbgraph-citeseer", "nb201-cifar10") for seed in (0, 1)
    }
    specs = planned_grid(
        ["--quick", "--benchmarks", "nbgraph-citeseer", "--searchers", "random", "--seeds", "3"]
    )
    assert sorted(spec.seed for spec in specs) == [0, 1, 2]


def test_a_data_folder_without_nb201_test_accuracies_is_warned_about(planned_grid, tmp_path, capsys) -> None:
    (tmp_path / "elsewhere").mkdir()
    planned_grid(["--benchmarks", "nb201-cifar10", "nb201-cifar10-flat", "analognas-baseline",
                  "--searchers", "random", "--data-dir", str(tmp_path / "elsewhere")])  # fmt: skip
    warnings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Warning: ")]
    assert [line.split(":")[1].strip() for line in warnings] == ["nb201-cifar10", "nb201-cifar10-flat"]
    assert all(
        "test regret is not reported" in line and "nb201/nb201_test_accuracy.csv" in line for line in warnings
    )


def test_a_second_command_into_the_same_folder_says_what_its_summary_covers(tmp_path, capsys) -> None:
    def bench(benchmark: str) -> str:
        argv = ["--benchmarks", benchmark, "--searchers", "random", "--seeds", "1", "--budget", "5"]
        assert main([*argv, "--out", str(tmp_path), "--jobs", "1"]) == 0
        return capsys.readouterr().out

    first = bench("nb201-cifar10")
    assert "0 of 1 runs from cache." in first
    second = bench("analognas-baseline")
    assert "The summary covers this command's 1 runs; runs of earlier commands stay cached in" in second
    assert (
        f"{tmp_path / 'plots'} also holds plots of earlier commands, not of this summary: nb201-cifar10.png"
        in second
    )
    again = bench("analognas-baseline")
    assert "1 of 1 runs from cache." in again and "also holds plots of earlier commands" in again
    assert "1 of 1 runs from cache; this command's wall time" in (tmp_path / "summary.md").read_text()
