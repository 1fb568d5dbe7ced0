"""The exceptions bonas raises.

Every error derives from :class:`BonasError` and from the built-in exception it resembles, so callers
can catch either ``bonas.errors.BonasError`` or the familiar built-in (``ValueError``...).
"""

from __future__ import annotations

import difflib


class BonasError(Exception):
    """Root of every error raised by bonas."""


class InvalidArchitectureError(BonasError, ValueError):
    """An architecture, architecture string or parameter dict is not part of the search space."""


class UnknownNameError(BonasError, ValueError):
    """A name (benchmark, dataset, searcher, operation...) is not one bonas knows."""


class SetupError(BonasError):
    """What an objective needs besides the architecture is wrong (a missing data file, an incompatible
    checkpoint): every evaluation would fail alike, so a search stops at the first one, and the
    architecture it was evaluating is not counted as failing."""


class DataFileNotFoundError(SetupError, FileNotFoundError):
    """A data file bonas needs is not where it was looked for."""


class DataFileError(BonasError, ValueError):
    """A data file is present but does not hold what bonas expects (cut short, wrong columns or keys)."""


class SearchSpaceTooLargeError(BonasError, ValueError):
    """An operation that needs the whole space (enumeration) was asked of a space too large for it."""


class NotFittedError(BonasError, RuntimeError):
    """A model or encoding was used before it was fitted."""


class SearchSpaceExhaustedError(BonasError, RuntimeError):
    """Every architecture of the space has already been evaluated."""


class InvalidArgumentError(BonasError, ValueError):
    """An argument of a bonas function or command is out of its range (the message names it)."""


class ArgumentTypeError(BonasError, TypeError):
    """An argument of a bonas function is of the wrong type (``n_trials="10"``, ``seed="a"``)."""


class CheapMetricsError(BonasError, ValueError):
    """A user's ``cheap_metrics(architecture)`` returned something other than a dict of finite numbers."""


def unknown_name(kind: str, value: object, valid: object) -> UnknownNameError:
    """Build the error for an unknown ``kind`` name: the closest valid names first ("did you mean"), then
    every valid one."""
    names = sorted(valid, key=str)  # type: ignore[call-overload]
    valid_list = ", ".join(repr(v) for v in names)
    plural = kind + ("es" if kind.endswith(("s", "sh", "ch", "x")) else "s")
    close = difflib.get_close_matches(str(value), [str(v) for v in names], n=3)
    hint = f" Did you mean {' or '.join(repr(v) for v in close)}?" if close else ""
    return UnknownNameError(f"Unknown {kind} {value!r}.{hint} Valid {plural}: {valid_list}.")
