"""Bayesian optimization over architectures: surrogate -> acquisition -> proposal, as an Optuna sampler.

Each proposal: fit the surrogate on every completed evaluation, generate candidates (the whole space
when small, mutations of the best plus random samples otherwise), score them with the acquisition
(RUNNING trials of other workers count as pending, so workers pick different architectures), refine
the best by a local search on the acquisition where the space is too large to score whole, and
propose the winner. The first ``n_initial`` proposals are random.

Two kinds of proposal are trust-region moves instead, whose candidates are only unseen one-edit
neighbours:

* every ``neighbourhood_every``-th model-based proposal: the neighbours of the best evaluated
  architecture (of the top three, the first that has any left). A GP that is confidently wrong about a
  region otherwise keeps proposing far from the incumbent; on NB201 CIFAR-100 (10 seeds, 100 queries,
  gp-wl-rbf) these moves cut the mean validation regret from 0.417 to 0.093.
* once the incumbent has not been beaten for ``stall_patience`` evaluations, every proposal, until one
  beats it or its unseen neighbours run out (it is then a local optimum, and the search goes global
  again): the incumbent's neighbours.

Trust-region moves choose by Thompson sampling by default, the other proposals by LogEI: among an
incumbent's neighbours the GP's ranking is least reliable (one CIFAR-10 seed tried 18 of 24 neighbours
before the one that led to the optimum), and a posterior draw tries them in a different order each time.
On NB201 (20 seeds, 100 queries, gp-wl-rbf; seeds at the validation optimum, and mean regret):

    moves                              cifar10-valid   cifar100      ImageNet16-120
    every 3rd (LogEI)                  19 (0.004)      17 (0.056)    18 (0.046)
    every 3rd + on stalls (LogEI)      19 (0.005)      20 (0.000)    17 (0.014)
    every 3rd + on stalls (Thompson)   20 (0.000)      20 (0.000)    16 (0.029)

Thompson sampling for every proposal instead reaches 20 and 20 seeds on cifar10-valid and cifar100 but
fails 9 of the first 17 ImageNet16-120 seeds.

On noisy values (``allow_repeats``) every 5th model-based proposal is a race move instead: LUCB on the
observed means (the incumbent, best mean value, against the challenger, best upper bound
``mean + noise / sqrt(evaluations)`` of the others) evaluates again the less evaluated of the two, unless
their bounds already separate; and the searcher reports the architecture of best mean value. Races run
only for a single proposal with no trial pending (a batch, or parallel workers, get the usual
proposals); with constraints only the architectures feasible on average race; a race slot that falls on a
neighbourhood slot (every 15th model-based proposal with the defaults) takes it when a race is open. On
NB201's noisy benchmarks (tuning seeds 100-139, 100 queries, mean validation regret of the reported
architecture, cifar10-valid / cifar100 / ImageNet16-120; local search 0.103 / 0.264 / 0.555):

    repeats                                      reported by posterior mean    reported by mean value
    augmented LogEI only (the earlier default)   0.066 / 0.140 / 0.450         0.044 / 0.051 / 0.406
    + race every 5th (mean-value LUCB)           0.053 / 0.106 / 0.277         0.054 / 0.066 / 0.280
    + race every 3rd                             0.076 / 0.159 / 0.349         0.075 / 0.126 / 0.368
    + race every 4th, on posterior means         0.095 / 0.189 / 0.261         0.081 / 0.092 / 0.293

On the bench's seeds 0-19 the default went from 0.103 / 0.314 / 0.269 to 0.078 / 0.065 / 0.341 (the
20-seed means move by about their standard error; see the README's noisy table).
The GP's posterior mean shrinks a lone spike (the optimum among worse neighbours) towards them; the
mean value does not, and the race keeps a lucky single value from being reported unchecked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from bonas.acquisition import AcquisitionSettings, analytic_scores, select, weighted_scores
from bonas.architecture import Architecture
from bonas.candidates import CandidateSettings, generate_candidates, scores_whole_space
from bonas.errors import unknown_name
from bonas.history import SearchHistory
from bonas.samplers.base import ArchitectureSampler
from bonas.spaces.base import SearchSpace
from bonas.surrogates import surrogate_factory
from bonas.surrogates.base import Surrogate
from bonas.surrogates.failures import completion_probability
from bonas.surrogates.transforms import copula_transform, lower_copula_transform

logger = logging.getLogger(__name__)

OUTPUT_TRANSFORMS = ("copula", "lower-copula", "none")

#: Architectures whose neighbour lists a BO sampler keeps (:meth:`BayesianOptimizationSampler._neighbours`).
NEIGHBOURS_KEPT = 64


class BayesianOptimizationSampler(ArchitectureSampler):
    """Model-based search: a surrogate of "architecture -> value" and an acquisition function.

    Args:
        space: the search space.
        surrogate: a surrogate name (see :func:`bonas.surrogates.make_surrogate`) or a factory
            ``space -> Surrogate``.
        surrogate_options: constructor options of the named surrogate (e.g. ``{"kernel": "additive"}``
            for ``gp-categorical``); refused with a factory, which takes its own.
        acquisition: ``log-ei``, ``ucb``, ``pi`` or ``thompson``, or full :class:`AcquisitionSettings`.
        n_initial: random proposals before the surrogate is used.
        candidates: candidate generation settings.
        local_search_steps: hill-climbing steps on the acquisition from the best candidates, for spaces
            too large to score whole (0 disables).
        neighbourhood_every: every this many model-based proposals, choose among the incumbent's unseen
            neighbours only (0 disables).
        stall_patience: after this many evaluations without a new best, choose among the incumbent's
            unseen neighbours until it is beaten or they run out (0 disables).
        neighbourhood_acquisition: the acquisition of trust-region moves (None: ``acquisition``).
            Thompson sampling by default: among an incumbent's neighbours the GP's ranking is least
            reliable, and a posterior draw tries them in a different order each time.
        output_transform: ``copula`` models the normal scores of the values' ranks (robust to the long
            tail of broken architectures and to the metric's scale; the ranking, hence the argmax, is
            unchanged), ``lower-copula`` those scores below the median and the values themselves,
            affinely scaled, above it (:func:`~bonas.surrogates.transforms.lower_copula_transform`: noise
            among the best values stays noise instead of becoming confident ranks), ``none`` the raw
            values. None: ``lower-copula`` when ``noisy``, else ``copula``.
        seed: seed of the sampler's generator.
        allow_repeats: allow proposing architectures already evaluated (noisy objectives).
        noisy: the objective's values are noisy (None: ``allow_repeats``). The surrogate then learns its
            noise variance (see :attr:`Surrogate.noisy`), the acquisition improves on the best posterior
            mean rather than on the best (lucky) value, the ``reevaluate`` evaluated architectures of best
            posterior mean are candidates again (with ``allow_repeats``; chosen by the augmented
            acquisition, which discounts architectures whose value the evaluations already pin down).
            :meth:`recommend` reports the architecture of best mean value, as every searcher does.
        reevaluate: with ``noisy`` and ``allow_repeats``, how many evaluated architectures (best
            posterior mean first) compete with the new candidates for the next evaluation.
        race_every: with ``allow_repeats``, every this many model-based proposals, a race move (see the
            module docstring; 0 disables). None: 5 when ``noisy`` and ``allow_repeats``, else 0.
        race_width: the race's bounds, in noise standard deviations per ``sqrt(evaluations)``; the noise
            is pooled over repeated architectures, with the spread of the values' upper half as its prior.
        batch_size: architectures proposed jointly per batch (see :class:`ArchitectureSampler`).
        model_failures: once an evaluation has failed (the objective raised, or returned a non-finite
            value), weight each candidate's acquisition by its probability of completing, from a
            :class:`~bonas.surrogates.failures.FailureModel` fitted on the failed and completed
            architectures (a failed evaluation improves nothing). The value model never sees a failed
            trial, so without this it keeps proposing in a region that fails (out of memory for the
            deepest and widest cells).
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        surrogate: str | Callable[[SearchSpace], Surrogate] = "gp-wl",
        surrogate_options: Mapping[str, Any] | None = None,
        acquisition: str | AcquisitionSettings = "log-ei",
        n_initial: int = 10,
        candidates: CandidateSettings | None = None,
        local_search_steps: int = 5,
        neighbourhood_every: int = 3,
        stall_patience: int = 10,
        neighbourhood_acquisition: str | AcquisitionSettings | None = "thompson",
        output_transform: str | None = None,
        seed: int | None = None,
        allow_repeats: bool = False,
        noisy: bool | None = None,
        reevaluate: int = 5,
        race_every: int | None = None,
        race_width: float = 1.0,
        batch_size: int = 1,
        model_failures: bool = True,
    ) -> None:
        if n_initial < 1:
            raise ValueError(f"n_initial must be at least 1, got {n_initial}.")
        if output_transform is not None and output_transform not in OUTPUT_TRANSFORMS:
            raise unknown_name("output transform", output_transform, OUTPUT_TRANSFORMS)
        if local_search_steps < 0:
            raise ValueError(f"local_search_steps must be >= 0, got {local_search_steps}.")
        if neighbourhood_every < 0:
            raise ValueError(f"neighbourhood_every must be >= 0 (0 disables), got {neighbourhood_every}.")
        if stall_patience < 0:
            raise ValueError(f"stall_patience must be >= 0 (0 disables), got {stall_patience}.")
        if reevaluate < 0:
            raise ValueError(
                f"reevaluate must be >= 0 (0 never evaluates an architecture again), got {reevaluate}."
            )
        if race_every is not None and race_every < 0:
            raise ValueError(f"race_every must be >= 0 (0 disables), got {race_every}.")
        if not race_width > 0:
            raise ValueError(f"race_width must be positive, got {race_width}.")
        super().__init__(space, seed=seed, allow_repeats=allow_repeats, batch_size=batch_size)
        self.surrogate: Surrogate = surrogate_factory(surrogate, surrogate_options)(space)
        if self.surrogate.requires_graph and not space.sample(np.random.default_rng(0)).cells:
            raise ValueError(
                f"Surrogate {self.surrogate.name!r} models cell graphs, but space {space.name!r} defines none; "
                "give the space a graph builder (CategoricalSpace(..., graph=...)), or search it with a searcher "
                "for plain choices: auto, bo-gp-categorical-tr or bo-gp-categorical (surrogate='gp-categorical')."
            )
        self.acquisition = _acquisition_settings(acquisition)
        self.neighbourhood_acquisition = (
            self.acquisition
            if neighbourhood_acquisition is None
            else _acquisition_settings(neighbourhood_acquisition)
        )
        self.n_initial = n_initial
        self.candidate_settings = candidates or CandidateSettings()
        self.local_search_steps = local_search_steps
        self.neighbourhood_every = neighbourhood_every
        self.stall_patience = stall_patience
        self.noisy = allow_repeats if noisy is None else noisy
        self.output_transform = output_transform or ("lower-copula" if self.noisy else "copula")
        self.reevaluate = reevaluate
        self.race_every = (5 if self.noisy and allow_repeats else 0) if race_every is None else race_every
        self.race_width = race_width
        self.model_failures = model_failures
        self._last_race: tuple[int, str] | None = None  # (observations, architecture) of the last race move
        self.surrogate.noisy = self.noisy
        self._torch_generator = torch.Generator().manual_seed(int(self._rng.integers(2**31)))
        self._neighbour_cache: dict[Architecture, list[Architecture]] = {}

    def propose(self, history: SearchHistory, rng: np.random.Generator) -> Architecture:
        return self.propose_batch(history, rng, q=1)[0]

    def propose_batch(
        self, history: SearchHistory, rng: np.random.Generator, *, q: int
    ) -> list[Architecture]:
        """``q`` distinct new architectures chosen jointly (qLogNEI fantasies over the batch and pending).

        Falls back to random proposals until ``n_initial`` evaluations exist.
        """
        if q < 1:
            raise ValueError(f"q must be at least 1, got {q}.")
        if len(history.observations) < self.n_initial:
            return self._random_batch(history, rng, q)
        # On a noisy objective the incumbents of trust-region moves are the model's best (fitted first),
        # not the luckiest values. Fitted on a race step too, which needs no model: the race was tuned
        # with a fit at every step (seeds 100-139, regret at 100 queries 0.054 / 0.066 / 0.280 on
        # cifar10-valid / cifar100 / ImageNet16-120; deciding the race before the fit, so that a race step
        # fits nothing, gave 0.077 / 0.139 / 0.190), and the WL GP reselects its depth every few fits.
        best_value = self._fit(history) if self.noisy else None
        if self.allow_repeats and q == 1 and not history.pending and self._race_scheduled(history):
            contender = self._race_move(history)
            attempt = (len(history.observations), contender.canonical_hash if contender else "")
            if contender is not None and attempt != self._last_race:
                self._last_race = attempt
                return [contender]
            # Settled, or proposed already at this count of observations (that evaluation failed): no
            # race now, so that an architecture whose evaluation keeps failing does not stall the search.
        neighbourhood = self._neighbourhood_move(history, q)
        candidates = neighbourhood or self._global_candidates(history, rng)
        if len(candidates) < q:
            return self._random_batch(history, rng, q)
        observed = [o.architecture for o in history.observations]
        if best_value is None:
            best_value = self._fit(history)
        if self.noisy and self.allow_repeats and self.reevaluate and not neighbourhood:
            # Evaluating the best again pays when its posterior could still beat the best mean.
            candidates = candidates + self._best_by_mean(history)[: self.reevaluate]
        encoded = self.surrogate.encode(candidates)
        pending = self.surrogate.encode(history.pending) if history.pending else None
        if not neighbourhood and self.local_search_steps and not self._scores_whole_space(history):
            candidates, encoded = self._local_search(
                candidates, encoded, history, best_value, keep=self._local_search_keep(history)
            )
        success = self._success_probability(history, candidates)
        if self.noisy and self.allow_repeats and q == 1 and pending is None and not neighbourhood:
            return [candidates[self._augmented_choice(encoded, best_value, success)]]
        chosen = select(
            self.surrogate,
            encoded,
            q=q,
            best_value=best_value,
            observed=self.surrogate.encode(observed),
            pending=pending,
            settings=self.neighbourhood_acquisition if neighbourhood else self.acquisition,
            generator=self._torch_generator,
            success=success,
        )
        return [candidates[i] for i in chosen]

    def _success_probability(
        self, history: SearchHistory, candidates: list[Architecture]
    ) -> torch.Tensor | None:
        """Each candidate's probability that its evaluation completes (see ``model_failures``); None until
        an evaluation has failed."""
        success = completion_probability(self.space, history, candidates) if self.model_failures else None
        if success is None:
            return None
        completed = {o.architecture.canonical_hash for o in history.observations}
        # An evaluated architecture proposed again (a noisy objective's re-evaluation) has completed.
        success[[a.canonical_hash in completed for a in candidates]] = 1.0
        return torch.as_tensor(success, dtype=torch.float64)

    def _global_candidates(self, history: SearchHistory, rng: np.random.Generator) -> list[Architecture]:
        """The candidates of a proposal that is not a trust-region move (see :mod:`bonas.candidates`)."""
        return generate_candidates(self.space, history, rng, self.candidate_settings)

    def _scores_whole_space(self, history: SearchHistory) -> bool:
        """Whether the candidates of a proposal that is not a trust-region move are every unseen architecture."""
        return scores_whole_space(self.space, self.candidate_settings)

    def _local_search_keep(self, history: SearchHistory) -> Callable[[list[Architecture]], list[bool]] | None:
        """Which architectures the hill climb on the acquisition may visit (None: any)."""
        return None

    def _augmented_choice(
        self, encoded: torch.Tensor, best_value: float, success: torch.Tensor | None
    ) -> int:
        """The candidate of best augmented acquisition (Huang et al. 2006, "Global optimization of
        stochastic black-box systems via sequential kriging meta-models"): the acquisition times
        ``1 - tau / sqrt(sigma^2 + tau^2)``, with ``sigma^2`` the posterior variance of the candidate and
        ``tau^2`` the noise variance. Evaluating again an architecture whose value the evaluations
        already pin down (``sigma`` small against ``tau``) gains little, whatever the plain acquisition
        says: it improves on the best posterior mean in expectation, but another noisy value of it
        hardly moves its posterior. With ``success`` the acquisition is also weighted by each candidate's
        probability of completing."""
        scores = analytic_scores(self.surrogate, encoded, best_value, self.acquisition)
        with torch.no_grad():
            latent = self.surrogate.model.posterior(encoded.unsqueeze(-2)).variance.reshape(-1)
            noisy = self.surrogate.model.posterior(encoded[:1].unsqueeze(-2), observation_noise=True)
            noise = (noisy.variance.reshape(-1)[0] - latent[0]).clamp_min(1e-12)
        factor = (1.0 - torch.sqrt(noise / (latent + noise))).clamp_min(1e-12)
        if success is not None:
            factor = factor * success.to(factor)
        return int(torch.argmax(weighted_scores(scores, factor, self.acquisition)))

    def _fit(self, history: SearchHistory) -> float:
        """Fit the surrogate on ``history``; return the value to improve on (in the model's units): the
        best observed value, or on a noisy objective the best posterior mean at an evaluated architecture."""
        observed = [o.architecture for o in history.observations]
        values = self._transform([o.value for o in history.observations])
        self.surrogate.fit(observed, values)
        if not self.noisy:
            return max(values)
        ranked = self._best_by_mean(history)
        return float(self.surrogate.predict(ranked[:1]).mean[0])

    def _best_by_mean(self, history: SearchHistory) -> list[Architecture]:
        """The distinct evaluated architectures, best posterior mean first (the surrogate is fitted)."""
        distinct = [o.architecture for o in history.means()]
        means = self.surrogate.predict(distinct).mean
        return [distinct[int(i)] for i in torch.argsort(means, descending=True, stable=True)]

    def _race_scheduled(self, history: SearchHistory) -> bool:
        """Whether this proposal is a race move (every ``race_every``-th model-based one)."""
        model_based = len(history.observations) - self.n_initial
        return self.race_every > 0 and model_based % self.race_every == 0

    def _race_move(self, history: SearchHistory) -> Architecture | None:
        """LUCB on the observed means: the incumbent (best mean value) against the challenger (best upper
        bound ``mean + race_width * noise / sqrt(evaluations)`` of the others); evaluate again the one of
        the two with fewer evaluations, unless their bounds separate (then None). With constraints only
        the architectures feasible on average race (the incumbent is then :meth:`SearchHistory.best_mean`);
        the noise is estimated from every architecture's values."""
        every = history.by_architecture()
        grouped = every
        if history.constraints:
            grouped = [g for g, mean in zip(every, history.means(), strict=True) if mean.feasible]
        if len(grouped) < 2:
            return None
        noise = _noise_sd([[o.value for o in group] for group in every])
        groups = [[o.value for o in group] for group in grouped]
        counts = np.array([len(values) for values in groups], dtype=float)
        means = np.array([np.mean(values) for values in groups])
        half_width = self.race_width * noise / np.sqrt(counts)
        incumbent = int(np.argmax(means))
        upper = means + half_width
        upper[incumbent] = -np.inf
        challenger = int(np.argmax(upper))
        if upper[challenger] <= means[incumbent] - half_width[incumbent]:
            return None
        chosen = incumbent if counts[incumbent] <= counts[challenger] else challenger
        return grouped[chosen][0].architecture

    def _neighbourhood_move(self, history: SearchHistory, q: int) -> list[Architecture]:
        """The incumbent's unseen neighbours when this proposal is a trust-region move, else ``[]``."""
        model_based = len(history.observations) - self.n_initial
        scheduled = (
            self.neighbourhood_every > 0
            and model_based % self.neighbourhood_every == self.neighbourhood_every - 1
        )
        incumbents = self._incumbents(history, 3) if scheduled else []
        if not scheduled and self._stalled(history):
            incumbents = self._incumbents(history, 1)
        for incumbent in incumbents:
            unseen = {n.canonical_hash: n for n in self._neighbours(incumbent) if history.is_new(n)}
            if len(unseen) >= q:
                return list(unseen.values())
        return []

    def _neighbours(self, architecture: Architecture) -> list[Architecture]:
        """``space.neighbours(architecture)``, kept for the last :data:`NEIGHBOURS_KEPT` architectures
        asked: the incumbent's are asked on every trust-region move, and listing them costs 2 s for a
        34-parameter conditional space (NB301's choices written flat)."""
        kept = self._neighbour_cache.pop(architecture, None)
        if kept is None:
            kept = self.space.neighbours(architecture)
        self._neighbour_cache[architecture] = kept  # most recent last
        while len(self._neighbour_cache) > NEIGHBOURS_KEPT:
            del self._neighbour_cache[next(iter(self._neighbour_cache))]
        return kept

    def _incumbents(self, history: SearchHistory, k: int) -> list[Architecture]:
        """The ``k`` best evaluated architectures: by value, or on a noisy objective by posterior mean
        (the surrogate is fitted)."""
        if self.noisy:
            return self._best_by_mean(history)[:k]
        return [o.architecture for o in history.best(k)]

    def _stalled(self, history: SearchHistory) -> bool:
        """Whether the last ``stall_patience`` evaluations all failed to beat the best one (on a noisy
        objective: to replace the architecture of best posterior mean, evaluated first that long ago)."""
        if not self.stall_patience or not history.observations:
            return False
        values = [o.value for o in history.observations]
        best = int(np.argmax(values))
        if self.noisy:
            incumbent = self._incumbents(history, 1)[0].canonical_hash
            best = next(
                i for i, o in enumerate(history.observations) if o.architecture.canonical_hash == incumbent
            )
        return len(values) - 1 - best >= self.stall_patience

    def _transform(self, values: list[float]) -> list[float]:
        """The values the surrogate models: raw, or their Gaussian copula (normal scores of the ranks)."""
        if self.output_transform == "lower-copula":
            return lower_copula_transform(values)
        return values if self.output_transform == "none" else copula_transform(values)

    def _random_batch(self, history: SearchHistory, rng: np.random.Generator, q: int) -> list[Architecture]:
        batch: list[Architecture] = []
        for _ in range(q):
            architecture = self.random_new(history, rng, prefer_new=True)
            history.seen.add(architecture.canonical_hash)
            batch.append(architecture)
        return batch

    def _local_search(
        self,
        candidates: list[Architecture],
        encoded: torch.Tensor,
        history: SearchHistory,
        best_value: float,
        keep: Callable[[list[Architecture]], list[bool]] | None = None,
    ) -> tuple[list[Architecture], torch.Tensor]:
        """Hill-climb the acquisition from the 5 best candidates; add every architecture visited.

        ``keep``, if given, says which neighbours the climb may visit (a trust region's).
        """
        scores = analytic_scores(self.surrogate, encoded, best_value, self.acquisition)
        pool = {a.canonical_hash: (a, float(s)) for a, s in zip(candidates, scores, strict=True)}
        starts = [candidates[int(i)] for i in torch.topk(scores, min(5, len(candidates))).indices]
        for start in starts:
            current, current_score = start, pool[start.canonical_hash][1]
            for _ in range(self.local_search_steps):
                neighbours = [
                    n
                    for n in self._neighbours(current)
                    if n.canonical_hash not in history.seen and n.canonical_hash not in pool
                ]
                if keep is not None:
                    neighbours = [n for n, kept in zip(neighbours, keep(neighbours), strict=True) if kept]
                if not neighbours:
                    break
                neighbour_scores = analytic_scores(
                    self.surrogate, self.surrogate.encode(neighbours), best_value, self.acquisition
                )
                for neighbour, score in zip(neighbours, neighbour_scores, strict=True):
                    pool[neighbour.canonical_hash] = (neighbour, float(score))
                best = int(torch.argmax(neighbour_scores))
                if float(neighbour_scores[best]) <= current_score:
                    break
                current, current_score = neighbours[best], float(neighbour_scores[best])
        architectures = [a for a, _ in pool.values()]
        return architectures, self.surrogate.encode(architectures)


def _noise_sd(groups: list[list[float]]) -> float:
    """The noise's standard deviation in the values' units, from the values of each evaluated architecture:
    pooled over repeated architectures, with two pseudo-degrees of freedom at the spread of all values'
    upper half (a prior that keeps a race going until repeats have measured the noise)."""
    values = np.sort([value for group in groups for value in group])
    upper = values[len(values) // 2 :]
    prior = float(np.std(upper if len(upper) > 1 else values))  # 0 for a single value: no race yet
    squares = sum(float(np.sum((np.asarray(v) - np.mean(v)) ** 2)) for v in groups if len(v) > 1)
    dof = sum(len(v) - 1 for v in groups if len(v) > 1)
    return float(np.sqrt((squares + 2 * prior**2) / (dof + 2)))


def _acquisition_settings(acquisition: str | AcquisitionSettings) -> AcquisitionSettings:
    return AcquisitionSettings(acquisition) if isinstance(acquisition, str) else acquisition
