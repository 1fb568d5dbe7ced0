"""retrain_best and the study reports beside the other features: constraints, several objectives, fidelities."""

from __future__ import annotations

import pytest

import bonas
from bonas import reports, trials
from bonas.architecture import Architecture
from bonas.errors import BonasError, DataFileNotFoundError, InvalidArgumentError
from bonas.retraining import retrain_best
from bonas.spaces.base import Categorical
from bonas.spaces.categorical import CategoricalSpace

SPACE = CategoricalSpace("toy", [Categorical(f"p{i}", (0, 1, 2)) for i in range(3)])


def latency(architecture: Architecture) -> float:
    return float(sum(architecture.param_dict.values()))


def scored(architecture: Architecture) -> dict[str, float]:
    """A weight-sharing score that grows with latency (the fastest cells score worst)."""
    trials.record_fidelity(trials.WEIGHT_SHARING)
    return {"val_accuracy": 10.0 * latency(architecture), "latency": latency(architecture)}


def standalone(architecture: Architecture) -> dict[str, float]:
    return {"val_accuracy": 10.0 * latency(architecture) + 5.0, "latency": latency(architecture)}


def test_retraining_a_constrained_study_takes_feasible_candidates_and_stores_their_constraints() -> None:
    result = bonas.search(
        SPACE, scored, sampler="random", n_trials=15, seed=0, constraints={"latency": ("<=", 2.0)}
    )
    after = retrain_best(result, SPACE, standalone, top_k=2)
    retrained = [t for t in after.study.get_trials() if trials.fidelity_of(t) == trials.STAND_ALONE]
    assert len(retrained) == 2
    for trial in retrained:
        assert trial.system_attrs[trials.CONSTRAINT_VALUES_ATTR] == [trial.user_attrs["latency"] - 2.0]
        assert trial.user_attrs["latency"] <= 2.0  # the infeasible best scores were not retrained first
    assert latency(after.best_architecture) <= 2.0  # type: ignore[arg-type]


def test_retraining_refuses_a_multi_objective_study() -> None:
    result = bonas.search(
        SPACE,
        scored,
        sampler="random",
        n_trials=6,
        seed=0,
        objectives={"val_accuracy": "maximize", "latency": "minimize"},
    )
    with pytest.raises(BonasError, match="single-objective"):
        retrain_best(result, SPACE, standalone, top_k=1)


def test_reports_name_the_best_at_the_highest_fidelity_as_the_result_does() -> None:
    def worse_alone(architecture: Architecture) -> float:
        return 50.0 - latency(architecture)

    result = bonas.search(SPACE, scored, sampler="random", n_trials=10, seed=0)
    after = retrain_best(result, SPACE, worse_alone, top_k=2)
    best = reports.best_trial(after.study)
    assert best is not None and trials.fidelity_of(best) == trials.STAND_ALONE
    assert best.value == after.best_value
    top = reports.top_trials(after.study, 3)
    assert list(top["fidelity"][:2]) == [trials.STAND_ALONE] * 2


def test_scores_corrected_onto_the_stand_alone_scale_carry_the_corrected_objective_too() -> None:
    from bonas.history import Observation, SearchHistory

    cells = list(SPACE.enumerate())[:4]
    history = SearchHistory(
        [
            Observation(cells[0], 50.0, (50.0, -1.0), fidelity=trials.WEIGHT_SHARING),
            Observation(cells[1], 60.0, (60.0, -2.0), fidelity=trials.WEIGHT_SHARING),
            Observation(cells[0], 80.0, (80.0, -1.0), fidelity=trials.STAND_ALONE),
        ]
    )
    corrected = history.at_one_fidelity()
    moved = next(o for o in corrected.observations if o.architecture == cells[1])
    assert moved.value == 90.0 and moved.objectives == (90.0, -2.0)


def test_retraining_checks_its_arguments_before_training_anything() -> None:
    result = bonas.search(SPACE, scored, sampler="random", n_trials=6, seed=0)
    trained: list[Architecture] = []

    def counted(architecture: Architecture) -> dict[str, float]:
        trained.append(architecture)
        return standalone(architecture)

    with pytest.raises(InvalidArgumentError, match=r"fidelity must be one of .*, got 'standalone'"):
        retrain_best(result, SPACE, counted, fidelity="standalone")
    with pytest.raises(
        InvalidArgumentError, match="metric 'val_acc' is not the study's metric 'val_accuracy'"
    ):
        retrain_best(result, SPACE, counted, metric="val_acc")
    assert trained == []


def test_retraining_whose_set_up_fails_raises_instead_of_recording_failures() -> None:
    result = bonas.search(SPACE, scored, sampler="random", n_trials=6, seed=0)

    def no_data(architecture: Architecture) -> float:
        raise DataFileNotFoundError("cifar-10-batches-py not found in /tmp")

    with pytest.raises(DataFileNotFoundError, match="cifar-10-batches-py"):
        retrain_best(result, SPACE, no_data, top_k=2)
    assert len(result.study.get_trials()) == 6  # no failed retraining recorded
