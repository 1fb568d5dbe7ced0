"""What counts as a number in what a user's code returns (an objective's metrics, ``cheap_metrics``)."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

import numpy as np


def as_number(value: Any) -> float | None:
    """``value`` as a float when it is a number (a Python or NumPy number, a one-element tensor); None for
    what only looks like one (``"91.5"``, a Python, NumPy or torch boolean) or holds several values.
    A one-element NumPy array counts as its element, as a one-element tensor does (NumPy 2 refuses
    ``float()`` of an array with dimensions)."""
    if isinstance(value, np.ndarray):
        if value.size != 1:
            return None
        value = value.item()  # its Python element: a str or bool inside is refused below like any other
    is_bool = isinstance(value, bool | np.bool_) or str(getattr(value, "dtype", "")) in ("bool", "torch.bool")
    if is_bool or isinstance(value, str | bytes) or not hasattr(type(value), "__float__"):
        return None
    with suppress(TypeError, ValueError):
        return float(value)
    return None
