"""Surrogates: models of "architecture -> value" with uncertainty, by name.

``make_surrogate("gp-wl", space)`` builds NAS-BOWL's WL-kernel GP (a linear kernel on normalised WL
features); ``gp-wl-rbf`` puts an RBF kernel on the same features. Neural predictors: ``gcn-blr`` (BONAS: a
Bayesian linear regression on a GCN embedding), ``gcn-gp`` (a GP on that embedding) and ``ensemble-path``
(BANANAS: an ensemble of networks on the path encoding). See :func:`surrogate_names`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from bonas.errors import unknown_name
from bonas.spaces.base import SearchSpace
from bonas.surrogates.base import Prediction, Surrogate, SurrogateNotFittedError, check_training_data
from bonas.surrogates.ensemble import PathEnsemble
from bonas.surrogates.gcn import GCNBayesianLinearRegression, GCNGaussianProcess
from bonas.surrogates.gp import (
    CategoricalGaussianProcess,
    GaussianProcessSurrogate,
    PathGaussianProcess,
    WLGaussianProcess,
)
from bonas.surrogates.transforms import copula_transform

_SURROGATES: dict[str, Callable[..., Surrogate]] = {
    "gp-wl": WLGaussianProcess,
    "gp-wl-rbf": partial(WLGaussianProcess, kernel="rbf"),
    "gp-categorical": CategoricalGaussianProcess,
    "gp-path": PathGaussianProcess,
    "gcn-blr": GCNBayesianLinearRegression,
    "gcn-gp": GCNGaussianProcess,
    "ensemble-path": PathEnsemble,
}


def make_surrogate(name: str, space: SearchSpace, **options: Any) -> Surrogate:
    """A new unfitted surrogate called ``name`` for ``space``, with constructor ``options``.

    Raises:
        UnknownNameError: ``name`` is not one of :func:`surrogate_names`.
    """
    if name not in _SURROGATES:
        raise unknown_name("surrogate", name, _SURROGATES)
    return _SURROGATES[name](space, **options)


def surrogate_factory(
    surrogate: str | Callable[[SearchSpace], Surrogate], options: Mapping[str, Any] | None = None
) -> Callable[[SearchSpace], Surrogate]:
    """``space -> Surrogate``: the surrogate called ``surrogate`` with constructor ``options``, or a factory as is.

    Raises:
        UnknownNameError: ``surrogate`` is a name but not one of :func:`surrogate_names`.
        ValueError: ``options`` given with a factory (which takes its own options).
    """
    if not isinstance(surrogate, str):
        if options:
            raise ValueError(
                f"surrogate_options {dict(options)} apply to a surrogate name, not to the factory {surrogate!r}: "
                "build the surrogate with those options inside the factory, or give a surrogate name."
            )
        return surrogate
    if surrogate not in _SURROGATES:
        raise unknown_name("surrogate", surrogate, _SURROGATES)
    kept = dict(options or {})
    return partial(make_surrogate, surrogate, **kept)


def surrogate_names() -> list[str]:
    return sorted(_SURROGATES)


__all__ = [
    "CategoricalGaussianProcess",
    "GCNBayesianLinearRegression",
    "GCNGaussianProcess",
    "GaussianProcessSurrogate",
    "PathEnsemble",
    "PathGaussianProcess",
    "Prediction",
    "Surrogate",
    "SurrogateNotFittedError",
    "WLGaussianProcess",
    "check_training_data",
    "copula_transform",
    "make_surrogate",
    "surrogate_factory",
    "surrogate_names",
]
