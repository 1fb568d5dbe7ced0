"""BO on flat categorical spaces, with a Hamming-ball trust region (after CASMOPOLITAN, Wan et al. 2021).

A user's own space usually arrives as a list of categorical choices with no graph. This is bonas's BO
for it (``bo-gp-categorical-tr``, what ``auto`` picks for such a space): the categorical GP (an overlap
kernel with one learned lengthscale per parameter times a kernel on the shares of values among
parameters with the same choices, each fit started from the previous one's hyperparameters) and
:class:`~bonas.samplers.bayesian.BayesianOptimizationSampler`'s proposals, with two changes to where
the proposals that are not moves to the incumbent's neighbours look:

* a space of up to ``enumerate_below`` (100,000) architectures is scored whole while the posterior
  variances of all of it stay cheap (:data:`WHOLE_SPACE_BUDGET`): a row of parameter codes is cheap
  to score, so NAS-Bench-Graph's 59,040 flat architectures need no mutation candidates;
* in a larger space the candidates lie within a trust region: the unseen architectures within Hamming
  distance ``radius`` of the best one (the distance counts the parameters on which two architectures
  differ; an inactive conditional parameter is one more value), drawn by up to ``radius`` random edits
  of it, and the hill climb on the acquisition stays inside. The radius adapts as in TuRBO and
  CASMOPOLITAN (:class:`TrustRegionSchedule`): ``success_tolerance`` new bests in a row widen it by one,
  ``failure_tolerance`` proposals in a row that do not beat the centre narrow it by one, and a region
  narrowed to nothing gives one proposal from the whole space (mutations of the best and random
  samples) and restarts.

The region is replayed from the history on every proposal (no hidden state), so it survives resume and
is shared by several workers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from bonas.architecture import Architecture
from bonas.candidates import CandidateSettings, generate_candidates, scores_whole_space, space_size
from bonas.history import Observation, SearchHistory
from bonas.samplers.bayesian import BayesianOptimizationSampler
from bonas.spaces.base import SearchSpace
from bonas.surrogates import checked_surrogate_options
from bonas.surrogates.base import Surrogate, SurrogateNotFittedError
from bonas.surrogates.gp.caches import RowCache
from bonas.surrogates.gp.parameter_codes import ParameterCodes

logger = logging.getLogger(__name__)

#: Flat spaces up to this size are listed whole: a code row per architecture is cheap to score.
ENUMERATE_BELOW = 100_000

#: Multiply-adds of the posterior variances of a whole listed space (``size x n^2`` for ``n``
#: observations) above which a proposal looks in the trust region instead: about 0.3 s on one core.
#: NB201's 15,625 flat architectures are scored whole up to 350 observations, NAS-Bench-Graph's 59,040
#: up to 180; at 1,000 observations the whole NB201 space would take about 3 s per proposal.
WHOLE_SPACE_BUDGET = 2e9


@dataclass(frozen=True)
class TrustRegion:
    """Where the next proposal is chosen: within Hamming distance ``radius`` of ``centre``.

    ``radius`` 0 means the region collapsed: the next proposal is global and the region restarts.
    """

    centre: Observation
    radius: int
    restarts: int = 0


@dataclass(frozen=True)
class TrustRegionSchedule:
    """How the radius adapts (TuRBO's rule on a Hamming radius).

    Args:
        initial_radius: the radius at the start and after a restart.
        max_radius: the radius never grows beyond this (the number of parameters, typically).
        success_tolerance: this many new bests in a row widen the radius by one.
        failure_tolerance: this many proposals in a row that do not beat the centre narrow it by one.
    """

    initial_radius: int
    max_radius: int
    success_tolerance: int = 3
    failure_tolerance: int = 5

    def __post_init__(self) -> None:
        if not 1 <= self.initial_radius <= self.max_radius:
            raise ValueError(
                f"Need 1 <= initial_radius <= max_radius, got ({self.initial_radius=}, {self.max_radius=})."
            )
        if self.success_tolerance < 1 or self.failure_tolerance < 1:
            raise ValueError(
                f"Tolerances must be >= 1, got ({self.success_tolerance=}, {self.failure_tolerance=})."
            )

    def replay(self, observations: list[Observation], n_initial: int) -> TrustRegion:
        """The region after ``observations`` (in trial order), the first ``n_initial`` of them random."""
        if not observations:
            raise ValueError("A trust region needs at least one observation to centre on.")
        start = max(1, min(n_initial, len(observations)))
        centre = max(observations[:start], key=lambda o: o.value)
        radius, successes, failures, restarts = self.initial_radius, 0, 0, 0
        for observation in observations[start:]:
            if radius == 0:  # this one was the global proposal that follows a collapse
                radius, restarts = self.initial_radius, restarts + 1
            if observation.value > centre.value:
                centre, successes, failures = observation, successes + 1, 0
            else:
                successes, failures = 0, failures + 1
            if successes >= self.success_tolerance:
                radius, successes = min(radius + 1, self.max_radius), 0
            elif failures >= self.failure_tolerance:
                radius, failures = radius - 1, 0
        return TrustRegion(centre=centre, radius=radius, restarts=restarts)


class TrustRegionBayesianSampler(BayesianOptimizationSampler):
    """BO on the categorical GP whose model-based proposals stay in a Hamming-ball trust region.

    Everything of :class:`BayesianOptimizationSampler` applies (random start, trust-region moves among
    the incumbent's unseen neighbours every ``neighbourhood_every``-th proposal and on stalls, LogEI
    elsewhere); what changes is where the other proposals look. A space of at most
    ``enumerate_below`` architectures is scored whole (a row of parameter codes is cheap to score:
    NAS-Bench-Graph's 59,040 take about 0.1 s at 100 observations) while that stays within
    :data:`WHOLE_SPACE_BUDGET`. Otherwise the candidates are drawn within the
    trust region (:class:`TrustRegionSchedule`), by up to ``radius`` random edits of its centre, and the
    hill climb on the acquisition stays inside it; a region narrowed to nothing gives one proposal drawn
    from the whole space (mutations of the best and random samples) and restarts.

    Args:
        space: the search space.
        surrogate: as :class:`BayesianOptimizationSampler`: the categorical GP by default (an overlap
            kernel with one learned lengthscale per parameter), each fit started from the previous one's
            hyperparameters. A surrogate named here starts each fit afresh unless its options say
            ``warm_start=True``.
        enumerate_below: spaces with at most this many architectures are scored whole.
        initial_radius: the radius at the start and after a restart (None: half the parameters).
        success_tolerance, failure_tolerance: see :class:`TrustRegionSchedule` (None: the number of
            parameters, between 3 and 10).
        n_candidates: architectures drawn in the ball per proposal.
        region_in_listed: also keep the candidates of a space scored whole within the region. Off by
            default: on NAS-Bench-Graph citeseer (flat, 4 seeds, 100 queries) it changed no proposal
            under LogEI, whose choice already lies near the incumbent.
        options: the other options of :class:`BayesianOptimizationSampler` (``n_initial``, ``seed``...).
            With the default surrogate, ``surrogate_options`` are laid over ``warm_start=True`` (e.g.
            ``{"kernel": "additive"}``, or ``{"warm_start": False}`` to fit afresh each time).
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        surrogate: str | Callable[[SearchSpace], Surrogate] | None = None,
        enumerate_below: int = ENUMERATE_BELOW,
        initial_radius: int | None = None,
        success_tolerance: int = 3,
        failure_tolerance: int | None = None,
        n_candidates: int = 1000,
        region_in_listed: bool = False,
        **options: Any,
    ) -> None:
        if n_candidates < 1:
            raise ValueError(f"n_candidates must be at least 1, got {n_candidates}.")
        options.setdefault("candidates", CandidateSettings(enumerate_below=enumerate_below))
        if surrogate is None:
            surrogate = "gp-categorical"
            options["surrogate_options"] = {
                "warm_start": True,
                **checked_surrogate_options(options.get("surrogate_options")),
            }
        super().__init__(space, surrogate=surrogate, **options)
        dims = len(space.parameters)
        self.schedule = TrustRegionSchedule(
            initial_radius=initial_radius if initial_radius is not None else max(1, dims // 2),
            max_radius=dims,
            success_tolerance=success_tolerance,
            failure_tolerance=failure_tolerance if failure_tolerance is not None else min(max(dims, 3), 10),
        )
        self.n_candidates = n_candidates
        self.region_in_listed = region_in_listed
        self._codes = RowCache(ParameterCodes(space, owner="the trust region"))

    def trust_region(self, history: SearchHistory) -> TrustRegion:
        """The region the next proposal is chosen in (replayed from ``history``).

        On a noisy objective the radius follows each architecture's mean value (a lucky draw of an
        evaluation again is no success), and once the model is used the region centres on the evaluated
        architecture of best posterior mean, not on the luckiest value (as the BO's own moves do).
        """
        if not self.noisy:
            return self.schedule.replay(history.observations, self.n_initial)
        means = history.means()
        region = self.schedule.replay(means, self.n_initial)
        if len(history.observations) < self.n_initial:
            return region
        try:
            best = self._incumbents(history, 1)[0]
        except SurrogateNotFittedError:  # asked before this history's fit
            return region
        centre = next(o for o in means if o.architecture.canonical_hash == best.canonical_hash)
        return replace(region, centre=centre)

    def _global_candidates(self, history: SearchHistory, rng: np.random.Generator) -> list[Architecture]:
        if self._scores_whole_space(history):
            pool = generate_candidates(self.space, history, rng, self.candidate_settings)
            region = self.trust_region(history) if self.region_in_listed else None
            if region is None or region.radius == 0:
                return pool
            return [a for a, kept in zip(pool, self.inside(region, pool), strict=True) if kept] or pool
        # Mutations of the best and random samples, never the whole space.
        sampled = replace(self.candidate_settings, enumerate_below=0)
        region = self.trust_region(history)
        if region.radius == 0:
            logger.debug(
                "Trust region collapsed (restart %d): one proposal from the whole space.", region.restarts + 1
            )
            return generate_candidates(self.space, history, rng, sampled)
        found: dict[str, Architecture] = {}
        for k in range(self.n_candidates):
            architecture = region.centre.architecture
            for _ in range(1 + k % region.radius):
                architecture = self.space.mutate(architecture, rng)
            if history.is_new(architecture):
                found.setdefault(architecture.canonical_hash, architecture)
        drawn = list(found.values())
        inside = [a for a, kept in zip(drawn, self.inside(region, drawn), strict=True) if kept]
        # An exhausted ball: look in the whole space this once.
        return inside or generate_candidates(self.space, history, rng, sampled)

    def _scores_whole_space(self, history: SearchHistory) -> bool:
        """Whether this proposal scores every unseen architecture: the space is small enough to list,
        and the posterior variances of all of them (``size x n^2`` multiply-adds for ``n``
        observations) fit in :data:`WHOLE_SPACE_BUDGET`."""
        if not scores_whole_space(self.space, self.candidate_settings):
            return False
        n = len(history.observations)
        return space_size(self.space) * n * n <= WHOLE_SPACE_BUDGET

    def _local_search_keep(self, history: SearchHistory) -> Callable[[list[Architecture]], list[bool]] | None:
        region = self.trust_region(history)
        if region.radius == 0:
            return None
        return lambda architectures: self.inside(region, architectures)

    def inside(self, region: TrustRegion, architectures: list[Architecture]) -> list[bool]:
        """Whether each of ``architectures`` lies within ``region`` (Hamming distance on parameters)."""
        if not architectures:
            return []
        centre = self._codes([region.centre.architecture])
        distances = (self._codes(architectures) != centre).sum(dim=-1)
        return (distances <= region.radius).tolist()
