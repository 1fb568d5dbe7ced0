"""Random search: uniformly random architectures, never one already evaluated."""

from __future__ import annotations

import numpy as np

from bonas.architecture import Architecture
from bonas.history import SearchHistory
from bonas.samplers.base import ArchitectureSampler


class RandomSearchSampler(ArchitectureSampler):
    """Uniform random search over the space (the baseline every searcher must beat).

    It ignores values, so it serves any number of objectives and constraints alike."""

    supports_multi_objective = True
    supports_constraints = True

    def propose(self, history: SearchHistory, rng: np.random.Generator) -> Architecture:
        return self.random_new(history, rng)
