"""Regularized (aging) evolution, Real et al. 2019, "Regularized Evolution for Image Classifier
Architecture Search".

The population is the ``population_size`` most recently evaluated architectures (the oldest dies, not
the worst); each proposal mutates the best of ``tournament_size`` members drawn at random.

With several objectives, or constraints, "best" is a Pareto-rank tournament (as NSGA-II ranks): a
feasible member beats an infeasible one, a less violating infeasible one a more violating one; among
feasible members the lower non-dominated front of the population wins, then the larger crowding
distance within that front (the less crowded part of the front).
"""

from __future__ import annotations

import numpy as np

from bonas.architecture import Architecture
from bonas.history import Observation, SearchHistory, crowding_distances, pareto_ranks
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

    supports_multi_objective = True
    supports_constraints = True

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
        if history.is_multi_objective or history.constraints:
            keys = tournament_keys(population)
            parent = population[max(drawn, key=lambda i: keys[i])].architecture
        else:
            parent = max((population[i] for i in drawn), key=lambda o: o.value).architecture
        return self.first_new(history, lambda: self.space.mutate(parent, rng), rng)


def tournament_keys(population: list[Observation]) -> list[tuple[bool, float, float, float]]:
    """Per member, a sort key (larger is better) for a Pareto-rank tournament with feasibility first."""
    feasible = [i for i, o in enumerate(population) if o.feasible]
    ranks = dict.fromkeys(range(len(population)), 0)
    crowding = dict.fromkeys(range(len(population)), 0.0)
    if feasible:
        front_of = pareto_ranks([population[i].objectives for i in feasible])
        ranks.update(zip(feasible, front_of, strict=True))
        for front in set(front_of):
            members = [i for i, f in zip(feasible, front_of, strict=True) if f == front]
            distances = crowding_distances([population[i].objectives for i in members])
            crowding.update(zip(members, distances, strict=True))
    return [(o.feasible, -o.violation, -float(ranks[i]), crowding[i]) for i, o in enumerate(population)]
