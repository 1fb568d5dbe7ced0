"""Acquisition functions over a discrete candidate set, through BoTorch.

Given a fitted :class:`~bonas.surrogates.base.Surrogate` and encoded candidates, :func:`select` picks the
``q`` candidates to evaluate next:

* ``log-ei`` (LogEI), ``ucb`` (UCB) and ``pi`` (log PI) score each candidate analytically; with pending
  evaluations or ``q > 1``, candidates are then chosen by qLogNEI, whose fantasies over the pending and
  already chosen points make parallel workers pick different architectures;
* ``thompson`` draws one joint posterior sample over the candidates (the top of the pool by UCB, to keep
  the joint draw affordable) and takes its argmax, once per batch member. For an ensemble model
  (BoTorch's ``EnsembleModel``, e.g. BANANAS's) it is independent Thompson sampling: per batch member,
  one ensemble member drawn at random, and the argmax of its predictions over every candidate.

With ``success`` (each candidate's probability that its evaluation completes, from a
:class:`~bonas.surrogates.failures.FailureModel`) a failed evaluation counts as no improvement: the analytic
scores are weighted by it (:func:`weighted_scores`), Thompson sampling draws each candidate's success along
with its value, and a batch's qLogNEI chooses among the candidates drawn to complete (one draw each).

Monte-Carlo acquisitions sample an ensemble's members with BoTorch's ``IndexSampler`` (a Gaussian
sampler has no meaning for a finite set of member predictions).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from botorch.acquisition.analytic import (
    LogExpectedImprovement,
    LogProbabilityOfImprovement,
    UpperConfidenceBound,
)
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.models.ensemble import EnsembleModel
from botorch.optim import optimize_acqf_discrete
from botorch.sampling import SobolQMCNormalSampler
from botorch.sampling.base import MCSampler
from botorch.sampling.index_sampler import IndexSampler

from bonas.errors import unknown_name
from bonas.surrogates.base import Surrogate

logger = logging.getLogger(__name__)

ACQUISITIONS = ("log-ei", "ucb", "pi", "thompson")


@dataclass(frozen=True)
class AcquisitionSettings:
    """How candidates are scored.

    Args:
        name: one of :data:`ACQUISITIONS`.
        beta: UCB's exploration weight (mean + sqrt(beta) * std).
        batch_pool: for qLogNEI batches and Thompson sampling, only the best ``batch_pool`` candidates by
            the analytic score (UCB for Thompson) are considered jointly.
        mc_samples: quasi-Monte-Carlo samples of qLogNEI.
    """

    name: str = "log-ei"
    beta: float = 2.0
    batch_pool: int = 256
    mc_samples: int = 128

    def __post_init__(self) -> None:
        if self.name not in ACQUISITIONS:
            raise unknown_name("acquisition", self.name, ACQUISITIONS)
        if self.beta < 0 or self.batch_pool < 1 or self.mc_samples < 1:
            raise ValueError(
                f"Need beta >= 0, batch_pool >= 1 and mc_samples >= 1, got ({self.beta=}, {self.batch_pool=}, "
                f"{self.mc_samples=})."
            )


def analytic_scores(
    surrogate: Surrogate, candidates: torch.Tensor, best_value: float, settings: AcquisitionSettings
) -> torch.Tensor:
    """Acquisition value of each candidate on its own (no pending points).

    Args:
        surrogate: a fitted surrogate.
        candidates: ``n x d`` encoded candidates.
        best_value: the best value observed so far (in the surrogate's units).
        settings: which acquisition; Thompson sampling is scored by UCB here.

    Returns:
        ``n`` tensor, larger is better.
    """
    model = surrogate.model
    if settings.name == "log-ei":
        function = LogExpectedImprovement(model, best_f=best_value)
    elif settings.name == "pi":
        function = LogProbabilityOfImprovement(model, best_f=best_value)
    else:
        function = UpperConfidenceBound(model, beta=settings.beta)
    with torch.no_grad():
        return torch.cat([function(chunk.unsqueeze(-2)) for chunk in candidates.split(4096)])


def weighted_scores(
    scores: torch.Tensor, weights: torch.Tensor, settings: AcquisitionSettings
) -> torch.Tensor:
    """Analytic ``scores`` times ``weights`` in ``(0, 1]``: added as logarithms for LogEI and log PI, and for
    UCB (whose values may be negative) multiplied where positive and divided where not, so that a smaller
    weight always lowers the score."""
    weights = weights.to(scores).clamp_min(1e-12)
    if settings.name in ("log-ei", "pi"):
        return scores + torch.log(weights)
    return torch.where(scores > 0, scores * weights, scores / weights)


def select(
    surrogate: Surrogate,
    candidates: torch.Tensor,
    *,
    q: int,
    best_value: float,
    observed: torch.Tensor,
    pending: torch.Tensor | None,
    settings: AcquisitionSettings,
    generator: torch.Generator,
    success: torch.Tensor | None = None,
) -> list[int]:
    """Indices of the ``q`` candidates to evaluate next (distinct).

    Args:
        surrogate: a fitted surrogate.
        candidates: ``n x d`` encoded candidates (none of them evaluated or pending).
        q: how many to pick.
        best_value: best value observed so far.
        observed: ``m x d`` encoded evaluated architectures (qLogNEI's baseline).
        pending: ``p x d`` encoded architectures being evaluated now, or None.
        settings: the acquisition.
        generator: randomness for Thompson sampling and the QMC sampler.
        success: ``n`` probabilities that each candidate's evaluation completes (None: all 1).
    """
    n = candidates.shape[0]
    if not 1 <= q <= n:
        raise ValueError(f"Cannot pick q={q} of {n} candidates.")
    if success is not None and success.shape != (n,):
        raise ValueError(
            f"success must hold one probability per candidate ({n}), got shape {tuple(success.shape)}."
        )
    if settings.name == "thompson" and isinstance(surrogate.model, EnsembleModel):
        return _ensemble_thompson(surrogate.model, candidates, q, generator, success)
    scores = analytic_scores(surrogate, candidates, best_value, settings)
    if settings.name == "thompson":  # the draws weigh the chance to complete: the UCB pool does not
        return _thompson(surrogate, candidates, scores, q, settings, generator, success)
    if success is not None:
        scores = weighted_scores(scores, success, settings)
    has_pending = pending is not None and pending.shape[0] > 0
    if q == 1 and not has_pending:
        return [int(torch.argmax(scores))]
    if success is not None and bool((success < 1).any()):
        # qLogNEI cannot weight by the chance to complete: leave out of its pool the candidates drawn to fail
        # (one Bernoulli draw each), keeping at least q.
        drawn = scores + _failure_draws(success, 1, generator).reshape(-1).to(scores)
        scores = torch.where(torch.isfinite(drawn).sum() >= q, drawn, scores)
    pool = torch.topk(scores, min(n, max(settings.batch_pool, q))).indices
    if success is not None and torch.isfinite(scores[pool]).sum() >= q:
        pool = pool[torch.isfinite(scores[pool])]
    seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
    choices = candidates[pool]
    # BoTorch also draws from the global generator (pruning the baseline): seed it, then restore it.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        function = qLogNoisyExpectedImprovement(
            surrogate.model,
            X_baseline=observed,
            X_pending=pending if has_pending else None,
            sampler=_mc_sampler(surrogate, settings.mc_samples, seed),
            prune_baseline=True,
        )
        chosen, _ = optimize_acqf_discrete(function, q=q, choices=choices, unique=True)
    positions: list[int] = []
    for row in chosen:  # candidates may share an encoding (WL features): map each row to a new index
        positions.append(_row_index(choices, row, skip=positions))
    return [int(pool[position]) for position in positions]


def _thompson(
    surrogate: Surrogate,
    candidates: torch.Tensor,
    ucb: torch.Tensor,
    q: int,
    settings: AcquisitionSettings,
    generator: torch.Generator,
    success: torch.Tensor | None,
) -> list[int]:
    pool = torch.topk(ucb, min(candidates.shape[0], max(settings.batch_pool, q))).indices
    with torch.no_grad():
        posterior = surrogate.model.posterior(candidates[pool])
        mean = posterior.mean.reshape(-1)
        covariance = posterior.mvn.covariance_matrix  # type: ignore[attr-defined]
        jitter = 1e-9 * covariance.diagonal().mean().clamp_min(1e-12)
        eye = torch.eye(len(pool), dtype=covariance.dtype)
        factor = None
        for attempt in range(6):
            attempt_factor, info = torch.linalg.cholesky_ex(covariance + jitter * (10**attempt) * eye)
            if int(info) == 0:
                factor = attempt_factor
                break
        if factor is None:  # not positive definite even with jitter: sample the marginals independently
            logger.warning("Thompson sampling: joint covariance not PSD; sampling marginals independently.")
            factor = torch.diag(covariance.diagonal().clamp_min(0).sqrt())
        normal = torch.randn(len(pool), q, generator=generator, dtype=mean.dtype)
        draws = mean.unsqueeze(-1) + factor @ normal  # one joint posterior sample per batch member
        failures = None
        if success is not None and bool((success[pool] < 1).any()):
            failures = _failure_draws(success[pool], q, generator).to(draws)
    chosen: list[int] = []
    for column in range(q):
        draw = draws[:, column].clone()
        draw[[i for i, index in enumerate(pool.tolist()) if index in chosen]] = -torch.inf
        if failures is not None:
            draw = _unless_all_fail(draw, failures[:, column])
        chosen.append(int(pool[int(torch.argmax(draw))]))
    return chosen


def _mc_sampler(surrogate: Surrogate, samples: int, seed: int) -> MCSampler:
    """Member indices for an ensemble model, quasi-random normal draws for a Gaussian posterior."""
    if isinstance(surrogate.model, EnsembleModel):
        return IndexSampler(torch.Size([samples]), seed=seed)
    return SobolQMCNormalSampler(torch.Size([samples]), seed=seed)


def _failure_draws(success: torch.Tensor, q: int, generator: torch.Generator) -> torch.Tensor:
    """``n x q``: 0 where a candidate's evaluation is drawn to complete, ``-inf`` where drawn to fail (one
    Bernoulli draw per candidate and batch member; a candidate certain to complete always does)."""
    uniform = torch.rand(success.shape[0], q, generator=generator, dtype=torch.float64)
    fails = uniform >= success.to(torch.float64).unsqueeze(-1)
    return torch.zeros_like(uniform).masked_fill(fails, -torch.inf)


def _unless_all_fail(draw: torch.Tensor, failures: torch.Tensor) -> torch.Tensor:
    """``draw`` with the candidates drawn to fail left out (``failures``: 0 or ``-inf``), unless that
    leaves none of those still open (finite in ``draw``): then ``draw`` as it is."""
    drawn = draw + failures
    return drawn if bool(torch.isfinite(drawn).any()) else draw


def _ensemble_thompson(
    model: EnsembleModel,
    candidates: torch.Tensor,
    q: int,
    generator: torch.Generator,
    success: torch.Tensor | None,
) -> list[int]:
    """Independent Thompson sampling: per pick, a random member's argmax among the unchosen candidates."""
    with torch.no_grad():
        values = torch.cat(
            [model.posterior(chunk).values.reshape(-1, chunk.shape[0]) for chunk in candidates.split(4096)],
            dim=-1,
        )  # members x n
    members = torch.randint(values.shape[0], (q,), generator=generator)
    failures = None
    if success is not None and bool((success < 1).any()):
        failures = _failure_draws(success, q, generator).to(values)
    chosen: list[int] = []
    for column, member in enumerate(members.tolist()):
        draw = values[member].clone()
        draw[chosen] = -torch.inf
        if failures is not None:
            draw = _unless_all_fail(draw, failures[:, column])
        chosen.append(int(torch.argmax(draw)))
    return chosen


def _row_index(rows: torch.Tensor, row: torch.Tensor, skip: list[int]) -> int:
    """Index of the first of ``rows`` equal to ``row`` that is not in ``skip``."""
    matches = torch.nonzero((rows == row).all(dim=-1)).reshape(-1)
    return next(int(m) for m in matches if int(m) not in skip)
