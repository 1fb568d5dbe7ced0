"""Encodings: typed transforms from architectures to ``n x d`` float64 tensors that a surrogate models.

An encoding first learns what it needs from a set of architectures (:meth:`Encoding.fit`: a vocabulary
of operations, paths or WL colours, a slot layout), then maps architectures of the same space to rows
(:meth:`Encoding.transform`)::

    encoding = make_encoding("wl", h=2).fit(train + candidates)
    X = encoding.transform(candidates)          # n x encoding.dim, float64

* :class:`AdjacencyEncoding`: BANANAS's adjacency one-hot (adjacency bits plus one-hot operations).
  Depends on how nodes are numbered, so isomorphic architectures can get different rows.
* :class:`PathEncoding`: BANANAS's path encoding, optionally truncated to the most frequent paths.
* :class:`WLEncoding`: Weisfeiler-Lehman subtree counts; their linear kernel is NAS-BOWL's WL kernel.

Each encoding works cell by cell. What a cell contributes (its "bag" of features, such as the multiset
of its paths) depends on the cell alone, so it is computed once per distinct cell and kept in a bounded
module-level LRU cache keyed by the cell's value; the fitted vocabulary turns bags into columns. Keying
by the cell rather than by the canonical hash avoids computing that hash (the costliest step of a first
pass), lets a DARTS architecture whose normal cell is unchanged reuse it, and survives refitting; the
path and WL bags are functions of the pruned operation graph only, so they agree on isomorphic cells.
Features a fitted vocabulary does not know (a label or path first met at transform time) are ignored.

Rows are dense, so memory is ``8 n d`` bytes. Path and WL vocabularies grow with the fit set (WL with
``h = 3`` on 10,000 DARTS architectures has about 50,000 colours). For a linear kernel on these features
fit on the training architectures only: the kernel between a training and any other architecture is
unchanged by features no training architecture has, and :meth:`Encoding.squared_norms` gives each
architecture's exact ``k(x, x)``.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, Self

import torch

from bonas.architecture import Architecture, Cell
from bonas.errors import InvalidArchitectureError, NotFittedError, unknown_name

logger = logging.getLogger(__name__)

#: Distinct cells whose features each cache keeps (NB201 has 15,625 cells, NAS-Bench-Graph 59,040).
CACHE_SIZE = 2**16

#: Paths kept by ``make_encoding("path-truncated")`` (BANANAS-style truncation keeps a few dozen).
DEFAULT_MAX_PATHS = 30

#: Size above which :meth:`Encoding.transform` logs a warning about the dense tensor it allocates.
LARGE_TENSOR_BYTES = 2**30


@dataclass(frozen=True, slots=True)
class _Bag:
    """The features of one cell: distinct keys (interned strings, shared between cells) and values."""

    keys: tuple[str, ...]
    values: tuple[int, ...]
    squared_norm: int


def _bag(items: dict[str, int]) -> _Bag:
    return _Bag(
        tuple(sys.intern(key) for key in items),
        tuple(items.values()),
        sum(value * value for value in items.values()),
    )


class EncodingNotFittedError(NotFittedError):
    """An encoding was used before :meth:`Encoding.fit` gave it a vocabulary."""


class Encoding(ABC):
    """A map from architectures of one search space to ``n x d`` float64 tensors.

    Subclasses say what one cell contributes (:meth:`_cell_bag`) and which features become columns, in
    which order (:meth:`_layout`); fitting, validation and building the tensor are shared.
    """

    #: Short name, as :func:`make_encoding` knows it.
    name: str
    #: True when architectures with equal ``canonical_hash`` always get identical rows.
    invariant: bool

    def __init__(self) -> None:
        self._space: str | None = None
        self._cell_names: tuple[str, ...] = ()
        self._columns: tuple[dict[str, int], ...] = ()
        self._feature_names: tuple[str, ...] = ()

    # -- What subclasses define ------------------------------------------------------------------------

    @abstractmethod
    def _cell_bag(self, cell: Cell) -> _Bag:
        """The features of one cell (cached by the subclass)."""

    @abstractmethod
    def _layout(self, architectures: list[Architecture]) -> list[tuple[int, str]]:
        """The columns, in order, as ``(cell position, feature key)`` pairs learned from ``architectures``."""

    def _row_scale(self, squared_norm: float) -> float:
        """Factor applied to a row whose full feature vector has this squared norm (1 but for WL)."""
        return 1.0

    # -- The contract ----------------------------------------------------------------------------------

    def fit(self, architectures: Iterable[Architecture]) -> Self:
        """Learn the vocabulary and layout from ``architectures`` (all of one space); returns ``self``.

        A feature no fitted architecture has gets no column. For a model that weighs each column (an ARD
        kernel, a network), fit on the training and candidate architectures together; for a linear
        kernel the training ones suffice (see the module notes and :meth:`squared_norms`).

        Raises:
            ValueError: ``architectures`` is empty.
            InvalidArchitectureError: they mix spaces or cell names, or have no cell graph.
        """
        archs = _as_architectures(architectures, "fit")
        if not archs:
            raise ValueError(f"{type(self).__name__}.fit needs at least one architecture, got none.")
        first = archs[0]
        if not first.cells:
            raise InvalidArchitectureError(
                f"Architectures of space {first.space!r} have no cell graph, so {type(self).__name__} has "
                "nothing to encode; give the space a graph builder (CategoricalSpace(..., graph=...))."
            )
        cell_names = tuple(name for name, _ in first.cells)
        for architecture in archs:
            _check(architecture, first.space, cell_names, self)
        self._space, self._cell_names = first.space, cell_names
        columns: list[dict[str, int]] = [{} for _ in self._cell_names]
        names: list[str] = []
        for index, (position, key) in enumerate(self._layout(archs)):
            columns[position][key] = index
            names.append(f"{self._cell_names[position]}:{key}")
        self._columns = tuple(columns)
        self._feature_names = tuple(names)
        return self

    def transform(self, architectures: Iterable[Architecture]) -> torch.Tensor:
        """Encode ``architectures``.

        Args:
            architectures: ``n`` architectures of the space the encoding was fitted on.

        Returns:
            ``n x d`` float64 tensor (``d`` = :attr:`dim`), row ``i`` encoding ``architectures[i]``.

        Raises:
            EncodingNotFittedError: :meth:`fit` has not been called.
            InvalidArchitectureError: an architecture is of another space or has other cells.
        """
        self._require_fit()
        archs = _as_architectures(architectures, "transform")
        if 8 * len(archs) * self.dim > LARGE_TENSOR_BYTES:
            logger.warning(
                "%s allocates a dense %d x %d float64 tensor (%.1f GiB). To shrink it, fit on fewer "
                "architectures (for a linear kernel, the training ones suffice), truncate paths or lower h.",
                self,
                len(archs),
                self.dim,
                8 * len(archs) * self.dim / 2**30,
            )
        rows: list[int] = []
        cols: list[int] = []
        values: list[float] = []
        for row, architecture in enumerate(archs):
            self._check(architecture)
            bags = [self._cell_bag(cell) for _, cell in architecture.cells]
            scale = self._row_scale(sum(bag.squared_norm for bag in bags))
            for lookup, bag in zip(self._columns, bags, strict=True):
                for key, value in zip(bag.keys, bag.values, strict=True):
                    col = lookup.get(key)
                    if col is not None:
                        rows.append(row)
                        cols.append(col)
                        values.append(value * scale)
        encoded = torch.zeros((len(archs), self.dim), dtype=torch.float64)
        if rows:
            encoded[torch.tensor(rows), torch.tensor(cols)] = torch.tensor(values, dtype=torch.float64)
        return encoded

    def fit_transform(self, architectures: Iterable[Architecture]) -> torch.Tensor:
        """:meth:`fit` on ``architectures``, then the ``n x d`` tensor of :meth:`transform`."""
        archs = _as_architectures(architectures, "fit_transform")
        return self.fit(archs).transform(archs)

    def squared_norms(self, architectures: Iterable[Architecture]) -> torch.Tensor:
        """Squared norm of each architecture's full feature vector, unknown features included.

        This is ``k(x, x)`` of the linear kernel as a vocabulary holding all of ``x``'s features would give
        it (1, or 0 for an empty graph, for the normalised WL encoding), so a surrogate fitted with a
        small vocabulary still has exact prior variances at new architectures.

        Args:
            architectures: ``n`` architectures of the space the encoding was fitted on.

        Returns:
            ``n`` float64 tensor.
        """
        self._require_fit()
        norms = []
        for architecture in _as_architectures(architectures, "squared_norms"):
            self._check(architecture)
            squared_norm = sum(self._cell_bag(cell).squared_norm for _, cell in architecture.cells)
            norms.append(squared_norm * self._row_scale(squared_norm) ** 2)
        return torch.tensor(norms, dtype=torch.float64)

    @property
    def dim(self) -> int:
        """Number of columns ``d`` of every transform (fixed by :meth:`fit`)."""
        self._require_fit()
        return len(self._feature_names)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Readable name of each of the :attr:`dim` columns, prefixed by its cell's name."""
        self._require_fit()
        return self._feature_names

    @property
    def is_fitted(self) -> bool:
        return self._space is not None

    def _require_fit(self) -> None:
        if self._space is None:
            raise EncodingNotFittedError(
                f"{type(self).__name__} is not fitted; call .fit(architectures) before encoding."
            )

    def _check(self, architecture: Architecture) -> None:
        _check(architecture, self._space, self._cell_names, self)


def _check(
    architecture: Architecture, space: str | None, cell_names: tuple[str, ...], encoding: Encoding
) -> None:
    """Raise unless ``architecture`` is of ``space`` and has the cells ``cell_names``, in that order."""
    if architecture.space != space:
        raise InvalidArchitectureError(
            f"Architecture {architecture.text!r} is of space {architecture.space!r}, but this "
            f"{type(encoding).__name__} is fitted on space {space!r}; fit it on architectures of one space."
        )
    if tuple(name for name, _ in architecture.cells) != cell_names:
        raise InvalidArchitectureError(
            f"Architecture {architecture.text!r} has cells {[name for name, _ in architecture.cells]}, "
            f"but this {type(encoding).__name__} is fitted on cells {list(cell_names)}."
        )


def _as_architectures(architectures: Iterable[Architecture], method: str) -> list[Architecture]:
    if isinstance(architectures, Architecture):
        raise TypeError(f"{method} takes a sequence of architectures; wrap a single one in a list: [arch].")
    archs = list(architectures)
    for architecture in archs:
        if not isinstance(architecture, Architecture):
            raise TypeError(
                f"{method} takes Architecture objects, got {type(architecture).__name__}: {architecture!r}. "
                "Build them with space.from_params(...) or space.parse(...)."
            )
    return archs


# -- Adjacency one-hot -----------------------------------------------------------------------------------


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

    def _cell_bag(self, cell: Cell) -> _Bag:
        return _adjacency_bag(cell)

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
def _adjacency_bag(cell: Cell) -> _Bag:
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
    return _bag(items)


# -- Paths -----------------------------------------------------------------------------------------------


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

    def _cell_bag(self, cell: Cell) -> _Bag:
        return _path_bag(cell, self.counts)

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
def _path_bag(cell: Cell, counts: bool) -> _Bag:
    return _bag(
        {
            ">".join(_token(label, ">") for label in path): count if counts else 1
            for path, count in cell_paths(cell).items()
        }
    )


def _token(label: str, separators: str) -> str:
    # Quote a label holding a character that joins labels, so that keys stay unambiguous.
    return json.dumps(label) if any(char in label for char in separators + '"') else label


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

    def _cell_bag(self, cell: Cell) -> _Bag:
        return _wl_bag(cell, self.h)

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
    names = [_token(label, "(),") for label in dag.labels]
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
def _wl_bag(cell: Cell, h: int) -> _Bag:
    return _bag(
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


def clear_caches() -> None:
    """Empty the per-cell feature caches (they hold at most :data:`CACHE_SIZE` cells each)."""
    for cached in (_adjacency_bag, _path_bag, _wl_bag):
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
