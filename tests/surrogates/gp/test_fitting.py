"""Fitting with fallbacks and the fast marginal posterior, on small synthetic data (no benchmark table)."""

from __future__ import annotations

import logging
import math

import pytest
import torch
from botorch.models import SingleTaskGP
from gpytorch.kernels import ScaleKernel

from bonas.surrogates.gp import (
    FALLBACK_NOISE,
    NOISE_FLOORS,
    FastMarginalsGP,
    fit_with_fallbacks,
    fitting,
    median_heuristic_rbf_kernel,
    posterior,
)
from bonas.surrogates.gp.fitting import check_and_score, is_degenerate


def smooth_data(n: int = 25, d: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, d, generator=generator, dtype=torch.float64)
    y = torch.sin(3 * x).sum(-1, keepdim=True) + 0.05 * torch.randn(
        n, 1, generator=generator, dtype=torch.float64
    )
    return x, y


def fit(x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> tuple[SingleTaskGP, float]:
    return fit_with_fallbacks(x, y, median_heuristic_rbf_kernel, seed=seed, max_iterations=50, name="test-gp")


# -- Fitting -----------------------------------------------------------------------------------------------


def test_a_fit_returns_a_fast_gp_and_its_log_marginal_likelihood() -> None:
    x, y = smooth_data()
    model, score = fit(x, y)
    assert isinstance(model, FastMarginalsGP) and not model.training
    assert math.isfinite(score)
    assert score == check_and_score(model)
    assert model.likelihood.noise.item() >= NOISE_FLOORS[0]


def test_a_fit_is_reproducible_and_leaves_global_randomness_alone() -> None:
    x, y = smooth_data(seed=1)
    torch.manual_seed(123)
    expected_draw = torch.rand(1)
    torch.manual_seed(123)
    first = fit(x, y)[1]
    assert torch.equal(torch.rand(1), expected_draw)
    assert fit(x, y)[1] == first


@pytest.mark.parametrize(
    ("values", "degenerate"),
    [
        ([1.0], True),
        ([2.0, 2.0, 2.0], True),
        ([1e6, 1e6 + 1e-7], True),
        ([0.0, 1e-3], False),
        ([1.0, 2.0], False),
    ],
)
def test_is_degenerate_means_one_value_or_no_spread(values: list[float], degenerate: bool) -> None:
    assert is_degenerate(torch.tensor(values, dtype=torch.float64).reshape(-1, 1)) is degenerate


def test_values_without_spread_get_fixed_hyperparameters(caplog: pytest.LogCaptureFixture) -> None:
    x, _ = smooth_data(n=6)
    with caplog.at_level(logging.WARNING, logger="bonas.surrogates.gp"):
        model, score = fit(x, torch.full((6, 1), 4.0, dtype=torch.float64))
    assert "all equal to 4" in caplog.text
    assert model.likelihood.noise.item() == pytest.approx(FALLBACK_NOISE)
    assert math.isfinite(score)
    with torch.no_grad():
        torch.testing.assert_close(
            model.posterior(x.unsqueeze(-2)).mean.reshape(-1), torch.full((6,), 4.0, dtype=torch.float64)
        )


def test_failing_fits_try_every_noise_floor_then_fixed_hyperparameters(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    floors: list[float] = []

    def failing_fit(mll: object, **kwargs: object) -> None:
        floors.append(float(mll.model.likelihood.noise_covar.raw_noise_constraint.lower_bound))  # type: ignore[attr-defined]
        raise RuntimeError("no luck")

    monkeypatch.setattr(fitting, "fit_gpytorch_mll", failing_fit)
    x, y = smooth_data(seed=2)
    with caplog.at_level(logging.WARNING, logger="bonas.surrogates.gp"):
        model, score = fit(x, y)
    assert floors == pytest.approx(list(NOISE_FLOORS))
    assert "falling back to fixed hyperparameters" in caplog.text
    assert model.likelihood.noise.item() == pytest.approx(FALLBACK_NOISE)
    assert math.isfinite(score)


def test_a_kernel_that_gives_nan_leaves_a_gp_that_predicts_the_mean(caplog: pytest.LogCaptureFixture) -> None:
    def nan_kernel(x: torch.Tensor) -> ScaleKernel:
        kernel = median_heuristic_rbf_kernel(x)
        kernel.raw_outputscale.data.fill_(float("nan"))
        return kernel

    x, y = smooth_data(seed=3)
    with caplog.at_level(logging.WARNING, logger="bonas.surrogates.gp"):
        model, score = fit_with_fallbacks(x, y, nan_kernel, seed=0, max_iterations=5, name="test-gp")
    assert "predicting the mean of the values" in caplog.text
    assert math.isnan(score)
    with torch.no_grad():
        mean = model.posterior(x.unsqueeze(-2)).mean.reshape(-1)
    torch.testing.assert_close(
        mean, torch.full_like(mean, float(y.mean())), atol=0.1 * float(y.std()), rtol=0
    )


# -- Fast marginal posterior -------------------------------------------------------------------------------


@pytest.mark.parametrize("observation_noise", [False, True])
def test_fast_marginals_equal_the_generic_posterior(observation_noise: bool) -> None:
    x, y = smooth_data(seed=4)
    model, _ = fit(x, y)
    test = torch.rand(40, 1, x.shape[-1], generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    with torch.no_grad():
        fast = model.posterior(test, observation_noise=observation_noise)
        generic = SingleTaskGP.posterior(model, test, observation_noise=observation_noise)
    torch.testing.assert_close(fast.mean, generic.mean)
    torch.testing.assert_close(fast.variance, generic.variance)


def test_fast_marginals_do_not_depend_on_the_chunk_size(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = smooth_data(seed=6)
    model, _ = fit(x, y)
    test = torch.rand(50, 1, x.shape[-1], generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    with torch.no_grad():
        whole = model.posterior(test)
        monkeypatch.setattr(posterior, "PREDICT_CHUNK", 7)
        chunked = model.posterior(test)
    torch.testing.assert_close(chunked.mean, whole.mean)
    torch.testing.assert_close(chunked.variance, whole.variance)


def test_joint_posteriors_take_the_generic_route() -> None:
    x, y = smooth_data(seed=8)
    model, _ = fit(x, y)
    test = torch.rand(3, 4, x.shape[-1], generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    with torch.no_grad():
        joint = model.posterior(test)
        generic = SingleTaskGP.posterior(model, test)
    assert joint.distribution.covariance_matrix.shape == (3, 4, 4)
    torch.testing.assert_close(joint.distribution.covariance_matrix, generic.distribution.covariance_matrix)


def test_the_training_factor_is_kept_until_a_hyperparameter_or_the_data_change() -> None:
    x, y = smooth_data(seed=10)
    model, _ = fit(x, y)
    test = torch.rand(30, 1, x.shape[-1], generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    with torch.no_grad():
        first = model.posterior(test)
        kept = model._solve_cache[1][1]
        assert model.posterior(test).mean.equal(first.mean) and model._solve_cache[1][1] is kept
        model.covar_module.base_kernel.lengthscale = model.covar_module.base_kernel.lengthscale * 2
        changed = model.posterior(test)
        generic = SingleTaskGP.posterior(model, test)
        torch.testing.assert_close(changed.mean, generic.mean)
        torch.testing.assert_close(changed.variance, generic.variance)
        model.set_train_data(x[:10], y[:10, 0], strict=False)
        torch.testing.assert_close(model.posterior(test).mean, SingleTaskGP.posterior(model, test).mean)


def test_the_posterior_at_the_training_inputs_equals_the_generic_one() -> None:
    x, y = smooth_data(seed=12)
    model, _ = fit(x, y)
    with torch.no_grad():
        fast = model.posterior(x.unsqueeze(-2))
        generic = SingleTaskGP.posterior(model, x.unsqueeze(-2))
    torch.testing.assert_close(fast.mean, generic.mean)
    torch.testing.assert_close(fast.variance, generic.variance)


@pytest.mark.parametrize("observation_noise", [False, True])
def test_a_joint_posterior_outside_autograd_equals_the_generic_one(observation_noise: bool) -> None:
    x, y = smooth_data(seed=13)
    model, _ = fit(x, y)
    test = torch.rand(15, x.shape[-1], generator=torch.Generator().manual_seed(14), dtype=torch.float64)
    with torch.no_grad():
        fast = model.posterior(test, observation_noise=observation_noise)
        generic = SingleTaskGP.posterior(model, test, observation_noise=observation_noise)
    torch.testing.assert_close(fast.mean, generic.mean)
    torch.testing.assert_close(fast.distribution.covariance_matrix, generic.distribution.covariance_matrix)


def test_the_kept_factor_gives_the_log_marginal_likelihood_of_train_mode() -> None:
    x, y = smooth_data(seed=15)
    model, score = fit(x, y)
    with torch.no_grad():
        model.train()
        expected = float(model.likelihood(model(x)).log_prob(model.train_targets))
        model.eval()
    assert score == pytest.approx(expected, rel=1e-8)
    assert float(model.log_marginal_likelihood()) == pytest.approx(expected, rel=1e-8)
