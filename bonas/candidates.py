"""Candidate generation over a discrete space: which architectures the acquisition scores.

Small spaces are scored whole (NB201: every cell not yet evaluated, one per isomorphism class). Large
ones get mutations (1-2 edits) of the best evaluated architectures plus random samples, and the
acquisition is then refined by a local search (see :class:`bonas.samplers.bayesian.BayesianOptimizationSampler`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from bonas.architecture import Architecture
from bonas.history import SearchHistory
from bonas.spaces.base import SearchSpace


@dataclass(frozen=True)
class CandidateSettings:
    """How many candidates of which kind.

    Args:
        enumerate_below: spaces with at most this many architectures are scored whole. NB201 (15,625)
            is; NAS-Bench-Graph (59,040, 35,910 isomorphism classes) is not: scoring it whole costs about
            1 s per proposal against 0.4 s for mutations plus the local search.
        n_parents: best evaluated architectures whose mutations are candidates.
        mutations_per_parent: mutants drawn per parent (half one edit, half two edits).
        n_random: uniformly random candidates added for exploration.
    """

    enumerate_below: int = 20_000
    n_parents: int = 10
    mutations_per_parent: int = 50
    n_random: int = 500

    def __post_init__(self) -> None:
        if min(self.enumerate_below, self.n_parents, self.mutations_per_parent, self.n_random) < 0:
            raise ValueError(f"Candidate counts must be non-negative, got {self}.")


def generate_candidates(
    space: SearchSpace, history: SearchHistory, rng: np.random.Generator, settings: CandidateSettings
) -> list[Architecture]:
    """Unseen architectures to score, one per canonical hash, in a deterministic order for ``rng``."""
    if scores_whole_space(space, settings):
        return [a for a in _representatives(space) if a.canonical_hash not in history.seen]
    found: dict[str, Architecture] = {}

    def offer(architecture: Architecture) -> None:
        if architecture.canonical_hash not in history.seen:
            found.setdefault(architecture.canonical_hash, architecture)

    for parent in history.best(settings.n_parents):
        for k in range(settings.mutations_per_parent):
            child = space.mutate(parent.architecture, rng)
            if k % 2:
                child = space.mutate(child, rng)
            offer(child)
    for _ in range(settings.n_random):
        offer(space.sample(rng))
    return list(found.values())


def scores_whole_space(space: SearchSpace, settings: CandidateSettings) -> bool:
    """Whether every unseen architecture of ``space`` is a candidate (small spaces)."""
    return space.is_enumerable and _size(space) <= settings.enumerate_below


def space_size(space: SearchSpace) -> int:
    """The number of architectures of an enumerable ``space`` (counted once per space instance)."""
    return _size(space)


@lru_cache(maxsize=8)
def _size(space: SearchSpace) -> int:
    return space.size()


@lru_cache(maxsize=8)
def _representatives(space: SearchSpace) -> tuple[Architecture, ...]:
    """One architecture per isomorphism class, in enumeration order (cached per space instance)."""
    seen: dict[str, Architecture] = {}
    for architecture in space.enumerate():
        seen.setdefault(architecture.canonical_hash, architecture)
    return tuple(seen.values())
