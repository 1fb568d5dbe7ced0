"""ENAS with shared weights and DARTS in ``python -m benchmarks.weight_sharing``'s search table.

:mod:`benchmarks.weight_sharing` reads :data:`METHODS` from this module: ``enas``, ``darts`` and
``darts-2nd``. Each runner spends at most its CPU budget (``time.process_time``) on the search and on
stand-alone retraining, as the other rows do: the search gets the budget less the retraining it
reserves (``top_k`` stand-alone trainings for ENAS, whose candidates come ranked; one for DARTS, whose
answer is its derived cell), then the retrained candidates are compared by stand-alone validation
accuracy. Neither reads the test split.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.weight_sharing import (
    SearchOutcome,
    Setup,
    _Budget,
    _network,
    load_data,
    standalone_objective,
    supernet_settings,
)

#: Upper bounds on epochs: the CPU budget decides how many run (the schedules shrink to fit it).
MAX_EPOCHS = 200


def _retrain(
    setup: Setup, seed: int, candidates: list[Any], budget: _Budget, seconds: float
) -> tuple[Any, float]:
    """Train ``candidates`` stand-alone, best-ranked first, while the budget lasts (at least one), and
    return the one of best stand-alone validation accuracy."""
    objective = standalone_objective(setup, seed)
    best: tuple[Any, float] | None = None
    for architecture in candidates:
        if best is not None and budget.spent + setup.standalone_seconds > seconds:
            break
        value = float(objective(architecture)["val_accuracy"])
        if best is None or value > best[1]:
            best = (architecture, value)
    assert best is not None
    return best


def _enas(setup: Setup, seed: int, seconds: float) -> SearchOutcome:
    import bonas
    from bonas.supernet_search import ENASSettings, supernet_search

    budget = _Budget(seconds)
    space = bonas.get_space("nb201")
    result = supernet_search(
        "enas-ws",
        space,
        load_data(setup),
        network=_network(setup),
        seed=seed,
        max_seconds=max(seconds - setup.top_k * setup.standalone_seconds, 0.0),
        clock=time.process_time,
        settings=ENASSettings(epochs=MAX_EPOCHS),
        supernet_settings=supernet_settings(setup, "uniform", seed, epochs=MAX_EPOCHS),
    )
    candidates = [architecture for architecture, _ in result.candidates[: setup.top_k]]
    architecture, value = _retrain(setup, seed, candidates, budget, seconds)
    return SearchOutcome(str(architecture), value, len(result.candidates), budget.spent)


def _darts(order: int) -> Any:
    def run(setup: Setup, seed: int, seconds: float) -> SearchOutcome:
        import bonas
        from bonas.supernet_search import supernet_search
        from bonas.training.darts import DartsSettings

        budget = _Budget(seconds)
        space = bonas.get_space("nb201")
        settings = DartsSettings(
            epochs=MAX_EPOCHS, order=order, batch_size=setup.batch_size, seed=seed, device="cpu"
        )
        result = supernet_search(
            "darts" if order == 1 else "darts-2nd",
            space,
            load_data(setup),
            network=_network(setup),
            seed=seed,
            max_seconds=max(seconds - setup.standalone_seconds, 0.0),
            clock=time.process_time,
            settings=settings,
        )
        architecture, value = _retrain(setup, seed, [result.architecture], budget, seconds)
        return SearchOutcome(str(architecture), value, 1, budget.spent)

    return run


#: What :mod:`benchmarks.weight_sharing` adds to its search table (it reads this dict, which works
#: when it runs as ``__main__``).
METHODS = {"enas": _enas, "darts": _darts(1), "darts-2nd": _darts(2)}
