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


#: For the paused-worker test: a trial outlasts a short pause of its worker's heartbeat.
nb201_700ms = SlowBenchmark("nb201-cifar10", 0.7)
