"""The search-space abstraction: a set of architectures described by categorical parameters.

A space is an ordered list of :class:`Categorical` parameters, some active only under a condition on
earlier ones (NB301's edges depend on which inputs a node takes, an MLP's third width on its depth).
From that one description the base class derives sampling, one-edit mutation, neighbourhoods,
enumeration, size and validation (:mod:`bonas.trials` maps it onto Optuna parameters); a concrete space adds how parameters become a
graph (:meth:`SearchSpace.build`) and its string form (:meth:`SearchSpace.parse`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bonas.architecture import Architecture, Cell, ParamValue
from bonas.errors import InvalidArchitectureError, SearchSpaceTooLargeError

Params = Mapping[str, ParamValue]

#: Largest space :meth:`SearchSpace.enumerate` will walk.
MAX_ENUMERATION = 2_000_000


@dataclass(frozen=True)
class Categorical:
    """One categorical choice of a search space.

    Args:
        name: parameter name (an Optuna parameter name).
        choices: the values it can take (str, int, float, bool or None, as Optuna requires).
        active_if: given the values of the parameters before it, whether this one is used; None means
            always.
    """

    name: str
    choices: tuple[ParamValue, ...]
    active_if: Callable[[Params], bool] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.choices, str | bytes):  # tuple("relu") would be the choices r, e, l, u
            raise ValueError(
                f"Parameter {self.name!r} needs a sequence of choices, got the string {self.choices!r}; "
                f"write ({self.choices!r},) for a single choice."
            )
        object.__setattr__(self, "choices", tuple(self.choices))
        if len(self.choices) == 0:
            raise ValueError(f"Parameter {self.name!r} needs at least one choice, got none.")
        if len(set(self.choices)) != len(self.choices):
            raise ValueError(f"Parameter {self.name!r} has repeated choices: {self.choices}.")

    def is_active(self, earlier: Params) -> bool:
        if self.active_if is None:
            return True
        try:
            return bool(self.active_if(earlier))
        except KeyError as error:
            raise ValueError(
                f"active_if of parameter {self.name!r} reads {error}, which is not among the parameters decided "
                f"before it ({', '.join(map(repr, earlier)) or 'none'}): a later or unknown parameter, or an "
                "earlier one that is inactive here. Read only earlier parameters, with params.get(name) for "
                "those that may be inactive."
            ) from None


class SearchSpace(ABC):
    """A finite set of architectures defined by ordered categorical parameters.

    Subclasses set :attr:`name`, return their parameters from :attr:`parameters` and implement
    :meth:`build` and :meth:`parse`. Spaces whose validity is more than "each parameter takes one of its
    choices" override :meth:`check_params`.
    """

    name: str

    @property
    @abstractmethod
    def parameters(self) -> tuple[Categorical, ...]:
        """The parameters, in the order they are decided (conditions look only backwards)."""

    @abstractmethod
    def build(self, params: Params) -> tuple[tuple[tuple[str, Cell], ...], str]:
        """The named cells and string form of already validated ``params``."""

    @abstractmethod
    def parse(self, text: str) -> Architecture:
        """The architecture whose string form is ``text``; raises InvalidArchitectureError if malformed."""

    def check_params(self, params: Params) -> None:
        """Raise InvalidArchitectureError if ``params`` (complete, in range) is not valid in this space.

        Every combination of choices is valid unless a subclass says otherwise.
        """
        return

    # -- Conversions ---------------------------------------------------------------------------------

    def from_params(self, params: Params) -> Architecture:
        """The architecture with these parameter values (exactly the active parameters).

        Raises:
            InvalidArchitectureError: a parameter is missing, unknown, inactive or out of range, or the
                combination is not valid in this space.
        """
        ordered = self._validated(params)
        cells, text = self.build(dict(ordered))
        return Architecture(space=self.name, params=ordered, cells=cells, text=text)

    def to_params(self, architecture: Architecture) -> dict[str, ParamValue]:
        """The flat parameter dict of ``architecture`` (what an Optuna trial holds)."""
        self.validate(architecture)
        return architecture.param_dict

    def validate(self, architecture: Architecture) -> None:
        """Raise InvalidArchitectureError unless ``architecture`` belongs to this space."""
        if not isinstance(architecture, Architecture):
            raise InvalidArchitectureError(
                f"Expected an Architecture of space {self.name!r}, got {type(architecture).__name__}: "
                f"{architecture!r}. Build one with space.from_params(...) or space.parse(...)."
            )
        if architecture.space != self.name:
            raise InvalidArchitectureError(
                f"Architecture {architecture.text!r} belongs to space {architecture.space!r}, "
                f"not {self.name!r}."
            )
        self._validated(architecture.param_dict)

    def _validated(self, params: Params) -> tuple[tuple[str, ParamValue], ...]:
        if not isinstance(params, Mapping):
            raise InvalidArchitectureError(
                f"Parameters of space {self.name!r} must be a mapping of name to value, got {params!r}."
            )
        known = {parameter.name for parameter in self.parameters}
        unknown = sorted(set(params) - known)
        if unknown:
            raise InvalidArchitectureError(
                f"Unknown parameter(s) {unknown} for space {self.name!r}; its parameters are {sorted(known)}."
            )
        ordered: list[tuple[str, ParamValue]] = []
        chosen: dict[str, ParamValue] = {}
        for parameter in self.parameters:
            if not parameter.is_active(chosen):
                if parameter.name in params:
                    raise InvalidArchitectureError(
                        f"Parameter {parameter.name!r} is inactive given {chosen} in space {self.name!r}; "
                        "leave it out."
                    )
                continue
            if parameter.name not in params:
                raise InvalidArchitectureError(
                    f"Parameter {parameter.name!r} is missing for space {self.name!r}; "
                    f"choose one of {list(parameter.choices)}."
                )
            value = _matching_choice(params[parameter.name], parameter.choices)
            if value is _NO_CHOICE:
                given = params[parameter.name]
                raise InvalidArchitectureError(
                    f"Parameter {parameter.name!r}={given!r} ({type(given).__name__}) is not a choice of space "
                    f"{self.name!r}; choose one of {list(parameter.choices)} (of that type: True is not 1, "
                    "2.0 is not 2)."
                )
            chosen[parameter.name] = value
            ordered.append((parameter.name, value))
        self.check_params(chosen)
        return tuple(ordered)

    def is_valid(self, params: Params) -> bool:
        try:
            self._validated(params)
        except InvalidArchitectureError:
            return False
        return True

    # -- Sampling and moves -------------------------------------------------------------------------

    def sample(self, rng: np.random.Generator, *, max_tries: int = 1000) -> Architecture:
        """A uniformly random valid architecture (uniform over parameter choices, then rejection)."""
        for _ in range(max_tries):
            params = self._complete({}, rng)
            if self.is_valid(params):
                return self.from_params(params)
        raise InvalidArchitectureError(
            f"No valid architecture of space {self.name!r} found in {max_tries} random draws; "
            "its validity constraint rejects (almost) everything."
        )

    def _complete(self, fixed: Params, rng: np.random.Generator) -> dict[str, ParamValue]:
        """Keep ``fixed`` values that are still active, draw the other active parameters at random."""
        params: dict[str, ParamValue] = {}
        for parameter in self.parameters:
            if not parameter.is_active(params):
                continue
            if parameter.name in fixed:
                params[parameter.name] = fixed[parameter.name]
            else:
                params[parameter.name] = parameter.choices[int(rng.integers(len(parameter.choices)))]
        return params

    def mutate(
        self, architecture: Architecture, rng: np.random.Generator, *, max_tries: int = 100
    ) -> Architecture:
        """A valid architecture one edit away: one active parameter changed to another value.

        Parameters that the edit activates are drawn at random; those it deactivates are dropped.
        """
        params = self.to_params(architecture)
        names = [name for name, _ in architecture.params if len(self._parameter(name).choices) > 1]
        if not names:
            raise InvalidArchitectureError(f"Space {self.name!r} has no parameter with two or more choices.")
        for _ in range(max_tries):
            name = names[int(rng.integers(len(names)))]
            others = [c for c in self._parameter(name).choices if c != params[name]]
            edited = self._complete({**params, name: others[int(rng.integers(len(others)))]}, rng)
            if self.is_valid(edited):
                return self.from_params(edited)
        raise InvalidArchitectureError(
            f"No valid one-edit mutation of {architecture.text!r} found in {max_tries} tries."
        )

    def neighbours(self, architecture: Architecture) -> list[Architecture]:
        """Every valid architecture one edit away (one active parameter changed).

        When an edit activates parameters, each combination of their values is a neighbour.
        """
        params = self.to_params(architecture)
        result: list[Architecture] = []
        for name, value in architecture.params:
            for other in self._parameter(name).choices:
                if other == value:
                    continue
                for edited in self._completions({**params, name: other}):
                    if self.is_valid(edited):
                        result.append(self.from_params(edited))
        return result

    def parameters_outside_the_hash(self, rng: np.random.Generator, *, samples: int = 8) -> list[str]:
        """Parameters that no one-parameter edit of ``samples`` random architectures changes the canonical
        hash of (among those active in a sample and with several choices): where a graph builder leaves
        a parameter out, architectures that differ only in it count as one, and a search evaluates one."""
        left: set[str] = set()
        changed: set[str] = set()
        for _ in range(samples):
            architecture = self.sample(rng)
            params = self.to_params(architecture)
            for name, value in params.items():
                choices = self._parameter(name).choices
                if name in changed or len(choices) < 2:
                    continue
                left.add(name)
                for other in choices:
                    if other == value:
                        continue
                    # A few random completions, as mutate draws them: trying every completion of the
                    # parameters an edit activates could take c**k tries under a strict constraint.
                    drawn = (self._complete({**params, name: other}, rng) for _ in range(10))
                    edited = next((e for e in drawn if self.is_valid(e)), None)
                    if (
                        edited is not None
                        and self.from_params(edited).canonical_hash != architecture.canonical_hash
                    ):
                        changed.add(name)
                        break
        return sorted(left - changed)

    def _completions(self, fixed: Params) -> Iterator[dict[str, ParamValue]]:
        """Every completion of ``fixed``: kept values where active, all choices for the rest."""

        def extend(index: int, params: dict[str, ParamValue]) -> Iterator[dict[str, ParamValue]]:
            if index == len(self.parameters):
                yield dict(params)
                return
            parameter = self.parameters[index]
            if not parameter.is_active(params):
                yield from extend(index + 1, params)
                return
            values = [fixed[parameter.name]] if parameter.name in fixed else list(parameter.choices)
            for value in values:
                params[parameter.name] = value
                yield from extend(index + 1, params)
                del params[parameter.name]

        yield from extend(0, {})

    def _parameter(self, name: str) -> Categorical:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise InvalidArchitectureError(f"Space {self.name!r} has no parameter {name!r}.")

    # -- Whole-space views --------------------------------------------------------------------------

    def size(self) -> int:
        """Number of valid architectures (parameter combinations, not isomorphism classes)."""
        if self._combination_bound() > MAX_ENUMERATION:
            raise SearchSpaceTooLargeError(
                f"Space {self.name!r} has up to {self._combination_bound():.3g} combinations; "
                "it cannot be counted by enumeration."
            )
        return sum(1 for params in self._completions({}) if self.is_valid(params))

    def enumerate(self) -> Iterator[Architecture]:
        """Every valid architecture, in parameter order.

        Raises:
            SearchSpaceTooLargeError: the space has more than MAX_ENUMERATION combinations.
        """
        bound = self._combination_bound()
        if bound > MAX_ENUMERATION:
            raise SearchSpaceTooLargeError(
                f"Space {self.name!r} has up to {bound:.3g} combinations, more than the {MAX_ENUMERATION:,} "
                "that can be enumerated; use sample() or neighbours() instead."
            )
        for params in self._completions({}):
            if self.is_valid(params):
                yield self.from_params(params)

    @property
    def is_enumerable(self) -> bool:
        return self._combination_bound() <= MAX_ENUMERATION

    def _combination_bound(self) -> float:
        """An upper bound on the number of combinations (product of all choice counts)."""
        return math.prod(float(len(parameter.choices)) for parameter in self.parameters)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


_NO_CHOICE = object()


def _matching_choice(value: object, choices: tuple[ParamValue, ...]) -> Any:
    """The choice equal to ``value`` and of its type (a NumPy scalar counts as its Python value), else
    :data:`_NO_CHOICE`: ``True == 1`` and ``2.0 == 2`` in Python, but they are other choices."""
    if isinstance(value, np.generic):
        value = value.item()
    for choice in choices:
        if type(choice) is type(value) and choice == value:
            return choice
    return _NO_CHOICE


def split_pairs(text: str, separator: str = ",") -> list[tuple[str, str]]:
    """Parse ``"a=1,b=2"`` into ``[("a", "1"), ("b", "2")]``; raise InvalidArchitectureError if malformed."""
    pairs = []
    for item in text.split(separator):
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise InvalidArchitectureError(f"Malformed item {item!r} in {text!r}; expected name=value.")
        pairs.append((key.strip(), value.strip()))
    return pairs
