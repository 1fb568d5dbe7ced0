"""The log file that takes bench tasks' warnings and log records off the terminal.

Its own module, outside the bench caches' fingerprints (unlike :mod:`benchmarks.pool`, whose worker
settings can change results): how warnings are collected never changes what a run computes.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from bonas.library_warnings import loggers_of

Result = TypeVar("Result")

#: How an invocation's header line in the log starts (messages start with their task's ``[label]``).
HEADER = "=== "


class WarningLog:
    """The warnings and log records (WARNING and above) of bench tasks, written to one file and counted.

    Third-party libraries warn a lot in a bench (Optuna's ``GPSampler`` falls back to random sampling
    hundreds of times on NB301's conditional space); on the terminal they would bury the progress bar
    and the tables. Each invocation appends to the file after a header line of its own (when it
    started, and its command line): an earlier invocation's warnings are kept, and :attr:`count` is this
    one's.

    Args:
        path: the log file (its folder is created).
        invocation: the command line named in the header (default: this process's).
    """

    def __init__(self, path: Path, invocation: str | None = None) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        command = invocation if invocation is not None else " ".join(sys.argv)
        with path.open("a") as file:
            file.write(f"{HEADER}{datetime.now():%Y-%m-%d %H:%M:%S}: {command}\n")
            self._start = file.tell()

    def write(self, label: str, messages: list[str]) -> None:
        """Append ``messages`` of the task called ``label``."""
        append_to(self.path, label, messages)

    @property
    def count(self) -> int:
        """The messages this invocation appended, including those its worker processes wrote while starting."""
        with self.path.open("rb") as file:
            file.seek(self._start)
            return sum(1 for line in file if not line.startswith(HEADER.encode()))

    @contextmanager
    def capture(self, label: str) -> Iterator[None]:
        """Append the warnings raised inside the block (in this process) under ``label``."""
        with collecting_warnings() as messages:
            yield
        self.write(label, messages)

    def summary(self) -> str:
        """One line for the terminal: how many warnings, and where they are."""
        if not self.count:
            return "No warnings."
        return f"{self.count} warnings (mostly third-party) written to {self.path}."


def append_to(path: Path, label: str, messages: list[str]) -> None:
    """Append ``messages`` to the log file at ``path``, one line each, labelled."""
    if messages:
        with path.open("a") as file:
            file.writelines(f"[{label}] {message}\n" for message in messages)


def _one_line(warning: warnings.WarningMessage) -> str:
    text = warnings.formatwarning(warning.message, warning.category, warning.filename, warning.lineno)
    return text.strip().replace("\n", " | ")


class _Collector(logging.Handler):
    def __init__(self, messages: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.messages = messages
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(self.format(record).replace("\n", " | "))


#: Libraries whose loggers print through their own handlers instead of propagating to the root logger.
_LIBRARIES_WITH_OWN_HANDLERS = ("optuna", "torch")


def _own_handler_loggers() -> list[logging.Logger]:
    """The loggers of :data:`_LIBRARIES_WITH_OWN_HANDLERS`, sub-loggers included, that print on their own."""
    loggers = loggers_of(_LIBRARIES_WITH_OWN_HANDLERS)
    return [logger for logger in loggers if logger.handlers or not logger.propagate]


@contextmanager
def collecting_warnings() -> Iterator[list[str]]:
    """Collect, not print, the warnings and WARNING+ log records raised inside the block.

    Optuna's and torch's loggers (torch's sub-loggers too) print through their own handlers and do not
    propagate (torch's says, for one, "No CUDA runtime is found" when BoTorch compiles its fused
    qLogNEHVI kernel); inside the block they propagate to the collector instead, and afterwards they are
    as they were. The list yielded is complete once the block has ended.
    """
    messages: list[str] = []
    root = logging.getLogger()
    own = _own_handler_loggers()
    saved_root, saved_own = root.handlers[:], [(logger.handlers[:], logger.propagate) for logger in own]
    root.handlers = [_Collector(messages)]
    for logger in own:
        logger.handlers, logger.propagate = [], True
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            yield messages
    finally:
        root.handlers = saved_root
        for logger, (handlers, propagate) in zip(own, saved_own, strict=True):
            logger.handlers, logger.propagate = handlers, propagate
        messages += [_one_line(warning) for warning in caught]


def run_collecting_warnings(function: Callable[..., Result], *task: Any) -> tuple[Result, list[str]]:
    """``function(*task)`` and the warnings and WARNING+ log records it raised (see :func:`collecting_warnings`)."""
    with collecting_warnings() as messages:
        result = function(*task)
    return result, messages


def log_warnings_of_this_process(path: Path) -> None:
    """Append the Python warnings this process raises from now on to the log file at ``path`` (under
    "worker start") instead of printing them: a worker's, while it imports a task's modules."""

    def to_log(message, category, filename, lineno, file=None, line=None) -> None:  # type: ignore[no-untyped-def]
        warning = warnings.WarningMessage(message, category, filename, lineno, file, line)
        append_to(path, "worker start", [_one_line(warning)])

    warnings.showwarning = to_log
