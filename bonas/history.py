"""What a searcher knows about a study: evaluated architectures, pending ones and every one seen.

A plain value passed from the sampler layer down to candidate generation, so the layers below samplers
never need to know what an Optuna trial is (:mod:`bonas.trials` builds it from a study).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bonas.architecture import Architecture


@dataclass(frozen=True)
class Observation:
    """An evaluated architecture and its value (larger is better, whatever the study's direction)."""

    architecture: Architecture
    value: float


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
