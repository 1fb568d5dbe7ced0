"""The GP surrogates: a base class and three GPs on three encodings.

* :class:`GaussianProcessSurrogate`: a ``SingleTaskGP`` on some encoding, fitted by
  :func:`~bonas.surrogates.gp.fitting.fit_gp`; subclasses give the encoding and the kernel.
* :class:`WLGaussianProcess` (``gp-wl``), :class:`CategoricalGaussianProcess` (``gp-categorical``) and
  :class:`PathGaussianProcess` (``gp-path``); see :mod:`bonas.surrogates.gp`.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from botorch.models import SingleTaskGP
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import Kernel, ScaleKernel
from gpytorch.priors import LogNormalPrior
from torch import Tensor

from bonas.architecture import Architecture
from bonas.encodings import Encoding, PathEncoding, WLEncoding
from bonas.errors import unknown_name
from bonas.spaces.base import SearchSpace
from bonas.surrogates.base import Prediction, Surrogate, SurrogateNotFittedError, check_training_data
from bonas.surrogates.gp.caches import FeatureStore, RowCache
from bonas.surrogates.gp.fitting import fit_gp, is_degenerate
from bonas.surrogates.gp.kernels import (
    AdditiveOverlapKernel,
    DenseLinearKernel,
    OverlapKernel,
    ValueShareKernel,
    median_heuristic_rbf_kernel,
    value_shares,
)
from bonas.surrogates.gp.parameter_codes import ParameterCodes
from bonas.surrogates.gp.projection import project, training_columns
from bonas.surrogates.gp.wl_depth import WLDepthSelection

#: Kernels of :class:`WLGaussianProcess`.
WL_KERNELS = ("linear", "rbf")

#: Kernels of :class:`PathGaussianProcess`.
PATH_KERNELS = ("rbf", "matern")

#: Kernels of :class:`CategoricalGaussianProcess`.
CATEGORICAL_KERNELS = ("overlap-shares", "overlap", "additive")

#: Default of ``max_fit_points`` (:class:`GaussianProcessSurrogate`).
DEFAULT_MAX_FIT_POINTS = 200


class GaussianProcessSurrogate(Surrogate):
    """A ``SingleTaskGP`` on an encoding; subclasses give the encoding and the kernel.

    Args:
        seed: seeds the restarts of ``fit_gpytorch_mll`` (global torch randomness is left untouched).
        max_iterations: L-BFGS iterations per hyperparameter fit.
        max_fit_points: past this many observations, hyperparameters are fitted on this many drawn at
            random (and started from the previous fit's), and the GP conditions on all of them with those
            hyperparameters; None fits on all. 200 keeps a proposal at 1,000 observations around a second
            (see :func:`~bonas.surrogates.gp.fitting.fit_gp`).
        warm_start: start every fit from the previous fit's hyperparameters, not only the subset fits.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        max_iterations: int = 200,
        max_fit_points: int | None = DEFAULT_MAX_FIT_POINTS,
        warm_start: bool = False,
    ) -> None:
        if max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1, but got {max_iterations=}.")
        if max_fit_points is not None and (not _is_count(max_fit_points) or max_fit_points < 2):
            raise ValueError(f"max_fit_points must be None or an int >= 2, but got {max_fit_points=!r}.")
        self.seed = seed
        self.max_iterations = max_iterations
        self.max_fit_points = max_fit_points
        self.warm_start = warm_start
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

    def _fit_model(self, x: Tensor, y: Tensor) -> tuple[SingleTaskGP, float]:
        """A fitted GP on ``x`` (``n x d``) and ``y`` (``n x 1``), and its log marginal likelihood."""
        subset = self.max_fit_points is not None and x.shape[0] > self.max_fit_points
        return fit_gp(
            x,
            y,
            self._kernel,
            seed=self.seed,
            max_iterations=self.max_iterations,
            name=self.name,
            max_fit_points=self.max_fit_points,
            initial=self._model if self.warm_start or subset else None,
            noisy=self.noisy,
        )

    def _set_model(self, model: SingleTaskGP, score: float) -> None:
        self._model = model
        self.log_marginal_likelihood = score


class _BagOfFeaturesGP(GaussianProcessSurrogate):
    """A GP on the columns of a :class:`FeatureStore` that the training set uses (plus the rest's norm)."""

    requires_graph = True

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._stores: dict[Any, FeatureStore] = {}
        self._store_key: Any = None
        self._columns: np.ndarray | None = None

    @abstractmethod
    def _make_encoding(self, key: Any) -> Encoding:
        """A new unfitted encoding for store ``key``."""

    def _store(self, key: Any) -> FeatureStore:
        if key not in self._stores:
            self._stores[key] = FeatureStore(lambda: self._make_encoding(key))
        return self._stores[key]

    def _training_inputs(
        self, key: Any, architectures: Sequence[Architecture], max_columns: int | None = None
    ) -> tuple[Tensor, np.ndarray]:
        rows = self._store(key).rows(architectures)
        columns = training_columns(rows, max_columns)
        return project(rows, columns), columns

    def encode(self, architectures: Sequence[Architecture]) -> Tensor:
        """``n x (k + 1)`` features: the ``k`` the fitted model uses, then the norm of the others."""
        if self._columns is None:
            raise SurrogateNotFittedError(f"{type(self).__name__} has no vocabulary yet; call fit() first.")
        return project(self._store(self._store_key).rows(list(architectures)), self._columns)


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
    reuse the last choice (:attr:`h`). See :class:`~bonas.surrogates.gp.wl_depth.WLDepthSelection`.

    Args:
        space: the search space (unused: WL features come from the architectures' cells).
        h: fixed number of WL iterations, or None to choose it by marginal likelihood.
        h_choices: the candidates for ``h``.
        reselect_every: choose ``h`` on the first fit and then every ``reselect_every`` fits.
        kernel: ``"linear"`` (NAS-BOWL's WL kernel) or ``"rbf"`` (``exp(-||phi(x) - phi(x')||^2 / 2l^2)``
            on the normalised features, a monotone function of the WL kernel with a learnt lengthscale).
        options: ``seed``, ``max_iterations``, ``max_fit_points``, ``warm_start``: see
            :class:`GaussianProcessSurrogate`.
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
        **options: Any,
    ) -> None:
        super().__init__(**options)
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
        self.kernel = kernel
        self.name = "gp-wl" if kernel == "linear" else f"gp-wl-{kernel}"  # as registered
        self._depth = WLDepthSelection(h=h, h_choices=choices, reselect_every=reselect_every)

    @property
    def fixed_h(self) -> int | None:
        """The fixed ``h``, or None when it is chosen by marginal likelihood."""
        return self._depth.fixed_h

    @property
    def h_choices(self) -> tuple[int, ...]:
        return self._depth.h_choices

    @property
    def reselect_every(self) -> int:
        return self._depth.reselect_every

    @property
    def h(self) -> int | None:
        """The ``h`` of the fitted model (None before fit, unless fixed)."""
        return self._depth.h

    @property
    def h_scores(self) -> dict[int, float]:
        """Log marginal likelihood per ``h`` at the last choice (empty until ``h`` is chosen)."""
        return self._depth.scores

    def _make_encoding(self, key: Any) -> Encoding:
        return WLEncoding(h=key, normalize=True)

    def fit(self, architectures: Sequence[Architecture], values: Sequence[float]) -> None:
        y = check_training_data(architectures, values)
        archs = list(architectures)
        fits = {}
        for h in self._depth.depths_to_try(degenerate=is_degenerate(y)):
            x, columns = self._training_inputs(h, archs)
            fits[h] = (*self._fit_model(x, y), columns)
        best = self._depth.keep_best({h: fit[1] for h, fit in fits.items()}, name=self.name)
        model, score, columns = fits[best]
        self._store_key = best
        self._columns = columns
        self._set_model(model, score)

    def _kernel(self, x: Tensor) -> Kernel:
        return DenseLinearKernel() if self.kernel == "linear" else median_heuristic_rbf_kernel(x)


class CategoricalGaussianProcess(GaussianProcessSurrogate):
    """GP on the flat parameters with an overlap kernel, times a kernel on shares of values by default.

    Each parameter of ``space`` (all of them, in the space's order) becomes one integer column: the index
    of its value among the parameter's choices, or ``len(choices)`` when the parameter is inactive, so
    "inactive" is one more category (:class:`~bonas.surrogates.gp.parameter_codes.ParameterCodes`). The
    overlap kernel is BoTorch's :class:`CategoricalKernel`, ``exp(-mean_i [x_i != x'_i] / l_i)`` (computed
    by :class:`~bonas.surrogates.gp.kernels.OverlapKernel`), with one lengthscale ``l_i`` per parameter: a
    parameter that hardly matters gets a long lengthscale.

    The default kernel, ``overlap-shares``, multiplies it by an RBF kernel on the shares of values among
    parameters with the same choices (:class:`~bonas.surrogates.gp.kernels.ValueShareKernel`: how many of
    a cell's edges hold each operation), under one outputscale. Two cells with the same operations on
    other edges are then alike, which the overlap kernel alone cannot see. A space with no two parameters
    of the same choices gets the overlap kernel alone. On the NB201 and AnalogNAS flat spaces (tuning seeds
    100-119, ``bo-gp-categorical-tr``) the product cut the mean regret at 100 queries on ImageNet16-120 from
    0.234 to 0.030 and on cifar100 from 0.114 to 0.009, with cifar10-valid level (0.048) and AnalogNAS
    0.050 -> 0.077; adding the two kernels instead of multiplying them helped ImageNet16-120 less (0.147).

    With ``kernel="overlap"`` the overlap kernel is used alone; with ``kernel="additive"``,
    :class:`~bonas.surrogates.gp.kernels.AdditiveOverlapKernel`, a learned weighted share of matching
    parameters (on the same tuning seeds: ImageNet16-120 0.69 -> 0.42 at 50 queries against the overlap
    kernel, but cifar10-valid 0.06 -> 0.18 and AnalogNAS 0.08 -> 0.18).

    Args:
        space: the search space whose parameters are encoded.
        ard: one lengthscale per parameter (True) or a single shared one (overlap kernels only).
        kernel: ``overlap-shares`` (default), ``overlap`` or ``additive``.
        options: ``seed``, ``max_iterations``, ``max_fit_points``, ``warm_start``: see
            :class:`GaussianProcessSurrogate`.
    """

    name = "gp-categorical"

    def __init__(
        self, space: SearchSpace, *, ard: bool = True, kernel: str = "overlap-shares", **options: Any
    ) -> None:
        super().__init__(**options)
        if kernel not in CATEGORICAL_KERNELS:
            raise unknown_name("categorical GP kernel", kernel, CATEGORICAL_KERNELS)
        if kernel == "additive" and not ard:
            raise ValueError(
                "ard=False applies to the overlap kernels only: the additive kernel always learns one weight "
                "per parameter. Drop ard=False or use kernel='overlap-shares' or 'overlap'."
            )
        self.kernel = kernel
        if not isinstance(space, SearchSpace):
            raise TypeError(
                f"CategoricalGaussianProcess needs the search space, got {type(space).__name__}: {space!r}."
            )
        self.space = space
        self.ard = ard
        codes = ParameterCodes(space, owner=self.name)
        self._rows = RowCache(codes)
        #: Sets of parameters with the same choices, whose shares of values the default kernel compares.
        self.shared_choices = codes.shared_choices()

    def fit(self, architectures: Sequence[Architecture], values: Sequence[float]) -> None:
        y = check_training_data(architectures, values)
        self._set_model(*self._fit_model(self.encode(architectures), y))

    def encode(self, architectures: Sequence[Architecture]) -> Tensor:
        """``n x p`` float64 integer codes, one column per parameter of the space (see the class)."""
        return self._rows(architectures)

    def _kernel(self, x: Tensor) -> Kernel:
        if self.kernel == "additive":
            return ScaleKernel(AdditiveOverlapKernel(x.shape[-1]))
        # The LogNormal(0, 1) prior keeps lengthscales of parameters the data barely inform from running
        # off to 0 or infinity: with it, NB201 ranks better (Kendall tau 0.49-0.55 against 0.29-0.44 at
        # 150 points) and the fit converges in fewer steps.
        overlap = OverlapKernel(
            ard_num_dims=x.shape[-1] if self.ard else None,
            lengthscale_prior=LogNormalPrior(0.0, 1.0),
            lengthscale_constraint=GreaterThan(1e-6),
        )
        if self.kernel == "overlap" or not self.shared_choices:
            return ScaleKernel(overlap)
        return ScaleKernel(overlap * self._share_kernel(x))

    def _share_kernel(self, x: Tensor) -> ValueShareKernel:
        """An RBF kernel on the shares of values (:class:`ValueShareKernel`) of training codes ``x``, its
        lengthscale at, with a LogNormal prior around, the median distance between their shares."""
        shares = value_shares(x, self.shared_choices)
        return ValueShareKernel(self.shared_choices, median_heuristic_rbf_kernel(shares).base_kernel)


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
        options: ``seed``, ``max_iterations``, ``max_fit_points``, ``warm_start``: see
            :class:`GaussianProcessSurrogate`.
    """

    name = "gp-path"

    def __init__(
        self,
        space: SearchSpace | None = None,
        *,
        max_paths: int | None = None,
        kernel: str = "rbf",
        **options: Any,
    ) -> None:
        super().__init__(**options)
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
        return median_heuristic_rbf_kernel(x, matern=self.kernel == "matern")


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
