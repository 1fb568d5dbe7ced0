"""Running bench tasks in worker processes and the progress bar a person watches meanwhile; the tasks'
warnings go to a :class:`~benchmarks.warning_log.WarningLog`.

The bench caches fingerprint this module: how a worker is set up (its threads) can change what a run
computes."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from benchmarks.warning_log import WarningLog, log_warnings_of_this_process, run_collecting_warnings

#: Called with the number of tasks just finished (or found cached), e.g. a progress bar's ``update``.
Progress = Callable[[int], object]

Task = TypeVar("Task", bound=tuple[Any, ...])
Result = TypeVar("Result")


def progress_bar(total: int, desc: str, unit: str) -> AbstractContextManager[tqdm]:
    """A progress bar over ``total`` tasks, with elapsed and estimated remaining time."""
    return tqdm(total=total, desc=desc, unit=unit)


def init_worker(warning_log: str | None = None) -> None:
    """Set up a worker process: single-threaded, as there is one process per task on every core.

    Args:
        warning_log: the path of a :class:`WarningLog`'s file; warnings the worker raises outside a task
            (importing the task's modules, for one) are appended to it instead of printed.
    """
    if warning_log is not None:
        log_warnings_of_this_process(Path(warning_log))
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
