"""Gaussian-process surrogates: a BoTorch ``SingleTaskGP`` on an architecture encoding.

* :class:`WLGaussianProcess` (``gp-wl``): NAS-BOWL's GP (Ru et al. 2021), a linear kernel on normalised
  Weisfeiler-Lehman subtree counts (the normalised WL kernel), with the number of WL iterations ``h``
  chosen by marginal likelihood.
* :class:`CategoricalGaussianProcess` (``gp-categorical``): an overlap (Hamming) kernel with one
  lengthscale per parameter on the integer-coded parameters (an inactive conditional parameter is one
  more category), times an RBF kernel on the shares of values among parameters with the same choices.
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
ask for) take a direct route through the posterior (:class:`FastMarginalsGP`), about 0.1 s for all
15,625 NB201 cells where BoTorch's generic route takes seconds and gigabytes.

Modules, one concept each:

* :mod:`~bonas.surrogates.gp.models`: the surrogates (the classes above and their base class);
* :mod:`~bonas.surrogates.gp.fitting`: the fit with its fallbacks, on a random subset of a long
  history's observations;
* :mod:`~bonas.surrogates.gp.posterior`: the fast marginal posterior;
* :mod:`~bonas.surrogates.gp.kernels`: the kernels;
* :mod:`~bonas.surrogates.gp.wl_depth`: how the WL GP chooses ``h``;
* :mod:`~bonas.surrogates.gp.parameter_codes`: the categorical GP's inputs;
* :mod:`~bonas.surrogates.gp.caches` and :mod:`~bonas.surrogates.gp.projection`: encoded rows kept
  per architecture, and their projection onto a model's columns.
"""

from __future__ import annotations

from bonas.surrogates.base import SurrogateNotFittedError
from bonas.surrogates.gp.caches import FeatureStore, RowCache
from bonas.surrogates.gp.fitting import FALLBACK_NOISE, NOISE_FLOORS, fit_gp, fit_with_fallbacks
from bonas.surrogates.gp.kernels import (
    AdditiveOverlapKernel,
    DenseLinearKernel,
    OverlapKernel,
    ValueShareKernel,
    median_heuristic_rbf_kernel,
)
from bonas.surrogates.gp.models import (
    CATEGORICAL_KERNELS,
    PATH_KERNELS,
    WL_KERNELS,
    CategoricalGaussianProcess,
    GaussianProcessSurrogate,
    PathGaussianProcess,
    WLGaussianProcess,
)
from bonas.surrogates.gp.parameter_codes import ParameterCodes, SharedChoices
from bonas.surrogates.gp.posterior import PREDICT_CHUNK, FastMarginalsGP
from bonas.surrogates.gp.projection import project, training_columns
from bonas.surrogates.gp.wl_depth import WLDepthSelection

__all__ = [
    "CATEGORICAL_KERNELS",
    "FALLBACK_NOISE",
    "NOISE_FLOORS",
    "PATH_KERNELS",
    "PREDICT_CHUNK",
    "WL_KERNELS",
    "AdditiveOverlapKernel",
    "CategoricalGaussianProcess",
    "DenseLinearKernel",
    "FastMarginalsGP",
    "FeatureStore",
    "GaussianProcessSurrogate",
    "OverlapKernel",
    "ParameterCodes",
    "PathGaussianProcess",
    "RowCache",
    "SharedChoices",
    "SurrogateNotFittedError",
    "ValueShareKernel",
    "WLDepthSelection",
    "WLGaussianProcess",
    "fit_gp",
    "fit_with_fallbacks",
    "median_heuristic_rbf_kernel",
    "project",
    "training_columns",
]
