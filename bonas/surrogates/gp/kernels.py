"""Kernels of the GP surrogates: a dense linear kernel, a fast overlap kernel, and a median-heuristic RBF.

* :class:`DenseLinearKernel`: ``variance * x1 @ x2.T`` (the WL GP's kernel on normalised WL features).
* :class:`OverlapKernel`: BoTorch's categorical overlap kernel, same values, computed faster.
* :class:`AdditiveOverlapKernel`: a weighted share of matching parameters (CoCaBO's categorical kernel).
* :class:`ValueShareKernel`: a kernel on how often each value occurs among parameters with the same
  choices (how many of a cell's edges hold each operation).
* :func:`median_heuristic_rbf_kernel`: a scaled single-lengthscale RBF (or Matern-5/2) kernel whose
  lengthscale starts at, and has a LogNormal prior around, the median distance between training inputs.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from botorch.models.kernels.categorical import CategoricalKernel
from gpytorch.constraints import Positive
from gpytorch.kernels import Kernel, MaternKernel, RBFKernel, ScaleKernel
from gpytorch.priors import LogNormalPrior
from torch import Tensor

from bonas.surrogates.gp.parameter_codes import SharedChoices


class DenseLinearKernel(Kernel):
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


class OverlapKernel(CategoricalKernel):
    """BoTorch's :class:`CategoricalKernel`, ``exp(-mean_i [x1_i != x2_i] / l_i)``, computed faster.

    ``CategoricalKernel`` divides an ``n1 x n2 x d`` mismatch tensor by the lengthscales on every call,
    and differentiates through that, and computes the full ``n x n`` matrix even for its diagonal (what
    a posterior variance asks for). Here the distance is the mismatch tensor times the ``d`` inverse
    lengthscales (a matrix-vector product), the training mismatches are computed once per fit, the
    diagonal costs ``O(n d)``, and a cross-covariance (candidates against the training set) is a product
    of one-hot codes, with no ``n1 x n2 x d`` tensor. Same values.
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
        if (x1 is not x2 or not torch.is_grad_enabled()) and x1.dim() == 2 and x2.dim() == 2:
            # A fit differentiates the training Gram matrix at every L-BFGS step: the mismatch tensor kept
            # below serves those; elsewhere a product of one-hot codes needs no n1 x n2 x d tensor.
            return torch.exp(-_weighted_mismatches(x1, x2, weights))
        return torch.exp(-(self._mismatch(x1, x2) @ weights))

    def _mismatch(self, x1: Tensor, x2: Tensor) -> Tensor:
        if x1 is not x2 or x1.requires_grad:
            return (x1.unsqueeze(-2) != x2.unsqueeze(-3)).to(x1.dtype)
        # Fitting compares the training inputs with themselves once per L-BFGS step: keep the result.
        if self._mismatches is None or self._mismatches[0] is not x1 or self._mismatches[1] != x1._version:
            self._mismatches = (x1, x1._version, (x1.unsqueeze(-2) != x1.unsqueeze(-3)).to(x1.dtype))
        return self._mismatches[2]


class ValueShareKernel(Kernel):
    """``base`` on the shares of values among parameters that have the same choices.

    A set of parameters with the same choices (NB201's six edges, each choosing among the same five
    operations) often acts through how many of them take each value as much as through which one does:
    how many convolutions a cell has, how many edges are cut. The overlap kernel compares parameters one
    by one and cannot see that two cells with their convolutions on different edges are alike. Here an
    architecture's features are, per set, the share of its parameters taking each value (a histogram,
    like the first iteration of the WL kernel on a cell graph), and ``base`` compares those. An inactive
    parameter (the code ``levels``) counts towards no value.

    Args:
        groups: the sets of parameters (:meth:`ParameterCodes.shared_choices`), as code columns.
        base: the kernel on the concatenated shares (``sum of levels`` features).
    """

    def __init__(self, groups: list[SharedChoices], base: Kernel) -> None:
        super().__init__()
        if not groups:
            raise ValueError("ValueShareKernel needs at least one set of parameters with the same choices.")
        self.groups = list(groups)
        self.base = base
        self._shares: tuple[Tensor, int, Tensor] | None = None

    def shares(self, x: Tensor) -> Tensor:
        """:func:`value_shares` of ``x`` in this kernel's sets."""
        return value_shares(x, self.groups)

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, **params: Any) -> Tensor:
        if x1 is not x2:
            return self.base.forward(self.shares(x1), self.shares(x2), diag=diag, **params)
        # Fitting evaluates the training Gram matrix at every L-BFGS step with the same inputs: keep their
        # shares (the same tensor twice, so the base kernel keeps what it computes from them too).
        if self._shares is None or self._shares[0] is not x1 or self._shares[1] != x1._version:
            self._shares = (x1, x1._version, self.shares(x1))
        shares = self._shares[2]
        return self.base.forward(shares, shares, diag=diag, **params)


def value_shares(x: Tensor, groups: list[SharedChoices]) -> Tensor:
    """``... x sum(levels)`` shares of each value in each set of ``groups``, for ``... x p`` integer codes
    ``x`` (:class:`ValueShareKernel`'s features; an inactive parameter's code counts towards no value)."""
    parts = []
    for group in groups:
        codes = x[..., list(group.columns)].long()
        one_hot = torch.nn.functional.one_hot(codes, group.levels + 1)[..., : group.levels]
        parts.append(one_hot.sum(-2).to(x.dtype) / len(group.columns))
    return torch.cat(parts, dim=-1)


class AdditiveOverlapKernel(Kernel):
    """``sum_i w_i [x1_i == x2_i] / d``: one learned weight ``w_i`` per parameter (CoCaBO's kernel).

    The overlap kernel multiplies the parameters' similarities, so two architectures that differ on most
    parameters are hardly correlated however good each parameter's choice is. This kernel adds them: it
    models each parameter's own effect, which a few dozen evaluations inform well. The weights have a
    LogNormal(0, 1) prior, as the overlap kernel's lengthscales do (a large weight marks a parameter that
    matters, where a large lengthscale marks one that does not). Under a ``ScaleKernel`` the weights' overall
    scale and the outputscale overlap; the priors pin both.
    """

    def __init__(self, num_dims: int) -> None:
        super().__init__()
        self.register_parameter("raw_weights", torch.nn.Parameter(torch.zeros(num_dims)))
        self.register_constraint("raw_weights", Positive())
        self.register_prior(
            "weights_prior", LogNormalPrior(0.0, 1.0), lambda m: m.weights, lambda m, v: m._set_weights(v)
        )

    @property
    def weights(self) -> Tensor:
        return self.raw_weights_constraint.transform(self.raw_weights)

    def _set_weights(self, value: Tensor) -> None:
        value = torch.as_tensor(value).to(self.raw_weights)
        self.initialize(raw_weights=self.raw_weights_constraint.inverse_transform(value))

    def forward(
        self, x1: Tensor, x2: Tensor, diag: bool = False, last_dim_is_batch: bool = False, **params: Any
    ) -> Tensor:
        if last_dim_is_batch:
            raise NotImplementedError("AdditiveOverlapKernel does not support last_dim_is_batch.")
        weights = self.weights / x1.shape[-1]
        if diag:
            return ((x1 == x2).to(x1.dtype) * weights).sum(-1)
        if x1.dim() == 2 and x2.dim() == 2:
            return _weighted_matches(x1, x2, weights)
        return ((x1.unsqueeze(-2) == x2.unsqueeze(-3)).to(x1.dtype) * weights).sum(-1)


#: Codes up to this value take the one-hot route of :func:`_weighted_matches`.
_MAX_ONE_HOT_LEVELS = 64


def _weighted_mismatches(x1: Tensor, x2: Tensor, weights: Tensor) -> Tensor:
    """``n1 x n2`` sums ``sum_i weights_i [x1_i != x2_i]`` of ``n1 x d`` and ``n2 x d`` integer codes.

    As ``sum_i weights_i`` minus :func:`_weighted_matches`'s product of one-hot codes, so scoring thousands
    of candidates against a long history needs no ``n1 x n2 x d`` tensor.
    """
    if x1.numel() == 0 or x2.numel() == 0:
        return torch.zeros(x1.shape[0], x2.shape[0], dtype=x1.dtype)
    levels = _one_hot_levels(x1, x2)
    if levels is None:
        return (x1.unsqueeze(-2) != x2.unsqueeze(-3)).to(x1.dtype) @ weights
    return weights.sum() - _one_hot_matches(x1, x2, weights, levels)


def _weighted_matches(x1: Tensor, x2: Tensor, weights: Tensor) -> Tensor:
    """``n1 x n2`` sums ``sum_i weights_i [x1_i == x2_i]`` of ``n1 x d`` and ``n2 x d`` integer codes.

    A product of one-hot codes (``n1 x dL`` by ``dL x n2`` for codes below ``L``) where
    :func:`_one_hot_levels` allows it, otherwise the ``n1 x n2 x d`` comparison.
    """
    if x1.numel() == 0 or x2.numel() == 0:
        return torch.zeros(x1.shape[0], x2.shape[0], dtype=x1.dtype)
    levels = _one_hot_levels(x1, x2)
    if levels is None:
        return (x1.unsqueeze(-2) == x2.unsqueeze(-3)).to(x1.dtype) @ weights
    return _one_hot_matches(x1, x2, weights, levels)


def _one_hot_matches(x1: Tensor, x2: Tensor, weights: Tensor, levels: int) -> Tensor:
    """:func:`_weighted_matches` as a product of one-hot codes below ``levels``."""
    one_hot1 = torch.nn.functional.one_hot(x1.long(), levels).to(x1.dtype).reshape(x1.shape[0], -1)
    one_hot2 = torch.nn.functional.one_hot(x2.long(), levels).to(x1.dtype).reshape(x2.shape[0], -1)
    return one_hot1 @ (one_hot2 * weights.repeat_interleave(levels)).T


def _one_hot_levels(x1: Tensor, x2: Tensor) -> int | None:
    """The number of levels ``L`` of non-empty ``x1`` and ``x2`` when they are non-negative integer codes
    with ``L`` at most :data:`_MAX_ONE_HOT_LEVELS` (so one-hot codes are cheap), else None."""
    low = min(float(x1.min()), float(x2.min()))
    levels = int(max(float(x1.max()), float(x2.max()))) + 1
    integral = torch.equal(x1, x1.round()) and torch.equal(x2, x2.round())
    return levels if low >= 0 and levels <= _MAX_ONE_HOT_LEVELS and integral else None


class SparseProductRBFKernel(RBFKernel):
    """GPyTorch's single-lengthscale :class:`RBFKernel`, same values, with a faster route outside
    autograd for mostly-zero features (WL colour counts, paths).

    A posterior over many candidates needs ``||x1 - x2||^2 = |x1|^2 + |x2|^2 - 2 x1 . x2``; on the WL GP's
    normalised colour counts (NB301: 2,867 columns at ``h=2``, about 74 non-zero per row) the product
    ``x1 @ x2.T`` as a sparse-by-dense product costs a fortieth of the dense one. A fit's training Gram
    matrix keeps its squared distances across L-BFGS steps (only the lengthscale changes). Diagonals,
    batches, per-dimension lengthscales, inputs that need gradients and features narrower than
    :data:`WIDE_FEATURES` take GPyTorch's route: there the saving is small, and GPyTorch's arithmetic
    (it centres the inputs first) keeps the searches of a few hundred observations exactly as they were
    (the formula here differs in the last bits, which reorders near-tied candidates).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._distances: tuple[Tensor, int, Tensor] | None = None

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, **params: Any) -> Tensor:
        lengthscale = self.lengthscale.reshape(-1)
        if (
            diag
            or x1.dim() != 2
            or x2.dim() != 2
            or lengthscale.numel() != 1
            or x1.requires_grad
            or x1.shape[-1] < WIDE_FEATURES
        ):
            return super().forward(x1, x2, diag=diag, **params)
        if torch.is_grad_enabled() and x1 is not x2:
            return super().forward(x1, x2, diag=diag, **params)
        # Outside autograd, or the training Gram matrix a fit differentiates in the lengthscale only: its
        # squared distances are computed once per fit, not at every L-BFGS step.
        return torch.exp(-0.5 * self._squared_distances(x1, x2) / lengthscale[0] ** 2)

    def _squared_distances(self, x1: Tensor, x2: Tensor) -> Tensor:
        if x1 is x2 and self._distances is not None:
            kept, version, distances = self._distances
            if kept is x1 and version == x1._version:
                return distances
        with torch.no_grad():
            products = _sparse_product(x1, x2)
            squared = (x1 * x1).sum(-1).unsqueeze(-1) + (x2 * x2).sum(-1).unsqueeze(-2) - 2 * products
            if x1 is x2:
                squared.fill_diagonal_(0.0)
            squared = squared.clamp_min(0.0)
        if x1 is x2:
            self._distances = (x1, x1._version, squared)
        return squared


#: Feature columns from which :class:`SparseProductRBFKernel` takes its own route (NB201's WL features
#: have about 360 columns at 100 observations, NB301's 2,867 at 1,000).
WIDE_FEATURES = 1024

#: Below this share of non-zero entries, :func:`_sparse_product` multiplies as sparse-by-dense.
_SPARSE_DENSITY = 0.25


def _sparse_product(x1: Tensor, x2: Tensor) -> Tensor:
    """``x1 @ x2.T`` for ``n1 x k`` and ``n2 x k`` inputs, the sparser one as a CSR matrix if sparse enough."""
    if x1.numel() == 0 or x2.numel() == 0:
        return x1 @ x2.transpose(-1, -2)
    density1 = float((x1 != 0).sum()) / x1.numel()
    density2 = float((x2 != 0).sum()) / x2.numel()
    if min(density1, density2) > _SPARSE_DENSITY:
        return x1 @ x2.transpose(-1, -2)
    with warnings.catch_warnings():
        # "Sparse CSR tensor support is in beta": sparse-by-dense products are all this uses.
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support", category=UserWarning)
        if density1 <= density2:
            return torch.sparse.mm(x1.to_sparse_csr(), x2.transpose(-1, -2).contiguous())
        return torch.sparse.mm(x2.to_sparse_csr(), x1.transpose(-1, -2).contiguous()).transpose(-1, -2)


def median_heuristic_rbf_kernel(x: Tensor, *, matern: bool = False) -> ScaleKernel:
    """A single-lengthscale RBF (or Matern-5/2) kernel with a LogNormal prior at the median distance.

    Without the prior, the marginal likelihood on NB201 path encodings sometimes prefers a lengthscale
    far below the smallest distance and almost no noise: a GP that memorises the training set and
    predicts the mean elsewhere (Kendall tau 0.27 where other seeds reach 0.45).

    Args:
        x: ``n x d`` training inputs. The median of their positive pairwise distances (1 when there are
            none) is the lengthscale's initial value and the median of its LogNormal prior.
        matern: a Matern-5/2 kernel instead of the RBF.

    Returns:
        ``outputscale * k(x, x')`` with ``k`` the RBF (or Matern-5/2) kernel, at its initial values.
    """
    distances = torch.cdist(x, x)
    positive = distances[distances > 0]
    median = float(positive.median()) if positive.numel() else 1.0
    prior = LogNormalPrior(math.log(median), 0.5)
    base = (
        MaternKernel(nu=2.5, lengthscale_prior=prior)
        if matern
        else SparseProductRBFKernel(lengthscale_prior=prior)
    )
    base.lengthscale = median
    return ScaleKernel(base)
