"""Searchers, each an Optuna sampler: bonas's own and Optuna's, by name.

``make_sampler("regularized-evolution", space, seed=0)`` builds one; :func:`sampler_names` lists them.
``auto`` (the default of :func:`bonas.search` and ``bonas search``) picks bonas's best for the space
(:func:`auto_searcher`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
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

logger = logging.getLogger(__name__)

SamplerFactory = Callable[..., optuna.samplers.BaseSampler]


def _optuna(sampler_class: type[optuna.samplers.BaseSampler]) -> SamplerFactory:
    """A searcher on Optuna's ``sampler_class`` (its options pass through), with bonas's no-repeat rule."""

    def factory(
        space: SearchSpace,
        *,
        seed: int | None = None,
        allow_repeats: bool = False,
        batch_size: int = 1,
        **options: Any,
    ) -> NoRepeatSampler:
        return NoRepeatSampler(
            sampler_class(seed=seed, **options),  # type: ignore[call-arg]
            space,
            seed=seed,
            allow_repeats=allow_repeats,
            batch_size=batch_size,
        )

    return factory


def _bayesian(surrogate: str, **defaults: Any) -> SamplerFactory:
    """A BO searcher on ``surrogate``; it and ``defaults`` are constructor options a caller may override."""

    def factory(space: SearchSpace, *, seed: int | None = None, **options: Any) -> ArchitectureSampler:
        from bonas.samplers.bayesian import BayesianOptimizationSampler  # torch-heavy: import when used

        return BayesianOptimizationSampler(
            space, seed=seed, **{"surrogate": surrogate, **defaults, **options}
        )

    return factory


def _multi_objective_bayesian(surrogate: str, **defaults: Any) -> SamplerFactory:
    """A multi-objective (and constrained) BO searcher: one ``surrogate`` per modelled outcome."""

    def factory(space: SearchSpace, *, seed: int | None = None, **options: Any) -> ArchitectureSampler:
        from bonas.samplers.multiobjective import MultiObjectiveBOSampler  # torch-heavy: import when used

        return MultiObjectiveBOSampler(space, seed=seed, **{"surrogate": surrogate, **defaults, **options})

    return factory


#: What ``auto`` runs: the WL-kernel GP where architectures have cell graphs (isomorphic cells merged,
#: graph features shared across edges); where they are plain choices, the categorical-kernel GP searching
#: in a trust region of Hamming balls around the incumbent (:mod:`bonas.samplers.trust_region`).
AUTO_GRAPH_SEARCHER = "bo-gp-wl-rbf"
AUTO_FLAT_SEARCHER = "bo-gp-categorical-tr"
#: What ``auto`` runs with several objectives or constraints: the same GPs, one per modelled outcome,
#: and qLogNEHVI (qLogNEI with constraints for one objective).
AUTO_MULTI_OBJECTIVE_GRAPH_SEARCHER = "mobo-gp-wl-rbf"
AUTO_MULTI_OBJECTIVE_FLAT_SEARCHER = "mobo-gp-categorical"


def auto_searcher(space: SearchSpace, *, multi_objective: bool = False) -> str:
    """The searcher ``auto`` picks for ``space``, from what the space exposes (never from its name):
    :data:`AUTO_GRAPH_SEARCHER` when its architectures have cell graphs, else :data:`AUTO_FLAT_SEARCHER`;
    with ``multi_objective`` (several objectives or constraints) their multi-objective forms."""
    has_graph = bool(space.sample(np.random.default_rng(0)).cells)
    if multi_objective:
        return AUTO_MULTI_OBJECTIVE_GRAPH_SEARCHER if has_graph else AUTO_MULTI_OBJECTIVE_FLAT_SEARCHER
    return AUTO_GRAPH_SEARCHER if has_graph else AUTO_FLAT_SEARCHER


def _auto(space: SearchSpace, *, seed: int | None = None, **options: Any) -> optuna.samplers.BaseSampler:
    name = auto_searcher(space)
    logger.info(
        "Searcher 'auto' picked %r for space %r (%s).",
        name,
        space.name,
        "its architectures have cell graphs" if name == AUTO_GRAPH_SEARCHER else "plain categorical choices",
    )
    return _SAMPLERS[name](space, seed=seed, **options)


def _enas(space: SearchSpace, *, seed: int | None = None, **options: Any) -> ArchitectureSampler:
    from bonas.samplers.enas import ENASSampler  # torch-heavy: import when used

    return ENASSampler(space, seed=seed, **options)


def _trust_region(space: SearchSpace, *, seed: int | None = None, **options: Any) -> ArchitectureSampler:
    from bonas.samplers.trust_region import TrustRegionBayesianSampler  # torch-heavy: import when used

    return TrustRegionBayesianSampler(space, seed=seed, **options)


def _nao(space: SearchSpace, *, seed: int | None = None, **options: Any) -> ArchitectureSampler:
    from bonas.samplers.nao import NAOSampler  # torch-heavy: import when used

    return NAOSampler(space, seed=seed, **options)


_SAMPLERS: dict[str, SamplerFactory] = {
    "auto": _auto,
    "random": RandomSearchSampler,
    "regularized-evolution": RegularizedEvolutionSampler,
    "local-search": LocalSearchSampler,
    "reinforce": ReinforceSampler,
    # ENAS's LSTM controller (Pham et al. 2018): decisions conditioned on the earlier ones.
    "enas": _enas,
    "optuna-tpe": _optuna(optuna.samplers.TPESampler),
    "optuna-gp": _optuna(optuna.samplers.GPSampler),
    "optuna-nsga2": _optuna(optuna.samplers.NSGAIISampler),
    "bo-gp-wl": _bayesian("gp-wl"),
    "bo-gp-wl-rbf": _bayesian("gp-wl-rbf"),
    "bo-gp-categorical": _bayesian("gp-categorical"),
    # CASMOPOLITAN-style (Wan et al. 2021): the categorical GP within a Hamming-ball trust region.
    "bo-gp-categorical-tr": _trust_region,
    "bo-gp-path": _bayesian("gp-path"),
    "bo-gcn-blr": _bayesian("gcn-blr"),
    "bo-gcn-gp": _bayesian("gcn-gp"),
    # BANANAS (White et al. 2021): path-encoding ensemble, independent Thompson sampling.
    "bananas": _bayesian("ensemble-path", acquisition="thompson"),
    "nao": _nao,
    # Several objectives and constraints: qLogNEHVI, or the cheaper random Chebyshev scalarisation.
    "mobo-gp-wl-rbf": _multi_objective_bayesian("gp-wl-rbf"),
    "mobo-gp-categorical": _multi_objective_bayesian("gp-categorical"),
    "parego-gp-wl-rbf": _multi_objective_bayesian("gp-wl-rbf", acquisition="parego"),
    "parego-gp-categorical": _multi_objective_bayesian("gp-categorical", acquisition="parego"),
}

#: Searchers that take ``cheap_metrics`` (metrics known without evaluating, used exactly for candidates).
_CHEAP_METRIC_SEARCHERS = frozenset(name for name in _SAMPLERS if name.startswith(("mobo-", "parego-")))
#: Searchers for several objectives (and constraints); ``auto`` picks a ``mobo-`` one for such studies.
_MULTI_OBJECTIVE_SEARCHERS = (
    "random",
    "regularized-evolution",
    "optuna-nsga2",
    "optuna-tpe",
    "optuna-gp",
    *sorted(_CHEAP_METRIC_SEARCHERS),
)


def sampler_names() -> list[str]:
    return sorted(_SAMPLERS)


def multi_objective_sampler_names() -> list[str]:
    """The searchers that search several objectives and respect constraints (``auto`` included)."""
    return ["auto", *_MULTI_OBJECTIVE_SEARCHERS]


def accepts_cheap_metrics(name: str) -> bool:
    """Whether the searcher called ``name`` takes a ``cheap_metrics`` option."""
    return name in _CHEAP_METRIC_SEARCHERS


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
    "accepts_cheap_metrics",
    "auto_searcher",
    "make_sampler",
    "multi_objective_sampler_names",
    "sampler_names",
]
