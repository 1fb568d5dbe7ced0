"""bonas.objectives.train inside bonas.search: real training, pruning, and failing candidates."""

from __future__ import annotations

import math
import re
from pathlib import Path

import optuna
import pytest
import torch
from torch import nn

import bonas
from bonas.architecture import Architecture
from bonas.errors import InvalidArgumentError, UnknownNameError
from bonas.spaces import mlp_space
from bonas.study import SearchFailedError, StudyMismatchError
from bonas.training import NetworkSettings, TrainingSettings, build_network
from bonas.training.datasets import DatasetSplits
from bonas.trials import current_trial

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.slow
def test_search_nb201_cells_on_digits_end_to_end() -> None:
    objective = bonas.objectives.train(
        "digits",
        network=NetworkSettings(channels=4, cells_per_stage=1),
        settings=TrainingSettings(epochs=2, batch_size=64),
    )
    result = bonas.search(bonas.get_space("nb201"), objective, sampler="random", n_trials=4, seed=0)
    history = result.history
    assert list(history["state"]) == ["COMPLETE"] * 4
    assert result.best_value > 40.0  # chance is 10%
    assert history["test_accuracy"].notna().all() and (history["epochs"] == 2).all()
    assert (history["params"] > 0).all() and (history["images_per_second"] > 0).all()
    assert set(objective.results) == set(history["arch"])
    assert objective.results[str(result.best_architecture)].final_val_accuracy == result.best_value


def _factory(bad: str) -> object:
    """Builds MLPs, except for ``n_layers=1`` architectures, which get the ``bad`` network."""

    def build(architecture: Architecture, data: DatasetSplits) -> nn.Module:
        if architecture.param_dict["n_layers"] == 1:
            return _NaNNet() if bad == "nan" else _Constant()
        return build_network(architecture, input_shape=data.input_shape, num_classes=data.num_classes)

    return build


def test_a_diverging_candidate_fails_its_trial_and_the_search_goes_on() -> None:
    objective = bonas.objectives.train("digits", network=_factory("nan"), settings=TrainingSettings(epochs=2))
    result = bonas.search(mlp_space(), objective, sampler="random", n_trials=8, seed=0)
    history = result.history
    failed = history[history["state"] == "FAIL"]
    assert len(failed) >= 1
    assert failed["fail_reason"].str.contains("DivergedError: Training diverged: the loss is nan").all()
    assert failed["arch"].str.startswith("n_layers=1").all()
    assert (history["state"] == "COMPLETE").sum() == len(history) - len(failed)
    assert result.best_value > 80.0


def test_median_pruner_prunes_bad_candidates_early() -> None:
    objective = bonas.objectives.train(
        "digits", network=_factory("constant"), settings=TrainingSettings(epochs=3)
    )
    result = bonas.search(
        mlp_space(),
        objective,
        sampler="random",
        n_trials=10,
        seed=0,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
    )
    history = result.history
    pruned = history[history["state"] == "PRUNED"]
    assert len(pruned) >= 1 and (history["state"] != "FAIL").all()
    assert pruned["fail_reason"].isna().all()
    assert pruned["query"].notna().all()  # a pruned trial spent (part of) a query
    assert (pruned["pruned_at_epoch"] < 3).all()
    trials = {t.number: t for t in result.study.trials}
    for number in pruned["trial"]:
        trial = trials[number]
        assert trial.state == optuna.trial.TrialState.PRUNED
        assert len(trial.intermediate_values) == trial.user_attrs["pruned_at_epoch"]
        assert trial.value == trial.intermediate_values[trial.user_attrs["pruned_at_epoch"]]
    completed = history[history["state"] == "COMPLETE"]
    assert (completed["epochs"] == 3).all() and len(completed) + len(pruned) == 10
    assert result.best_value > 80.0


class _PruneOddTrials(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return trial.number % 2 == 1


@pytest.mark.parametrize(("epochs", "states"), [(1, ["COMPLETE", "COMPLETE"]), (2, ["COMPLETE", "PRUNED"])])
def test_a_pruner_never_discards_a_candidate_that_finished_training(epochs: int, states: list[str]) -> None:
    objective = bonas.objectives.train(
        "digits", network=_factory("constant"), settings=TrainingSettings(epochs=epochs)
    )
    result = bonas.search(
        mlp_space(), objective, sampler="random", n_trials=2, seed=0, pruner=_PruneOddTrials()
    )
    assert list(result.history["state"]) == states
    last = result.study.trials[1]
    assert (
        last.value == last.intermediate_values[1]
    )  # pruned after epoch 1 of 2, or complete after its only one


def test_without_a_pruner_nothing_is_pruned_and_intermediate_values_are_recorded() -> None:
    objective = bonas.objectives.train(
        "digits", network=_factory("constant"), settings=TrainingSettings(epochs=2)
    )
    result = bonas.search(mlp_space(), objective, sampler="random", n_trials=4, seed=1)
    assert (result.history["state"] == "COMPLETE").all()
    for trial in result.study.trials:
        assert sorted(trial.intermediate_values) == [1, 2]
        assert trial.value == trial.intermediate_values[2]


def test_current_trial_is_set_only_while_the_objective_runs() -> None:
    assert current_trial() is None
    seen: list[int] = []

    def objective(architecture: Architecture) -> float:
        trial = current_trial()
        assert trial is not None
        seen.append(trial.number)
        return float(architecture.param_dict["n_layers"])

    bonas.search(mlp_space(), objective, n_trials=3, seed=0)
    assert seen == [0, 1, 2] and current_trial() is None


def test_unknown_dataset_is_a_clear_error() -> None:
    with pytest.raises(UnknownNameError, match=r"Unknown dataset 'imagenet'.*'digits'"):
        bonas.objectives.train("imagenet")


def test_a_dataset_option_its_loader_does_not_take_is_refused_when_the_objective_is_built() -> None:
    message = (
        r"Dataset 'digits' takes no option 'trainsize'; its options are seed, val_size, train_size, test_size"
    )
    with pytest.raises(InvalidArgumentError, match=message):
        bonas.objectives.train("digits", trainsize=100)
    with pytest.raises(InvalidArgumentError, match=message):
        bonas.objectives.weight_sharing(mlp_space(), "digits", trainsize=100)


def test_searching_the_objective_factory_itself_stops_at_the_first_trial() -> None:
    # `bonas search --objective bonas.objectives:train`: the factory is called with each architecture.
    with pytest.raises(SearchFailedError, match=r"set-up failed.*Build the objective once"):
        bonas.search(mlp_space(), bonas.objectives.train, sampler="random", n_trials=3, seed=0)


class _NaNNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1)) * math.nan


class _Constant(nn.Module):
    """Ignores its input: learns only the class prior (about 10% accuracy)."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias.expand(len(x), 10)


def test_a_candidate_out_of_memory_fails_its_trial_and_the_search_goes_on() -> None:
    def build(architecture: Architecture, data: DatasetSplits) -> nn.Module:
        if architecture.param_dict["n_layers"] == 1:
            return _OutOfMemory()
        return build_network(architecture, input_shape=data.input_shape, num_classes=data.num_classes)

    objective = bonas.objectives.train("digits", network=build, settings=TrainingSettings(epochs=1))
    result = bonas.search(mlp_space(), objective, sampler="random", n_trials=8, seed=0)
    failed = result.history[result.history["state"] == "FAIL"]
    assert len(failed) >= 1
    assert failed["fail_reason"].str.contains("TrainingOutOfMemoryError: Out of memory on cpu").all()
    assert (result.history["state"] == "COMPLETE").any()


README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_training_blocks() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    # The weight-sharing example also retrains with train(); its own test is in test_readme.py.
    return [
        block for block in blocks if "bonas.objectives.train(" in block and "weight_sharing(" not in block
    ]


@pytest.mark.slow
def test_readme_digits_training_example_runs() -> None:
    blocks = _readme_training_blocks()
    assert len(blocks) == 2, "README should hold the digits and the Fashion-MNIST training examples"
    assert '"digits"' in blocks[0] and '"fashion-mnist"' in blocks[1]
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    result = namespace["result"]
    assert result.best_value > 30.0  # type: ignore[attr-defined]
    assert len(result.history) == 5  # type: ignore[attr-defined]
    # The Fashion-MNIST example takes minutes: it is timed by hand (see README), here only compiled.
    compile(blocks[1], str(README), "exec")


class _OutOfMemory(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


@pytest.mark.slow
def test_training_trades_accuracy_against_measured_latency() -> None:
    objective = bonas.objectives.train(
        "digits",
        network=NetworkSettings(channels=4, cells_per_stage=1),
        settings=TrainingSettings(epochs=1, batch_size=64),
    )
    result = bonas.search(
        bonas.get_space("nb201"),
        objective,
        sampler="random",
        objectives={"val_accuracy": "maximize", "latency_ms": "minimize"},
        constraints={"params": ("<=", 1e6)},
        n_trials=3,
        seed=0,
    )
    history = result.history
    assert (history["latency_ms"] > 0).all() and (history["batch_latency_ms"] > 0).all()
    assert (history["flops"] > 0).all() and history["feasible"].all()
    assert 1 <= len(result.pareto_front) <= 3
    no_latency = bonas.objectives.train("digits", measure_latency=False)
    assert no_latency.measure_latency is False


def test_a_study_of_one_training_recipe_is_not_continued_with_another(tmp_path) -> None:
    def objective(epochs: int, **data):
        settings = TrainingSettings(epochs=epochs, batch_size=64, device="cpu")
        return bonas.objectives.train("digits", network=NetworkSettings(4, 1), settings=settings,
                                      measure_latency=False, **{"val_size": 200, **data})  # fmt: skip

    space, storage = mlp_space(), f"sqlite:///{tmp_path / 's.db'}"
    common = {"sampler": "random", "n_trials": 1, "storage": storage, "study_name": "s"}
    bonas.search(space, objective(1), seed=0, **common)
    bonas.search(space, objective(1), seed=1, **common)  # the same recipe continues
    for other, named in ((objective(2), "epochs=1"), (objective(1, train_size=300), "data train_size=None")):
        with pytest.raises(StudyMismatchError, match=f"objective recipe .*{named}"):
            bonas.search(space, other, seed=2, **common)
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == 2
