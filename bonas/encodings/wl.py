"""Weisfeiler-Lehman subtree features; their linear kernel is NAS-BOWL's WL kernel."""

from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache

import torch

from bonas.architecture import Architecture, Cell
from bonas.encodings.base import CACHE_SIZE, Encoding, FeatureBag, feature_bag, label_token

# -- Weisfeiler-Lehman -----------------------------------------------------------------------------------


class WLEncoding(Encoding):
    """Weisfeiler-Lehman subtree features; their linear kernel is NAS-BOWL's WL kernel (Ru et al. 2021).

    On each cell's pruned operation graph, iteration 0 colours each node by its label and iteration
    ``i`` by its label together with the multiset of iteration ``i - 1`` colours of its *in*-neighbours,
    information flowing from the inputs towards the output, as in NAS-BOWL. A colour is written as the
    depth-``i`` unfolding tree it stands for, e.g. ``sum(avg_pool_3x3(input),nor_conv_3x3(input))``,
    which splits nodes exactly as WL's hashed relabelling does and keeps features readable. Column
    ``(cell, i, colour)``, named ``cell:i:colour``, counts the nodes of that colour at iteration ``i``,
    for ``i = 0..h``, so ``X @ Y.T`` (:func:`wl_kernel`) is the WL subtree kernel with equal weights per
    iteration.

    networkx's ``weisfeiler_lehman_subgraph_hashes`` is not used: on a DiGraph it aggregates in- and
    out-neighbours together (telling them apart, with a warning on every call, only since networkx
    3.5), and its hashes change between versions, while readable, stable colours serve interpretation
    and caching.

    Args:
        h: number of WL iterations (0 counts labels only); NAS-BOWL picks small values, 1 or 2.
        normalize: divide each row by the norm of the architecture's full feature vector, so that
            ``X @ Y.T`` is the normalised kernel ``k(x, y) / sqrt(k(x, x) k(y, y))``. The norm counts
            colours the vocabulary lacks too, so the kernel between a fitted architecture and any other
            is exact; an architecture whose cells are all pruned away gets a zero row.
    """

    name = "wl"
    invariant = True

    def __init__(self, *, h: int = 1, normalize: bool = False) -> None:
        super().__init__()
        if not isinstance(h, int) or isinstance(h, bool) or h < 0:
            raise ValueError(f"h, the number of WL iterations, must be an int >= 0, but got {h=!r}.")
        self.h = h
        self.normalize = bool(normalize)

    def _cell_bag(self, cell: Cell) -> FeatureBag:
        return wl_bag(cell, self.h)

    def _row_scale(self, squared_norm: float) -> float:
        return 1.0 / math.sqrt(squared_norm) if self.normalize and squared_norm > 0 else 1.0

    def _layout(self, architectures: list[Architecture]) -> list[tuple[int, str]]:
        seen = {
            (position, key)
            for architecture in architectures
            for position, (_, cell) in enumerate(architecture.cells)
            for key in self._cell_bag(cell).keys
        }
        return sorted(seen, key=lambda item: (item[0], int(item[1].partition(":")[0]), item[1]))

    def __repr__(self) -> str:
        return f"WLEncoding(h={self.h}, normalize={self.normalize})"


def wl_colours(cell: Cell, h: int) -> Counter[tuple[int, str]]:
    """How many nodes of ``cell``'s pruned operation graph have each ``(iteration, colour)``, ``0..h``."""
    dag = cell.operation_dag()
    names = [label_token(label, "(),") for label in dag.labels]
    colours = list(names)
    counts: Counter[tuple[int, str]] = Counter((0, colour) for colour in colours)
    for iteration in range(1, h + 1):
        colours = [
            f"{names[v]}({','.join(sorted(colours[p] for p in dag.predecessors[v]))})"
            if dag.predecessors[v]
            else names[v]
            for v in range(len(colours))
        ]
        counts.update((iteration, colour) for colour in colours)
    return counts


@lru_cache(maxsize=CACHE_SIZE)
def wl_bag(cell: Cell, h: int) -> FeatureBag:
    return feature_bag(
        {f"{iteration}:{colour}": count for (iteration, colour), count in wl_colours(cell, h).items()}
    )


def wl_kernel(x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """The WL kernel matrix from :class:`WLEncoding` features: the linear kernel ``x @ y.T``.

    Args:
        x: ``n x d`` tensor of WL features.
        y: ``m x d`` tensor of WL features from the same fitted encoding; None for ``x`` itself, in
            which case the result is made exactly symmetric (matrix products are only so up to rounding).

    Returns:
        ``n x m`` kernel matrix (normalised when the features were built with ``normalize=True``).
    """
    if y is not None:
        return x @ y.T
    gram = x @ x.T
    return (gram + gram.T) / 2
