"""Search spaces: NB201 cells, NAS-Bench-Graph, NB301/DARTS and user-defined categorical spaces."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from bonas.errors import unknown_name
from bonas.spaces.base import Categorical, SearchSpace
from bonas.spaces.categorical import CategoricalSpace, mlp_space
from bonas.spaces.darts import DartsSpace
from bonas.spaces.nb201 import NB201Space
from bonas.spaces.nbgraph import NBGraphSpace

_SPACES: dict[str, Callable[[], SearchSpace]] = {
    "nb201": NB201Space,
    "mlp": mlp_space,
    "darts": DartsSpace,
    "nbgraph": NBGraphSpace,
    "nbgraph-proteins": partial(NBGraphSpace, proteins=True),
}


def get_space(name: str) -> SearchSpace:
    """The built-in search space called ``name``."""
    if name not in _SPACES:
        raise unknown_name("search space", name, _SPACES)
    return _SPACES[name]()


def space_names() -> list[str]:
    return sorted(_SPACES)


__all__ = [
    "Categorical",
    "CategoricalSpace",
    "DartsSpace",
    "NB201Space",
    "NBGraphSpace",
    "SearchSpace",
    "get_space",
    "mlp_space",
    "space_names",
]
