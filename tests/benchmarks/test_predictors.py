"""The predictor-quality benchmark (``python -m benchmarks.predictors``): split, metrics, cache, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import benchmarks.predictors as predictors_module
from benchmarks.predictors import (
    REQUIRED_COLUMNS,
    RUN_COLUMNS,
    SUMMARY_COLUMNS,
    Predictor,
    draw_split,
    main,
    markdown_table,
    prediction_metrics,
    predictors,
    run_predictors,
    summarise,
)
from bonas.errors import UnknownNameError
from bonas.spaces.nb201 import NB201Space


@pytest.fixture(scope="module")
def nb201_architectures() -> list:
    return list(NB201Space().enumerate())


# -- split -----------------------------------------------------------------------------------------------


def test_split_is_disjoint_isomorph_free_and_seeded(nb201_architectures: list) -> None:
    train, test = draw_split(nb201_architectures, seed=3, n_train=50, n_test=200)
    assert (len(train), len(test)) == (50, 200)
    hashes = [arch.canonical_hash for arch in train + test]
    assert len(set(hashes)) == 250  # no duplicate and no held-out isomorph of a training architecture
    assert draw_split(nb201_architectures, seed=3, n_train=50, n_test=200) == (train, test)
    _, other_test = draw_split(nb201_architectures, seed=4, n_train=50, n_test=200)
    assert other_test != test
    # Nested: a smaller training set is a prefix, the held-out set is the same.
    small_train, same_test = draw_split(nb201_architectures, seed=3, n_train=20, n_test=200)
    assert small_train == train[:20] and same_test == test


def test_split_larger_than_the_space_fails_with_advice(nb201_architectures: list) -> None:
    with pytest.raises(ValueError, match="non-isomorphic"):
        draw_split(nb201_architectures[:30], seed=0, n_train=20, n_test=20)


# -- metrics ---------------------------------------------------------------------------------------------


def test_metrics_of_a_perfect_predictor_with_wide_intervals() -> None:
    y = np.random.default_rng(0).normal(90.0, 2.0, size=100)
    metrics = prediction_metrics(y, y, y - 10.0, y + 10.0)
    assert metrics["kendall_tau"] == pytest.approx(1.0)
    assert metrics["spearman"] == pytest.approx(1.0)
    assert metrics["coverage95"] == pytest.approx(1.0)


def test_metrics_of_a_reversed_predictor_with_narrow_intervals() -> None:
    y = np.random.default_rng(1).normal(90.0, 2.0, size=100)
    mean = -y
    metrics = prediction_metrics(y, mean, mean - 0.1, mean + 0.1)
    assert metrics["kendall_tau"] == pytest.approx(-1.0)
    assert metrics["spearman"] == pytest.approx(-1.0)
    assert metrics["coverage95"] == pytest.approx(0.0)


def test_metrics_of_a_constant_predictor_have_no_rank_correlation() -> None:
    y = np.arange(10.0)
    metrics = prediction_metrics(y, np.full(10, 4.5), np.zeros(10), np.full(10, 4.0))
    assert np.isnan(metrics["kendall_tau"]) and np.isnan(metrics["spearman"])
    assert metrics["coverage95"] == pytest.approx(0.5)


# -- summary ---------------------------------------------------------------------------------------------


def fake_runs() -> pd.DataFrame:
    rows = []
    for seed, tau in enumerate((0.4, 0.6)):
        for n in (20, 50):
            rows.append(
                {
                    "surrogate": "gp-wl",
                    "encoding": "wl",
                    "n_train": n,
                    "seed": seed,
                    "n_test": 100,
                    "kendall_tau": tau + n / 100,
                    "spearman": tau,
                    "coverage95": 0.9,
                    "fit_seconds": 1.0 + seed,
                    "interval": "posterior+noise",
                    "fingerprint": "x",
                }
            )
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def test_summary_has_the_required_columns_first_and_means_over_seeds() -> None:
    summary = summarise(fake_runs())
    assert list(summary.columns[: len(REQUIRED_COLUMNS)]) == REQUIRED_COLUMNS
    assert list(summary.columns) == SUMMARY_COLUMNS
    row = summary.set_index("n_train").loc[50]
    assert row["kendall_tau"] == pytest.approx(1.0)
    assert row["kendall_tau_std"] == pytest.approx(0.1)
    assert row["fit_seconds"] == pytest.approx(1.5)
    assert row["n_seeds"] == 2


def test_markdown_table_has_tau_per_n_and_coverage_at_the_largest() -> None:
    table = markdown_table(summarise(fake_runs()))
    assert "tau @20" in table and "tau @50" in table and "coverage95 @50" in table
    assert "| gp-wl | wl | 0.700 ± 0.100 | 1.000 ± 0.100 | 0.900 | 1.50 |" in table


# -- names -----------------------------------------------------------------------------------------------


def test_default_predictors_are_every_registered_surrogate_and_the_references() -> None:
    from bonas.surrogates import surrogate_names

    chosen = predictors()
    assert [p.surrogate for p in chosen if not p.is_reference] == surrogate_names()
    assert Predictor("gp-wl", "wl") in chosen and Predictor("gp-path", "path") in chosen
    assert {p.encoding for p in chosen if p.surrogate == "random-forest"} == {"adjacency", "path", "wl"}
    assert {p.encoding for p in chosen if p.surrogate == "gradient-boosting"} == {"adjacency", "path", "wl"}


def test_unknown_surrogate_name_raises(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="gp-nope"):
        predictors(["gp-wl", "gp-nope"])
    with pytest.raises(UnknownNameError):
        main(["--surrogates", "not-a-surrogate", "--out", str(tmp_path)])


# -- a tiny real run, and the cache ----------------------------------------------------------------------

TINY = ["--surrogates", "gp-path", "random-forest", "--n-train", "20", "--seeds", "1", "--n-test", "100"]


def test_tiny_run_writes_the_summary_and_then_uses_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main([*TINY, "--out", str(tmp_path), "--jobs", "1"]) == 0
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary.columns[: len(REQUIRED_COLUMNS)]) == REQUIRED_COLUMNS
    assert sorted(zip(summary["surrogate"], summary["encoding"], strict=True)) == [
        ("gp-path", "path"),
        ("random-forest", "adjacency"),
        ("random-forest", "path"),
        ("random-forest", "wl"),
    ]
    assert (summary["n_train"] == 20).all()
    assert summary["kendall_tau"].between(0.0, 1.0).all()  # 20 NB201 architectures already rank above chance
    assert summary["coverage95"].between(0.0, 1.0).all()
    assert (summary["fit_seconds"] > 0).all()
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert list(runs.columns) == RUN_COLUMNS and len(runs) == 4
    assert set(runs["interval"]) == {"posterior+noise", "tree-std"}
    assert (tmp_path / "summary.md").read_text().startswith("| surrogate | encoding | tau @20 |")

    # Cached rows are not recomputed; --force recomputes them.
    calls: list[tuple[str, str]] = []
    real_evaluate = predictors_module.evaluate

    def counting_evaluate(predictor: Predictor, *args: int) -> dict[str, object]:
        calls.append((predictor.surrogate, predictor.encoding))
        return real_evaluate(predictor, *args)

    monkeypatch.setattr(predictors_module, "evaluate", counting_evaluate)
    assert main([*TINY, "--out", str(tmp_path), "--jobs", "1", "--surrogates", "random-forest"]) == 0
    assert calls == []
    assert len(pd.read_csv(tmp_path / "runs.csv")) == 4
    assert len(pd.read_csv(tmp_path / "summary.csv")) == 3  # the summary covers what was asked for
    main([*TINY, "--out", str(tmp_path), "--jobs", "1", "--surrogates", "random-forest", "--force"])
    assert sorted(calls) == [
        ("random-forest", "adjacency"),
        ("random-forest", "path"),
        ("random-forest", "wl"),
    ]
    assert len(pd.read_csv(tmp_path / "runs.csv")) == 4  # replaced, not appended


def test_rows_are_reused_until_their_fingerprint_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = [Predictor("random-forest", "adjacency")]
    calls: list[tuple[int, ...]] = []
    real_evaluate = predictors_module.evaluate

    def counting_evaluate(predictor: Predictor, *args: int) -> dict[str, object]:
        calls.append(args)
        return real_evaluate(predictor, *args)

    monkeypatch.setattr(predictors_module, "evaluate", counting_evaluate)
    first = run_predictors(chosen, [10, 20], [0], 50, tmp_path, jobs=1)
    assert list(first.columns) == RUN_COLUMNS and first["n_train"].tolist() == [10, 20]
    assert sorted(calls) == [(0, 10, 50), (0, 20, 50)]
    pd.testing.assert_frame_equal(run_predictors(chosen, [10, 20], [0], 50, tmp_path, jobs=1), first)
    assert len(calls) == 2

    monkeypatch.setattr(predictors_module, "fingerprint", lambda predictor: "0123456789abcdef")
    changed = run_predictors(chosen, [10, 20], [0], 50, tmp_path, jobs=1)
    assert len(calls) == 4
    assert (changed["fingerprint"] == "0123456789abcdef").all()
    timing_free = [column for column in RUN_COLUMNS if column not in ("fit_seconds", "fingerprint")]
    pd.testing.assert_frame_equal(changed[timing_free], first[timing_free])
    # The rows under the old fingerprint are replaced, in the cache and in runs.csv.
    assert len(list((tmp_path / "runs").rglob("*.csv"))) == 2
    assert len(pd.read_csv(tmp_path / "runs.csv")) == 2
