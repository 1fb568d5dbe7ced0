"""Bayesian optimization over several outcomes: objectives to trade off and constraints to respect.

Each proposal fits one surrogate per modelled outcome (every objective and every constrained metric the
objective returns, over the same kind of encoding) and scores the candidates with one BoTorch
acquisition over all of them:

* several objectives: qLogNEHVI (``acquisition="nehvi"``, Daulton et al. 2021; Ament et al. 2023), the
  expected gain in hypervolume of the feasible Pareto front, or qLogNParEGO (``"parego"``), qLogNEI of a
  random Chebyshev scalarisation per proposal (cheaper: one scalar improvement instead of a
  hypervolume);
* one objective with constraints: qLogNEI;
* constraints are outcomes: the acquisition weighs each candidate by its posterior probability of
  feasibility (BoTorch's smoothed constraint indicators);
* pending trials (other workers' running ones, earlier members of a batch) are fantasies
  (``X_pending``), so workers do not pick the same architecture.

**Cheap metrics.** An objective may know some metrics without evaluating (a latency table, a parameter
count): the sampler's ``cheap_metrics(architecture)``. Those outcomes are not modelled: a deterministic
BoTorch model gives their exact values for candidates, and a candidate that breaks a constraint on a
cheap metric is never proposed (nor drawn by the initial design, when feasible ones can be found).

**One index, many encodings.** A surrogate's encoding depends on its fit (the WL GP chooses its depth per
target), so the models take row indices into a table of the architectures (observed, pending and
candidates) and each looks up its own encoding: a ``ModelList`` of those and the deterministic model
is what the acquisition sees.

**Candidates and trust-region moves.** As in :class:`~bonas.samplers.bayesian.BayesianOptimizationSampler`:
the whole space when small, else mutations of the best plus random samples, where "best" is the
non-dominated ranking of the feasible evaluations. Every ``neighbourhood_every``-th model-based
proposal chooses among the unseen neighbours of the Pareto-set members only (the trust region
generalised to a front). Before scoring with the Monte-Carlo acquisition, the candidates are screened
to ``batch_pool`` of them by random Chebyshev scalarisations of their upper confidence bounds.

**One objective in a feasible region.** When the study has one objective and every constraint is on a
cheap metric, the search is single-objective BO over the feasible architectures: the proposal is
delegated to :class:`~bonas.samplers.bayesian.BayesianOptimizationSampler` (with its trust-region moves
and stall rule) over :class:`FeasibleRegion`, the space narrowed to them.

(About 600 lines, one concept: proposing under several outcomes; the index model, the feasible region
and the Pareto-set helpers exist only for it.)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.acquisition.multi_objective.objective import IdentityMCMultiOutputObjective
from botorch.acquisition.multi_objective.parego import qLogNParEGO
from botorch.acquisition.objective import GenericMCObjective
from botorch.models.deterministic import GenericDeterministicModel
from botorch.models.model import Model, ModelList
from botorch.optim import optimize_acqf_discrete
from botorch.posteriors import Posterior
from botorch.sampling import ListSampler, SobolQMCNormalSampler
from botorch.sampling.base import MCSampler
from botorch.sampling.index_sampler import IndexSampler
from torch import Tensor

from bonas.architecture import Architecture, Cell
from bonas.candidates import CandidateSettings, generate_candidates
from bonas.errors import CheapMetricsError, InvalidArchitectureError, unknown_name
from bonas.history import Constraint, Observation, SearchHistory, feasibility_rank, pareto_ranks
from bonas.numbers import as_number
from bonas.samplers.base import ArchitectureSampler
from bonas.spaces.base import Categorical, Params, SearchSpace
from bonas.surrogates import surrogate_factory
from bonas.surrogates.base import Surrogate
from bonas.surrogates.failures import completion_probability
from bonas.surrogates.transforms import copula_transform

logger = logging.getLogger(__name__)

MULTI_OBJECTIVE_ACQUISITIONS = ("nehvi", "parego")

#: A function of an architecture returning the metrics known without evaluating it.
CheapMetrics = Callable[[Architecture], Mapping[str, float]]

#: Tries of the initial design to draw an architecture that satisfies the cheap constraints.
_FEASIBLE_TRIES = 2000


class MultiObjectiveBOSampler(ArchitectureSampler):
    """Model-based search of several objectives and constraints (see the module notes).

    It also searches a single objective (with or without constraints) by qLogNEI.

    Args:
        space: the search space.
        surrogate: a surrogate name (see :func:`bonas.surrogates.make_surrogate`) or a factory
            ``space -> Surrogate``; one is fitted per modelled outcome.
        surrogate_options: constructor options of the named surrogate (e.g. ``{"kernel": "additive"}``
            for ``gp-categorical``); refused with a factory, which takes its own.
        acquisition: ``nehvi`` (qLogNEHVI) or ``parego`` (qLogNParEGO) for several objectives.
        cheap_metrics: ``architecture -> {metric: value}`` for metrics known without evaluating; outcomes
            on those metrics are used exactly instead of modelled.
        n_initial: random proposals (satisfying the cheap constraints) before the models are used.
        candidates: candidate generation settings.
        neighbourhood_every: every this many model-based proposals, choose among the unseen neighbours of
            the Pareto-set members only (0 disables).
        batch_pool: candidates scored by the Monte-Carlo acquisition after screening.
        mc_samples: quasi-Monte-Carlo samples of the acquisition.
        seed: seed of the sampler's generator.
        allow_repeats: allow proposing architectures already evaluated (noisy objectives).
        batch_size: architectures proposed jointly per batch (see :class:`ArchitectureSampler`).
        noisy: the modelled outcomes are noisy (None: ``allow_repeats``): each surrogate then learns its
            noise variance (see :attr:`Surrogate.noisy`) instead of interpolating the values.
        model_failures: once an evaluation has failed (the objective raised, or returned a non-finite
            value), each candidate stays in the running with its probability of completing, from a
            :class:`~bonas.surrogates.failures.FailureModel` (one draw per candidate and proposal), as
            :class:`~bonas.samplers.bayesian.BayesianOptimizationSampler` weighs it.
    """

    supports_multi_objective = True
    supports_constraints = True

    def __init__(
        self,
        space: SearchSpace,
        *,
        surrogate: str | Callable[[SearchSpace], Surrogate] = "gp-wl-rbf",
        surrogate_options: Mapping[str, Any] | None = None,
        acquisition: str = "nehvi",
        cheap_metrics: CheapMetrics | None = None,
        n_initial: int = 10,
        candidates: CandidateSettings | None = None,
        neighbourhood_every: int = 3,
        batch_pool: int = 256,
        mc_samples: int = 128,
        seed: int | None = None,
        allow_repeats: bool = False,
        batch_size: int = 1,
        noisy: bool | None = None,
        model_failures: bool = True,
    ) -> None:
        if acquisition not in MULTI_OBJECTIVE_ACQUISITIONS:
            raise unknown_name("multi-objective acquisition", acquisition, MULTI_OBJECTIVE_ACQUISITIONS)
        if n_initial < 1:
            raise ValueError(f"n_initial must be at least 1, got {n_initial}.")
        if neighbourhood_every < 0:
            raise ValueError(f"neighbourhood_every must be >= 0 (0 disables), got {neighbourhood_every}.")
        if batch_pool < 1 or mc_samples < 1:
            raise ValueError(f"batch_pool and mc_samples must be at least 1, got {batch_pool}, {mc_samples}.")
        if cheap_metrics is not None and not callable(cheap_metrics):
            raise TypeError(f"cheap_metrics must be a function architecture -> dict, got {cheap_metrics!r}.")
        super().__init__(space, seed=seed, allow_repeats=allow_repeats, batch_size=batch_size)
        self._surrogate_factory = surrogate_factory(surrogate, surrogate_options)
        self.surrogate_name = (
            surrogate if isinstance(surrogate, str) else getattr(surrogate, "__name__", "custom")
        )
        probe = self._surrogate_factory(space)
        if probe.requires_graph and not space.sample(np.random.default_rng(0)).cells:
            raise ValueError(
                f"Surrogate {probe.name!r} models cell graphs, but space {space.name!r} defines none; "
                "search it with auto or mobo-gp-categorical (surrogate='gp-categorical')."
            )
        self.acquisition = acquisition
        self.noisy = allow_repeats if noisy is None else noisy
        self.cheap_metrics = cheap_metrics
        self.n_initial = n_initial
        self.candidate_settings = candidates or CandidateSettings()
        self.neighbourhood_every = neighbourhood_every
        self.batch_pool = batch_pool
        self.mc_samples = mc_samples
        self.model_failures = model_failures
        self._cheap_cache: dict[str, Mapping[str, float]] = {}
        self._surrogates: dict[str, Surrogate] = {}
        self._region_bo: ArchitectureSampler | None = None
        self._cheap_names: frozenset[str] | None = None
        self._warned_unused_cheap = False
        self._torch_seed = int(self._rng.integers(2**31))

    # -- cheap metrics ------------------------------------------------------------------------------

    def cheap_names(self) -> frozenset[str]:
        """The metrics ``cheap_metrics`` gives (empty without it)."""
        if self._cheap_names is None:
            if self.cheap_metrics is None:
                self._cheap_names = frozenset()
            else:
                self._cheap_names = frozenset(self._cheap(self.space.sample(np.random.default_rng(0))))
        return self._cheap_names

    def _cheap(self, architecture: Architecture) -> Mapping[str, float]:
        # By the string form, not the canonical hash: isomorphic cells compute the same function but
        # were measured apart (NB201's latencies differ between isomorphs), and the one proposed is the
        # one whose metrics must hold.
        key = str(architecture)
        if key not in self._cheap_cache:
            assert self.cheap_metrics is not None
            try:
                result = self.cheap_metrics(architecture)
            except Exception as error:  # the user's function: the study stops with it, not after retries
                raise CheapMetricsError(
                    f"cheap_metrics({architecture}) raised {type(error).__name__}: {error}; it must give every "
                    "architecture of the space its metrics."
                ) from error
            checked = _checked_cheap_metrics(result, architecture)
            if self._cheap_names is not None and not self._cheap_names <= checked.keys():
                missing = sorted(self._cheap_names - checked.keys())
                raise CheapMetricsError(
                    f"cheap_metrics({architecture}) returned {sorted(checked)} without "
                    f"{', '.join(map(repr, missing))}, which it gives for other architectures; it must give "
                    "every architecture the same metrics."
                )
            self._cheap_cache[key] = checked
        return self._cheap_cache[key]

    def _cheap_constraints(self, history: SearchHistory) -> list[Constraint]:
        names = self.cheap_names()
        searched = {*history.objectives, *(c.metric for c in history.constraints)}
        if names and history.objectives and not names & searched and not self._warned_unused_cheap:
            self._warned_unused_cheap = True  # a misspelt name would otherwise be modelled in silence
            logger.warning(
                "cheap_metrics gives %s, none of the searched metrics (%s): the searcher models them all. "
                "If a cheap metric was meant, give it the searched metric's name.",
                ", ".join(map(repr, sorted(names))),
                ", ".join(map(repr, sorted(searched))),
            )
        return [c for c in history.constraints if c.metric in names]

    def _satisfies_cheap(self, architecture: Architecture, constraints: Sequence[Constraint]) -> bool:
        metrics = self._cheap(architecture) if constraints else {}
        return all(c.value(metrics[c.metric]) <= 0 for c in constraints)

    # -- proposals ----------------------------------------------------------------------------------

    def propose(self, history: SearchHistory, rng: np.random.Generator) -> Architecture:
        return self.propose_batch(history, rng, q=1)[0]

    def propose_batch(
        self, history: SearchHistory, rng: np.random.Generator, *, q: int
    ) -> list[Architecture]:
        if q < 1:
            raise ValueError(f"q must be at least 1, got {q}.")
        cheap_constraints = self._cheap_constraints(history)
        if len(history.observations) < self.n_initial:
            return self._initial_batch(history, rng, q, cheap_constraints)
        if self._is_single_objective_in_a_feasible_region(history, cheap_constraints):
            return self._region_searcher(cheap_constraints).propose_batch(history, rng, q=q)
        neighbourhood = self._neighbourhood_move(history, q, cheap_constraints)
        candidates = neighbourhood or self._candidates(history, rng, cheap_constraints)
        if len(candidates) < q:
            return self._initial_batch(history, rng, q, cheap_constraints)
        candidates = self._drawn_to_complete(history, candidates, q)
        chosen = self._select(history, candidates, q)
        return [candidates[i] for i in chosen]

    def _drawn_to_complete(
        self, history: SearchHistory, candidates: list[Architecture], q: int
    ) -> list[Architecture]:
        """``candidates`` less those drawn to fail (see ``model_failures``), keeping the ``q`` likeliest to
        complete when fewer remain; the draws are seeded by the history's size, so a resumed search
        draws the same."""
        success = completion_probability(self.space, history, candidates) if self.model_failures else None
        if success is None:
            return candidates
        draws = np.random.default_rng(self._torch_seed + len(history.observations) + len(history.failed))
        completes = draws.random(len(candidates)) < success
        keep = np.flatnonzero(completes) if completes.sum() >= q else np.argsort(-success, kind="stable")[:q]
        return [candidates[i] for i in keep]

    def _is_single_objective_in_a_feasible_region(
        self, history: SearchHistory, cheap_constraints: Sequence[Constraint]
    ) -> bool:
        """Whether the study has one objective and every constraint is on a cheap metric: then the search
        is single-objective BO over the feasible region, and bonas's single-objective BO (with its
        trust-region moves and stall rule) does it."""
        return (
            bool(cheap_constraints)
            and len(cheap_constraints) == len(history.constraints)
            and not history.is_multi_objective
        )

    def _region_searcher(self, cheap_constraints: Sequence[Constraint]) -> ArchitectureSampler:
        """A :class:`~bonas.samplers.bayesian.BayesianOptimizationSampler` over the feasible region of the
        space (built once: it keeps its surrogate's caches)."""
        if self._region_bo is None:
            from bonas.samplers.bayesian import BayesianOptimizationSampler

            constraints = tuple(cheap_constraints)
            region = FeasibleRegion(self.space, lambda a: self._satisfies_cheap(a, constraints))
            self._region_bo = BayesianOptimizationSampler(
                region,
                surrogate=self._surrogate_factory,
                n_initial=self.n_initial,
                candidates=self.candidate_settings,
                seed=self._seed,
                allow_repeats=self.allow_repeats,
                batch_size=self.batch_size,
                noisy=self.noisy,
                model_failures=self.model_failures,
            )
        return self._region_bo

    def _initial_batch(
        self,
        history: SearchHistory,
        rng: np.random.Generator,
        q: int,
        cheap_constraints: Sequence[Constraint],
    ) -> list[Architecture]:
        """Random new architectures, satisfying the cheap constraints when such can be drawn."""
        history = history.copy()
        batch: list[Architecture] = []
        for _ in range(q):
            architecture = self.random_new(history, rng, prefer_new=True)
            for _ in range(_FEASIBLE_TRIES if cheap_constraints else 0):
                if self._satisfies_cheap(architecture, cheap_constraints):
                    break
                architecture = self.random_new(history, rng, prefer_new=True)
            history.seen.add(architecture.canonical_hash)
            batch.append(architecture)
        return batch

    def _candidates(
        self, history: SearchHistory, rng: np.random.Generator, cheap_constraints: Sequence[Constraint]
    ) -> list[Architecture]:
        ranked = _ranked_history(history)
        candidates = generate_candidates(self.space, ranked, rng, self.candidate_settings)
        feasible = [a for a in candidates if self._satisfies_cheap(a, cheap_constraints)]
        return feasible or candidates

    def _neighbourhood_move(
        self, history: SearchHistory, q: int, cheap_constraints: Sequence[Constraint]
    ) -> list[Architecture]:
        """The unseen neighbours of the Pareto-set members when this proposal is a trust-region move."""
        model_based = len(history.observations) - self.n_initial
        every = self.neighbourhood_every
        if not every or model_based % every != every - 1:
            return []
        unseen: dict[str, Architecture] = {}
        for member in pareto_set(history.observations):
            for neighbour in self.space.neighbours(member.architecture):
                if history.is_new(neighbour) and self._satisfies_cheap(neighbour, cheap_constraints):
                    unseen.setdefault(neighbour.canonical_hash, neighbour)
        return list(unseen.values()) if len(unseen) >= q else []

    # -- scoring ------------------------------------------------------------------------------------

    def _select(self, history: SearchHistory, candidates: list[Architecture], q: int) -> list[int]:
        """Indices of the ``q`` candidates the acquisition picks."""
        observed = [o.architecture for o in history.observations]
        table = [*observed, *history.pending, *candidates]
        n_obs, n_pending = len(observed), len(history.pending)
        outcomes = _Outcomes(history, self.cheap_names())
        models: list[Model] = []
        thresholds: list[float] = []
        references: list[float] = []
        for position in outcomes.modelled_objectives:
            values = copula_transform([o.objectives[position] for o in history.observations])
            models.append(self._indexed_model(f"objective {position}", observed, values, table))
            references.append(min(values) - 0.1 * (max(values) - min(values)))
        for position in outcomes.modelled_constraints:
            raw = np.array([o.constraints[position] for o in history.observations])
            center, scale = float(raw.mean()), float(raw.std()) or 1.0
            models.append(
                self._indexed_model(f"constraint {position}", observed, list((raw - center) / scale), table)
            )
            thresholds.append(-center / scale)
        known = self._known_outcomes(history, outcomes, table)
        references += known[:, : len(outcomes.known_objectives)].min(0).values.tolist()
        if known.shape[-1]:
            models.append(
                GenericDeterministicModel(lambda x, k=known: k[x[..., 0].long()], num_outputs=known.shape[-1])
            )
        model = ModelList(*models)
        # Output order: modelled objectives, modelled constraints, then known objectives, known constraints.
        n_mod_obj, n_mod_con = len(outcomes.modelled_objectives), len(outcomes.modelled_constraints)
        n_known_obj = len(outcomes.known_objectives)
        objective_columns = [
            *range(n_mod_obj),
            *range(n_mod_obj + n_mod_con, n_mod_obj + n_mod_con + n_known_obj),
        ]
        constraint_columns = [
            *(n_mod_obj + j for j in range(n_mod_con)),
            *(n_mod_obj + n_mod_con + n_known_obj + j for j in range(len(outcomes.known_constraints))),
        ]
        constraint_thresholds = [*thresholds, *([0.0] * len(outcomes.known_constraints))]
        constraints = [
            (lambda z, c=c, t=t: z[..., c] - t)
            for c, t in zip(constraint_columns, constraint_thresholds, strict=True)
        ]
        index = torch.arange(len(table), dtype=torch.float64).unsqueeze(-1)
        baseline, pending = index[_baseline(history.observations)], index[n_obs : n_obs + n_pending]
        choices = index[n_obs + n_pending :]
        pool = self._screen(model, choices, objective_columns, constraint_columns, constraint_thresholds, q)
        seed = self._torch_seed + len(history.observations) + n_pending
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            function = self._acquisition(
                model,
                baseline,
                pending if n_pending else None,
                objective_columns,
                constraints,
                references,
                seed,
            )
            chosen, _ = optimize_acqf_discrete(function, q=q, choices=choices[pool], unique=True)
        return [int(row[0]) - n_obs - n_pending for row in chosen]

    def _indexed_model(
        self, outcome: str, observed: list[Architecture], values: list[float], table: list[Architecture]
    ) -> Model:
        """The outcome's surrogate, fitted, over row indices of ``table``. Each outcome keeps its surrogate
        from proposal to proposal (its feature caches, and the WL depth it re-selects every few fits)."""
        if outcome not in self._surrogates:
            self._surrogates[outcome] = self._surrogate_factory(self.space)
            self._surrogates[outcome].noisy = self.noisy
        surrogate = self._surrogates[outcome]
        surrogate.fit(observed, values)
        return IndexedModel(surrogate.model, surrogate.encode(table))

    def _known_outcomes(
        self, history: SearchHistory, outcomes: _Outcomes, table: list[Architecture]
    ) -> Tensor:
        """``len(table) x k`` exact values of the cheap objectives (signed, standardised over the table)
        and cheap constraints, in the output order of :meth:`_select`.

        A cheap objective keeps its scale (unlike a modelled one, whose values the GP models as normal
        scores of their ranks): the hypervolume then weighs it as the user reads it."""
        n_obs = len(history.observations)
        columns: list[np.ndarray] = []
        for position in outcomes.known_objectives:
            metric, sign = outcomes.objective_metric(position), outcomes.signs[position]
            observed = [o.objectives[position] for o in history.observations]
            rest = [sign * self._cheap(a)[metric] for a in table[n_obs:]]
            values = np.array([*observed, *rest])
            columns.append((values - values.mean()) / (values.std() or 1.0))
        for position in outcomes.known_constraints:
            constraint = history.constraints[position]
            observed = [o.constraints[position] for o in history.observations]
            rest = [constraint.value(self._cheap(a)[constraint.metric]) for a in table[n_obs:]]
            columns.append(np.array([*observed, *rest]))
        if not columns:
            return torch.zeros(len(table), 0, dtype=torch.float64)
        return torch.as_tensor(np.stack(columns, axis=-1), dtype=torch.float64)

    def _screen(
        self,
        model: Model,
        choices: Tensor,
        objective_columns: list[int],
        constraint_columns: list[int],
        thresholds: list[float],
        q: int,
    ) -> Tensor:
        """Indices into ``choices`` of the ``batch_pool`` candidates worth the Monte-Carlo acquisition: the
        best by random Chebyshev scalarisations of the objectives' upper confidence bounds, among those
        whose probability of feasibility is not negligible."""
        n = choices.shape[0]
        if n <= self.batch_pool:
            return torch.arange(n)
        with torch.no_grad():
            means, stds = [], []
            for chunk in choices.split(4096):
                posterior = model.posterior(chunk.unsqueeze(-2))
                means.append(posterior.mean.squeeze(-2))
                stds.append(posterior.variance.clamp_min(0).sqrt().squeeze(-2))
        mean, std = torch.cat(means), torch.cat(stds)
        ucb = (mean + 2.0 * std)[:, objective_columns]
        log_feasible = torch.zeros(n, dtype=mean.dtype)
        for column, threshold in zip(constraint_columns, thresholds, strict=True):
            z = (threshold - mean[:, column]) / std[:, column].clamp_min(1e-9)
            log_feasible += torch.special.log_ndtr(z)
        plausible = log_feasible >= math.log(0.05)
        if int(plausible.sum()) >= max(q, self.batch_pool // 4):
            ucb = ucb.masked_fill(~plausible.unsqueeze(-1), -torch.inf)
        low = ucb[plausible].min(0).values if bool(plausible.any()) else ucb.min(0).values
        high = ucb[plausible].max(0).values if bool(plausible.any()) else ucb.max(0).values
        scaled = (ucb - low) / (high - low).clamp_min(1e-9)
        generator = torch.Generator().manual_seed(self._torch_seed + n)
        n_weights = max(1, min(32, self.batch_pool // 8))
        weights = _simplex(n_weights, len(objective_columns), generator, scaled.dtype)
        scores = (scaled.unsqueeze(0) * weights.unsqueeze(1)).min(-1).values  # weights x n
        per_weight = max(1, self.batch_pool // n_weights)
        picked = torch.unique(torch.topk(scores, min(per_weight, n), dim=-1).indices.reshape(-1))
        return picked[: self.batch_pool] if len(picked) > self.batch_pool else picked

    def _acquisition(
        self,
        model: Model,
        baseline: Tensor,
        pending: Tensor | None,
        objective_columns: list[int],
        constraints: list[Callable[[Tensor], Tensor]],
        references: list[float],
        seed: int,
    ) -> Any:
        """The acquisition: qLogNEI for one objective, else qLogNParEGO or qLogNEHVI.

        qLogNEHVI's reference point is, per objective, its worst value over the candidates where it is
        known (a cheap metric) and a little below the worst observed value where it is modelled, so a
        candidate beyond the current front's extremes (slower but more accurate than any found) still
        gains hypervolume; BoTorch's ``infer_reference_point`` on the observed front would give it none.
        """
        sampler = _list_sampler(model, self.mc_samples, seed)
        if len(objective_columns) == 1:
            column = objective_columns[0]
            return qLogNoisyExpectedImprovement(
                model,
                X_baseline=baseline,
                sampler=sampler,
                objective=GenericMCObjective(lambda z, X=None: z[..., column]),  # noqa: N803
                constraints=constraints or None,
                X_pending=pending,
                prune_baseline=False,
                cache_root=False,
            )
        objective = IdentityMCMultiOutputObjective(outcomes=objective_columns)
        if self.acquisition == "parego":
            return qLogNParEGO(
                model,
                X_baseline=baseline,
                sampler=sampler,
                objective=objective,
                constraints=constraints or None,
                X_pending=pending,
                prune_baseline=False,
                cache_root=False,
            )
        return qLogNoisyExpectedHypervolumeImprovement(
            model,
            ref_point=references,
            X_baseline=baseline,
            sampler=sampler,
            objective=objective,
            constraints=constraints or None,
            X_pending=pending,
            prune_baseline=False,
            cache_root=False,
        )

    def __repr__(self) -> str:
        prefix = "mobo" if self.acquisition == "nehvi" else "parego"
        return f"MultiObjectiveBOSampler({prefix}-{self.surrogate_name}, space={self.space.name!r}, seed={self._seed})"


class FeasibleRegion(SearchSpace):
    """The architectures of ``space`` that satisfy ``feasible``, as a space of its own: the same name,
    parameters and architectures, with validity narrowed, so sampling, mutation, neighbours and
    enumeration (hence every candidate of a BO over it) stay inside the region.

    Args:
        space: the whole space.
        feasible: whether an architecture of ``space`` is in the region (cheap: it is called for every
            architecture a search looks at).
    """

    def __init__(self, space: SearchSpace, feasible: Callable[[Architecture], bool]) -> None:
        self.space = space
        self.name = space.name
        self._feasible = feasible

    @property
    def parameters(self) -> tuple[Categorical, ...]:
        return self.space.parameters

    def build(self, params: Params) -> tuple[tuple[tuple[str, Cell], ...], str]:
        return self.space.build(params)

    def parse(self, text: str) -> Architecture:
        return self.space.parse(text)

    def check_params(self, params: Params) -> None:
        self.space.check_params(params)
        cells, text = self.space.build(dict(params))
        architecture = Architecture(space=self.name, params=tuple(params.items()), cells=cells, text=text)
        if not self._feasible(architecture):
            raise InvalidArchitectureError(f"{text!r} breaks a constraint of the search.")

    def __repr__(self) -> str:
        return f"FeasibleRegion({self.space!r})"


class IndexedModel(Model):
    """A model over row indices: ``posterior(X)`` is ``model``'s posterior at ``rows[X[..., 0]]``.

    Args:
        model: a fitted BoTorch model over encodings.
        rows: ``N x d`` encodings; the index model's inputs are ``... x 1`` tensors of row numbers.
    """

    def __init__(self, model: Model, rows: Tensor) -> None:
        super().__init__()
        self.model = model
        self.rows = rows

    @property
    def num_outputs(self) -> int:
        return self.model.num_outputs

    @property
    def batch_shape(self) -> torch.Size:
        return self.model.batch_shape

    def posterior(  # type: ignore[override]
        self,
        X: Tensor,  # noqa: N803 (BoTorch's signature)
        output_indices: list[int] | None = None,
        observation_noise: bool | Tensor = False,
        posterior_transform: Any = None,
    ) -> Posterior:
        encoded = self.rows[X[..., 0].long()]
        return self.model.posterior(
            encoded,
            output_indices=output_indices,
            observation_noise=observation_noise,
            posterior_transform=posterior_transform,
        )


class _Outcomes:
    """Which of a history's objectives and constraints are modelled and which are known exactly."""

    def __init__(self, history: SearchHistory, cheap: frozenset[str]) -> None:
        n_objectives = len(history.observations[0].objectives)
        names = history.objectives if len(history.objectives) == n_objectives else ("",) * n_objectives
        self.names = names
        self.modelled_objectives = [i for i, name in enumerate(names) if name not in cheap]
        self.known_objectives = [i for i, name in enumerate(names) if name in cheap]
        self.modelled_constraints = [i for i, c in enumerate(history.constraints) if c.metric not in cheap]
        self.known_constraints = [i for i, c in enumerate(history.constraints) if c.metric in cheap]
        self.signs = history.signs if len(history.signs) == n_objectives else (1.0,) * n_objectives

    def objective_metric(self, position: int) -> str:
        return self.names[position]


def pareto_set(observations: Sequence[Observation]) -> list[Observation]:
    """The feasible observations on the Pareto front of the feasible ones; without any feasible one, the
    least violating observation."""
    feasible = [o for o in observations if o.feasible]
    if not feasible:
        return [max(observations, key=feasibility_rank)] if observations else []
    ranks = pareto_ranks([o.objectives for o in feasible])
    return [o for o, rank in zip(feasible, ranks, strict=True) if rank == 0]


#: Non-dominated fronts of the feasible evaluations that the noisy acquisitions integrate over as the
#: current front (BoTorch would otherwise prune the baseline by sampling, 0.5 s at 100 evaluations).
BASELINE_FRONTS = 2


def _baseline(observations: Sequence[Observation]) -> list[int]:
    """Indices of the observations that may be on the front: the first :data:`BASELINE_FRONTS`
    non-dominated fronts of the feasible ones, and the least violating one when none is feasible."""
    feasible = [i for i, o in enumerate(observations) if o.feasible]
    if not feasible:
        return [max(range(len(observations)), key=lambda i: feasibility_rank(observations[i]))]
    ranks = pareto_ranks([observations[i].objectives for i in feasible])
    return [i for i, rank in zip(feasible, ranks, strict=True) if rank < BASELINE_FRONTS]


def _ranked_history(history: SearchHistory) -> SearchHistory:
    """``history`` with each observation's value replaced by a rank, so that ``best(k)`` lists the
    Pareto-set members first (feasible before infeasible, then by non-dominated front), as candidate
    generation expects."""
    if not history.is_multi_objective and not history.constraints:
        return history
    observations = history.observations
    feasible = [i for i, o in enumerate(observations) if o.feasible]
    fronts = dict(zip(feasible, pareto_ranks([observations[i].objectives for i in feasible]), strict=True))
    ranked = [
        Observation(o.architecture, -float(fronts[i]) if i in fronts else -1e9 - o.violation)
        for i, o in enumerate(observations)
    ]
    return SearchHistory(ranked, history.pending, history.seen)


def _simplex(n: int, m: int, generator: torch.Generator, dtype: torch.dtype) -> Tensor:
    """``n x m`` weights drawn uniformly from the simplex (normalised exponentials)."""
    draws = -torch.log(torch.rand(n, m, generator=generator, dtype=dtype).clamp_min(1e-12))
    return draws / draws.sum(-1, keepdim=True)


def _list_sampler(model: ModelList, samples: int, seed: int) -> ListSampler:
    """One sampler per model of the list: quasi-random normal draws for the GPs, the single member of a
    deterministic model (BoTorch's default sampler for a ``ModelList`` cannot be seeded per model)."""
    samplers: list[MCSampler] = []
    for i, member in enumerate(model.models):
        if isinstance(member, GenericDeterministicModel):
            samplers.append(IndexSampler(torch.Size([samples]), seed=seed + i))
        else:
            samplers.append(SobolQMCNormalSampler(torch.Size([samples]), seed=seed + i))
    return ListSampler(*samplers)


def _checked_cheap_metrics(result: object, architecture: Architecture) -> dict[str, float]:
    """``cheap_metrics``'s result as floats, refusing anything but a dict of finite numbers: the searcher
    uses these values as exact, and a wrong one would mislead every proposal silently."""
    if not isinstance(result, Mapping):
        raise CheapMetricsError(
            f"cheap_metrics({architecture}) returned {result!r} ({type(result).__name__}); it must return a "
            "dict of metric name -> number, e.g. {'latency_ms': 3.2}."
        )
    checked = {}
    for name, value in result.items():
        number = as_number(value)
        if number is None or not math.isfinite(number):
            raise CheapMetricsError(
                f"cheap_metrics({architecture}) returned {name}={value!r} ({type(value).__name__}); each "
                "cheap metric must be a finite number (what the metric is for this architecture)."
            )
        checked[str(name)] = number
    return checked
