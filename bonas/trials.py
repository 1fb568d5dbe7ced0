"""The trial schema: what bonas writes on Optuna trials and studies, and how it reads them back.

Every searcher runs as an Optuna study, so a stored study must read without bonas (optuna-dashboard,
``optuna.load_study``) and with it (resume, workers, ``bonas show``). This module is the one place that
knows the names bonas writes and the rules for reading them:

* **trial user attributes**: ``arch`` (the architecture string), ``arch_hash`` (its canonical hash),
  ``repeat_of`` (the trial whose value a repeated architecture got), ``fail_reason``,
  ``propose_seconds``, ``objective_seconds``, ``fidelity`` (how the value was measured:
  ``weight-sharing`` or ``stand-alone``, written by objectives that know), ``retrain_of`` (on a
  stand-alone retraining, the trial that scored it), and every metric the objective returned under
  its own name;
* **study user attributes**: ``space``, ``objective``, ``benchmark`` (for a tabular benchmark) and
  ``metric``, so the study alone says what was searched; ``supernet_checkpoint``, the file of a
  weight-sharing objective's supernet, so a resumed search continues from its weights; a
  multi-objective study also records ``objectives`` (``[[metric, direction], ...]``, the order of the
  trials' values, which are also Optuna's metric names) and a constrained one ``constraints``
  (``[[metric, "<=", bound], ...]``);
* **fidelities** (:func:`best_evaluation`): a study may hold weight-sharing scores and stand-alone
  trainings of the same candidates; the best architecture is the best at the highest fidelity held;
* **constraints** (:func:`record_constraints`): each trial's constraint values (<= 0: satisfied) in the
  trial system attribute ``constraints``, a list in the study's constraint order. That is Optuna's own
  key (``optuna.study._constrained_optimization._CONSTRAINTS_KEY``, read by ``FrozenTrial.constraints``,
  so Optuna's samplers and ``Study.best_trials`` see feasibility), in the list form optuna-dashboard
  0.21 reads (it does not read the per-name keys of ``Trial.set_constraint``);
* **the evaluation rule** (:func:`is_evaluation`): a COMPLETE trial with finite values that is not a
  repeat. That is what counts as a query, what samplers learn from and what ``bonas show`` counts;
* **a trial's architecture** (:func:`architecture_of`): decoded from its parameters, else parsed from
  its ``arch`` attribute;
* **the Optuna mapping of a space** (:func:`distributions`, :func:`suggest`): one categorical Optuna
  parameter per space parameter, suggested in the space's order;
* **the history frame** (:func:`history_frame`): one row per trial, what :class:`bonas.SearchResult`
  holds;
* **the running trial** (:func:`current_trial`): the Optuna trial whose objective runs in this
  context, so an objective can report intermediate values without taking the trial as an argument.

(About 510 lines, one concept: the trial schema. Every attribute name and every rule that reads them is
here so that no other module knows one; objectives, constraints and fidelities added to it.)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState

from bonas.architecture import Architecture, ParamValue
from bonas.errors import InvalidArchitectureError
from bonas.history import FIDELITY_ORDER, Constraint, Observation, SearchHistory, fidelity_rank
from bonas.spaces.base import SearchSpace

if TYPE_CHECKING:
    import pandas as pd

# -- Trial user attributes -------------------------------------------------------------------------------

#: The architecture's string form (``str(architecture)``).
ARCH_ATTR = "arch"
#: The architecture's canonical hash (equal for isomorphic cells).
ARCH_HASH_ATTR = "arch_hash"
#: On a trial whose architecture repeats an earlier evaluation: that trial's number.
REPEAT_OF_ATTR = "repeat_of"
#: Why a trial failed (an objective's exception, a NaN value, an interrupt...).
FAIL_REASON_ATTR = "fail_reason"
#: Seconds the sampler spent choosing the architecture.
PROPOSE_SECONDS_ATTR = "propose_seconds"
#: Seconds the objective spent evaluating it (present once the objective ran: the trial spent a query).
OBJECTIVE_SECONDS_ATTR = "objective_seconds"
#: The epoch after which a pruner stopped a training objective (see :func:`bonas.objectives.train`).
PRUNED_AT_EPOCH_ATTR = "pruned_at_epoch"

#: How the value was measured (one of :data:`FIDELITIES`); absent for objectives with one fidelity.
FIDELITY_ATTR = "fidelity"
#: Validation accuracy with weights inherited from a supernet (cheap, a noisy ranking).
WEIGHT_SHARING = "weight-sharing"
#: Validation accuracy of the architecture trained on its own.
STAND_ALONE = "stand-alone"
#: The fidelities bonas writes, lowest first (the order :mod:`bonas.history` ranks them in).
FIDELITIES = FIDELITY_ORDER
#: On a stand-alone retraining of a scored candidate (:func:`bonas.retrain_best`): that trial's number.
RETRAIN_OF_ATTR = "retrain_of"

#: Trial user attributes that are bookkeeping, not metrics.
BOOKKEEPING_ATTRS = frozenset(
    {
        ARCH_ATTR,
        ARCH_HASH_ATTR,
        REPEAT_OF_ATTR,
        FAIL_REASON_ATTR,
        PROPOSE_SECONDS_ATTR,
        OBJECTIVE_SECONDS_ATTR,
        FIDELITY_ATTR,
        RETRAIN_OF_ATTR,
    }
)

# -- Trial system attributes -----------------------------------------------------------------------------

#: Set when a wrapped Optuna sampler's proposal was a repeat and was replaced by a random new one.
REPLACED_REPEAT_ATTR = "bonas:replaced_repeat"
#: Set on a trial whose objective itself failed on the architecture: it raised, or returned a non-finite
#: value (not an interrupt, a lost worker, a proposal failure or a retraining's missing metric).
OBJECTIVE_FAILED_ATTR = "bonas:objective_failed"
#: Set on a failed trial whose architecture was not judged: the search was interrupted while it ran, the
#: objective's set-up failed (:class:`~bonas.errors.SetupError`), its ``cheap_metrics`` failed while the
#: trial was proposed, or the space had no architecture left to propose. Its architecture, if it had one,
#: may be proposed again.
NOT_JUDGED_ATTR = "bonas:not_judged"
#: Optuna's own (set by ``RetryHeartbeatStaleTrialCallback``): the trials a retried trial repeats.
RETRY_HISTORY_ATTR = "retry_history"
#: ``fail_reason`` of a trial failed by the heartbeat check (Optuna cannot annotate a finished trial).
LOST_WORKER_REASON = "worker lost (no heartbeat)"

# -- Study attributes ------------------------------------------------------------------------------------

#: Study user attributes: the space's name, the objective's, the benchmark's and the searched metric.
SPACE_ATTR = "space"
OBJECTIVE_ATTR = "objective"
BENCHMARK_ATTR = "benchmark"
METRIC_ATTR = "metric"
#: Study user attribute: the path of the supernet checkpoint a weight-sharing objective trains.
SUPERNET_CHECKPOINT_ATTR = "supernet_checkpoint"
#: Study user attributes of a multi-objective study (``[[metric, direction], ...]``) and of a constrained
#: one (``[[metric, operator, bound], ...]``).
OBJECTIVES_ATTR = "objectives"
CONSTRAINTS_ATTR = "constraints"
#: Study user attribute: the objective's recipe (:attr:`StudyAttributes.recipe`).
RECIPE_ATTR = "objective_recipe"
#: Trial system attribute holding the constraint values, a list (Optuna's key; see the module notes).
CONSTRAINT_VALUES_ATTR = "constraints"
#: Study system attribute remembering which trial's picture was uploaded (so it is uploaded once).
BEST_PICTURE_ATTR = "bonas:best_picture"


@dataclass(frozen=True)
class StudyAttributes:
    """What a bonas study records about its search (study user attributes).

    Args:
        space: the search space's name.
        objective: the objective's name (a benchmark's name, a function's ``__name__``...).
        benchmark: the tabular benchmark's name, None for another objective.
        metric: the searched metric; for several objectives, their names joined by ``", "``.
        objectives: ``(metric, direction)`` of each objective of a multi-objective study, else empty.
        constraints: the study's constraints.
        recipe: what besides the architecture decides the objective's values, where the objective says
            (a training objective's settings, ``objective.recipe``); None otherwise.
    """

    space: str | None
    objective: str | None
    benchmark: str | None
    metric: str | None
    objectives: tuple[tuple[str, str], ...] = ()
    constraints: tuple[Constraint, ...] = ()
    recipe: str | None = None

    @classmethod
    def of_search(
        cls,
        space: SearchSpace,
        objective: object,
        metric: str,
        *,
        objectives: tuple[tuple[str, str], ...] = (),
        constraints: tuple[Constraint, ...] = (),
    ) -> StudyAttributes:
        """The attributes of a search of ``objective`` over ``space``.

        An objective names itself by a ``name`` attribute (else its ``__name__``, else its type's name: a
        default repr holds a memory address, which would make every continuation look like another
        objective); one that is a tabular benchmark says so with a ``benchmark_name`` attribute.
        """
        name = getattr(objective, "name", getattr(objective, "__name__", type(objective).__qualname__))
        benchmark = getattr(objective, "benchmark_name", None)
        if len(objectives) > 1:
            metric = ", ".join(m for m, _ in objectives)
        else:
            objectives = ()
        return cls(
            space.name,
            str(name),
            None if benchmark is None else str(benchmark),
            metric,
            tuple(objectives),
            tuple(constraints),
            None if getattr(objective, "recipe", None) is None else str(objective.recipe),  # type: ignore[attr-defined]
        )

    @classmethod
    def of(cls, study: optuna.Study) -> StudyAttributes:
        attrs = study.user_attrs
        return cls(
            attrs.get(SPACE_ATTR),
            attrs.get(OBJECTIVE_ATTR),
            attrs.get(BENCHMARK_ATTR),
            attrs.get(METRIC_ATTR),
            tuple((str(m), str(d)) for m, d in attrs.get(OBJECTIVES_ATTR, ())),
            tuple(Constraint(str(m), str(op), float(b)) for m, op, b in attrs.get(CONSTRAINTS_ATTR, ())),
            attrs.get(RECIPE_ATTR),
        )

    @property
    def objective_label(self) -> str | None:
        """The benchmark's name, else the objective's."""
        return self.benchmark if self.benchmark is not None else self.objective

    @property
    def metrics(self) -> tuple[str, ...]:
        """The searched metrics' names, in the order of the trials' values."""
        if self.objectives:
            return tuple(m for m, _ in self.objectives)
        return () if self.metric is None else (self.metric,)

    def write(self, study: optuna.Study) -> None:
        study.set_user_attr(SPACE_ATTR, self.space)
        study.set_user_attr(OBJECTIVE_ATTR, self.objective)
        if self.benchmark is not None:
            study.set_user_attr(BENCHMARK_ATTR, self.benchmark)
        study.set_user_attr(METRIC_ATTR, self.metric)
        if self.objectives:
            study.set_user_attr(OBJECTIVES_ATTR, [list(o) for o in self.objectives])
            if study.metric_names is None:
                with warnings.catch_warnings():  # "set_metric_names is experimental"
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    study.set_metric_names([m for m, _ in self.objectives])
        if self.constraints:
            study.set_user_attr(CONSTRAINTS_ATTR, [[c.metric, c.operator, c.bound] for c in self.constraints])
        if self.recipe is not None:
            study.set_user_attr(RECIPE_ATTR, self.recipe)


def is_bonas_study(user_attrs: Mapping[str, Any]) -> bool:
    """Whether a study's user attributes are those of a bonas search."""
    return SPACE_ATTR in user_attrs


# -- Reading trials --------------------------------------------------------------------------------------


def is_repeat(trial: FrozenTrial) -> bool:
    """Whether the trial repeated an earlier evaluation (it got that value, it spent no query)."""
    return REPEAT_OF_ATTR in trial.user_attrs


def is_evaluation(trial: FrozenTrial) -> bool:
    """Whether the trial is an evaluation: COMPLETE, with finite values, not a repeat."""
    return (
        trial.state == TrialState.COMPLETE
        and trial.values is not None
        and all(math.isfinite(v) for v in trial.values)
        and not is_repeat(trial)
    )


def constraint_values(trial: FrozenTrial) -> tuple[float, ...]:
    """The trial's constraint values (<= 0: satisfied), empty when it has none."""
    return tuple(float(v) for v in trial.constraints.values())


def is_feasible(trial: FrozenTrial) -> bool:
    """Whether every constraint of the trial holds (a trial without constraints is feasible)."""
    return all(v <= 0 for v in trial.constraints.values())


def record_constraints(study: optuna.Study, trial_id: int, values: Iterable[float]) -> None:
    """Store a running trial's constraint values where Optuna and optuna-dashboard read them.

    Optuna has no public way to write the list form (``Trial.set_constraint`` writes per-name keys that
    optuna-dashboard does not read); its own samplers write it through the storage, as here.
    """
    study._storage.set_trial_system_attr(trial_id, CONSTRAINT_VALUES_ATTR, [float(v) for v in values])


def spent_query(trial: FrozenTrial) -> bool:
    """Whether the trial ran the objective (complete, failed or pruned), repeats excluded."""
    return OBJECTIVE_SECONDS_ATTR in trial.user_attrs and not is_repeat(trial)


def record_objective_failure(study: optuna.Study, trial_id: int) -> None:
    """Mark a running trial as failed by its objective on the architecture (:func:`failed_evaluation`)."""
    study._storage.set_trial_system_attr(trial_id, OBJECTIVE_FAILED_ATTR, True)


def record_not_judged(study: optuna.Study, trial_id: int) -> None:
    """Mark a running trial as failing for a reason other than its architecture (:data:`NOT_JUDGED_ATTR`)."""
    study._storage.set_trial_system_attr(trial_id, NOT_JUDGED_ATTR, True)


def not_judged(trial: FrozenTrial) -> bool:
    """Whether the trial failed without its architecture being judged (see :data:`NOT_JUDGED_ATTR`)."""
    return trial.state == TrialState.FAIL and bool(trial.system_attrs.get(NOT_JUDGED_ATTR))


def lost_worker(trial: FrozenTrial) -> bool:
    """Whether another worker failed the trial for its lost heartbeat: a FAIL without a reason, as bonas
    records one on every trial it fails itself. (Its architecture stays seen: one that keeps killing its
    worker is not proposed again once Optuna's retries are spent.)"""
    return trial.state == TrialState.FAIL and FAIL_REASON_ATTR not in trial.user_attrs


def failed_evaluation(trial: FrozenTrial) -> bool:
    """Whether the objective failed on the trial's architecture (raised, or returned a non-finite value):
    what a failure model learns from. An interrupted trial, a lost worker, a failed proposal and a
    retraining that lacked a metric are failures too, but not the architecture's."""
    return (
        trial.state == TrialState.FAIL
        and bool(trial.system_attrs.get(OBJECTIVE_FAILED_ATTR))
        and not is_repeat(trial)
    )


def evaluations(trials: Iterable[FrozenTrial]) -> list[FrozenTrial]:
    """The trials that are evaluations (:func:`is_evaluation`), in order."""
    return [trial for trial in trials if is_evaluation(trial)]


def fidelity_of(trial: FrozenTrial) -> str | None:
    """The trial's ``fidelity`` attribute (None: its objective has only one)."""
    value = trial.user_attrs.get(FIDELITY_ATTR)
    return None if value is None else str(value)


def record_fidelity(fidelity: str) -> None:
    """Write ``fidelity`` on the :func:`current_trial` (nothing outside a search)."""
    trial = current_trial()
    if trial is not None:
        trial.set_user_attr(FIDELITY_ATTR, fidelity)


def best_evaluation(trials: Iterable[FrozenTrial], *, maximize: bool = True) -> FrozenTrial | None:
    """The best evaluation among those of the highest fidelity held (a stand-alone training beats any
    weight-sharing score, whose scale differs); None when there is no evaluation."""
    done = evaluations(trials)
    if not done:
        return None
    top = max(fidelity_rank(fidelity_of(t)) for t in done)
    candidates = [t for t in done if fidelity_rank(fidelity_of(t)) == top]
    sign = 1.0 if maximize else -1.0
    return max(candidates, key=lambda t: (sign * float(t.value), -t.number))  # type: ignore[arg-type]


def architecture_hash(trial: FrozenTrial, space: SearchSpace) -> str | None:
    """The canonical hash of a trial's architecture: its ``arch_hash`` attribute, else decoded from its
    parameters (a trial created outside bonas's loop), None while it has not chosen one."""
    recorded = trial.user_attrs.get(ARCH_HASH_ATTR)
    if recorded is not None:
        return str(recorded)
    architecture = architecture_from_params(trial.params, space)
    return None if architecture is None else architecture.canonical_hash


def architecture_from_params(params: Mapping[str, Any], space: SearchSpace) -> Architecture | None:
    """The architecture of a trial's parameters, None while they are incomplete or of another space."""
    if not params:
        return None
    try:
        return space.from_params(params)
    except InvalidArchitectureError:  # parameters still being suggested, or of another space
        return None


def architecture_of(trial: FrozenTrial, space: SearchSpace) -> Architecture | None:
    """A trial's architecture: from its parameters, else its ``arch`` string; None if it has neither."""
    architecture = architecture_from_params(trial.params, space)
    if architecture is not None:
        return architecture
    text = trial.user_attrs.get(ARCH_ATTR)
    if text is None:
        return None
    try:
        return space.parse(str(text))
    except InvalidArchitectureError:
        return None


def metrics_of(trial: FrozenTrial) -> dict[str, Any]:
    """The trial's user attributes that are metrics (everything but bookkeeping)."""
    return {k: v for k, v in trial.user_attrs.items() if k not in BOOKKEEPING_ATTRS}


def search_history(
    trials: Iterable[FrozenTrial],
    decode: Callable[[FrozenTrial], Architecture | None],
    *,
    sign: float | tuple[float, ...] = 1.0,
    exclude_trial: int | None = None,
    objectives: tuple[str, ...] = (),
    constraints: tuple[Constraint, ...] = (),
) -> SearchHistory:
    """What a sampler knows from ``trials``: evaluations (values times ``sign``, so larger is better),
    running trials' architectures as pending, failed evaluations' as failed, and every decoded
    architecture as seen, except those of trials that failed without being judged (:func:`not_judged`:
    interrupted, or the objective's set-up failed), which may be proposed again.

    Args:
        trials: the study's trials, in order.
        decode: a trial's architecture, None when it has none (yet).
        sign: -1 for a minimising study; one sign per objective for a multi-objective one.
        exclude_trial: the number of the trial being proposed for (not pending itself).
        objectives: the searched metrics' names (see :class:`SearchHistory`).
        constraints: the study's constraints; each evaluation carries their values.
    """
    signs = sign if isinstance(sign, tuple) else (sign,)
    history = SearchHistory(objectives=objectives, constraints=constraints, signs=signs)
    for trial in trials:
        if trial.number == exclude_trial:
            continue
        architecture = decode(trial)
        if architecture is None or not_judged(trial):
            continue
        history.seen.add(architecture.canonical_hash)
        if trial.state == TrialState.RUNNING:
            history.pending.append(architecture)
        elif failed_evaluation(trial):
            history.failed.append(architecture)
        elif is_evaluation(trial):
            values = tuple(s * float(v) for s, v in zip(signs, trial.values, strict=True))
            history.observations.append(
                Observation(
                    architecture,
                    values[0],
                    values if len(values) > 1 else (),
                    constraint_values(trial) if constraints else (),
                    fidelity_of(trial),
                )
            )
    return history


# -- A space as Optuna parameters ------------------------------------------------------------------------


def distributions(space: SearchSpace) -> dict[str, CategoricalDistribution]:
    """Optuna distributions of every parameter of ``space`` (the union over conditional branches)."""
    return {parameter.name: CategoricalDistribution(parameter.choices) for parameter in space.parameters}


def suggest(space: SearchSpace, trial: optuna.trial.BaseTrial) -> Architecture:
    """Ask ``trial`` for each active parameter of ``space`` in order and build the architecture."""
    if isinstance(trial, optuna.Trial) and all(len(p.choices) < 2 for p in space.parameters):
        # Optuna asks the sampler lazily, at the first parameter of several choices: in a space whose
        # parameters all have one choice the sampler would never propose (nor see the space exhausted).
        trial.relative_params  # noqa: B018
    params: dict[str, ParamValue] = {}
    for parameter in space.parameters:
        if parameter.is_active(params):
            params[parameter.name] = trial.suggest_categorical(parameter.name, parameter.choices)
    return space.from_params(params)


# -- The history frame -----------------------------------------------------------------------------------

#: The first columns of :func:`history_frame`, before one column per metric.
HISTORY_COLUMNS = (
    "trial",
    "state",
    "query",
    "arch",
    "arch_hash",
    "value",
    "repeat_of",
    "fail_reason",
    "propose_seconds",
    "objective_seconds",
)

#: Columns :func:`history_frame` adds when some trial has them (studies with several fidelities).
FIDELITY_COLUMNS = (FIDELITY_ATTR, RETRAIN_OF_ATTR)


def pareto_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The evaluations on the study's Pareto front (of its feasible evaluations, with constraints), in
    trial order: Optuna's ``Study.best_trials`` without repeats. For a single-objective study, the best
    (feasible) evaluation, or none."""
    if len(study.directions) == 1:
        # The best at the highest fidelity held: weight-sharing scores and stand-alone trainings differ in scale.
        feasible = [t for t in study.get_trials(deepcopy=False) if is_feasible(t)]
        best = best_evaluation(feasible, maximize=study.direction != optuna.study.StudyDirection.MINIMIZE)
        return [] if best is None else [best]
    return sorted((t for t in study.best_trials if is_evaluation(t)), key=lambda t: t.number)


def history_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: ``trial``, ``state``, ``query`` (1-based count of evaluations, NA for repeats
    and proposal failures), ``arch``, ``arch_hash``, ``value``, ``repeat_of``, ``fail_reason``,
    ``propose_seconds``, ``objective_seconds``, then ``fidelity`` and ``retrain_of`` where some trial has
    them, and one column per metric.

    A multi-objective study's ``value`` is NA (each objective is a metric column) and it has a ``pareto``
    column (whether the evaluation is on the Pareto front of the feasible evaluations, see
    :func:`pareto_trials`); a constrained study has a ``feasible`` column.

    A trial failed because its worker stopped sending heartbeats has the ``fail_reason``
    ``"worker lost (no heartbeat)"``, naming the trial that retried it if any."""
    import pandas as pd

    trials = study.get_trials(deepcopy=False)
    retried_as = {
        trial.system_attrs[RETRY_HISTORY_ATTR][-1]: trial.number
        for trial in trials
        if trial.system_attrs.get(RETRY_HISTORY_ATTR)
    }
    multi_objective = len(study.directions) > 1
    constrained = bool(study.user_attrs.get(CONSTRAINTS_ATTR))
    front = {t.number for t in pareto_trials(study)} if multi_objective else set()
    rows = []
    query = 0
    for trial in trials:
        attrs = trial.user_attrs
        spent = spent_query(trial)
        query += spent
        row: dict[str, Any] = {
            "trial": trial.number,
            "state": trial.state.name,
            "query": query if spent else pd.NA,
            "arch": attrs.get(ARCH_ATTR),
            "arch_hash": attrs.get(ARCH_HASH_ATTR),
            "value": trial.values[0] if trial.values is not None and not multi_objective else None,
            "repeat_of": attrs.get(REPEAT_OF_ATTR),
            "fail_reason": attrs.get(FAIL_REASON_ATTR),
            "propose_seconds": attrs.get(PROPOSE_SECONDS_ATTR),
            "objective_seconds": attrs.get(OBJECTIVE_SECONDS_ATTR),
        }
        row.update({name: attrs[name] for name in FIDELITY_COLUMNS if name in attrs})
        if trial.state == TrialState.FAIL and row["fail_reason"] is None:
            row["fail_reason"] = LOST_WORKER_REASON + (
                f"; retried as trial {retried_as[trial.number]}" if trial.number in retried_as else ""
            )
        if constrained:
            row["feasible"] = is_feasible(trial) if trial.state == TrialState.COMPLETE else pd.NA
        if multi_objective:
            row["pareto"] = trial.number in front if is_evaluation(trial) else pd.NA
        row.update(metrics_of(trial))
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["query"] = frame["query"].astype("Int64")
    return frame


def evaluation_rows(history: pd.DataFrame) -> pd.DataFrame:
    """The rows of a :func:`history_frame` that are evaluations (COMPLETE, not repeats)."""
    return history[(history["state"] == TrialState.COMPLETE.name) & history["repeat_of"].isna()]


# -- the running trial ---------------------------------------------------------------------------------

_CURRENT_TRIAL: ContextVar[optuna.Trial | None] = ContextVar("bonas_current_trial", default=None)


def current_trial() -> optuna.Trial | None:
    """The Optuna trial whose objective is running in this context, None outside :func:`bonas.search`.

    An objective calls ``trial.report(value, step)`` on it and raises ``optuna.TrialPruned`` when
    ``trial.should_prune()`` (see :func:`bonas.objectives.train`).
    """
    return _CURRENT_TRIAL.get()


@contextmanager
def running(trial: optuna.Trial) -> Iterator[None]:
    """Make ``trial`` the :func:`current_trial` while the block runs (the search loop's objective call)."""
    token = _CURRENT_TRIAL.set(trial)
    try:
        yield
    finally:
        _CURRENT_TRIAL.reset(token)
