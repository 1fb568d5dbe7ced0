"""BANANAS's adjacency one-hot encoding (depends on node numbering: not isomorphism-invariant)."""

from __future__ import annotations

from functools import lru_cache

from bonas.architecture import Architecture, Cell
from bonas.encodings.base import CACHE_SIZE, Encoding, FeatureBag, feature_bag


class AdjacencyEncoding(Encoding):
    """BANANAS's adjacency one-hot encoding, cell after cell.

    Per cell, with ``m`` the most nodes a cell of that name has in the fit set (smaller cells are padded
    with zeros): the strict upper triangle of the unpruned ``m x m`` adjacency matrix, row by row, then

    * for an edge-labelled cell (some edge carries an operation: NB201, DARTS), a one-hot of the
      operation on every ``(source, target)`` slot that carries an operation in the fit set (zero
      operations such as ``"none"`` included: they are choices like any other);
    * for a node-labelled cell (NAS-Bench-Graph, MLP), a one-hot of the label of each node position.

    The operation and label vocabularies are those of the fit set, sorted. Cells are expected to number
    their nodes in topological order, as every built-in space does; an edge ``j -> i`` with ``j > i``
    sets the bit of the pair ``(i, j)``. Not invariant: relabelling nodes moves the ones.
    """

    name = "adjacency"
    invariant = False

    def _cell_bag(self, cell: Cell) -> FeatureBag:
        return adjacency_bag(cell)

    def _layout(self, architectures: list[Architecture]) -> list[tuple[int, str]]:
        layout: list[tuple[int, str]] = []
        for position in range(len(self._cell_names)):
            cells = [architecture.cells[position][1] for architecture in architectures]
            m = max(len(cell.nodes) for cell in cells)
            layout += [(position, f"adj:{i}-{j}") for i in range(m) for j in range(i + 1, m)]
            ops = sorted({op for cell in cells for *_, op in cell.edges if op})
            if ops:
                slots = sorted({_pair(s, t) for cell in cells for s, t, op in cell.edges if op})
                layout += [(position, f"op:{i}-{j}={op}") for i, j in slots for op in ops]
            else:
                labels = sorted({label for cell in cells for label in cell.nodes})
                layout += [(position, f"node:{i}={label}") for i in range(m) for label in labels]
        return layout

    def __repr__(self) -> str:
        return "AdjacencyEncoding()"


def _pair(source: int, target: int) -> tuple[int, int]:
    return (source, target) if source < target else (target, source)


@lru_cache(maxsize=CACHE_SIZE)
def adjacency_bag(cell: Cell) -> FeatureBag:
    # Exactly the features the layout can give a column: node labels only for a node-labelled cell, so
    # that squared_norms of an edge-labelled cell is the squared norm of its row.
    items: dict[str, int] = {}
    edge_labelled = False
    for source, target, op in cell.edges:
        i, j = _pair(source, target)
        items[f"adj:{i}-{j}"] = 1
        if op:
            edge_labelled = True
            items[f"op:{i}-{j}={op}"] = 1
    if not edge_labelled:
        for i, label in enumerate(cell.nodes):
            items[f"node:{i}={label}"] = 1
    return feature_bag(items)
