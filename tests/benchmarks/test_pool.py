"""Running bench tasks (``benchmarks.pool``): in worker processes or in this one, with progress."""

from __future__ import annotations

import os

import pytest

# The workers import torch to keep it single-threaded; importing it here lets forked workers inherit it.
import torch

import benchmarks.pool
from benchmarks.pool import run_tasks


def square_in_worker(x: int) -> tuple[int, int, str | None, int]:
    """x squared, the process it ran in, and that process's thread settings."""
    return x * x, os.getpid(), os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads()


def fail_on_two(x: int) -> int:
    if x == 2:
        raise RuntimeError(f"task {x} failed")
    return x


class _NoPool:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("a process pool was started")


def test_tasks_run_in_single_threaded_worker_processes() -> None:
    counted: list[int] = []
    tasks = [(x,) for x in range(5)]
    results = dict(run_tasks(square_in_worker, tasks, jobs=2, progress=counted.append))
    assert {task: result[0] for task, result in results.items()} == {(x,): x * x for x in range(5)}
    assert all(result[1] != os.getpid() for result in results.values())
    assert {result[2:] for result in results.values()} == {("1", 1)}
    assert counted == [1] * 5


def test_in_process_tasks_run_in_order_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(benchmarks.pool, "ProcessPoolExecutor", _NoPool)
    counted: list[int] = []
    results = list(run_tasks(square_in_worker, [(3,), (1,), (2,)], in_process=True, progress=counted.append))
    assert [(task, result[0], result[1]) for task, result in results] == [
        ((3,), 9, os.getpid()),
        ((1,), 1, os.getpid()),
        ((2,), 4, os.getpid()),
    ]
    assert counted == [1, 1, 1]


def test_no_tasks_start_no_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(benchmarks.pool, "ProcessPoolExecutor", _NoPool)
    assert list(run_tasks(square_in_worker, [], jobs=4)) == []


@pytest.mark.parametrize("in_process", [False, True])
def test_a_failing_task_raises_its_error(in_process: bool) -> None:
    with pytest.raises(RuntimeError, match="task 2 failed"):
        list(run_tasks(fail_on_two, [(1,), (2,), (3,)], jobs=2, in_process=in_process))
