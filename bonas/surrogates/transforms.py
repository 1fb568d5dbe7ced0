"""Transforms of the values a surrogate models: :func:`copula_transform` (the Gaussian copula).

BO and NAO model the normal scores of the values' ranks rather than the values: robust to the long tail
of broken architectures and to the metric's scale, and the ranking (hence the argmax) is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.stats


def copula_transform(values: Sequence[float]) -> list[float]:
    """The normal scores of the ranks of ``values``: ``Phi^-1((rank - 0.5) / n)``, ranks from 1 to ``n``.

    Ties share their mean rank, hence one score. The scores are symmetric about 0 (their mean is 0) and
    in the order of ``values``.

    Args:
        values: ``n >= 1`` finite values.

    Returns:
        ``n`` floats, one per value.
    """
    ranks = scipy.stats.rankdata(values)  # ties share their mean rank
    return [float(v) for v in scipy.stats.norm.ppf((ranks - 0.5) / len(values))]


def lower_copula_transform(values: Sequence[float]) -> list[float]:
    """The copula below the median, an affine map above it: robust to the long tail of broken
    architectures without turning noise among the best into confident ranks.

    The copula spreads the best values by rank, so one lucky draw a little above the others becomes a
    normal score far above theirs, and noise of a fixed size in the values becomes larger noise the
    higher the rank. Above the median the values are kept as they are, centred on the median and divided
    by their root mean square distance to it (a half-normal's scale), so that noise of a fixed size stays
    of a fixed size where the optimum is; below it, the normal scores of the ranks, as
    :func:`copula_transform` gives them. Monotone, so the ranking is unchanged.

    Args:
        values: ``n >= 1`` finite values.

    Returns:
        ``n`` floats, one per value, in the order of ``values``: 0 at the median.
    """
    array = np.asarray(values, dtype=float)
    scores = np.asarray(copula_transform(values))
    median = float(np.median(array))
    upper = array >= median
    scale = float(np.sqrt(np.mean((array[upper] - median) ** 2)))
    if scale <= 0:  # all the upper half at the median: only the copula's ranks are left
        return [float(v) for v in scores]
    transformed = np.where(upper, (array - median) / scale, np.minimum(scores, 0.0))
    return [float(v) for v in transformed]
