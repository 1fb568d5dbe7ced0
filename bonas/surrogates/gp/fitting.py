"""Fitting a GP's hyperparameters without ever failing on awkward data: :func:`fit_with_fallbacks`.

The GP standardises the values (BoTorch's ``Standardize``) and its hyperparameters are fitted with
``fit_gpytorch_mll``. A fit that raises or gives a non-finite posterior is retried with a larger noise
floor (:data:`NOISE_FLOORS`), then replaced by the same GP with fixed hyperparameters, and last by a GP
that predicts the mean; every such step logs a warning. Values with no spread (a single one, or all
equal) skip the fit and go straight to fixed hyperparameters.

Two things keep the fit cheap as a search grows (:func:`fit_gp`):

* past ``max_fit_points`` observations, the hyperparameters are fitted on that many of them drawn at
  random, and the GP then conditions on all of them with those hyperparameters: one ``n x n`` Cholesky
  instead of one per L-BFGS step (at 1,000 NB201 observations the fit took 70 s, on 300 about 1 s);
* a fit may start from the hyperparameters of the previous one (``initial``), so L-BFGS starts near
  the optimum and stops after a few steps instead of about a hundred.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable

import torch
from botorch.exceptions.errors import ModelFittingError
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import ConstantKernel, Kernel
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import LogNormalPrior
from torch import Tensor

from bonas.surrogates.gp.posterior import FastMarginalsGP

logger = logging.getLogger(__name__)

#: Lower bounds on the noise variance (in standardised units) tried in turn; the first is BoTorch's.
NOISE_FLOORS = (1e-4, 1e-2, 1e-1)

#: Noise variance (standardised units) of the fixed-hyperparameter fallback GP.
FALLBACK_NOISE = 1e-2

#: LogNormal ``(loc, scale)`` priors of the noise variance in standardised units: near zero for
#: deterministic values (median 0.018: a table lookup or a seeded run), wide for noisy ones (median
#: 0.14, and 1 within two standard deviations: one training seed's value, whose noise the likelihood
#: must learn rather than fit as signal).
NOISE_PRIOR = (-4.0, 1.0)
NOISY_NOISE_PRIOR = (-2.0, 1.0)

#: Exceptions a numerically troubled fit raises (NotPSDError and LinAlgError are RuntimeErrors).
FIT_ERRORS = (ModelFittingError, RuntimeError, ValueError)


def fit_gp(
    x: Tensor,
    y: Tensor,
    make_kernel: Callable[[Tensor], Kernel],
    *,
    seed: int,
    max_iterations: int,
    name: str,
    max_fit_points: int | None = None,
    initial: SingleTaskGP | None = None,
    noisy: bool = False,
) -> tuple[SingleTaskGP, float]:
    """:func:`fit_with_fallbacks`, with the hyperparameters fitted on at most ``max_fit_points`` random
    points (None: all), and started from those of ``initial`` where it has the same ones.

    Returns:
        The GP conditioned on every point of ``x`` and ``y``, and its log marginal likelihood.
    """
    n = x.shape[0]
    if max_fit_points is None or n <= max_fit_points:
        return fit_with_fallbacks(
            x,
            y,
            make_kernel,
            seed=seed,
            max_iterations=max_iterations,
            name=name,
            initial=initial,
            noisy=noisy,
        )
    subset = fit_subset(n, max_fit_points, seed)
    fitted, _ = fit_with_fallbacks(
        x[subset],
        y[subset],
        make_kernel,
        seed=seed,
        max_iterations=max_iterations,
        name=name,
        initial=initial,
        noisy=noisy,
    )
    # The same kernel, likelihood and mean (their fitted hyperparameters) conditioned on every point. The
    # subset is random, so its standardisation is close to that of all the values.
    model = FastMarginalsGP(
        x,
        y,
        likelihood=fitted.likelihood,
        covar_module=fitted.covar_module,
        mean_module=fitted.mean_module,
        outcome_transform=Standardize(m=1),
    )
    model.eval()
    try:
        return model, check_and_score(model)
    except FIT_ERRORS as error:
        logger.warning(
            "%s: the GP with hyperparameters fitted on %d of %d points failed (%s: %s); fitting on all.",
            name,
            max_fit_points,
            n,
            type(error).__name__,
            error,
        )
        return fit_with_fallbacks(
            x, y, make_kernel, seed=seed, max_iterations=max_iterations, name=name, noisy=noisy
        )


def fit_subset(n: int, size: int, seed: int) -> Tensor:
    """``size`` of the indices ``0..n-1`` drawn at random, sorted; nearly the same ones for ``n + 1``.

    Each index gets a fixed random key (from ``seed``) and the ``size`` smallest keys win, so a new
    observation changes the subset by at most one point: the previous fit's hyperparameters stay close
    to the optimum of the next one, and a warm-started fit takes a few steps.
    """
    keys = torch.rand(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return torch.topk(keys, min(size, n), largest=False).indices.sort().values


def fit_with_fallbacks(
    x: Tensor,
    y: Tensor,
    make_kernel: Callable[[Tensor], Kernel],
    *,
    seed: int,
    max_iterations: int,
    name: str,
    initial: SingleTaskGP | None = None,
    noisy: bool = False,
) -> tuple[SingleTaskGP, float]:
    """A fitted GP on ``x`` and ``y``, and the log marginal likelihood of the standardised values.

    Never raises for numerical reasons: see the module docstring for the fallbacks. The log marginal
    likelihood is NaN for the last fallback (the GP that predicts the mean).

    Args:
        x: ``n x d`` float64 training inputs.
        y: ``n x 1`` float64 training values.
        make_kernel: training inputs -> a new kernel at its default hyperparameters (called per attempt).
        seed: seeds the restarts of ``fit_gpytorch_mll`` (global torch randomness is left untouched).
        max_iterations: L-BFGS iterations per hyperparameter fit.
        name: the surrogate's name, for the warnings.
        initial: a GP whose hyperparameters (those of the same name and shape) the first attempt starts
            from; None starts from the kernel's defaults.
        noisy: the values are noisy: the noise variance has the wide prior :data:`NOISY_NOISE_PRIOR`.

    Returns:
        The GP (a :class:`~bonas.surrogates.gp.posterior.FastMarginalsGP`, in eval mode) and the score.
    """
    if is_degenerate(y):
        logger.warning(
            "%s: %d value(s), all equal to %g: too little spread to fit hyperparameters; using a GP with "
            "fixed hyperparameters that predicts that value.",
            name,
            y.shape[0],
            float(y[0]),
        )
        return _fixed_model(x, y, make_kernel, name, noisy)
    last_error: Exception | None = None
    for attempt, noise_floor in enumerate(NOISE_FLOORS):
        try:
            start = initial if attempt == 0 else None
            model = _optimised_model(
                x, y, make_kernel(x), noise_floor, seed, max_iterations, name, start, noisy
            )
            return model, check_and_score(model)
        except FIT_ERRORS as error:
            last_error = error
            logger.warning(
                "%s: fitting the GP with noise variance >= %g failed (%s: %s); retrying with a larger "
                "noise floor.",
                name,
                noise_floor,
                type(error).__name__,
                error,
            )
    logger.warning(
        "%s: every hyperparameter fit failed (last: %s); falling back to fixed hyperparameters.",
        name,
        last_error,
    )
    return _fixed_model(x, y, make_kernel, name, noisy)


def new_gp(x: Tensor, y: Tensor, kernel: Kernel, noise_floor: float, noisy: bool = False) -> SingleTaskGP:
    """An unfitted GP: ``kernel``, standardised values, noise variance ``>= noise_floor`` under a LogNormal
    prior (:data:`NOISY_NOISE_PRIOR` when ``noisy``, else :data:`NOISE_PRIOR`)."""
    loc, scale = NOISY_NOISE_PRIOR if noisy else NOISE_PRIOR
    noise_prior = LogNormalPrior(loc=loc, scale=scale)
    likelihood = GaussianLikelihood(
        noise_prior=noise_prior,
        noise_constraint=GreaterThan(
            noise_floor, transform=None, initial_value=max(float(noise_prior.mode), 2 * noise_floor)
        ),
    )
    return FastMarginalsGP(
        x, y, likelihood=likelihood, covar_module=kernel, outcome_transform=Standardize(m=1)
    )


def check_and_score(model: SingleTaskGP) -> float:
    """The log marginal likelihood of the standardised values under ``model`` (in eval mode after).

    Raises:
        ValueError: that likelihood, or the posterior at the training inputs, is not finite.
    """
    x = model.train_inputs[0]
    with torch.no_grad():
        if isinstance(model, FastMarginalsGP):
            model.eval()
            score = float(model.log_marginal_likelihood())
        else:
            model.train()
            score = float(model.likelihood(model(x)).log_prob(model.train_targets))
            model.eval()
        posterior = model.posterior(x.unsqueeze(-2))
        finite = torch.isfinite(posterior.mean).all() and torch.isfinite(posterior.variance).all()
    if not (finite and math.isfinite(score)):
        raise ValueError(f"non-finite posterior or log marginal likelihood ({score}) at the training data")
    return score


def is_degenerate(y: Tensor) -> bool:
    """Whether the ``n x 1`` values are too few (one) or too equal to fit hyperparameters on."""
    spread = float(y.max() - y.min())
    return y.shape[0] < 2 or spread <= 1e-12 * max(1.0, float(y.abs().max()))


def _optimised_model(
    x: Tensor,
    y: Tensor,
    kernel: Kernel,
    noise_floor: float,
    seed: int,
    max_iterations: int,
    name: str,
    initial: SingleTaskGP | None = None,
    noisy: bool = False,
) -> SingleTaskGP:
    model = new_gp(x, y, kernel, noise_floor, noisy)
    if initial is not None:
        start_from(model, initial)
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.manual_seed(seed)
        fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": max_iterations}})
    for warning in caught:
        logger.debug("%s: while fitting: %s", name, warning.message)
    return model


def start_from(model: SingleTaskGP, previous: SingleTaskGP) -> int:
    """Set ``model``'s hyperparameters to ``previous``'s where both have one of that name and shape.

    Only parameters are copied (raw values, as the optimiser sees them), never buffers such as a prior's
    location, which belong to the new training data.

    Returns:
        How many parameters were copied.
    """
    old = dict(previous.named_parameters())
    copied = 0
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            source = old.get(name)
            if source is not None and source.shape == parameter.shape and torch.isfinite(source).all():
                parameter.copy_(source)
                copied += 1
    return copied


def _fixed_model(
    x: Tensor, y: Tensor, make_kernel: Callable[[Tensor], Kernel], name: str, noisy: bool = False
) -> tuple[SingleTaskGP, float]:
    try:
        model = new_gp(x, y, make_kernel(x), FALLBACK_NOISE / 2, noisy)
        model.likelihood.noise = FALLBACK_NOISE
        model.eval()
        return model, check_and_score(model)
    except FIT_ERRORS as error:
        logger.warning(
            "%s: even the fixed-hyperparameter GP failed (%s: %s); predicting the mean of the values.",
            name,
            type(error).__name__,
            error,
        )
    model = new_gp(x, y, ConstantKernel(), FALLBACK_NOISE / 2)
    model.likelihood.noise = 1.0
    model.eval()
    return model, math.nan
