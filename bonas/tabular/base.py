"""Tabular benchmarks: objectives that look an architecture's metrics up instead of training it.

A benchmark is a callable objective (``benchmark(arch) -> metrics``) bound to its search space. Every
benchmark returns at least ``val_accuracy`` (what searches maximise, in percent) and, where the table
has it, ``test_accuracy``; each knows its :class:`Optimum` when the table can be enumerated.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from bonas.architecture import Architecture
from bonas.spaces.base import SearchSpace

#: The metric every benchmark returns and searches maximise.
VALIDATION_METRIC = "val_accuracy"
TEST_METRIC = "test_accuracy"

#: What a noisy benchmark's name adds (``nb201-cifar10-noisy``: one training seed's value per query).
NOISY_SUFFIX = "-noisy"


@dataclass(frozen=True)
class Optimum:
    """The best values in a benchmark's table, for regret.

    Args:
        val_accuracy: best validation accuracy over the table.
        test_accuracy: best test accuracy over the table (None when the table has no test accuracy).
        best_val_architecture: string form of an architecture reaching ``val_accuracy``.
    """

    val_accuracy: float
    test_accuracy: float | None
    best_val_architecture: str


class TabularBenchmark(ABC):
    """An objective answered from a table (or a surrogate) instead of training.

    Subclasses set :attr:`name` and :attr:`space` and implement :meth:`query`, and list in
    :attr:`source_files` the files their values are read from.

    Args:
        noisy: return one training seed's value (chosen by the query's rng) instead of the mean, where
            the table has several seeds.
        seed: seed of the rng used by calls that pass none.
    """

    name: str
    space: SearchSpace
    #: The files the benchmark's values are read from (data folder and package files): a cache of results
    #: computed on the benchmark stays valid only while their contents do.
    source_files: tuple[Path, ...] = ()

    def __init__(self, *, noisy: bool = False, seed: int | None = None) -> None:
        self.noisy = noisy
        self._rng = np.random.default_rng(seed)

    @abstractmethod
    def query(self, architecture: Architecture, rng: np.random.Generator) -> dict[str, float]:
        """Metrics of an architecture already validated against :attr:`space`."""

    @property
    @abstractmethod
    def optimum(self) -> Optimum | None:
        """Best table values, or None for spaces that cannot be enumerated (NB301)."""

    @property
    def cheap_metric_names(self) -> tuple[str, ...]:
        """The metrics known without training (a latency table, a parameter count): searchers given
        :meth:`cheap_metrics` use their exact values for candidates instead of modelling them."""
        return ()

    def cheap_metrics(self, architecture: Architecture) -> dict[str, float]:
        """The :attr:`cheap_metric_names` metrics of ``architecture`` (no query is spent)."""
        names = self.cheap_metric_names
        if not names:
            return {}
        metrics = self.query(architecture, np.random.default_rng(0))
        return {name: metrics[name] for name in names}

    def missing_metric_hint(self, metric: str) -> str | None:
        """Where ``metric`` is one this benchmark returns when an optional data file is present, but the
        file is absent: which file gives it. None otherwise."""
        return None

    @cached_property
    def metric_names(self) -> tuple[str, ...]:
        """Every metric a query returns (of a sample architecture: every row holds the same ones)."""
        return tuple(self.query(self.space.sample(np.random.default_rng(0)), np.random.default_rng(0)))

    @property
    def benchmark_name(self) -> str:
        """The benchmark a study searching this table records (see :class:`bonas.trials.StudyAttributes`)."""
        return self.name

    def __call__(
        self, architecture: Architecture, rng: np.random.Generator | None = None
    ) -> dict[str, float]:
        """Metrics of ``architecture``: ``val_accuracy`` (percent), and what else the table holds."""
        self.space.validate(architecture)
        return self.query(architecture, self._rng if rng is None else rng)

    def mean_metrics(self, architecture: Architecture) -> dict[str, float]:
        """The metrics of ``architecture`` without query noise: means over the table's training seeds.

        What a search on a noisy benchmark is scored on (the searcher itself sees only noisy values).
        Equal to a query when the benchmark is not noisy.
        """
        self.space.validate(architecture)
        return self.query_mean(architecture)

    def query_mean(self, architecture: Architecture) -> dict[str, float]:
        """:meth:`mean_metrics` of an architecture already validated; benchmarks whose ``noisy`` queries
        differ from their noiseless ones override it."""
        return self.query(architecture, np.random.default_rng(0))

    def table_rows(self) -> Iterator[dict[str, float]]:
        """The mean metrics of every entry of the table, each entry once.

        The default lists the space and gives each architecture's mean metrics: right where every
        parameter setting is an entry of its own (NB201, AnalogNAS). A table that files several settings
        under one entry (NAS-Bench-Graph: one per isomorphism class) overrides it.

        Raises:
            ValueError: the space cannot be listed (NB301's surrogate).
        """
        if not self.space.is_enumerable:
            raise ValueError(f"{self.name}: its space is too large to list, so its table has no rows.")
        for architecture in self.space.enumerate():
            yield self.query_mean(architecture)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, noisy={self.noisy})"


def pick_seed_value(values: list[float] | tuple[float, ...], noisy: bool, rng: np.random.Generator) -> float:
    """The mean of per-seed ``values``, or one of them at random when ``noisy``."""
    if noisy:
        return float(values[int(rng.integers(len(values)))])
    return float(np.mean(values))
