"""Running bench tasks in worker processes, and the progress bar a person watches meanwhile."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from tqdm import tqdm

#: Called with the number of tasks just finished (or found cached), e.g. a progress bar's ``update``.
Progress = Callable[[int], object]

Task = TypeVar("Task", bound=tuple[Any, ...])
Result = TypeVar("Result")


def progress_bar(total: int, desc: str, unit: str) -> AbstractContextManager[tqdm]:
    """A progress bar over ``total`` tasks, with elapsed and estimated remaining time."""
    return tqdm(total=total, desc=desc, unit=unit)


def init_worker() -> None:
    """Set up a worker process: single-threaded, as there is one process per task on every core."""
    import logging

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
) -> Iterator[tuple[Task, Result]]:
    """Yield ``(task, function(*task))`` for every task, in the order they finish.

    Args:
        function: a module-level function (worker processes import it by name).
        tasks: argument tuples, started in this order (put the long ones first: the pool's tail is short).
        jobs: worker processes (default: all cores); no process is started when there are no tasks.
        in_process: run the tasks one after the other in this process instead.
        progress: called with 1 once the caller has handled each yielded result.
    """
    if in_process:
        for task in tasks:
            yield task, function(*task)
            if progress is not None:
                progress(1)
        return
    if not tasks:
        return
    with ProcessPoolExecutor(max_workers=jobs or os.cpu_count() or 1, initializer=init_worker) as pool:
        futures = {pool.submit(function, *task): task for task in tasks}
        for future in as_completed(futures):
            yield futures[future], future.result()
            if progress is not None:
                progress(1)
