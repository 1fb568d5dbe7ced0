"""The Gaussian copula of values (normal scores of their ranks), shared by the BO and NAO samplers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from bonas.surrogates.transforms import copula_transform


def heavy_tailed(n: int = 40, seed: int = 0) -> list[float]:
    return [float(v) for v in np.random.default_rng(seed).standard_t(df=1.5, size=n)]


def test_copula_keeps_the_order_of_the_values() -> None:
    values = heavy_tailed()
    scores = copula_transform(values)
    assert isinstance(scores, list) and all(isinstance(score, float) for score in scores)
    np.testing.assert_array_equal(np.argsort(scores), np.argsort(values))


def test_ties_share_one_score() -> None:
    scores = copula_transform([3.0, 1.0, 3.0, 2.0, 3.0])
    assert scores[0] == scores[2] == scores[4]
    assert scores[1] < scores[3] < scores[0]


@pytest.mark.parametrize("n", [1, 2, 7, 100])
def test_scores_are_symmetric_with_mean_zero(n: int) -> None:
    scores = copula_transform(heavy_tailed(n, seed=n))
    assert np.mean(scores) == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(np.sort(scores), -np.sort(scores)[::-1], atol=1e-12)


def test_scores_are_the_normal_quantiles_of_mid_ranks() -> None:
    low, middle, high = copula_transform([10.0, 20.0, 30.0])
    assert middle == pytest.approx(0.0, abs=1e-12)
    assert high == pytest.approx(scipy.stats.norm.ppf(5 / 6)) and low == pytest.approx(-high)


def test_scores_ignore_the_scale_and_any_increasing_map() -> None:
    values = heavy_tailed(seed=1)
    scores = copula_transform(values)
    assert copula_transform([1e6 + 1e-3 * v for v in values]) == scores
    assert copula_transform([float(np.arctan(v)) for v in values]) == scores
