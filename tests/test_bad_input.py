"""Bad input and worker faults, one case per test row: a clear error naming the bad value, nothing lost.

API cases assert the error type and that the message quotes the bad value; CLI cases that the command
exits 2 with one ``bonas <command>: error:`` line and no traceback.
"""

from __future__ import annotations

import logging
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from bonas.architecture import Architecture
from bonas.cli import main
from bonas.errors import ArgumentTypeError, BonasError, InvalidArchitectureError, InvalidArgumentError
from bonas.spaces.base import Categorical
from bonas.spaces.categorical import CategoricalSpace
from bonas.spaces.nb201 import NB201Space
from bonas.storage import StorageSpecError, open_storage
from bonas.study import SearchFailedError, StudyMismatchError, search
from bonas.testing.samplers import hashed_score, tiny_space
from bonas.trials import current_trial


@pytest.fixture(autouse=True)
def _quiet_optuna() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def hashed(architecture: Architecture) -> float:
    return hashed_score(architecture)


def cli_error(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    """Run ``bonas args``, expecting a user error: exit 2, one message, no traceback."""
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"bonas {args[0]}: error: "), err
    assert "Traceback" not in err
    return err


# -- 1. a stored study continued with other settings ------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"direction": "minimize"}, "direction 'maximize' (asked: 'minimize')"),
        ({"metric": "val"}, "metric 'value' (asked: 'val')"),
        ({"objective": lambda a: 0.5}, "objective 'hashed' (asked: '<lambda>')"),
    ],
)
def test_continuing_a_study_with_other_settings_fails_before_any_trial(
    tmp_path: Path, change: dict, named: str, caplog: pytest.LogCaptureFixture
) -> None:
    storage = open_storage(tmp_path / "s.db")
    space = tiny_space()
    first = {"objective": hashed, "metric": "value", "direction": "maximize"}
    with caplog.at_level(logging.INFO, logger="bonas.study"):
        search(space, first["objective"], n_trials=2, storage=storage, study_name="s", metric="value", seed=0)
    assert (
        f"Study 's' in sqlite:///{tmp_path / 's.db'} holds 0 evaluations; this search adds up to 2."
        in caplog.messages
    )
    caplog.clear()
    asked = {**first, **change}
    with (
        pytest.raises(StudyMismatchError, match=r"Study 's' already exists with .*") as raised,
        caplog.at_level(logging.INFO, logger="bonas.study"),
    ):
        search(space, asked["objective"], n_trials=2, storage=storage, study_name="s", metric=asked["metric"],
               direction=asked["direction"], seed=1)  # fmt: skip
    assert not [m for m in caplog.messages if "holds" in m]  # no word of a search that does not run
    assert named in str(raised.value) and "another name" in str(raised.value)
    assert "delete-study" not in str(raised.value)  # it holds evaluations
    study = optuna.load_study(study_name="s", storage=storage)
    assert len(study.trials) == 2  # no trial ran
    assert study.user_attrs["metric"] == "value" and study.user_attrs["objective"] == "hashed"  # kept


@pytest.mark.parametrize(
    ("parameters", "named"),
    [
        (
            [Categorical("a", (0, 1, 2)), Categorical("b", ("x", "y"))],
            "gives parameter 'a' the choices [0, 1, 2], but the study's trials chose it from [0, 1]",
        ),
        (
            [Categorical("a", (1, 0)), Categorical("b", ("x", "y"))],
            "gives parameter 'a' the choices [1, 0], but the study's trials chose it from [0, 1]",
        ),
        (
            [Categorical("b", ("x", "y")), Categorical("a", (0, 1))],
            "declares the parameters ['b', 'a'] in another order than the study's trials drew them, ['a', 'b']",
        ),
    ],
)
def test_a_space_changed_under_its_name_is_refused_before_any_trial(
    tmp_path: Path, parameters: list[Categorical], named: str
) -> None:
    storage = open_storage(tmp_path / "s.db")
    search(tiny_space(), hashed, n_trials=2, storage=storage, study_name="s", seed=0)
    changed = CategoricalSpace("tiny", parameters)
    with pytest.raises(StudyMismatchError, match="cannot continue with space 'tiny'") as raised:
        search(changed, hashed, n_trials=2, storage=storage, study_name="s", seed=1)
    assert named in str(raised.value)
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == 2  # no trial ran


def test_a_study_whose_objective_suggests_its_own_parameters_continues(tmp_path: Path) -> None:
    def tuned(architecture: Architecture) -> float:
        learning_rate = current_trial().suggest_float("lr", 1e-4, 1e-1, log=True)  # the objective's own
        return hashed(architecture) + learning_rate

    storage = open_storage(tmp_path / "s.db")
    search(tiny_space(), tuned, n_trials=2, storage=storage, study_name="s", sampler="random", seed=0)
    result = search(
        tiny_space(), tuned, n_trials=2, storage=storage, study_name="s", sampler="random", seed=1
    )
    assert (result.history["state"] == "COMPLETE").sum() == 4


def test_another_space_is_named_as_such_not_as_changed_parameters(tmp_path: Path) -> None:
    storage = open_storage(tmp_path / "s.db")
    search(tiny_space(), hashed, n_trials=2, storage=storage, study_name="s", seed=0)
    with pytest.raises(StudyMismatchError, match=r"space 'tiny' \(asked: 'nb201'\)"):
        search(NB201Space(), hashed, n_trials=2, storage=storage, study_name="s", seed=1)


def default_search(db: Path) -> list[str]:
    """``bonas search`` of NB201 CIFAR-10 for 3 trials in ``db``, under the default study name."""
    return [
        "search",
        "--benchmark",
        "nb201-cifar10",
        "--n-trials",
        "3",
        "--storage",
        str(db),
        "--no-annotate",
    ]


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--direction", "minimize"], "direction 'maximize' (asked: 'minimize')"),
        (
            ["--metric", "test_accuracy", "--study", "nb201-cifar10-auto"],
            "metric 'val_accuracy' (asked: 'test_accuracy')",
        ),
    ],
)
def test_cli_continuing_a_study_with_other_settings_fails(tmp_path, capsys, extra, named) -> None:
    db = tmp_path / "m.db"
    base = default_search(db)
    assert main(base) == 0
    capsys.readouterr()
    err = cli_error(capsys, [*base, *extra])
    assert named in err
    study = optuna.load_study(study_name="nb201-cifar10-auto", storage=f"sqlite:///{db}")
    assert len(study.trials) == 3 and study.user_attrs["metric"] == "val_accuracy"


def test_cli_searches_of_other_outcomes_get_their_own_default_studies(tmp_path, capsys) -> None:
    # Without --study, a search of other metrics (or with constraints) does not meet the default one,
    # which would refuse it.
    db = tmp_path / "m.db"
    base = default_search(db)
    assert main(base) == 0
    assert main([*base, "--metric", "test_accuracy"]) == 0
    assert main([*base, "--constraint", "params_mb<=0.5"]) == 0
    names = {s.study_name for s in optuna.get_all_study_summaries(f"sqlite:///{db}")}
    assert names == {
        "nb201-cifar10-auto",
        "nb201-cifar10-auto-test_accuracy",
        "nb201-cifar10-auto-constrained",
    }


def test_cli_points_to_a_study_under_the_old_default_name(tmp_path, capsys, caplog) -> None:
    db = tmp_path / "m.db"
    base = default_search(db)
    old = [
        *base,
        "--metric",
        "test_accuracy",
        "--study",
        "nb201-cifar10-auto",
    ]  # as earlier versions named it
    assert main(old) == 0
    with caplog.at_level(logging.WARNING, logger="bonas"):
        assert main([*base, "--metric", "test_accuracy"]) == 0
    assert (
        "also holds 'nb201-cifar10-auto'" in caplog.text and "add --study nb201-cifar10-auto" in caplog.text
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bonas"):  # that study searched test_accuracy, not these
        assert main([*base, "--metric", "test_accuracy", "--constraint", "params_mb<=0.5"]) == 0
    assert "also holds" not in caplog.text


def test_cli_continuing_a_study_on_another_benchmark_fails(tmp_path, capsys) -> None:
    db = tmp_path / "m.db"
    common = ["--n-trials", "3", "--storage", str(db), "--no-annotate", "--study", "nb201-cifar10-auto"]
    assert main(["search", "--benchmark", "nb201-cifar10", *common]) == 0
    err = cli_error(capsys, ["search", "--benchmark", "nb201-cifar100", *common])
    assert "benchmark 'nb201-cifar10' (asked: 'nb201-cifar100')" in err


def test_a_study_without_evaluations_refused_for_other_settings_says_how_to_delete_it(tmp_path: Path) -> None:
    storage = open_storage(tmp_path / "s.db")

    def objective(architecture: Architecture) -> dict[str, float]:
        return {"value": hashed(architecture), "latency": 1.0}

    with pytest.raises(SearchFailedError, match="without 'latncy'"):  # misspelt: one failed trial
        search(tiny_space(), objective, metric="value", constraints={"latncy": ("<=", 3.0)}, n_trials=2,
               storage=storage, study_name="s")  # fmt: skip
    with pytest.raises(StudyMismatchError, match=r"no completed evaluation \(1 failed or unfinished trial\)"):
        search(tiny_space(), objective, metric="value", constraints={"latency": ("<=", 3.0)}, n_trials=2,
               storage=storage, study_name="s")  # fmt: skip
    optuna.delete_study(study_name="s", storage=storage)  # what the message says, through Optuna's API
    result = search(tiny_space(), objective, metric="value", constraints={"latency": ("<=", 3.0)}, n_trials=2,
                    storage=storage, study_name="s")  # fmt: skip
    assert (result.history["state"] == "COMPLETE").all()


def test_continuing_with_the_same_settings_still_works(tmp_path: Path) -> None:
    storage = open_storage(tmp_path / "s.db")
    search(tiny_space(), hashed, n_trials=2, storage=storage, study_name="s", seed=0)
    result = search(tiny_space(), hashed, n_trials=2, storage=storage, study_name="s", seed=1)
    assert len(result.history) == 4


# -- 2. heartbeat settings that cannot work ----------------------------------------------------------------


@pytest.mark.parametrize(("interval", "grace"), [(5, 3), (2, 2)])
def test_a_grace_period_not_above_the_heartbeat_interval_is_refused(tmp_path, interval, grace) -> None:
    with pytest.raises(
        StorageSpecError, match=f"grace_period={grace} must exceed heartbeat_interval={interval}"
    ):
        open_storage(tmp_path / "s.db", heartbeat_interval=interval, grace_period=grace)
    assert not (tmp_path / "s.db").exists()


def test_cli_refuses_a_grace_period_below_the_interval(tmp_path, capsys) -> None:
    err = cli_error(capsys, ["search", "--benchmark", "nb201-cifar10", "--storage", str(tmp_path / "g.db"),
                             "--heartbeat-interval", "5", "--grace-period", "3", "--no-annotate"])  # fmt: skip
    assert "grace_period=3" in err


# -- 3. files that are not a store -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bad.log", "bad.jsonl", "journal:bad.txt"])
def test_a_text_file_is_not_taken_as_a_journal(tmp_path: Path, name: str) -> None:
    path = tmp_path / name.removeprefix("journal:")
    path.write_text("2026-12-01 my training log\nepoch 1 loss 0.3\n")
    spec = f"journal:{path}" if name.startswith("journal:") else path
    with pytest.raises(StorageSpecError, match="is not an Optuna journal"):
        open_storage(spec)
    assert path.read_text() == "2026-12-01 my training log\nepoch 1 loss 0.3\n"


def test_a_real_journal_reopens(tmp_path: Path) -> None:
    path = tmp_path / "study.log"
    search(tiny_space(), hashed, n_trials=2, storage=path, study_name="j", seed=0)
    result = search(tiny_space(), hashed, n_trials=1, storage=path, study_name="j", seed=1)
    assert len(result.history) == 3


def test_cli_show_and_search_refuse_a_text_file(tmp_path, capsys) -> None:
    path = tmp_path / "bad.log"
    path.write_text("not a journal\n")
    assert "is not an Optuna journal" in cli_error(capsys, ["show", str(path)])
    err = cli_error(
        capsys, ["search", "--benchmark", "nb201-cifar10", "--storage", str(path), "--no-annotate"]
    )
    assert str(path) in err
    assert path.read_text() == "not a journal\n"


def test_cli_search_refusing_a_file_writes_nothing_beside_it(tmp_path: Path) -> None:
    # In a fresh process, where importing torch warns: the warning log must not appear beside a file the
    # search refuses.
    path = tmp_path / "notes.txt"
    path.write_text("my notes")
    command = [sys.executable, "-m", "bonas", "search", "--benchmark", "nb201-cifar10", "--n-trials", "1",
               "--storage", str(path), "--no-annotate"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "is not a SQLite database" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"] and path.read_text() == "my notes"


def test_a_file_that_is_not_sqlite_is_not_written_to(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("my notes")
    with pytest.raises(StorageSpecError, match="is not a SQLite database"):
        open_storage(path)
    assert path.read_text() == "my notes"


def test_a_folder_given_as_the_database_names_it_and_asks_for_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder.db"
    folder.mkdir()
    with pytest.raises(StorageSpecError, match=r"a-folder\.db' names a folder; name a file in it"):
        open_storage(folder)


# -- 5. types and ranges at the boundary ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "error", "named"),
    [
        ({"n_trials": 1.5}, ArgumentTypeError, "n_trials must be a whole number, got 1.5"),
        ({"n_trials": "10"}, ArgumentTypeError, "n_trials must be a whole number, got '10'"),
        ({"n_trials": True}, ArgumentTypeError, "got True"),
        ({"n_trials": 0}, InvalidArgumentError, "n_trials must be at least 1, got 0"),
        ({"total_trials": 2.0}, ArgumentTypeError, "total_trials must be a whole number, got 2.0"),
        ({"seed": "a"}, ArgumentTypeError, "seed must be a whole number or None, got 'a'"),
        ({"seed": -1}, InvalidArgumentError, "seed must be at least 0, got -1"),
        ({"metric": ""}, InvalidArgumentError, "metric must be the name"),
        ({"direction": "max"}, InvalidArgumentError, "got 'max'"),
        (
            {"max_consecutive_failures": 0},
            InvalidArgumentError,
            "max_consecutive_failures must be at least 1",
        ),
        ({"storage": ""}, StorageSpecError, "Storage '' is empty"),
        ({"storage": 3}, StorageSpecError, "Storage 3 is a int"),
        ({"sampler": 123}, ArgumentTypeError, "or an Optuna sampler, got 123 (int)"),
        ({"allow_repeats": "yes"}, ArgumentTypeError, "allow_repeats must be True, False or None, got 'yes'"),
        ({"study_name": "  "}, InvalidArgumentError, "study_name must be a non-blank string (or None"),
        ({"study_name": 3}, InvalidArgumentError, "for a new study), got 3."),
    ],
)
def test_search_arguments_are_checked(arguments: dict, error: type, named: str) -> None:
    with pytest.raises(error) as raised:
        search(tiny_space(), hashed, **{"n_trials": 2, **arguments})
    assert named in str(raised.value)


def test_total_trials_alone_runs_until_the_study_holds_that_many() -> None:
    result = search(NB201Space(), hashed, sampler="random", total_trials=120, seed=0)  # past the default 100
    assert len(result.history) == 120


def test_a_space_of_one_architecture_is_exhausted_after_its_evaluation() -> None:
    space = CategoricalSpace("one", [Categorical("k", ("only",))])
    result = search(space, hashed, sampler="random", n_trials=5, seed=0)
    assert list(result.history["state"]) == ["COMPLETE", "FAIL"]  # not 150 repeats
    assert "search space exhausted" in result.history["fail_reason"].iloc[1]


def test_a_string_is_not_taken_for_its_characters_as_choices() -> None:
    with pytest.raises(ValueError, match=r"got the string 'relu'; write \('relu',\) for a single choice"):
        Categorical("act", "relu")  # type: ignore[arg-type]


def test_space_and_objective_types_are_checked() -> None:
    with pytest.raises(
        ArgumentTypeError, match=r"space must be a bonas SearchSpace \(e\.g\. .*\), got 'nb201'"
    ):
        search("nb201", hashed, n_trials=1)  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError, match=r"objective must be callable .* got 3"):
        search(tiny_space(), 3, n_trials=1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--option", "population_size=0", "--searcher", "regularized-evolution"], "population_size=0"),
        (["--option", "population_size=abc", "--searcher", "regularized-evolution"], "population_size='abc'"),
        (["--storage", ""], "Storage '' is empty"),
        (
            ["--storage", "mysql://me@localhost/nas"],
            "needs a database driver for 'mysql' that is not installed",
        ),
        (["--storage", "nosuchdb://me@localhost/nas"], "Can't load plugin: sqlalchemy.dialects:nosuchdb"),
        (
            ["--data-dir", "/nonexistent/bonas-data"],
            "'/nonexistent/bonas-data' (from data_dir, --data-dir) does not",
        ),
    ],
)
def test_cli_option_and_storage_values_are_checked(tmp_path, capsys, args, named) -> None:
    storage = [] if "--storage" in args else ["--storage", str(tmp_path / "o.db")]
    err = cli_error(capsys, ["search", "--benchmark", "nb201-cifar10", "--n-trials", "1", *storage, *args,
                             "--no-annotate"])  # fmt: skip
    assert named in err
    assert "does not take" not in err


@pytest.mark.parametrize("extra", [["--direction", "maximize"], ["--metric", "val_accuracy"]])
def test_cli_refuses_metric_or_direction_beside_metric_objectives(tmp_path, capsys, extra) -> None:
    args = ["search", "--benchmark", "nb201-cifar10", "--objective", "latency_pixel3:min", *extra,
            "--storage", str(tmp_path / "o.db"), "--no-annotate"]  # fmt: skip
    err = cli_error(capsys, args)
    assert f"--{extra[0][2:]} {extra[1]} with --objective latency_pixel3:min" in err
    assert not (tmp_path / "o.db").exists()  # refused before the storage is opened


def test_cli_refuses_a_negative_seed(capsys) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["search", "--benchmark", "nb201-cifar10", "--seed", "-1"])
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert "'-1' must be at least 0" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("91.5", "value '91.5' (str)"),
        (True, "value True (bool)"),
        (np.True_, "value np.True_ (bool"),  # NumPy 2 names the type 'bool'
        (np.array([0.5, 0.7]), "value array([0.5, 0.7]) (ndarray)"),
        (np.array(["91.5"]), "value array(['91.5'], dtype='<U4') (ndarray)"),  # a string inside one element
        (np.array([True], dtype=object), "value array([True], dtype=object) (ndarray)"),
        ({"val_accuracy": "90"}, "metric 'val_accuracy' '90' (str)"),
    ],
)
def test_an_objective_value_that_is_not_a_number_fails_its_trial_naming_it(value: object, named: str) -> None:
    with pytest.raises(SearchFailedError) as raised:
        search(tiny_space(), lambda a: value, n_trials=3, max_consecutive_failures=2, metric="val_accuracy")
    assert named in str(raised.value)


def test_numbers_of_other_types_are_accepted() -> None:
    import numpy as np
    import torch

    values = (np.float32(0.5), np.int64(3), torch.tensor(0.25), torch.tensor([0.5]), np.array([0.75]), 7)
    for value, expected in zip(values, (0.5, 3, 0.25, 0.5, 0.75, 7), strict=True):
        result = search(tiny_space(), lambda a, v=value: v, n_trials=1, seed=0)
        assert result.best_value == pytest.approx(expected)


# -- 6. searches that cannot succeed stop early ------------------------------------------------------------


def test_an_objective_that_always_raises_stops_after_the_limit(tmp_path: Path) -> None:
    calls = 0

    def broken(architecture: Architecture) -> float:
        nonlocal calls
        calls += 1
        raise RuntimeError(f"CUDA error {calls}")

    storage = open_storage(tmp_path / "f.db")
    with pytest.raises(
        SearchFailedError, match=r"after 4 failed trials in a row .*RuntimeError: CUDA error 1\b"
    ):
        search(tiny_space(), broken, n_trials=50, max_consecutive_failures=4, storage=storage, study_name="f")
    assert calls == 4
    study = optuna.load_study(study_name="f", storage=storage)
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 4  # kept, with their reasons
    assert all("CUDA error" in t.user_attrs["fail_reason"] for t in study.trials)


@pytest.mark.parametrize("constraints", [None, {"latency": ("<=", 1.0)}])
def test_a_metric_no_evaluation_returned_stops_after_its_first_trial(constraints) -> None:
    # A misspelt metric fails every trial the same way; each may be an hour of training.
    with pytest.raises(SearchFailedError, match=r"after its first trial without 'val_accuracy'") as raised:
        search(
            NB201Space(), lambda a: {"accuracy": 1.0}, n_trials=100, study_name="s", constraints=constraints
        )
    assert "['accuracy']" in str(raised.value)  # what it did return


def test_a_metric_returned_before_is_missing_only_once_and_the_search_goes_on() -> None:
    calls = 0

    def sometimes(architecture: Architecture) -> dict[str, float]:
        nonlocal calls
        calls += 1
        return {"val_accuracy": hashed(architecture)} if calls != 3 else {"error": 1.0}

    history = search(NB201Space(), sometimes, sampler="random", n_trials=6, seed=0).history
    assert history["state"].tolist() == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE", "COMPLETE", "COMPLETE"]


def test_without_a_failure_limit_a_missing_metric_does_not_stop_the_search() -> None:
    with pytest.raises(BonasError, match=r"No trial .* completed") as raised:
        search(NB201Space(), lambda a: {"accuracy": 1.0}, n_trials=3, max_consecutive_failures=None,
               sampler="random")  # fmt: skip
    assert re.search(r"\n +2 MissingMetricError", str(raised.value))  # all 3 trials ran


def test_a_space_whose_constraint_rejects_everything_stops_early() -> None:
    from bonas.spaces.base import Categorical
    from bonas.spaces.categorical import CategoricalSpace

    def never(params: dict) -> bool:
        return False

    space = CategoricalSpace("never", [Categorical("a", (0, 1, 2))], constraint=never)
    with pytest.raises(SearchFailedError, match="failed trials in a row"):
        search(space, hashed, sampler="random", n_trials=5)
    with pytest.raises(InvalidArchitectureError, match="its validity constraint rejects"):
        search(space, hashed, n_trials=5)  # auto looks at the space first: no trial is run


def test_failures_between_successes_do_not_stop_the_search() -> None:
    calls = 0

    def flaky(architecture: Architecture) -> float:
        nonlocal calls
        calls += 1
        if calls % 3 == 0:
            raise RuntimeError("out of memory")
        return hashed_score(architecture)

    result = search(NB201Space(), flaky, n_trials=20, seed=0, max_consecutive_failures=2)
    assert int(result.history["query"].max()) == 20
    assert not math.isnan(result.best_value)


def test_the_limit_can_be_turned_off() -> None:
    with pytest.raises(Exception, match="No trial of study"):
        search(tiny_space(), lambda a: float("nan"), n_trials=12, max_consecutive_failures=None)


# -- 7. smaller cases -------------------------------------------------------------------------------------


def test_dashboard_on_a_port_in_use_fails_naming_it_before_writing(tmp_path, capsys) -> None:
    import socket

    db = tmp_path / "d.db"
    search(tiny_space(), hashed, n_trials=2, storage=db, study_name="d", seed=0)
    storage = open_storage(db)
    study_id = storage.get_study_id_from_name("d")
    before = storage.get_study_system_attrs(study_id)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        err = cli_error(capsys, ["dashboard", str(db), "--port", str(port)])
    assert f"127.0.0.1:{port}" in err and "--port" in err
    assert storage.get_study_system_attrs(study_id) == before  # no note or picture written


def test_total_trials_reached_logs_what_the_study_holds(tmp_path, caplog) -> None:
    db = tmp_path / "t.db"
    search(tiny_space(), hashed, n_trials=4, storage=db, study_name="t", seed=0)
    with caplog.at_level("INFO", logger="bonas"):
        search(tiny_space(), hashed, n_trials=1, total_trials=2, storage=db, study_name="t", seed=1)
    assert any("holds 4 evaluations (total_trials=2)" in r.getMessage() for r in caplog.records)


def test_a_worker_takes_total_trials_instead_of_n_trials(tmp_path, capsys) -> None:
    db = tmp_path / "w.db"
    args = ["worker", "--benchmark", "nb201-cifar10", "--storage", str(db), "--study", "w"]
    assert main([*args, "--total-trials", "3"]) == 0
    assert len(optuna.load_study(study_name="w", storage=f"sqlite:///{db}").trials) == 3
    assert "--n-trials N, or --total-trials T" in cli_error(capsys, args)


# -- 4. damaged data files ---------------------------------------------------------------------------------


@pytest.fixture
def nb201_data(tmp_path: Path, shared_data: Path) -> Path:
    """A data folder holding a copy of the NB201 test-accuracy file, for damaging."""
    source = shared_data / "nb201" / "nb201_test_accuracy.csv"
    if not source.is_file():
        pytest.skip(f"{source} is absent")
    (tmp_path / "nb201").mkdir()
    (tmp_path / "nb201" / "nb201_test_accuracy.csv").write_bytes(source.read_bytes())
    return tmp_path


def _load_nb201(data: Path):
    from bonas.tabular.nb201 import NB201Benchmark, load_test_accuracies

    load_test_accuracies.cache_clear()
    return NB201Benchmark("cifar10", data_dir=data)


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (lambda text: "".join(text.splitlines(keepends=True)[:9000]), "8,999 distinct architectures"),
        (lambda text: text[: len(text) // 2], "line "),
        (lambda text: text.replace("cifar100_test", "c100", 1), "no column ['cifar100_test']"),
        (lambda text: text.replace(",85.86333333333334,", ",n/a,", 1), "line 2"),
    ],
    ids=["cut-at-a-row", "cut-mid-row", "column-renamed", "not-a-number"],
)
def test_a_damaged_nb201_test_file_is_refused_naming_it(nb201_data: Path, damage, named: str) -> None:
    from bonas.errors import DataFileError

    path = nb201_data / "nb201" / "nb201_test_accuracy.csv"
    path.write_text(damage(path.read_text()))
    with pytest.raises(DataFileError) as raised:
        _load_nb201(nb201_data)
    assert str(path) in str(raised.value) and named in str(raised.value)
    assert "copy it again" in str(raised.value)


def test_the_intact_nb201_test_file_loads(nb201_data: Path) -> None:
    assert "test_accuracy" in _load_nb201(nb201_data)(NB201Space().sample(np.random.default_rng(0)))


@pytest.fixture
def nb301_data(tmp_path: Path, shared_data: Path) -> Path:
    source = shared_data / "nb301"
    if not (source / "model_v2.onnx").is_file():
        pytest.skip(f"{source} is absent")
    (tmp_path / "nb301").mkdir()
    for name in ("model_v2.onnx", "encoding_v2.json", "config_space_v2.json"):
        (tmp_path / "nb301" / name).write_bytes((source / name).read_bytes())
    return tmp_path


@pytest.mark.parametrize(
    ("name", "damage", "named"),
    [
        ("encoding_v2.json", lambda b: b[: len(b) // 2], "is not valid JSON"),
        ("config_space_v2.json", lambda b: b[: len(b) // 2], "is not valid JSON"),
        ("config_space_v2.json", lambda b: b.replace(b"sep_conv_5x5", b"sep_conv_7x7"), "choices"),
        ("config_space_v2.json", lambda b: b'{"conditions": []}', "no 'hyperparameters' list"),
    ],
    ids=["encoding-cut", "config-cut", "config-other-choices", "config-other-file"],
)
def test_a_damaged_nb301_file_is_refused_naming_it(nb301_data: Path, name: str, damage, named: str) -> None:
    from bonas.tabular.nb301 import NB301Benchmark, SurrogateFileError

    path = nb301_data / "nb301" / name
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(SurrogateFileError) as raised:
        NB301Benchmark(data_dir=nb301_data)
    assert str(path) in str(raised.value) and named in str(raised.value)


def test_a_damaged_nb301_model_is_refused_naming_it(nb301_data: Path) -> None:
    from bonas.spaces.darts import DartsSpace
    from bonas.tabular.nb301 import NB301Benchmark, SurrogateFileError

    path = nb301_data / "nb301" / "model_v2.onnx"
    path.write_bytes(path.read_bytes()[:1000])
    benchmark = NB301Benchmark(data_dir=nb301_data)
    with pytest.raises(SurrogateFileError, match="is not a loadable ONNX model"):
        benchmark(DartsSpace().sample(np.random.default_rng(0)))


@pytest.mark.parametrize("value", [True, 2.0, "1", np.float64(1.0)])
def test_a_value_that_only_equals_a_choice_is_refused(value: object) -> None:
    from bonas.errors import InvalidArchitectureError
    from bonas.spaces.base import Categorical
    from bonas.spaces.categorical import CategoricalSpace

    space = CategoricalSpace("ints", [Categorical("n", (1, 2)), Categorical("m", (0.5, 1.0))])
    with pytest.raises(InvalidArchitectureError, match=rf"'n'={re.escape(repr(value))} .*not a choice"):
        space.from_params({"n": value, "m": 0.5})


def test_numpy_scalars_of_the_choices_type_are_accepted_as_the_choice() -> None:
    from bonas.spaces.base import Categorical
    from bonas.spaces.categorical import CategoricalSpace

    space = CategoricalSpace("ints", [Categorical("n", (1, 2)), Categorical("m", (0.5, 1.0))])
    architecture = space.from_params({"n": np.int64(2), "m": np.float32(0.5)})
    assert architecture.param_dict == {"n": 2, "m": 0.5}
    assert type(architecture.param_dict["n"]) is int
    assert space.parse(str(architecture)) == architecture


def test_an_objective_instance_without_a_name_continues_its_study(tmp_path: Path) -> None:
    class Scorer:  # a default repr holds a memory address; the study must not record that
        def __call__(self, architecture: Architecture) -> float:
            return hashed_score(architecture)

    storage = open_storage(tmp_path / "s.db")
    search(tiny_space(), Scorer(), n_trials=2, storage=storage, study_name="s", seed=0)
    result = search(tiny_space(), Scorer(), n_trials=1, storage=storage, study_name="s", seed=1)
    assert len(result.history) == 3
    assert result.study.user_attrs["objective"].endswith("Scorer")


def test_a_cli_named_objective_continued_from_python_names_the_fix(tmp_path: Path) -> None:
    def scored(architecture: Architecture) -> float:
        return hashed(architecture)

    storage = open_storage(tmp_path / "s.db")
    scored.name = "my_objectives:scored"  # type: ignore[attr-defined] - as `bonas search --objective` names it
    search(tiny_space(), scored, n_trials=2, storage=storage, study_name="s", seed=0)
    del scored.name  # type: ignore[attr-defined]
    with pytest.raises(StudyMismatchError, match=r"scored\.name = 'my_objectives:scored' before searching"):
        search(tiny_space(), scored, n_trials=1, storage=storage, study_name="s", seed=1)
    scored.name = "my_objectives:scored"  # type: ignore[attr-defined]
    result = search(tiny_space(), scored, n_trials=1, storage=storage, study_name="s", seed=1)
    assert (result.history["state"] == "COMPLETE").sum() == 3
