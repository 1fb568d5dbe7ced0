"""Bayesian linear regression with evidence maximisation, as a BoTorch model.

The model is ``t = w . phi(x) + noise`` with a Gaussian prior ``w ~ N(0, I / alpha)`` and Gaussian noise
of precision ``beta`` (Bishop, *Pattern Recognition and Machine Learning*, 3.3). Both precisions are
set by maximising the evidence (the marginal likelihood of the targets) with MacKay's fixed-point
updates (Bishop 3.5.2): with ``lambda_i`` the eigenvalues of ``beta Phi^T Phi``,

    gamma = sum_i lambda_i / (alpha + lambda_i)     (the number of well-determined parameters)
    alpha = gamma / ||m_N||^2
    beta  = (n - gamma) / ||t - Phi m_N||^2

repeated until they settle. The posterior over weights is ``N(m_N, S_N)`` with
``S_N = (alpha I + beta Phi^T Phi)^-1`` and ``m_N = beta S_N Phi^T t``, so the latent function at ``q``
points has mean ``Phi m_N`` and covariance ``Phi S_N Phi^T``, a rank-``m`` matrix for ``m`` features.
:class:`BayesianLinearModel` hands that joint Gaussian to BoTorch as a ``GPyTorchPosterior``, so every
acquisition (LogEI, qLogNEI, Thompson sampling) works on it as on a GP. BONAS (Shi et al. 2020) puts this
model on a GCN's embedding of the architecture (:mod:`bonas.surrogates.gcn`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import torch
from botorch.acquisition.objective import PosteriorTransform
from botorch.models.model import Model
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultivariateNormal
from linear_operator.operators import (
    DiagLinearOperator,
    LowRankRootAddedDiagLinearOperator,
    LowRankRootLinearOperator,
)
from torch import Tensor

logger = logging.getLogger(__name__)

#: Range the precisions are kept in (standardised targets): a noise variance below 1e-4 is the GP
#: surrogates' noise floor too; the prior bounds keep a degenerate fit finite.
BETA_RANGE = (1e-6, 1e4)
ALPHA_RANGE = (1e-8, 1e8)


@dataclass(frozen=True)
class BayesianLinearFit:
    """A fitted Bayesian linear regression on ``m`` features.

    Args:
        alpha: prior precision of the weights.
        beta: noise precision.
        mean: ``m`` posterior mean of the weights.
        covariance_root: ``m x m`` matrix ``R`` with ``S_N = R R^T`` (posterior covariance of the weights).
        log_evidence: log marginal likelihood of the targets at ``alpha`` and ``beta``.
        iterations: fixed-point iterations used.
    """

    alpha: float
    beta: float
    mean: Tensor
    covariance_root: Tensor
    log_evidence: float
    iterations: int


def fit_bayesian_linear_regression(
    features: Tensor, targets: Tensor, *, max_iterations: int = 200, tolerance: float = 1e-6
) -> BayesianLinearFit:
    """Fit the weights' posterior and, by evidence maximisation, both precisions.

    Args:
        features: ``n x m`` design matrix ``Phi`` (include a constant column for an intercept).
        targets: ``n`` targets ``t`` (standardise them: the precision ranges assume unit scale).
        max_iterations: most fixed-point updates.
        tolerance: stop when both log precisions move less than this.

    Returns:
        The fit; see :class:`BayesianLinearFit`.
    """
    phi = features.to(torch.float64)
    t = targets.to(torch.float64).reshape(-1)
    n, m = phi.shape
    if n != t.shape[0] or n == 0:
        raise ValueError(f"Need n >= 1 features rows and as many targets, got {phi.shape=} and {t.shape=}.")
    gram = phi.T @ phi
    eigenvalues, eigenvectors = torch.linalg.eigh((gram + gram.T) / 2)
    eigenvalues = eigenvalues.clamp_min(0.0)
    projected = eigenvectors.T @ (phi.T @ t)  # Phi^T t in the eigenbasis
    variance = float(t.var()) if n > 1 else 0.0
    alpha, beta = 1.0, 1.0 / variance if variance > 0 else 1.0
    alpha, beta = _clamp(alpha, ALPHA_RANGE), _clamp(beta, BETA_RANGE)
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 (reported)
        scaled = beta * eigenvalues
        weights = eigenvectors @ (beta * projected / (alpha + scaled))
        gamma = float((scaled / (alpha + scaled)).sum())
        residual = float(((t - phi @ weights) ** 2).sum())
        new_alpha = _clamp(gamma / max(float(weights @ weights), 1e-300), ALPHA_RANGE)
        new_beta = _clamp(max(n - gamma, 1e-12) / max(residual, 1e-300), BETA_RANGE)
        moved = max(abs(math.log(new_alpha / alpha)), abs(math.log(new_beta / beta)))
        alpha, beta = new_alpha, new_beta
        if moved < tolerance:
            break
    else:
        logger.debug("Bayesian linear regression: precisions still moving after %d iterations.", iterations)
    scaled = beta * eigenvalues
    inverse = 1.0 / (alpha + scaled)  # eigenvalues of S_N
    weights = eigenvectors @ (beta * projected * inverse)
    residual = float(((t - phi @ weights) ** 2).sum())
    log_evidence = (
        0.5 * m * math.log(alpha)
        + 0.5 * n * math.log(beta)
        - 0.5 * beta * residual
        - 0.5 * alpha * float(weights @ weights)
        - 0.5 * float(torch.log(alpha + scaled).sum())
        - 0.5 * n * math.log(2 * math.pi)
    )
    return BayesianLinearFit(
        alpha=alpha,
        beta=beta,
        mean=weights,
        covariance_root=eigenvectors * inverse.sqrt(),
        log_evidence=log_evidence,
        iterations=iterations,
    )


def _clamp(value: float, bounds: tuple[float, float]) -> float:
    return min(max(value, bounds[0]), bounds[1])


class BayesianLinearModel(Model):
    """A BoTorch model: Bayesian linear regression on its inputs plus an intercept.

    Fits on construction, in float64, on standardised targets; posteriors are in the targets' units.

    Args:
        train_X: ``n x m`` training inputs (features).
        train_Y: ``n x 1`` training targets.
        max_iterations: see :func:`fit_bayesian_linear_regression`.
    """

    _num_outputs = 1

    def __init__(self, train_X: Tensor, train_Y: Tensor, *, max_iterations: int = 200) -> None:  # noqa: N803
        super().__init__()
        x = train_X.to(torch.float64)
        y = train_Y.to(torch.float64).reshape(-1)
        if x.dim() != 2 or x.shape[0] != y.shape[0]:
            raise ValueError(
                f"Need n x m inputs and n targets, got {tuple(train_X.shape)} and {tuple(train_Y.shape)}."
            )
        mean = float(y.mean())
        std = float(y.std()) if y.numel() > 1 else 0.0
        if not std > 0 or float(y.max() - y.min()) <= 1e-12 * max(1.0, abs(mean)):
            std = 1.0
        self.y_mean, self.y_std = mean, std
        self.train_inputs = (x,)
        self.train_targets = y
        self.fit = fit_bayesian_linear_regression(
            _with_intercept(x), (y - mean) / std, max_iterations=max_iterations
        )

    @property
    def num_outputs(self) -> int:
        return 1

    @property
    def batch_shape(self) -> torch.Size:
        return torch.Size()

    @property
    def noise_variance(self) -> float:
        """Observation noise variance in the targets' units (``1 / beta``, rescaled)."""
        return self.y_std**2 / self.fit.beta

    def posterior(  # type: ignore[override]
        self,
        X: Tensor,  # noqa: N803 (BoTorch's signature)
        output_indices: list[int] | None = None,
        observation_noise: bool | Tensor = False,
        posterior_transform: PosteriorTransform | None = None,
        **kwargs: Any,
    ) -> GPyTorchPosterior:
        """Joint Gaussian posterior of the latent function at ``batch x q x m`` inputs ``X``.

        Covariance ``Phi S_N Phi^T`` (rescaled), as a low-rank root; ``observation_noise=True`` adds the
        fitted noise variance to its diagonal, a tensor adds that tensor (``batch x q x 1``).
        """
        if output_indices not in (None, [0]):
            raise ValueError(f"The model has one output; got {output_indices=}.")
        phi = _with_intercept(X.to(torch.float64))
        mean = self.y_mean + self.y_std * (phi @ self.fit.mean)
        root = self.y_std * (phi @ self.fit.covariance_root)
        if isinstance(observation_noise, Tensor):
            noise = observation_noise.to(root).reshape(*root.shape[:-1])
            covariance = LowRankRootAddedDiagLinearOperator(
                LowRankRootLinearOperator(root), DiagLinearOperator(noise)
            )
        elif observation_noise:
            noise = torch.full(root.shape[:-1], self.noise_variance, dtype=root.dtype)
            covariance = LowRankRootAddedDiagLinearOperator(
                LowRankRootLinearOperator(root), DiagLinearOperator(noise)
            )
        else:
            covariance = LowRankRootLinearOperator(root)
        posterior = GPyTorchPosterior(MultivariateNormal(mean, covariance))
        return posterior_transform(posterior) if posterior_transform is not None else posterior

    def forward(self, X: Tensor) -> MultivariateNormal:  # noqa: N803
        return self.posterior(X).distribution


def _with_intercept(x: Tensor) -> Tensor:
    return torch.cat([x, torch.ones(*x.shape[:-1], 1, dtype=x.dtype, device=x.device)], dim=-1)
