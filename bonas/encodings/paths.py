"""BANANAS's path encoding: the input-to-output paths of operations of each cell."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

import torch

from bonas.architecture import Architecture, Cell
from bonas.encodings.base import CACHE_SIZE, Encoding, FeatureBag, feature_bag, label_token

# -- Paths -----------------------------------------------------------------------------------------------


#: Paths kept by ``make_encoding("path-truncated")`` (BANANAS-style truncation keeps a few dozen).
DEFAULT_MAX_PATHS = 30


class PathEncoding(Encoding):
    """BANANAS's path encoding: which input-to-output paths of operations an architecture has.

    On each cell's pruned operation graph, every path from an input node to the output node is written
    as the label of the input it starts from followed by the operations along it. In an edge-labelled
    cell (NB201, DARTS) the cell's own nodes (``sum``, ...) only join edges and are left out; in a
    node-labelled cell (NAS-Bench-Graph, MLP) every node between the input and the output is an
    operation. So the NB201 cell ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|``
    has the one path ``input>nor_conv_3x3>skip_connect>avg_pool_3x3``, and DARTS paths start with
    ``input0`` or ``input1``. Paths of different cells are different features.

    The vocabulary is the paths met in the fit set, most frequent first (frequency = number of fit
    architectures having the path; ties by cell, then by name). Fitting on the whole space
    (``space.enumerate()``) gives every possible path: 84 for NB201 (4 + 4**2 + 4**3 sequences of its 4
    non-zero operations). ``max_paths=k`` keeps the first ``k``: BANANAS's truncation, which drops the
    rarest paths (mostly long ones), so a truncated encoding is a prefix of the full one fitted on the
    same architectures. Invariant: paths do not depend on how nodes are numbered.

    Args:
        max_paths: keep only the ``max_paths`` most frequent paths; None keeps all.
        counts: count how many distinct node paths spell each sequence instead of a 0/1 indicator
            (BANANAS uses the indicator).
    """

    invariant = True

    def __init__(self, *, max_paths: int | None = None, counts: bool = False) -> None:
        super().__init__()
        if max_paths is not None and (
            not isinstance(max_paths, int) or isinstance(max_paths, bool) or max_paths < 1
        ):
            raise ValueError(f"max_paths must be None or an int >= 1, but got {max_paths=!r}.")
        self.max_paths = max_paths
        self.counts = bool(counts)

    @property
    def name(self) -> str:  # type: ignore[override]
        return "path" if self.max_paths is None else "path-truncated"

    def _cell_bag(self, cell: Cell) -> FeatureBag:
        return path_bag(cell, self.counts)

    def _layout(self, architectures: list[Architecture]) -> list[tuple[int, str]]:
        frequency: Counter[tuple[int, str]] = Counter()
        for architecture in architectures:
            for position, (_, cell) in enumerate(architecture.cells):
                frequency.update((position, key) for key in self._cell_bag(cell).keys)
        order = sorted(frequency, key=lambda item: (-frequency[item], item))
        return order if self.max_paths is None else order[: self.max_paths]

    def squared_norms(self, architectures: Iterable[Architecture]) -> torch.Tensor:
        """As :meth:`Encoding.squared_norms`; truncated, the feature map is the kept paths only."""
        if self.max_paths is None:
            return super().squared_norms(architectures)
        return (self.transform(architectures) ** 2).sum(dim=1)

    def __repr__(self) -> str:
        return f"PathEncoding(max_paths={self.max_paths}, counts={self.counts})"


def cell_paths(cell: Cell) -> Counter[tuple[str, ...]]:
    """The label sequences of the input-to-output paths of ``cell`` (see :class:`PathEncoding`).

    Returns:
        How many distinct node paths of the pruned operation graph spell each sequence.
    """
    dag = cell.operation_dag()
    structural = frozenset(cell.nodes) if any(op for *_, op in cell.edges) else frozenset()
    paths: Counter[tuple[str, ...]] = Counter()
    for start in dag.inputs:
        stack = [(start, (dag.labels[start],))]
        while stack:
            node, path = stack.pop()
            for successor in dag.successors[node]:
                if successor == dag.output:
                    paths[path] += 1
                    continue
                label = dag.labels[successor]
                stack.append((successor, path if label in structural else (*path, label)))
    return paths


@lru_cache(maxsize=CACHE_SIZE)
def path_bag(cell: Cell, counts: bool) -> FeatureBag:
    return feature_bag(
        {
            ">".join(label_token(label, ">") for label in path): count if counts else 1
            for path, count in cell_paths(cell).items()
        }
    )
