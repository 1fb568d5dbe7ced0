"""``python -m benchmarks.weight_sharing``: how well weight sharing ranks cells, and searches at equal CPU time.

On Fashion-MNIST (a training subset; images centre-cropped to 24x24 and 2x2 mean-pooled to 12x12 so a
CPU trains a cell in seconds), with NB201 cells at small width and depth:

1. **Ranking.** ``--cells`` random NB201 cells are trained stand-alone with ``--truth-seeds`` training
   seeds (the ground truth: their mean validation accuracy; how well the seeds agree with each other
   bounds what any cheap ranking can reach). For each training
   regime of the supernet (``uniform``, ``fair``, ``warmup``) and each of ``--supernet-seeds`` seeds (20: one
   supernet's tau moves by about 0.1 with its seed), a supernet is trained once and scores every cell by
   its inherited weights (batch norm recalibrated per cell). Reported: Kendall tau between scores and
   stand-alone accuracy (all cells, and the cells whose output is connected to the input), mean ± std over
   supernet seeds, and the cost per scored cell against one stand-alone training (amortised over the
   cells scored, and the marginal scoring cost); and, for scale, the tau of ranking by parameter count.
2. **Search at equal CPU time.** Random search and BO (``bo-gp-wl-rbf``) with stand-alone training get
   ``--budget`` CPU seconds; BO with BONAS batches (``batch_size=k``, a supernet trained on each batch),
   one-shot + BO and NAO with weight sharing get the same budget and a third of it. Weight-sharing
   searches end by retraining their ``--top-k`` best candidates stand-alone (inside their budget) and
   choose by stand-alone validation accuracy. Every chosen cell is then trained once more with a fresh
   seed and its TEST accuracy reported (mean ± std over search seeds). ENAS and DARTS join the table
   once ``benchmarks/weight_sharing_searchers.py`` defines ``METHODS = {"enas": runner, "darts": runner}``
   (see :func:`register_method` for a runner's contract); the test split is never used to choose.

Costs are CPU seconds of single-threaded worker processes (``time.process_time``), which stay
comparable when other work shares the machine; the wall time of the whole run is printed too.
Results go to ``results/weight_sharing/``: ``cells.csv`` (stand-alone ground truth), ``ranking.csv``
(every supernet's scores), ``searches.csv`` and ``summary.md``; finished tasks are cached under ``cache/``
and reused while their settings and the code that computed them (:data:`TASK_SOURCES`) are unchanged.

Examples::

    python -m benchmarks.weight_sharing            # about 55 min on 2 idle cores
    python -m benchmarks.weight_sharing --quick    # a few minutes: smaller everything, 2 seeds
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import bonas
from benchmarks.cache import bonas_sources, fingerprint_of, write_csv
from benchmarks.command import output_folder, positive_int, run_command
from benchmarks.pool import progress_bar, run_tasks
from benchmarks.warning_log import WarningLog
from bonas.cli import whole_number

logger = logging.getLogger(__name__)

#: Supernet training regimes ranked: ``<regime>:<epochs>`` (see :mod:`bonas.training.weight_sharing`).
REGIMES = ("uniform:12", "fair:12", "warmup:12", "uniform:24", "fair:24", "warmup:24", "uniform:36")
QUICK_REGIMES = ("uniform:6", "fair:6", "warmup:6", "fair:12", "uniform:18")
#: Search methods, in table order; "@1/3" rows get a third of the budget.
DEFAULT_METHODS = (
    "random",
    "bo",
    "bonas-batches",
    "one-shot+bo",
    "enas",
    "darts",
    "bonas-batches@1/3",
    "one-shot+bo@1/3",
    "nao-ws@1/3",
    "enas@1/3",
    "darts@1/3",
)


@dataclass(frozen=True)
class Setup:
    """Everything that decides the numbers (the cache key of every task)."""

    train_size: int = 3000
    val_size: int = 5000
    test_size: int = 5000
    channels: int = 4
    cells_per_stage: int = 1
    epochs: int = 6
    batch_size: int = 64
    supernet_lr: float = 0.1
    score_size: int = 1000
    n_cells: int = 40
    batch_k: int = 10
    batch_whole_epochs: int = 1
    batch_path_epochs: int = 2
    n_initial: int = 6
    top_k: int = 2
    budget: float = 150.0
    search_regime: str = "uniform:12"
    standalone_seconds: float = 0.0  # measured in the ranking phase; reserves the retraining time


# -- Data, networks and objectives ------------------------------------------------------------------

_DATA: dict[tuple[int, int, int], Any] = {}


def load_data(setup: Setup) -> Any:
    """Fashion-MNIST (seeded subset), centre-cropped to 24x24 and 2x2 mean-pooled to 12x12."""
    import torch

    from bonas.training.datasets import load_fashion_mnist

    key = (setup.train_size, setup.val_size, setup.test_size)
    if key not in _DATA:
        data = load_fashion_mnist(
            train_size=setup.train_size, val_size=setup.val_size, test_size=setup.test_size, seed=0
        )

        def small(x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.avg_pool2d(x[:, :, 2:26, 2:26], 2).contiguous()

        _DATA[key] = dataclasses.replace(
            data, train_x=small(data.train_x), val_x=small(data.val_x), test_x=small(data.test_x)
        )
    return _DATA[key]


def _network(setup: Setup) -> Any:
    from bonas.training import NetworkSettings

    return NetworkSettings(channels=setup.channels, cells_per_stage=setup.cells_per_stage)


def standalone_objective(setup: Setup, seed: int) -> Any:
    from bonas.training import TrainingSettings

    return bonas.objectives.train(
        load_data(setup),
        network=_network(setup),
        settings=TrainingSettings(epochs=setup.epochs, batch_size=setup.batch_size, seed=seed, device="cpu"),
    )


def parse_regime(regime: str) -> tuple[str, int]:
    """``"uniform:12"`` -> ``("uniform", 12)``."""
    name, _, epochs = regime.partition(":")
    return name, int(epochs or 12)


def supernet_settings(setup: Setup, regime: str, seed: int, **overrides: Any) -> Any:
    from bonas.training import SupernetSettings

    name, epochs = parse_regime(regime)
    return SupernetSettings(
        **{
            "epochs": epochs,
            "regime": name,
            "warmup_epochs": max(1, epochs // 6),
            "batch_size": setup.batch_size,
            "lr": setup.supernet_lr,
            "seed": seed,
            "device": "cpu",
            "score_size": setup.score_size,
            **overrides,
        }
    )


# -- Tasks (module-level: worker processes import them by name) ---------------------------------------


def standalone_task(setup: Setup, arch: str, seed: int) -> dict[str, float]:
    """Train one cell stand-alone: validation and test accuracy, CPU seconds."""
    space = bonas.get_space("nb201")
    started = time.process_time()
    metrics = standalone_objective(setup, seed)(space.parse(arch))
    return {
        "val_accuracy": metrics["val_accuracy"],
        "test_accuracy": metrics["test_accuracy"],
        "cpu_seconds": time.process_time() - started,
    }


def supernet_task(setup: Setup, regime: str, seed: int, cells: tuple[str, ...]) -> dict[str, Any]:
    """Train a supernet in ``regime`` and score every cell: scores, training and scoring CPU seconds."""
    import torch

    from bonas.training import Supernet, SupernetTrainer

    space = bonas.get_space("nb201")
    data = load_data(setup)
    started = time.process_time()
    torch.manual_seed(seed)
    supernet = Supernet.for_space(
        space, input_shape=data.input_shape, num_classes=data.num_classes, settings=_network(setup)
    )
    trainer = SupernetTrainer(supernet, data, supernet_settings(setup, regime, seed), population=space)
    trainer.train()
    trained = time.process_time()
    scores = trainer.score([space.parse(arch) for arch in cells])
    return {
        "scores": scores,
        "train_cpu_seconds": trained - started,
        "score_cpu_seconds": (time.process_time() - trained) / len(cells),
    }


class _Budget:
    """CPU seconds this process has spent since it was made, and a stop once ``seconds`` are spent."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.process_time()

    @property
    def spent(self) -> float:
        return time.process_time() - self.started


class _Budgeted:
    """An objective that stops the running study once the search has spent its CPU budget."""

    def __init__(self, objective: Any, budget: _Budget, seconds: float) -> None:
        self.objective = objective
        self.budget = budget
        self.seconds = seconds
        self.name = objective.name

    def __call__(self, architecture: Any) -> Any:
        from bonas.trials import current_trial

        result = self.objective(architecture)
        trial = current_trial()
        if self.budget.spent >= self.seconds and trial is not None:
            trial.study.stop()
        return result


@dataclass
class SearchOutcome:
    """What a search chose: the cell, its stand-alone validation accuracy, evaluations and CPU seconds."""

    arch: str
    val_accuracy: float
    evaluations: int
    cpu_seconds: float


#: ``runner(setup, seed, budget_seconds) -> SearchOutcome``.
Runner = Callable[[Setup, int, float], SearchOutcome]
_METHODS: dict[str, Runner] = {}


def register_method(name: str, runner: Runner) -> None:
    """Add a search method to the table (ENAS and DARTS register here). ``runner`` must spend at most
    ``budget_seconds`` CPU seconds (``time.process_time``) including the stand-alone retraining of its
    candidates, and choose its cell by stand-alone validation accuracy."""
    _METHODS[name] = runner


def _search(space: Any, objective: Any, sampler: Any, budget: _Budget, seconds: float) -> Any:
    if budget.spent >= seconds:
        raise RuntimeError(f"No CPU time left for the search ({budget.spent:.0f} of {seconds:.0f} s spent).")
    return bonas.search(space, _Budgeted(objective, budget, seconds), sampler=sampler, n_trials=100_000)


def _standalone_search(sampler_name: str) -> Runner:
    def run(setup: Setup, seed: int, seconds: float) -> SearchOutcome:
        space = bonas.get_space("nb201")
        budget = _Budget(seconds)
        options = {"n_initial": setup.n_initial} if sampler_name.startswith("bo-") else {}
        sampler = bonas.make_sampler(sampler_name, space, seed=seed, **options)
        result = _search(space, standalone_objective(setup, seed), sampler, budget, seconds)
        evaluations = int(result.history["query"].notna().sum())
        return SearchOutcome(str(result.best_architecture), result.best_value, evaluations, budget.spent)

    return run


def _weight_sharing_search(sampler_name: str, *, batches: bool) -> Runner:
    def run(setup: Setup, seed: int, seconds: float) -> SearchOutcome:
        from bonas.objectives import BatchTraining, weight_sharing

        space = bonas.get_space("nb201")
        budget = _Budget(seconds)
        if batches:
            objective = weight_sharing(
                space,
                load_data(setup),
                network=_network(setup),
                settings=supernet_settings(setup, "uniform", seed, schedule="constant", lr=0.05),
                batches=BatchTraining(setup.batch_whole_epochs, setup.batch_path_epochs),
            )
            options: dict[str, Any] = {"batch_size": setup.batch_k, "n_initial": setup.batch_k}
        else:
            objective = weight_sharing(
                space,
                load_data(setup),
                network=_network(setup),
                settings=supernet_settings(setup, setup.search_regime, seed),
            )
            options = {"n_initial": setup.n_initial}
        sampler = bonas.make_sampler(sampler_name, space, seed=seed, **options)
        reserve = setup.top_k * setup.standalone_seconds
        result = _search(space, objective, sampler, budget, max(seconds - reserve, 0.0))
        evaluations = int(result.history["query"].notna().sum())
        final = bonas.retrain_best(result, space, standalone_objective(setup, seed), top_k=setup.top_k)
        return SearchOutcome(str(final.best_architecture), final.best_value, evaluations, budget.spent)

    return run


register_method("random", _standalone_search("random"))
register_method("bo", _standalone_search("bo-gp-wl-rbf"))
register_method("bonas-batches", _weight_sharing_search("bo-gp-wl-rbf", batches=True))
register_method("one-shot+bo", _weight_sharing_search("bo-gp-wl-rbf", batches=False))
register_method("nao-ws", _weight_sharing_search("nao", batches=False))


def _load_optional_methods() -> None:
    """Add the runners of ``benchmarks/weight_sharing_searchers.py`` (ENAS, DARTS) where it exists.

    That module holds ``METHODS = {"enas": runner, "darts": runner}``, each runner as
    :func:`register_method` describes (it may import helpers such as :func:`standalone_objective`,
    :func:`load_data` and :class:`SearchOutcome` from here). Reading its dict, rather than having it
    call :func:`register_method`, works when this module runs as ``__main__``.
    """
    import importlib
    import importlib.util

    if importlib.util.find_spec("benchmarks.weight_sharing_searchers") is None:
        return
    module = importlib.import_module("benchmarks.weight_sharing_searchers")
    for name, runner in getattr(module, "METHODS", {}).items():
        _METHODS.setdefault(name, runner)


def method_budget(method: str, budget: float) -> tuple[str, float]:
    """A table row's method and its CPU budget (``@1/3``: a third)."""
    name, _, fraction = method.partition("@")
    if not fraction:
        return name, budget
    numerator, _, denominator = fraction.partition("/")
    return name, budget * float(numerator) / float(denominator)


def search_task(setup: Setup, method: str, seed: int) -> dict[str, Any]:
    """One search of ``method`` (a table row) with seed ``seed``; then the final stand-alone test."""
    _load_optional_methods()
    name, seconds = method_budget(method, setup.budget)
    try:
        outcome = _METHODS[name](setup, seed, seconds)
    except Exception as error:  # one failed search is a row of the table, not the end of the run
        logger.warning("Search %s seed %d failed: %s: %s", method, seed, type(error).__name__, error)
        return {"arch": None, "budget": seconds, "error": f"{type(error).__name__}: {error}"}
    final = standalone_task(setup, outcome.arch, 1000 + seed)
    return {
        **dataclasses.asdict(outcome),
        "budget": seconds,
        "final_val": final["val_accuracy"],
        "test": final["test_accuracy"],
    }


# -- Caching ----------------------------------------------------------------------------------------


_TRAINING_FIELDS = ("train_size", "val_size", "test_size", "channels", "cells_per_stage", "batch_size")
#: The setup fields a task's result depends on (other tasks: all of them).
TASK_FIELDS = {
    "standalone": (*_TRAINING_FIELDS, "epochs"),
    "supernet": (*_TRAINING_FIELDS, "supernet_lr", "score_size"),
}


#: The bonas modules whose source decides a task's result, by kind: a cached result computed by other
#: code is computed again. Stand-alone trainings (the ground truth, the slowest part to recompute) depend
#: on the training loop and networks only; supernets on those and the supernet's own modules; searches on
#: everything the searches import (the samplers, the study, the objectives), followed transitively, and
#: the ENAS and DARTS runners. This module's own runners are not: after changing one, run with --force.
_TRAINING_MODULES = (
    "bonas.training.trainer",
    "bonas.training.networks",
    "bonas.training.ops",
    "bonas.training.datasets",
)
TASK_SOURCES = {
    "standalone": _TRAINING_MODULES,
    "supernet": (
        *_TRAINING_MODULES,
        "bonas.training.supernet",
        "bonas.training.weight_sharing",
    ),
}
_SEARCH_MODULES = frozenset(
    {
        "bonas.study",
        "bonas.objectives",
        "bonas.retraining",
        "bonas.supernet_search",
        "bonas.training.darts",
        # The searchers the table runs (the sampler registry's imports are not followed).
        "bonas.samplers.random",
        "bonas.samplers.bayesian",
        "bonas.samplers.nao",
        "bonas.samplers.enas",
    }
)


@functools.cache
def task_code(kind: str) -> str:
    """A fingerprint of the source that computes tasks of ``kind`` (see :data:`TASK_SOURCES`)."""
    if kind in TASK_SOURCES:
        package = Path(bonas.__file__).parent
        sources = [package.joinpath(*m.split(".")[1:]).with_suffix(".py") for m in TASK_SOURCES[kind]]
    else:
        sources = [*bonas_sources(_SEARCH_MODULES), Path(__file__).with_name("weight_sharing_searchers.py")]
    return fingerprint_of(kind, sources)


class TaskCache:
    """Task results as JSON files under ``root``, keyed by the task and the whole :class:`Setup`; each
    file also records the fingerprint of the code that computed it (:func:`task_code`), and a result of
    other code is not read back."""

    def __init__(self, root: Path, force: bool) -> None:
        self.root = root
        self.force = force
        root.mkdir(parents=True, exist_ok=True)

    def path(self, kind: str, setup: Setup, *key: Any) -> Path:
        """The file of a task of ``kind`` (only the setup fields it depends on are in its key)."""
        import hashlib

        fields = dataclasses.asdict(setup)
        if kind in TASK_FIELDS:
            fields = {name: fields[name] for name in TASK_FIELDS[kind]}
        text = json.dumps([kind, fields, [str(k) for k in key]], sort_keys=True)
        return self.root / f"{kind}-{hashlib.blake2b(text.encode(), digest_size=8).hexdigest()}.json"

    def get(self, path: Path) -> Any:
        """The cached result at ``path``, or None when there is none from the current code."""
        if self.force or not path.is_file():
            return None
        stored = json.loads(path.read_text())
        if not isinstance(stored, dict) or stored.get("code") != task_code(_kind_of(path)):
            return None
        return stored["result"]

    def put(self, path: Path, value: Any) -> None:
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps({"code": task_code(_kind_of(path)), "result": value}))
        partial.replace(path)


def _kind_of(path: Path) -> str:
    return path.name.split("-", 1)[0]


def run_cached(
    cache: TaskCache,
    function: Callable[..., Any],
    tasks: list[tuple[str, tuple[Any, ...], Path]],
    *,
    jobs: int,
    bar: Any,
    warning_log: WarningLog,
    cached_only: bool = False,
) -> dict[str, Any]:
    """Results of ``(label, args, cache path)`` tasks by label, computing the ones not cached (unless
    ``cached_only``: those are left out)."""
    results: dict[str, Any] = {}
    todo = []
    for label, args, path in tasks:
        cached = cache.get(path)
        if cached is None:
            todo.append((label, args, path))
        else:
            results[label] = cached
            bar.update(1)
    if cached_only:
        bar.update(len(todo))
        return results
    by_args = {args: (label, path) for label, args, path in todo}
    for args, result in run_tasks(
        function,
        [args for _, args, _ in todo],
        jobs=jobs,
        in_process=jobs == 1,
        progress=bar.update,
        warning_log=warning_log,
        label=lambda args: f"{function.__name__}{args[1:]}",
    ):
        label, path = by_args[args]
        cache.put(path, result)
        results[label] = result
    return results


# -- Reports ----------------------------------------------------------------------------------------


def sample_cells(n: int) -> list[str]:
    """``n`` NB201 cells drawn uniformly, distinct up to isomorphism (a fixed seed: the same every run)."""
    space = bonas.get_space("nb201")
    rng = np.random.default_rng(12345)
    cells: dict[str, str] = {}
    while len(cells) < n:
        architecture = space.sample(rng)
        cells.setdefault(architecture.canonical_hash, str(architecture))
    return list(cells.values())


def connected(arch: str) -> bool:
    """Whether the cell's output depends on its input (else the network's output is constant)."""
    return bonas.get_space("nb201").parse(arch).cell().is_connected()


def _untrained_network(setup: Setup, arch: str) -> Any:
    """The cell's stand-alone network as initialised (seed 0)."""
    import torch

    from bonas.training import build_network

    data = load_data(setup)
    torch.manual_seed(0)
    return build_network(
        bonas.get_space("nb201").parse(arch),
        input_shape=data.input_shape,
        num_classes=data.num_classes,
        settings=_network(setup),
    )


def parameter_counts(setup: Setup, cells: list[str]) -> list[int]:
    """Each cell's stand-alone network's parameter count: a ranking that needs no training at all."""
    from bonas.training.networks import count_parameters

    return [count_parameters(_untrained_network(setup, arch)) for arch in cells]


def synflow_scores(setup: Setup, cells: list[str]) -> list[float]:
    """Each cell's SynFlow score at initialisation (:func:`bonas.training.proxies.synflow`): a zero-cost
    proxy, one forward and backward pass per cell."""
    from bonas.training.proxies import synflow

    shape = load_data(setup).input_shape
    return [synflow(_untrained_network(setup, arch), shape) for arch in cells]


def rank_average(*scores: list[float] | pd.Series) -> list[float]:
    """The mean of each item's ranks under several scores (ties share their mean rank)."""
    from scipy.stats import rankdata

    return list(np.mean([rankdata(np.asarray(s, dtype=float)) for s in scores], axis=0))


def kendall_tau(x: list[float], y: list[float]) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(x, y).statistic)


def _mean_std(values: list[float] | pd.Series, digits: int = 2) -> str:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "n/a"
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return f"{np.mean(values):.{digits}f} ± {std:.{digits}f}"


def ranking_table(
    cells: pd.DataFrame, ranking: pd.DataFrame, standalone_cpu: float
) -> tuple[str, pd.DataFrame]:
    """The ranking section of the summary and the per-regime table. ``cells`` (one row per cell) holds
    the ground truth ``val_accuracy``, ``connected`` and the zero-cost proxy ``synflow``."""
    truth = cells.set_index("arch")["val_accuracy"]
    mask = cells.set_index("arch")["connected"]
    prior = cells.set_index("arch")["synflow"]
    rows = []
    for regime, group in ranking.groupby("regime", sort=False):
        taus, taus_connected, taus_synflow, amortised, marginal, train = [], [], [], [], [], []
        for _, run in group.groupby("seed"):
            scores = run.set_index("arch")["score"].reindex(truth.index)
            taus.append(kendall_tau(list(scores), list(truth)))
            taus_connected.append(kendall_tau(list(scores[mask]), list(truth[mask])))
            taus_synflow.append(kendall_tau(rank_average(scores, prior), list(truth)))
            per_cell = run["train_cpu_seconds"].iloc[0] / len(run) + run["score_cpu_seconds"].iloc[0]
            amortised.append(per_cell / standalone_cpu)
            marginal.append(run["score_cpu_seconds"].iloc[0] / standalone_cpu)
            train.append(run["train_cpu_seconds"].iloc[0])
        rows.append(
            {
                "regime": regime,
                "seeds": len(taus),
                "tau_mean": float(np.mean(taus)),
                "tau": _mean_std(taus, 3),
                "tau_connected": _mean_std(taus_connected, 3),
                "tau_synflow_mean": float(np.mean(taus_synflow)),
                "tau_synflow": _mean_std(taus_synflow, 3),
                "supernet_cpu_s": _mean_std(train, 0),
                "score_ms": _mean_std([1000 * m * standalone_cpu for m in marginal], 0),
                "cost_ratio": float(np.mean(amortised)),
                "cost_ratio_text": _mean_std(amortised, 3),
                "marginal_ratio": _mean_std(marginal, 4),
            }
        )
    table = pd.DataFrame(rows)
    lines = [
        "| regime | supernet seeds | Kendall tau (all cells) | tau (connected cells) | tau, rank-averaged with "
        "SynFlow | supernet CPU s | score ms / cell | cost per scored cell / stand-alone (amortised) | marginal |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.regime} | {r.seeds} | {r.tau} | {r.tau_connected} | {r.tau_synflow} | {r.supernet_cpu_s} | "
        f"{r.score_ms} | {r.cost_ratio_text} | {r.marginal_ratio} |"
        for r in table.itertuples()
    ]
    return "\n".join(lines), table


def seed_agreement(cells: pd.DataFrame) -> dict[str, Any]:
    """How well the stand-alone training seeds of ``cells`` (rows: arch, seed, connected, val_accuracy)
    agree: mean Kendall tau over pairs of seeds, and (with 4 or more seeds) between the means of the
    first and second half of the seeds; each on all cells and on the connected ones."""
    pivot = cells.pivot(index="arch", columns="seed", values="val_accuracy").dropna()
    mask = cells.drop_duplicates("arch").set_index("arch")["connected"].reindex(pivot.index).astype(bool)
    seeds = list(pivot.columns)
    pairs = [(a, b) for i, a in enumerate(seeds) for b in seeds[i + 1 :]]

    def tau(x: pd.Series, y: pd.Series, only: pd.Series | None = None) -> float:
        if only is not None:
            x, y = x[only], y[only]
        return kendall_tau(list(x), list(y))

    result: dict[str, Any] = {
        "n_pairs": len(pairs),
        "pairs": float(np.mean([tau(pivot[a], pivot[b]) for a, b in pairs])),
        "pairs_connected": float(np.mean([tau(pivot[a], pivot[b], mask) for a, b in pairs])),
    }
    if len(seeds) >= 4:
        half = len(seeds) // 2
        first, second = pivot[seeds[:half]].mean(axis=1), pivot[seeds[half : 2 * half]].mean(axis=1)
        result.update(
            halves=(
                ", ".join(str(s) for s in seeds[:half]),
                ", ".join(str(s) for s in seeds[half : 2 * half]),
            ),
            split_half=tau(first, second),
            split_half_connected=tau(first, second, mask),
        )
    return result


def search_regime(regimes: pd.DataFrame) -> str:
    """The regime one-shot searches use: the best-ranking one within 1/10 of the stand-alone cost per
    candidate, else the cheapest (chosen on validation accuracy only)."""
    affordable = regimes[regimes["cost_ratio"] <= 0.1]
    if affordable.empty:
        return str(regimes.sort_values("cost_ratio")["regime"].iloc[0])
    return str(affordable.sort_values("tau_mean", ascending=False)["regime"].iloc[0])


def search_table(searches: pd.DataFrame, methods: list[str]) -> str:
    lines = [
        "| method | budget CPU s | seeds | evaluations | CPU s to choose | chosen cell: stand-alone val | "
        "final stand-alone TEST accuracy |",
        "|---|---|---|---|---|---|---|",
    ]
    for method in methods:
        rows = searches[searches["method"] == method]
        if rows.empty or rows["arch"].isna().all():
            reason = (
                rows["error"].dropna().iloc[0]
                if "error" in rows and rows["error"].notna().any()
                else "not run"
            )
            lines.append(f"| {method} | | | | | | n/a: {reason} |")
            continue
        lines.append(
            f"| {method} | {rows['budget'].iloc[0]:.0f} | {int(rows['arch'].notna().sum())} | {_mean_std(rows['evaluations'], 1)} | "
            f"{_mean_std(rows['cpu_seconds'], 0)} | {_mean_std(rows['val_accuracy'])} | {_mean_std(rows['test'])} |"
        )
    return "\n".join(lines)


# -- Main -------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.weight_sharing", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seeds", type=positive_int, default=3, help="search seeds (default 3; quick 2)")
    parser.add_argument(
        "--supernet-seeds",
        type=positive_int,
        default=None,
        help="supernets trained per regime (default 20, quick 2): one supernet's tau moves by about 0.1 with its seed",
    )
    parser.add_argument(
        "--cells", type=whole_number(2), default=None, help="cells ranked (default 40; quick 30)"
    )
    parser.add_argument("--budget", type=float, default=None, help="CPU seconds per search (default 150)")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS))
    parser.add_argument("--regimes", nargs="+", default=None, help="<regime>:<epochs>, e.g. uniform:12")
    parser.add_argument(
        "--truth-seeds",
        type=positive_int,
        default=None,
        help="stand-alone training seeds per ranked cell, averaged into the ground truth (default 4; quick 2)",
    )
    parser.add_argument(
        "--jobs", type=positive_int, default=2, help="worker processes (1 runs in this process)"
    )
    parser.add_argument("--out", type=Path, default=Path("results/weight_sharing"))
    parser.add_argument("--force", action="store_true", help="recompute cached tasks")
    parser.add_argument(
        "--from-cache", action="store_true", help="summarise the searches already cached, running no new one"
    )
    parser.add_argument("--quick", action="store_true", help="smaller data, cells and budgets, 2 seeds")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    output_folder(args.out)
    setup = Setup()
    if args.quick:
        setup = dataclasses.replace(
            setup,
            train_size=1500,
            val_size=2000,
            test_size=2000,
            epochs=3,
            search_regime="uniform:6",
            batch_k=6,
            n_initial=4,
            budget=45.0,
        )
        args.seeds = min(args.seeds, 2)
    if args.supernet_seeds is None:
        args.supernet_seeds = 2 if args.quick else 20
    if args.truth_seeds is None:
        args.truth_seeds = 2 if args.quick else 4
    args.regimes = args.regimes or list(QUICK_REGIMES if args.quick else REGIMES)
    n_cells = args.cells if args.cells is not None else (30 if args.quick else setup.n_cells)
    setup = dataclasses.replace(setup, n_cells=n_cells, budget=args.budget or setup.budget)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    warning_log = WarningLog(args.out / "warnings.log")
    cache = TaskCache(args.out / "cache", args.force)
    with warning_log.capture("setup"):
        load_data(setup)  # fails here, naming the missing files, before any worker starts
    cells = sample_cells(setup.n_cells)
    truth_seeds = tuple(range(args.truth_seeds))

    # Phase 1: stand-alone ground truth and supernets.
    ground = [
        (f"{arch}|{seed}", (setup, arch, seed), cache.path("standalone", setup, arch, seed))
        for seed in truth_seeds
        for arch in cells
    ]
    supernets = [
        (f"{regime}|{seed}", (setup, regime, seed, tuple(cells)), cache.path("supernet", setup, regime, seed))
        for regime in args.regimes
        for seed in range(args.supernet_seeds)
    ]
    # Seed by seed, so an interrupted run has whole seeds of every method.
    searches = [(m, s) for s in range(args.seeds) for m in args.methods]
    total = len(ground) + len(supernets) + len(searches)
    with progress_bar(total, "weight sharing", "task") as bar:
        truth = run_cached(cache, standalone_task, ground, jobs=args.jobs, bar=bar, warning_log=warning_log)
        scored = run_cached(cache, supernet_task, supernets, jobs=args.jobs, bar=bar, warning_log=warning_log)
        cell_rows = [
            {"arch": arch, "seed": seed, "connected": connected(arch), **truth[f"{arch}|{seed}"]}
            for seed in truth_seeds
            for arch in cells
        ]
        cell_frame = pd.DataFrame(cell_rows)
        cell_frame["parameters"] = cell_frame["arch"].map(
            dict(zip(cells, parameter_counts(setup, cells), strict=True))
        )
        cell_frame["synflow"] = cell_frame["arch"].map(
            dict(zip(cells, synflow_scores(setup, cells), strict=True))
        )
        # The ground truth: each cell's stand-alone validation accuracy, averaged over the training seeds.
        first = cell_frame.groupby("arch", sort=False).agg(
            val_accuracy=("val_accuracy", "mean"),
            connected=("connected", "first"),
            cpu_seconds=("cpu_seconds", "mean"),
            synflow=("synflow", "first"),
        )
        first = first.reindex(cells).reset_index()
        standalone_cpu = float(first["cpu_seconds"].mean())
        ranking_rows = [
            {
                "regime": regime,
                "seed": seed,
                "arch": arch,
                "score": score,
                "train_cpu_seconds": scored[f"{regime}|{seed}"]["train_cpu_seconds"],
                "score_cpu_seconds": scored[f"{regime}|{seed}"]["score_cpu_seconds"],
            }
            for regime in args.regimes
            for seed in range(args.supernet_seeds)
            for arch, score in zip(cells, scored[f"{regime}|{seed}"]["scores"], strict=True)
        ]
        ranking = pd.DataFrame(ranking_rows)
        ranking_md, regimes = ranking_table(first, ranking, standalone_cpu)
        best_regime = search_regime(regimes)

        # Phase 2: searches, the one-shot ones with the regime that ranked best (on validation accuracy).
        _load_optional_methods()
        search_setup = dataclasses.replace(
            setup, search_regime=best_regime, standalone_seconds=standalone_cpu
        )
        runnable = [(m, s) for m, s in searches if method_budget(m, 1.0)[0] in _METHODS]
        for method, seed in searches:
            if (method, seed) not in runnable:
                bar.update(1)
        search_tasks = [
            (f"{m}|{s}", (search_setup, m, s), cache.path("search", search_setup, m, s)) for m, s in runnable
        ]
        found = run_cached(
            cache,
            search_task,
            search_tasks,
            jobs=args.jobs,
            bar=bar,
            warning_log=warning_log,
            cached_only=args.from_cache,
        )
    search_rows = []
    for method, seed in searches:
        if f"{method}|{seed}" in found:
            search_rows.append({"method": method, "seed": seed, **found[f"{method}|{seed}"]})
        elif (method, seed) in runnable:
            search_rows.append(
                {"method": method, "seed": seed, "arch": None, "error": "not run yet (--from-cache)"}
            )
        else:
            search_rows.append(
                {
                    "method": method,
                    "seed": seed,
                    "arch": None,
                    "error": "no runner on this branch (benchmarks/weight_sharing_searchers.py)",
                }
            )
    search_frame = pd.DataFrame(search_rows)
    write_csv(cell_frame, args.out / "cells.csv")
    write_csv(ranking, args.out / "ranking.csv")
    write_csv(search_frame, args.out / "searches.csv")

    wall = time.perf_counter() - started
    supernet_runs = ranking.drop_duplicates(["regime", "seed"])
    total_cpu = (
        cell_frame["cpu_seconds"].sum()
        + supernet_runs["train_cpu_seconds"].sum()
        + (supernet_runs["score_cpu_seconds"] * len(cells)).sum()
        + (search_frame["cpu_seconds"].sum() if "cpu_seconds" in search_frame else 0.0)
        + standalone_cpu * (search_frame["arch"].notna().sum())  # each chosen cell's final training
    )
    summary = _summary(
        setup,
        args,
        cell_frame,
        ranking_md,
        regimes,
        best_regime,
        search_frame,
        standalone_cpu,
        wall,
        total_cpu,
    )
    (args.out / "summary.md").write_text(summary)
    print(summary)
    print(f"Files in {args.out}/: summary.md, cells.csv, ranking.csv, searches.csv. {warning_log.summary()}")
    return 0


def _summary(
    setup: Setup,
    args: argparse.Namespace,
    cells: pd.DataFrame,
    ranking_md: str,
    regimes: pd.DataFrame,
    best_regime: str,
    searches: pd.DataFrame,
    standalone_cpu: float,
    wall: float,
    total_cpu: float,
) -> str:
    first = cells[cells["seed"] == 0]
    seeds = cells["seed"].nunique()
    lines = [
        f"# Weight sharing on Fashion-MNIST ({setup.train_size} training, {setup.val_size} validation, "
        f"{setup.test_size} test images at 12x12): NB201 cells, C={setup.channels}, N={setup.cells_per_stage}",
        "",
        f"Stand-alone training: {setup.epochs} epochs, {standalone_cpu:.1f} CPU s per cell on average. "
        f"Supernets: epochs per regime below. Costs are CPU seconds of one thread; the whole run costs "
        f"{total_cpu / 60:.0f} CPU minutes (about {total_cpu / 120:.0f} min on 2 idle cores; this invocation took "
        f"{wall / 60:.1f} min of wall time with {args.jobs} worker(s), the rest cached).",
        "",
        f"## Ranking: {len(first)} random cells ({int(first['connected'].sum())} connected)",
        "",
    ]
    if seeds > 1:
        agreement = seed_agreement(cells)
        split = (
            f"; between the means of seeds {agreement['halves'][0]} and of seeds {agreement['halves'][1]} (two "
            f"ground truths of half as many seeds) {agreement['split_half']:.3f} (connected cells "
            f"{agreement['split_half_connected']:.3f})"
            if "split_half" in agreement
            else ""
        )
        lines += [
            f"Ground truth: stand-alone validation accuracy, mean of {seeds} training seeds "
            f"({first['val_accuracy'].min():.1f} to {first['val_accuracy'].max():.1f}% on seed 0, interquartile "
            f"range {first['val_accuracy'].quantile(0.25):.1f} to {first['val_accuracy'].quantile(0.75):.1f}%). "
            f"How far training noise alone lets a ranking agree: Kendall tau between two training seeds "
            f"{agreement['pairs']:.3f} on average over the {agreement['n_pairs']} pairs (connected cells "
            f"{agreement['pairs_connected']:.3f}){split}.",
            "",
        ]
    by_cell = cells.groupby("arch", sort=False).agg(
        val_accuracy=("val_accuracy", "mean"),
        connected=("connected", "first"),
        parameters=("parameters", "first"),
        synflow=("synflow", "first"),
    )
    on = by_cell[by_cell["connected"]]

    def tau_of(column: str) -> str:
        return (
            f"Kendall tau {kendall_tau(list(by_cell[column]), list(by_cell['val_accuracy'])):.3f} (connected "
            f"cells {kendall_tau(list(on[column]), list(on['val_accuracy'])):.3f})"
        )

    lines += [
        ranking_md,
        "",
        f"For scale, rankings with no training at all: by the parameter count of each cell's network, "
        f"{tau_of('parameters')}; by its SynFlow score at initialisation (a zero-cost proxy, one forward and "
        f"backward pass per cell: `bonas.training.proxies.synflow`), {tau_of('synflow')}. The column "
        "'rank-averaged with SynFlow' ranks cells by the mean of their supernet and SynFlow ranks (equal "
        "weights, not fitted).",
        "",
    ]
    affordable = regimes[regimes["cost_ratio"] <= 0.1]
    best = (affordable if not affordable.empty else regimes).sort_values("tau_mean", ascending=False).iloc[0]
    met = best["tau_mean"] >= 0.5 and best["cost_ratio"] <= 0.1
    best_mixed = (
        (affordable if not affordable.empty else regimes)
        .sort_values("tau_synflow_mean", ascending=False)
        .iloc[0]
    )
    lines += [
        f"Target (tau >= 0.5 at <= 1/10 of the stand-alone cost per candidate): best regime within the cost "
        f"`{best['regime']}`, tau {best['tau_mean']:.3f} at {best['cost_ratio']:.3f} of the cost: "
        f"**{'met' if met else 'missed'}**; rank-averaged with SynFlow, the best within the cost is "
        f"`{best_mixed['regime']}` at tau {best_mixed['tau_synflow_mean']:.3f}. One-shot searches below use "
        f"`{best_regime}`.",
        "",
        f"## Search at equal CPU time ({setup.budget:.0f} s; rows @1/3 get a third)",
        "",
        "One-shot searches use the regime that ranked best above (on validation accuracy) among those within "
        "the cost target. "
        f"Weight-sharing searches retrain their {setup.top_k} best candidates stand-alone inside their budget and "
        "choose by stand-alone validation accuracy; the final TEST accuracy is of one more stand-alone training "
        "of the chosen cell (fresh seed), mean ± std over search seeds.",
        "",
        search_table(searches, list(dict.fromkeys(searches["method"]))),
        "",
    ]
    bo = searches[(searches["method"] == "bo") & searches["test"].notna()] if "test" in searches else None
    if bo is not None and len(bo) > 1:
        bo_mean, bo_std = bo["test"].mean(), bo["test"].std()
        verdicts = []
        for method, rows in searches.groupby("method", sort=False):
            name, fraction = method_budget(method, 1.0)
            if fraction > 1 / 3 + 1e-9 or name in ("random", "bo") or rows["test"].isna().all():
                continue
            mean = rows["test"].mean()
            ok = (
                mean >= bo_mean - bo_std and rows["cpu_seconds"].mean() <= bo["cpu_seconds"].mean() / 3 * 1.05
            )
            verdicts.append(f"`{method}` {mean:.2f} ({'met' if ok else 'missed'})")
        lines += [
            f"Target (a weight-sharing search within one std of BO's final test accuracy, {bo_mean:.2f} ± "
            f"{bo_std:.2f}, in at most a third of its CPU time): "
            + (", ".join(verdicts) or "no row to judge")
            + ".",
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(run_command(main, "python -m benchmarks.weight_sharing"))
