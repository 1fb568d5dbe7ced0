"""One run of the hardware-aware bench (:mod:`benchmarks.multiobjective`) and what it measures against.

A problem is a benchmark and a latency metric: a multi-objective one (``<benchmark>:<device>``) or a
constrained one (``<benchmark>:<device><=p25``). This module holds what a run's result depends on (the
problems' reference points and budgets, the hypervolume, the search itself), so the bench cache
fingerprints it alone: the report can change without recomputing runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache

import numpy as np
import optuna
import pandas as pd

from bonas.tabular import TabularBenchmark, load_benchmark

#: Evaluations of bonas's initial design (random), excluded from the share of feasible proposals.
INITIAL_DESIGN = 10
#: Percentile of the device's latencies that the constrained problems take as the budget.
BUDGET_PERCENTILE = 25


@dataclass(frozen=True)
class Problem:
    """A benchmark, the latency metric traded off (or bounded) and what is known of the whole table."""

    name: str
    benchmark: str
    latency: str
    constrained: bool

    @classmethod
    def parse(cls, name: str) -> Problem:
        benchmark, _, rest = name.partition(":")
        constrained = rest.endswith(f"<=p{BUDGET_PERCENTILE}")
        device = rest.removesuffix(f"<=p{BUDGET_PERCENTILE}")
        if not benchmark or not device:
            raise ValueError(f"Problem {name!r} must read BENCHMARK:DEVICE or BENCHMARK:DEVICE<=p25.")
        latency = "latency_s" if device == "latency" else f"latency_{device}"
        return cls(name, benchmark, latency, constrained)


@dataclass(frozen=True)
class Table:
    """Validation accuracy and latency of every entry of a benchmark's table, and the problem's constants."""

    accuracy: np.ndarray
    latency: np.ndarray

    @property
    def reference(self) -> tuple[float, float]:
        """The fixed reference point: the median accuracy and the largest latency of the table."""
        return float(np.median(self.accuracy)), float(self.latency.max())

    @property
    def ideal(self) -> tuple[float, float]:
        return float(self.accuracy.max()), float(self.latency.min())

    @property
    def budget(self) -> float:
        """The latency bound of the constrained problem."""
        return float(np.percentile(self.latency, BUDGET_PERCENTILE))

    @property
    def constrained_optimum(self) -> float:
        return float(self.accuracy[self.latency <= self.budget].max())

    @property
    def worst_feasible(self) -> float:
        return float(self.accuracy[self.latency <= self.budget].min())

    def front(self) -> np.ndarray:
        """The exact Pareto front of the table, ``k x 2`` (accuracy, latency)."""
        points = np.stack([self.accuracy, self.latency], axis=-1)
        return points[non_dominated(points)]


@cache
def benchmark_of(name: str) -> TabularBenchmark:
    return load_benchmark(name)


@cache
def table_of(problem: Problem) -> Table:
    """Every table entry's accuracy and latency (NB201: all 15,625 cells; NAS-Bench-Graph: its entries)."""
    rows = list(benchmark_of(problem.benchmark).table_rows())
    return Table(np.array([r["val_accuracy"] for r in rows]), np.array([r[problem.latency] for r in rows]))


def hypervolume(points: np.ndarray, table: Table) -> float:
    """Hypervolume of ``points`` (``n x 2``, accuracy and latency) in the problem's unit box (BoTorch's)."""
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    if len(points) == 0:
        return 0.0
    reference, ideal = np.array(table.reference), np.array(table.ideal)
    # Both objectives as "larger is better", 0 at the reference point and 1 at the ideal one.
    scaled = (points - reference) / (ideal - reference)
    scaled = scaled[(scaled > 0).all(axis=-1)]
    if len(scaled) == 0:
        return 0.0
    front = torch.as_tensor(scaled[_non_dominated_max(scaled)], dtype=torch.float64)
    return float(Hypervolume(ref_point=torch.zeros(2, dtype=torch.float64)).compute(front))


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Mask of the (accuracy max, latency min) points no other point dominates."""
    return _non_dominated_max(points * np.array([1.0, -1.0]))


def _non_dominated_max(points: np.ndarray) -> np.ndarray:
    import torch
    from botorch.utils.multi_objective.pareto import is_non_dominated

    return is_non_dominated(torch.as_tensor(points, dtype=torch.float64), deduplicate=False).numpy()


# -- one run ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    problem: str
    searcher: str
    seed: int
    budget: int

    @property
    def label(self) -> str:
        return f"{self.problem}/{self.searcher}/seed{self.seed}"

    @property
    def key(self) -> str:
        return f"{self.problem.replace(':', '_').replace('<=', '_le_')}/{self.searcher}/seed{self.seed}-q{self.budget}"


def run_one(spec: RunSpec) -> pd.DataFrame:
    """One search; one row per query: ``query``, ``val_accuracy``, the latency, ``feasible``, ``regret``
    (hypervolume regret, or the constrained regret) and ``propose_seconds``."""
    from bonas.study import search

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("bonas").setLevel(logging.ERROR)
    problem = Problem.parse(spec.problem)
    benchmark = benchmark_of(problem.benchmark)
    table = table_of(problem)
    if problem.constrained:
        outcomes = {"constraints": {problem.latency: ("<=", table.budget)}}
    else:
        outcomes = {"objectives": {"val_accuracy": "maximize", problem.latency: "minimize"}}
    result = search(
        benchmark.space, benchmark, sampler=spec.searcher, n_trials=spec.budget, seed=spec.seed, **outcomes
    )
    history = result.history
    propose = history["propose_seconds"].fillna(0.0).to_numpy()
    queried = history["query"].notna().to_numpy()
    charged = np.diff(np.concatenate([[0.0], np.cumsum(propose)[queried]]))
    spent = history[queried]
    accuracy = spent["val_accuracy"].to_numpy(dtype=float)
    latency = spent[problem.latency].to_numpy(dtype=float)
    feasible = latency <= table.budget
    regret = np.empty(len(spent))
    if problem.constrained:
        best = table.worst_feasible
        for i in range(len(spent)):
            if feasible[i] and np.isfinite(accuracy[i]):
                best = max(best, accuracy[i])
            regret[i] = table.constrained_optimum - best
    else:
        optimum = hypervolume(table.front(), table)
        points = np.stack([accuracy, latency], axis=-1)
        for i in range(len(spent)):
            regret[i] = optimum - hypervolume(points[: i + 1], table)
    return pd.DataFrame(
        {
            "query": spent["query"].to_numpy(dtype=int),
            "val_accuracy": accuracy,
            "latency": latency,
            "feasible": feasible,
            "regret": regret,
            "propose_seconds": charged,
        }
    )
