"""What a searcher knows about a study: evaluated architectures, pending ones and every one seen.

A plain value passed from the sampler layer down to candidate generation, so the layers below samplers
never need to know what an Optuna trial is (:mod:`bonas.trials` builds it from a study).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from bonas.architecture import Architecture

#: Fidelities a history can hold, lowest first (the names :mod:`bonas.trials` writes).
FIDELITY_ORDER = ("weight-sharing", "stand-alone")

#: Pairs (an architecture measured at both fidelities) from which the correction is a fitted line.
MIN_PAIRS_FOR_LINE = 3


@dataclass(frozen=True)
class Observation:
    """An evaluated architecture and its value (larger is better, whatever the study's direction).

    ``fidelity`` says how it was measured (``weight-sharing``, ``stand-alone``); None for an objective
    with a single fidelity, which counts as the highest.
    """

    architecture: Architecture
    value: float
    fidelity: str | None = None


def _rank(fidelity: str | None) -> int:
    return FIDELITY_ORDER.index(fidelity) if fidelity in FIDELITY_ORDER else len(FIDELITY_ORDER) - 1


@dataclass
class SearchHistory:
    """What a sampler knows about a study.

    Args:
        observations: completed evaluations in trial order (repeats of an earlier architecture excluded).
        pending: architectures being evaluated right now (RUNNING trials of other workers).
        seen: canonical hashes of every architecture already evaluated, pending or failed.
    """

    observations: list[Observation] = field(default_factory=list)
    pending: list[Architecture] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def best(self, k: int = 1) -> list[Observation]:
        """The ``k`` best observations, best first."""
        return sorted(self.observations, key=lambda o: o.value, reverse=True)[:k]

    def means(self) -> list[Observation]:
        """One observation per distinct architecture (by canonical hash), its value the mean of that
        architecture's values, in the order of first evaluation. Differs from :attr:`observations`
        only where a noisy objective evaluated an architecture again."""
        groups: dict[str, tuple[Architecture, list[float]]] = {}
        for observation in self.observations:
            groups.setdefault(observation.architecture.canonical_hash, (observation.architecture, []))[
                1
            ].append(observation.value)
        return [
            Observation(architecture, sum(values) / len(values)) for architecture, values in groups.values()
        ]

    def best_mean(self) -> Architecture | None:
        """The architecture of best mean value (:meth:`means`; the first evaluated among ties), None
        before any evaluation."""
        means = self.means()
        return max(means, key=lambda o: o.value).architecture if means else None

    def prefix(self, n: int) -> SearchHistory:
        """What was known after the first ``n`` observations: those, and nothing pending."""
        observations = self.observations[:n]
        return SearchHistory(observations, [], {o.architecture.canonical_hash for o in observations})

    def copy(self) -> SearchHistory:
        """A copy whose lists and set can be extended without changing this one."""
        return SearchHistory(list(self.observations), list(self.pending), set(self.seen))

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
        of the two groups with none. A history of one fidelity is returned unchanged.
        """
        ranks = {_rank(o.fidelity) for o in self.observations}
        if len(ranks) <= 1:
            return self
        top = max(ranks)
        high: dict[str, float] = {}
        for o in self.observations:
            if _rank(o.fidelity) == top:
                high.setdefault(o.architecture.canonical_hash, o.value)
        target_fidelity = next(o.fidelity for o in self.observations if _rank(o.fidelity) == top)
        corrections = {
            rank: _correction(
                [
                    (o.value, high[o.architecture.canonical_hash])
                    for o in self.observations
                    if _rank(o.fidelity) == rank and o.architecture.canonical_hash in high
                ],
                [o.value for o in self.observations if _rank(o.fidelity) == rank],
                list(high.values()),
            )
            for rank in ranks - {top}
        }
        observations: list[Observation] = []
        placed: set[str] = set()
        for o in self.observations:
            key = o.architecture.canonical_hash
            rank = _rank(o.fidelity)
            if rank == top:
                observations.append(o)
            elif key not in high and key not in placed:
                observations.append(Observation(o.architecture, corrections[rank](o.value), target_fidelity))
                placed.add(key)
        return SearchHistory(observations, list(self.pending), set(self.seen))


def _correction(
    pairs: list[tuple[float, float]], low: list[float], high: list[float]
) -> Callable[[float], float]:
    """A map from a lower fidelity's values to the highest's (see :meth:`SearchHistory.at_one_fidelity`)."""
    if len(pairs) >= MIN_PAIRS_FOR_LINE:
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
