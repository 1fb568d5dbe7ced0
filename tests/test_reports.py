"""Study reports: the tables ``bonas show`` prints and the best-architecture note."""

from __future__ import annotations

import re

import optuna
import pandas as pd
import pytest

from bonas import trials
from bonas.architecture import Architecture
from bonas.reports import STUDY_COLUMNS, best_note, best_trial, pareto_note, studies_table, top_trials
from bonas.study import search
from bonas.testing.samplers import hashed_score, tiny_space

pytestmark = pytest.mark.usefixtures("quiet_optuna")


def scored(architecture: Architecture) -> dict[str, float]:
    return {"val_accuracy": hashed_score(architecture), "params": float(len(str(architecture)))}


@pytest.fixture
def storage() -> optuna.storages.BaseStorage:
    """A storage holding study ``t`` (all 4 architectures of the tiny space) and an empty study ``e``."""
    storage = optuna.storages.InMemoryStorage()
    search(tiny_space(), scored, n_trials=4, seed=0, storage=storage, study_name="t")
    optuna.create_study(storage=storage, study_name="e")
    return storage


def test_studies_table_has_one_row_per_study(storage) -> None:
    table = studies_table(storage)
    assert list(table.columns) == STUDY_COLUMNS
    table = table.set_index("study")
    assert sorted(table.index) == ["e", "t"]
    best = optuna.load_study(study_name="t", storage=storage).best_trial
    searched = table.loc["t"]
    assert list(searched[["space", "metric", "direction"]]) == ["tiny", "val_accuracy", "maximize"]
    assert list(searched[["evaluations", "running", "failed"]]) == [4, 0, 0]
    assert searched["best_trial"] == best.number
    assert searched["best_arch"] == best.user_attrs[trials.ARCH_ATTR]
    assert table.loc["e", "evaluations"] == 0 and pd.isna(table.loc["e", "best_arch"])


def test_top_trials_are_the_best_evaluations_without_bookkeeping(storage) -> None:
    study = optuna.load_study(study_name="t", storage=storage)
    top = top_trials(study, 3)
    assert len(top) == 3
    assert list(top["value"]) == sorted((t.value for t in study.trials), reverse=True)[:3]
    assert "params" in top.columns
    assert not {"state", "query", trials.ARCH_HASH_ATTR, trials.REPEAT_OF_ATTR} & set(top.columns)
    assert top_trials(optuna.load_study(study_name="e", storage=storage)).empty


def test_best_note_names_the_best_architecture_and_its_metrics(storage) -> None:
    study = optuna.load_study(study_name="t", storage=storage)
    best = best_trial(study)
    assert best is not None and best.number == study.best_trial.number
    note = best_note(study, best)
    assert f"## Best architecture (trial {best.number})" in note
    assert f"`{best.user_attrs[trials.ARCH_ATTR]}`" in note
    assert f"`{best.user_attrs[trials.ARCH_HASH_ATTR]}`" in note
    assert "| params |" in note and "![" not in note
    assert "![best cell DAG](/artifacts/1/x)" in best_note(study, best, "/artifacts/1/x")
    assert best_trial(optuna.load_study(study_name="e", storage=storage)) is None


def test_a_search_that_exhausts_its_space_shows_a_stopped_trial_not_a_failed_one() -> None:
    storage = optuna.storages.InMemoryStorage()
    search(tiny_space(), scored, n_trials=6, seed=0, storage=storage, study_name="all")
    row = studies_table(storage).set_index("study").loc["all"]
    assert list(row[["evaluations", "failed", "stopped"]]) == [4, 0, 1]  # all 4 architectures, then the end


def test_a_noisy_studys_best_is_the_best_mean_as_the_search_reports_it() -> None:
    draws = iter([10.0, 3.0, 3.0, 0.0, -5.0, 3.0, 1.0, 2.0, 3.0, 1.0, 0.0, 2.0])

    def noisy(architecture: Architecture) -> float:  # one lucky draw of 10 for a poor architecture
        return next(draws)

    storage = optuna.storages.InMemoryStorage()
    result = search(tiny_space(), noisy, sampler="random", n_trials=12, seed=0, allow_repeats=True,
                    storage=storage, study_name="noisy")  # fmt: skip
    (row,) = studies_table(storage).to_dict("records")
    assert row["best_arch"] == str(result.best_architecture) and row["best_value"] == result.best_value
    assert row["best_value"] < 10.0  # a mean, not the luckiest single value


def table_cells(note: str) -> list[list[str]]:
    """The cells of each row of the note's Markdown table, as a GFM renderer splits them."""
    markdown_it = pytest.importorskip("markdown_it")
    html = markdown_it.MarkdownIt("commonmark").enable("table").render(note)
    return [
        re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        for row in re.findall(r"<tr>(.*?)</tr>", html, re.S)
    ]


def test_the_notes_tables_keep_the_pipes_of_architecture_strings_inside_their_cells(nb201_benchmark) -> None:
    result = search(nb201_benchmark.space, nb201_benchmark, sampler="random", n_trials=6, seed=0,
                    objectives={"val_accuracy": "maximize", "latency_pixel3": "minimize"})  # fmt: skip
    rows = table_cells(pareto_note(result.study))
    assert rows[0] == ["trial", "architecture", "val_accuracy", "latency_pixel3"]
    assert len(rows) == 1 + len(result.pareto_front) and all(len(row) == 4 for row in rows)
    assert {row[1] for row in rows[1:]} == {f"<code>{m.architecture}</code>" for m in result.pareto_front}

    def piped(architecture: Architecture) -> dict[str, float]:
        return {"val_accuracy": hashed_score(architecture), "a|b": 1.0}

    study = search(tiny_space(), piped, n_trials=2, seed=0).study
    assert table_cells(best_note(study, best_trial(study))) == [["metric", "value"], ["a|b", "1"]]
