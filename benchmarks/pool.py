"""Running bench tasks in worker processes and the progress bar a person watches meanwhile; the tasks'
warnings go to a :class:`~benchmarks.warning_log.WarningLog`.

The bench caches fingerprint this module: how a worker is set up (its threads) can change what a run
computes."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
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

    Ctrl-C is left to the parent (it reaches the whole process group): a worker interrupted by it would
    report the interrupt as its task's result and go on to the next task, while the parent stops every
    worker itself (see :func:`run_tasks`).

    Args:
        warning_log: the path of a :class:`WarningLog`'s file; warnings the worker raises outside a task
            (importing the task's modules, for one) are appended to it instead of printed.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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

    On Ctrl-C (or when the caller stops early) the queued tasks are cancelled and the workers stopped at
    once; the tasks that had finished by then are still yielded before the interrupt propagates, so that
    the caller can keep their results.

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
    pool = ProcessPoolExecutor(max_workers=workers, initializer=init_worker, initargs=initargs)
    futures = {pool.submit(run, *prefix, *task): task for task in tasks}
    handed: set[Future[Any]] = set()
    try:
        for future in as_completed(futures):
            task = futures[future]
            handed.add(future)
            yield task, finished(task, future.result())
            if progress is not None:
                progress(1)
    except KeyboardInterrupt:
        _stop(pool)
        # Runs that finished while this process waited are results too: hand them over before stopping.
        for future, task in futures.items():
            if (
                future not in handed
                and future.done()
                and not future.cancelled()
                and future.exception() is None
            ):
                handed.add(future)
                yield task, finished(task, future.result())
        raise
    except BaseException:  # a failed task, or the caller stopped early (GeneratorExit)
        _stop(pool)
        raise
    pool.shutdown()


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel ``pool``'s queued tasks and stop its workers without waiting for the running ones (a
    plain shutdown waits for every queued task: minutes after a Ctrl-C)."""
    processes = list((pool._processes or {}).values())  # Python 3.11 has no terminate_workers
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
