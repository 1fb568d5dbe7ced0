"""Gaussian-process surrogates: a BoTorch ``SingleTaskGP`` on an architecture encoding.

* :class:`WLGaussianProcess` (``gp-wl``): NAS-BOWL's GP (Ru et al. 2021), a linear kernel on normalised
  Weisfeiler-Lehman subtree counts (the normalised WL kernel), with the number of WL iterations ``h``
  chosen by marginal likelihood.
* :class:`CategoricalGaussianProcess` (``gp-categorical``): an overlap (Hamming) kernel with one
  lengthscale per parameter on the integer-coded parameters; an inactive conditional parameter is one
  more category.
* :class:`PathGaussianProcess` (``gp-path``): an RBF kernel with a single lengthscale on BANANAS's path
  encoding.

All three standardise the values (BoTorch's ``Standardize``), fit hyperparameters with
``fit_gpytorch_mll`` in float64, and never fail on awkward data: a fit that raises or gives a non-finite
posterior is retried with a larger noise floor, then replaced by the same GP with fixed
hyperparameters, and last by a GP that predicts the mean; every such step logs a warning.

Graph encodings (WL colours, paths) are computed once per architecture and kept as sparse rows over
every feature met so far. A fitted model uses the features its training set has, plus one last column
holding the norm of an architecture's other features: that keeps the kernel between any architecture
and the training set exact, and its prior variance too, while the input dimension stays that of the
training set. Encoding the whole NB201 space again after a refit is an index lookup.

Batches of single points (``batch x 1 x d``, what analytic acquisition functions and :meth:`predict`
ask for) take a direct route through the posterior (:class:`_MarginalsGP`), about 0.1 s for all
15,625 NB201 cells where BoTorch's generic route takes seconds and gigabytes.
"""

from __future__ import annotations

import logging
import math
import warnings
from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import gpytorch
import numpy as np
import scipy.sparse
import torch
from botorch.acquisition.objective import PosteriorTransform
from botorch.exceptions.errors import ModelFittingError
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.kernels.categorical import CategoricalKernel
from botorch.models.transforms.outcome import Standardize
from botorch.posteriors.gpytorch import GPyTorchPosterior
from botorch.posteriors.transformed import TransformedPosterior
from gpytorch.constraints import GreaterThan, Positive
from gpytorch.distributions import MultivariateNormal
from gpytorch.kernels import ConstantKernel, Kernel, MaternKernel, RBFKernel, ScaleKernel
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import LogNormalPrior
from linear_operator.operators import DiagLinearOperator
from linear_operator.utils.cholesky import psd_safe_cholesky
from torch import Tensor

from bonas.architecture import Architecture
from bonas.encodings import Encoding, PathEncoding, WLEncoding
from bonas.errors import InvalidArchitectureError, unknown_name
from bonas.spaces.base import SearchSpace
from bonas.surrogates.base import Prediction, Surrogate, SurrogateNotFittedError, check_training_data

logger = logging.getLogger(__name__)

#: Lower bounds on the noise variance (in standardised units) tried in turn; the first is BoTorch's.
NOISE_FLOORS = (1e-4, 1e-2, 1e-1)

#: Noise variance (standardised units) of the fixed-hyperparameter fallback GP.
FALLBACK_NOISE = 1e-2

#: New architectures are encoded in batches of this many (bounds the dense matrix an encoding returns).
_ENCODE_BATCH = 2048

#: Candidates per kernel evaluation in :meth:`GaussianProcessSurrogate.predict` (bounds memory).
PREDICT_CHUNK = 4096

#: Exceptions a numerically troubled fit raises (NotPSDError and LinAlgError are RuntimeErrors).
_FIT_ERRORS = (ModelFittingError, RuntimeError, ValueError)


class GaussianProcessSurrogate(Surrogate):
    """A ``SingleTaskGP`` on an encoding; subclasses give the encoding and the kernel.

    Args:
        seed: seeds the restarts of ``fit_gpytorch_mll`` (global torch randomness is left untouched).
        max_iterations: L-BFGS iterations per hyperparameter fit.
    """

    def __init__(self, *, seed: int = 0, max_iterations: int = 200) -> None:
        if max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1, but got {max_iterations=}.")
        self.seed = seed
        self.max_iterations = max_iterations
        self._model: SingleTaskGP | None = None
        #: Log marginal likelihood of the standardised values under the fitted model (NaN before fit).
        self.log_marginal_likelihood = math.nan

    @abstractmethod
    def _kernel(self, x: Tensor) -> Kernel:
        """A new kernel for training inputs ``x`` (``n x d``), at its default hyperparameters."""

    @property
    def model(self) -> SingleTaskGP:
        if self._model is None:
            raise SurrogateNotFittedError(f"{type(self).__name__} has no model yet; call fit() first.")
        return self._model

    def predict(self, architectures: Sequence[Architecture]) -> Prediction:
        """Posterior mean and latent variance at ``architectures``, ``n`` tensors each."""
        x = self.encode(architectures)
        with torch.no_grad():
            posterior = self.model.posterior(x.unsqueeze(-2))  # n independent points: the fast path
            return Prediction(posterior.mean.reshape(-1), posterior.variance.reshape(-1))

    # -- Fitting, with fallbacks ------------------------------------------------------------------------

    def _fit_model(self, x: Tensor, y: Tensor) -> tuple[SingleTaskGP, float]:
        """A fitted GP on ``x`` (``n x d``) and ``y`` (``n x 1``), and its log marginal likelihood.

        Never raises for numerical reasons: see the module docstring for the fallbacks.
        """
        if _is_degenerate(y):
            logger.warning(
                "%s: %d value(s), all equal to %g: too little spread to fit hyperparameters; using a GP with "
                "fixed hyperparameters that predicts that value.",
                self.name,
                y.shape[0],
                float(y[0]),
            )
            return self._fixed_model(x, y)
        last_error: Exception | None = None
        for noise_floor in NOISE_FLOORS:
            try:
                model = self._optimised_model(x, y, noise_floor)
                return model, self._check_and_score(model)
            except _FIT_ERRORS as error:
                last_error = error
                logger.warning(
                    "%s: fitting the GP with noise variance >= %g failed (%s: %s); retrying with a larger "
                    "noise floor.",
                    self.name,
                    noise_floor,
                    type(error).__name__,
                    error,
                )
        logger.warning(
            "%s: every hyperparameter fit failed (last: %s); falling back to fixed hyperparameters.",
            self.name,
            last_error,
        )
        return self._fixed_model(x, y)

    def _new_gp(self, x: Tensor, y: Tensor, kernel: Kernel, noise_floor: float) -> SingleTaskGP:
        noise_prior = LogNormalPrior(loc=-4.0, scale=1.0)
        likelihood = GaussianLikelihood(
            noise_prior=noise_prior,
            noise_constraint=GreaterThan(
                noise_floor, transform=None, initial_value=max(float(noise_prior.mode), 2 * noise_floor)
            ),
        )
        return _MarginalsGP(
            x, y, likelihood=likelihood, covar_module=kernel, outcome_transform=Standardize(m=1)
        )

    def _optimised_model(self, x: Tensor, y: Tensor, noise_floor: float) -> SingleTaskGP:
        model = self._new_gp(x, y, self._kernel(x), noise_floor)
        mll = ExactMarginalLogLikelihood(model.likelihood, model)
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.manual_seed(self.seed)
            fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": self.max_iterations}})
        for warning in caught:
            logger.debug("%s: while fitting: %s", self.name, warning.message)
        return model

    def _fixed_model(self, x: Tensor, y: Tensor) -> tuple[SingleTaskGP, float]:
        try:
            model = self._new_gp(x, y, self._kernel(x), FALLBACK_NOISE / 2)
            model.likelihood.noise = FALLBACK_NOISE
            model.eval()
            return model, self._check_and_score(model)
        except _FIT_ERRORS as error:
            logger.warning(
                "%s: even the fixed-hyperparameter GP failed (%s: %s); predicting the mean of the values.",
                self.name,
                type(error).__name__,
                error,
            )
        model = self._new_gp(x, y, ConstantKernel(), FALLBACK_NOISE / 2)
        model.likelihood.noise = 1.0
        model.eval()
        return model, math.nan

    def _check_and_score(self, model: SingleTaskGP) -> float:
        """The log marginal likelihood of the standardised values under ``model`` (in eval mode after).

        Raises:
            ValueError: that likelihood, or the posterior at the training inputs, is not finite.
        """
        x = model.train_inputs[0]
        with torch.no_grad():
            model.train()
            score = float(model.likelihood(model(x)).log_prob(model.train_targets))
            model.eval()
            posterior = model.posterior(x.unsqueeze(-2))
            finite = torch.isfinite(posterior.mean).all() and torch.isfinite(posterior.variance).all()
        if not (finite and math.isfinite(score)):
            raise ValueError(
                f"non-finite posterior or log marginal likelihood ({score}) at the training data"
            )
        return score

    def _set_model(self, model: SingleTaskGP, score: float) -> None:
        self._model = model
        self.log_marginal_likelihood = score


class _MarginalsGP(SingleTaskGP):
    """A ``SingleTaskGP`` that answers batches of single points (``batch x 1 x d``) directly.

    That is what analytic acquisition functions and :meth:`GaussianProcessSurrogate.predict` ask for. The
    inherited path concatenates a copy of the training inputs to every batch element (gigabytes for
    4096 candidates and a few hundred features) and evaluates full test covariances; here each chunk of
    points costs one ``chunk x n`` cross-covariance and a triangular solve against the Cholesky factor of
    the training covariance. The numbers are those of the exact posterior; joint posteriors (``q > 1``),
    batched models, output indices and tensor-valued observation noise take the inherited path.
    """

    def posterior(  # type: ignore[override]
        self,
        X: Tensor,  # noqa: N803 (BoTorch's signature)
        output_indices: list[int] | None = None,
        observation_noise: bool | Tensor = False,
        posterior_transform: PosteriorTransform | None = None,
    ) -> GPyTorchPosterior | TransformedPosterior:
        if (
            X.dim() < 3
            or X.shape[-2] != 1
            or self.train_inputs[0].dim() != 2
            or output_indices is not None
            or isinstance(observation_noise, Tensor)
            or hasattr(self, "input_transform")
            or not isinstance(getattr(self, "outcome_transform", None), Standardize | None)
        ):
            return super().posterior(X, output_indices, observation_noise, posterior_transform)
        self.eval()
        mean, variance = self._marginals(X.reshape(-1, X.shape[-1]))
        if observation_noise:
            variance = variance + self.likelihood.noise.reshape(())
        transform = getattr(self, "outcome_transform", None)
        if isinstance(transform, Standardize):
            scale = transform.stdvs.reshape(())
            mean = transform.means.reshape(()) + scale * mean
            variance = scale**2 * variance
        # GPyTorch rounds variances up to this (with a warning) when they are read; do it quietly.
        variance = variance.clamp_min(gpytorch.settings.min_variance.value(variance.dtype))
        shape = X.shape[:-1]
        distribution = MultivariateNormal(mean.reshape(shape), DiagLinearOperator(variance.reshape(shape)))
        posterior = GPyTorchPosterior(distribution=distribution)
        return posterior if posterior_transform is None else posterior_transform(posterior=posterior, X=X)

    def _marginals(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Standardised posterior means and latent variances at the ``N x d`` points ``x``."""
        train_x = self.train_inputs[0]
        noise = self.likelihood.noise.reshape(())
        train_covariance = self.covar_module(train_x).to_dense()
        factor = psd_safe_cholesky(train_covariance + noise * torch.eye(len(train_x), dtype=train_x.dtype))
        residual = (self.train_targets - self.mean_module(train_x)).unsqueeze(-1)
        weights = torch.cholesky_solve(residual, factor)
        means, variances = [], []
        for chunk in x.split(PREDICT_CHUNK):
            cross = self.covar_module(chunk, train_x).to_dense()
            means.append(self.mean_module(chunk) + (cross @ weights).squeeze(-1))
            solved = torch.linalg.solve_triangular(factor, cross.transpose(-1, -2), upper=False)
            prior = self.covar_module(chunk, diag=True)
            variances.append((prior - (solved * solved).sum(-2)).clamp_min(0.0))
        return torch.cat(means), torch.cat(variances)


# -- Encoded rows, cached --------------------------------------------------------------------------------


class _RowCache:
    """Rows of ``transform`` cached per architecture (equal architectures share a row)."""

    def __init__(self, transform: Callable[[list[Architecture]], Tensor]) -> None:
        self._transform = transform
        self.clear()

    def clear(self) -> None:
        self._index: dict[Architecture, int] = {}
        self._rows: Tensor | None = None

    def __call__(self, architectures: Sequence[Architecture]) -> Tensor:
        archs = list(architectures)
        missing = [arch for arch in dict.fromkeys(archs) if arch not in self._index]
        if missing:
            self._append(missing, self._transform(missing))
        if not archs:
            width = 0 if self._rows is None else self._rows.shape[1]
            return torch.zeros((0, width), dtype=torch.float64)
        assert self._rows is not None
        return self._rows[torch.tensor([self._index[arch] for arch in archs])]

    def _append(self, archs: list[Architecture], rows: Tensor) -> None:
        used = len(self._index)
        if self._rows is None or used + len(archs) > self._rows.shape[0]:
            # Grow geometrically: BO loops encode a few pending architectures between large batches.
            grown = torch.zeros((max(2 * (used + len(archs)), 64), rows.shape[1]), dtype=rows.dtype)
            if self._rows is not None:
                grown[:used] = self._rows[:used]
            self._rows = grown
        self._rows[used : used + len(archs)] = rows
        for offset, arch in enumerate(archs):
            self._index[arch] = used + offset


class _FeatureStore:
    """Sparse rows of a bag-of-features encoding (WL colours, paths), computed once per architecture.

    Each batch of new architectures is encoded by a fresh encoding fitted on that batch, so every stored
    row is complete: it has all of its architecture's features. Columns are global, one per feature
    name, and only grow, so rows never need recomputing; a model picks the columns it uses with
    :func:`_project`.
    """

    def __init__(self, make_encoding: Callable[[], Encoding]) -> None:
        self._make_encoding = make_encoding
        self._space: str | None = None
        self._columns: dict[str, int] = {}
        self._row: dict[Architecture, int] = {}
        self._indptr: list[np.ndarray] = [np.zeros(1, dtype=np.int64)]
        self._indices: list[np.ndarray] = []
        self._data: list[np.ndarray] = []
        self._matrix: scipy.sparse.csr_matrix | None = None

    def rows(self, architectures: Sequence[Architecture]) -> scipy.sparse.csr_matrix:
        """``n x G`` sparse feature rows (``G`` = features met so far) of ``architectures``."""
        index = [self._row.get(arch) for arch in architectures]
        if None in index:
            missing = [arch for arch, row in zip(architectures, index, strict=True) if row is None]
            missing = list(dict.fromkeys(missing))
            for start in range(0, len(missing), _ENCODE_BATCH):
                self._add(missing[start : start + _ENCODE_BATCH])
            index = [self._row[arch] for arch in architectures]
        if self._matrix is None:
            self._matrix = scipy.sparse.csr_matrix(
                (
                    np.concatenate([np.zeros(0), *self._data]),
                    np.concatenate([np.zeros(0, np.int64), *self._indices]),
                    np.concatenate(self._indptr),
                ),
                shape=(len(self._row), len(self._columns)),
            )
        return self._matrix[np.asarray(index, dtype=np.int64)]

    def _add(self, architectures: list[Architecture]) -> None:
        spaces = {architecture.space for architecture in architectures}
        if self._space is not None:
            spaces.add(self._space)
        if len(spaces) > 1:
            raise InvalidArchitectureError(
                f"Architectures of spaces {sorted(spaces)} given to one surrogate; use one surrogate per space."
            )
        self._space = spaces.pop()
        encoding = self._make_encoding().fit(architectures)
        dense = encoding.transform(architectures).numpy()
        ids = np.array(
            [self._columns.setdefault(name, len(self._columns)) for name in encoding.feature_names],
            dtype=np.int64,
        )
        rows, cols = np.nonzero(dense)  # row-major: sorted by row
        offset = len(self._row)
        self._indptr.append(self._indptr[-1][-1] + np.cumsum(np.bincount(rows, minlength=len(architectures))))
        self._indices.append(ids[cols])
        self._data.append(dense[rows, cols])
        self._row.update((arch, offset + i) for i, arch in enumerate(architectures))
        self._matrix = None


def _training_columns(rows: scipy.sparse.csr_matrix, max_columns: int | None) -> np.ndarray:
    """The columns some training row uses, sorted; the ``max_columns`` most used ones if given."""
    used = np.bincount(rows.indices, minlength=rows.shape[1])
    columns = np.flatnonzero(used)
    if max_columns is not None and columns.size > max_columns:
        order = np.lexsort((columns, -used[columns]))  # most used first, then by column id
        columns = np.sort(columns[order[:max_columns]])
    return columns


def _project(rows: scipy.sparse.csr_matrix, columns: np.ndarray) -> Tensor:
    """``n x (k + 1)`` dense features: the ``k`` model ``columns``, then the norm of the rest.

    The last column holds ``sqrt(sum of squares of the features outside columns)``. Training rows have
    (nearly) nothing outside, so for a linear kernel ``k(x, train)`` is unchanged while ``k(x, x)`` keeps
    the mass of features no training architecture has (the true prior variance of a novel
    architecture); for a stationary kernel the distance from ``x`` to every training row is exact.
    """
    kept = rows[:, columns].toarray()
    total = np.asarray(rows.multiply(rows).sum(axis=1)).reshape(-1)
    rest = total - (kept * kept).sum(axis=1)
    rest[rest <= 1e-12 * np.maximum(total, 1.0)] = 0.0
    return torch.from_numpy(np.hstack([kept, np.sqrt(rest)[:, None]]))


# -- NAS-BOWL's WL GP ------------------------------------------------------------------------------------

WL_KERNELS = ("linear", "rbf")


class _LinearKernel(Kernel):
    """``variance * x1 @ x2.T`` as a dense tensor.

    GPyTorch's ``LinearKernel`` returns low-rank operators whose solves are several times slower than a
    dense Cholesky at the sizes of a BO loop (hundreds of points, hundreds of features).
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_parameter("raw_variance", torch.nn.Parameter(torch.zeros(1)))
        self.register_constraint("raw_variance", Positive())
        self._gram: tuple[Tensor, int, Tensor] | None = None

    @property
    def variance(self) -> Tensor:
        return self.raw_variance_constraint.transform(self.raw_variance)

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, **params: Any) -> Tensor:
        if diag:
            return (x1 * x2).sum(-1) * self.variance
        if x1 is not x2 or x1.requires_grad:
            return (x1 @ x2.transpose(-1, -2)) * self.variance
        # Fitting evaluates the training Gram matrix once per L-BFGS step with the same inputs: keep it.
        if self._gram is None or self._gram[0] is not x1 or self._gram[1] != x1._version:
            self._gram = (x1, x1._version, x1 @ x1.transpose(-1, -2))
        return self._gram[2] * self.variance


class _BagOfFeaturesGP(GaussianProcessSurrogate):
    """A GP on the columns of a :class:`_FeatureStore` that the training set uses (plus the rest's norm)."""

    requires_graph = True

    def __init__(self, *, seed: int, max_iterations: int) -> None:
        super().__init__(seed=seed, max_iterations=max_iterations)
        self._stores: dict[Any, _FeatureStore] = {}
        self._store_key: Any = None
        self._columns: np.ndarray | None = None

    @abstractmethod
    def _make_encoding(self, key: Any) -> Encoding:
        """A new unfitted encoding for store ``key``."""

    def _store(self, key: Any) -> _FeatureStore:
        if key not in self._stores:
            self._stores[key] = _FeatureStore(lambda: self._make_encoding(key))
        return self._stores[key]

    def _training_inputs(
        self, key: Any, architectures: Sequence[Architecture], max_columns: int | None = None
    ) -> tuple[Tensor, np.ndarray]:
        rows = self._store(key).rows(architectures)
        columns = _training_columns(rows, max_columns)
        return _project(rows, columns), columns

    def encode(self, architectures: Sequence[Architecture]) -> Tensor:
        """``n x (k + 1)`` features: the ``k`` the fitted model uses, then the norm of the others."""
        if self._columns is None:
            raise SurrogateNotFittedError(f"{type(self).__name__} has no vocabulary yet; call fit() first.")
        return _project(self._store(self._store_key).rows(list(architectures)), self._columns)


class WLGaussianProcess(_BagOfFeaturesGP):
    """GP with the Weisfeiler-Lehman kernel of NAS-BOWL (Ru et al. 2021).

    The kernel is ``variance * <phi(x), phi(x')>``, ``phi`` the WL subtree counts for iterations ``0..h``
    divided by their norm (:class:`~bonas.encodings.WLEncoding` with ``normalize=True``): NAS-BOWL's
    normalised WL kernel, plus Gaussian noise and a constant mean. The features are the WL colours of
    the training set plus one column with the norm of an architecture's other colours, so the kernel
    between any architecture and a training one is exact and so is ``k(x, x)``; only the covariance of
    two unevaluated architectures counts their shared unseen colours approximately.

    With ``h=None`` the number of WL iterations is chosen as NAS-BOWL does: one GP per ``h`` in
    ``h_choices``, keeping the one of largest log marginal likelihood (:attr:`h_scores`). Choosing fits
    ``len(h_choices)`` GPs, so it is repeated only every ``reselect_every`` fits; the fits in between
    reuse the last choice (:attr:`h`).

    Args:
        space: the search space (unused: WL features come from the architectures' cells).
        h: fixed number of WL iterations, or None to choose it by marginal likelihood.
        h_choices: the candidates for ``h``.
        reselect_every: choose ``h`` on the first fit and then every ``reselect_every`` fits.
        kernel: ``"linear"`` (NAS-BOWL's WL kernel) or ``"rbf"`` (``exp(-||phi(x) - phi(x')||^2 / 2l^2)``
            on the normalised features, a monotone function of the WL kernel with a learnt lengthscale).
        seed, max_iterations: see :class:`GaussianProcessSurrogate`.
    """

    name = "gp-wl"

    def __init__(
        self,
        space: SearchSpace | None = None,
        *,
        h: int | None = None,
        h_choices: Sequence[int] = (0, 1, 2, 3),
        reselect_every: int = 10,
        kernel: str = "linear",
        seed: int = 0,
        max_iterations: int = 200,
    ) -> None:
        super().__init__(seed=seed, max_iterations=max_iterations)
        if h is not None and not _is_count(h):
            raise ValueError(f"h must be None (choose it) or an int >= 0, but got {h=!r}.")
        choices = tuple(h_choices)
        if not choices or not all(_is_count(choice) for choice in choices):
            raise ValueError(f"h_choices must be non-empty ints >= 0, but got {h_choices=!r}.")
        if reselect_every < 1:
            raise ValueError(f"reselect_every must be >= 1, but got {reselect_every=}.")
        if kernel not in WL_KERNELS:
            raise unknown_name("WL GP kernel", kernel, WL_KERNELS)
        self.space = space
        self.fixed_h = h
        self.h_choices = choices
        self.reselect_every = reselect_every
        self.kernel = kernel
        self.name = "gp-wl" if kernel == "linear" else f"gp-wl-{kernel}"  # as registered
        #: The ``h`` of the fitted model (None before fit).
        self.h: int | None = h
        #: Log marginal likelihood per ``h`` at the last choice (empty until ``h`` is chosen).
        self.h_scores: dict[int, float] = {}
        self._fits_since_choice: int | None = None  # None: choose on the next fit

    def _make_encoding(self, key: Any) -> Encoding:
        return WLEncoding(h=key, normalize=True)

    def fit(self, architectures: Sequence[Architecture], values: Sequence[float]) -> None:
        y = check_training_data(architectures, values)
        archs = list(architectures)
        if self.fixed_h is not None:
            choices: tuple[int, ...] = (self.fixed_h,)
        elif _is_degenerate(y):
            # No marginal likelihoods to compare: keep the last choice (or take the middle one) and
            # choose on the next fit.
            choices = (self.h if self.h is not None else self.h_choices[len(self.h_choices) // 2],)
            self._fits_since_choice = None
        elif self._fits_since_choice is None or self._fits_since_choice >= self.reselect_every:
            choices = self.h_choices
        else:
            choices = (self.h,) if self.h is not None else self.h_choices
        fits = {}
        for h in choices:
            x, columns = self._training_inputs(h, archs)
            fits[h] = (*self._fit_model(x, y), columns)
        best = max(fits, key=lambda h: _score_key(fits[h][1]))
        if self.fixed_h is None and len(fits) > 1:
            self.h_scores = {h: fit[1] for h, fit in fits.items()}
            self._fits_since_choice = 0
            logger.debug("%s: chose h=%d by log marginal likelihood %s", self.name, best, self.h_scores)
        if self._fits_since_choice is not None:
            self._fits_since_choice += 1
        model, score, columns = fits[best]
        self.h = self._store_key = best
        self._columns = columns
        self._set_model(model, score)

    def _kernel(self, x: Tensor) -> Kernel:
        return _LinearKernel() if self.kernel == "linear" else _rbf(x)


# -- Categorical overlap GP ------------------------------------------------------------------------------


class _OverlapKernel(CategoricalKernel):
    """BoTorch's :class:`CategoricalKernel`, ``exp(-mean_i [x1_i != x2_i] / l_i)``, computed faster.

    ``CategoricalKernel`` divides an ``n1 x n2 x d`` mismatch tensor by the lengthscales on every call,
    and differentiates through that, and computes the full ``n x n`` matrix even for its diagonal (what
    a posterior variance asks for). Here the distance is the mismatch tensor times the ``d`` inverse
    lengthscales (a matrix-vector product), the training mismatches are computed once per fit, and the
    diagonal costs ``O(n d)``. Same values.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._mismatches: tuple[Tensor, int, Tensor] | None = None

    def forward(
        self, x1: Tensor, x2: Tensor, diag: bool = False, last_dim_is_batch: bool = False, **params: Any
    ) -> Tensor:
        if last_dim_is_batch:
            return super().forward(x1, x2, diag=diag, last_dim_is_batch=last_dim_is_batch)
        weights = (1.0 / self.lengthscale).reshape(-1).expand(x1.shape[-1]) / x1.shape[-1]
        if diag:
            return torch.exp(-((x1 != x2).to(x1.dtype) @ weights))
        return torch.exp(-(self._mismatch(x1, x2) @ weights))

    def _mismatch(self, x1: Tensor, x2: Tensor) -> Tensor:
        if x1 is not x2 or x1.requires_grad:
            return (x1.unsqueeze(-2) != x2.unsqueeze(-3)).to(x1.dtype)
        # Fitting compares the training inputs with themselves once per L-BFGS step: keep the result.
        if self._mismatches is None or self._mismatches[0] is not x1 or self._mismatches[1] != x1._version:
            self._mismatches = (x1, x1._version, (x1.unsqueeze(-2) != x1.unsqueeze(-3)).to(x1.dtype))
        return self._mismatches[2]


class CategoricalGaussianProcess(GaussianProcessSurrogate):
    """GP on the flat parameters with an overlap kernel.

    Each parameter of ``space`` (all of them, in the space's order) becomes one integer column: the index
    of its value among the parameter's choices, or ``len(choices)`` when the parameter is inactive, so
    "inactive" is one more category. The kernel is BoTorch's :class:`CategoricalKernel`,
    ``outputscale * exp(-mean_i [x_i != x'_i] / l_i)``, with one lengthscale ``l_i`` per parameter: a
    parameter that hardly matters gets a long lengthscale.

    Args:
        space: the search space whose parameters are encoded.
        ard: one lengthscale per parameter (True) or a single shared one.
        seed, max_iterations: see :class:`GaussianProcessSurrogate`.
    """

    name = "gp-categorical"

    def __init__(
        self, space: SearchSpace, *, ard: bool = True, seed: int = 0, max_iterations: int = 200
    ) -> None:
        super().__init__(seed=seed, max_iterations=max_iterations)
        if not isinstance(space, SearchSpace):
            raise TypeError(
                f"CategoricalGaussianProcess needs the search space, got {type(space).__name__}: {space!r}."
            )
        self.space = space
        self.ard = ard
        self._choices = [
            (parameter.name, {value: index for index, value in enumerate(parameter.choices)})
            for parameter in space.parameters
        ]
        self._rows = _RowCache(self._codes)

    def fit(self, architectures: Sequence[Architecture], values: Sequence[float]) -> None:
        y = check_training_data(architectures, values)
        self._set_model(*self._fit_model(self.encode(architectures), y))

    def encode(self, architectures: Sequence[Architecture]) -> Tensor:
        """``n x p`` float64 integer codes, one column per parameter of the space (see the class)."""
        return self._rows(architectures)

    def _codes(self, architectures: list[Architecture]) -> Tensor:
        rows = []
        for arch in architectures:
            if not isinstance(arch, Architecture) or arch.space != self.space.name:
                raise InvalidArchitectureError(
                    f"{self.name} is for space {self.space.name!r}; got {arch!r}, which is not one of its "
                    "architectures."
                )
            params = dict(arch.params)
            row = []
            for name, index in self._choices:
                if name not in params:
                    row.append(len(index))
                elif params[name] in index:
                    row.append(index[params[name]])
                else:
                    raise InvalidArchitectureError(
                        f"{arch.text!r} has {name}={params[name]!r}, not a choice of space {self.space.name!r}."
                    )
            rows.append(row)
        return torch.tensor(rows, dtype=torch.float64).reshape(len(rows), len(self._choices))

    def _kernel(self, x: Tensor) -> Kernel:
        # The LogNormal(0, 1) prior keeps lengthscales of parameters the data barely inform from running
        # off to 0 or infinity: with it, NB201 ranks better (Kendall tau 0.49-0.55 against 0.29-0.44 at
        # 150 points) and the fit converges in fewer steps.
        return ScaleKernel(
            _OverlapKernel(
                ard_num_dims=x.shape[-1] if self.ard else None,
                lengthscale_prior=LogNormalPrior(0.0, 1.0),
                lengthscale_constraint=GreaterThan(1e-6),
            )
        )


# -- Path-encoding GP ------------------------------------------------------------------------------------

PATH_KERNELS = ("rbf", "matern")


class PathGaussianProcess(_BagOfFeaturesGP):
    """GP on BANANAS's path encoding with a stationary kernel and a single lengthscale.

    On 0/1 path indicators the squared distance ``||x - x'||^2`` is the number of paths one architecture
    has and the other lacks, so the RBF kernel is ``exp(-paths_differing / 2 l^2)``: correlation decays
    geometrically with every path gained or lost, the same form as the overlap kernel on parameters. A
    single lengthscale (no ARD) because the encoding has tens to thousands of columns, most of them rare
    paths, on which per-column lengthscales would overfit a few dozen evaluations. Matern-5/2 is offered
    (``kernel="matern"``); it decays in ``sqrt(paths_differing)``.

    The columns are the paths of the training set plus one column with the square root of the number of
    an architecture's other paths, so distances to training architectures are exact.

    Args:
        space: the search space (unused: paths come from the architectures' cells).
        max_paths: keep only the ``max_paths`` paths most training architectures have (BANANAS's
            truncation); the others join the last column. None keeps all.
        kernel: ``"rbf"`` or ``"matern"`` (Matern-5/2).
        seed, max_iterations: see :class:`GaussianProcessSurrogate`.
    """

    name = "gp-path"

    def __init__(
        self,
        space: SearchSpace | None = None,
        *,
        max_paths: int | None = None,
        kernel: str = "rbf",
        seed: int = 0,
        max_iterations: int = 200,
    ) -> None:
        super().__init__(seed=seed, max_iterations=max_iterations)
        if max_paths is not None and (not _is_count(max_paths) or max_paths < 1):
            raise ValueError(f"max_paths must be None or an int >= 1, but got {max_paths=!r}.")
        if kernel not in PATH_KERNELS:
            raise unknown_name("path GP kernel", kernel, PATH_KERNELS)
        self.space = space
        self.max_paths = max_paths
        self.kernel = kernel

    def _make_encoding(self, key: Any) -> Encoding:
        return PathEncoding()

    def fit(self, architectures: Sequence[Architecture], values: Sequence[float]) -> None:
        y = check_training_data(architectures, values)
        x, columns = self._training_inputs(None, list(architectures), self.max_paths)
        model, score = self._fit_model(x, y)
        self._columns = columns
        self._set_model(model, score)

    def _kernel(self, x: Tensor) -> Kernel:
        return _rbf(x, matern=self.kernel == "matern")


# -- Helpers ---------------------------------------------------------------------------------------------


def _rbf(x: Tensor, *, matern: bool = False) -> ScaleKernel:
    """A single-lengthscale RBF (or Matern-5/2) kernel with a LogNormal prior at the median distance.

    Without the prior, the marginal likelihood on NB201 path encodings sometimes prefers a lengthscale
    far below the smallest distance and almost no noise: a GP that memorises the training set and
    predicts the mean elsewhere (Kendall tau 0.27 where other seeds reach 0.45).
    """
    distances = torch.cdist(x, x)
    positive = distances[distances > 0]
    median = float(positive.median()) if positive.numel() else 1.0
    prior = LogNormalPrior(math.log(median), 0.5)
    base = MaternKernel(nu=2.5, lengthscale_prior=prior) if matern else RBFKernel(lengthscale_prior=prior)
    base.lengthscale = median
    return ScaleKernel(base)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_degenerate(y: Tensor) -> bool:
    spread = float(y.max() - y.min())
    return y.shape[0] < 2 or spread <= 1e-12 * max(1.0, float(y.abs().max()))


def _score_key(score: float) -> float:
    return score if math.isfinite(score) else -math.inf
