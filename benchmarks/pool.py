"""Running bench tasks in worker processes, the progress bar a person watches meanwhile, and the log
file that takes the tasks' warnings off the terminal."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

#: Called with the number of tasks just finished (or found cached), e.g. a progress bar's ``update``.
Progress = Callable[[int], object]

Task = TypeVar("Task", bound=tuple[Any, ...])
Result = TypeVar("Result")


def progress_bar(total: int, desc: str, unit: str) -> AbstractContextManager[tqdm]:
    """A progress bar over ``total`` tasks, with elapsed and estimated remaining time."""
    return tqdm(total=total, desc=desc, unit=unit)


class WarningLog:
    """The warnings and log records (WARNING and above) of bench tasks, written to one file and counted.

    Third-party libraries warn a lot in a bench (Optuna's ``GPSampler`` falls back to random sampling
    hundreds of times on NB301's conditional space); on the terminal they would bury the progress bar
    and the tables. The file is started afresh for each invocation.

    Args:
        path: the log file (its folder is created).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")

    def write(self, label: str, messages: list[str]) -> None:
        """Append ``messages`` of the task called ``label``."""
        append_to(self.path, label, messages)

    @property
    def count(self) -> int:
        """The messages in the file, including those worker processes wrote while starting."""
        with self.path.open() as file:
            return sum(1 for _ in file)

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


#: Libraries whose loggers print through their own handler instead of propagating to the root logger.
_LOGGERS_WITH_OWN_HANDLERS = ("optuna", "torch")


@contextmanager
def collecting_warnings() -> Iterator[list[str]]:
    """Collect, not print, the warnings and WARNING+ log records raised inside the block.

    Optuna's and torch's loggers print through their own handlers and do not propagate (torch's says,
    for one, "No CUDA runtime is found" when BoTorch compiles its fused qLogNEHVI kernel); inside the
    block they propagate to the collector instead. The list yielded is complete once the block has ended.
    """
    messages: list[str] = []
    root = logging.getLogger()
    own = [logging.getLogger(name) for name in _LOGGERS_WITH_OWN_HANDLERS]
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


def init_worker(warning_log: str | None = None) -> None:
    """Set up a worker process: single-threaded, as there is one process per task on every core.

    Args:
        warning_log: the path of a :class:`WarningLog`'s file; warnings the worker raises outside a task
            (importing the task's modules, for one) are appended to it instead of printed.
    """
    if warning_log is not None:

        def to_log(message, category, filename, lineno, file=None, line=None) -> None:  # type: ignore[no-untyped-def]
            warning = warnings.WarningMessage(message, category, filename, lineno, file, line)
            append_to(Path(warning_log), "worker start", [_one_line(warning)])

        warnings.showwarning = to_log
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    logging.getLogger("bonas").setLevel(logging.ERROR)


def run_tasks(
    function: Callable[..., Result],
    tasks: Sequence[Task],
    *,
    jobs: int | None = None,
    in_process: bool = False,
    progress: Progress | None = None,
    warning_log: WarningLog | None = None,
    label: Callable[[Task], str] = str,
) -> Iterator[tuple[Task, Result]]:
    """Yield ``(task, function(*task))`` for every task, in the order they finish.

    Args:
        function: a module-level function (worker processes import it by name).
        tasks: argument tuples, started in this order (put the long ones first: the pool's tail is short).
        jobs: worker processes (default: all cores); no process is started when there are no tasks.
        in_process: run the tasks one after the other in this process instead.
        progress: called with 1 once the caller has handled each yielded result.
        warning_log: where the tasks' warnings and log records go instead of the terminal (None: left
            as they are).
        label: names a task in the warning log.
    """

    def finished(task: Task, outcome: Any) -> Result:
        if warning_log is None:
            return outcome
        result, messages = outcome
        warning_log.write(label(task), messages)
        return result

    run: Callable[..., Any] = function
    prefix: tuple[Any, ...] = ()
    if warning_log is not None:
        run, prefix = run_collecting_warnings, (function,)
    if in_process:
        for task in tasks:
            yield task, finished(task, run(*prefix, *task))
            if progress is not None:
                progress(1)
        return
    if not tasks:
        return
    initargs = () if warning_log is None else (str(warning_log.path),)
    workers = jobs or os.cpu_count() or 1
    with ProcessPoolExecutor(max_workers=workers, initializer=init_worker, initargs=initargs) as pool:
        futures = {pool.submit(run, *prefix, *task): task for task in tasks}
        for future in as_completed(futures):
            task = futures[future]
            yield task, finished(task, future.result())
            if progress is not None:
                progress(1)
