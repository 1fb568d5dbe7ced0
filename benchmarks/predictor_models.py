"""The predictors :mod:`benchmarks.predictors` scores: fitting each, and its mean and 95% interval.

A bonas surrogate (by registry name) is fitted on the architectures themselves; a scikit-learn
reference (:data:`REFERENCES`) on one of :data:`REFERENCE_ENCODINGS`.

Intervals (the ``interval`` column of runs.csv says which one a row used):

* ``posterior+noise``: a bonas surrogate's ``model.posterior(encode(archs), observation_noise=True)``,
  mean ± 1.96 sd, the sd including the fitted observation noise (the held-out values are noisy
  observations too). Asked for as a batch of single points, so only the marginals are computed.
* ``latent``: the fallback when that posterior raises, :meth:`~bonas.surrogates.Surrogate.predict`'s
  variance, without observation noise (intervals too narrow for noisy targets).
* ``tree-std``: random forest, mean ± 1.96 x the standard deviation of the trees' predictions.
* ``quantile``: gradient boosting, two extra quantile-loss models (``alpha`` 0.025 and 0.975) give the
  interval's ends; the mean comes from the usual squared-error model.

``fit_seconds`` is the wall time of fitting, including encoding the training set (for gradient
boosting, all three models), and excludes prediction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from bonas.architecture import Architecture

if TYPE_CHECKING:  # importing bonas.surrogates imports torch: only workers that fit a GP pay for it
    from bonas.spaces import SearchSpace
    from bonas.surrogates import Surrogate

#: Half-width of a 95% normal interval in standard deviations.
Z95 = 1.96

#: Encodings the scikit-learn references are fitted on: name -> make_encoding options.
REFERENCE_ENCODINGS: dict[str, dict[str, int]] = {"adjacency": {}, "path": {}, "wl": {"h": 2}}

#: Trees in the random-forest reference.
FOREST_TREES = 200

#: mean, lower and upper end of the 95% interval (``n`` arrays each), and the interval's kind.
Interval = tuple[np.ndarray, np.ndarray, np.ndarray, str]


def _surrogate_interval(surrogate: Surrogate, test: list[Architecture]) -> Interval:
    import torch

    x = surrogate.encode(test)
    try:
        with torch.no_grad():
            # n x 1 x d: n single points, so a GP computes marginals instead of a joint n x n covariance.
            posterior = surrogate.model.posterior(x.unsqueeze(-2), observation_noise=True)
            mean = posterior.mean.reshape(-1).double().numpy()
            variance = posterior.variance.reshape(-1).double().numpy()
        kind = "posterior+noise"
    except Exception as error:  # any model: fall back to the contract's own prediction
        logging.getLogger(__name__).warning(
            "%s: posterior with observation noise failed (%s); using the latent variance.",
            type(surrogate).__name__,
            error,
        )
        prediction = surrogate.predict(test)
        mean = prediction.mean.double().numpy()
        variance = prediction.variance.double().numpy()
        kind = "latent"
    half = Z95 * np.sqrt(np.clip(variance, 0.0, None))
    return mean, mean - half, mean + half, kind


def fit_surrogate(
    name: str,
    space: SearchSpace,
    seed: int,
    train: list[Architecture],
    y: np.ndarray,
    test: list[Architecture],
) -> tuple[float, Interval]:
    """Fit bonas surrogate ``name`` on ``train`` (values ``y``); its fit seconds and interval on ``test``."""
    from bonas.surrogates import make_surrogate

    surrogate = make_surrogate(name, space, seed=seed)
    started = time.perf_counter()
    surrogate.fit(train, y.tolist())
    fit_seconds = time.perf_counter() - started
    return fit_seconds, _surrogate_interval(surrogate, test)


class _RandomForest:
    """Random forest; interval from the spread of its trees' predictions."""

    def __init__(self, seed: int) -> None:
        from sklearn.ensemble import RandomForestRegressor

        self.model = RandomForestRegressor(n_estimators=FOREST_TREES, random_state=seed, n_jobs=1)

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        self.model.fit(x, y)

    def interval(self, x: np.ndarray) -> Interval:
        trees = np.stack([tree.predict(x) for tree in self.model.estimators_])
        mean, half = self.model.predict(x), Z95 * trees.std(axis=0)
        return mean, mean - half, mean + half, "tree-std"


class _GradientBoosting:
    """Gradient boosting for the mean; two quantile-loss models for the interval's ends."""

    def __init__(self, seed: int) -> None:
        from sklearn.ensemble import GradientBoostingRegressor

        self.models = [
            GradientBoostingRegressor(random_state=seed),
            GradientBoostingRegressor(loss="quantile", alpha=0.025, random_state=seed),
            GradientBoostingRegressor(loss="quantile", alpha=0.975, random_state=seed),
        ]

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        for model in self.models:
            model.fit(x, y)

    def interval(self, x: np.ndarray) -> Interval:
        mean, lower, upper = (model.predict(x) for model in self.models)
        # Separately fitted quantile models can cross; the interval is between them either way.
        return mean, np.minimum(lower, upper), np.maximum(lower, upper), "quantile"


#: Reference name -> model factory (taking the seed).
REFERENCES: dict[str, Callable[[int], _RandomForest | _GradientBoosting]] = {
    "random-forest": _RandomForest,
    "gradient-boosting": _GradientBoosting,
}


def fit_reference(
    name: str,
    encoding_name: str,
    seed: int,
    train: list[Architecture],
    y: np.ndarray,
    test: list[Architecture],
) -> tuple[float, Interval]:
    """Fit reference ``name`` on ``train`` encoded by ``encoding_name``; its fit seconds and interval on ``test``."""
    from bonas.encodings import make_encoding

    started = time.perf_counter()
    # The encoding learns its vocabulary from the training set only, as a model in a search would.
    encoding = make_encoding(encoding_name, **REFERENCE_ENCODINGS[encoding_name]).fit(train)
    model = REFERENCES[name](seed)
    model.fit(encoding.transform(train).numpy(), y)
    fit_seconds = time.perf_counter() - started
    return fit_seconds, model.interval(encoding.transform(test).numpy())
