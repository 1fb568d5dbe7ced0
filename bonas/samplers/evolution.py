"""Regularized (aging) evolution, Real et al. 2019, "Regularized Evolution for Image Classifier
Architecture Search".

The population is the ``population_size`` most recently evaluated architectures (the oldest dies, not
the worst); each proposal mutates the best of ``tournament_size`` members drawn at random.
"""

from __future__ import annotations

import numpy as np

from bonas.architecture import Architecture
from bonas.history import SearchHistory
from bonas.samplers.base import ArchitectureSampler
from bonas.spaces.base import SearchSpace


class RegularizedEvolutionSampler(ArchitectureSampler):
    """Aging evolution with tournament selection and one-edit mutations.

    Args:
        space: the search space.
        population_size: evaluated architectures kept alive; the first ``population_size`` proposals
            are random.
        tournament_size: members drawn to pick each parent (the best of them is mutated).
        seed: seed of the sampler's generator.
        allow_repeats: allow proposing architectures already evaluated (noisy objectives).
        batch_size: architectures proposed jointly per batch (see :class:`ArchitectureSampler`).
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        population_size: int = 20,
        tournament_size: int = 5,
        seed: int | None = None,
        allow_repeats: bool = False,
        batch_size: int = 1,
    ) -> None:
        if population_size < 1 or not 1 <= tournament_size <= population_size:
            raise ValueError(
                f"Need population_size >= 1 and 1 <= tournament_size <= population_size, got "
                f"({population_size=}, {tournament_size=})."
            )
        super().__init__(space, seed=seed, allow_repeats=allow_repeats, batch_size=batch_size)
        self.population_size = population_size
        self.tournament_size = tournament_size

    def propose(self, history: SearchHistory, rng: np.random.Generator) -> Architecture:
        if len(history.observations) + len(history.pending) < self.population_size:
            return self.random_new(history, rng)
        population = history.observations[-self.population_size :]
        drawn = rng.choice(len(population), size=min(self.tournament_size, len(population)), replace=False)
        parent = max((population[i] for i in drawn), key=lambda o: o.value).architecture
        return self.first_new(history, lambda: self.space.mutate(parent, rng), rng)
