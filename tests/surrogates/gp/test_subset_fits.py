"""Fits that stay cheap as a search grows: hyperparameters on a random subset, warm starts, ARD."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bonas.spaces.base import Categorical
from bonas.spaces.categorical import CategoricalSpace
from bonas.surrogates import make_surrogate
from bonas.surrogates.gp import FastMarginalsGP, OverlapKernel, fit_gp, median_heuristic_rbf_kernel
from bonas.surrogates.gp.fitting import fit_subset, start_from
from bonas.surrogates.gp.models import GaussianProcessSurrogate


def smooth_data(n: int, d: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, d, generator=generator, dtype=torch.float64)
    y = torch.sin(3 * x).sum(-1, keepdim=True) + 0.05 * torch.randn(
        n, 1, generator=generator, dtype=torch.float64
    )
    return x, y


def test_the_subset_is_random_sorted_and_changes_by_at_most_one_point_per_observation() -> None:
    subset = fit_subset(100, 30, seed=0)
    assert subset.tolist() == sorted(set(subset.tolist())) and len(subset) == 30
    assert int(subset.min()) >= 0 and int(subset.max()) < 100
    for n in range(100, 110):
        before, after = set(fit_subset(n, 30, 0).tolist()), set(fit_subset(n + 1, 30, 0).tolist())
        assert len(after - before) <= 1
    assert fit_subset(10, 30, 0).tolist() == list(range(10))
    assert fit_subset(100, 30, 0).tolist() != fit_subset(100, 30, 1).tolist()


def fit(x: torch.Tensor, y: torch.Tensor, **options: object):
    return fit_gp(x, y, median_heuristic_rbf_kernel, seed=0, max_iterations=50, name="test-gp", **options)


def test_a_subset_fit_conditions_on_every_point_with_the_subsets_hyperparameters() -> None:
    x, y = smooth_data(60)
    model, score = fit(x, y, max_fit_points=20)
    assert isinstance(model, FastMarginalsGP) and not model.training
    assert model.train_inputs[0].shape[0] == 60 and math.isfinite(score)
    subset = fit_subset(60, 20, 0)
    on_subset, _ = fit(x[subset], y[subset])
    lengthscale = model.covar_module.base_kernel.lengthscale
    assert torch.allclose(lengthscale, on_subset.covar_module.base_kernel.lengthscale)
    # Conditioned on all 60 points: the fit interpolates the ones outside the subset too.
    outside = torch.tensor([i for i in range(60) if i not in set(subset.tolist())])
    with torch.no_grad():
        error = (model.posterior(x[outside].unsqueeze(-2)).mean.reshape(-1) - y[outside, 0]).abs().mean()
        subset_error = (
            (on_subset.posterior(x[outside].unsqueeze(-2)).mean.reshape(-1) - y[outside, 0]).abs().mean()
        )
    assert error < 0.5 * subset_error


def test_small_data_fits_on_every_point_exactly_as_before() -> None:
    x, y = smooth_data(30)
    _, whole_score = fit(x, y)
    _, capped_score = fit(x, y, max_fit_points=30)
    assert capped_score == pytest.approx(whole_score)


def test_start_from_copies_the_hyperparameters_of_the_same_name_and_shape() -> None:
    x, y = smooth_data(40)
    fitted, _ = fit(x, y)
    fresh, _ = fit(x[:5], y[:5], max_fit_points=None)
    assert start_from(fresh, fitted) == len(list(fitted.parameters()))
    for (name, a), (_, b) in zip(fresh.named_parameters(), fitted.named_parameters(), strict=True):
        assert torch.equal(a, b), name


def test_a_warm_started_fit_takes_fewer_steps_to_the_same_optimum(monkeypatch) -> None:
    import bonas.surrogates.gp.fitting as fitting

    evaluations: list[int] = []

    class CountingLikelihood(fitting.ExactMarginalLogLikelihood):
        def forward(self, *args, **kwargs):
            evaluations.append(1)
            return super().forward(*args, **kwargs)

    monkeypatch.setattr(fitting, "ExactMarginalLogLikelihood", CountingLikelihood)
    x, y = smooth_data(50)
    cold, cold_score = fit(x, y)
    cold_steps = len(evaluations)
    _, warm_score = fit(x, y, initial=cold)
    warm_steps = len(evaluations) - cold_steps
    assert warm_score == pytest.approx(cold_score, abs=1e-2)
    assert warm_steps < 0.5 * cold_steps


def test_surrogates_reject_a_bad_max_fit_points() -> None:
    space = CategoricalSpace("s", [Categorical("a", (0, 1))])
    for bad in (0, 1, 2.5, True):
        with pytest.raises(ValueError, match="max_fit_points"):
            make_surrogate("gp-categorical", space, max_fit_points=bad)


def relevance_space() -> CategoricalSpace:
    return CategoricalSpace("relevance", [Categorical(f"p{i}", tuple(range(4))) for i in range(4)])


def test_ard_lengthscales_learn_which_parameters_matter() -> None:
    space = relevance_space()
    rng = np.random.default_rng(0)
    archs = list({a: None for a in (space.sample(rng) for _ in range(80))})
    # Only p0 and p1 matter.
    values = [float(a.param_dict["p0"] == 2) * 2.0 + float(a.param_dict["p1"]) for a in archs]
    surrogate = make_surrogate("gp-categorical", space)
    surrogate.fit(archs, values)
    # The default kernel: the overlap kernel (one lengthscale per parameter) times one on value shares.
    overlap = surrogate.model.covar_module.base_kernel.kernels[0]
    assert isinstance(overlap, OverlapKernel)
    lengthscale = overlap.lengthscale.reshape(-1)
    assert max(lengthscale[:2]) < 0.5 * min(lengthscale[2:])


def test_a_categorical_gp_past_max_fit_points_predicts_like_the_full_fit() -> None:
    space = relevance_space()
    rng = np.random.default_rng(1)
    archs = list(dict.fromkeys(space.sample(rng) for _ in range(200)))[:120]
    values = [
        float(a.param_dict["p0"] == 2) * 2.0 + float(a.param_dict["p1"]) + 0.1 * float(a.param_dict["p2"])
        for a in archs
    ]
    full = make_surrogate("gp-categorical", space, max_fit_points=None)
    subset = make_surrogate("gp-categorical", space, max_fit_points=60)
    full.fit(archs, values)
    subset.fit(archs, values)
    assert isinstance(subset, GaussianProcessSurrogate) and subset.model.train_inputs[0].shape[0] == 120
    test = list(space.enumerate())
    a, b = full.predict(test).mean, subset.predict(test).mean
    assert torch.corrcoef(torch.stack([a, b]))[0, 1] > 0.98
