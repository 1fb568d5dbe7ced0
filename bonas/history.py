"""What a searcher knows about a study: evaluated architectures, pending ones and every one seen.

A plain value passed from the sampler layer down to candidate generation, so the layers below samplers
never need to know what an Optuna trial is (:mod:`bonas.trials` builds it from a study).

A study may search several objectives and carry constraints (hardware-aware search: accuracy against
latency, a latency budget). The history then says which metrics are searched (:attr:`SearchHistory.objectives`)
and which constraints hold (:attr:`SearchHistory.constraints`), and each observation carries every
objective's value and every constraint's value, in that order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from bonas.architecture import Architecture

#: The comparison operators a constraint may use.
CONSTRAINT_OPERATORS = ("<=", ">=")


@dataclass(frozen=True)
class Constraint:
    """A bound on one metric the objective returns: ``metric <= bound`` or ``metric >= bound``.

    Its value on a trial follows Optuna's convention (a trial is feasible when every constraint's value
    is zero or less): ``metric - bound`` for ``<=``, ``bound - metric`` for ``>=``.
    """

    metric: str
    operator: str
    bound: float

    def __post_init__(self) -> None:
        if self.operator not in CONSTRAINT_OPERATORS:
            raise ValueError(
                f"A constraint's operator must be one of {CONSTRAINT_OPERATORS}, got {self.operator!r} "
                f"(constraint on {self.metric!r})."
            )
        if not math.isfinite(self.bound):
            raise ValueError(
                f"The bound of the constraint on {self.metric!r} must be finite, got {self.bound!r}."
            )

    def value(self, metric_value: float) -> float:
        """The constraint's value (<= 0: satisfied) at ``metric_value``."""
        return metric_value - self.bound if self.operator == "<=" else self.bound - metric_value

    def __str__(self) -> str:
        return f"{self.metric}{self.operator}{self.bound:g}"


@dataclass(frozen=True)
class Observation:
    """An evaluated architecture and its value (larger is better, whatever the study's direction).

    Args:
        architecture: the evaluated architecture.
        value: the (first) objective's value, signed so that larger is better.
        values: every objective's value, signed so that larger is better (empty: just ``value``).
        constraints: every constraint's value (<= 0: satisfied), in the study's constraint order.
    """

    architecture: Architecture
    value: float
    values: tuple[float, ...] = ()
    constraints: tuple[float, ...] = ()

    @property
    def objectives(self) -> tuple[float, ...]:
        """Every objective's signed value (``(value,)`` for a single-objective study)."""
        return self.values or (self.value,)

    @property
    def feasible(self) -> bool:
        """Whether every constraint holds (always, without constraints)."""
        return all(c <= 0 for c in self.constraints)

    @property
    def violation(self) -> float:
        """How far the constraints are from holding: the sum of their positive values (0 if feasible)."""
        return sum(max(c, 0.0) for c in self.constraints)


@dataclass
class SearchHistory:
    """What a sampler knows about a study.

    Args:
        observations: completed evaluations in trial order (repeats of an earlier architecture excluded).
        pending: architectures being evaluated right now (RUNNING trials of other workers).
        seen: canonical hashes of every architecture already evaluated, pending or failed.
        objectives: the searched metrics' names, in the order of :attr:`Observation.objectives` (empty
            when the study does not name them).
        constraints: the study's constraints, in the order of :attr:`Observation.constraints`.
        signs: per objective, +1 when it is maximised and -1 when minimised (the factor between a
            metric's value and its signed value in the observations); empty when not known.
    """

    observations: list[Observation] = field(default_factory=list)
    pending: list[Architecture] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    objectives: tuple[str, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    signs: tuple[float, ...] = ()

    @property
    def is_multi_objective(self) -> bool:
        return len(self.objectives) > 1 or any(len(o.values) > 1 for o in self.observations)

    def best(self, k: int = 1) -> list[Observation]:
        """The ``k`` best observations, best first: by value, and with constraints feasible ones first
        (then the least violating), as Deb's feasibility rules rank them."""
        if not self.constraints:
            return sorted(self.observations, key=lambda o: o.value, reverse=True)[:k]
        return sorted(self.observations, key=feasibility_rank, reverse=True)[:k]

    def copy(self) -> SearchHistory:
        """A copy whose lists and set can be extended without changing this one."""
        return SearchHistory(
            list(self.observations),
            list(self.pending),
            set(self.seen),
            self.objectives,
            self.constraints,
            self.signs,
        )

    def is_new(self, architecture: Architecture) -> bool:
        return architecture.canonical_hash not in self.seen


def feasibility_rank(observation: Observation) -> tuple[bool, float, float]:
    """A sort key, larger is better: feasible first, then the smaller violation, then the value."""
    return (observation.feasible, -observation.violation, observation.value)


def pareto_ranks(points: Sequence[Sequence[float]]) -> list[int]:
    """Each point's non-dominated front, 0 for the Pareto front (larger is better in every column).

    Fronts are peeled with BoTorch's ``is_non_dominated``; equal points share a front.

    Args:
        points: ``n`` rows of ``m`` objective values.
    """
    import torch
    from botorch.utils.multi_objective.pareto import is_non_dominated

    values = torch.as_tensor([list(p) for p in points], dtype=torch.float64)
    ranks = [-1] * len(values)
    remaining = torch.arange(len(values))
    front = 0
    while len(remaining):
        mask = is_non_dominated(values[remaining], deduplicate=False)
        for index in remaining[mask].tolist():
            ranks[index] = front
        remaining = remaining[~mask]
        front += 1
    return ranks


def crowding_distances(points: Sequence[Sequence[float]]) -> list[float]:
    """NSGA-II's crowding distance of each point within its set (infinite at each objective's extremes):
    the sum over objectives of the gap between its two neighbours, relative to the objective's range."""
    n = len(points)
    distances = [0.0] * n
    if n <= 2:
        return [math.inf] * n
    for column in range(len(points[0])):
        order = sorted(range(n), key=lambda i: points[i][column])
        low, high = points[order[0]][column], points[order[-1]][column]
        distances[order[0]] = distances[order[-1]] = math.inf
        if high == low:
            continue
        for before, here, after in zip(order, order[1:], order[2:], strict=False):
            distances[here] += (points[after][column] - points[before][column]) / (high - low)
    return distances
