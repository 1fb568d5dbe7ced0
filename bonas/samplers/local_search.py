"""Local search, after White et al. 2021, "Local Search is State of the Art for Neural Architecture
Search Benchmarks".

Hill climbing with first improvement: evaluate unseen neighbours of the incumbent in random order and
move as soon as one is better. The walk is derived from the study's history (no hidden state), so it
survives resume and several workers: the centre is always the best evaluated architecture that still
has unseen neighbours. At a local optimum (all neighbours seen, none better) the climb continues from
the next best such architecture instead of a random restart.
"""

from __future__ import annotations

import numpy as np

from bonas.architecture import Architecture
from bonas.history import SearchHistory
from bonas.samplers.base import ArchitectureSampler
from bonas.spaces.base import SearchSpace


class LocalSearchSampler(ArchitectureSampler):
    """Best-first hill climbing over one-edit neighbourhoods.

    Args:
        space: the search space.
        n_initial: random architectures evaluated before the climb starts from the best of them.
        seed: seed of the sampler's generator.
        allow_repeats: allow proposing architectures already evaluated (noisy objectives).
        batch_size: architectures proposed jointly per batch (see :class:`ArchitectureSampler`).
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        n_initial: int = 10,
        seed: int | None = None,
        allow_repeats: bool = False,
        batch_size: int = 1,
    ) -> None:
        if n_initial < 1:
            raise ValueError(f"n_initial must be at least 1, got {n_initial}.")
        super().__init__(space, seed=seed, allow_repeats=allow_repeats, batch_size=batch_size)
        self.n_initial = n_initial
        self._neighbours: dict[Architecture, list[Architecture]] = {}

    def propose(self, history: SearchHistory, rng: np.random.Generator) -> Architecture:
        if len(history.observations) + len(history.pending) < self.n_initial or not history.observations:
            return self.random_new(history, rng)
        for centre in history.best(len(history.observations)):
            neighbour = self.new_choice(history, self._neighbourhood(centre.architecture), rng)
            if neighbour is not None:
                return neighbour
        return self.random_new(history, rng)

    def _neighbourhood(self, architecture: Architecture) -> list[Architecture]:
        if architecture not in self._neighbours:
            self._neighbours[architecture] = self.space.neighbours(architecture)
        return self._neighbours[architecture]
