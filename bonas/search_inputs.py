"""What :func:`bonas.search` accepts, checked at the boundary before (or as) trials run.

* its arguments: counts are whole numbers >= 1, a seed a whole number >= 0, a known direction, a space
  and a callable objective (:func:`check_count`, :func:`check_arguments`);
* a sampler instance: built for the searched space and with the asked options (:func:`resolved_sampler`);
* a stored study it continues: the same direction, metric, space, benchmark and objective
  (:func:`check_continuation`), so values of two searches never mix;
* what the objective returns: a number, or a dict of numbers holding the searched metric
  (:func:`metrics`); strings and booleans that only look like numbers are refused.

Each refusal names the bad value and the fix.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import optuna

from bonas import trials
from bonas.errors import ArgumentTypeError, BonasError, InvalidArgumentError
from bonas.samplers import ArchitectureSampler, make_sampler
from bonas.spaces.base import SearchSpace


class ObjectiveError(BonasError, ValueError):
    """An objective returned something that is not a number or a dict holding the searched metric."""


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


def check_continuation(study: optuna.Study, asked: trials.StudyAttributes, direction: str) -> None:
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


def resolved_sampler(
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


def metrics(result: Any, metric: str) -> tuple[float, dict[str, float]]:
    """The searched value and every metric of an objective's result, each checked to be a number."""
    if isinstance(result, Mapping):
        if metric not in result:
            raise ObjectiveError(
                f"The objective returned metrics {sorted(map(str, result))} without {metric!r}; return it or "
                f"pass search(..., metric=<one of those>)."
            )
        metrics = {str(name): number(value, f"metric {name!r}") for name, value in result.items()}
        return metrics[metric], metrics
    value = number(result, "value", metric=metric)
    return value, {metric: value}


def number(value: Any, what: str, *, metric: str | None = None) -> float:
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
