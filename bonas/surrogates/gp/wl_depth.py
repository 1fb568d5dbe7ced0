"""How the WL GP chooses its number of Weisfeiler-Lehman iterations ``h``: :class:`WLDepthSelection`.

NAS-BOWL fits one GP per ``h`` among the choices and keeps the one of largest log marginal likelihood.
That costs one fit per choice, so the choice is repeated only every ``reselect_every`` fits; the fits
in between reuse the last choice.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

logger = logging.getLogger(__name__)


class WLDepthSelection:
    """Which depths ``h`` a fit tries, and which one it keeps.

    Each fit asks :meth:`depths_to_try`, fits one GP per depth, and hands their log marginal likelihoods
    to :meth:`keep_best`.

    Args:
        h: a fixed depth, or None to choose among ``h_choices``.
        h_choices: the candidate depths (non-empty, validated by the caller).
        reselect_every: choose on the first fit and then every ``reselect_every`` fits.
    """

    def __init__(self, *, h: int | None, h_choices: tuple[int, ...], reselect_every: int) -> None:
        self.fixed_h = h
        self.h_choices = h_choices
        self.reselect_every = reselect_every
        #: The kept depth (None before the first fit, unless fixed).
        self.h: int | None = h
        #: Log marginal likelihood per depth at the last choice (empty until a choice).
        self.scores: dict[int, float] = {}
        self._fits_since_choice: int | None = None  # None: choose on the next fit

    def depths_to_try(self, *, degenerate: bool) -> tuple[int, ...]:
        """The depths the next fit tries; ``degenerate``: the values cannot rank depths (no spread)."""
        if self.fixed_h is not None:
            return (self.fixed_h,)
        if degenerate:
            # No marginal likelihoods to compare: keep the last choice (or take the middle one) and
            # choose on the next fit.
            self._fits_since_choice = None
            return (self.h if self.h is not None else self.h_choices[len(self.h_choices) // 2],)
        if self._fits_since_choice is None or self._fits_since_choice >= self.reselect_every:
            return self.h_choices
        return (self.h,) if self.h is not None else self.h_choices

    def keep_best(self, scores: Mapping[int, float], *, name: str) -> int:
        """The depth of largest score (NaN counts as -inf; the first on ties), now :attr:`h`.

        Args:
            scores: log marginal likelihood per depth tried, in the order of :meth:`depths_to_try`.
            name: the surrogate's name, for the log.
        """
        best = max(scores, key=lambda h: _score_key(scores[h]))
        if self.fixed_h is None and len(scores) > 1:
            self.scores = dict(scores)
            self._fits_since_choice = 0
            logger.debug("%s: chose h=%d by log marginal likelihood %s", name, best, self.scores)
        if self._fits_since_choice is not None:
            self._fits_since_choice += 1
        self.h = best
        return best


def _score_key(score: float) -> float:
    return score if math.isfinite(score) else -math.inf
