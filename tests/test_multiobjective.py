"""Several objectives and constraints through the search loop: the study, the trial schema, the result,
the reports and bad input."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import optuna
import pytest

from bonas import trials
from bonas.architecture import Architecture
from bonas.errors import BonasError
from bonas.reports import pareto_table, studies_table
from bonas.search_inputs import (
    ObjectiveError,
    SamplerMismatchError,
    StudyMismatchError,
    parse_constraint,
    parse_objective,
)
from bonas.spaces import get_space
from bonas.study import SearchFailedError, search
from bonas.testing.samplers import hashed_score, tiny_space

pytestmark = pytest.mark.usefixtures("quiet_optuna")


def two_metrics(architecture: Architecture) -> dict[str, float]:
    """Accuracy and a cost that trade off: the cost is a second hashed score."""
    score = hashed_score(architecture)
    return {"val_accuracy": score, "latency_ms": 10.0 * abs(score - 0.3) + hashed_score_2(architecture)}


def hashed_score_2(architecture: Architecture) -> float:
    """A second fixed pseudo-random score in [0, 1) per canonical hash, independent of the first."""
    digest = hashlib.blake2b(architecture.canonical_hash.encode(), digest_size=8, key=b"latency")
    return int.from_bytes(digest.digest(), "big") / 2**64


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether (max, min) point ``a`` dominates ``b``."""
    return a[0] >= b[0] and a[1] <= b[1] and a != b


def test_a_multi_objective_search_is_an_optuna_multi_objective_study_with_its_pareto_front() -> None:
    space = get_space("nb201")
    result = search(
        space,
        two_metrics,
        sampler="random",
        objectives={"val_accuracy": "maximize", "latency_ms": "min"},
        n_trials=20,
        seed=0,
    )
    study = result.study
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert study.metric_names == ["val_accuracy", "latency_ms"]
    assert study.user_attrs[trials.OBJECTIVES_ATTR] == [
        ["val_accuracy", "maximize"],
        ["latency_ms", "minimize"],
    ]
    assert result.best_architecture is None and result.best_value is None
    points = {t.number: (t.values[0], t.values[1]) for t in study.trials if trials.is_evaluation(t)}
    assert len(points) == 20
    front = {n for n, p in points.items() if not any(dominates(q, p) for q in points.values())}
    assert {member.trial for member in result.pareto_front} == front
    for member in result.pareto_front:
        assert str(member.architecture) == study.trials[member.trial].user_attrs["arch"]
        assert member.metrics["latency_ms"] == points[member.trial][1]
    history = result.history
    assert history["value"].isna().all()
    assert set(history.loc[history["pareto"] == True, "trial"]) == front  # noqa: E712
    table = pareto_table(study)
    assert set(table["trial"]) == front
    assert list(table["val_accuracy"]) == sorted(table["val_accuracy"], reverse=True)


def test_constraints_are_stored_where_optuna_and_the_dashboard_read_them_and_pick_the_best_feasible() -> None:
    space = get_space("nb201")
    bound = 4.0
    result = search(
        space,
        two_metrics,
        sampler="random",
        constraints={"latency_ms": ("<=", bound)},
        n_trials=25,
        seed=1,
    )
    study = result.study
    evaluations = [t for t in study.trials if trials.is_evaluation(t)]
    for trial in evaluations:
        stored = trial.system_attrs[trials.CONSTRAINT_VALUES_ATTR]
        assert stored == [pytest.approx(trial.user_attrs["latency_ms"] - bound)]
        assert trial.constraints == {"0": stored[0]}
    feasible = [t for t in evaluations if t.user_attrs["latency_ms"] <= bound]
    infeasible = [t for t in evaluations if t.user_attrs["latency_ms"] > bound]
    assert feasible and infeasible, "the bound should split the evaluations"
    best = max(feasible, key=lambda t: t.value)
    assert result.best_value == best.value
    assert str(result.best_architecture) == best.user_attrs["arch"]
    assert list(result.history.set_index("trial").loc[[t.number for t in feasible], "feasible"]) == [
        True
    ] * len(feasible)
    assert study.user_attrs[trials.CONSTRAINTS_ATTR] == [["latency_ms", "<=", bound]]
    assert "latency_ms<=4" in studies_table(study._storage).iloc[0]["metric"]


def test_no_feasible_evaluation_gives_no_best_and_keeps_the_study() -> None:
    result = search(
        tiny_space(),
        two_metrics,
        sampler="random",
        constraints={"latency_ms": ("<=", -1.0)},
        n_trials=3,
        seed=0,
    )
    assert result.best_architecture is None and result.pareto_front == []
    assert not result.history["feasible"].any()


def test_a_repeat_gets_the_earlier_values_and_constraints() -> None:
    # Optuna's own random sampler on a 4-architecture space repeats architectures.
    result = search(
        tiny_space(),
        two_metrics,
        sampler=optuna.samplers.RandomSampler(seed=3),
        objectives={"val_accuracy": "maximize", "latency_ms": "minimize"},
        constraints={"latency_ms": ("<=", 100.0)},
        n_trials=4,
        seed=0,
    )
    by_number = {t.number: t for t in result.study.trials}
    repeats = [t for t in by_number.values() if trials.is_repeat(t)]
    assert repeats
    for repeat in repeats:
        original = by_number[repeat.user_attrs[trials.REPEAT_OF_ATTR]]
        assert repeat.values == original.values
        assert repeat.constraints == original.constraints


@pytest.mark.parametrize("sampler", ["regularized-evolution", "optuna-nsga2", "optuna-tpe"])
def test_multi_objective_baselines_run_with_constraints(sampler) -> None:
    result = search(
        get_space("nb201"),
        two_metrics,
        sampler=sampler,
        objectives={"val_accuracy": "maximize", "latency_ms": "minimize"},
        constraints={"latency_ms": ("<=", 5.0)},
        n_trials=25,
        seed=0,
    )
    assert len(trials.evaluations(result.study.trials)) == 25
    assert all(m.metrics["latency_ms"] <= 5.0 for m in result.pareto_front)


@pytest.mark.parametrize("sampler", ["local-search", "bo-gp-wl", "reinforce"])
def test_single_objective_searchers_refuse_several_objectives_and_constraints(sampler) -> None:
    with pytest.raises(SamplerMismatchError, match=r"optimises one objective.*'mobo-gp-wl-rbf'"):
        search(
            get_space("nb201"),
            two_metrics,
            sampler=sampler,
            objectives={"val_accuracy": "max", "latency_ms": "min"},
        )
    with pytest.raises(SamplerMismatchError, match="does not take constraints"):
        search(get_space("nb201"), two_metrics, sampler=sampler, constraints={"latency_ms": ("<=", 1.0)})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"objectives": {"val_accuracy": "up"}},
            "direction of 'val_accuracy' must be 'maximize' or 'minimize'",
        ),
        ({"objectives": {}}, "objectives must be a dict of metric"),
        ({"objectives": ["val_accuracy"]}, "objectives must be a dict of metric"),
        (
            {"objectives": {"val_accuracy": "max", "latency_ms": "min"}, "metric": "latency_ms"},
            "Give either objectives= or metric=/direction=",
        ),
        ({"constraints": {"latency_ms": ("<", 1.0)}}, "operator of 'latency_ms' must be '<=' or '>='"),
        ({"constraints": {"latency_ms": ("<=", "10")}}, "bound of 'latency_ms' must be a number, got '10'"),
        ({"constraints": {"latency_ms": ("<=", math.inf)}}, "bound of 'latency_ms' must be finite"),
        ({"constraints": {"latency_ms": 10}}, "must map to \\(operator, bound\\)"),
        ({"constraints": [("latency_ms", "<=", 1)]}, "constraints must be a dict"),
    ],
)
def test_bad_objectives_and_constraints_fail_naming_them(kwargs, message) -> None:
    with pytest.raises(BonasError, match=message):
        search(tiny_space(), two_metrics, sampler="random", n_trials=1, **kwargs)


def test_a_metric_a_benchmark_does_not_return_fails_before_any_trial(nb201_benchmark) -> None:
    storage = optuna.storages.InMemoryStorage()
    for kwargs, kind in (
        ({"objectives": {"val_accuracy": "max", "latency_pixel9": "min"}}, "objective"),
        ({"constraints": {"latency_pixel9": ("<=", 1.0)}}, "constraint"),
    ):
        with pytest.raises(
            BonasError, match=f"The {kind} metric 'latency_pixel9' is not one.*'latency_pixel3'"
        ):
            search(nb201_benchmark.space, nb201_benchmark, sampler="random", storage=storage, **kwargs)
    assert optuna.get_all_study_summaries(storage) == []


def test_a_result_missing_an_objective_or_constraint_metric_fails_the_trial_naming_it() -> None:
    def accuracy_only(architecture: Architecture) -> dict[str, float]:
        return {"val_accuracy": hashed_score(architecture)}

    for kwargs, kind in (
        ({"objectives": {"val_accuracy": "max", "latency_ms": "min"}}, "objective"),
        ({"constraints": {"latency_ms": ("<=", 1.0)}}, "constraint"),
    ):
        with pytest.raises(SearchFailedError, match=f"without the {kind} metric 'latency_ms'"):
            search(
                get_space("nb201"),
                accuracy_only,
                sampler="random",
                n_trials=3,
                max_consecutive_failures=2,
                **kwargs,
            )
    storage = optuna.storages.InMemoryStorage()
    with pytest.raises(
        SearchFailedError,
        match=r"after its first trial .*must return a dict of metrics holding 'val_accuracy', 'latency_ms'",
    ):
        search(
            get_space("nb201"),
            hashed_score,  # a bare number: every trial would fail alike, so the first one stops the search
            sampler="random",
            objectives={"val_accuracy": "max", "latency_ms": "min"},
            storage=storage,
            study_name="bare",
        )
    assert len(optuna.load_study(study_name="bare", storage=storage).trials) == 1
    assert issubclass(ObjectiveError, ValueError)


@pytest.mark.parametrize("latency", ["3.0", None, True, float("inf")])
def test_a_trial_failed_by_one_bad_value_keeps_the_other_metrics(latency) -> None:
    def one_bad(architecture: Architecture) -> dict[str, object]:
        return {"val_accuracy": 91.0, "latency_ms": latency, "params": 5.0, "note": "measured"}

    storage = optuna.storages.InMemoryStorage()
    with pytest.raises(BonasError, match="No trial of study 's' completed"):
        search(tiny_space(), one_bad, sampler="random", n_trials=1, max_consecutive_failures=None,
               objectives={"val_accuracy": "max", "latency_ms": "min"}, storage=storage, study_name="s")  # fmt: skip
    (trial,) = optuna.load_study(study_name="s", storage=storage).trials
    assert trial.state == optuna.trial.TrialState.FAIL and "latency_ms" in trial.user_attrs["fail_reason"]
    assert {k: trial.user_attrs.get(k) for k in ("val_accuracy", "params", "note")} == {
        "val_accuracy": 91.0,
        "params": 5.0,
        "note": "measured",
    }
    assert latency == float("inf") or "latency_ms" not in trial.user_attrs  # only numbers under its name


@pytest.mark.parametrize("value", [float("-inf"), float("inf"), float("nan")])
def test_a_non_finite_constraint_value_fails_the_trial(value) -> None:
    def bad_latency(architecture: Architecture) -> dict[str, float]:
        return {"val_accuracy": hashed_score(architecture), "latency_ms": value}

    storage = optuna.storages.InMemoryStorage()
    # -inf would otherwise satisfy the bound, and its trial could be the best feasible one.
    with pytest.raises(BonasError, match="No trial of study 's' completed"):
        search(tiny_space(), bad_latency, sampler="random", n_trials=2, max_consecutive_failures=None,
               constraints={"latency_ms": ("<=", 5.0)}, storage=storage, study_name="s")  # fmt: skip
    study = optuna.load_study(study_name="s", storage=storage)
    assert {t.state for t in study.trials} == {optuna.trial.TrialState.FAIL}
    assert (
        f"returned {value} for the constraint metric 'latency_ms'"
        in study.trials[0].user_attrs["fail_reason"]
    )


def test_a_metric_named_like_a_trial_field_stops_the_search_and_overwrites_nothing() -> None:
    def names_itself(architecture: Architecture) -> dict[str, object]:
        return {"val_accuracy": hashed_score(architecture), "arch": "my-resnet", "params": 3.0}

    storage = optuna.storages.InMemoryStorage()
    with pytest.raises(SearchFailedError, match=r"named 'arch'.*Rename them .*'my_arch'"):
        search(tiny_space(), names_itself, sampler="random", n_trials=3, storage=storage, study_name="s")
    (trial,) = optuna.load_study(study_name="s", storage=storage).trials
    assert trial.user_attrs["arch"] != "my-resnet" and trial.user_attrs["params"] == 3.0
    with pytest.raises(BonasError, match="The constraint metric 'objective_seconds' is a name bonas records"):
        search(tiny_space(), names_itself, constraints={"objective_seconds": ("<=", 1.0)})


def test_continuing_with_other_objectives_or_constraints_is_refused() -> None:
    storage = optuna.storages.InMemoryStorage()
    common = {"sampler": "random", "storage": storage, "study_name": "s", "n_trials": 2, "seed": 0}
    objectives = {"val_accuracy": "maximize", "latency_ms": "minimize"}
    constraints = {"latency_ms": ("<=", 5.0)}
    search(tiny_space(), two_metrics, objectives=objectives, constraints=constraints, **common)
    with pytest.raises(StudyMismatchError, match="direction"):
        search(tiny_space(), two_metrics, **common)
    with pytest.raises(StudyMismatchError, match="direction"):
        search(tiny_space(), two_metrics, objectives={"val_accuracy": "max", "latency_ms": "max"}, **common)
    with pytest.raises(
        StudyMismatchError, match="constraints \\['latency_ms<=5'\\] \\(asked: \\['latency_ms<=6'\\]\\)"
    ):
        search(
            tiny_space(),
            two_metrics,
            objectives=objectives,
            constraints={"latency_ms": ("<=", 6.0)},
            **common,
        )
    common["n_trials"] = 1
    result = search(tiny_space(), two_metrics, objectives=objectives, constraints=constraints, **common)
    assert len(trials.evaluations(result.study.trials)) == 3


def test_constraints_whose_bounds_differ_past_six_digits_are_not_the_same() -> None:
    storage = optuna.storages.InMemoryStorage()
    common = {"sampler": "random", "storage": storage, "study_name": "s", "n_trials": 1, "seed": 0}
    search(tiny_space(), two_metrics, constraints={"latency_ms": ("<=", 1000000.0)}, **common)
    with pytest.raises(
        StudyMismatchError, match=r"\['latency_ms<=1000000'\] \(asked: \['latency_ms<=1000004'\]\)"
    ):
        search(tiny_space(), two_metrics, constraints={"latency_ms": ("<=", 1000004.0)}, **common)


def test_the_same_constraints_in_another_order_continue_a_study_in_its_order() -> None:
    storage = optuna.storages.InMemoryStorage()
    common = {"sampler": "random", "storage": storage, "study_name": "s", "n_trials": 2, "seed": 0}
    first = {"latency_ms": ("<=", 5.0), "val_accuracy": (">=", 0.2)}
    search(tiny_space(), two_metrics, constraints=first, **common)
    result = search(tiny_space(), two_metrics, constraints=dict(reversed(first.items())), **common)
    assert result.study.user_attrs["constraints"] == [["latency_ms", "<=", 5.0], ["val_accuracy", ">=", 0.2]]
    for trial in trials.evaluations(result.study.trials):  # every trial's values in the study's order
        metrics = trial.user_attrs
        assert trial.system_attrs["constraints"] == [
            metrics["latency_ms"] - 5.0,
            0.2 - metrics["val_accuracy"],
        ]


def test_command_line_forms_of_objectives_and_constraints() -> None:
    assert parse_objective("latency_pixel3:min") == ("latency_pixel3", "minimize")
    assert parse_objective("val_accuracy:maximize") == ("val_accuracy", "maximize")
    assert parse_constraint("latency_pixel3<=12") == ("latency_pixel3", ("<=", 12.0))
    assert parse_constraint(" params_mb >= 0.5 ") == ("params_mb", (">=", 0.5))
    for bad in ("latency<12", "latency<=twelve", "<=3", "latency<=inf"):
        with pytest.raises(BonasError, match="must read METRIC<=NUMBER"):
            parse_constraint(bad)
    with pytest.raises(BonasError, match="must read METRIC:max or METRIC:min"):
        parse_objective("latency:down")


def test_a_single_entry_objectives_dict_is_a_single_objective_search() -> None:
    result = search(
        tiny_space(), two_metrics, sampler="random", objectives={"latency_ms": "min"}, n_trials=4, seed=0
    )
    assert len(result.study.directions) == 1 and result.study.direction.name == "MINIMIZE"
    assert result.best_value == min(t.value for t in result.study.trials)
    assert result.study.user_attrs[trials.METRIC_ATTR] == "latency_ms"


def test_regularized_evolution_tournament_prefers_feasible_then_front_then_spread() -> None:
    from bonas.history import Observation
    from bonas.samplers.evolution import tournament_keys

    space = tiny_space()
    archs = list(space.enumerate())
    population = [
        Observation(archs[0], 1.0, (1.0, -5.0), (1.0,)),  # infeasible, best objectives
        Observation(archs[1], 0.5, (0.5, -1.0), (0.0,)),  # feasible, on the front
        Observation(archs[2], 0.4, (0.4, -2.0), (-1.0,)),  # feasible, dominated by archs[1]
        Observation(archs[3], 0.9, (0.9, -3.0), (-1.0,)),  # feasible, on the front
    ]
    keys = tournament_keys(population)
    order = sorted(range(4), key=lambda i: keys[i], reverse=True)
    assert set(order[:2]) == {1, 3} and order[2:] == [2, 0]
    assert np.isinf(keys[1][3]) and np.isinf(keys[3][3])  # a two-member front: both extremes
