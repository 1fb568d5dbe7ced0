"""The Gaussian copula of values (normal scores of their ranks), shared by the BO and NAO samplers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from bonas.surrogates.transforms import copula_transform, lower_copula_transform


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


# -- the lower copula: ranks below the median, the values above -------------------------------------------


def accuracies(seed: int = 0) -> np.ndarray:
    """Accuracies as a table gives them: most near 70, a long tail of broken architectures near 10."""
    rng = np.random.default_rng(seed)
    return np.concatenate([70 + rng.normal(0, 1.5, size=80), rng.uniform(1, 15, size=20)])


def test_lower_copula_is_monotone_and_zero_at_the_median() -> None:
    values = accuracies()
    scores = np.array(lower_copula_transform(values.tolist()))
    assert np.all(np.diff(scores[np.argsort(values, kind="stable")]) >= 0)
    assert np.all(np.diff(scores[np.argsort(values)][values[np.argsort(values)] >= np.median(values)]) > 0)
    assert scores[np.argmin(np.abs(values - np.median(values)))] == pytest.approx(0.0, abs=0.1)


def test_lower_copula_keeps_the_differences_among_the_best_and_tames_the_tail() -> None:
    values = accuracies()
    scores = np.array(lower_copula_transform(values.tolist()))
    upper = values >= np.median(values)
    # Above the median an affine map: differences in value are proportional differences in score ...
    slope = np.polyfit(values[upper], scores[upper], 1)
    np.testing.assert_allclose(np.polyval(slope, values[upper]), scores[upper], atol=1e-9)
    # ... of a half-normal's scale, while the broken tail stays within the normal scores of the ranks.
    assert 1.0 < scores.max() < 4.0
    assert scores.min() == pytest.approx(min(copula_transform(values.tolist())))
    # The copula instead spreads the two best by rank however close they are.
    best_two = np.sort(values)[-2:]
    gap = np.diff(np.sort(scores)[-2:])[0]
    assert gap == pytest.approx((best_two[1] - best_two[0]) * slope[0])


def test_lower_copula_of_equal_values() -> None:
    assert lower_copula_transform([5.0, 5.0, 5.0]) == copula_transform([5.0, 5.0, 5.0])
    assert lower_copula_transform([2.0]) == [0.0]
