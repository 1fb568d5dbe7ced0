"""The checks every surrogate must pass: :class:`SurrogateConformance`.

Subclass it in a ``Test...`` class and say how to build the surrogate for a space::

    from bonas.testing.surrogates import SurrogateConformance

    class TestMySurrogate(SurrogateConformance):
        def make_surrogate(self, space):
            return MySurrogate(space)

The checks fit on NAS-Bench-201 CIFAR-10 validation accuracies (the table ships with a dependency, so
nothing is skipped), on random architectures drawn with fixed seeds, and on small samples of the DARTS
and MLP spaces. Override :attr:`SurrogateConformance.min_kendall_tau` for a surrogate that ranks worse
than the GPs by design, and say why. :func:`nb201_table`, :func:`nb201_split` and :func:`kendall_tau`
serve checks of your own. A GP surrogate's suite takes about 20 s on one core. Needs pytest (see
:mod:`bonas.testing`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache

import numpy as np
import pytest
import torch
from botorch.acquisition import LogExpectedImprovement
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.posteriors import Posterior
from botorch.sampling import SobolQMCNormalSampler
from scipy.stats import kendalltau

from bonas.architecture import Architecture
from bonas.spaces import get_space
from bonas.spaces.base import SearchSpace
from bonas.surrogates import Surrogate
from bonas.tabular import load_benchmark


@cache
def nb201_table() -> tuple[SearchSpace, tuple[Architecture, ...], np.ndarray]:
    """The NB201 space, its 15,625 cells in enumeration order and their CIFAR-10 validation accuracies."""
    benchmark = load_benchmark("nb201-cifar10")
    architectures = tuple(benchmark.space.enumerate())
    values = np.array([benchmark(architecture)["val_accuracy"] for architecture in architectures])
    return benchmark.space, architectures, values


def nb201_split(
    seed: int, n_train: int, n_test: int = 200
) -> tuple[list[Architecture], np.ndarray, list[Architecture], np.ndarray]:
    """Disjoint random training and held-out NB201 cells with their values: ``(train, y, test, y_test)``."""
    _, architectures, values = nb201_table()
    order = np.random.default_rng(seed).permutation(len(architectures))
    train, test = order[:n_train], order[n_train : n_train + n_test]
    return (
        [architectures[i] for i in train],
        values[train],
        [architectures[i] for i in test],
        values[test],
    )


def kendall_tau(predicted: torch.Tensor, actual: np.ndarray) -> float:
    """Kendall rank correlation between an ``n`` tensor of predictions and the ``n`` actual values."""
    return float(kendalltau(predicted.numpy(), actual).statistic)


class SurrogateConformance:
    """Behaviour shared by every :class:`~bonas.surrogates.base.Surrogate` (not collected itself)."""

    #: Kendall tau that the surrogate must beat on 200 held-out NB201 cells after 50 training cells
    #: (seeds 0-2). gp-wl reaches 0.49-0.67 over seeds 0-5; random guessing gives 0.
    min_kendall_tau = 0.3

    #: How far, as a share of the values' spread, predicted means after an affine change of units may move.
    #: The values are standardised, so only where the fit's optimiser stops moves them.
    affine_tolerance = 1e-3

    def make_surrogate(self, space: SearchSpace) -> Surrogate:
        """A new unfitted surrogate for ``space``."""
        raise NotImplementedError(f"{type(self).__name__} must override make_surrogate(space).")

    def fitted(self, n_train: int = 30, seed: int = 0) -> tuple[Surrogate, list[Architecture], np.ndarray]:
        space = nb201_table()[0]
        train, y, _, _ = nb201_split(seed, n_train)
        surrogate = self.make_surrogate(space)
        surrogate.fit(train, y.tolist())
        return surrogate, train, y

    # -- Predictions --------------------------------------------------------------------------------------

    def test_predictions_are_finite_with_positive_variance(self) -> None:
        surrogate, _, _ = self.fitted()
        _, _, test, _ = nb201_split(0, 30)
        prediction = surrogate.predict(test)
        assert prediction.mean.shape == (len(test),)
        assert prediction.variance.shape == (len(test),)
        assert torch.isfinite(prediction.mean).all()
        assert torch.isfinite(prediction.variance).all()
        assert (prediction.variance > 0).all()

    def test_predictions_at_training_points_are_close_to_the_values(self) -> None:
        surrogate, train, y = self.fitted()
        error = (surrogate.predict(train).mean.numpy() - y).__abs__().mean()
        assert error < 0.5 * y.std(), (
            f"mean absolute training error {error:.3g} for values of std {y.std():.3g}"
        )

    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_ranks_held_out_architectures(self, seed: int) -> None:
        space = nb201_table()[0]
        train, y, test, y_test = nb201_split(seed, 50)
        surrogate = self.make_surrogate(space)
        surrogate.fit(train, y.tolist())
        tau = kendall_tau(surrogate.predict(test).mean, y_test)
        assert tau > self.min_kendall_tau, f"Kendall tau {tau:.3f} on held-out cells (seed {seed})"

    def test_predict_agrees_with_the_model_posterior(self) -> None:
        surrogate, _, _ = self.fitted()
        _, _, test, _ = nb201_split(0, 30, n_test=50)
        prediction = surrogate.predict(test)
        with torch.no_grad():
            posterior = surrogate.model.posterior(surrogate.encode(test))
        scale = float(posterior.variance.max())
        torch.testing.assert_close(
            prediction.mean, posterior.mean.reshape(-1), rtol=1e-6, atol=1e-6 * scale**0.5
        )
        torch.testing.assert_close(
            prediction.variance, posterior.variance.reshape(-1), rtol=1e-5, atol=1e-6 * scale
        )

    # -- Units, reproducibility, refits -----------------------------------------------------------------

    def test_predictions_follow_an_affine_change_of_units(self) -> None:
        space = nb201_table()[0]
        train, y, test, _ = nb201_split(3, 30)
        plain, scaled = self.make_surrogate(space), self.make_surrogate(space)
        plain.fit(train, y.tolist())
        scaled.fit(train, (100 * y + 1e3).tolist())
        first, second = plain.predict(test), scaled.predict(test)
        spread = 100 * float(y.std())
        np.testing.assert_allclose(
            second.mean.numpy(), 100 * first.mean.numpy() + 1e3, atol=self.affine_tolerance * spread
        )
        np.testing.assert_allclose(
            second.variance.numpy(),
            1e4 * first.variance.numpy(),
            rtol=1e-2,
            atol=1e-6 * spread**2,
        )

    def test_same_data_gives_the_same_predictions(self) -> None:
        first, _, _ = self.fitted(seed=4)
        second, _, _ = self.fitted(seed=4)
        _, _, test, _ = nb201_split(4, 30)
        np.testing.assert_allclose(
            first.predict(test).mean.numpy(), second.predict(test).mean.numpy(), atol=1e-6
        )
        np.testing.assert_allclose(
            first.predict(test).variance.numpy(), second.predict(test).variance.numpy(), atol=1e-6
        )

    def test_refits_on_more_data(self) -> None:
        space = nb201_table()[0]
        train, y, test, _ = nb201_split(5, 40)
        surrogate = self.make_surrogate(space)
        surrogate.fit(train[:20], y[:20].tolist())
        surrogate.predict(test)
        surrogate.fit(train, y.tolist())
        # The second fit learnt the 20 new points too.
        error = np.abs(surrogate.predict(train[20:]).mean.numpy() - y[20:]).mean()
        assert error < 0.5 * y.std(), f"mean absolute error {error:.3g} on the points added by the refit"
        assert surrogate.predict(test).mean.shape == (len(test),)
        assert surrogate.model.posterior(surrogate.encode(test[:3])).mean.shape == (3, 1)

    # -- BoTorch ------------------------------------------------------------------------------------------

    def test_model_posterior_drives_log_expected_improvement(self) -> None:
        surrogate, _, y = self.fitted()
        _, _, test, _ = nb201_split(0, 30, n_test=64)
        encoded = surrogate.encode(test)
        assert encoded.dtype == torch.float64
        assert encoded.shape[0] == len(test)
        posterior = surrogate.model.posterior(encoded)
        assert isinstance(posterior, Posterior)
        assert posterior.mean.shape == (len(test), 1)
        acquisition = LogExpectedImprovement(surrogate.model, best_f=float(y.max()))
        with torch.no_grad():
            scores = acquisition(encoded.unsqueeze(-2))
        assert scores.shape == (len(test),)
        assert torch.isfinite(scores).all()

    def test_model_drives_batch_noisy_expected_improvement(self) -> None:
        surrogate, train, _ = self.fitted()
        _, _, test, _ = nb201_split(0, 30, n_test=12)
        acquisition = qLogNoisyExpectedImprovement(
            surrogate.model,
            X_baseline=surrogate.encode(train),
            sampler=SobolQMCNormalSampler(torch.Size([32]), seed=0),
            prune_baseline=True,
        )
        with torch.no_grad():
            scores = acquisition(surrogate.encode(test).reshape(6, 2, -1))  # six pairs, jointly
        assert scores.shape == (6,)
        assert torch.isfinite(scores).all()

    def test_model_before_fit_raises(self) -> None:
        surrogate = self.make_surrogate(nb201_table()[0])
        with pytest.raises(RuntimeError):
            _ = surrogate.model

    # -- Input validation ---------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("n_architectures", "values"),
        [(3, [1.0, 2.0]), (0, []), (3, [1.0, math.nan, 2.0]), (2, [1.0, math.inf])],
        ids=["mismatched-lengths", "empty", "nan", "inf"],
    )
    def test_fit_rejects_bad_training_data(self, n_architectures: int, values: Sequence[float]) -> None:
        space, architectures, _ = nb201_table()
        surrogate = self.make_surrogate(space)
        with pytest.raises(ValueError):
            surrogate.fit(list(architectures[:n_architectures]), values)

    # -- Other spaces -------------------------------------------------------------------------------------

    @pytest.mark.parametrize("space_name", ["darts", "mlp"])
    def test_fits_other_spaces(self, space_name: str) -> None:
        space = get_space(space_name)
        rng = np.random.default_rng(0)
        architectures = list({space.sample(rng): None for _ in range(14)})
        train, test = architectures[:8], architectures[8:]
        values = rng.normal(80.0, 5.0, size=len(train))
        surrogate = self.make_surrogate(space)
        surrogate.fit(train, values.tolist())
        prediction = surrogate.predict(test)
        assert prediction.mean.shape == (len(test),)
        assert torch.isfinite(prediction.mean).all()
        assert torch.isfinite(prediction.variance).all()
        assert (prediction.variance >= 0).all()
