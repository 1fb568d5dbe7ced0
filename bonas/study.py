"""The search loop: an Optuna study that asks a sampler for architectures and tells their values.

Every searcher is an Optuna sampler over the space's parameters, so storage, resume and the dashboard
work for all of them, and the loop itself is Optuna's ``Study.optimize``: it asks for trials, runs the
objective, tells the result, records heartbeats of the running trial (when the storage has them, see
:mod:`bonas.storage`), fails the stale trials of dead workers before each trial (and re-queues them
through the storage's retry callback) and records ``optuna.TrialPruned`` as PRUNED. What bonas adds,
and why Optuna cannot do it:

* **Queries, not trials, are the budget.** A repeat or a failed proposal is a trial but spends no
  query, so ``n_trials`` counts evaluations; a callback stops ``optimize`` once this call spent them or
  the study holds ``total_trials`` (Optuna's ``n_trials`` and ``MaxTrialsCallback`` count trials).
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
* **Every trial records** ``arch``, ``arch_hash``, every metric the objective returned, and the seconds
  spent proposing and evaluating; the study records the space, objective, benchmark and metric
  (see :mod:`bonas.trials`).

Trial scans: a bonas sampler reads the study's trials once per trial to build its history (one full
scan); the loop reads the running trials while it waits for earlier proposals (a scan of RUNNING trials
only) and otherwise reuses the sampler's history to tell a repeat and to count the study's
evaluations. Only with a sampler that is not bonas's (plain Optuna samplers) does it scan the trials once
more after the proposal.
"""

from __future__ import annotations

import logging
import math
import numbers
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from bonas import trials
from bonas.architecture import Architecture
from bonas.errors import (
    ArgumentTypeError,
    BonasError,
    InvalidArgumentError,
    SearchSpaceExhaustedError,
)
from bonas.history import SearchHistory
from bonas.samplers import ArchitectureSampler, make_sampler
from bonas.spaces.base import SearchSpace
from bonas.storage import (
    DEFAULT_GRACE_PERIOD,
    DEFAULT_HEARTBEAT_INTERVAL,
    StorageSpec,
    fail_stale_trials,
    open_storage,
)

# Re-exported: objectives documented it here before it moved to the trial schema.
from bonas.trials import current_trial as current_trial

logger = logging.getLogger(__name__)

Objective = Callable[[Architecture], float | Mapping[str, float]]

#: Seconds a trial waits for earlier running trials to choose their architectures before it proposes
#: without them (they may belong to a worker that died while proposing, on a storage without heartbeat).
PROPOSAL_WAIT_SECONDS = 60.0

#: Failed trials in a row after which :func:`search` stops (``max_consecutive_failures``).
DEFAULT_MAX_CONSECUTIVE_FAILURES = 10


class ObjectiveError(BonasError, ValueError):
    """An objective returned something that is not a number or a dict holding the searched metric."""


class StudyMismatchError(BonasError, ValueError):
    """A stored study is continued with settings (direction, metric, space, objective) other than its own."""


class SearchFailedError(BonasError, RuntimeError):
    """A search stopped because its trials kept failing (see ``max_consecutive_failures``)."""


class SamplerMismatchError(BonasError, ValueError):
    """A sampler instance was built with settings (space, repeats, batch size) other than the search's."""


@dataclass
class SearchResult:
    """The outcome of :func:`search`.

    Args:
        best_architecture: the best evaluated architecture (by the study's direction).
        best_value: its value.
        history: one row per trial (see :func:`bonas.trials.history_frame`).
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
        sampler: a searcher name (see :func:`bonas.samplers.sampler_names`) or any Optuna sampler. A
            bonas sampler instance must have been built for ``space``.
        n_trials: evaluations (queries) to spend in this call; repeats and failures do not count.
        storage: None for an in-memory study, an Optuna storage, a database URL
            (``sqlite:///search.db``, ``postgresql://...``), a SQLite file path or ``journal:<path>``
            (see :func:`bonas.storage.open_storage`) to persist the study, resume it later and share it
            with other workers.
        study_name: name of the study in ``storage``; an existing study of that name is continued.
        seed: seed of a sampler given by name.
        metric: key of the objective's dict that is optimised.
        direction: ``"maximize"`` or ``"minimize"``.
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
            after a crash finishes the budget. Workers running at the same moment may together
            overshoot it by up to one trial each; give each worker its share in ``n_trials`` instead
            where the total must be exact.
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
    _check_count("n_trials", n_trials)
    _check_count("total_trials", total_trials, optional=True)
    _check_count("max_attempts", max_attempts, optional=True)
    _check_count("max_consecutive_failures", max_consecutive_failures, optional=True)
    _check_arguments(space, objective, seed, metric, direction)
    sampler, allow_repeats = _resolved_sampler(sampler, space, seed, allow_repeats, batch_size)
    storage = open_storage(storage, heartbeat_interval=heartbeat_interval, grace_period=grace_period)
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        sampler=sampler,
        direction=direction,
        load_if_exists=True,
        pruner=pruner if pruner is not None else optuna.pruners.NopPruner(),
    )
    asked = trials.StudyAttributes.of_search(space, objective, metric)
    _check_continuation(study, asked, direction)
    asked.write(study)

    loop = _SearchLoop(
        study, space, objective, metric, allow_repeats, n_trials, total_trials, max_consecutive_failures
    )
    if total_trials is not None:
        held = len(trials.evaluations(study.get_trials(deepcopy=False)))
        if held >= total_trials:
            logger.info(
                "Study %r holds %d evaluations (total_trials=%d): done.", study.study_name, held, total_trials
            )
            return _result(study, space)
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
    return _result(study, space)


def _check_count(name: str, value: object, *, optional: bool = False) -> None:
    """Refuse a count that is not a whole number >= 1 (``1.5`` or ``"10"`` or ``True`` included)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{name} must be a whole number, got {value!r} ({type(value).__name__}).")
    if value < 1:
        raise InvalidArgumentError(f"{name} must be at least 1, got {value}.")


def _check_arguments(
    space: object, objective: object, seed: object, metric: object, direction: object
) -> None:
    if not isinstance(space, SearchSpace):
        raise ArgumentTypeError(
            f"space must be a bonas SearchSpace (e.g. NB201Space() or a CategoricalSpace), got {space!r}."
        )
    if not callable(objective):
        raise ArgumentTypeError(
            f"objective must be callable (architecture -> number or dict), got {objective!r}."
        )
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise ArgumentTypeError(f"seed must be a whole number or None, got {seed!r} ({type(seed).__name__}).")
    if seed is not None and seed < 0:
        raise InvalidArgumentError(f"seed must be at least 0, got {seed}.")
    if not isinstance(metric, str) or not metric:
        raise InvalidArgumentError(
            f"metric must be the name of one of the objective's metrics, got {metric!r}."
        )
    if direction not in ("maximize", "minimize"):
        raise InvalidArgumentError(f"direction must be 'maximize' or 'minimize', got {direction!r}.")


def _check_continuation(study: optuna.Study, asked: trials.StudyAttributes, direction: str) -> None:
    """Refuse to continue a stored study with another direction, metric, space, benchmark or objective:
    its values would mix with values of another search. Nothing is written before this check."""
    stored = trials.StudyAttributes.of(study)
    conflicts = [
        f"{name} {theirs!r} (asked: {ours!r})"
        for name, theirs, ours in (
            ("space", stored.space, asked.space),
            ("benchmark", stored.benchmark, asked.benchmark),
            ("objective", stored.objective, asked.objective),
            ("metric", stored.metric, asked.metric),
        )
        if theirs is not None and theirs != ours
    ]
    if study.direction.name.lower() != direction:
        conflicts.insert(0, f"direction {study.direction.name.lower()!r} (asked: {direction!r})")
    if conflicts:
        raise StudyMismatchError(
            f"Study {study.study_name!r} already exists with {', '.join(conflicts)}; continuing it would mix "
            "the values of two searches. Continue it with its own settings, or start a new study under "
            "another name (search(..., study_name=...), bonas search --study NAME)."
        )


def _resolved_sampler(
    sampler: str | optuna.samplers.BaseSampler,
    space: SearchSpace,
    seed: int | None,
    allow_repeats: bool | None,
    batch_size: int | None,
) -> tuple[optuna.samplers.BaseSampler, bool]:
    """The sampler to run and whether repeats are evaluated, after checking an instance's settings."""
    if isinstance(sampler, str):
        options: dict[str, Any] = {}
        if allow_repeats:
            options["allow_repeats"] = True
        if batch_size is not None and batch_size != 1:
            options["batch_size"] = batch_size
        return make_sampler(sampler, space, seed=seed, **options), bool(allow_repeats)
    if not isinstance(sampler, ArchitectureSampler):
        if batch_size is not None and batch_size != 1:
            raise SamplerMismatchError(
                f"batch_size={batch_size} needs a bonas sampler; {type(sampler).__name__} proposes one "
                "trial at a time."
            )
        return sampler, bool(allow_repeats)
    if not sampler.space_matches(space):
        raise SamplerMismatchError(
            f"The sampler {sampler!r} was built for space {sampler.space!r}, but the search is over "
            f"{space!r}; build it with make_sampler(name, space) for the space you search."
        )
    for name, asked, built in (
        ("allow_repeats", allow_repeats, sampler.allow_repeats),
        ("batch_size", batch_size, sampler.batch_size),
    ):
        if asked is not None and asked != built:
            raise SamplerMismatchError(
                f"search(..., {name}={asked!r}) but the sampler {sampler!r} was built with {name}={built!r}; "
                f"give {name} to the sampler's constructor (make_sampler(..., {name}={asked!r}))."
            )
    return sampler, sampler.allow_repeats


class _TrialFailedError(Exception):
    """Raised inside the objective wrapper to have Optuna record a FAIL whose reason is stored already."""


@dataclass
class _SearchLoop:
    """One call of :func:`search`: the objective wrapper Optuna runs per trial and its stop callback."""

    study: optuna.Study
    space: SearchSpace
    objective: Objective
    metric: str
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
    #: Earlier running trials this loop stopped waiting for.
    abandoned: set[int] = field(default_factory=set)
    #: Study-wide evaluations other than the current trial's, when known from the proposal's history.
    _evaluations_before: int | None = None

    @property
    def finished(self) -> bool:
        return (
            self.queries >= self.n_trials
            or self.reached_total
            or self.exhausted
            or self.stopped_by_failures is not None
        )

    def run_trial(self, trial: optuna.Trial) -> float:
        """Propose and evaluate one architecture; Optuna tells the returned value."""
        self.attempts += 1
        self._evaluations_before = None
        self.lost_last = False
        try:
            return self._propose_and_evaluate(trial)
        except KeyboardInterrupt:
            self._record_failure(trial, "interrupted")
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

    def _propose_and_evaluate(self, trial: optuna.Trial) -> float:
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
            raise self._failure(trial, f"search space exhausted: {error}") from None
        except Exception as error:
            raise self._failure(trial, f"proposal failed: {type(error).__name__}: {error}") from None

        history = self._proposal_history(trial)
        if history is not None:
            self._evaluations_before = len(history.observations)
        if not self.allow_repeats and (history is None or not history.is_new(architecture)):
            earlier, running, evaluations = _same_architecture(
                self.study, self.space, trial.number, architecture.canonical_hash
            )
            self._evaluations_before = evaluations
            if earlier is not None:
                trial.set_user_attr(trials.REPEAT_OF_ATTR, earlier[0])
                return earlier[1]
            if running is not None:
                # Only an external sampler that ignores pending trials gets here: bonas's samplers see
                # every earlier running trial's architecture before they propose.
                raise self._failure(trial, f"architecture already being evaluated by running trial {running}")

        started = time.perf_counter()
        try:
            with trials.running(trial):
                value, metrics = _metrics(self.objective(architecture), self.metric)
        except (KeyboardInterrupt, optuna.exceptions.UpdateFinishedTrialError):
            raise
        except optuna.TrialPruned:  # Optuna records the trial as PRUNED (and logs it)
            trial.set_user_attr(trials.OBJECTIVE_SECONDS_ATTR, time.perf_counter() - started)
            raise
        except Exception as error:
            trial.set_user_attr(trials.OBJECTIVE_SECONDS_ATTR, time.perf_counter() - started)
            raise self._failure(trial, f"{type(error).__name__}: {error}") from None
        trial.set_user_attr(trials.OBJECTIVE_SECONDS_ATTR, time.perf_counter() - started)
        for name, number in metrics.items():
            trial.set_user_attr(name, number)
        if not math.isfinite(value):
            raise self._failure(trial, f"objective returned {self.metric}={value}")
        return value

    def _proposal_history(self, trial: optuna.Trial) -> SearchHistory | None:
        """The history a bonas sampler proposed this trial's architecture from (None for others)."""
        sampler = self.study.sampler
        return sampler.proposal_history(trial) if isinstance(sampler, ArchitectureSampler) else None

    def _failure(self, trial: optuna.Trial, reason: str) -> _TrialFailedError:
        self._record_failure(trial, reason)
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
        elif self.total_trials is not None:
            before = self._evaluations_before
            if before is None:
                before = len(trials.evaluations(study.get_trials(deepcopy=False))) - trials.is_evaluation(
                    trial
                )
            if before + trials.is_evaluation(trial) >= self.total_trials:
                logger.info("Study %r holds %d evaluations: done.", study.study_name, self.total_trials)
                self.reached_total = True
                study.stop()

    def _count_failure(self, trial: FrozenTrial) -> None:
        if trial.state != TrialState.FAIL:
            if trial.state == TrialState.COMPLETE:
                self.consecutive_failures, self.first_failure = 0, None
            return
        self.consecutive_failures += 1
        if self.first_failure is None:
            self.first_failure = str(trial.user_attrs.get(trials.FAIL_REASON_ATTR, "no reason recorded"))
        limit = self.max_consecutive_failures
        if limit is not None and self.consecutive_failures >= limit and not self.exhausted:
            self.stopped_by_failures = SearchFailedError(
                f"Stopped study {self.study.study_name!r} after {self.consecutive_failures} failed trials in a "
                f"row (max_consecutive_failures={limit}); the first failed with: {self.first_failure}. Fix "
                "the objective or the space; the failed trials stay in the study (see their fail_reason), "
                "and max_consecutive_failures=None turns the limit off."
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
    earlier ones as pending. Trials still proposing after :data:`PROPOSAL_WAIT_SECONDS` are given up
    on (for this loop) with a warning.
    """
    deadline = time.monotonic() + PROPOSAL_WAIT_SECONDS
    pause = 0.005
    while True:
        proposing = [
            trial.number
            for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if trial.number < number and trials.architecture_hash(trial, space) is None
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
) -> tuple[tuple[int, float] | None, int | None, int]:
    """The first evaluation with this architecture (number, value), the first running trial numbered
    below ``number`` with it, and the study's evaluations other than trial ``number``."""
    earlier: tuple[int, float] | None = None
    running: int | None = None
    count = 0
    for other in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING)):
        if other.number == number:
            continue
        evaluation = trials.is_evaluation(other)
        count += evaluation
        if trials.architecture_hash(other, space) != arch_hash:
            continue
        if evaluation:
            if earlier is None or other.number < earlier[0]:
                earlier = (other.number, float(other.value))  # type: ignore[arg-type]
        elif other.state == TrialState.RUNNING and other.number < number:
            running = other.number if running is None else min(running, other.number)
    return earlier, running, count


def _metrics(result: Any, metric: str) -> tuple[float, dict[str, float]]:
    """The searched value and every metric of an objective's result, each checked to be a number."""
    if isinstance(result, Mapping):
        if metric not in result:
            raise ObjectiveError(
                f"The objective returned metrics {sorted(map(str, result))} without {metric!r}; return it or "
                f"pass search(..., metric=<one of those>)."
            )
        metrics = {str(name): _number(value, f"metric {name!r}") for name, value in result.items()}
        return metrics[metric], metrics
    value = _number(result, "value", metric=metric)
    return value, {metric: value}


def _number(value: Any, what: str, *, metric: str | None = None) -> float:
    """``value`` as a float, refusing what only looks like a number (``"91.5"``, ``True``)."""
    is_bool = isinstance(value, bool) or type(value).__name__ == "bool_"
    if not is_bool and not isinstance(value, str | bytes) and hasattr(type(value), "__float__"):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    expected = "a number" if metric is None else f"a number or a dict of metrics holding {metric!r}"
    raise ObjectiveError(
        f"The objective returned {what} {value!r} ({type(value).__name__}); it must be {expected}"
        + (" (convert the string with float())." if isinstance(value, str) else ".")
    )


def _result(study: optuna.Study, space: SearchSpace) -> SearchResult:
    history = trials.history_frame(study)
    try:
        best = study.best_trial
    except ValueError:
        raise BonasError(
            f"No trial of study {study.study_name!r} completed; see the fail_reason column of the history:\n"
            f"{history[['trial', 'fail_reason']].to_string(index=False) if not history.empty else '(none)'}"
        ) from None
    architecture = trials.architecture_of(best, space)
    if architecture is None:
        raise BonasError(
            f"The best trial {best.number} of study {study.study_name!r} holds no architecture of space "
            f"{space.name!r}; was the study created by another search?"
        )
    return SearchResult(
        best_architecture=architecture,
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
