"""The search loop: an Optuna study that asks a sampler for architectures and tells their values.

Every searcher is an Optuna sampler over the space's parameters, so storage, resume and the dashboard
work for all of them. The loop adds what NAS needs on top:

* an architecture (or an isomorph) is never evaluated twice: a repeat gets the earlier value, is marked
  with the user attribute ``repeat_of`` and does not count as a query (unless ``allow_repeats``);
* an objective that raises or returns NaN fails its trial with the reason (user attribute
  ``fail_reason``) and the search goes on;
* every trial records ``arch``, ``arch_hash``, every metric the objective returned, and the seconds
  spent proposing (``propose_seconds``) and evaluating (``objective_seconds``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import optuna
import pandas as pd
from optuna.trial import TrialState

from bonas.architecture import Architecture
from bonas.errors import BonasError, SearchSpaceExhaustedError
from bonas.samplers import ArchitectureSampler, make_sampler
from bonas.samplers.base import REPEAT_OF_ATTR
from bonas.spaces.base import SearchSpace

logger = logging.getLogger(__name__)

Objective = Callable[[Architecture], float | Mapping[str, float]]

ARCH_ATTR = "arch"
ARCH_HASH_ATTR = "arch_hash"
FAIL_REASON_ATTR = "fail_reason"
PROPOSE_SECONDS_ATTR = "propose_seconds"
OBJECTIVE_SECONDS_ATTR = "objective_seconds"
_BOOKKEEPING_ATTRS = {
    ARCH_ATTR,
    ARCH_HASH_ATTR,
    FAIL_REASON_ATTR,
    PROPOSE_SECONDS_ATTR,
    OBJECTIVE_SECONDS_ATTR,
}


class ObjectiveError(BonasError, ValueError):
    """An objective returned something that is not a number or a dict holding the searched metric."""


@dataclass
class SearchResult:
    """The outcome of :func:`search`.

    Args:
        best_architecture: the best evaluated architecture (by the study's direction).
        best_value: its value.
        history: one row per trial (see :func:`history_frame`).
        study: the Optuna study, with every trial.
    """

    best_architecture: Architecture
    best_value: float
    history: pd.DataFrame
    study: optuna.Study


def search(
    space: SearchSpace,
    objective: Objective,
    *,
    sampler: str | optuna.samplers.BaseSampler = "random",
    n_trials: int = 100,
    storage: str | optuna.storages.BaseStorage | None = None,
    study_name: str | None = None,
    seed: int | None = None,
    metric: str = "val_accuracy",
    direction: str = "maximize",
    allow_repeats: bool = False,
    max_attempts: int | None = None,
    show_progress: bool = False,
) -> SearchResult:
    """Search ``space`` for the architecture that maximises (or minimises) ``objective``.

    Args:
        space: the search space.
        objective: a callable taking an :class:`Architecture` and returning a float or a dict of metrics
            (a tabular benchmark is one). A dict must hold ``metric``.
        sampler: a searcher name (see :func:`bonas.samplers.sampler_names`) or any Optuna sampler.
        n_trials: evaluations (queries) to spend in this call; repeats and failures do not count.
        storage: None for an in-memory study, an Optuna storage, or a database URL
            (``sqlite:///search.db``) to persist the study and resume it later.
        study_name: name of the study in ``storage``; an existing study of that name is continued.
        seed: seed of a sampler given by name.
        metric: key of the objective's dict that is optimised.
        direction: ``"maximize"`` or ``"minimize"``.
        allow_repeats: evaluate architectures again if proposed again (for noisy objectives).
        max_attempts: cap on trials in this call, counting repeats and failures
            (default ``10 * n_trials + 100``), so a sampler stuck on repeats cannot loop forever.
        show_progress: show a progress bar over queries.

    Returns:
        A :class:`SearchResult`.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}.")
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction must be 'maximize' or 'minimize', got {direction!r}.")
    if isinstance(sampler, str):
        sampler = make_sampler(sampler, space, seed=seed)
        if isinstance(sampler, ArchitectureSampler):
            sampler.allow_repeats = allow_repeats
    study = optuna.create_study(
        storage=storage, study_name=study_name, sampler=sampler, direction=direction, load_if_exists=True
    )
    study.set_user_attr("space", space.name)
    study.set_user_attr(
        "objective", getattr(objective, "name", getattr(objective, "__name__", repr(objective)))
    )
    study.set_user_attr("metric", metric)

    evaluated = _evaluated_hashes(study)
    max_attempts = 10 * n_trials + 100 if max_attempts is None else max_attempts
    queries = attempts = 0
    progress = _progress_bar(n_trials, show_progress)
    try:
        while queries < n_trials and attempts < max_attempts:
            attempts += 1
            try:
                queried = _run_trial(study, space, objective, metric, evaluated, allow_repeats)
            except SearchSpaceExhaustedError as error:
                logger.warning("Stopping the search: %s", error)
                break
            if queried:
                queries += 1
                progress.update(1)
    finally:
        progress.close()
    if queries < n_trials:
        logger.warning("Search spent %d of %d queries in %d attempts.", queries, n_trials, attempts)
    return _result(study, space)


def _run_trial(
    study: optuna.Study,
    space: SearchSpace,
    objective: Objective,
    metric: str,
    evaluated: dict[str, tuple[int, float]],
    allow_repeats: bool,
) -> bool:
    """Run one trial; True if it spent a query on the objective."""
    trial = study.ask()
    try:
        started = time.perf_counter()
        architecture = space.suggest(trial)
        trial.set_user_attr(PROPOSE_SECONDS_ATTR, time.perf_counter() - started)
        trial.set_user_attr(ARCH_ATTR, str(architecture))
        trial.set_user_attr(ARCH_HASH_ATTR, architecture.canonical_hash)
    except SearchSpaceExhaustedError as error:
        _fail(study, trial, f"search space exhausted: {error}")
        raise
    except Exception as error:
        _fail(study, trial, f"proposal failed: {type(error).__name__}: {error}")
        return False
    except KeyboardInterrupt:
        _fail(study, trial, "interrupted")
        raise

    earlier = evaluated.get(architecture.canonical_hash)
    if earlier is not None and not allow_repeats:
        trial.set_user_attr(REPEAT_OF_ATTR, earlier[0])
        study.tell(trial, earlier[1])
        return False

    started = time.perf_counter()
    try:
        value, metrics = _metrics(objective(architecture), metric)
    except KeyboardInterrupt:
        _fail(study, trial, "interrupted")
        raise
    except Exception as error:
        trial.set_user_attr(OBJECTIVE_SECONDS_ATTR, time.perf_counter() - started)
        _fail(study, trial, f"{type(error).__name__}: {error}")
        return True
    trial.set_user_attr(OBJECTIVE_SECONDS_ATTR, time.perf_counter() - started)
    for name, number in metrics.items():
        trial.set_user_attr(name, number)
    if not math.isfinite(value):
        _fail(study, trial, f"objective returned {metric}={value}")
        return True
    study.tell(trial, value)
    evaluated.setdefault(architecture.canonical_hash, (trial.number, value))
    return True


def _metrics(result: Any, metric: str) -> tuple[float, dict[str, float]]:
    if isinstance(result, Mapping):
        if metric not in result:
            raise ObjectiveError(
                f"The objective returned metrics {sorted(result)} without {metric!r}; return it or pass "
                f"search(..., metric=<one of those>)."
            )
        metrics = {str(name): float(value) for name, value in result.items()}
        return metrics[metric], metrics
    try:
        value = float(result)
    except (TypeError, ValueError):
        raise ObjectiveError(
            f"The objective returned {result!r}; it must return a number or a dict of metrics holding {metric!r}."
        ) from None
    return value, {metric: value}


def _fail(study: optuna.Study, trial: optuna.Trial, reason: str) -> None:
    logger.warning("Trial %d failed: %s", trial.number, reason)
    trial.set_user_attr(FAIL_REASON_ATTR, reason)
    study.tell(trial, state=TrialState.FAIL)


def _evaluated_hashes(study: optuna.Study) -> dict[str, tuple[int, float]]:
    """Canonical hash -> (number, value) of the first COMPLETE trial that evaluated it."""
    evaluated: dict[str, tuple[int, float]] = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        arch_hash = trial.user_attrs.get(ARCH_HASH_ATTR)
        if arch_hash is not None and REPEAT_OF_ATTR not in trial.user_attrs:
            evaluated.setdefault(arch_hash, (trial.number, float(trial.value)))  # type: ignore[arg-type]
    return evaluated


def history_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: ``trial``, ``state``, ``query`` (1-based count of evaluations, NA for repeats
    and proposal failures), ``arch``, ``arch_hash``, ``value``, ``repeat_of``, ``fail_reason``,
    ``propose_seconds``, ``objective_seconds`` and one column per metric."""
    rows = []
    query = 0
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        spent = OBJECTIVE_SECONDS_ATTR in attrs and REPEAT_OF_ATTR not in attrs
        query += spent
        row: dict[str, Any] = {
            "trial": trial.number,
            "state": trial.state.name,
            "query": query if spent else pd.NA,
            "arch": attrs.get(ARCH_ATTR),
            "arch_hash": attrs.get(ARCH_HASH_ATTR),
            "value": trial.value,
            "repeat_of": attrs.get(REPEAT_OF_ATTR),
            "fail_reason": attrs.get(FAIL_REASON_ATTR),
            "propose_seconds": attrs.get(PROPOSE_SECONDS_ATTR),
            "objective_seconds": attrs.get(OBJECTIVE_SECONDS_ATTR),
        }
        row.update({k: v for k, v in attrs.items() if k not in _BOOKKEEPING_ATTRS and k != REPEAT_OF_ATTR})
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["query"] = frame["query"].astype("Int64")
    return frame


def _result(study: optuna.Study, space: SearchSpace) -> SearchResult:
    history = history_frame(study)
    try:
        best = study.best_trial
    except ValueError:
        raise BonasError(
            f"No trial of study {study.study_name!r} completed; see the fail_reason column of the history:\n"
            f"{history[['trial', 'fail_reason']].to_string(index=False) if not history.empty else '(none)'}"
        ) from None
    return SearchResult(
        best_architecture=space.parse(best.user_attrs[ARCH_ATTR]),
        best_value=float(best.value),  # type: ignore[arg-type]
        history=history,
        study=study,
    )


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, show: bool) -> Any:
    if not show:
        return _NoProgress()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="queries", unit="query")
