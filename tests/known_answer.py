"""The known-answer NB201 problem several test modules search: count the ``nor_conv_3x3`` edges.

Its optimum is the all-``nor_conv_3x3`` cell; a tie-break below 0.01 (:func:`bonas.testing.samplers.
hashed_score`) makes every other value distinct, so seeded searches either always find it or never do.
"""

from __future__ import annotations

from bonas.architecture import Architecture
from bonas.testing.samplers import hashed_score

#: The operation whose count makes the known-answer NB201 problem (optimum: the all-CONV cell).
CONV = "nor_conv_3x3"


def conv_count(architecture: Architecture) -> float:
    """Number of nor_conv_3x3 edges of an NB201 cell, plus a tie-break below 0.01."""
    return sum(value == CONV for _, value in architecture.params) + 0.01 * hashed_score(architecture)
