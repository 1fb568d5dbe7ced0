"""The weight-sharing bench's bookkeeping: budgets, regimes, cache keys, the ranking table."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from benchmarks import weight_sharing
from benchmarks.weight_sharing import (
    Setup,
    TaskCache,
    connected,
    method_budget,
    parameter_counts,
    parse_regime,
    ranking_table,
    sample_cells,
    search_regime,
    search_table,
    seed_agreement,
)


def test_budgets_and_regimes_parse() -> None:
    assert method_budget("bo", 150.0) == ("bo", 150.0)
    assert method_budget("one-shot+bo@1/3", 150.0) == ("one-shot+bo", pytest.approx(50.0))
    assert parse_regime("fair:6") == ("fair", 6)


def test_cells_are_distinct_and_fixed() -> None:
    cells = sample_cells(30)
    assert cells == sample_cells(30) and len(set(cells)) == 30
    assert not connected("|none~0|+|none~0|none~1|+|none~0|none~1|nor_conv_1x1~2|")
    assert connected("|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|")


def test_cache_keys_depend_only_on_what_a_task_uses(tmp_path) -> None:
    cache = TaskCache(tmp_path, force=False)
    setup = Setup()
    other_budget = dataclasses.replace(setup, budget=10.0, search_regime="fair:3")
    assert cache.path("standalone", setup, "a", 0) == cache.path("standalone", other_budget, "a", 0)
    assert cache.path("supernet", setup, "uniform:12", 0) == cache.path(
        "supernet", other_budget, "uniform:12", 0
    )
    assert cache.path("search", setup, "bo", 0) != cache.path("search", other_budget, "bo", 0)
    assert cache.path("standalone", setup, "a", 0) != cache.path(
        "standalone", dataclasses.replace(setup, epochs=1), "a", 0
    )
    path = cache.path("standalone", setup, "a", 0)
    cache.put(path, {"x": 1})
    assert cache.get(path) == {"x": 1}
    assert TaskCache(tmp_path, force=True).get(path) is None


def test_a_cached_result_of_other_code_is_computed_again(tmp_path, monkeypatch) -> None:
    cache = TaskCache(tmp_path, force=False)
    supernet = cache.path("supernet", Setup(), "uniform:12", 0)
    cache.put(supernet, {"scores": [1.0]})
    assert cache.get(supernet) == {"scores": [1.0]}
    codes = {kind: weight_sharing.task_code(kind) for kind in ("standalone", "supernet", "search")}
    assert len(set(codes.values())) == 3
    monkeypatch.setattr(
        weight_sharing, "task_code", lambda kind: "other" if kind == "supernet" else codes[kind]
    )
    assert cache.get(supernet) is None  # the supernet's code changed
    standalone = cache.path("standalone", Setup(), "a", 0)
    cache.put(standalone, {"val_accuracy": 80.0})
    assert cache.get(standalone) == {"val_accuracy": 80.0}
    supernet.write_text('{"scores": [1.0]}')  # written before results recorded their code
    assert cache.get(supernet) is None


def _ranking(scores: dict[str, list[float]], cost: dict[str, float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    cells = pd.DataFrame(
        {"arch": list("abcde"), "val_accuracy": [1.0, 2.0, 3.0, 4.0, 5.0], "connected": True,
         "synflow": [2.0, 1.0, 3.0, 4.0, 5.0]}
    )  # fmt: skip
    rows = [
        {"regime": regime, "seed": seed, "arch": arch, "score": score + 0.1 * seed, "train_cpu_seconds": cost[regime],
         "score_cpu_seconds": 0.01}
        for regime, values in scores.items()
        for seed in range(2)
        for arch, score in zip("abcde", values, strict=True)
    ]  # fmt: skip
    return cells, pd.DataFrame(rows)


def test_ranking_table_and_the_regime_searches_use() -> None:
    cells, ranking = _ranking(
        {"uniform:2": [1, 2, 3, 4, 5], "fair:2": [5, 4, 3, 2, 1], "uniform:50": [1, 2, 3, 5, 4]},
        {"uniform:2": 1.0, "fair:2": 1.0, "uniform:50": 100.0},
    )
    text, table = ranking_table(cells, ranking, standalone_cpu=10.0)
    taus = dict(zip(table["regime"], table["tau_mean"], strict=True))
    assert taus == pytest.approx({"uniform:2": 1.0, "fair:2": -1.0, "uniform:50": 0.8})
    costs = dict(zip(table["regime"], table["cost_ratio"], strict=True))
    assert costs["uniform:2"] == pytest.approx((1.0 / 5 + 0.01) / 10.0)
    assert "| uniform:2 | 2 | 1.000 ± 0.000 |" in text
    # Rank-averaged with SynFlow, uniform:2 ties cells a and b (ranks 1.5, 1.5, 3, 4, 5): tau-b 9 / sqrt(90).
    with_synflow = dict(zip(table["regime"], table["tau_synflow_mean"], strict=True))
    assert with_synflow["uniform:2"] == pytest.approx(9 / 90**0.5)
    assert "| uniform:2 | 2 | 1.000 ± 0.000 | 1.000 ± 0.000 | 0.949 ± 0.000 |" in text
    assert (
        search_regime(table) == "uniform:2"
    )  # uniform:50 ranks well but costs 2 stand-alone trainings per cell
    assert (
        search_regime(table[table["regime"] == "uniform:50"]) == "uniform:50"
    )  # none affordable: the cheapest


def test_search_table_names_missing_methods() -> None:
    frame = pd.DataFrame(
        [
            {"method": "bo", "seed": 0, "arch": "x", "budget": 150.0, "evaluations": 20, "cpu_seconds": 151.0,
             "val_accuracy": 80.0, "test": 79.0},
            {"method": "enas", "seed": 0, "arch": None, "error": "no runner on this branch (benchmarks/weight_sharing_searchers.py)"},
        ]
    )  # fmt: skip
    text = search_table(frame, ["bo", "enas"])
    assert "| bo | 150 | 1 | 20.0 ± 0.0 | 151 ± 0 | 80.00 ± 0.00 | 79.00 ± 0.00 |" in text
    assert (
        "| enas | | | | | | n/a: no runner on this branch (benchmarks/weight_sharing_searchers.py) |" in text
    )


def test_seed_agreement_over_pairs_and_halves() -> None:
    # Four cells, four seeds: seeds 0 and 1 rank them alike, seeds 2 and 3 reverse the middle two.
    values = {0: [1, 2, 3, 4], 1: [1, 2, 3, 4], 2: [1, 3, 2, 4], 3: [1, 3, 2, 4]}
    cells = pd.DataFrame(
        [
            {"arch": f"c{i}", "seed": seed, "connected": i > 0, "val_accuracy": float(v)}
            for seed, column in values.items()
            for i, v in enumerate(column)
        ]
    )
    agreement = seed_agreement(cells)
    # Of the 6 seed pairs, 2 agree exactly (tau 1) and 4 swap one of 6 cell pairs (tau 2/3).
    assert agreement["n_pairs"] == 6
    assert agreement["pairs"] == pytest.approx((2 * 1 + 4 * 2 / 3) / 6)
    # Connected cells c1..c3: a swap is one of 3 pairs (tau 1/3).
    assert agreement["pairs_connected"] == pytest.approx((2 * 1 + 4 * 1 / 3) / 6)
    assert agreement["halves"] == ("0, 1", "2, 3")
    assert agreement["split_half"] == pytest.approx(2 / 3)
    assert agreement["split_half_connected"] == pytest.approx(1 / 3)
    two_seeds = seed_agreement(cells[cells["seed"] < 2])
    assert two_seeds["pairs"] == pytest.approx(1.0) and "split_half" not in two_seeds


@pytest.mark.usefixtures("fashion_mnist_dir")
def test_parameter_counts_rank_cells_by_their_convolutions() -> None:
    setup = dataclasses.replace(Setup(), train_size=64, val_size=32, test_size=32)
    cells = [
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        "|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_1x1~2|",
        "|skip_connect~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|none~1|skip_connect~2|",
        "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|",
    ]
    counts = parameter_counts(setup, cells)
    assert counts[0] > counts[1] > counts[2] == counts[3] > 0


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--supernet-seeds", "0"], "--supernet-seeds: '0' must be at least 1"),
        (["--cells", "1"], "--cells: '1'"),
    ],
)
def test_counts_are_checked_as_they_are_parsed(argv: list[str], named: str, capsys) -> None:
    with pytest.raises(SystemExit) as raised:
        weight_sharing.parse_args(argv)
    assert raised.value.code == 2 and named in capsys.readouterr().err
