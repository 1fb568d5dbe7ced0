"""What :func:`bonas.search` accepts, checked at the boundary before (or as) trials run.

* its arguments: counts are whole numbers >= 1, a seed a whole number >= 0, a known direction, a space
  and a callable objective (:func:`check_count`, :func:`check_arguments`);
* a sampler instance: built for the searched space and with the asked options (:func:`resolved_sampler`);
* a stored study it continues: the same direction, metric, space (its name and its parameters),
  benchmark and objective (:func:`check_continuation`), so values of two searches never mix;
* what the objective returns: a number, or a dict of metrics holding the searched metric
  (:func:`metrics`); the searched ones must be numbers (strings and booleans that only look like
  numbers are refused), other metrics are recorded whatever they hold (:func:`recorded_metrics`);
* several objectives and constraints (:func:`check_outcomes`): known directions, well-formed bounds,
  metrics the objective returns (checked before any trial where the objective lists its metrics, as a
  tabular benchmark does), and in each result every objective's and constraint's metric
  (:func:`outcome_values`).

Each refusal names the bad value and the fix.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import numbers
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import optuna

from bonas import trials
from bonas.errors import ArgumentTypeError, BonasError, InvalidArgumentError
from bonas.history import CONSTRAINT_OPERATORS, Constraint
from bonas.numbers import as_number
from bonas.samplers import (
    ArchitectureSampler,
    accepts_cheap_metrics,
    auto_searcher,
    make_sampler,
    multi_objective_sampler_names,
)
from bonas.spaces.base import SearchSpace

logger = logging.getLogger(__name__)


class ObjectiveError(BonasError, ValueError):
    """An objective returned something that is not a number or a dict holding the searched metric.

    Attributes:
        kept: the result's other metrics as a trial records them (:func:`kept_metrics`), which the failed
            trial still stores: one bad value does not throw away what the evaluation measured.
    """

    def __init__(self, message: str, *, kept: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.kept = dict(kept or {})


class MissingMetricError(ObjectiveError):
    """An objective's result lacks a searched or constrained metric (``missing``)."""

    def __init__(
        self, message: str, missing: tuple[str, ...], *, kept: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message, kept=kept)
        self.missing = missing


class ReservedMetricError(ObjectiveError):
    """An objective's dict of metrics uses a name of a trial's own record (:data:`RESERVED_METRICS`)."""


#: Names a trial's record uses itself (its architecture, timings, failure reason...): a metric of that name
#: would overwrite them, so an objective may not return one and a search may not name one.
RESERVED_METRICS = trials.BOOKKEEPING_ATTRS | {trials.PRUNED_AT_EPOCH_ATTR}


class StudyMismatchError(BonasError, ValueError):
    """A stored study is continued with settings (direction, metric, space, objective) other than its own."""


class SamplerMismatchError(BonasError, ValueError):
    """A sampler instance was built with settings (space, repeats, batch size) other than the search's."""


def check_count(name: str, value: object, *, optional: bool = False) -> None:
    """Refuse a count that is not a whole number >= 1 (``1.5`` or ``"10"`` or ``True`` included)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{name} must be a whole number, got {value!r} ({type(value).__name__}).")
    if value < 1:
        raise InvalidArgumentError(f"{name} must be at least 1, got {value}.")


def check_arguments(
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


def check_study_name(study_name: object) -> None:
    """A study name is None (a new in-memory name) or a non-blank string."""
    if study_name is not None and (not isinstance(study_name, str) or not study_name.strip()):
        raise InvalidArgumentError(
            f"study_name must be a non-blank string (or None for a new study), got {study_name!r}."
        )


def check_same_parameters(study: optuna.Study, space: SearchSpace) -> None:
    """Refuse a space whose parameters offer other choices than those the study's trials were drawn
    from (a choice added or removed under the same space name): Optuna cannot draw a parameter from
    other choices in the same study, so every new trial would fail, and the old values belong to another
    space. Parameters the space does not define are the objective's own (``current_trial().suggest_*``)
    and are left to it.

    Also refuse the same parameters declared in another order: an architecture's name and hash follow
    the space's order, so every architecture would look new and be evaluated again."""
    current = trials.distributions(space)
    checked: set[str] = set()
    order_checked = False
    for trial in study.get_trials(deepcopy=False):
        drawn = [name for name in trial.distributions if name in current]
        if not order_checked and len(drawn) > 1:
            order_checked = True
            declared = [name for name in current if name in drawn]
            if drawn != declared:
                raise StudyMismatchError(
                    f"Study {study.study_name!r} cannot continue with space {space.name!r}: the space declares "
                    f"the parameters {declared} in another order than the study's trials drew them, {drawn}; "
                    "architectures would be named anew and evaluated again. Declare the parameters in the "
                    "study's order to continue it."
                )
        for name, distribution in trial.distributions.items():
            if name in checked or name not in current:
                continue
            checked.add(name)
            if current[name] == distribution:
                continue
            change = (
                f"gives parameter {name!r} the choices {_choices(current[name])}, "
                f"but the study's trials chose it from {_choices(distribution)}"
            )
            raise StudyMismatchError(
                f"Study {study.study_name!r} cannot continue with space {space.name!r}: the space {change}. "
                "Search the changed space as a new study under another name (search(..., study_name=...), "
                "bonas search --study NAME), or restore the old choices to continue this one."
            )


def _choices(distribution: optuna.distributions.BaseDistribution) -> list[object]:
    return list(getattr(distribution, "choices", [distribution]))


def check_continuation(
    study: optuna.Study,
    asked: trials.StudyAttributes,
    direction: str | tuple[str, ...],
    space: SearchSpace,
) -> None:
    """Refuse to continue a stored study with another direction, metric, space, benchmark, objective or
    constraints, or whose space kept its name but changed its parameters: its values would mix with
    values of another search. Nothing is written before this check."""
    stored = trials.StudyAttributes.of(study)
    conflicts = [
        f"{name} {theirs!r} (asked: {ours!r})"
        for name, theirs, ours in (
            ("space", stored.space, asked.space),
            ("benchmark", stored.benchmark, asked.benchmark),
            ("objective", stored.objective, asked.objective),
            ("metric", stored.metric, asked.metric),
            ("objective recipe", stored.recipe, asked.recipe),
        )
        if theirs is not None and theirs != ours
    ]
    if study.user_attrs and stored.constraints != asked.constraints:
        conflicts.append(
            f"constraints {[str(c) for c in stored.constraints]} (asked: {[str(c) for c in asked.constraints]})"
        )
    directions = (direction,) if isinstance(direction, str) else direction
    stored_directions = tuple(d.name.lower() for d in study.directions)
    if stored_directions != directions:
        theirs = stored_directions[0] if len(stored_directions) == 1 else list(stored_directions)
        ours = directions[0] if len(directions) == 1 else list(directions)
        conflicts.insert(0, f"direction {theirs!r} (asked: {ours!r})")
    if conflicts:
        raise StudyMismatchError(
            f"Study {study.study_name!r} already exists with {', '.join(conflicts)}; continuing it would mix "
            "the values of two searches. Continue it with its own settings, or start a new study under "
            "another name (search(..., study_name=...), bonas search --study NAME)."
            + _same_function_hint(stored.objective, asked.objective)
            + _nothing_evaluated(study)
        )
    check_same_parameters(study, space)


def _same_function_hint(stored: str | None, asked: str | None) -> str:
    """Where the stored objective is the asked function under the CLI's ``module:function`` name (or the
    reverse): how to continue the study with it."""
    if stored is None or asked is None or stored == asked:
        return ""
    if stored.rpartition(":")[2] != asked.rpartition(":")[2]:
        return ""
    return (
        f" If it is the same function, give it the study's name to continue: {asked.rpartition(':')[2]}.name = "
        f"{stored!r} before searching (the CLI names a function module:function, the API by its __name__)."
    )


def in_stored_order(study: optuna.Study, outcomes: Outcomes) -> Outcomes:
    """``outcomes`` with its constraints in the order the stored study holds them where they are the same
    ones given in another order: the trials' constraint values are stored in the study's order."""
    stored = trials.StudyAttributes.of(study).constraints
    key = lambda c: (c.metric, c.operator, c.bound)  # noqa: E731 - exact bounds, not their printed form
    if stored != outcomes.constraints and sorted(map(key, stored)) == sorted(map(key, outcomes.constraints)):
        return dataclasses.replace(outcomes, constraints=tuple(stored))
    return outcomes


def _nothing_evaluated(study: optuna.Study) -> str:
    """For a study that holds no evaluation (a first run with a misspelt setting): how to delete it."""
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    if study.get_trials(deepcopy=False, states=states):
        return ""
    failed = len(study.get_trials(deepcopy=False))
    return (
        f" It holds no completed evaluation ({failed} failed or unfinished trial{'s' if failed != 1 else ''}), "
        f"so nothing is lost by deleting it: optuna delete-study --study-name {study.study_name} --storage URL "
        "(sqlite:///PATH for a file)."
    )


def resolved_sampler(
    sampler: str | optuna.samplers.BaseSampler,
    space: SearchSpace,
    seed: int | None,
    allow_repeats: bool | None,
    batch_size: int | None,
    outcomes: Outcomes | None = None,
    objective: object = None,
    options: Mapping[str, Any] | None = None,
) -> tuple[optuna.samplers.BaseSampler, bool]:
    """The sampler to run and whether repeats are evaluated, after checking an instance's settings.

    A searcher given by name is built with ``options`` (its constructor's keyword arguments) and gets
    the objective's cheap metrics (``objective.cheap_metrics``, see :func:`bonas.samplers.make_sampler`)
    when it can use them; ``auto`` with several objectives or constraints picks bonas's multi-objective
    BO (:func:`bonas.samplers.auto_searcher`).
    """
    outcomes = outcomes or Outcomes((("value", "maximize"),))
    if allow_repeats is not None and not isinstance(allow_repeats, bool):
        raise ArgumentTypeError(f"allow_repeats must be True, False or None, got {allow_repeats!r}.")
    if not isinstance(sampler, str | optuna.samplers.BaseSampler):
        raise ArgumentTypeError(
            f"sampler must be a searcher's name (e.g. 'auto', 'random'; see bonas.samplers.sampler_names()) or "
            f"an Optuna sampler, got {sampler!r} ({type(sampler).__name__})."
        )
    if isinstance(sampler, str):
        options = dict(options or {})
        if allow_repeats:
            options["allow_repeats"] = True
        if batch_size is not None and batch_size != 1:
            options["batch_size"] = batch_size
        if sampler == "auto" and (outcomes.is_multi_objective or outcomes.constraints):
            sampler = auto_searcher(space, multi_objective=True)
            logger.info(
                "Searcher 'auto' picked %r for space %r (%s).",
                sampler,
                space.name,
                "several objectives" if outcomes.is_multi_objective else "one objective with constraints",
            )
        cheap = getattr(objective, "cheap_metrics", None)
        if cheap is not None and accepts_cheap_metrics(sampler):
            options["cheap_metrics"] = cheap
        built = make_sampler(sampler, space, seed=seed, **options)
        check_sampler_outcomes(built, outcomes)
        return built, bool(allow_repeats)
    check_sampler_outcomes(sampler, outcomes)
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
    for name, asked, built_with in (
        ("allow_repeats", allow_repeats, sampler.allow_repeats),
        ("batch_size", batch_size, sampler.batch_size),
    ):
        if asked is not None and asked != built_with:
            raise SamplerMismatchError(
                f"search(..., {name}={asked!r}) but the sampler {sampler!r} was built with {name}={built_with!r}; "
                f"give {name} to the sampler's constructor (make_sampler(..., {name}={asked!r}))."
            )
    return sampler, sampler.allow_repeats


def check_sampler_outcomes(sampler: optuna.samplers.BaseSampler, outcomes: Outcomes) -> None:
    """Refuse a bonas searcher that cannot search several objectives, or respect constraints."""
    if not isinstance(sampler, ArchitectureSampler):
        return  # Optuna's samplers say themselves what they support
    if outcomes.is_multi_objective and not sampler.supports_multi_objective:
        raise SamplerMismatchError(
            f"The searcher {sampler!r} optimises one objective; for {len(outcomes.objectives)} objectives use "
            f"one of {', '.join(map(repr, multi_objective_sampler_names()))}."
        )
    if outcomes.constraints and not sampler.supports_constraints:
        raise SamplerMismatchError(
            f"The searcher {sampler!r} does not take constraints into account; with constraints use one of "
            f"{', '.join(map(repr, multi_objective_sampler_names()))}."
        )


def metrics(result: Any, metric: str) -> tuple[float, dict[str, Any]]:
    """The searched value, checked to be a number, and every metric of an objective's result (see
    :func:`recorded_metrics`).

    Raises:
        ObjectiveError: as :func:`recorded_metrics`, or ``metric`` is missing (:class:`MissingMetricError`);
            its ``kept`` holds the result's other metrics.
    """
    if isinstance(result, Mapping):
        if metric not in result:
            raise MissingMetricError(
                f"The objective returned metrics {sorted(map(str, result))} without {metric!r}; return it, or "
                "search one of those (search(..., metric=...); bonas search --metric NAME).",
                (metric,),
                kept=kept_metrics(result, (metric,)),
            )
        metrics = recorded_metrics(result, (metric,))
        return metrics[metric], metrics
    value = number(result, "value", metric=metric)
    return value, {metric: value}


def recorded_metrics(result: Mapping[Any, Any], searched: Iterable[str]) -> dict[str, Any]:
    """Every metric of an objective's result as the trial records it: the ``searched`` ones (objectives
    and constraints) checked to be numbers; any other number as a float, and any other value (a note,
    None, a flag) kept as it is where JSON can hold it, else as its repr: an evaluation is not thrown
    away for a metric no search uses.

    Raises:
        ReservedMetricError: a metric is named like a field of the trial's own record.
        ObjectiveError: a searched metric is not a number. Either error's ``kept`` holds the rest.
    """
    searched = tuple(searched)
    reserved = sorted(str(name) for name in result if str(name) in RESERVED_METRICS)
    if reserved:
        raise ReservedMetricError(
            f"The objective returned metrics named {', '.join(map(repr, reserved))}: bonas records each trial's "
            f"{', '.join(sorted(RESERVED_METRICS))} under those names itself. Rename them in the objective's "
            f"dict (e.g. 'my_{reserved[0]}').",
            kept=kept_metrics(result, searched),
        )
    found = kept_metrics(result, ())
    for name in searched:
        if name in result:
            try:
                found[name] = number(result[name], f"metric {name!r}")
            except ObjectiveError as error:
                error.kept = kept_metrics(result, searched)
                raise
    return found


def kept_metrics(result: Mapping[Any, Any], searched: Iterable[str]) -> dict[str, Any]:
    """What a trial records of ``result`` (see :func:`recorded_metrics`) when it fails for one of its
    values: the ``searched`` metrics that are numbers, and every other metric; names of the trial's own
    record (:data:`RESERVED_METRICS`) are left out."""
    searched = set(searched)
    kept: dict[str, Any] = {}
    for name, value in result.items():
        name = str(name)
        if name in RESERVED_METRICS:
            continue
        converted = as_number(value)
        if converted is not None:
            kept[name] = converted
        elif name not in searched:  # a searched metric that is not a number is left out
            kept[name] = value if _json_holds(value) else repr(value)
    return kept


def _json_holds(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        return False
    return True


def number(value: Any, what: str, *, metric: str | None = None) -> float:
    """``value`` as a float, refusing what only looks like a number (``"91.5"``, ``True``)."""
    converted = as_number(value)
    if converted is not None:
        return converted
    expected = "a number" if metric is None else f"a number or a dict of metrics holding {metric!r}"
    raise ObjectiveError(
        f"The objective returned {what} {value!r} ({type(value).__name__}); it must be {expected}"
        + (" (convert the string with float())." if isinstance(value, str) else ".")
    )


# -- several objectives and constraints --------------------------------------------------------------

#: Accepted spellings of a direction (the API's and the command line's).
DIRECTIONS = {"maximize": "maximize", "max": "maximize", "minimize": "minimize", "min": "minimize"}


@dataclass(frozen=True)
class Outcomes:
    """What a search optimises and what it must satisfy.

    Args:
        objectives: ``(metric, direction)`` per objective, direction ``maximize`` or ``minimize``; one
            for a single-objective search.
        constraints: bounds every trial is checked against (feasible when all hold).
    """

    objectives: tuple[tuple[str, str], ...]
    constraints: tuple[Constraint, ...] = ()

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(metric for metric, _ in self.objectives)

    @property
    def directions(self) -> tuple[str, ...]:
        return tuple(direction for _, direction in self.objectives)

    @property
    def is_multi_objective(self) -> bool:
        return len(self.objectives) > 1


def check_outcomes(objectives: object, constraints: object, metric: str, direction: str) -> Outcomes:
    """The search's objectives and constraints from :func:`bonas.search`'s arguments.

    Args:
        objectives: None (search ``metric`` in ``direction``) or a mapping metric -> ``"maximize"`` /
            ``"minimize"`` (``"max"`` / ``"min"``), in the order the study stores them.
        constraints: None or a mapping metric -> ``("<=", bound)`` or ``(">=", bound)``.
        metric, direction: :func:`bonas.search`'s single-objective arguments (left at their defaults
            when ``objectives`` is given).
    """
    if objectives is None:
        chosen: tuple[tuple[str, str], ...] = ((metric, direction),)
    else:
        if not isinstance(objectives, Mapping) or not objectives:
            raise ArgumentTypeError(
                f"objectives must be a dict of metric -> 'maximize' or 'minimize', e.g. "
                f"{{'val_accuracy': 'maximize', 'latency_ms': 'minimize'}}, got {objectives!r}."
            )
        if (metric, direction) != ("val_accuracy", "maximize"):
            raise InvalidArgumentError(
                f"Give either objectives= or metric=/direction=, not both (got metric={metric!r}, "
                f"direction={direction!r} and objectives={dict(objectives)!r}); put every searched metric in "
                "objectives."
            )
        checked = []
        for name, way in objectives.items():
            if not isinstance(name, str) or not name:
                raise InvalidArgumentError(
                    f"objectives: a metric name must be a non-empty string, got {name!r}."
                )
            if way not in DIRECTIONS:
                raise InvalidArgumentError(
                    f"objectives: the direction of {name!r} must be 'maximize' or 'minimize' ('max' or 'min'), "
                    f"got {way!r}."
                )
            checked.append((name, DIRECTIONS[way]))
        chosen = tuple(checked)
    outcomes = Outcomes(chosen, check_constraints(constraints))
    for kind, names in (
        ("objective", outcomes.metrics),
        ("constraint", [c.metric for c in outcomes.constraints]),
    ):
        for name in names:
            if name in RESERVED_METRICS:
                raise InvalidArgumentError(
                    f"The {kind} metric {name!r} is a name bonas records each trial's own "
                    f"{name} under, not a metric; have the objective return the value as another name "
                    f"(e.g. 'my_{name}') and search that."
                )
    return outcomes


def check_constraints(constraints: object) -> tuple[Constraint, ...]:
    """``search(constraints=...)`` as :class:`~bonas.history.Constraint` values (see :func:`check_outcomes`)."""
    if constraints is None:
        return ()
    if not isinstance(constraints, Mapping):
        raise ArgumentTypeError(
            f"constraints must be a dict of metric -> (operator, bound), e.g. {{'latency_ms': ('<=', 10.0)}}, "
            f"got {constraints!r}."
        )
    checked = []
    for name, rule in constraints.items():
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(
                f"constraints: a metric name must be a non-empty string, got {name!r}."
            )
        if not isinstance(rule, tuple | list) or len(rule) != 2:
            raise InvalidArgumentError(
                f"constraints: {name!r} must map to (operator, bound) such as ('<=', 10.0), got {rule!r}."
            )
        operator, bound = rule
        if operator not in CONSTRAINT_OPERATORS:
            raise InvalidArgumentError(
                f"constraints: the operator of {name!r} must be '<=' or '>=', got {operator!r}."
            )
        if isinstance(bound, bool) or not isinstance(bound, numbers.Real) or not float(bound) == float(bound):
            raise InvalidArgumentError(
                f"constraints: the bound of {name!r} must be a number, got {bound!r} ({type(bound).__name__})."
            )
        if abs(float(bound)) == float("inf"):
            raise InvalidArgumentError(f"constraints: the bound of {name!r} must be finite, got {bound!r}.")
        checked.append(Constraint(name, operator, float(bound)))
    return tuple(checked)


_CONSTRAINT_TEXT = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(<=|>=)\s*(\S+)\s*$")


def parse_constraint(text: str) -> tuple[str, tuple[str, float]]:
    """``"latency_pixel3<=12"`` as ``("latency_pixel3", ("<=", 12.0))`` (the command line's form)."""
    match = _CONSTRAINT_TEXT.match(text)
    bound: float | None = None
    if match is not None:
        try:
            bound = float(match.group(3))
        except ValueError:
            bound = None
    if match is None or bound is None or abs(bound) == float("inf") or bound != bound:
        raise InvalidArgumentError(
            f"Constraint {text!r} must read METRIC<=NUMBER or METRIC>=NUMBER, e.g. 'latency_pixel3<=12'."
        )
    return match.group(1), (match.group(2), bound)


def parse_objective(text: str) -> tuple[str, str]:
    """``"latency_pixel3:min"`` as ``("latency_pixel3", "minimize")`` (the command line's form)."""
    name, colon, way = text.rpartition(":")
    if not colon or not name or way not in DIRECTIONS:
        raise InvalidArgumentError(
            f"Objective {text!r} must read METRIC:max or METRIC:min, e.g. 'val_accuracy:max'."
        )
    return name, DIRECTIONS[way]


def check_known_metrics(objective: object, outcomes: Outcomes) -> None:
    """Refuse, before any trial, an objective or constraint on a metric the objective does not return,
    where the objective lists its metrics (``metric_names``, as tabular benchmarks do)."""
    known = getattr(objective, "metric_names", None)
    if known is None:
        return
    known = tuple(known)
    for kind, names in (
        ("objective", outcomes.metrics),
        ("constraint", [c.metric for c in outcomes.constraints]),
    ):
        for name in names:
            if name not in known:
                hint = getattr(objective, "missing_metric_hint", lambda metric: None)(name)
                raise InvalidArgumentError(
                    f"The {kind} metric {name!r} is not one the objective returns; it returns "
                    f"{', '.join(map(repr, known))}." + (f" {hint}." if hint else "")
                )


def outcome_values(
    result: Any, outcomes: Outcomes
) -> tuple[tuple[float, ...], tuple[float, ...], dict[str, Any]]:
    """Every objective's value, every constraint's value (<= 0: satisfied) and every metric of an
    objective's result.

    Raises:
        ObjectiveError: the result is not a number or a dict of metrics, an objective's or a
            constraint's metric is missing or not a number (named).
    """
    if not outcomes.is_multi_objective and not outcomes.constraints:
        value, found = metrics(result, outcomes.metrics[0])
        return (value,), (), found
    needed = tuple(dict.fromkeys([*outcomes.metrics, *(c.metric for c in outcomes.constraints)]))
    if not isinstance(result, Mapping):
        # As a missing metric: the search stops after the first trial unless an earlier one returned them.
        raise MissingMetricError(
            f"The objective returned {result!r} ({type(result).__name__}); with several objectives or "
            f"constraints it must return a dict of metrics holding {', '.join(map(repr, needed))}.",
            needed,
        )
    found = recorded_metrics(result, needed)
    for kind, names in (
        ("objective", outcomes.metrics),
        ("constraint", [c.metric for c in outcomes.constraints]),
    ):
        missing = [name for name in names if name not in found]
        if missing:
            raise MissingMetricError(
                f"The objective returned metrics {sorted(found)} without the {kind} metric "
                f"{', '.join(map(repr, missing))}; return it, or search a metric it returns.",
                tuple(missing),
                kept=found,
            )
    values = tuple(found[name] for name in outcomes.metrics)
    return values, tuple(c.value(found[c.metric]) for c in outcomes.constraints), found
