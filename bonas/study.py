"""The search loop: an Optuna study that asks a sampler for architectures and tells their values.

Every searcher is an Optuna sampler over the space's parameters, so storage, resume and the dashboard
work for all of them, and the loop itself is Optuna's ``Study.optimize``: it asks for trials, runs the
objective, tells the result, records heartbeats of the running trial (when the storage has them, see
:mod:`bonas.storage`), fails the stale trials of dead workers before each trial (and re-queues them
through the storage's retry callback) and records ``optuna.TrialPruned`` as PRUNED. What bonas adds,
and why Optuna cannot do it:

* **Queries, not trials, are the budget.** A repeat or a failed proposal is a trial but spends no
  query, so ``n_trials`` counts evaluations; a callback stops ``optimize`` once this call spent them or
  the study's evaluations and running trials (every worker's) make ``total_trials``, and a trial that
  another worker's trial overtook to the total stops before proposing (Optuna's ``n_trials`` and
  ``MaxTrialsCallback`` count trials, and only those this process sees).
  ``optimize`` itself is capped at ``max_attempts`` trials, so a sampler stuck on repeats cannot loop.
* **An architecture (or an isomorph) is never evaluated twice**: a repeat gets the earlier value, is
  marked ``repeat_of`` and does not count (unless ``allow_repeats``). Optuna knows parameters, not
  isomorphism classes.
* **Proposals are made in trial-number order across workers**: a trial waits until every earlier
  running trial has chosen its architecture, so a sampler sees all of them as pending (bonas's BO
  samplers fantasize over them) and two workers never propose the same architecture. Optuna lets
  workers sample concurrently.
* **Failures keep their reason** (``fail_reason``: the objective's exception, a NaN, ``interrupted``)
  and the search goes on. Optuna logs the reason but does not store it, so the objective wrapper
  stores it and Optuna's own log lines for those trials are replaced by one bonas warning.
* **A trial another worker declared lost** (no heartbeat for the grace period: this process was paused)
  is dropped with a warning and the loop goes on; Optuna's tell of it would raise.
* **A search that cannot succeed stops early**: after ``max_consecutive_failures`` failed trials in a
  row, with the first one's reason. Optuna runs all ``n_trials``.
* **Every trial records** ``arch``, ``arch_hash``, every metric the objective returned, and the seconds
  spent proposing and evaluating; the study records the space, objective, benchmark and metric
  (see :mod:`bonas.trials`).
* **Several objectives and constraints are metrics of one result.** Optuna's multi-objective study
  takes the objectives' values; a constraint's value is computed from the metric the objective
  returned and stored where Optuna's samplers and optuna-dashboard read it, before the trial is told
  (Optuna would have the objective call ``Trial.set_constraint`` itself). A repeat gets the earlier
  evaluation's values and constraints.

(About 650 lines, one concept: the loop, and beside each piece the reason Optuna cannot do it. What
``search`` accepts is checked in :mod:`bonas.search_inputs`.)

Trial scans: a bonas sampler reads the study's trials once per trial to build its history (one full
scan); the loop reads the running trials while it waits for earlier proposals (a scan of RUNNING trials
only) and otherwise reuses the sampler's history to tell a repeat. Only with a sampler that is not
bonas's (plain Optuna samplers) does it scan the trials once more after the proposal; with
``total_trials``, it scans the COMPLETE and RUNNING trials before and after each trial.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from bonas import trials
from bonas.architecture import Architecture
from bonas.errors import (
    BonasError,
    CheapMetricsError,
    SearchSpaceExhaustedError,
    SetupError,
)
from bonas.history import SearchHistory
from bonas.samplers import ArchitectureSampler
from bonas.search_inputs import (
    MissingMetricError,
    Outcomes,
    ReservedMetricError,
    check_arguments,
    check_continuation,
    check_count,
    check_known_metrics,
    check_outcomes,
    check_study_name,
    in_stored_order,
    outcome_values,
    resolved_sampler,
)

# Re-exported where users met them first: the objective's trial, and the errors search() raises.
from bonas.search_inputs import ObjectiveError as ObjectiveError
from bonas.search_inputs import SamplerMismatchError as SamplerMismatchError
from bonas.search_inputs import StudyMismatchError as StudyMismatchError
from bonas.spaces.base import SearchSpace
from bonas.storage import (
    DEFAULT_GRACE_PERIOD,
    DEFAULT_HEARTBEAT_INTERVAL,
    StorageSpec,
    describe,
    fail_stale_trials,
    heartbeat_interval_of,
    open_storage,
    write_errors_named,
)
from bonas.trials import current_trial as current_trial

logger = logging.getLogger(__name__)

Objective = Callable[[Architecture], float | Mapping[str, float]]

#: Seconds a trial waits for earlier running trials to choose their architectures before it proposes
#: without them (they may belong to a worker that died while proposing, on a storage without heartbeat).
PROPOSAL_WAIT_SECONDS = 60.0

#: Failed trials in a row after which :func:`search` stops (``max_consecutive_failures``).
DEFAULT_MAX_CONSECUTIVE_FAILURES = 10


class SearchFailedError(BonasError, RuntimeError):
    """A search stopped because its trials kept failing (see ``max_consecutive_failures``)."""


@dataclass(frozen=True)
class ParetoMember:
    """One evaluation on a study's Pareto front.

    Args:
        trial: its trial number.
        architecture: the evaluated architecture.
        metrics: every metric the objective returned for it.
    """

    trial: int
    architecture: Architecture
    metrics: dict[str, float]


@dataclass
class SearchResult:
    """The outcome of :func:`search`.

    Args:
        best_architecture: the best evaluated architecture (by the study's direction), the best feasible
            one with constraints (None when no evaluation satisfies them); None for several objectives,
            whose answer is :attr:`pareto_front`. A search with ``allow_repeats`` (noisy values) answers
            with what its searcher recommends instead of the luckiest value: the architecture of best
            mean value (BO's race moves evaluate the contenders for it again).
        best_value: its value, the mean of its evaluations with ``allow_repeats`` (None when
            ``best_architecture`` is).
        history: one row per trial (see :func:`bonas.trials.history_frame`).
        study: the Optuna study, with every trial.
        pareto_front: the evaluations on the Pareto front of the feasible evaluations, in trial order (for
            one objective: the best feasible evaluation).
    """

    best_architecture: Architecture | None
    best_value: float | None
    history: pd.DataFrame
    study: optuna.Study
    pareto_front: list[ParetoMember] = field(default_factory=list)


def search(
    space: SearchSpace,
    objective: Objective,
    *,
    sampler: str | optuna.samplers.BaseSampler = "auto",
    n_trials: int | None = None,
    storage: StorageSpec = None,
    study_name: str | None = None,
    seed: int | None = None,
    metric: str = "val_accuracy",
    direction: str = "maximize",
    objectives: Mapping[str, str] | None = None,
    constraints: Mapping[str, tuple[str, float]] | None = None,
    allow_repeats: bool | None = None,
    batch_size: int | None = None,
    max_attempts: int | None = None,
    show_progress: bool = False,
    total_trials: int | None = None,
    heartbeat_interval: int | None = DEFAULT_HEARTBEAT_INTERVAL,
    grace_period: int | None = DEFAULT_GRACE_PERIOD,
    pruner: optuna.pruners.BasePruner | None = None,
    max_consecutive_failures: int | None = DEFAULT_MAX_CONSECUTIVE_FAILURES,
) -> SearchResult:
    """Search ``space`` for the architecture that maximises (or minimises) ``objective``.

    Args:
        space: the search space.
        objective: a callable taking an :class:`Architecture` and returning a float or a dict of metrics
            (a tabular benchmark is one). A dict must hold ``metric``.
        sampler: a searcher name (see :func:`bonas.samplers.sampler_names`; ``"auto"``, the default, picks
            bonas's best for the space and logs what it picked) or any Optuna sampler. A bonas sampler
            instance must have been built for ``space``.
        n_trials: queries to spend in this call: runs of the objective, failed ones included (their time
            was spent); repeats of an evaluated architecture, which reuse its values, do not count.
            Default: ``total_trials`` when that is given (failed runs spend some of it, so a study with
            failures ends short of the total: run again), else 100.
        storage: None for an in-memory study, an Optuna storage, a database URL
            (``sqlite:///search.db``, ``postgresql://...``), a SQLite file path or ``journal:<path>``
            (see :func:`bonas.storage.open_storage`) to persist the study, resume it later and share it
            with other workers.
        study_name: name of the study in ``storage``; an existing study of that name is continued.
        seed: seed of a sampler given by name.
        metric: key of the objective's dict that is optimised.
        direction: ``"maximize"`` or ``"minimize"``.
        objectives: several metrics to optimise at once, ``{"val_accuracy": "maximize", "latency_ms":
            "minimize"}`` (in place of ``metric`` and ``direction``): an Optuna multi-objective study
            whose result is the Pareto front. A searcher given by name gets the objective's cheap
            metrics (``objective.cheap_metrics(architecture)``, as tabular benchmarks have: latency
            tables, parameter counts) and ``auto`` picks bonas's multi-objective BO.
        constraints: bounds on metrics of the objective's dict, ``{"latency_ms": ("<=", 10.0)}``, with one
            objective or several; stored through Optuna's constraints (samplers and optuna-dashboard see
            feasibility), and the result's best is the best feasible evaluation.
        allow_repeats: evaluate architectures again if proposed again (for noisy objectives). None: the
            sampler instance's setting, False for a sampler given by name.
        batch_size: architectures a bonas sampler proposes jointly before it sees their values (BO
            chooses them with qLogNEI fantasies); each is then evaluated in turn. None: the sampler
            instance's setting, 1 for a sampler given by name.
        max_attempts: cap on trials in this call, counting repeats and failures
            (default ``10 * n_trials + 100``), so a sampler stuck on repeats cannot loop forever.
        show_progress: show a progress bar over queries.
        total_trials: also stop once the study holds this many completed evaluations (COMPLETE trials
            that are not repeats), counting earlier runs and other workers: re-running the same call
            after a crash finishes the budget. On a storage with a heartbeat, running trials count
            too, every worker's: no trial starts once the evaluations and running trials make the
            total, so workers sharing the study never overshoot it (a running trial that then fails
            leaves the study short of it: run again). Without a heartbeat (a journal file,
            ``heartbeat_interval=None``) running trials do not count, and workers may overshoot the
            total by one trial each.
        heartbeat_interval: seconds between heartbeats of a running trial, for a storage given as a
            path or URL (None: no heartbeat).
        grace_period: seconds without a heartbeat after which another worker fails the trial and
            queues it again.
        pruner: an Optuna pruner (e.g. ``optuna.pruners.MedianPruner()``, ``HyperbandPruner()``) for
            objectives that report intermediate values; None never prunes.
        max_consecutive_failures: stop with :class:`SearchFailedError` (quoting the first failure) once
            this many trials in a row failed (the objective raised or returned no usable value, or no
            valid architecture could be proposed): a search that cannot succeed stops early. None turns
            the limit off. Failed trials stay in the study.

    Returns:
        A :class:`SearchResult`.

    Raises:
        SamplerMismatchError: a bonas sampler instance was built for another space, or with another
            ``allow_repeats`` or ``batch_size`` than asked for.
        StudyMismatchError: the stored study of that name was created with another direction, metric,
            space, benchmark or objective.
        SearchFailedError: ``max_consecutive_failures`` trials in a row failed.
        TypeError, ValueError: an argument of the wrong type or out of range (the message names it).
    """
    check_count("total_trials", total_trials, optional=True)
    if n_trials is None:  # total_trials alone runs until the study holds that many
        n_trials = total_trials if total_trials is not None else 100
    check_count("n_trials", n_trials)
    check_count("max_attempts", max_attempts, optional=True)
    check_count("max_consecutive_failures", max_consecutive_failures, optional=True)
    check_arguments(space, objective, seed, metric, direction)
    check_study_name(study_name)
    outcomes = check_outcomes(objectives, constraints, metric, direction)
    check_known_metrics(objective, outcomes)
    sampler, allow_repeats = resolved_sampler(
        sampler, space, seed, allow_repeats, batch_size, outcomes=outcomes, objective=objective
    )
    storage = open_storage(storage, heartbeat_interval=heartbeat_interval, grace_period=grace_period)
    where = describe(storage)
    with write_errors_named(storage):  # the first writes: a read-only storage fails here
        study = optuna.create_study(
            storage=storage,
            study_name=study_name,
            sampler=sampler,
            directions=list(outcomes.directions),
            load_if_exists=True,
            pruner=pruner if pruner is not None else optuna.pruners.NopPruner(),
        )
        outcomes = in_stored_order(study, outcomes)  # the same constraints given in another order
        asked = trials.StudyAttributes.of_search(
            space,
            objective,
            outcomes.metrics[0],
            objectives=outcomes.objectives,
            constraints=outcomes.constraints,
        )
        check_continuation(study, asked, outcomes.directions, space)
        asked.write(study)
    # Only once the study is accepted: a refused continuation says nothing of a search that never runs.
    held = len(trials.evaluations(study.get_trials(deepcopy=False)))
    logger.info(
        "Study %r in %s holds %d evaluation%s; this search %s.",
        study.study_name,
        where,
        held,
        "" if held == 1 else "s",
        f"continues until it holds {total_trials}" if total_trials is not None else f"adds up to {n_trials}",
    )

    loop = _SearchLoop(
        study, space, objective, outcomes, allow_repeats, n_trials, total_trials, max_consecutive_failures
    )
    if total_trials is not None and sum(counts := held_and_running(study)) >= total_trials:
        log_total_reached(study.study_name, *counts, total_trials)
        result = result_of(study, space)
        return _recommended(result, sampler, space) if allow_repeats else result
    max_attempts = 10 * n_trials + 100 if max_attempts is None else max_attempts
    progress = _progress_bar(n_trials, show_progress)
    loop.progress = progress
    try:
        with _optuna_failure_logs_replaced(loop.failed_numbers):
            while loop.attempts < max_attempts and not loop.finished:
                try:
                    study.optimize(
                        loop.run_trial,
                        n_trials=max_attempts - loop.attempts,
                        catch=(_TrialFailedError,),
                        callbacks=[loop.after_trial],
                    )
                    break
                except (optuna.exceptions.UpdateFinishedTrialError, ValueError):
                    # Optuna's tell ("Cannot tell a FAIL trial") of a trial another worker declared lost
                    # (see _SearchLoop.run_trial); that worker re-queued it, so this one drops it and goes on.
                    if not loop.lost_last:
                        raise
    finally:
        progress.close()
    if loop.stopped_by_failures is not None:
        raise loop.stopped_by_failures
    if loop.queries < n_trials and not loop.reached_total:
        logger.warning("Search spent %d of %d queries in %d attempts.", loop.queries, n_trials, loop.attempts)
    result = result_of(study, space)
    return _recommended(result, sampler, space) if allow_repeats else result


def _recommended(
    result: SearchResult, sampler: optuna.samplers.BaseSampler, space: SearchSpace
) -> SearchResult:
    """A noisy search's answer: the architecture its searcher recommends (:meth:`ArchitectureSampler.recommend`:
    the best mean value; with constraints, feasible on the means of its
    constraint values first), valued at the mean of its evaluations, rather than the luckiest single
    value. Several objectives keep their Pareto answer, and so does a constrained search whose
    recommendation is infeasible on average (its best feasible evaluation stays the answer)."""
    study = result.study
    if len(study.directions) > 1 or result.best_architecture is None:
        return result
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MINIMIZE else 1.0
    if isinstance(sampler, ArchitectureSampler):
        history = sampler.history(study).at_one_fidelity()
        best = sampler.recommend(history)
    else:  # an Optuna sampler: the best mean value
        decode = lambda trial: trials.architecture_of(trial, space)  # noqa: E731
        history = trials.search_history(study.get_trials(deepcopy=False), decode, sign=sign).at_one_fidelity()
        best = history.best_mean()
    if best is None:
        return result
    mean = next(o for o in history.means() if o.architecture.canonical_hash == best.canonical_hash)
    if not mean.feasible:
        return result
    return dataclasses.replace(result, best_architecture=best, best_value=sign * mean.value)


class _TrialFailedError(Exception):
    """Raised inside the objective wrapper to have Optuna record a FAIL whose reason is stored already."""


@dataclass
class _SearchLoop:
    """One call of :func:`search`: the objective wrapper Optuna runs per trial and its stop callback."""

    study: optuna.Study
    space: SearchSpace
    objective: Objective
    outcomes: Outcomes
    allow_repeats: bool
    n_trials: int
    total_trials: int | None
    max_consecutive_failures: int | None = None
    progress: Any = None
    queries: int = 0
    attempts: int = 0
    reached_total: bool = False
    exhausted: bool = False
    #: Whether the latest trial was declared lost by another worker while this one ran it.
    lost_last: bool = False
    #: Failed trials in a row, and the first one's reason.
    consecutive_failures: int = 0
    first_failure: str | None = None
    #: The error to raise once the loop stopped on ``max_consecutive_failures``.
    stopped_by_failures: SearchFailedError | None = None
    #: Numbers of trials this loop failed itself (their reason is logged once, by bonas).
    failed_numbers: set[int] = field(default_factory=set)
    #: Trials failed without proposing because other workers' trials had reached ``total_trials``.
    not_started: set[int] = field(default_factory=set)
    #: Earlier running trials this loop stopped waiting for.
    abandoned: set[int] = field(default_factory=set)

    @property
    def finished(self) -> bool:
        return (
            self.queries >= self.n_trials
            or self.reached_total
            or self.exhausted
            or self.stopped_by_failures is not None
        )

    def run_trial(self, trial: optuna.Trial) -> float | list[float]:
        """Propose and evaluate one architecture; Optuna tells the returned value."""
        self.attempts += 1
        self.lost_last = False
        if self.total_trials is not None and self._total_started_before(trial):
            raise _TrialFailedError("total_trials reached")
        try:
            return self._propose_and_evaluate(trial)
        except KeyboardInterrupt:
            self._record_failure(trial, "interrupted")
            with suppress(optuna.exceptions.UpdateFinishedTrialError):
                trials.record_not_judged(self.study, trial._trial_id)
            raise
        except optuna.exceptions.UpdateFinishedTrialError:
            # Another worker found no heartbeat of this trial for the grace period (this process was
            # paused or starved), failed it and re-queued its architecture: this result is dropped.
            self.lost_last = True
            self.failed_numbers.add(trial.number)
            logger.warning(
                "Trial %d was declared lost by another worker (no heartbeat within the grace period) while "
                "this worker ran it; its result is dropped and the re-queued trial evaluates it again.",
                trial.number,
            )
            raise

    def _total_started_before(self, trial: optuna.Trial) -> bool:
        """Whether the study's evaluations and the trials running before this one (lower numbers) make
        ``total_trials``: another worker started a trial between this worker's count and its ask. This
        trial then fails unjudged, without proposing, and the loop stops."""
        held, running = held_and_running(self.study, below=trial.number)
        if held + running < self.total_trials:  # type: ignore[operator]
            return False
        reason = (
            f"not started: total_trials={self.total_trials} was reached by {held} evaluations and {running} "
            "running trials of other workers"
        )
        logger.info("Trial %d %s.", trial.number, reason)
        self.failed_numbers.add(trial.number)
        self.not_started.add(trial.number)
        trial.set_user_attr(trials.FAIL_REASON_ATTR, reason)
        trials.record_not_judged(self.study, trial._trial_id)
        log_total_reached(self.study.study_name, held, running, self.total_trials)  # type: ignore[arg-type]
        self.reached_total = True
        self.study.stop()
        return True

    def _propose_and_evaluate(self, trial: optuna.Trial) -> float | list[float]:
        _wait_for_earlier_proposals(self.study, self.space, trial.number, self.abandoned)
        try:
            started = time.perf_counter()
            architecture = trials.suggest(self.space, trial)
            trial.set_user_attr(trials.PROPOSE_SECONDS_ATTR, time.perf_counter() - started)
            trial.set_user_attr(trials.ARCH_ATTR, str(architecture))
            trial.set_user_attr(trials.ARCH_HASH_ATTR, architecture.canonical_hash)
        except optuna.exceptions.UpdateFinishedTrialError:
            raise
        except SearchSpaceExhaustedError as error:
            logger.warning("Stopping the search: %s", error)
            self.exhausted = True
            self.study.stop()
            with suppress(optuna.exceptions.UpdateFinishedTrialError):
                trials.record_not_judged(self.study, trial._trial_id)  # no architecture failed
            raise self._failure(trial, f"search space exhausted: {error}") from None
        except Exception as error:
            failure = self._failure(trial, f"proposal failed: {type(error).__name__}: {error}")
            if isinstance(error, CheapMetricsError):  # the user's function: every proposal would fail alike
                with suppress(optuna.exceptions.UpdateFinishedTrialError):
                    trials.record_not_judged(self.study, trial._trial_id)
                self._stop_with(
                    f": {error} Fix the objective's cheap_metrics and search again; nothing was evaluated in "
                    "this trial."
                )
            raise failure from None

        history = self._proposal_history(trial)
        if not self.allow_repeats and (history is None or not history.is_new(architecture)):
            earlier, running = _same_architecture(
                self.study, self.space, trial.number, architecture.canonical_hash
            )
            if earlier is not None:
                number, values, constraint_values = earlier
                trial.set_user_attr(trials.REPEAT_OF_ATTR, number)
                if self.outcomes.constraints:
                    trials.record_constraints(self.study, trial._trial_id, constraint_values)
                return self._told(values)
            if running is not None:
                # Only an external sampler that ignores pending trials gets here: bonas's samplers see
                # every earlier running trial's architecture before they propose.
                raise self._failure(trial, f"architecture already being evaluated by running trial {running}")

        started = time.perf_counter()
        try:
            with trials.running(trial):
                values, constraint_values, metrics = outcome_values(
                    self.objective(architecture), self.outcomes
                )
        except (KeyboardInterrupt, optuna.exceptions.UpdateFinishedTrialError):
            raise
        except optuna.TrialPruned:  # Optuna records the trial as PRUNED (and logs it)
            trial.set_user_attr(trials.OBJECTIVE_SECONDS_ATTR, time.perf_counter() - started)
            raise
        except SetupError as error:
            self._stop_with(
                f": the objective's set-up failed, not the architecture (trial {trial.number}): {error} Fix it "
                "and search again; that architecture may be proposed again."
            )
            with suppress(optuna.exceptions.UpdateFinishedTrialError):  # another worker declared it lost
                trial.set_user_attr(trials.OBJECTIVE_SECONDS_ATTR, time.perf_counter() - started)
                trials.record_not_judged(self.study, trial._trial_id)
            raise self._failure(trial, f"{type(error).__name__}: {error}") from None
        except Exception as error:
            trial.set_user_attr(trials.OBJECTIVE_SECONDS_ATTR, time.perf_counter() - started)
            # The reason stored is one line; where in the objective it arose is for the debug log (-v).
            logger.debug("Trial %d: the objective raised:", trial.number, exc_info=True)
            if isinstance(error, ObjectiveError):  # what the evaluation measured besides the bad value
                for name, kept in error.kept.items():
                    trial.set_user_attr(name, kept)
            failure = self._failure(trial, f"{type(error).__name__}: {error}", by_objective=True)
            if isinstance(error, MissingMetricError):
                self._stop_if_never_returned(error)
            elif isinstance(error, ReservedMetricError):  # the objective's code: every trial would fail alike
                self._stop_with(
                    f" after trial {trial.number}: {error} The failed trial keeps the other metrics."
                )
            raise failure from None
        trial.set_user_attr(trials.OBJECTIVE_SECONDS_ATTR, time.perf_counter() - started)
        for name, number in metrics.items():
            trial.set_user_attr(name, number)
        for name, value in zip(self.outcomes.metrics, values, strict=True):
            if not math.isfinite(value):
                raise self._failure(trial, f"objective returned {name}={value}", by_objective=True)
        if self.outcomes.constraints:
            # Non-finite like an objective's value: -inf would pass a '<=' bound as the best of all.
            broken = [
                (c.metric, metrics[c.metric])
                for c, v in zip(self.outcomes.constraints, constraint_values, strict=True)
                if not math.isfinite(v)
            ]
            if broken:
                raise self._failure(
                    trial,
                    f"objective returned {broken[0][1]} for the constraint metric {broken[0][0]!r}",
                    by_objective=True,
                )
            trials.record_constraints(self.study, trial._trial_id, constraint_values)
        return self._told(values)

    def _told(self, values: tuple[float, ...]) -> float | list[float]:
        """What Optuna is told: the value, or the list of values of a multi-objective study."""
        return list(values) if self.outcomes.is_multi_objective else values[0]

    def _proposal_history(self, trial: optuna.Trial) -> SearchHistory | None:
        """The history a bonas sampler proposed this trial's architecture from (None for others)."""
        sampler = self.study.sampler
        return sampler.proposal_history(trial) if isinstance(sampler, ArchitectureSampler) else None

    def _failure(self, trial: optuna.Trial, reason: str, *, by_objective: bool = False) -> _TrialFailedError:
        """Record why the trial fails; ``by_objective``: the objective failed on the architecture (raised, or
        returned a non-finite value), which the samplers' failure models learn from."""
        self._record_failure(trial, reason)
        if by_objective:
            with suppress(optuna.exceptions.UpdateFinishedTrialError):
                trials.record_objective_failure(self.study, trial._trial_id)
        return _TrialFailedError(reason)

    def _record_failure(self, trial: optuna.Trial, reason: str) -> None:
        """Store and log why the trial fails; Optuna then tells FAIL (a trial finished meanwhile, by an
        interrupt landing after its tell, keeps its state)."""
        self.failed_numbers.add(trial.number)
        logger.warning("Trial %d failed: %s", trial.number, reason)
        with suppress(optuna.exceptions.UpdateFinishedTrialError):
            trial.set_user_attr(trials.FAIL_REASON_ATTR, reason)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Count the trial's query; stop once this call spent ``n_trials`` or the study holds the total,
        or once ``max_consecutive_failures`` trials in a row failed."""
        if trials.spent_query(trial):
            self.queries += 1
            self.progress.update(1)
        self._count_failure(trial)
        if self.stopped_by_failures is not None or self.queries >= self.n_trials:
            study.stop()
        elif self.total_trials is not None and not self.reached_total:
            # Read afresh right before Optuna asks for the next trial: other workers' evaluations and
            # running trials count, so that workers together start no trial beyond the total.
            held, running = held_and_running(study)
            if held + running >= self.total_trials:
                log_total_reached(study.study_name, held, running, self.total_trials)
                self.reached_total = True
                study.stop()

    def _stop_with(self, reason: str) -> None:
        """End the search after this trial with ``SearchFailedError("Stopped study 'NAME'" + reason)``."""
        self.stopped_by_failures = SearchFailedError(f"Stopped study {self.study.study_name!r}{reason}")

    def _stop_if_never_returned(self, error: MissingMetricError) -> None:
        """Stop after this trial when no evaluation of the study ever returned the missing metric: a
        misspelt metric fails every trial the same way, and each one may be an hour of training."""
        if self.max_consecutive_failures is None:
            return
        completed = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if any(all(name in t.user_attrs for name in error.missing) for t in completed):
            return
        self._stop_with(
            f" after its first trial without {', '.join(map(repr, error.missing))}, which no evaluation of the "
            f"study has returned: {error} The failed trial stays in the study; fix the metric name and search "
            "again."
        )

    def _count_failure(self, trial: FrozenTrial) -> None:
        if trial.number in self.not_started:  # the total was reached: no failure of the search
            return
        if trial.state != TrialState.FAIL:
            if trial.state == TrialState.COMPLETE:
                self.consecutive_failures, self.first_failure = 0, None
            return
        self.consecutive_failures += 1
        if self.first_failure is None:
            self.first_failure = str(trial.user_attrs.get(trials.FAIL_REASON_ATTR, "no reason recorded"))
        limit = self.max_consecutive_failures
        if limit is not None and self.consecutive_failures >= limit and not self.exhausted:
            self._stop_with(
                f" after {self.consecutive_failures} failed trials in a row (max_consecutive_failures={limit}); "
                f"the first failed with: {self.first_failure}. Fix the objective or the space; the failed trials "
                "stay in the study (see their fail_reason), and max_consecutive_failures=None (on the command line "
                "--max-consecutive-failures 0) turns the limit off."
            )


def held_and_running(study: optuna.Study, *, below: int | None = None) -> tuple[int, int]:
    """The study's evaluations, and its running trials (numbered below ``below`` when given; running
    trials whose worker stopped its heartbeat are failed first, see :func:`bonas.storage.fail_stale_trials`).

    Running trials count only on a storage with a heartbeat: without one (the journal, an in-memory study,
    ``heartbeat_interval=None``) a killed worker's trial stays RUNNING for ever and would keep the study
    from reaching the total; workers sharing such a storage may then overshoot it by one trial each."""
    fail_stale_trials(study)
    counts_running = heartbeat_interval_of(study._storage) is not None
    held = running = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING)):
        if trial.state == TrialState.RUNNING:
            running += counts_running and (below is None or trial.number < below)
        else:
            held += trials.is_evaluation(trial)
    return held, running


def log_total_reached(study_name: str, held: int, running: int, total_trials: int) -> None:
    """Say why a search with ``total_trials`` starts no more trials, with the study's real counts."""
    if running == 0:
        logger.info("Study %r holds %d evaluations (total_trials=%d): done.", study_name, held, total_trials)
        return
    logger.info(
        "Study %r holds %d evaluations and %d running trial%s, which make total_trials=%d: this search starts "
        "no more (if a running trial fails or its worker was killed, the same command completes the total "
        "once it is over).",
        study_name,
        held,
        running,
        "" if running == 1 else "s",
        total_trials,
    )


@contextmanager
def _optuna_failure_logs_replaced(numbers: set[int]) -> Iterator[None]:
    """Drop Optuna's "Trial N failed ..." log lines (with a traceback) for trials bonas failed itself:
    bonas has logged their reason once already, and stored it on the trial."""
    optuna_logger = logging.getLogger("optuna.study._optimize")

    def keep(record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(message.startswith(f"Trial {n} failed") for n in numbers)

    optuna_logger.addFilter(keep)
    try:
        yield
    finally:
        optuna_logger.removeFilter(keep)


def _wait_for_earlier_proposals(
    study: optuna.Study, space: SearchSpace, number: int, abandoned: set[int]
) -> None:
    """Wait until every running trial numbered below ``number`` has chosen its architecture.

    Proposals are thereby made one at a time in trial-number order across all workers, each seeing the
    earlier ones as pending. Trials still proposing :data:`PROPOSAL_WAIT_SECONDS` after they started are
    given up on (for this loop) with a warning, at once when they started that long ago (a worker that
    died while proposing, found by a search resumed later).
    """
    deadline = time.monotonic() + PROPOSAL_WAIT_SECONDS
    pause = 0.005
    while True:
        earlier = [
            trial
            for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if trial.number < number
            and trial.number not in abandoned
            and trials.architecture_hash(trial, space) is None
        ]
        proposing = [trial.number for trial in earlier]
        if not proposing:
            return
        # Optuna stamps a trial's start with the asking worker's local clock, as datetime.now() reads it.
        now = datetime.now()
        given_up = (
            proposing
            if time.monotonic() > deadline
            else [
                t.number
                for t in earlier
                if t.datetime_start is not None
                and (now - t.datetime_start).total_seconds() > PROPOSAL_WAIT_SECONDS
            ]
        )
        if given_up:
            logger.warning(
                "Trials %s have been proposing for over %.0f s (a worker that died?); proposing without "
                "them.",
                given_up,
                PROPOSAL_WAIT_SECONDS,
            )
            abandoned.update(given_up)
            if len(given_up) == len(proposing):
                return
            continue
        time.sleep(pause)
        pause = min(2 * pause, 0.25)
        fail_stale_trials(study)


def _same_architecture(
    study: optuna.Study, space: SearchSpace, number: int, arch_hash: str
) -> tuple[tuple[int, tuple[float, ...], tuple[float, ...]] | None, int | None]:
    """The first evaluation with this architecture (number, values, constraint values), and the first
    running trial numbered below ``number`` with it."""
    earlier: tuple[int, tuple[float, ...], tuple[float, ...]] | None = None
    running: int | None = None
    for other in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING)):
        if other.number == number or trials.architecture_hash(other, space) != arch_hash:
            continue
        if trials.is_evaluation(other):
            if earlier is None or other.number < earlier[0]:
                earlier = (
                    other.number,
                    tuple(float(v) for v in other.values),
                    trials.constraint_values(other),
                )
        elif other.state == TrialState.RUNNING and other.number < number:
            running = other.number if running is None else min(running, other.number)
    return earlier, running


def result_of(study: optuna.Study, space: SearchSpace) -> SearchResult:
    """The :class:`SearchResult` of a study's trials so far (best at the highest fidelity held)."""
    history = trials.history_frame(study)
    if not any(trials.is_evaluation(t) for t in study.get_trials(deepcopy=False)):
        raise BonasError(
            f"No trial of study {study.study_name!r} completed; see the fail_reason column of the history:\n"
            f"{history[['trial', 'fail_reason']].to_string(index=False) if not history.empty else '(none)'}"
        )
    # Single objective: the best at the highest fidelity held (trials.pareto_trials).
    best_trials = trials.pareto_trials(study)
    front = [_pareto_member(study, trial, space) for trial in best_trials]
    attributes = trials.StudyAttributes.of(study)
    if not front:  # evaluations, none feasible
        logger.warning(
            "No evaluation of study %r satisfies the constraints %s; see the feasible column of the history.",
            study.study_name,
            ", ".join(map(str, attributes.constraints)),
        )
    if len(study.directions) > 1 or not front:
        return SearchResult(None, None, history, study, front)
    return SearchResult(
        best_architecture=front[0].architecture,
        best_value=float(best_trials[0].value),  # type: ignore[arg-type]
        history=history,
        study=study,
        pareto_front=front,
    )


def _pareto_member(study: optuna.Study, trial: FrozenTrial, space: SearchSpace) -> ParetoMember:
    architecture = trials.architecture_of(trial, space)
    if architecture is None:
        raise BonasError(
            f"The best trial {trial.number} of study {study.study_name!r} holds no architecture of space "
            f"{space.name!r}; was the study created by another search?"
        )
    metrics = {k: float(v) for k, v in trials.metrics_of(trial).items() if isinstance(v, int | float)}
    return ParetoMember(trial.number, architecture, metrics)


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
