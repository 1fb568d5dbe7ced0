"""A benchmark's lookups over its space written as plain categorical choices: ``nb201-cifar10-flat``...

A user's own space usually arrives as a list of choices with no graph. :class:`FlatBenchmark` gives every
tabular benchmark that shape: its space is a :class:`~bonas.spaces.categorical.CategoricalSpace` with
the same parameters, choices, conditions and validity rule but no cell graph, so graph encodings do not
apply and two parameter sets are one architecture only when they are equal (NB201's isomorphic cells are
distinct here). Each query is answered by the wrapped benchmark, so values and optima are the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property

import numpy as np

from bonas.architecture import Architecture, ParamValue
from bonas.spaces.base import Categorical, Params, SearchSpace
from bonas.spaces.categorical import CategoricalSpace
from bonas.tabular.base import Optimum, TabularBenchmark

#: What a flat benchmark's name adds to the wrapped one's.
FLAT_SUFFIX = "-flat"


#: Characters the string form of a :class:`CategoricalSpace` reserves, and what a flat choice uses instead.
_RESERVED = {",": "-", "=": ":"}


class _Choices:
    """The original value of each flat choice that had to be renamed (NAS-Bench-Graph's ``"0,0,1,2"``
    links become ``"0-0-1-2"``), and the original space's conditions and validity rule on flat params."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.renamed: dict[str, dict[ParamValue, ParamValue]] = {}
        for parameter in space.parameters:
            mapping = {_safe(c): c for c in parameter.choices if _safe(c) != c}
            if mapping:
                self.renamed[parameter.name] = mapping

    def original(self, params: Params) -> dict[str, ParamValue]:
        return {
            name: self.renamed.get(name, {}).get(value, value)  # type: ignore[call-overload]
            for name, value in params.items()
        }

    def flat(self, parameter: Categorical) -> Categorical:
        choices = tuple(_safe(c) for c in parameter.choices)
        condition = None if parameter.active_if is None else _Condition(self, parameter)
        return Categorical(parameter.name, choices, condition)

    def is_valid(self, params: Params) -> bool:
        return self.space.is_valid(self.original(params))


class _Condition:
    """A parameter's ``active_if`` on flat params (picklable, unlike a closure)."""

    def __init__(self, choices: _Choices, parameter: Categorical) -> None:
        self.choices = choices
        self.active_if = parameter.active_if

    def __call__(self, earlier: Params) -> bool:
        return bool(self.active_if(self.choices.original(earlier)))  # type: ignore[misc]


def _safe(choice: ParamValue) -> ParamValue:
    if not isinstance(choice, str):
        return choice
    for reserved, instead in _RESERVED.items():
        choice = choice.replace(reserved, instead)
    return choice


def flat_space(space: SearchSpace) -> CategoricalSpace:
    """``space``'s parameters as a graph-free :class:`CategoricalSpace` named ``<name>-flat``."""
    return _flat(space)[0]


def _flat(space: SearchSpace) -> tuple[CategoricalSpace, _Choices]:
    choices = _Choices(space)
    rule = type(space).check_params is not SearchSpace.check_params
    flat = CategoricalSpace(
        space.name + FLAT_SUFFIX,
        [choices.flat(p) for p in space.parameters],
        constraint=choices.is_valid if rule else None,
    )
    return flat, choices


class FlatBenchmark(TabularBenchmark):
    """``benchmark``'s lookups over :func:`flat_space` of its space.

    Args:
        benchmark: the wrapped benchmark (its ``noisy`` setting applies; the rng is this one's).
        seed: seed of the rng used by calls that pass none.
    """

    def __init__(self, benchmark: TabularBenchmark, *, seed: int | None = None) -> None:
        super().__init__(noisy=benchmark.noisy, seed=seed)
        self.benchmark = benchmark
        self.name = benchmark.name + FLAT_SUFFIX
        self.space, self._choices = _flat(benchmark.space)
        self.source_files = benchmark.source_files

    def original(self, architecture: Architecture) -> Architecture:
        """The wrapped space's architecture with the same parameters."""
        return self.benchmark.space.from_params(self._choices.original(architecture.param_dict))

    def query(self, architecture: Architecture, rng: np.random.Generator) -> dict[str, float]:
        return self.benchmark.query(self.original(architecture), rng)

    def query_mean(self, architecture: Architecture) -> dict[str, float]:
        return self.benchmark.query_mean(self.original(architecture))

    def table_rows(self) -> Iterator[dict[str, float]]:
        return self.benchmark.table_rows()

    @property
    def cheap_metric_names(self) -> tuple[str, ...]:
        return self.benchmark.cheap_metric_names

    def cheap_metrics(self, architecture: Architecture) -> dict[str, float]:
        return self.benchmark.cheap_metrics(self.original(architecture))

    def missing_metric_hint(self, metric: str) -> str | None:
        return self.benchmark.missing_metric_hint(metric)

    @cached_property
    def optimum(self) -> Optimum | None:
        optimum = self.benchmark.optimum
        if optimum is None:
            return None
        params = self.benchmark.space.parse(optimum.best_val_architecture).param_dict
        flat = {name: _safe(value) for name, value in params.items()}
        return Optimum(optimum.val_accuracy, optimum.test_accuracy, str(self.space.from_params(flat)))
