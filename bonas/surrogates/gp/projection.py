"""Projection of sparse bag-of-features rows onto a model's columns, plus the norm of the rest.

A fitted model uses the features its training set has (:func:`training_columns`), plus one last column
holding the norm of an architecture's other features (:func:`project`): that keeps the kernel between
any architecture and the training set exact, and its prior variance too, while the input dimension
stays that of the training set.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import torch
from torch import Tensor


def training_columns(rows: scipy.sparse.csr_matrix, max_columns: int | None) -> np.ndarray:
    """The columns some training row uses, sorted; the ``max_columns`` most used ones if given.

    Args:
        rows: ``n x G`` sparse feature rows of the training architectures.
        max_columns: keep at most this many columns (most used first, ties by column id); None keeps all.

    Returns:
        ``k`` sorted column ids.
    """
    used = np.bincount(rows.indices, minlength=rows.shape[1])
    columns = np.flatnonzero(used)
    if max_columns is not None and columns.size > max_columns:
        order = np.lexsort((columns, -used[columns]))  # most used first, then by column id
        columns = np.sort(columns[order[:max_columns]])
    return columns


def project(rows: scipy.sparse.csr_matrix, columns: np.ndarray) -> Tensor:
    """``n x (k + 1)`` dense features: the ``k`` model ``columns``, then the norm of the rest.

    The last column holds ``sqrt(sum of squares of the features outside columns)``. Training rows have
    (nearly) nothing outside, so for a linear kernel ``k(x, train)`` is unchanged while ``k(x, x)`` keeps
    the mass of features no training architecture has (the true prior variance of a novel
    architecture); for a stationary kernel the distance from ``x`` to every training row is exact.

    Args:
        rows: ``n x G`` sparse feature rows.
        columns: the ``k`` column ids the model uses (see :func:`training_columns`).
    """
    kept = rows[:, columns].toarray()
    total = np.asarray(rows.multiply(rows).sum(axis=1)).reshape(-1)
    rest = total - (kept * kept).sum(axis=1)
    rest[rest <= 1e-12 * np.maximum(total, 1.0)] = 0.0
    return torch.from_numpy(np.hstack([kept, np.sqrt(rest)[:, None]]))
