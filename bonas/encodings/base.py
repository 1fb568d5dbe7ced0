"""The base of every encoding: fitting a vocabulary, validating architectures, building the tensor.

Each encoding works cell by cell. What a cell contributes (its :class:`FeatureBag`, such as the multiset
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
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Self

import torch

from bonas.architecture import Architecture, Cell
from bonas.errors import InvalidArchitectureError, NotFittedError

logger = logging.getLogger(__name__)

#: Distinct cells whose features each cache keeps (NB201 has 15,625 cells, NAS-Bench-Graph 59,040).
CACHE_SIZE = 2**16

#: Size above which :meth:`Encoding.transform` logs a warning about the dense tensor it allocates.
LARGE_TENSOR_BYTES = 2**30


@dataclass(frozen=True, slots=True)
class FeatureBag:
    """The features of one cell: distinct keys (interned strings, shared between cells) and values."""

    keys: tuple[str, ...]
    values: tuple[int, ...]
    squared_norm: int


def feature_bag(items: dict[str, int]) -> FeatureBag:
    """The bag of ``items`` (feature key -> count), with its keys interned."""
    return FeatureBag(
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
    def _cell_bag(self, cell: Cell) -> FeatureBag:
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


def label_token(label: str, separators: str) -> str:
    """``label`` as a feature-key part: quoted when it holds a character that joins labels (or a quote),
    so that keys stay unambiguous."""
    return json.dumps(label) if any(char in label for char in separators + '"') else label
