"""Encodings: typed transforms from architectures to ``n x d`` float64 tensors that a surrogate models.

An encoding first learns what it needs from a set of architectures (:meth:`Encoding.fit`: a vocabulary
of operations, paths or WL colours, a slot layout), then maps architectures of the same space to rows
(:meth:`Encoding.transform`)::

    encoding = make_encoding("wl", h=2).fit(train + candidates)
    X = encoding.transform(candidates)          # n x encoding.dim, float64

* :class:`AdjacencyEncoding` (:mod:`.adjacency`): BANANAS's adjacency one-hot (adjacency bits plus
  one-hot operations). Depends on how nodes are numbered, so isomorphic architectures can get different
  rows.
* :class:`PathEncoding` (:mod:`.paths`): BANANAS's path encoding, optionally truncated to the most
  frequent paths.
* :class:`WLEncoding` (:mod:`.wl`): Weisfeiler-Lehman subtree counts; their linear kernel is NAS-BOWL's
  WL kernel.

:mod:`.base` holds what they share (fitting, validation, the per-cell feature caches).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from bonas.encodings.adjacency import AdjacencyEncoding, adjacency_bag
from bonas.encodings.base import CACHE_SIZE, LARGE_TENSOR_BYTES, Encoding, EncodingNotFittedError
from bonas.encodings.paths import DEFAULT_MAX_PATHS, PathEncoding, cell_paths, path_bag
from bonas.encodings.wl import WLEncoding, wl_bag, wl_colours, wl_kernel
from bonas.errors import unknown_name


def clear_caches() -> None:
    """Empty the per-cell feature caches (they hold at most :data:`CACHE_SIZE` cells each)."""
    for cached in (adjacency_bag, path_bag, wl_bag):
        cached.cache_clear()


# -- Registry --------------------------------------------------------------------------------------------

_ENCODINGS: dict[str, Callable[..., Encoding]] = {
    "adjacency": AdjacencyEncoding,
    "path": PathEncoding,
    "path-truncated": partial(PathEncoding, max_paths=DEFAULT_MAX_PATHS),
    "wl": WLEncoding,
}


def make_encoding(name: str, **options: Any) -> Encoding:
    """A new unfitted encoding called ``name`` with constructor ``options``.

    ``"path-truncated"`` is :class:`PathEncoding` with ``max_paths`` :data:`DEFAULT_MAX_PATHS` unless
    given; ``"wl"`` takes ``h`` and ``normalize``.

    Raises:
        UnknownNameError: ``name`` is not one of :func:`encoding_names`.
    """
    if name not in _ENCODINGS:
        raise unknown_name("encoding", name, _ENCODINGS)
    return _ENCODINGS[name](**options)


def encoding_names() -> list[str]:
    return sorted(_ENCODINGS)


__all__ = [
    "CACHE_SIZE",
    "DEFAULT_MAX_PATHS",
    "LARGE_TENSOR_BYTES",
    "AdjacencyEncoding",
    "Encoding",
    "EncodingNotFittedError",
    "PathEncoding",
    "WLEncoding",
    "cell_paths",
    "clear_caches",
    "encoding_names",
    "make_encoding",
    "wl_colours",
    "wl_kernel",
]
