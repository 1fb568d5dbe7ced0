"""The GP kernels: one conformance suite (symmetry, PSD, diagonal), then each kernel's own numbers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from botorch.models.kernels.categorical import CategoricalKernel
from gpytorch.kernels import Kernel, MaternKernel, RBFKernel, ScaleKernel

from bonas.surrogates.gp import (
    AdditiveOverlapKernel,
    DenseLinearKernel,
    OverlapKernel,
    SharedChoices,
    ValueShareKernel,
    median_heuristic_rbf_kernel,
)


def real_inputs(n: int = 12, d: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def categorical_inputs(n: int = 12, d: int = 4, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 3, (n, d), generator=generator).to(torch.float64)


def unequal_weights(kernel: AdditiveOverlapKernel) -> AdditiveOverlapKernel:
    """``kernel`` with distinct weights, so a check mixing parameters up fails."""
    kernel._set_weights(torch.linspace(0.3, 3.0, kernel.raw_weights.numel(), dtype=torch.float64))
    return kernel


#: Columns 0, 1 and 3 of :func:`categorical_inputs` as one set of parameters with the same 3 choices.
SHARED = [SharedChoices(columns=(0, 1, 3), levels=3)]

#: name -> (kernel for training inputs x, inputs).
KERNELS: dict[str, tuple[Callable[[torch.Tensor], Kernel], Callable[[], torch.Tensor]]] = {
    "dense-linear": (lambda x: DenseLinearKernel().double(), real_inputs),
    "overlap": (lambda x: OverlapKernel(ard_num_dims=x.shape[-1]).double(), categorical_inputs),
    "additive-overlap": (
        lambda x: unequal_weights(AdditiveOverlapKernel(x.shape[-1]).double()),
        categorical_inputs,
    ),
    "value-share": (
        lambda x: ValueShareKernel(SHARED, ScaleKernel(RBFKernel()).double()),
        categorical_inputs,
    ),
    "median-rbf": (lambda x: median_heuristic_rbf_kernel(x).double(), real_inputs),
    "median-matern": (lambda x: median_heuristic_rbf_kernel(x, matern=True).double(), real_inputs),
}


@pytest.mark.parametrize("name", sorted(KERNELS))
class TestKernelConformance:
    def kernel_and_inputs(self, name: str) -> tuple[Kernel, torch.Tensor]:
        make_kernel, make_inputs = KERNELS[name]
        x = make_inputs()
        return make_kernel(x), x

    def test_gram_matrix_is_symmetric_and_positive_semidefinite(self, name: str) -> None:
        kernel, x = self.kernel_and_inputs(name)
        with torch.no_grad():
            gram = kernel(x).to_dense()
        torch.testing.assert_close(gram, gram.T)
        assert torch.linalg.eigvalsh(gram).min() > -1e-10 * gram.diagonal().max()

    def test_diagonal_is_the_gram_diagonal(self, name: str) -> None:
        kernel, x = self.kernel_and_inputs(name)
        with torch.no_grad():
            torch.testing.assert_close(kernel(x, diag=True), kernel(x).to_dense().diagonal())

    def test_cross_covariance_matches_the_joint_gram_matrix(self, name: str) -> None:
        kernel, x = self.kernel_and_inputs(name)
        with torch.no_grad():
            gram = kernel(x).to_dense()
            cross = kernel(x[:5], x[5:]).to_dense()
        torch.testing.assert_close(cross, gram[:5, 5:])


def test_dense_linear_kernel_is_the_scaled_inner_product() -> None:
    kernel = DenseLinearKernel().double()
    kernel.raw_variance.data.fill_(0.3)
    x = real_inputs()
    variance = kernel.variance.detach()
    with torch.no_grad():
        torch.testing.assert_close(kernel(x).to_dense(), variance * (x @ x.T))
        x.mul_(2.0)  # an in-place change must not reuse the kept Gram matrix
        torch.testing.assert_close(kernel(x).to_dense(), variance * (x @ x.T))


def test_additive_overlap_kernel_is_the_weighted_share_of_matching_parameters() -> None:
    generator = torch.Generator().manual_seed(2)
    x1 = torch.randint(0, 5, (9, 4), generator=generator).to(torch.float64)
    x2 = torch.randint(0, 5, (7, 4), generator=generator).to(torch.float64)
    weights = torch.tensor([0.5, 1.0, 2.0, 4.0], dtype=torch.float64)
    kernel = AdditiveOverlapKernel(4).double()
    kernel._set_weights(weights)

    def brute_force(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.tensor(
            [
                [sum(float(w) * (p == q) for w, p, q in zip(weights, u, v, strict=True)) / 4 for v in b]
                for u in a
            ],
            dtype=torch.float64,
        )

    expected = brute_force(x1, x2)
    with torch.no_grad():
        torch.testing.assert_close(kernel.weights, weights)
        torch.testing.assert_close(kernel(x1, x2).to_dense(), expected)
        # Codes that are not small non-negative integers take the comparison route, same values.
        torch.testing.assert_close(kernel(x1 + 0.5, x2 + 0.5).to_dense(), expected)
        torch.testing.assert_close(kernel(x1 - 3, x2 - 3).to_dense(), expected)
        # a batch of single points (the acquisition's shape) takes the broadcast route: same values
        torch.testing.assert_close(kernel(x1.unsqueeze(-2), x2).to_dense(), expected[:, None, :])
        torch.testing.assert_close(kernel(x1[:7], x2, diag=True), brute_force(x1[:7], x2).diagonal())


def test_additive_overlap_kernel_weights_get_gradients_and_batched_dims_are_refused() -> None:
    x = categorical_inputs(n=8, d=3, seed=4)
    kernel = AdditiveOverlapKernel(3).double()
    kernel(x).to_dense().sum().backward()
    assert kernel.raw_weights.grad is not None
    assert bool((kernel.raw_weights.grad != 0).all())
    with pytest.raises(NotImplementedError, match="last_dim_is_batch"):
        kernel.forward(x, x, last_dim_is_batch=True)


def test_value_share_kernel_compares_histograms_of_values_within_each_set() -> None:
    # Two sets: columns 0-2 with 3 choices (code 3: inactive), columns 3-4 with 2 choices; column 5 alone.
    groups = [SharedChoices(columns=(0, 1, 2), levels=3), SharedChoices(columns=(3, 4), levels=2)]
    kernel = ValueShareKernel(groups, RBFKernel().double())
    x = torch.tensor([[0, 0, 2, 1, 1, 5], [2, 0, 0, 1, 1, 0], [0, 3, 3, 0, 1, 5]], dtype=torch.float64)
    expected = torch.tensor(
        [[2 / 3, 0, 1 / 3, 0, 1], [2 / 3, 0, 1 / 3, 0, 1], [1 / 3, 0, 0, 1 / 2, 1 / 2]], dtype=torch.float64
    )
    torch.testing.assert_close(kernel.shares(x), expected)
    with torch.no_grad():
        gram = kernel(x).to_dense()
        # The first two rows put the same values on other parameters of the set: alike to this kernel.
        assert float(gram[0, 1]) == pytest.approx(1.0)
        assert float(gram[0, 2]) < 1.0
        torch.testing.assert_close(gram, kernel.base(expected).to_dense())
        x.mul_(0).add_(1)  # an in-place change must not reuse the kept shares
        torch.testing.assert_close(kernel(x).to_dense(), torch.ones(3, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="at least one set"):
        ValueShareKernel([], RBFKernel())


@pytest.mark.parametrize("ard", [True, False])
def test_overlap_kernel_gives_botorchs_categorical_kernel_values(ard: bool) -> None:
    x = categorical_inputs(n=15, d=4, seed=1)
    options = {"ard_num_dims": x.shape[-1]} if ard else {}
    fast, reference = OverlapKernel(**options).double(), CategoricalKernel(**options).double()
    lengthscale = torch.tensor([0.5, 1.0, 2.0, 4.0] if ard else [1.7], dtype=torch.float64)
    fast.lengthscale = reference.lengthscale = lengthscale
    with torch.no_grad():
        torch.testing.assert_close(fast(x).to_dense(), reference(x).to_dense())
        torch.testing.assert_close(fast(x[:4], x[4:]).to_dense(), reference(x[:4], x[4:]).to_dense())
        torch.testing.assert_close(fast(x, diag=True), reference(x, diag=True))


@pytest.mark.parametrize(("matern", "base_type"), [(False, RBFKernel), (True, MaternKernel)])
def test_median_heuristic_kernel_starts_at_the_median_distance(matern: bool, base_type: type) -> None:
    x = real_inputs(n=9, d=3, seed=2)
    distances = torch.cdist(x, x)
    median = float(distances[distances > 0].median())
    kernel = median_heuristic_rbf_kernel(x, matern=matern)
    assert isinstance(kernel, ScaleKernel) and isinstance(kernel.base_kernel, base_type)
    assert kernel.base_kernel.lengthscale.item() == pytest.approx(median)
    prior = kernel.base_kernel.lengthscale_prior
    assert float(prior.icdf(torch.tensor(0.5))) == pytest.approx(median)


def test_median_heuristic_kernel_of_identical_inputs_starts_at_one() -> None:
    kernel = median_heuristic_rbf_kernel(torch.ones(4, 2, dtype=torch.float64))
    assert kernel.base_kernel.lengthscale.item() == pytest.approx(1.0)


def test_overlap_cross_covariance_takes_the_one_hot_route_with_the_same_values() -> None:
    generator = torch.Generator().manual_seed(3)
    x1 = torch.randint(0, 7, (40, 5), generator=generator).to(torch.float64)
    x2 = torch.randint(0, 7, (30, 5), generator=generator).to(torch.float64)
    kernel = OverlapKernel(ard_num_dims=5).double()
    kernel.lengthscale = torch.tensor([0.3, 0.7, 1.0, 2.0, 5.0], dtype=torch.float64)
    weights = 1.0 / kernel.lengthscale.reshape(-1) / 5
    expected = torch.exp(-((x1.unsqueeze(-2) != x2.unsqueeze(-3)).to(torch.float64) @ weights))
    with torch.no_grad():
        torch.testing.assert_close(kernel(x1, x2).to_dense(), expected)
        # Codes that are not small non-negative integers take the mismatch route, same values.
        torch.testing.assert_close(kernel(x1 + 0.5, x2 + 0.5).to_dense(), expected)
        torch.testing.assert_close(kernel(x1 - 3, x2 - 3).to_dense(), expected)


def test_the_rbf_kernel_on_narrow_features_is_gpytorchs_to_the_last_bit() -> None:
    from gpytorch.kernels import RBFKernel

    from bonas.surrogates.gp.kernels import SparseProductRBFKernel

    generator = torch.Generator().manual_seed(5)
    x1 = torch.rand(30, 300, generator=generator, dtype=torch.float64)
    x1[torch.rand(x1.shape, generator=generator) > 0.05] = 0.0
    fast, reference = SparseProductRBFKernel().double(), RBFKernel().double()
    fast.lengthscale = reference.lengthscale = 0.7
    with torch.no_grad():
        assert torch.equal(fast(x1, x1[:7]).to_dense(), reference(x1, x1[:7]).to_dense())
        assert torch.equal(fast(x1).to_dense(), reference(x1).to_dense())


@pytest.mark.parametrize("density", [0.02, 0.5])
def test_the_rbf_kernel_outside_autograd_gives_gpytorchs_values(density: float) -> None:
    from gpytorch.kernels import RBFKernel

    from bonas.surrogates.gp.kernels import WIDE_FEATURES, SparseProductRBFKernel

    generator = torch.Generator().manual_seed(4)
    x1 = torch.rand(30, WIDE_FEATURES, generator=generator, dtype=torch.float64)
    x2 = torch.rand(20, WIDE_FEATURES, generator=generator, dtype=torch.float64)
    x1[torch.rand(x1.shape, generator=generator) > density] = 0.0
    x2[torch.rand(x2.shape, generator=generator) > density] = 0.0
    fast, reference = SparseProductRBFKernel().double(), RBFKernel().double()
    fast.lengthscale = reference.lengthscale = 0.7
    with torch.no_grad():
        for a, b in ((x1, x2), (x2, x1), (x1, x1)):
            torch.testing.assert_close(fast(a, b).to_dense(), reference(a, b).to_dense())
        torch.testing.assert_close(fast(x1).to_dense(), reference(x1).to_dense())
    # With autograd on (a fit), the lengthscale gets GPyTorch's gradient, on cross and Gram matrices.
    for a, b in ((x1, x2), (x1, x1)):
        fast.zero_grad()
        reference.zero_grad()
        fast(a, b).to_dense().sum().backward()
        reference(a, b).to_dense().sum().backward()
        torch.testing.assert_close(fast.raw_lengthscale.grad, reference.raw_lengthscale.grad)
    # The Gram matrix's distances are kept for the same inputs, recomputed after an in-place change.
    kept = fast._distances[2]
    fast(x1).to_dense()
    assert fast._distances[2] is kept
    x1.mul_(2.0)
    with torch.no_grad():
        torch.testing.assert_close(fast(x1).to_dense(), reference(x1).to_dense())
