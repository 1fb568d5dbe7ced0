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

from bonas.errors import ArgumentTypeError, InvalidArgumentError, unknown_name
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


def make_surrogate(name: str, space: SearchSpace, /, **options: Any) -> Surrogate:
    """A new unfitted surrogate called ``name`` for ``space``, with constructor ``options``.

    Raises:
        UnknownNameError: ``name`` is not one of :func:`surrogate_names`.
        InvalidArgumentError: the surrogate takes no option of one of the names in ``options``.
    """
    if name not in _SURROGATES:
        raise unknown_name("surrogate", name, _SURROGATES)
    try:
        return _SURROGATES[name](space, **options)
    except TypeError as error:
        # Only the constructor's refusal of a given option name, not a TypeError from deeper inside.
        refused = ("unexpected keyword argument" in str(error) or "multiple values" in str(error)) and any(
            f"'{key}'" in str(error) for key in options
        )
        if not refused:
            raise
        raise InvalidArgumentError(
            f"Surrogate {name!r} does not take the options {sorted(options)} ({error}); "
            f"help(bonas.surrogates.{_constructor(name).__name__}) lists the ones it takes."
        ) from None


def surrogate_factory(
    surrogate: str | Callable[[SearchSpace], Surrogate], options: Mapping[str, Any] | None = None
) -> Callable[[SearchSpace], Surrogate]:
    """``space -> Surrogate``: the surrogate called ``surrogate`` with constructor ``options``, or a factory as is.

    The options are checked when the factory builds a surrogate (a BO searcher builds one at once).

    Raises:
        UnknownNameError: ``surrogate`` is a name but not one of :func:`surrogate_names`.
        ArgumentTypeError: ``options`` is not a mapping of option names to values.
        InvalidArgumentError: ``options`` given with a factory (which takes its own options).
    """
    kept = checked_surrogate_options(options)
    if not isinstance(surrogate, str):
        if kept:
            raise InvalidArgumentError(
                f"surrogate_options {kept} apply to a surrogate name, not to the factory {surrogate!r}: "
                "build the surrogate with those options inside the factory, or give a surrogate name."
            )
        return surrogate
    if surrogate not in _SURROGATES:
        raise unknown_name("surrogate", surrogate, _SURROGATES)
    return partial(make_surrogate, surrogate, **kept)


def checked_surrogate_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of ``options`` (None: empty), checked to map option names to values.

    Raises:
        ArgumentTypeError: ``options`` is not a mapping with string keys.
    """
    if options is None:
        return {}
    if not isinstance(options, Mapping) or not all(isinstance(key, str) for key in options):
        raise ArgumentTypeError(
            f"surrogate_options must map the surrogate's option names to values, e.g. {{'kernel': 'additive'}}; "
            f"got {options!r}."
        )
    return dict(options)


def _constructor(name: str) -> Callable[..., Surrogate]:
    constructor = _SURROGATES[name]
    return constructor.func if isinstance(constructor, partial) else constructor


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
    "checked_surrogate_options",
    "copula_transform",
    "make_surrogate",
    "surrogate_factory",
    "surrogate_names",
]
