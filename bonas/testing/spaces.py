"""The checks every search space must pass: :class:`SearchSpaceConformance`.

Subclass it in a ``Test...`` class and override :meth:`~SearchSpaceConformance.make_space`::

    from bonas.testing.spaces import SearchSpaceConformance

    class TestMySpace(SearchSpaceConformance):
        def make_space(self):
            return CategoricalSpace("my-space", [Categorical("depth", (1, 2, 3)), ...])

To run the suite on several spaces, override the ``space`` fixture instead (for example with
``@pytest.fixture(params=...)``). Class attributes tune the suite for a space: ``n_samples``
architectures are drawn per check, ``check_neighbours`` turns off the (possibly large) neighbourhood
checks, ``max_enumeration`` bounds the size of a space that is enumerated in full. Every random draw is
seeded, and the suite takes well under 3 s for a space whose ``from_params`` is fast. Needs pytest (see
:mod:`bonas.testing`).
"""

from __future__ import annotations

import re

import numpy as np
import optuna
import pytest

from bonas import trials
from bonas.architecture import Architecture
from bonas.errors import InvalidArchitectureError, SearchSpaceTooLargeError
from bonas.spaces.base import MAX_ENUMERATION, Categorical, SearchSpace
from bonas.spaces.categorical import CategoricalSpace

HEX16 = re.compile(r"^[0-9a-f]{16}$")

#: A value no space offers as a choice.
NOT_A_CHOICE = "not-a-choice-7f3a"


class SearchSpaceConformance:
    """Shared checks for :class:`bonas.spaces.base.SearchSpace` implementations (not collected itself)."""

    #: Architectures drawn for each per-architecture check.
    n_samples: int = 8
    #: Whether to list neighbourhoods (turn off for spaces with huge neighbourhoods).
    check_neighbours: bool = True
    #: Enumerate the whole space only when it has at most this many architectures.
    max_enumeration: int = 20_000

    def make_space(self) -> SearchSpace:
        """A new instance of the space under test."""
        raise NotImplementedError(
            f"{type(self).__name__} must override make_space() (or the `space` fixture) to return the "
            "space under test."
        )

    # -- helpers ---------------------------------------------------------------------------------------

    @pytest.fixture
    def space(self) -> SearchSpace:
        """The space under test (default: :meth:`make_space`)."""
        return self.make_space()

    def samples(self, space: SearchSpace, seed: int = 0) -> list[Architecture]:
        rng = np.random.default_rng(seed)
        return [space.sample(rng) for _ in range(self.n_samples)]

    # -- sampling --------------------------------------------------------------------------------------

    def test_parameters_are_categorical_with_unique_names(self, space: SearchSpace) -> None:
        names = [parameter.name for parameter in space.parameters]
        assert names, "a space needs at least one parameter"
        assert len(set(names)) == len(names)
        assert all(isinstance(parameter, Categorical) for parameter in space.parameters)
        assert isinstance(space.name, str) and space.name

    def test_sample_gives_valid_architectures(self, space: SearchSpace) -> None:
        for arch in self.samples(space):
            assert isinstance(arch, Architecture)
            assert arch.space == space.name
            space.validate(arch)

    def test_sample_is_reproducible_for_a_seed(self, space: SearchSpace) -> None:
        first = self.samples(space, seed=123)
        again = self.samples(space, seed=123)
        assert first == again
        assert [str(a) for a in first] == [str(a) for a in again]
        other = self.samples(space, seed=124)
        assert first != other, "different seeds should (almost surely) give different samples"

    # -- round trips -----------------------------------------------------------------------------------

    def test_params_round_trip(self, space: SearchSpace) -> None:
        for arch in self.samples(space):
            params = space.to_params(arch)
            assert isinstance(params, dict)
            rebuilt = space.from_params(params)
            assert rebuilt == arch
            assert str(rebuilt) == str(arch)
            assert rebuilt.canonical_hash == arch.canonical_hash

    def test_string_round_trip_is_stable(self, space: SearchSpace) -> None:
        for arch in self.samples(space):
            text = str(arch)
            assert isinstance(text, str) and text
            parsed = space.parse(text)
            assert parsed == arch
            assert str(parsed) == text
            assert str(space.parse(str(parsed))) == text

    # -- moves -----------------------------------------------------------------------------------------

    def test_mutate_changes_at_least_one_parameter(self, space: SearchSpace) -> None:
        rng = np.random.default_rng(7)
        for arch in self.samples(space):
            mutant = space.mutate(arch, rng)
            space.validate(mutant)
            assert mutant != arch
            before, after = arch.param_dict, mutant.param_dict
            changed = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
            assert changed, f"mutate({arch}) returned an identical parameter set"

    def test_mutate_is_reproducible_for_a_seed(self, space: SearchSpace) -> None:
        arch = self.samples(space)[0]
        first = [space.mutate(arch, np.random.default_rng(5)) for _ in range(3)]
        assert len(set(first)) == 1

    def test_mutate_lands_in_neighbours(self, space: SearchSpace) -> None:
        if not self.check_neighbours:
            pytest.skip("neighbourhoods of this space are too large to list in a test")
        rng = np.random.default_rng(11)
        for arch in self.samples(space)[:4]:
            neighbours = set(space.neighbours(arch))
            for _ in range(5):
                assert space.mutate(arch, rng) in neighbours

    def test_neighbours_are_valid_distinct_and_exclude_self(self, space: SearchSpace) -> None:
        if not self.check_neighbours:
            pytest.skip("neighbourhoods of this space are too large to list in a test")
        for arch in self.samples(space)[:4]:
            neighbours = space.neighbours(arch)
            assert neighbours, f"{arch} has no neighbours"
            assert arch not in neighbours
            assert len(set(neighbours)) == len(neighbours)
            for neighbour in neighbours:
                space.validate(neighbour)

    # -- hashing ---------------------------------------------------------------------------------------

    def test_canonical_hash_is_16_hex_and_deterministic(self, space: SearchSpace) -> None:
        for arch in self.samples(space):
            digest = arch.canonical_hash
            assert isinstance(digest, str) and HEX16.match(digest), digest
            assert space.from_params(arch.param_dict).canonical_hash == digest
            assert space.parse(str(arch)).canonical_hash == digest

    def test_every_parameter_can_change_the_architecture(self, space: SearchSpace) -> None:
        # A parameter the graph builder leaves out merges architectures that differ in it into one.
        assert space.parameters_outside_the_hash(np.random.default_rng(0)) == []

    def test_architectures_are_hashable_values(self, space: SearchSpace) -> None:
        archs = self.samples(space)
        copies = [space.from_params(a.param_dict) for a in archs]
        assert set(archs) == set(copies)
        assert {a: i for i, a in enumerate(archs)} == {a: i for i, a in enumerate(copies)}

    # -- invalid input ---------------------------------------------------------------------------------

    def test_from_params_rejects_unknown_parameter(self, space: SearchSpace) -> None:
        params = {**self.samples(space)[0].param_dict, "no_such_parameter": 1}
        with pytest.raises(InvalidArchitectureError, match="no_such_parameter"):
            space.from_params(params)

    def test_from_params_rejects_missing_parameter(self, space: SearchSpace) -> None:
        params = self.samples(space)[0].param_dict
        first = space.parameters[0].name  # decided first, so never conditional
        del params[first]
        with pytest.raises(InvalidArchitectureError, match=re.escape(first)):
            space.from_params(params)

    def test_from_params_rejects_out_of_range_value(self, space: SearchSpace) -> None:
        arch = self.samples(space)[0]
        for name in list(arch.param_dict)[:3]:
            params = {**arch.param_dict, name: NOT_A_CHOICE}
            with pytest.raises(InvalidArchitectureError, match=re.escape(name)) as info:
                space.from_params(params)
            assert NOT_A_CHOICE in str(info.value)

    def test_from_params_rejects_non_mapping(self, space: SearchSpace) -> None:
        with pytest.raises(InvalidArchitectureError):
            space.from_params(["not", "a", "mapping"])  # type: ignore[arg-type]

    def test_invalid_architecture_error_is_a_value_error(self, space: SearchSpace) -> None:
        with pytest.raises(ValueError):
            space.from_params({"no_such_parameter": 1})

    @pytest.mark.parametrize("garbage", ["", "   ", "%%% not an architecture %%%", "|||+++", None, 42])
    def test_parse_rejects_garbage(self, space: SearchSpace, garbage: object) -> None:
        with pytest.raises(InvalidArchitectureError):
            space.parse(garbage)  # type: ignore[arg-type]

    def test_validate_rejects_architecture_of_another_space(self, space: SearchSpace) -> None:
        other = CategoricalSpace("conformance-other-space", [Categorical("x", ("a", "b"))])
        foreign = other.from_params({"x": "a"})
        with pytest.raises(InvalidArchitectureError, match="conformance-other-space"):
            space.validate(foreign)
        with pytest.raises(InvalidArchitectureError):
            space.to_params(foreign)
        with pytest.raises(InvalidArchitectureError):
            space.validate("not an architecture")  # type: ignore[arg-type]

    # -- Optuna ----------------------------------------------------------------------------------------

    def test_suggest_with_fixed_trial_gives_same_architecture(self, space: SearchSpace) -> None:
        for arch in self.samples(space):
            trial = optuna.trial.FixedTrial(space.to_params(arch))
            assert trials.suggest(space, trial) == arch

    def test_distributions_cover_every_parameter(self, space: SearchSpace) -> None:
        distributions = trials.distributions(space)
        assert set(distributions) == {parameter.name for parameter in space.parameters}
        for parameter in space.parameters:
            assert tuple(distributions[parameter.name].choices) == tuple(parameter.choices)
        for arch in self.samples(space):
            for name, value in arch.params:
                assert value in distributions[name].choices

    # -- whole space -----------------------------------------------------------------------------------

    def test_size_and_enumerate(self, space: SearchSpace) -> None:
        if not space.is_enumerable:
            with pytest.raises(SearchSpaceTooLargeError):
                next(iter(space.enumerate()))
            # A large space may still know its size analytically; otherwise counting must refuse too.
            try:
                size = space.size()
            except SearchSpaceTooLargeError:
                return
            assert size > MAX_ENUMERATION
            return
        size = space.size()
        assert size >= 1
        if size > self.max_enumeration:
            pytest.skip(f"{size:,} architectures: too many to enumerate in a fast test")
        archs = list(space.enumerate())
        assert len(archs) == size
        distinct = set(archs)
        assert len(distinct) == size
        for arch in archs[:: max(1, size // 50)]:
            space.validate(arch)
        assert all(arch in distinct for arch in self.samples(space))
