"""Running bench tasks (``benchmarks.pool``): in worker processes or in this one, with progress."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import optuna
import pytest

# The workers import torch to keep it single-threaded; importing it here lets forked workers inherit it.
import torch

import benchmarks.pool
from benchmarks.pool import init_worker, run_tasks
from benchmarks.warning_log import WarningLog, collecting_warnings


def square_in_worker(x: int) -> tuple[int, int, str | None, int]:
    """x squared, the process it ran in, and that process's thread settings."""
    return x * x, os.getpid(), os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads()


def fail_on_two(x: int) -> int:
    if x == 2:
        raise RuntimeError(f"task {x} failed")
    return x


def warn_noisily(x: int) -> int:
    """x, after a Python warning, an Optuna warning, a torch warning and a plain logging warning."""
    warnings.warn(f"deprecated thing {x}", DeprecationWarning, stacklevel=1)
    optuna.logging.get_logger("optuna.samplers").warning(f"falling back to random {x}")
    logging.getLogger("torch.utils.cpp_extension").warning(f"No CUDA runtime is found {x}")
    logging.getLogger("somelib").warning(f"library note {x}")
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


@pytest.mark.usefixtures("quiet_optuna")  # Optuna's warnings on, whatever an earlier test in this process set
@pytest.mark.parametrize("in_process", [True, False])
def test_warnings_of_tasks_go_to_the_log_file_not_the_terminal(
    tmp_path: Path, in_process: bool, capfd: pytest.CaptureFixture[str]
) -> None:
    log = WarningLog(tmp_path / "bench" / "warnings.log")
    tasks = [(x,) for x in range(3)]
    results = dict(run_tasks(warn_noisily, tasks, jobs=2, in_process=in_process, warning_log=log))
    assert results == {(x,): x for x in range(3)}
    out, err = capfd.readouterr()
    assert "falling back" not in out + err and "deprecated thing" not in out + err
    assert "No CUDA runtime" not in out + err
    header, *lines = log.path.read_text().splitlines()
    assert header.startswith("=== ")
    assert log.count == len(lines) == 12
    for x in range(3):
        mine = [line for line in lines if line.startswith(f"[({x},)] ")]
        assert len(mine) == 4
        assert any(f"torch.utils.cpp_extension: No CUDA runtime is found {x}" in line for line in mine)
        assert any(f"optuna.samplers: falling back to random {x}" in line for line in mine)
        assert any(f"somelib: library note {x}" in line for line in mine)
        assert any(f"DeprecationWarning: deprecated thing {x}" in line for line in mine)
    assert log.summary() == f"12 warnings (mostly third-party) written to {log.path}."
    # Optuna's and torch's own handlers are back once the tasks are done.
    assert not logging.getLogger("optuna").propagate and not logging.getLogger("torch").propagate


def test_a_bench_without_warnings_says_so(tmp_path: Path) -> None:
    log = WarningLog(tmp_path / "warnings.log")
    assert dict(run_tasks(fail_on_two, [(1,)], in_process=True, warning_log=log)) == {(1,): 1}
    assert log.count == 0 and len(log.path.read_text().splitlines()) == 1  # the invocation's header
    assert log.summary() == "No warnings."


def warn_outside_a_task() -> None:
    warnings.warn("warned while the worker was importing", FutureWarning, stacklevel=1)


def test_warnings_of_a_starting_worker_are_appended_to_the_log(tmp_path: Path) -> None:
    log = WarningLog(tmp_path / "warnings.log")
    with ProcessPoolExecutor(1, initializer=init_worker, initargs=(str(log.path),)) as pool:
        pool.submit(warn_outside_a_task).result()
    assert log.count == 1
    assert "[worker start] " in log.path.read_text()
    assert "FutureWarning: warned while the worker was importing" in log.path.read_text()


def test_capture_logs_what_the_bench_process_itself_warns(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log = WarningLog(tmp_path / "warnings.log")
    with log.capture("bench setup"):
        warn_noisily(7)
    out, err = capfd.readouterr()
    assert "7" not in out + err
    assert log.count == 4 and all(
        line.startswith("[bench setup] ") for line in log.path.read_text().splitlines()[1:]
    )


def _logger_states() -> dict[str, tuple[list[logging.Handler], bool]]:
    names = ["", *(n for n in logging.Logger.manager.loggerDict if n.split(".")[0] in ("optuna", "torch"))]
    loggers = [logging.getLogger(n) for n in names]
    return {n: (logger.handlers[:], logger.propagate) for n, logger in zip(names, loggers, strict=True)}


def test_loggers_are_as_they_were_after_a_block_even_one_that_raises() -> None:
    before = _logger_states()
    with collecting_warnings() as messages:
        logging.getLogger("torch._dynamo").warning("a note from a torch sub-logger")
    assert any("a note from a torch sub-logger" in m for m in messages)
    assert _logger_states() == before
    with pytest.raises(KeyError), collecting_warnings():
        raise KeyError("boom")
    assert _logger_states() == before


def test_torch_first_imported_inside_a_block_still_logs_to_the_collector() -> None:
    # torch sets its loggers up on import: a block must not be undone by that, nor undo it after.
    script = (
        "import logging, sys\n"
        "from benchmarks.warning_log import collecting_warnings\n"
        "assert 'torch' not in sys.modules\n"
        "with collecting_warnings() as messages:\n"
        "    import torch\n"
        "    logging.getLogger('torch.utils.cpp_extension').warning('No CUDA runtime is found')\n"
        "print(messages)\n"
        "print(logging.getLogger('torch').propagate, len(logging.getLogger('torch').handlers))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "No CUDA runtime" not in done.stderr
    assert "torch.utils.cpp_extension: No CUDA runtime is found" in done.stdout
    assert done.stdout.splitlines()[-1] == "False 1"  # torch's own handler, as torch set it


def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_ctrl_c_stops_the_workers_at_once_after_handing_over_the_finished_tasks(ctrl_c_after) -> None:
    # The quick tasks finish at once; the long ones run or wait in the queue when Ctrl-C comes. A plain
    # shutdown would wait for every one of them (about 40 s on two workers).
    tasks = [(0.0,), (0.0,), (20.0,), (20.0,), (20.0,), (20.0,)]
    handed: list[tuple[float, ...]] = []
    started = time.perf_counter()
    ctrl_c_after(3.0)
    with pytest.raises(KeyboardInterrupt):
        for task, _ in run_tasks(sleep_for, tasks, jobs=2):
            handed.append(task)
    assert time.perf_counter() - started < 12
    assert handed == [(0.0,), (0.0,)]


def test_each_invocation_appends_to_the_log_and_counts_its_own_warnings(tmp_path: Path) -> None:
    first = WarningLog(tmp_path / "warnings.log", invocation="python -m benchmarks --quick")
    first.write("run a", ["one", "two"])
    second = WarningLog(tmp_path / "warnings.log", invocation="python -m benchmarks --force")
    assert second.count == 0 and second.summary() == "No warnings."
    second.write("run b", ["three"])
    assert (first.count, second.count) == (3, 1)  # a later invocation's header is no warning
    lines = second.path.read_text().splitlines()
    assert lines[0].startswith("=== ") and lines[0].endswith(": python -m benchmarks --quick")
    assert lines[1:3] == ["[run a] one", "[run a] two"]
    assert lines[3].endswith(": python -m benchmarks --force") and lines[4] == "[run b] three"
