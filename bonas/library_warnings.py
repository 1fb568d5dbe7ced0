"""Installed libraries' warnings during a command-line search go to a log file, not the terminal, and
GPyTorch's Cholesky jitter warnings during a proposal go to bonas's log (:func:`jitter_to_debug_log`).

A search imports torch, BoTorch, GPyTorch and Optuna, which warn about their own deprecations, numerical
jitter and missing GPUs (``torch.jit.script is deprecated``, ``A not p.d., added jitter``, ``No CUDA
runtime is found``): on the terminal they bury what bonas says about the search. Inside
:func:`library_warnings_to`, Python warnings raised from installed packages and the standard library,
and the records below ERROR that torch's loggers print through their own terminal handlers, are appended
to a file; bonas's own warnings and those of the user's code outside installed packages (an objective
function in a script or a checkout) still print.
"""

from __future__ import annotations

import importlib
import logging
import re
import site
import sysconfig
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: Libraries whose loggers print through their own handlers; their records go to the file.
_LIBRARY_LOGGERS = ("torch",)

logger = logging.getLogger(__name__)

#: linear_operator's NumericalWarning when a covariance needed jitter to factorise (handled by it).
_JITTER = re.compile(r"not p\.d\., added jitter")


@contextmanager
def jitter_to_debug_log() -> Iterator[None]:
    """Inside the block, GPyTorch's "A not p.d., added jitter" warnings go to bonas's log at DEBUG, as
    one line with their count: a GP fit raises dozens per proposal, which the library handles itself
    and no user can act on.

    Only the display of warnings is intercepted (``warnings.showwarning``): the filters are left alone, so
    the user's filters apply, and a warning shown once per place is still shown once (entering
    ``warnings.catch_warnings`` would reset that record at every proposal)."""
    shown = warnings.showwarning
    jitter: list[str] = []

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # type: ignore[no-untyped-def]
        if _JITTER.search(str(message)):
            jitter.append(str(message))
            return
        shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        if warnings.showwarning is show:  # a hook installed inside the block (and not undone) stays
            warnings.showwarning = shown
        if jitter:
            logger.debug(
                "%d GPyTorch jitter warning(s) in the proposal, the last: %s", len(jitter), jitter[-1]
            )


@dataclass
class LibraryWarnings:
    """Where the block's library warnings went, and how many there were."""

    path: Path
    count: int = 0

    def summary(self) -> str | None:
        """One line for the terminal, or None when there was nothing."""
        if not self.count:
            return None
        noun = "warning" if self.count == 1 else "warnings"
        return f"{self.count} {noun} of installed libraries (torch, BoTorch, Optuna, ...) written to {self.path}."


def _library_roots() -> tuple[Path, ...]:
    paths = sysconfig.get_paths()
    found = [paths[key] for key in ("purelib", "platlib", "stdlib") if key in paths]
    found += [*site.getsitepackages(), site.getusersitepackages()]
    return tuple(dict.fromkeys(Path(p).resolve() for p in found))


def is_library_file(filename: str, roots: tuple[Path, ...] | None = None) -> bool:
    """Whether ``filename`` belongs to an installed package or the standard library (not to bonas, which
    may be installed too, nor to the user's code outside them)."""
    roots = _library_roots() if roots is None else roots
    try:
        path = Path(filename).resolve()
    except (OSError, RuntimeError):  # pragma: no cover - an unreadable path
        return False
    bonas_root = Path(__file__).resolve().parent
    return any(path.is_relative_to(root) for root in roots) and not path.is_relative_to(bonas_root)


class _ToFile(logging.Handler):
    """Writes the records below ERROR of a library's logger to the file (errors stay on the terminal)."""

    def __init__(self, record: LibraryWarnings) -> None:
        super().__init__()
        self.record = record
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.addFilter(lambda r: r.levelno < logging.ERROR)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _append(self.record, self.format(record))
        except Exception:  # a log that cannot be written must not fail the search
            self.handleError(record)


def _append(record: LibraryWarnings, text: str) -> None:
    record.path.parent.mkdir(parents=True, exist_ok=True)
    with record.path.open("a", encoding="utf-8", errors="backslashreplace") as file:
        file.write(text.strip().replace("\n", " | ") + "\n")
    record.count += 1


class _ErrorsOf(logging.Handler):
    """Passes a terminal handler the records of ERROR and above only (the handler itself, which other
    loggers may share, is left as it is)."""

    def __init__(self, handler: logging.Handler) -> None:
        super().__init__(logging.ERROR)
        self.handler = handler

    def emit(self, record: logging.LogRecord) -> None:
        self.handler.handle(record)


def _is_terminal(handler: logging.Handler) -> bool:
    """A handler that prints to a stream (torch's ``_StderrHandler``, a ``StreamHandler``): not a file's,
    nor torch's trace handler (``TORCH_TRACE``), which writes its own files."""
    if isinstance(handler, logging.FileHandler) or type(handler).__name__ == "LazyTraceHandler":
        return False
    return getattr(handler, "stream", None) is not None


def loggers_of(libraries: Sequence[str]) -> list[logging.Logger]:
    """The loggers of ``libraries`` and their sub-loggers that exist, each library imported first: a
    library sets its loggers up on import, which would otherwise undo (or come after) any change to them."""
    for library in libraries:
        importlib.import_module(library)
    return [
        logger
        for name, logger in list(logging.Logger.manager.loggerDict.items())
        if name.split(".")[0] in libraries and isinstance(logger, logging.Logger)
    ]


@contextmanager
def library_warnings_to(path: Path) -> Iterator[LibraryWarnings]:
    """Append the library warnings raised inside the block to the file at ``path`` (created when the
    first one comes; earlier runs' lines are kept). Everything is as it was after the block."""
    record = LibraryWarnings(Path(path))
    roots = _library_roots()
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # type: ignore[no-untyped-def]
        if is_library_file(filename, roots):
            try:
                _append(record, warnings.formatwarning(message, category, filename, lineno, line))
                return
            except (OSError, UnicodeError):  # the log cannot be written: show it instead
                pass
        shown(message, category, filename, lineno, file, line)

    to_file = _ToFile(record)
    saved: list[tuple[logging.Logger, list[logging.Handler]]] = []
    for logger in loggers_of(_LIBRARY_LOGGERS):
        if not any(_is_terminal(handler) for handler in logger.handlers):
            continue
        saved.append((logger, logger.handlers))
        # One that propagates reaches the file through its library's logger.
        logger.handlers = [
            *(_ErrorsOf(h) if _is_terminal(h) else h for h in logger.handlers),
            *([] if logger.propagate else [to_file]),
        ]
    warnings.showwarning = show
    try:
        yield record
    finally:
        warnings.showwarning = shown
        for logger, handlers in saved:
            logger.handlers = handlers
