"""Installed libraries' warnings during a command-line search go to a log file, not the terminal.

A search imports torch, BoTorch, GPyTorch and Optuna, which warn about their own deprecations, numerical
jitter and missing GPUs (``torch.jit.script is deprecated``, ``A not p.d., added jitter``, ``No CUDA
runtime is found``): on the terminal they bury what bonas says about the search. Inside
:func:`library_warnings_to`, Python warnings raised from installed packages and the standard library,
and the records of torch's loggers (which print through their own handlers), are appended to a file;
bonas's own warnings and those of the user's code (an objective function) still print.
"""

from __future__ import annotations

import importlib
import logging
import sysconfig
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: Libraries whose loggers print through their own handlers; their records go to the file.
_LIBRARY_LOGGERS = ("torch",)


@dataclass
class LibraryWarnings:
    """Where the block's library warnings went, and how many there were."""

    path: Path
    count: int = 0

    def summary(self) -> str | None:
        """One line for the terminal, or None when there was nothing."""
        if not self.count:
            return None
        return f"{self.count} warnings of installed libraries (torch, BoTorch, Optuna, ...) written to {self.path}."


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple(str(Path(paths[key]).resolve()) for key in ("purelib", "platlib", "stdlib") if key in paths)


def is_library_file(filename: str, roots: tuple[str, ...] | None = None) -> bool:
    """Whether ``filename`` belongs to an installed package or the standard library (not to bonas, which
    may be installed too, nor to the user's code)."""
    roots = _library_roots() if roots is None else roots
    try:
        path = str(Path(filename).resolve())
    except (OSError, RuntimeError):  # pragma: no cover - an unreadable path
        return False
    bonas_root = str(Path(__file__).resolve().parent)
    return path.startswith(roots) and not path.startswith(bonas_root)


class _ToFile(logging.Handler):
    def __init__(self, record: LibraryWarnings) -> None:
        super().__init__(logging.WARNING)
        self.record = record
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        _append(self.record, self.format(record))


def _append(record: LibraryWarnings, text: str) -> None:
    record.path.parent.mkdir(parents=True, exist_ok=True)
    with record.path.open("a") as file:
        file.write(text.strip().replace("\n", " | ") + "\n")
    record.count += 1


@contextmanager
def library_warnings_to(path: Path) -> Iterator[LibraryWarnings]:
    """Append the library warnings raised inside the block to the file at ``path`` (created when the
    first one comes; earlier runs' lines are kept). Everything is as it was after the block."""
    record = LibraryWarnings(Path(path))
    roots = _library_roots()
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # type: ignore[no-untyped-def]
        if is_library_file(filename, roots):
            _append(record, warnings.formatwarning(message, category, filename, lineno, line))
        else:
            shown(message, category, filename, lineno, file, line)

    for library in _LIBRARY_LOGGERS:
        importlib.import_module(library)  # it sets its loggers up on import: before they are switched
    loggers = [
        logger
        for name, logger in list(logging.Logger.manager.loggerDict.items())
        if name.split(".")[0] in _LIBRARY_LOGGERS and isinstance(logger, logging.Logger) and logger.handlers
    ]
    saved = [logger.handlers[:] for logger in loggers]
    handler = _ToFile(record)
    for logger in loggers:
        # One that propagates reaches the file through its library's logger.
        logger.handlers = [] if logger.propagate else [handler]
    warnings.showwarning = show
    try:
        yield record
    finally:
        warnings.showwarning = shown
        for logger, handlers in zip(loggers, saved, strict=True):
            logger.handlers = handlers
