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
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from bonas.architecture import Architecture

#: Fidelities a history can hold, lowest first (the names :mod:`bonas.trials` writes).
FIDELITY_ORDER = ("weight-sharing", "stand-alone")

#: Architectures measured at both fidelities from which the correction is a fitted line.
MIN_PAIRS_FOR_LINE = 3

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
        # The exact bound (12, 0.5, 1000004): two bounds never print alike.
        bound = (
            int(self.bound) if float(self.bound).is_integer() and abs(self.bound) < 1e15 else repr(self.bound)
        )
        return f"{self.metric}{self.operator}{bound}"


@dataclass(frozen=True)
class Observation:
    """An evaluated architecture and its value (larger is better, whatever the study's direction).

    Args:
        architecture: the evaluated architecture.
        value: the (first) objective's value, signed so that larger is better.
        values: every objective's value, signed so that larger is better (empty: just ``value``).
        constraints: every constraint's value (<= 0: satisfied), in the study's constraint order.
        fidelity: how it was measured (``weight-sharing``, ``stand-alone``); None for an objective
            with a single fidelity, which counts as the highest.
    """

    architecture: Architecture
    value: float
    values: tuple[float, ...] = ()
    constraints: tuple[float, ...] = ()
    fidelity: str | None = None

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


def fidelity_rank(fidelity: str | None) -> int:
    """Order of fidelities (:data:`FIDELITY_ORDER`): unknown ones and None (an objective's only
    fidelity) rank as the highest."""
    return FIDELITY_ORDER.index(fidelity) if fidelity in FIDELITY_ORDER else len(FIDELITY_ORDER) - 1


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
        failed: architectures whose evaluation failed (the objective raised or returned a non-finite
            value), in trial order; not interrupted trials, nor those of a lost worker.
    """

    observations: list[Observation] = field(default_factory=list)
    pending: list[Architecture] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    objectives: tuple[str, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    signs: tuple[float, ...] = ()
    failed: list[Architecture] = field(default_factory=list)

    @property
    def is_multi_objective(self) -> bool:
        return len(self.objectives) > 1 or any(len(o.values) > 1 for o in self.observations)

    def best(self, k: int = 1) -> list[Observation]:
        """The ``k`` best observations, best first: by value, and with constraints feasible ones first
        (then the least violating), as Deb's feasibility rules rank them."""
        if not self.constraints:
            return sorted(self.observations, key=lambda o: o.value, reverse=True)[:k]
        return sorted(self.observations, key=feasibility_rank, reverse=True)[:k]

    def means(self) -> list[Observation]:
        """One observation per distinct architecture (by canonical hash), its value, objective values and
        constraint values the means of that architecture's, in the order of first evaluation (fidelity
        that of the first). Differs from :attr:`observations` only where a noisy objective evaluated an
        architecture again."""
        return [_mean_of(group) for group in self.by_architecture()]

    def by_architecture(self) -> list[list[Observation]]:
        """The observations grouped by architecture (canonical hash), in the order of first evaluation."""
        groups: dict[str, list[Observation]] = {}
        for observation in self.observations:
            groups.setdefault(observation.architecture.canonical_hash, []).append(observation)
        return list(groups.values())

    def best_mean(self) -> Architecture | None:
        """The architecture of best mean value, feasible ones first (on their mean constraint values),
        then the least mean violation (:meth:`means`, :func:`feasibility_rank`; the first evaluated among
        ties), None before any evaluation."""
        means = self.means()
        return max(means, key=feasibility_rank).architecture if means else None

    def prefix(self, n: int) -> SearchHistory:
        """What was known after the first ``n`` observations: those, and nothing pending or failed."""
        observations = self.observations[:n]
        return SearchHistory(
            observations,
            [],
            {o.architecture.canonical_hash for o in observations},
            self.objectives,
            self.constraints,
            self.signs,
        )

    def copy(self) -> SearchHistory:
        """A copy whose lists and set can be extended without changing this one."""
        return SearchHistory(
            list(self.observations),
            list(self.pending),
            set(self.seen),
            self.objectives,
            self.constraints,
            self.signs,
            list(self.failed),
        )

    def is_new(self, architecture: Architecture) -> bool:
        return architecture.canonical_hash not in self.seen

    def at_one_fidelity(self) -> SearchHistory:
        """This history with every value on the scale of the highest fidelity it holds.

        A study can hold weight-sharing scores of many candidates and stand-alone trainings of a few;
        their scales differ (inherited weights score lower, and not by a constant), so a model fitted on
        both raw would mix them blindly. Instead, an architecture measured at the highest fidelity keeps
        only that value, and a lower-fidelity value of another architecture is mapped by a correction
        fitted on the architectures measured at both: a least-squares line once there are
        :data:`MIN_PAIRS_FOR_LINE` pairs, the mean offset with fewer, and matching means and spreads
        of the two groups' architecture means with none. Every repeat is kept (and each lower-fidelity
        repeat of a paired architecture is a point of the line). A history of one fidelity is returned
        unchanged.
        """
        ranks = {fidelity_rank(o.fidelity) for o in self.observations}
        if len(ranks) <= 1:
            return self
        top = max(ranks)
        by_rank: dict[int, dict[str, list[float]]] = {rank: {} for rank in ranks}
        for o in self.observations:
            by_rank[fidelity_rank(o.fidelity)].setdefault(o.architecture.canonical_hash, []).append(o.value)
        high = {key: statistics.fmean(values) for key, values in by_rank[top].items()}
        target_fidelity = next(o.fidelity for o in self.observations if fidelity_rank(o.fidelity) == top)
        corrections = {
            rank: _correction(
                {key: (values, high[key]) for key, values in by_rank[rank].items() if key in high},
                [statistics.fmean(values) for values in by_rank[rank].values()],
                list(high.values()),
            )
            for rank in ranks - {top}
        }
        # Each architecture keeps its values at the highest fidelity it was measured at (all repeats).
        best_rank: dict[str, int] = {}
        for o in self.observations:
            key = o.architecture.canonical_hash
            best_rank[key] = max(best_rank.get(key, -1), fidelity_rank(o.fidelity))
        observations: list[Observation] = []
        for o in self.observations:
            rank = fidelity_rank(o.fidelity)
            if rank != best_rank[o.architecture.canonical_hash]:
                continue
            if rank == top:
                observations.append(o)
            else:
                value = corrections[rank](o.value)
                values = (value, *o.values[1:]) if o.values else ()
                observations.append(replace(o, value=value, values=values, fidelity=target_fidelity))
        return SearchHistory(
            observations,
            list(self.pending),
            set(self.seen),
            self.objectives,
            self.constraints,
            self.signs,
            list(self.failed),
        )


def _mean_of(group: list[Observation]) -> Observation:
    """One observation averaging ``group``'s (one architecture's repeats) value, values and constraints."""
    if len(group) == 1:
        return group[0]

    def column_means(rows: list[tuple[float, ...]]) -> tuple[float, ...]:
        present = [row for row in rows if row]  # a repeat without values (none recorded) is left out
        return tuple(statistics.fmean(column) for column in zip(*present, strict=True)) if present else ()

    return replace(
        group[0],
        value=statistics.fmean(o.value for o in group),
        values=column_means([o.values for o in group]),
        constraints=column_means([o.constraints for o in group]),
    )


def _correction(
    paired: dict[str, tuple[list[float], float]], low: list[float], high: list[float]
) -> Callable[[float], float]:
    """A map from a lower fidelity's values to the highest's (see :meth:`SearchHistory.at_one_fidelity`).

    Args:
        paired: per architecture measured at both, its lower-fidelity values and its highest-fidelity mean.
        low, high: each architecture's mean at the lower and at the highest fidelity.
    """
    pairs = [(value, target) for values, target in paired.values() for value in values]
    if len(paired) >= MIN_PAIRS_FOR_LINE:
        xs, ys = zip(*pairs, strict=True)
        x_mean, y_mean = statistics.fmean(xs), statistics.fmean(ys)
        spread = sum((x - x_mean) ** 2 for x in xs)
        slope = sum((x - x_mean) * (y - y_mean) for x, y in pairs) / spread if spread > 0 else 0.0
        if slope > 0:
            return lambda v: y_mean + slope * (v - x_mean)
    if pairs:
        offset = statistics.fmean(y - x for x, y in pairs)
        return lambda v: v + offset
    if len(high) >= 2 and len(low) >= 2 and statistics.pstdev(low) > 0:
        scale = statistics.pstdev(high) / statistics.pstdev(low)
        low_mean, high_mean = statistics.fmean(low), statistics.fmean(high)
        return lambda v: high_mean + scale * (v - low_mean)
    return lambda v: v


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
