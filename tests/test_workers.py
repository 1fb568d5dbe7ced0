"""Several workers on one study, and the faults of long searches: killed workers, heartbeats, resume.

Worker processes are real (``python -m bonas worker``), on a SQLite file and on a PostgreSQL server
started by the test set-up. Their objective sleeps 0.1 s per lookup so that trials overlap.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from bonas import study as study_module
from bonas import trials
from bonas.storage import open_storage
from bonas.study import search
from bonas.testing.samplers import hashed_score, tiny_space
from bonas.trials import history_frame
from tests.system_packages import postgres_server, wait_for

REPO_ROOT = Path(__file__).resolve().parent.parent
SLOW = "tests.slow_objectives:nb201_100ms"
SLOWER = "tests.slow_objectives:nb201_500ms"


pytestmark = pytest.mark.usefixtures("quiet_optuna")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def bonas(*args: str) -> list[str]:
    return [sys.executable, "-m", "bonas", *args]


def start(command: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def run_workers(
    storage: str, study: str, searcher: str, shares: list[int], tmp_path: Path, *options: str
) -> None:
    workers = [
        start(
            bonas(
                "worker", "--storage", storage, "--study", study, "--objective", SLOW,
                "--searcher", searcher, "--n-trials", str(share), "--heartbeat-interval", "1",
                "--grace-period", "5", *options,
            ),
            tmp_path / f"worker{i}.log",
        )
        for i, share in enumerate(shares)
    ]  # fmt: skip
    for i, worker in enumerate(workers):
        try:
            code = worker.wait(timeout=240)
        except subprocess.TimeoutExpired:
            for other in workers:
                other.kill()
            raise
        assert code == 0, (tmp_path / f"worker{i}.log").read_text()[-3000:]


def evaluations(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials(states=(TrialState.COMPLETE,)) if "repeat_of" not in t.user_attrs]


def assert_sound(study: optuna.Study, total: int, nb201_benchmark) -> list[optuna.trial.FrozenTrial]:
    """Exactly ``total`` evaluations, no architecture evaluated twice, none lost or mixed up."""
    trials = study.get_trials()
    states = {t.number: t.state.name for t in trials if t.state != TrialState.COMPLETE}
    assert not states, f"trials left unfinished or failed: {states}"
    done = evaluations(study)
    assert len(done) == total
    hashes = [t.user_attrs["arch_hash"] for t in done]
    assert len(set(hashes)) == total, "an architecture was evaluated twice"
    for trial in done:
        architecture = nb201_benchmark.space.parse(trial.user_attrs["arch"])
        assert architecture.canonical_hash == trial.user_attrs["arch_hash"]
        assert trial.value == pytest.approx(nb201_benchmark(architecture)["val_accuracy"])
        assert trial.user_attrs["val_accuracy"] == trial.value
    return done


def overlapping_pairs(trials: list[optuna.trial.FrozenTrial]) -> int:
    """Pairs of trials that were running at the same moment."""
    return sum(
        a.datetime_start < b.datetime_complete and b.datetime_start < a.datetime_complete
        for a, b in combinations(trials, 2)
    )


# -- proposals in trial order (in-process, fast) -----------------------------------------------------------


def test_a_trial_proposes_only_after_earlier_running_trials_chose(tmp_path) -> None:
    """A search waits for an earlier running trial to choose its architecture, then treats it as pending."""
    space = tiny_space()  # 4 architectures
    path = tmp_path / "order.db"
    storage = open_storage(path)
    study = optuna.create_study(storage=storage, study_name="order", direction="maximize")
    other = study.ask()  # another worker's trial, still proposing

    done = threading.Event()
    results = {}

    def worker() -> None:
        results["result"] = search(
            space,
            hashed_score,
            sampler="random",
            n_trials=3,
            seed=0,
            storage=open_storage(path),
            study_name="order",
        )
        done.set()

    thread = threading.Thread(target=worker)
    thread.start()
    wait_for(lambda: len(study.get_trials()) == 2, 30, "the worker's first trial")
    time.sleep(0.5)
    mine = study.get_trials()[1]
    assert mine.state == TrialState.RUNNING and not mine.params, "the worker proposed before trial 0 chose"

    pending = trials.suggest(space, other)
    other.set_user_attr("arch", str(pending))
    other.set_user_attr("arch_hash", pending.canonical_hash)
    assert done.wait(30)
    thread.join()
    history = results["result"].history
    evaluated = history.loc[history["state"] == "COMPLETE", "arch_hash"].tolist()
    assert len(evaluated) == 3
    assert pending.canonical_hash not in evaluated  # pending: nobody proposes it again
    study.tell(other, hashed_score(pending))


def test_a_trial_stuck_proposing_is_given_up_on(tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.setattr(study_module, "PROPOSAL_WAIT_SECONDS", 0.3)
    space = tiny_space()
    storage = open_storage(tmp_path / "stuck.db")
    study = optuna.create_study(storage=storage, study_name="stuck", direction="maximize")
    study.ask()  # a worker that died while proposing, on a storage without heartbeat
    with caplog.at_level(logging.WARNING, logger="bonas"):
        result = search(space, hashed_score, n_trials=3, seed=0, storage=storage, study_name="stuck")
    assert len(result.history) == 4
    assert result.history["query"].max() == 3
    warnings = [r.getMessage() for r in caplog.records if "proposing for over" in r.getMessage()]
    assert len(warnings) == 1 and "[0]" in warnings[0]  # given up on once, not at every trial


def test_a_trial_that_started_proposing_long_ago_is_given_up_on_without_waiting(
    tmp_path, monkeypatch, caplog
) -> None:
    monkeypatch.setattr(study_module, "PROPOSAL_WAIT_SECONDS", 0.3)
    space = tiny_space()
    storage = open_storage(tmp_path / "old.db")
    study = optuna.create_study(storage=storage, study_name="old", direction="maximize")
    study.ask()  # a worker died while proposing ...
    time.sleep(0.5)  # ... longer ago than the wait when the search is resumed
    waits = []  # the wait polls the storage for stale trials after each pause
    monkeypatch.setattr(study_module, "fail_stale_trials", lambda study: waits.append(study))
    with caplog.at_level(logging.WARNING, logger="bonas"):
        result = search(space, hashed_score, n_trials=2, seed=0, storage=storage, study_name="old")
    assert result.history["query"].max() == 2 and not waits
    assert any("[0] have been proposing for over" in r.getMessage() for r in caplog.records)


def test_an_external_sampler_proposing_a_running_architecture_does_not_evaluate_it(tmp_path) -> None:
    space = tiny_space()
    storage = open_storage(tmp_path / "dup.db")
    # The architecture Optuna's RandomSampler(seed=0) proposes first is being evaluated by another worker.
    scratch = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    first = trials.suggest(space, scratch.ask())
    study = optuna.create_study(storage=storage, study_name="dup", direction="maximize")
    study.enqueue_trial(space.to_params(first))
    running = study.ask()
    architecture = trials.suggest(space, running)
    assert architecture == first
    running.set_user_attr("arch", str(architecture))
    running.set_user_attr("arch_hash", architecture.canonical_hash)
    calls = []

    def objective(arch):
        calls.append(arch.canonical_hash)
        return hashed_score(arch)

    # Optuna's RandomSampler knows nothing of pending trials: it proposes that architecture again.
    result = search(
        space,
        objective,
        sampler=optuna.samplers.RandomSampler(seed=0),
        n_trials=3,
        storage=storage,
        study_name="dup",
    )
    history = result.history
    clashes = history[
        history["fail_reason"].fillna("").str.contains("already being evaluated by running trial 0")
    ]
    assert len(clashes) > 0
    assert clashes["query"].isna().all()  # no query spent
    assert architecture.canonical_hash not in calls


def another_workers_running_trial(study: optuna.Study, space) -> optuna.Trial:
    """A trial another worker started and proposed (its architecture chosen), still being evaluated."""
    trial = study.ask()
    architecture = trials.suggest(space, trial)
    trial.set_user_attr("arch", str(architecture))
    trial.set_user_attr("arch_hash", architecture.canonical_hash)
    return trial


def test_total_trials_counts_other_workers_running_trials(tmp_path, caplog) -> None:
    space = tiny_space()
    storage = open_storage(tmp_path / "total.db", heartbeat_interval=30)  # a running trial is alive
    search(space, hashed_score, sampler="random", n_trials=2, seed=0, storage=storage, study_name="t")
    study = optuna.load_study(study_name="t", storage=storage)
    another_workers_running_trial(study, space)
    with caplog.at_level(logging.INFO, logger="bonas"):
        search(space, hashed_score, sampler="random", total_trials=3, seed=1, storage=storage, study_name="t")
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.RUNNING]  # nothing started
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "holds 2 evaluations and 1 running trial, which make total_trials=3" in said


def test_without_a_heartbeat_a_killed_workers_trial_does_not_keep_the_total_out_of_reach(tmp_path) -> None:
    """On a journal (no heartbeat) nothing ever fails a killed worker's RUNNING trial: it must not count."""
    space = tiny_space()
    storage = open_storage(f"journal:{tmp_path / 'total.log'}")
    search(space, hashed_score, sampler="random", n_trials=2, seed=0, storage=storage, study_name="t")
    study = optuna.load_study(study_name="t", storage=storage)
    another_workers_running_trial(study, space)  # and then the worker was killed
    result = search(
        space, hashed_score, sampler="random", total_trials=3, seed=1, storage=storage, study_name="t"
    )
    assert len(trials.evaluations(result.study.get_trials())) == 3


def test_a_trial_overtaken_to_the_total_by_another_worker_stops_before_proposing(
    tmp_path, monkeypatch
) -> None:
    """Another worker asks for a trial between this worker's count and its own ask: the later trial (higher
    number) starts nothing, so that the workers together do not overshoot ``total_trials``."""
    space = tiny_space()
    storage = open_storage(tmp_path / "race.db", heartbeat_interval=30)  # running trials are alive
    search(space, hashed_score, sampler="random", n_trials=2, seed=0, storage=storage, study_name="t")
    study = optuna.load_study(study_name="t", storage=storage)
    ask = optuna.Study.ask
    overtaken = []

    def ask_after_another_worker(self, *args, **kwargs):
        if not overtaken:  # once: the other worker's ask goes through here too
            overtaken.append(True)
            another_workers_running_trial(study, space)
        return ask(self, *args, **kwargs)

    monkeypatch.setattr(optuna.Study, "ask", ask_after_another_worker)
    # The trial that starts nothing is no failure of the search, even with a limit of one.
    search(space, hashed_score, sampler="random", total_trials=3, seed=1, storage=storage, study_name="t",
           max_consecutive_failures=1)  # fmt: skip
    monkeypatch.undo()
    mine = study.get_trials()[3]
    assert mine.state == TrialState.FAIL and trials.not_judged(mine) and not mine.params
    assert mine.user_attrs["fail_reason"].startswith("not started: total_trials=3 was reached")
    assert (
        len(trials.evaluations(study.get_trials())) == 2 and study.get_trials()[2].state == TrialState.RUNNING
    )


# -- heartbeat (in-process) ---------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_trial_whose_worker_died_is_failed_and_retried(tmp_path, nb201_benchmark) -> None:
    path = tmp_path / "stale.db"
    storage = open_storage(path, heartbeat_interval=1, grace_period=2)
    search(nb201_benchmark.space, nb201_benchmark, n_trials=3, seed=0, storage=storage, study_name="stale")
    study = optuna.load_study(study_name="stale", storage=storage)
    # A worker chose an architecture, sent one heartbeat and died mid-evaluation. The architecture is
    # fixed, and its isomorphism class holds only itself and none of the first search's cells, so the
    # retry evaluates it rather than reusing an isomorph's value.
    all_conv = {parameter.name: "nor_conv_3x3" for parameter in nb201_benchmark.space.parameters}
    first_hashes = {trial.user_attrs[trials.ARCH_HASH_ATTR] for trial in study.trials}
    assert nb201_benchmark.space.from_params(all_conv).canonical_hash not in first_hashes
    study.enqueue_trial(all_conv)
    dead = study.ask()
    architecture = trials.suggest(nb201_benchmark.space, dead)
    dead.set_user_attr("arch", str(architecture))
    dead.set_user_attr("arch_hash", architecture.canonical_hash)
    storage.record_heartbeat(dead._trial_id)
    time.sleep(3.2)

    result = search(
        nb201_benchmark.space, nb201_benchmark, n_trials=3, seed=1, storage=storage, study_name="stale"
    )
    history = result.history.set_index("trial")
    assert history.loc[3, "state"] == "FAIL"
    retry = history[(history.index > 3) & (history["arch_hash"] == architecture.canonical_hash)]
    assert len(retry) == 1 and retry["state"].iloc[0] == "COMPLETE"
    number = int(retry.index[0])
    assert history.loc[3, "fail_reason"] == f"worker lost (no heartbeat); retried as trial {number}"
    assert retry["value"].iloc[0] == pytest.approx(nb201_benchmark(architecture)["val_accuracy"])
    assert result.study.trials[number].system_attrs["failed_trial"] == 3
    # The dead trial counts as no query; the retry as one of this call's 3.
    assert int(history["query"].notna().sum()) == 6
    assert history.loc[history["state"] == "COMPLETE", "arch_hash"].is_unique
    # It judged no architecture: bonas show counts it as stopped, not failed.
    from bonas.reports import studies_table

    (row,) = studies_table(result.study._storage).to_dict("records")
    assert (row["failed"], row["stopped"]) == (0, 1)


# -- several worker processes ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_four_workers_share_a_sqlite_study(tmp_path, nb201_benchmark) -> None:
    path = tmp_path / "shared.db"
    run_workers(str(path), "shared", "random", [6, 6, 6, 6], tmp_path)
    study = optuna.load_study(study_name="shared", storage=f"sqlite:///{path}")
    done = assert_sound(study, 24, nb201_benchmark)
    assert overlapping_pairs(done) >= 10, "the workers never ran at the same time"


@pytest.mark.slow
def test_four_bo_workers_fantasize_over_each_others_running_trials(tmp_path, nb201_benchmark) -> None:
    path = tmp_path / "bo.db"
    run_workers(str(path), "bo", "bo-gp-wl-rbf", [3, 3, 3, 3], tmp_path, "--option", "n_initial=4")
    study = optuna.load_study(study_name="bo", storage=f"sqlite:///{path}")
    done = assert_sound(study, 12, nb201_benchmark)
    # After 4 random proposals, the GP proposed 8 while other workers' trials were running.
    model_based = sorted(done, key=lambda t: t.number)[4:]
    assert overlapping_pairs(model_based) >= 3
    # No proposal clashed with a running trial: pending trials kept the workers apart.
    assert all("fail_reason" not in t.user_attrs for t in study.trials)


@pytest.mark.slow
def test_four_workers_share_a_postgres_study(tmp_path, postgres_url, nb201_benchmark) -> None:
    run_workers(postgres_url, "pg", "regularized-evolution", [6, 6, 6, 6], tmp_path)
    study = optuna.load_study(study_name="pg", storage=postgres_url)
    done = assert_sound(study, 24, nb201_benchmark)
    assert overlapping_pairs(done) >= 10


@pytest.mark.slow
def test_kill_9_mid_search_then_resume(tmp_path, nb201_benchmark) -> None:
    path = tmp_path / "killed.db"
    storage = f"sqlite:///{path}"
    common = ["--storage", str(path), "--study", "k", "--objective", SLOWER, "--searcher", "regularized-evolution",
              "--heartbeat-interval", "1", "--grace-period", "2"]  # fmt: skip
    open_storage(path)  # the tables, so that this process and the worker do not race to create them
    worker = start(bonas("worker", *common, "--n-trials", "50"), tmp_path / "killed.log")

    def mid_trial() -> bool:
        try:
            trials = optuna.load_study(study_name="k", storage=storage).get_trials()
        except KeyError:  # the study is not created yet
            return False
        completed = sum(t.state == TrialState.COMPLETE for t in trials)
        return completed >= 3 and any(
            t.state == TrialState.RUNNING and "arch" in t.user_attrs for t in trials
        )

    try:
        wait_for(mid_trial, 120, "three completed trials and one being evaluated", pause=0.05)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    before = optuna.load_study(study_name="k", storage=storage).get_trials()
    completed_before = {
        t.number: (t.user_attrs["arch_hash"], t.value) for t in before if t.state == TrialState.COMPLETE
    }
    lost = [t for t in before if t.state == TrialState.RUNNING]
    assert len(lost) == 1
    time.sleep(2.5)  # past the grace period: the next worker finds the trial stale

    resumed = subprocess.run(
        bonas("search", *common, "--total-trials", str(len(completed_before) + 4)),
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    study = optuna.load_study(study_name="k", storage=storage)
    trials = {t.number: t for t in study.get_trials()}
    for number, (arch_hash, value) in completed_before.items():  # no completed evaluation lost
        assert trials[number].state == TrialState.COMPLETE
        assert (trials[number].user_attrs["arch_hash"], trials[number].value) == (arch_hash, value)
    dead = trials[lost[0].number]
    assert dead.state == TrialState.FAIL  # detected, never counted
    retries = [t for t in trials.values() if t.system_attrs.get("failed_trial") == dead.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].user_attrs["arch_hash"] == lost[0].user_attrs["arch_hash"]
    assert not [t for t in trials.values() if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    done = evaluations(study)
    assert len(done) == len(completed_before) + 4
    assert len({t.user_attrs["arch_hash"] for t in done}) == len(done)
    reasons = history_frame(study).set_index("trial")["fail_reason"]
    assert reasons[dead.number] == f"worker lost (no heartbeat); retried as trial {retries[0].number}"


@pytest.mark.slow
def test_a_paused_worker_whose_trial_was_declared_lost_drops_it_and_goes_on(
    tmp_path, nb201_benchmark
) -> None:
    path = tmp_path / "paused.db"
    storage = f"sqlite:///{path}"
    common = ["--storage", str(path), "--study", "p", "--objective", "tests.slow_objectives:nb201_700ms",
              "--searcher", "regularized-evolution", "--heartbeat-interval", "1", "--grace-period", "3",
              "--n-trials", "6"]  # fmt: skip
    open_storage(path)
    paused = start(bonas("worker", *common, "--seed", "0"), tmp_path / "paused.log")
    other = start(bonas("worker", *common, "--seed", "1"), tmp_path / "other.log")

    def paused_is_evaluating() -> bool:
        try:
            trials = optuna.load_study(study_name="p", storage=storage).get_trials()
        except KeyError:
            return False
        return sum(t.state == TrialState.COMPLETE for t in trials) >= 2

    try:
        wait_for(paused_is_evaluating, 120, "two completed trials", pause=0.05)
        paused.send_signal(signal.SIGSTOP)
        time.sleep(6)  # past the grace period: the other worker fails the paused one's trial
        paused.send_signal(signal.SIGCONT)
        codes = [paused.wait(timeout=180), other.wait(timeout=180)]
    finally:
        for worker in (paused, other):
            worker.kill()
    log = (tmp_path / "paused.log").read_text()
    assert codes == [0, 0], log[-3000:]
    assert "UpdateFinishedTrialError" not in log and "Traceback" not in log
    study = optuna.load_study(study_name="p", storage=storage)
    done = evaluations(study)
    assert len(done) == 12  # both shares spent: the lost trial was evaluated again, not lost
    assert len({t.user_attrs["arch_hash"] for t in done}) == 12
    assert not [t for t in study.get_trials() if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    if "declared lost by another worker" in log:  # the pause landed mid-trial (it usually does)
        history = history_frame(study)
        failed = history[history["state"] == "FAIL"]
        assert len(failed) and failed["fail_reason"].str.startswith("worker lost").all()
