"""Objectives for the worker tests, loaded by ``bonas worker --objective tests.slow_objectives:NAME``.

A tabular lookup is instant, so concurrent workers would hardly ever overlap; these pause before
answering, so that several trials really are running at once (and a worker can be killed mid-trial).
"""

from __future__ import annotations

import time
from functools import cached_property

from bonas.architecture import Architecture
from bonas.spaces.base import SearchSpace
from bonas.tabular import load_benchmark
from bonas.tabular.base import TabularBenchmark


class SlowBenchmark:
    """A tabular benchmark that sleeps ``seconds`` before each lookup."""

    def __init__(self, benchmark: str, seconds: float) -> None:
        self.benchmark_name = benchmark
        self.seconds = seconds
        self.name = f"{benchmark}+sleep{seconds:g}s"

    @cached_property
    def benchmark(self) -> TabularBenchmark:
        return load_benchmark(self.benchmark_name)

    @property
    def space(self) -> SearchSpace:
        return self.benchmark.space

    def __call__(self, architecture: Architecture) -> dict[str, float]:
        time.sleep(self.seconds)
        return self.benchmark(architecture)


#: For the concurrency tests: trials overlap across workers.
nb201_100ms = SlowBenchmark("nb201-cifar10", 0.1)
#: For the kill/interrupt tests: a trial is mid-evaluation most of the time.
nb201_500ms = SlowBenchmark("nb201-cifar10", 0.5)


def no_space(architecture: Architecture) -> float:
    """An objective without a ``.space`` attribute (the CLI must ask for ``--space``)."""
    return 1.0


class StallsAfter(SlowBenchmark):
    """Answers its first ``quick`` lookups after ``seconds``, then stalls for ``stall`` seconds each.

    The interrupt test signals the search while a trial is running; with a plain sleep the running
    trial may finish between the test seeing it and the signal arriving on a loaded machine.
    """

    def __init__(self, benchmark: str, seconds: float, quick: int, stall: float) -> None:
        super().__init__(benchmark, seconds)
        self.quick = quick
        self.stall = stall
        self.calls = 0
        self.name = f"{benchmark}+stall{stall:g}s-after-{quick}"

    def __call__(self, architecture: Architecture) -> dict[str, float]:
        self.calls += 1
        if self.calls > self.quick:
            time.sleep(self.stall)
        return super().__call__(architecture)


#: For the interrupt test: two trials complete, then the third runs until the signal ends it.
nb201_stalls_after_two = StallsAfter("nb201-cifar10", 0.1, quick=2, stall=300.0)

#: For the paused-worker test: a trial outlasts a short pause of its worker's heartbeat.
nb201_700ms = SlowBenchmark("nb201-cifar10", 0.7)


class WarnsAsALibrary(SlowBenchmark):
    """A lookup that warns twice: as an installed library would (from a file in site-packages) and as the
    user's own objective code."""

    def __call__(self, architecture: Architecture) -> dict[str, float]:
        import sysconfig
        import warnings
        from pathlib import Path

        library = str(Path(sysconfig.get_paths()["purelib"]) / "somelib" / "core.py")
        warnings.warn_explicit("somelib is deprecating this call", FutureWarning, library, 7)
        warnings.warn("my objective's own note", UserWarning, stacklevel=1)
        return super().__call__(architecture)


#: For the command line's warning log: library warnings to the file, the user's own on the terminal.
nb201_warns = WarnsAsALibrary("nb201-cifar10", 0.0)


def always_fails(architecture: Architecture) -> float:
    """An objective that fails every architecture (for the consecutive-failure limit)."""
    raise RuntimeError("out of memory")
