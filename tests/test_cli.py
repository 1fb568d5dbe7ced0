"""The ``bonas`` command: search, show, errors at the boundary, Ctrl-C."""

from __future__ import annotations

import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tomllib
from contextlib import closing
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

import bonas
import bonas.search_inputs
from bonas.cli import BROKEN_PIPE_EXIT_CODE, INTERRUPTED_EXIT_CODE, main
from bonas.reports import studies_table
from bonas.storage import open_storage
from bonas.testing.samplers import hashed_score, tiny_space
from bonas.trials import history_frame
from tests.system_packages import wait_for

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _restore_optuna_verbosity():
    yield
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def load(path: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{path}")


def test_search_stores_continues_and_shows(tmp_path, capsys) -> None:
    db = tmp_path / "r" / "cli.db"
    args = [
        "search",
        "--benchmark",
        "nb201-cifar10",
        "--searcher",
        "local-search",
        "--storage",
        str(db),
        "--no-annotate",
    ]
    assert main([*args, "--n-trials", "8"]) == 0
    out = capsys.readouterr().out
    assert "study 'nb201-cifar10-local-search'" in out and "8 evaluations" in out
    study = load(db, "nb201-cifar10-local-search")
    assert study.user_attrs["benchmark"] == "nb201-cifar10" and study.user_attrs["space"] == "nb201"
    best = study.best_trial.user_attrs["arch"]
    assert f"best architecture: {best}" in out

    # The same command with a total tops the study up; run again, it spends nothing.
    assert main([*args, "--total-trials", "12"]) == 0
    assert main([*args, "--total-trials", "12"]) == 0
    capsys.readouterr()
    history = history_frame(load(db, "nb201-cifar10-local-search"))
    assert len(history) == 12 and history["arch_hash"].is_unique

    assert main(["show", str(db)]) == 0
    table = capsys.readouterr().out
    assert "nb201-cifar10-local-search" in table and "evaluations" in table
    best_now = load(db, "nb201-cifar10-local-search").best_trial.user_attrs["arch"]
    assert best_now in table
    assert main(["show", str(db), "--study", "nb201-cifar10-local-search", "--top", "3"]) == 0
    top = capsys.readouterr().out.splitlines()
    assert best_now in top[4]  # summary header, summary row, blank, table header, best first
    assert len(top) == 4 + 3


def test_a_module_function_objective(tmp_path, capsys) -> None:
    db = tmp_path / "o.db"
    code = main(
        ["search", "--objective", "tests.slow_objectives:no_space", "--space", "mlp", "--n-trials", "3",
         "--storage", str(db), "--study", "mlp", "--no-annotate"]
    )  # fmt: skip
    assert code == 0
    study = load(db, "mlp")
    assert study.user_attrs["objective"] == "tests.slow_objectives:no_space"
    assert study.user_attrs["space"] == "mlp"
    assert [t.value for t in study.trials] == [1.0, 1.0, 1.0]


def test_searcher_options(tmp_path) -> None:
    db = tmp_path / "opt.db"
    common = [
        "search",
        "--benchmark",
        "nb201-cifar10",
        "--n-trials",
        "2",
        "--storage",
        str(db),
        "--no-annotate",
    ]
    assert main([*common, "--searcher", "regularized-evolution", "--option", "population_size=5"]) == 0


def test_batch_size_reaches_the_searcher(tmp_path) -> None:
    db = tmp_path / "batch.db"
    args = ["worker", "--benchmark", "nb201-cifar10", "--searcher", "regularized-evolution", "--batch-size", "3",
            "--n-trials", "5", "--storage", str(db), "--study", "b"]  # fmt: skip
    assert main(args) == 0
    study = load(db, "b")
    assert len({t.user_attrs["arch_hash"] for t in study.trials}) == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--benchmark", "nb201-cifar11"], "Unknown benchmark 'nb201-cifar11'. Did you mean 'nb201-cifar10'"),
        (["--benchmark", "nb201-cifar10", "--searcher", "bayesopt"], "Unknown searcher 'bayesopt'. Valid searchers: "),
        (["--objective", "nocolon"], "--objective 'nocolon' must read MODULE:FUNCTION"),
        (["--objective", "no_such_module_x:f"], "cannot import module 'no_such_module_x'"),
        (["--objective", "tests.slow_objectives:missing"], "module 'tests.slow_objectives' has no 'missing'"),
        (["--objective", "tests.slow_objectives:no_space"], "has no .space attribute; name its search space"),
        (["--objective", "tests.slow_objectives:nb201_100ms", "--space", "nb202"], "Unknown search space 'nb202'"),
        (["--benchmark", "nb201-cifar10", "--option", "n_initial"], "--option 'n_initial' must read KEY=VALUE"),
        (["--benchmark", "nb201-cifar10", "--option", "colour=3"], "Searcher 'auto' does not take options ['colour']"),
        (["--benchmark", "nb201-cifar10", "--searcher", "bo-gp-categorical", "--option", 'surrogate_options={"kernel": "hamming"}'],
         "Searcher 'bo-gp-categorical': Unknown categorical GP kernel 'hamming'"),
        (["--benchmark", "nb201-cifar10", "--searcher", "bo-gp-categorical", "--option", 'surrogate_options={"colour": 1}'],
         "Searcher 'bo-gp-categorical': Surrogate 'gp-categorical' does not take the options ['colour']"),
        (["--benchmark", "nb201-cifar10", "--searcher", "bo-gp-categorical", "--option", "surrogate_options=additive"],
         "Searcher 'bo-gp-categorical': surrogate_options must map the surrogate's option names to values"),
        (["--benchmark", "nb201-cifar10", "--searcher", "optuna-tpe", "--batch-size", "2"], "one trial at a time"),
    ],
)  # fmt: skip
def test_errors_quote_the_bad_value(tmp_path, capsys, args: list[str], message: str) -> None:
    db = tmp_path / "e.db"
    assert main(["search", *args, "--n-trials", "1", "--storage", str(db), "--no-annotate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bonas search: error: ")
    assert message in err
    if "Unknown searcher" in message:
        assert "'random'" in err and "'bo-gp-wl-rbf'" in err  # lists the valid names
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        ("sqlite:///:memory:", "Storage 'sqlite:///:memory:' is an in-memory database, which would lose the study"),
        ("sqlite://", "Storage 'sqlite://' is an in-memory database"),
        ("nodir3/", "Storage 'nodir3/' names a folder; name a file in it (nodir3/search.db)."),
        ("sqlite:/x.db", "Storage 'sqlite:/x.db' is not a SQLite URL: write sqlite:///x.db"),
    ],
)  # fmt: skip
def test_storages_that_would_lose_or_misplace_the_study_are_refused(
    tmp_path, monkeypatch, capsys, storage, message
) -> None:
    monkeypatch.chdir(tmp_path)
    args = [
        "search",
        "--benchmark",
        "nb201-cifar10",
        "--searcher",
        "random",
        "--n-trials",
        "1",
        "--storage",
        storage,
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err == f"bonas search: error: {err.partition('error: ')[2]}" and err.count("\n") == 1
    assert message in err
    assert list(tmp_path.iterdir()) == []  # no file, no folder, no artifacts beside


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_rejects_bad_trial_counts(capsys, value: str) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["search", "--benchmark", "nb201-cifar10", "--n-trials", value])
    assert raised.value.code == 2
    assert repr(value) in capsys.readouterr().err


def test_worker_requires_storage_and_study(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["worker", "--benchmark", "nb201-cifar10", "--n-trials", "2"])
    err = capsys.readouterr().err
    assert "--storage" in err and "--study" in err


def test_show_errors(tmp_path, capsys) -> None:
    assert main(["show", str(tmp_path / "absent.db")]) == 2
    assert "does not exist" in capsys.readouterr().err
    db = tmp_path / "s.db"
    open_storage(db)
    assert main(["show", str(db)]) == 0
    assert "No study in" in capsys.readouterr().out
    optuna.create_study(storage=open_storage(db), study_name="one")
    assert main(["show", str(db), "--study", "two"]) == 2
    assert "No study 'two'" in (err := capsys.readouterr().err) and "'one'" in err
    assert main(["show", str(db), "--study", "one"]) == 0
    assert "No completed evaluation yet." in capsys.readouterr().out


def test_show_and_dashboard_leave_a_database_without_studies_untouched(tmp_path, capsys) -> None:
    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
        connection.commit()
    before = other.read_bytes()
    for command in (["show"], ["dashboard", "--port", "0"]):
        assert main([*command, str(other)]) == 2
        err = capsys.readouterr().err
        assert f"There is no bonas/Optuna study in {str(other)!r}" in err and err.count("\n") == 1
    assert other.read_bytes() == before  # no Optuna tables, still in rollback-journal mode
    assert [p.name for p in tmp_path.iterdir()] == ["other.db"]  # no -wal, -shm or -artifacts beside
    assert main(["show", str(tmp_path / "absent.db")]) == 2
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "absent.db").exists()


def test_python_dash_m_and_the_console_script() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bonas", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    for command in ("search", "worker", "dashboard", "show"):
        assert command in result.stdout
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["bonas"] == "bonas.cli:main"


def test_show_into_a_closed_pipe_ends_quietly(tmp_path) -> None:
    # `bonas show results/bonas.db | head`: the reader has gone before the table is written.
    db = tmp_path / "p.db"
    bonas.search(tiny_space(), hashed_score, n_trials=2, storage=db, study_name="p", seed=0)
    read, write = os.pipe()
    os.close(read)
    try:
        result = subprocess.run([sys.executable, "-m", "bonas", "show", str(db)], cwd=REPO_ROOT, stdout=write,
                                stderr=subprocess.PIPE, text=True, timeout=60)  # fmt: skip
    finally:
        os.close(write)
    assert result.returncode == BROKEN_PIPE_EXIT_CODE
    assert "error" not in result.stderr.lower() and "Traceback" not in result.stderr


def test_show_prints_whole_trial_numbers_and_a_dash_where_a_study_has_no_value(tmp_path, capsys) -> None:
    db = tmp_path / "s.db"
    bonas.search(tiny_space(), hashed_score, n_trials=2, storage=db, study_name="one", seed=0)
    objectives = {"value": "maximize", "cost": "minimize"}
    bonas.search(tiny_space(), two_metrics, objectives=objectives, n_trials=2, storage=db, study_name="two")
    table = studies_table(open_storage(db)).set_index("study")
    assert str(table["best_trial"].dtype) == "Int64" and str(table["pareto_size"].dtype) == "Int64"
    capsys.readouterr()
    assert main(["show", str(db)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    best = table.loc["one", "best_trial"]
    # one: no Pareto front, then its best trial's number as a whole number, then its value
    assert re.search(rf" - +{best} +[0-9.]+ +\|?\w", lines["one"]), lines["one"]
    assert lines["two"].rstrip().endswith("-")  # several objectives: no single best architecture
    assert not any(word in lines[name] for name in lines for word in ("NaN", "<NA>", "None"))


def two_metrics(architecture) -> dict[str, float]:
    return {"value": hashed_score(architecture), "cost": 1.0}


@pytest.mark.slow
@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_ends_a_search_cleanly(tmp_path, signal_number: int) -> None:
    db = tmp_path / "int.db"
    open_storage(db)
    command = [sys.executable, "-m", "bonas", "search", "--objective", "tests.slow_objectives:nb201_stalls_after_two",
               "--searcher", "random", "--storage", str(db), "--study", "i", "--no-annotate"]  # fmt: skip
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    process = subprocess.Popen(
        [*command, "--n-trials", "100"],
        cwd=REPO_ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        # A job started in the background (nohup, `cmd &` in a script) inherits SIGINT ignored, and
        # Python then never raises KeyboardInterrupt: give the child the default a terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )

    def two_done_one_running() -> bool:
        try:
            trials = load(db, "i").get_trials()
        except KeyError:
            return False
        done = sum(t.state == TrialState.COMPLETE for t in trials)
        return done >= 2 and trials[-1].state == TrialState.RUNNING and "arch" in trials[-1].user_attrs

    try:
        wait_for(two_done_one_running, 120, "two completed trials and one running", pause=0.05)
        process.send_signal(signal_number)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == INTERRUPTED_EXIT_CODE, err[-2000:]
    assert "Interrupted: study 'i'" in err and "the same command continues it with 100 more" in err
    assert "to end at 100 in all, add --total-trials 100 instead of --n-trials" in err
    trials = load(db, "i").get_trials()
    assert all(t.state in (TrialState.COMPLETE, TrialState.FAIL) for t in trials)  # nothing left RUNNING
    assert trials[-1].state == TrialState.FAIL and trials[-1].user_attrs["fail_reason"] == "interrupted"
    completed = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(completed) >= 2 and all("val_accuracy" in t.user_attrs for t in completed)
    assert f"holds {len(completed)} evaluations" in err


def test_an_interrupted_continuation_advises_the_total_it_set_out_to_reach(
    tmp_path, monkeypatch, caplog
) -> None:
    db = tmp_path / "c.db"
    args = ["search", "--benchmark", "nb201-cifar10", "--searcher", "random", "--storage", str(db), "--study", "c",
            "--no-annotate"]  # fmt: skip
    assert main([*args, "--n-trials", "4"]) == 0
    real_search = bonas.study.search

    def one_evaluation_then_ctrl_c(*positional, **keywords):
        real_search(*positional, **{**keywords, "n_trials": 1})
        raise KeyboardInterrupt

    monkeypatch.setattr(bonas.study, "search", one_evaluation_then_ctrl_c)
    with caplog.at_level(logging.WARNING, logger="bonas.cli"):
        assert main([*args, "--n-trials", "10"]) == INTERRUPTED_EXIT_CODE
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "holds 5 evaluations" in said and "the same command continues it with 10 more" in said
    assert "to end at 14 in all, add --total-trials 14 instead of --n-trials" in said  # 4 held + 10 asked


def test_a_multi_objective_constrained_search_and_its_pareto_front(tmp_path, capsys) -> None:
    db = tmp_path / "mo.db"
    args = [
        "search", "--benchmark", "nb201-cifar10", "--searcher", "random", "--storage", str(db), "--no-annotate",
        "--objective", "val_accuracy:max", "--objective", "latency_s:min", "--constraint", "params_mb<=0.5",
        "--n-trials", "12", "--study", "mo",
    ]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    study = load(db, "mo")
    front = study.best_trials
    assert len(study.directions) == 2 and study.user_attrs["constraints"] == [["params_mb", "<=", 0.5]]
    assert f"Pareto front: {len(front)} architectures" in out
    assert all(t.user_attrs["params_mb"] <= 0.5 for t in front)
    assert main(["show", str(db), "--study", "mo"]) == 0
    shown = capsys.readouterr().out
    assert f"Pareto front ({len(front)} architectures):" in shown
    assert all(t.user_attrs["arch"] in shown for t in front)
    assert "maximize, minimize" in shown and "params_mb<=0.5" in shown
    if len(front) > 1:  # a shortened front says so
        assert main(["show", str(db), "--study", "mo", "--top", "1"]) == 0
        shown = capsys.readouterr().out
        assert f"Pareto front ({len(front)} architectures; the first 1 shown, --top N for more):" in shown
    impossible = [a.replace("params_mb<=0.5", "params_mb<=0.0001") for a in args]
    assert main([*impossible[:-1], "none-feasible"]) == 0
    assert "no Pareto front: no evaluation satisfies the constraints" in capsys.readouterr().out


def test_auto_on_the_command_line_picks_the_multi_objective_bo_with_the_cheap_metrics(
    tmp_path, monkeypatch, caplog
) -> None:
    # The command line builds the searcher as bonas.search does from its name: 'auto' with two
    # objectives is the multi-objective BO (it was the single-objective one, refused), and the
    # benchmark's latencies reach it as cheap metrics.
    built = []
    original = bonas.search_inputs.make_sampler

    def spy(name, space, **options):  # type: ignore[no-untyped-def]
        built.append((name, sorted(options)))
        return original(name, space, **options)

    monkeypatch.setattr(bonas.search_inputs, "make_sampler", spy)
    args = [
        "search", "--benchmark", "nb201-cifar10", "--storage", str(tmp_path / "auto.db"), "--no-annotate",
        "--objective", "val_accuracy:max", "--objective", "latency_s:min", "--n-trials", "4", "--study", "a",
    ]  # fmt: skip
    with caplog.at_level(logging.INFO, logger="bonas"):
        assert main(args) == 0
    assert built == [("mobo-gp-wl-rbf", ["cheap_metrics", "seed"])]
    assert "Searcher 'auto' picked 'mobo-gp-wl-rbf' for space 'nb201' (several objectives)" in caplog.text
    assert len(load(tmp_path / "auto.db", "a").directions) == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--objective", "val_accuracy:up"],
            "--objective 'val_accuracy:up': with --benchmark, --objective names a metric",
        ),
        (["--constraint", "latency_s<0.1"], "Constraint 'latency_s<0.1' must read METRIC<=NUMBER"),
        (
            ["--objective", "val_accuracy:max", "--objective", "latency_x:min"],
            "The objective metric 'latency_x' is not one",
        ),
        (
            ["--objective", "val_accuracy:max", "--objective", "latency_s:min", "--searcher", "local-search"],
            "optimises one objective",
        ),
    ],
)
def test_bad_objectives_and_constraints_on_the_command_line(tmp_path, capsys, extra, message) -> None:
    args = ["search", "--benchmark", "nb201-cifar10", "--storage", str(tmp_path / "x.db"), "--n-trials", "2"]
    assert main([*args, *extra]) == 2
    assert message in capsys.readouterr().err


def test_the_consecutive_failure_limit_is_set_on_the_command_line(tmp_path, capsys) -> None:
    from bonas.study import DEFAULT_MAX_CONSECUTIVE_FAILURES

    db = tmp_path / "f.db"
    base = ["search", "--objective", "tests.slow_objectives:always_fails", "--space", "mlp", "--searcher",
            "random", "--storage", str(db), "--no-annotate", "--n-trials", "5"]  # fmt: skip
    assert main([*base, "--max-consecutive-failures", "2", "--study", "two"]) == 2
    assert "after 2 failed trials in a row" in capsys.readouterr().err
    assert len(load(db, "two").trials) == 2
    assert main([*base, "--max-consecutive-failures", "0", "--study", "off"]) == 2  # all 5 ran
    assert len(load(db, "off").trials) == 5
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    assert f"(default: bonas.search's, {DEFAULT_MAX_CONSECUTIVE_FAILURES}; 0: no limit)" in " ".join(
        capsys.readouterr().out.split()
    )
