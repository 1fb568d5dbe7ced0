"""Transforms of the values a surrogate models: :func:`copula_transform` (the Gaussian copula).

BO and NAO model the normal scores of the values' ranks rather than the values: robust to the long tail
of broken architectures and to the metric's scale, and the ranking (hence the argmax) is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

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
