"""Searchers, each an Optuna sampler: bonas's own and Optuna's, by name.

``make_sampler("regularized-evolution", space, seed=0)`` builds one; :func:`sampler_names` lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna

from bonas.errors import unknown_name
from bonas.history import Observation, SearchHistory
from bonas.samplers.base import ArchitectureSampler
from bonas.samplers.evolution import RegularizedEvolutionSampler
from bonas.samplers.external import NoRepeatSampler
from bonas.samplers.local_search import LocalSearchSampler
from bonas.samplers.random import RandomSearchSampler
from bonas.samplers.reinforce import ReinforceSampler
from bonas.spaces.base import SearchSpace

SamplerFactory = Callable[..., optuna.samplers.BaseSampler]


def _optuna_tpe(
    space: SearchSpace,
    *,
    seed: int | None = None,
    allow_repeats: bool = False,
    batch_size: int = 1,
    **options: Any,
) -> NoRepeatSampler:
    return NoRepeatSampler(
        optuna.samplers.TPESampler(seed=seed, **options),
        space,
        seed=seed,
        allow_repeats=allow_repeats,
        batch_size=batch_size,
    )


def _optuna_gp(
    space: SearchSpace,
    *,
    seed: int | None = None,
    allow_repeats: bool = False,
    batch_size: int = 1,
    **options: Any,
) -> NoRepeatSampler:
    return NoRepeatSampler(
        optuna.samplers.GPSampler(seed=seed, **options),
        space,
        seed=seed,
        allow_repeats=allow_repeats,
        batch_size=batch_size,
    )


def _bayesian(surrogate: str, **defaults: Any) -> SamplerFactory:
    """A BO searcher on ``surrogate``; it and ``defaults`` are constructor options a caller may override."""

    def factory(space: SearchSpace, *, seed: int | None = None, **options: Any) -> ArchitectureSampler:
        from bonas.samplers.bayesian import BayesianOptimizationSampler  # torch-heavy: import when used

        return BayesianOptimizationSampler(
            space, seed=seed, **{"surrogate": surrogate, **defaults, **options}
        )

    return factory


def _nao(space: SearchSpace, *, seed: int | None = None, **options: Any) -> ArchitectureSampler:
    from bonas.samplers.nao import NAOSampler  # torch-heavy: import when used

    return NAOSampler(space, seed=seed, **options)


_SAMPLERS: dict[str, SamplerFactory] = {
    "random": RandomSearchSampler,
    "regularized-evolution": RegularizedEvolutionSampler,
    "local-search": LocalSearchSampler,
    "reinforce": ReinforceSampler,
    "optuna-tpe": _optuna_tpe,
    "optuna-gp": _optuna_gp,
    "bo-gp-wl": _bayesian("gp-wl"),
    "bo-gp-wl-rbf": _bayesian("gp-wl-rbf"),
    "bo-gp-categorical": _bayesian("gp-categorical"),
    "bo-gp-path": _bayesian("gp-path"),
    "bo-gcn-blr": _bayesian("gcn-blr"),
    "bo-gcn-gp": _bayesian("gcn-gp"),
    # BANANAS (White et al. 2021): path-encoding ensemble, independent Thompson sampling.
    "bananas": _bayesian("ensemble-path", acquisition="thompson"),
    "nao": _nao,
}


def sampler_names() -> list[str]:
    return sorted(_SAMPLERS)


def make_sampler(
    name: str, space: SearchSpace, *, seed: int | None = None, **options: Any
) -> optuna.samplers.BaseSampler:
    """The sampler called ``name`` (see :func:`sampler_names`) for ``space``.

    Args:
        options: keyword arguments of the sampler's constructor (e.g. ``population_size``).
    """
    if name not in _SAMPLERS:
        raise unknown_name("searcher", name, _SAMPLERS)
    return _SAMPLERS[name](space, seed=seed, **options)


__all__ = [
    "ArchitectureSampler",
    "LocalSearchSampler",
    "NoRepeatSampler",
    "Observation",
    "RandomSearchSampler",
    "RegularizedEvolutionSampler",
    "ReinforceSampler",
    "SearchHistory",
    "make_sampler",
    "sampler_names",
]
