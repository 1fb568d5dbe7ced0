"""The search loop: an Optuna study that asks a sampler for architectures and tells their values.

Every searcher is an Optuna sampler over the space's parameters, so storage, resume and the dashboard
work for all of them. The loop adds what NAS needs on top:

* an architecture (or an isomorph) is never evaluated twice: a repeat gets the earlier value, is marked
  with the user attribute ``repeat_of`` and does not count as a query (unless ``allow_repeats``);
* an objective that raises or returns NaN fails its trial with the reason (user attribute
  ``fail_reason``) and the search goes on;
* an objective may report intermediate values to the running trial (:func:`current_trial`) so that
  the study's pruner stops bad candidates early: raising ``optuna.TrialPruned`` records the trial as
  PRUNED (multi-fidelity search), not as a failure;
* every trial records ``arch``, ``arch_hash``, every metric the objective returned, and the seconds
  spent proposing (``propose_seconds``) and evaluating (``objective_seconds``); the study records the
  space, objective (and ``benchmark`` for a tabular one) and metric, so it reads without bonas;
* several processes (or machines) can run :func:`search` on one stored study at once. Proposals are
  made in trial-number order: a trial waits until every earlier running trial has chosen its
  architecture, so a sampler sees all of them as pending (bonas's BO samplers fantasize over them) and
  no two workers propose the same architecture. A running trial sends heartbeats when the storage has
  them (see :mod:`bonas.storage`); one whose worker died is failed and retried, never counted.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import optuna
import pandas as pd
from optuna.trial import TrialState

from bonas.architecture import Architecture
from bonas.errors import BonasError, InvalidArchitectureError, SearchSpaceExhaustedError
from bonas.samplers import ArchitectureSampler, make_sampler
from bonas.samplers.base import REPEAT_OF_ATTR
from bonas.spaces.base import SearchSpace
from bonas.storage import (
    DEFAULT_GRACE_PERIOD,
    DEFAULT_HEARTBEAT_INTERVAL,
    StorageSpec,
    fail_stale_trials,
    heartbeat_interval_of,
    open_storage,
)

logger = logging.getLogger(__name__)

_CURRENT_TRIAL: ContextVar[optuna.Trial | None] = ContextVar("bonas_current_trial", default=None)


def current_trial() -> optuna.Trial | None:
    """The Optuna trial whose objective is running in this context, None outside :func:`search`.

    An objective calls ``trial.report(value, step)`` on it and raises ``optuna.TrialPruned`` when
    ``trial.should_prune()`` (see :func:`bonas.objectives.train`).
    """
    return _CURRENT_TRIAL.get()


Objective = Callable[[Architecture], float | Mapping[str, float]]

ARCH_ATTR = "arch"
ARCH_HASH_ATTR = "arch_hash"
FAIL_REASON_ATTR = "fail_reason"
PROPOSE_SECONDS_ATTR = "propose_seconds"
OBJECTIVE_SECONDS_ATTR = "objective_seconds"
#: System attribute (set by Optuna's RetryHeartbeatStaleTrialCallback) listing the trials a retry repeats.
RETRY_HISTORY_ATTR = "retry_history"
#: ``fail_reason`` of a trial failed by the heartbeat check (Optuna cannot annotate a finished trial).
LOST_WORKER_REASON = "worker lost (no heartbeat)"
#: Seconds a trial waits for earlier running trials to choose their architectures before it proposes
#: without them (they may belong to a worker that died while proposing, on a storage without heartbeat).
PROPOSAL_WAIT_SECONDS = 60.0
_BOOKKEEPING_ATTRS = {
    ARCH_ATTR,
    ARCH_HASH_ATTR,
    FAIL_REASON_ATTR,
    PROPOSE_SECONDS_ATTR,
    OBJECTIVE_SECONDS_ATTR,
}


class ObjectiveError(BonasError, ValueError):
    """An objective returned something that is not a number or a dict holding the searched metric."""


@dataclass
class SearchResult:
    """The outcome of :func:`search`.

    Args:
        best_architecture: the best evaluated architecture (by the study's direction).
        best_value: its value.
        history: one row per trial (see :func:`history_frame`).
        study: the Optuna study, with every trial.
    """

    best_architecture: Architecture
    best_value: float
    history: pd.DataFrame
    study: optuna.Study


def search(
    space: SearchSpace,
    objective: Objective,
    *,
    sampler: str | optuna.samplers.BaseSampler = "random",
    n_trials: int = 100,
    storage: StorageSpec = None,
    study_name: str | None = None,
    seed: int | None = None,
    metric: str = "val_accuracy",
    direction: str = "maximize",
    allow_repeats: bool = False,
    max_attempts: int | None = None,
    show_progress: bool = False,
    total_trials: int | None = None,
    heartbeat_interval: int | None = DEFAULT_HEARTBEAT_INTERVAL,
    grace_period: int | None = DEFAULT_GRACE_PERIOD,
    pruner: optuna.pruners.BasePruner | None = None,
) -> SearchResult:
    """Search ``space`` for the architecture that maximises (or minimises) ``objective``.

    Args:
        space: the search space.
        objective: a callable taking an :class:`Architecture` and returning a float or a dict of metrics
            (a tabular benchmark is one). A dict must hold ``metric``.
        sampler: a searcher name (see :func:`bonas.samplers.sampler_names`) or any Optuna sampler.
        n_trials: evaluations (queries) to spend in this call; repeats and failures do not count.
        storage: None for an in-memory study, an Optuna storage, a database URL
            (``sqlite:///search.db``, ``postgresql://...``), a SQLite file path or ``journal:<path>``
            (see :func:`bonas.storage.open_storage`) to persist the study, resume it later and share it
            with other workers.
        study_name: name of the study in ``storage``; an existing study of that name is continued.
        seed: seed of a sampler given by name.
        metric: key of the objective's dict that is optimised.
        direction: ``"maximize"`` or ``"minimize"``.
        allow_repeats: evaluate architectures again if proposed again (for noisy objectives).
        max_attempts: cap on trials in this call, counting repeats and failures
            (default ``10 * n_trials + 100``), so a sampler stuck on repeats cannot loop forever.
        show_progress: show a progress bar over queries.
        total_trials: also stop once the study holds this many completed evaluations (COMPLETE trials
            that are not repeats), counting earlier runs and other workers: re-running the same call
            after a crash finishes the budget. Workers running at the same moment may together
            overshoot it by up to one trial each; give each worker its share in ``n_trials`` instead
            where the total must be exact.
        heartbeat_interval: seconds between heartbeats of a running trial, for a storage given as a
            path or URL (None: no heartbeat).
        grace_period: seconds without a heartbeat after which another worker fails the trial and
            queues it again.
        pruner: an Optuna pruner (e.g. ``optuna.pruners.MedianPruner()``, ``HyperbandPruner()``) for
            objectives that report intermediate values; None never prunes.

    Returns:
        A :class:`SearchResult`.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}.")
    if total_trials is not None and total_trials < 1:
        raise ValueError(f"total_trials must be at least 1, got {total_trials}.")
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction must be 'maximize' or 'minimize', got {direction!r}.")
    if isinstance(sampler, str):
        sampler = make_sampler(sampler, space, seed=seed)
        if isinstance(sampler, ArchitectureSampler):
            sampler.allow_repeats = allow_repeats
    storage = open_storage(storage, heartbeat_interval=heartbeat_interval, grace_period=grace_period)
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        sampler=sampler,
        direction=direction,
        load_if_exists=True,
        pruner=pruner if pruner is not None else optuna.pruners.NopPruner(),
    )
    _record_study_attrs(study, space, objective, metric)

    max_attempts = 10 * n_trials + 100 if max_attempts is None else max_attempts
    queries = attempts = 0
    reached_total = False
    loop = _SearchLoop(study, space, objective, metric, allow_repeats)
    progress = _progress_bar(n_trials, show_progress)
    try:
        while queries < n_trials and attempts < max_attempts:
            if total_trials is not None and _completed_queries(study) >= total_trials:
                logger.info("Study %r holds %d evaluations: done.", study.study_name, total_trials)
                reached_total = True
                break
            attempts += 1
            try:
                queried = _run_trial(loop)
            except SearchSpaceExhaustedError as error:
                logger.warning("Stopping the search: %s", error)
                break
            if queried:
                queries += 1
                progress.update(1)
    finally:
        progress.close()
    if queries < n_trials and not reached_total:
        logger.warning("Search spent %d of %d queries in %d attempts.", queries, n_trials, attempts)
    return _result(study, space)


def _record_study_attrs(study: optuna.Study, space: SearchSpace, objective: Objective, metric: str) -> None:
    from bonas.tabular.base import TabularBenchmark

    study.set_user_attr("space", space.name)
    name = getattr(objective, "name", getattr(objective, "__name__", repr(objective)))
    study.set_user_attr("objective", name)
    if isinstance(objective, TabularBenchmark):
        study.set_user_attr("benchmark", objective.name)
    study.set_user_attr("metric", metric)


@dataclass
class _SearchLoop:
    """One search loop: what each of its trials needs, and earlier trials it stopped waiting for."""

    study: optuna.Study
    space: SearchSpace
    objective: Objective
    metric: str
    allow_repeats: bool
    abandoned: set[int] = field(default_factory=set)


def _run_trial(loop: _SearchLoop) -> bool:
    """Run one trial; True if it spent a query on the objective."""
    study = loop.study
    fail_stale_trials(study)
    with warnings.catch_warnings():
        # Optuna warns that heartbeats are meant for Study.optimize; this loop sends its own.
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        trial = study.ask()
    with _heartbeat(study, trial):
        try:
            return _propose_and_evaluate(loop, trial)
        except KeyboardInterrupt:
            _fail_if_running(study, trial, "interrupted")
            raise


def _propose_and_evaluate(loop: _SearchLoop, trial: optuna.Trial) -> bool:
    study, space = loop.study, loop.space
    _wait_for_earlier_proposals(study, space, trial.number, loop.abandoned)
    try:
        started = time.perf_counter()
        architecture = space.suggest(trial)
        trial.set_user_attr(PROPOSE_SECONDS_ATTR, time.perf_counter() - started)
        trial.set_user_attr(ARCH_ATTR, str(architecture))
        trial.set_user_attr(ARCH_HASH_ATTR, architecture.canonical_hash)
    except SearchSpaceExhaustedError as error:
        _fail(study, trial, f"search space exhausted: {error}")
        raise
    except Exception as error:
        _fail(study, trial, f"proposal failed: {type(error).__name__}: {error}")
        return False

    if not loop.allow_repeats:
        earlier, running = _same_architecture(study, space, trial.number, architecture.canonical_hash)
        if earlier is not None:
            trial.set_user_attr(REPEAT_OF_ATTR, earlier[0])
            study.tell(trial, earlier[1])
            return False
        if running is not None:
            # Only an external sampler that ignores pending trials gets here: bonas's samplers see
            # every earlier running trial's architecture before they propose.
            _fail(study, trial, f"architecture already being evaluated by running trial {running}")
            return False

    started = time.perf_counter()
    token = _CURRENT_TRIAL.set(trial)
    try:
        value, metrics = _metrics(loop.objective(architecture), loop.metric)
    except KeyboardInterrupt:
        raise
    except optuna.TrialPruned as pruned:
        trial.set_user_attr(OBJECTIVE_SECONDS_ATTR, time.perf_counter() - started)
        logger.info("Trial %d pruned: %s", trial.number, pruned)
        study.tell(trial, state=TrialState.PRUNED)
        return True
    except Exception as error:
        trial.set_user_attr(OBJECTIVE_SECONDS_ATTR, time.perf_counter() - started)
        _fail(study, trial, f"{type(error).__name__}: {error}")
        return True
    finally:
        _CURRENT_TRIAL.reset(token)
    trial.set_user_attr(OBJECTIVE_SECONDS_ATTR, time.perf_counter() - started)
    for name, number in metrics.items():
        trial.set_user_attr(name, number)
    if not math.isfinite(value):
        _fail(study, trial, f"objective returned {loop.metric}={value}")
        return True
    study.tell(trial, value)
    return True


def _wait_for_earlier_proposals(
    study: optuna.Study, space: SearchSpace, number: int, abandoned: set[int]
) -> None:
    """Wait until every running trial numbered below ``number`` has chosen its architecture.

    Proposals are thereby made one at a time in trial-number order across all workers, each seeing the
    earlier ones as pending. Trials still proposing after :data:`PROPOSAL_WAIT_SECONDS` are given up
    on (for this loop) with a warning.
    """
    deadline = time.monotonic() + PROPOSAL_WAIT_SECONDS
    pause = 0.005
    while True:
        proposing = [
            trial.number
            for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if trial.number < number and _architecture_hash(space, trial) is None
        ]
        proposing = [n for n in proposing if n not in abandoned]
        if not proposing:
            return
        if time.monotonic() > deadline:
            logger.warning(
                "Trials %s have been proposing for over %.0f s (a worker that died?); proposing without "
                "them.",
                proposing,
                PROPOSAL_WAIT_SECONDS,
            )
            abandoned.update(proposing)
            return
        time.sleep(pause)
        pause = min(2 * pause, 0.25)
        fail_stale_trials(study)


def _same_architecture(
    study: optuna.Study, space: SearchSpace, number: int, arch_hash: str
) -> tuple[tuple[int, float] | None, int | None]:
    """The first COMPLETE non-repeat trial with this architecture (number, value), and the first running
    trial numbered below ``number`` with it."""
    earlier: tuple[int, float] | None = None
    running: int | None = None
    for other in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING)):
        if other.number == number or _architecture_hash(space, other) != arch_hash:
            continue
        if other.state == TrialState.COMPLETE and REPEAT_OF_ATTR not in other.user_attrs:
            if earlier is None or other.number < earlier[0]:
                earlier = (other.number, float(other.value))  # type: ignore[arg-type]
        elif other.state == TrialState.RUNNING and other.number < number:
            running = other.number if running is None else min(running, other.number)
    return earlier, running


def _architecture_hash(space: SearchSpace, trial: optuna.trial.FrozenTrial) -> str | None:
    """The canonical hash of a trial's architecture: its ``arch_hash`` attribute, else decoded from its
    parameters (a trial created outside this loop), None while it has not chosen one."""
    recorded = trial.user_attrs.get(ARCH_HASH_ATTR)
    if recorded is not None:
        return str(recorded)
    if not trial.params:
        return None
    try:
        return space.from_params(trial.params).canonical_hash
    except InvalidArchitectureError:  # parameters still being suggested, or of another space
        return None


def _completed_queries(study: optuna.Study) -> int:
    """COMPLETE trials of the study that are not repeats."""
    return sum(
        REPEAT_OF_ATTR not in trial.user_attrs
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    )


@contextmanager
def _heartbeat(study: optuna.Study, trial: optuna.Trial) -> Iterator[None]:
    """Record the trial's heartbeat every interval while the block runs (if the storage has them)."""
    storage = study._storage
    interval = heartbeat_interval_of(storage)
    if interval is None:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            try:
                storage.record_heartbeat(trial._trial_id)  # type: ignore[attr-defined]
            except Exception as error:  # a database hiccup: the next beat may get through
                logger.warning("Heartbeat of trial %d failed: %s", trial.number, error)
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name=f"bonas-heartbeat-{trial.number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _metrics(result: Any, metric: str) -> tuple[float, dict[str, float]]:
    if isinstance(result, Mapping):
        if metric not in result:
            raise ObjectiveError(
                f"The objective returned metrics {sorted(result)} without {metric!r}; return it or pass "
                f"search(..., metric=<one of those>)."
            )
        metrics = {str(name): float(value) for name, value in result.items()}
        return metrics[metric], metrics
    try:
        value = float(result)
    except (TypeError, ValueError):
        raise ObjectiveError(
            f"The objective returned {result!r}; it must return a number or a dict of metrics holding {metric!r}."
        ) from None
    return value, {metric: value}


def _fail(study: optuna.Study, trial: optuna.Trial, reason: str) -> None:
    logger.warning("Trial %d failed: %s", trial.number, reason)
    trial.set_user_attr(FAIL_REASON_ATTR, reason)
    study.tell(trial, state=TrialState.FAIL)


def _fail_if_running(study: optuna.Study, trial: optuna.Trial, reason: str) -> None:
    """Fail the trial unless it already finished (an interrupt can land after its tell)."""
    with suppress(optuna.exceptions.UpdateFinishedTrialError):
        _fail(study, trial, reason)


def history_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: ``trial``, ``state``, ``query`` (1-based count of evaluations, NA for repeats
    and proposal failures), ``arch``, ``arch_hash``, ``value``, ``repeat_of``, ``fail_reason``,
    ``propose_seconds``, ``objective_seconds`` and one column per metric.

    A trial failed because its worker stopped sending heartbeats has the ``fail_reason``
    ``"worker lost (no heartbeat)"``, naming the trial that retried it if any."""
    trials = study.get_trials(deepcopy=False)
    retried_as = {
        trial.system_attrs[RETRY_HISTORY_ATTR][-1]: trial.number
        for trial in trials
        if trial.system_attrs.get(RETRY_HISTORY_ATTR)
    }
    rows = []
    query = 0
    for trial in trials:
        attrs = trial.user_attrs
        spent = OBJECTIVE_SECONDS_ATTR in attrs and REPEAT_OF_ATTR not in attrs
        query += spent
        row: dict[str, Any] = {
            "trial": trial.number,
            "state": trial.state.name,
            "query": query if spent else pd.NA,
            "arch": attrs.get(ARCH_ATTR),
            "arch_hash": attrs.get(ARCH_HASH_ATTR),
            "value": trial.value,
            "repeat_of": attrs.get(REPEAT_OF_ATTR),
            "fail_reason": attrs.get(FAIL_REASON_ATTR),
            "propose_seconds": attrs.get(PROPOSE_SECONDS_ATTR),
            "objective_seconds": attrs.get(OBJECTIVE_SECONDS_ATTR),
        }
        if trial.state == TrialState.FAIL and row["fail_reason"] is None:
            row["fail_reason"] = LOST_WORKER_REASON + (
                f"; retried as trial {retried_as[trial.number]}" if trial.number in retried_as else ""
            )
        row.update({k: v for k, v in attrs.items() if k not in _BOOKKEEPING_ATTRS and k != REPEAT_OF_ATTR})
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["query"] = frame["query"].astype("Int64")
    return frame


def _result(study: optuna.Study, space: SearchSpace) -> SearchResult:
    history = history_frame(study)
    try:
        best = study.best_trial
    except ValueError:
        raise BonasError(
            f"No trial of study {study.study_name!r} completed; see the fail_reason column of the history:\n"
            f"{history[['trial', 'fail_reason']].to_string(index=False) if not history.empty else '(none)'}"
        ) from None
    return SearchResult(
        best_architecture=space.parse(best.user_attrs[ARCH_ATTR]),
        best_value=float(best.value),  # type: ignore[arg-type]
        history=history,
        study=study,
    )


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, show: bool) -> Any:
    if not show:
        return _NoProgress()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="queries", unit="query")
