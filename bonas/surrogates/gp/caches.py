"""Encoded rows kept per architecture, so a BO loop encodes each architecture once.

* :class:`RowCache`: dense rows of any encoding function (the categorical GP's parameter codes).
* :class:`FeatureStore`: sparse rows of a bag-of-features encoding (WL colours, paths) over every
  feature met so far; a model picks its columns with :func:`~bonas.surrogates.gp.projection.project`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse
import torch
from torch import Tensor

from bonas.architecture import Architecture
from bonas.encodings import Encoding
from bonas.errors import InvalidArchitectureError

#: New architectures are encoded in batches of this many (bounds the dense matrix an encoding returns).
ENCODE_BATCH = 2048


class RowCache:
    """Rows of ``transform`` cached per architecture (equal architectures share a row).

    Args:
        transform: ``n`` distinct architectures -> ``n x d`` float64 tensor of their rows.
    """

    def __init__(self, transform: Callable[[list[Architecture]], Tensor]) -> None:
        self._transform = transform
        self.clear()

    def clear(self) -> None:
        self._index: dict[Architecture, int] = {}
        self._rows: Tensor | None = None

    def __call__(self, architectures: Sequence[Architecture]) -> Tensor:
        """``n x d`` rows of ``architectures`` (``0 x d`` for none), computing only the missing ones."""
        archs = list(architectures)
        missing = [arch for arch in dict.fromkeys(archs) if arch not in self._index]
        if missing:
            self._append(missing, self._transform(missing))
        if not archs:
            width = 0 if self._rows is None else self._rows.shape[1]
            return torch.zeros((0, width), dtype=torch.float64)
        assert self._rows is not None
        return self._rows[torch.tensor([self._index[arch] for arch in archs])]

    def _append(self, archs: list[Architecture], rows: Tensor) -> None:
        used = len(self._index)
        if self._rows is None or used + len(archs) > self._rows.shape[0]:
            # Grow geometrically: BO loops encode a few pending architectures between large batches.
            grown = torch.zeros((max(2 * (used + len(archs)), 64), rows.shape[1]), dtype=rows.dtype)
            if self._rows is not None:
                grown[:used] = self._rows[:used]
            self._rows = grown
        self._rows[used : used + len(archs)] = rows
        for offset, arch in enumerate(archs):
            self._index[arch] = used + offset


class FeatureStore:
    """Sparse rows of a bag-of-features encoding (WL colours, paths), computed once per architecture.

    Each batch of new architectures is encoded by a fresh encoding fitted on that batch, so every stored
    row is complete: it has all of its architecture's features. Columns are global, one per feature
    name, and only grow, so rows never need recomputing; a model picks the columns it uses with
    :func:`~bonas.surrogates.gp.projection.project`.

    Args:
        make_encoding: a new unfitted encoding per batch of new architectures.
    """

    def __init__(self, make_encoding: Callable[[], Encoding]) -> None:
        self._make_encoding = make_encoding
        self._space: str | None = None
        self._columns: dict[str, int] = {}
        self._row: dict[Architecture, int] = {}
        self._indptr: list[np.ndarray] = [np.zeros(1, dtype=np.int64)]
        self._indices: list[np.ndarray] = []
        self._data: list[np.ndarray] = []
        self._matrix: scipy.sparse.csr_matrix | None = None

    def rows(self, architectures: Sequence[Architecture]) -> scipy.sparse.csr_matrix:
        """``n x G`` sparse feature rows (``G`` = features met so far) of ``architectures``.

        Raises:
            InvalidArchitectureError: the architectures (with those stored) come from several spaces.
        """
        index = [self._row.get(arch) for arch in architectures]
        if None in index:
            missing = [arch for arch, row in zip(architectures, index, strict=True) if row is None]
            missing = list(dict.fromkeys(missing))
            for start in range(0, len(missing), ENCODE_BATCH):
                self._add(missing[start : start + ENCODE_BATCH])
            index = [self._row[arch] for arch in architectures]
        if self._matrix is None:
            self._matrix = scipy.sparse.csr_matrix(
                (
                    np.concatenate([np.zeros(0), *self._data]),
                    np.concatenate([np.zeros(0, np.int64), *self._indices]),
                    np.concatenate(self._indptr),
                ),
                shape=(len(self._row), len(self._columns)),
            )
        return self._matrix[np.asarray(index, dtype=np.int64)]

    def _add(self, architectures: list[Architecture]) -> None:
        spaces = {architecture.space for architecture in architectures}
        if self._space is not None:
            spaces.add(self._space)
        if len(spaces) > 1:
            raise InvalidArchitectureError(
                f"Architectures of spaces {sorted(spaces)} given to one surrogate; use one surrogate per space."
            )
        self._space = spaces.pop()
        encoding = self._make_encoding().fit(architectures)
        dense = encoding.transform(architectures).numpy()
        ids = np.array(
            [self._columns.setdefault(name, len(self._columns)) for name in encoding.feature_names],
            dtype=np.int64,
        )
        rows, cols = np.nonzero(dense)  # row-major: sorted by row
        offset = len(self._row)
        self._indptr.append(self._indptr[-1][-1] + np.cumsum(np.bincount(rows, minlength=len(architectures))))
        self._indices.append(ids[cols])
        self._data.append(dense[rows, cols])
        self._row.update((arch, offset + i) for i, arch in enumerate(architectures))
        self._matrix = None
