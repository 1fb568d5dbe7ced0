"""Candidate generation: the whole space (one cell per isomorphism class) or mutations plus random samples."""

from __future__ import annotations

import numpy as np
import pytest

from bonas.architecture import Architecture
from bonas.candidates import CandidateSettings, generate_candidates, scores_whole_space
from bonas.history import Observation, SearchHistory
from bonas.spaces import get_space, mlp_space
from bonas.spaces.base import SearchSpace
from bonas.spaces.nb201 import NB201Space

#: Distinct canonical hashes (isomorphism classes once pruned) among the 15,625 NB201 cells.
NB201_CLASSES = 8765


@pytest.fixture(scope="module")
def nb201() -> NB201Space:
    return NB201Space()


@pytest.fixture(scope="module")
def darts() -> SearchSpace:
    return get_space("darts")


def history_of(architectures: list[Architecture]) -> SearchHistory:
    """Every architecture evaluated, the later ones better (values 0, 1, 2...)."""
    return SearchHistory(
        observations=[Observation(a, float(i)) for i, a in enumerate(architectures)],
        seen={a.canonical_hash for a in architectures},
    )


def random_architectures(space: SearchSpace, count: int, seed: int) -> list[Architecture]:
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(count)]


# -- settings -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["enumerate_below", "n_parents", "mutations_per_parent", "n_random"])
def test_settings_reject_negative_counts(field: str) -> None:
    with pytest.raises(ValueError, match=f"{field}=-1"):
        CandidateSettings(**{field: -1})


def test_settings_accept_zero_counts() -> None:
    settings = CandidateSettings(enumerate_below=0, n_parents=0, mutations_per_parent=0, n_random=0)
    assert settings.n_random == 0


def test_scores_whole_space_only_for_small_enumerable_spaces(nb201: NB201Space, darts: SearchSpace) -> None:
    assert scores_whole_space(nb201, CandidateSettings())
    assert scores_whole_space(mlp_space(), CandidateSettings())
    assert not scores_whole_space(darts, CandidateSettings())
    # The threshold counts parameter combinations: NB201 has 15,625.
    assert scores_whole_space(nb201, CandidateSettings(enumerate_below=15_625))
    assert not scores_whole_space(nb201, CandidateSettings(enumerate_below=15_624))


# -- enumerable spaces ----------------------------------------------------------------------------------


def test_nb201_candidates_are_every_unseen_isomorphism_class_once(nb201: NB201Space) -> None:
    evaluated = random_architectures(nb201, 40, seed=0)
    history = history_of(evaluated)
    candidates = generate_candidates(nb201, history, np.random.default_rng(0), CandidateSettings())
    hashes = [a.canonical_hash for a in candidates]
    assert len(set(hashes)) == len(hashes)
    assert not set(hashes) & history.seen
    assert len(hashes) == NB201_CLASSES - len(history.seen)
    every_class = {a.canonical_hash for a in nb201.enumerate()}
    assert set(hashes) | history.seen == every_class


def test_nb201_candidates_ignore_the_generator_and_the_mutation_counts(nb201: NB201Space) -> None:
    history = history_of(random_architectures(nb201, 10, seed=1))
    first = generate_candidates(nb201, history, np.random.default_rng(0), CandidateSettings())
    again = generate_candidates(
        nb201, history, np.random.default_rng(99), CandidateSettings(n_parents=0, n_random=0)
    )
    assert first == again


def test_nb201_candidates_from_an_empty_history_cover_every_class(nb201: NB201Space) -> None:
    candidates = generate_candidates(nb201, SearchHistory(), np.random.default_rng(0), CandidateSettings())
    assert len(candidates) == NB201_CLASSES


# -- large spaces ---------------------------------------------------------------------------------------


def test_darts_candidates_are_new_distinct_and_bounded(darts: SearchSpace) -> None:
    history = history_of(random_architectures(darts, 8, seed=0))
    settings = CandidateSettings(n_parents=3, mutations_per_parent=10, n_random=30)
    candidates = generate_candidates(darts, history, np.random.default_rng(0), settings)
    hashes = [a.canonical_hash for a in candidates]
    assert len(set(hashes)) == len(hashes)
    assert not set(hashes) & history.seen
    assert 0 < len(candidates) <= 3 * 10 + 30
    assert all(a.space == darts.name for a in candidates)


def test_darts_candidates_are_reproducible_for_a_seed(darts: SearchSpace) -> None:
    history = history_of(random_architectures(darts, 5, seed=2))
    settings = CandidateSettings(n_parents=2, mutations_per_parent=6, n_random=10)
    first = generate_candidates(darts, history, np.random.default_rng(3), settings)
    again = generate_candidates(darts, history, np.random.default_rng(3), settings)
    other = generate_candidates(darts, history, np.random.default_rng(4), settings)
    assert first == again
    assert first != other


def test_darts_mutations_are_one_or_two_edits_from_the_best_parents(darts: SearchSpace) -> None:
    evaluated = random_architectures(darts, 6, seed=0)
    history = history_of(evaluated)  # the last two are the best
    settings = CandidateSettings(n_parents=2, mutations_per_parent=6, n_random=0)
    candidates = generate_candidates(darts, history, np.random.default_rng(1), settings)
    assert 0 < len(candidates) <= 12
    parents = evaluated[-2:]
    one_edit = [{n.canonical_hash for n in darts.neighbours(p)} for p in parents]
    mutated_from = []
    two_edits = 0
    for candidate in candidates:
        near = [
            i
            for i in range(2)
            if candidate.canonical_hash in one_edit[i]
            or any(n.canonical_hash in one_edit[i] for n in darts.neighbours(candidate))
        ]
        assert near, f"{candidate} is not within two edits of a best parent"
        mutated_from.extend(near)
        two_edits += not any(candidate.canonical_hash in edits for edits in one_edit)
    assert set(mutated_from) == {0, 1}, "each best parent is mutated"
    assert two_edits > 0, "half the mutants get a second edit"


def test_darts_random_candidates_only_when_no_parents(darts: SearchSpace) -> None:
    history = history_of(random_architectures(darts, 4, seed=5))
    settings = CandidateSettings(n_parents=0, mutations_per_parent=50, n_random=15)
    candidates = generate_candidates(darts, history, np.random.default_rng(0), settings)
    # Random DARTS cells practically never collide (the space has ~1e18 cells).
    assert len(candidates) == 15
    rng = np.random.default_rng(0)
    assert candidates == [darts.sample(rng) for _ in range(15)]


def test_darts_no_candidates_for_zero_counts(darts: SearchSpace) -> None:
    history = history_of(random_architectures(darts, 3, seed=6))
    settings = CandidateSettings(n_parents=0, mutations_per_parent=0, n_random=0)
    assert generate_candidates(darts, history, np.random.default_rng(0), settings) == []
