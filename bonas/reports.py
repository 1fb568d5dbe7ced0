"""Reports on stored studies: the tables ``bonas show`` prints and the best-architecture note.

:func:`studies_table` (one row per study), :func:`top_trials` (a study's best evaluations) and
:func:`pareto_table` (a multi-objective study's Pareto set) are what ``bonas show`` prints; :func:`best_note` is the Markdown note :func:`bonas.dashboard.annotate_best`
attaches to a study for optuna-dashboard.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import optuna
from optuna.trial import FrozenTrial, TrialState

from bonas import trials

if TYPE_CHECKING:
    import pandas as pd

#: Columns of :func:`studies_table`.
STUDY_COLUMNS = [
    "study",
    "space",
    "objective",
    "metric",
    "direction",
    "evaluations",
    "running",
    "waiting",
    "failed",
    "stopped",
    "pareto_size",
    "best_trial",
    "best_value",
    "best_arch",
]


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The study's best evaluation, as :class:`bonas.SearchResult` has it (the best feasible one with
    constraints, at the highest fidelity held), or None if none completed (or none is feasible), and None
    for a multi-objective study (see :func:`pareto_table`)."""
    if len(study.directions) > 1:
        return None
    best = trials.pareto_trials(study)
    return best[0] if best else None


def best_mean_trial(study: optuna.Study, best: FrozenTrial) -> tuple[FrozenTrial, float]:
    """For an unconstrained single-objective study that evaluated an architecture more than once (a noisy
    objective searched with ``allow_repeats``): the last evaluation of the architecture of best mean
    value, and that mean, the rule :func:`bonas.search` reports a noisy search by (grouped by hash here,
    as no space is at hand to rebuild the architectures for :meth:`SearchHistory.best_mean`); else
    ``best`` and its value. Among evaluations of the best's fidelity."""
    fidelity = best.user_attrs.get(trials.FIDELITY_ATTR)
    groups: dict[str, list[FrozenTrial]] = {}
    for trial in trials.evaluations(study.get_trials(deepcopy=False)):
        if trial.user_attrs.get(trials.FIDELITY_ATTR) == fidelity and trial.value is not None:
            groups.setdefault(str(trial.user_attrs.get(trials.ARCH_HASH_ATTR)), []).append(trial)
    if all(len(group) == 1 for group in groups.values()):
        return best, float(best.value)  # type: ignore[arg-type]
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MINIMIZE else 1.0
    means = {key: sum(float(t.value) for t in group) / len(group) for key, group in groups.items()}  # type: ignore[arg-type]
    chosen = max(means, key=lambda key: sign * means[key])  # the first evaluated among ties
    return groups[chosen][-1], means[chosen]


def pareto_table(study: optuna.Study) -> pd.DataFrame:
    """A multi-objective study's Pareto set (of its feasible evaluations): one row per member, sorted by
    the first objective (best first), with ``trial``, ``arch``, the objectives and every other metric."""
    import pandas as pd

    attributes = trials.StudyAttributes.of(study)
    members = trials.pareto_trials(study)
    metrics = list(attributes.metrics)
    rows = []
    for trial in members:
        others = trials.metrics_of(trial)
        row = {"trial": trial.number, "arch": trial.user_attrs.get(trials.ARCH_ATTR)}
        row.update({name: value for name, value in zip(metrics, trial.values, strict=False)})
        row.update({k: v for k, v in others.items() if k not in row})
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty or not metrics:
        return frame
    first = metrics[0]
    ascending = study.directions[0] == optuna.study.StudyDirection.MINIMIZE
    return frame.sort_values(first, ascending=ascending, kind="stable").reset_index(drop=True)


def best_note(study: optuna.Study, best: FrozenTrial, picture_url: str | None = None) -> str:
    """The Markdown note describing the study's best architecture."""
    attrs = study.user_attrs
    metric = attrs.get(trials.METRIC_ATTR, "value")
    lines = [
        f"## Best architecture (trial {best.number})",
        "",
        f"`{best.user_attrs.get(trials.ARCH_ATTR, '?')}`",
        "",
        f"- {metric}: **{best.value:.6g}** ({study.direction.name.lower()})",
        f"- canonical hash: `{best.user_attrs.get(trials.ARCH_HASH_ATTR, '?')}`",
    ]
    for key in (trials.SPACE_ATTR, trials.BENCHMARK_ATTR, trials.OBJECTIVE_ATTR):
        if key in attrs:
            lines.append(f"- {key}: `{attrs[key]}`")
    metrics = {
        k: v
        for k, v in trials.metrics_of(best).items()
        if k != metric and isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }
    if metrics:
        lines += ["", markdown_row(["metric", "value"]), "|---|---|"]
        lines += [markdown_row([k, f"{v:.6g}"]) for k, v in metrics.items()]
    if picture_url is not None:
        lines += ["", f"![best cell DAG]({picture_url})"]
    lines += ["", "_Written by bonas; refreshed by `bonas dashboard` and at the end of each search._"]
    return "\n".join(lines)


def infeasible_note(study: optuna.Study) -> str:
    """The Markdown note of a study whose evaluations all break its constraints."""
    attributes = trials.StudyAttributes.of(study)
    held = len(trials.evaluations(study.get_trials(deepcopy=False)))
    constraints = ", ".join(f"`{c}`" for c in attributes.constraints)
    return "\n".join(
        [
            "## No feasible evaluation yet",
            "",
            f"None of the {held} evaluations satisfies the constraints {constraints}; the trial list shows "
            "their values.",
            "",
            "_Written by bonas; refreshed by `bonas dashboard` and at the end of each search._",
        ]
    )


def pareto_note(study: optuna.Study) -> str:
    """The Markdown note listing a multi-objective study's Pareto set (optuna-dashboard plots the front)."""
    attributes = trials.StudyAttributes.of(study)
    table = pareto_table(study)
    metrics = list(attributes.metrics)
    directions = ", ".join(f"{m} ({d})" for m, d in attributes.objectives)
    lines = [f"## Pareto front ({len(table)} architectures)", "", f"Objectives: {directions}."]
    if attributes.constraints:
        lines.append(
            f"Constraints: {', '.join(f'`{c}`' for c in attributes.constraints)} (feasible trials only)."
        )
    if not table.empty:
        lines += ["", markdown_row(["trial", "architecture", *metrics]), "|---|---|" + "---|" * len(metrics)]
        for _, row in table.iterrows():
            cells = [str(row["trial"]), f"`{row['arch']}`", *(f"{row[m]:.6g}" for m in metrics)]
            lines.append(markdown_row(cells))
    lines += ["", "_Written by bonas; refreshed by `bonas dashboard` and at the end of each search._"]
    return "\n".join(lines)


def markdown_row(cells: list[str]) -> str:
    """One row of a Markdown table; a ``|`` inside a cell (NB201's architecture strings are full of them,
    code spans included) is escaped, so that it does not split the cell."""
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def studies_table(storage: optuna.storages.BaseStorage) -> pd.DataFrame:
    """One row per study: name, space, benchmark/objective, metric, direction, trial counts by state,
    evaluations (COMPLETE non-repeat trials), best value and best architecture (where an architecture was
    evaluated more than once, the best mean value, as :func:`bonas.search` reports). ``stopped`` counts the
    failed trials that judged no architecture (:func:`bonas.trials.not_judged`: interrupted, a set-up
    error, failed ``cheap_metrics``, the space exhausted, the worker lost), ``failed`` the other failed
    trials (the objective raised or returned no usable value, the proposal failed)."""
    import pandas as pd

    rows = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        all_trials = study.get_trials(deepcopy=False)
        states = [t.state for t in all_trials]
        # Failed without judging an architecture (a lost worker's trial too: another worker retries it).
        stopped = sum(trials.not_judged(t) or trials.lost_worker(t) for t in all_trials)
        best = best_trial(study)
        attrs = trials.StudyAttributes.of(study)
        best_value = best.value if best is not None else None
        if best is not None and not attrs.constraints:
            best, best_value = best_mean_trial(study, best)
        metric = attrs.metric
        if attrs.constraints:
            metric = f"{metric} s.t. {', '.join(map(str, attrs.constraints))}"
        rows.append(
            {
                "study": study.study_name,
                "space": attrs.space,
                "objective": attrs.objective_label,
                "metric": metric,
                "direction": ", ".join(d.name.lower() for d in study.directions),
                "evaluations": len(trials.evaluations(all_trials)),
                "running": states.count(TrialState.RUNNING),
                "waiting": states.count(TrialState.WAITING),
                "failed": states.count(TrialState.FAIL) - stopped,
                "stopped": stopped,
                "pareto_size": len(trials.pareto_trials(study)) if len(study.directions) > 1 else None,
                "best_trial": best.number if best is not None else None,
                "best_value": best_value,
                "best_arch": best.user_attrs.get(trials.ARCH_ATTR) if best is not None else None,
            }
        )
    frame = pd.DataFrame(rows, columns=STUDY_COLUMNS)
    # Counts and trial numbers stay whole numbers beside studies that have none (not 3.0 and NaN).
    return frame.astype({"pareto_size": "Int64", "best_trial": "Int64"})


def top_trials(study: optuna.Study, k: int = 10) -> pd.DataFrame:
    """The ``k`` best evaluations of a study (repeats excluded), best first, with every metric; with
    constraints, feasible ones first."""

    import pandas as pd

    history = trials.history_frame(study)
    if history.empty:
        return history
    done = trials.evaluation_rows(history)
    ascending = study.direction == optuna.study.StudyDirection.MINIMIZE
    done = done.sort_values("value", ascending=ascending, kind="stable")
    if trials.FIDELITY_ATTR in done.columns:  # the highest fidelity first: scales differ between them
        rank = done[trials.FIDELITY_ATTR].map(lambda f: trials.fidelity_rank(None if pd.isna(f) else f))
        done = (
            done.assign(_rank=rank).sort_values("_rank", ascending=False, kind="stable").drop(columns="_rank")
        )
    if "feasible" in done.columns:
        done = done.sort_values("feasible", ascending=False, kind="stable")
    return _without_bookkeeping(done.head(k))


def _without_bookkeeping(done: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    bookkeeping = [
        "state",
        "query",
        trials.ARCH_HASH_ATTR,
        trials.REPEAT_OF_ATTR,
        trials.FAIL_REASON_ATTR,
        trials.PROPOSE_SECONDS_ATTR,
    ]
    columns = [c for c in done.columns if c not in bookkeeping]
    return pd.DataFrame(done[columns]).reset_index(drop=True)
