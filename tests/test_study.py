"""The search loop (:func:`bonas.study.search`): objectives, failures, repeats, interrupts and history."""

from __future__ import annotations

import logging
import math

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from bonas import trials
from bonas.architecture import Architecture
from bonas.errors import BonasError, DataFileNotFoundError, UnknownNameError
from bonas.history import SearchHistory
from bonas.samplers import RandomSearchSampler, make_sampler, sampler_names
from bonas.spaces.base import Categorical
from bonas.spaces.categorical import CategoricalSpace
from bonas.spaces.nb201 import NB201Space
from bonas.study import SamplerMismatchError, SearchFailedError, SearchResult, search
from bonas.tabular import load_benchmark
from bonas.testing.samplers import hashed_score, sqlite_storage, tiny_space
from bonas.trials import history_frame

BOOKKEEPING_COLUMNS = [
    "trial",
    "state",
    "query",
    "arch",
    "arch_hash",
    "value",
    "repeat_of",
    "fail_reason",
    "propose_seconds",
    "objective_seconds",
]


@pytest.fixture(autouse=True)
def _quiet_optuna() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def space() -> NB201Space:
    return NB201Space()


def first_op(architecture: Architecture) -> str:
    return str(architecture.params[0][1])


def metrics(architecture: Architecture) -> dict[str, float]:
    score = hashed_score(architecture)
    return {"val_accuracy": 100 * score, "latency_ms": 10 * (1 - score) + 1, "params": 3.0}


# -- objectives ---------------------------------------------------------------------------------------


def test_float_objective(space: NB201Space) -> None:
    result = search(space, hashed_score, sampler="random", n_trials=12, seed=0)
    assert isinstance(result, SearchResult)
    history = result.history
    assert len(history) == 12
    assert list(history.columns) == [*BOOKKEEPING_COLUMNS, "val_accuracy"]
    assert (history["state"] == "COMPLETE").all()
    # A plain number is recorded under the metric's name too.
    np.testing.assert_allclose(history["val_accuracy"], history["value"])
    for text, value in zip(history["arch"], history["value"], strict=True):
        assert value == pytest.approx(hashed_score(space.parse(text)))


def test_dict_objective_records_every_metric(space: NB201Space) -> None:
    result = search(space, metrics, sampler="random", n_trials=10, seed=0)
    history = result.history
    assert list(history.columns) == [*BOOKKEEPING_COLUMNS, "val_accuracy", "latency_ms", "params"]
    np.testing.assert_allclose(history["value"], history["val_accuracy"])
    for trial in result.study.trials:
        expected = metrics(space.parse(trial.user_attrs["arch"]))
        assert {k: trial.user_attrs[k] for k in expected} == pytest.approx(expected)


def test_metric_selects_the_optimised_key(space: NB201Space) -> None:
    result = search(
        space, metrics, sampler="random", n_trials=10, seed=0, metric="latency_ms", direction="minimize"
    )
    history = result.history
    np.testing.assert_allclose(history["value"], history["latency_ms"])
    assert result.best_value == pytest.approx(history["latency_ms"].min())
    assert result.study.user_attrs["metric"] == "latency_ms"


def test_dict_without_the_metric_fails_the_trial_naming_the_keys(space: NB201Space) -> None:
    def objective(architecture: Architecture) -> dict[str, float]:
        if first_op(architecture) == "none":
            return {"accuracy": 1.0, "loss": 0.5}
        return {"val_accuracy": hashed_score(architecture)}

    history = search(space, objective, sampler="random", n_trials=30, seed=0).history
    failed = history[history["state"] == "FAIL"]
    assert len(failed) > 0
    assert failed["arch"].map(lambda text: text.startswith("|none~0|")).all()
    for reason in failed["fail_reason"]:
        assert "['accuracy', 'loss']" in reason and "'val_accuracy'" in reason
        assert "metric=" in reason  # tells the fix


def test_non_number_fails_the_trial(space: NB201Space) -> None:
    def objective(architecture: Architecture) -> object:
        return "great" if first_op(architecture) == "none" else hashed_score(architecture)

    history = search(space, objective, sampler="random", n_trials=30, seed=0).history
    failed = history[history["state"] == "FAIL"]
    assert len(failed) > 0
    assert failed["fail_reason"].str.contains("'great'").all()


@pytest.mark.parametrize("objectives", [None, {"val_accuracy": "maximize", "latency_ms": "minimize"}])
def test_metrics_no_search_uses_are_recorded_whatever_they_hold(space: NB201Space, objectives) -> None:
    def objective(architecture: Architecture) -> dict[str, object]:
        extras = {"note": "diverged late", "flops": None, "tensor": object(), "loss": np.array([0.25])}
        return {**metrics(architecture), **extras}

    history = search(space, objective, sampler="random", n_trials=3, seed=0, objectives=objectives).history
    assert (history["state"] == "COMPLETE").all()  # the evaluations are kept
    assert (history["note"] == "diverged late").all() and history["flops"].isna().all()
    assert (history["loss"] == 0.25).all()  # a one-element array is its number, as a one-element tensor
    assert history["tensor"].str.startswith("<object object").all()


def test_a_searched_metric_that_is_not_a_number_still_fails_the_trial(space: NB201Space) -> None:
    def objective(architecture: Architecture) -> dict[str, object]:
        return {**metrics(architecture), "latency_ms": "12 ms"}

    constraints = {"latency_ms": ("<=", 5.0)}
    with pytest.raises(BonasError, match=r"No trial .* completed(.|\n)*metric 'latency_ms' '12 ms' \(str\)"):
        search(space, objective, sampler="random", n_trials=2, seed=0, constraints=constraints)


# -- failures -------------------------------------------------------------------------------------------


def test_raising_objective_fails_its_trials_and_they_count_as_queries(space: NB201Space) -> None:
    calls: list[str] = []

    def objective(architecture: Architecture) -> float:
        calls.append(architecture.canonical_hash)
        if first_op(architecture) == "avg_pool_3x3":
            raise RuntimeError(f"out of memory on {architecture}")
        return hashed_score(architecture)

    result = search(space, objective, sampler="random", n_trials=30, seed=0)
    history = result.history
    failed = history[history["state"] == "FAIL"]
    assert 0 < len(failed) < 30
    # Pinned behaviour: a failed evaluation spends a query, so n_trials objective calls are made.
    assert len(calls) == 30
    assert len(history) == 30
    assert history["query"].tolist() == list(range(1, 31))
    for text, reason in zip(failed["arch"], failed["fail_reason"], strict=True):
        assert reason == f"RuntimeError: out of memory on {text}"
    assert failed["value"].isna().all()
    assert failed["objective_seconds"].notna().all()
    assert history.loc[history["state"] == "COMPLETE", "fail_reason"].isna().all()
    # A failed architecture counts as seen: bonas's samplers do not propose it again.
    assert len(set(calls)) == len(calls)
    assert result.best_value == pytest.approx(history["value"].max())


def test_nan_fails_the_trial_and_counts_as_a_query(space: NB201Space) -> None:
    def objective(architecture: Architecture) -> dict[str, float]:
        value = math.nan if first_op(architecture) == "skip_connect" else hashed_score(architecture)
        return {"val_accuracy": value, "latency_ms": 1.0}

    history = search(space, objective, sampler="random", n_trials=30, seed=0).history
    failed = history[history["state"] == "FAIL"]
    assert len(failed) > 0
    assert (failed["fail_reason"] == "objective returned val_accuracy=nan").all()
    assert failed["val_accuracy"].isna().all() and (failed["latency_ms"] == 1.0).all()
    assert history["query"].tolist() == list(range(1, 31))


def test_every_trial_failing_raises_with_the_reasons(space: NB201Space) -> None:
    def objective(architecture: Architecture) -> float:
        raise ValueError("no GPU")

    with pytest.raises(BonasError, match=r"No trial of study .* completed") as raised:
        search(space, objective, sampler="random", n_trials=3, seed=0)
    assert "ValueError: no GPU" in str(raised.value)


def test_invalid_proposals_fail_without_spending_queries() -> None:
    # Optuna's own sampler knows nothing of the constraint: some proposals are invalid.
    space = CategoricalSpace(
        "diagonal",
        [Categorical("a", (1, 2, 3)), Categorical("b", (1, 2, 3))],
        constraint=lambda params: params["a"] == params["b"],
    )
    result = search(
        space,
        lambda arch: float(arch.param_dict["a"]),
        sampler=optuna.samplers.RandomSampler(seed=0),
        n_trials=5,
        allow_repeats=True,
    )
    history = result.history
    invalid = history[history["fail_reason"].notna()]
    assert len(invalid) > 0
    assert invalid["fail_reason"].str.startswith("proposal failed: InvalidArchitectureError").all()
    assert invalid["query"].isna().all()
    assert history["query"].max() == 5


# -- repeats --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nb201_cifar10():
    return load_benchmark("nb201-cifar10")


def test_repeats_of_an_external_sampler_reuse_the_earlier_value(nb201_cifar10) -> None:
    calls: list[str] = []

    def objective(architecture: Architecture) -> dict[str, float]:
        calls.append(architecture.canonical_hash)
        return nb201_cifar10(architecture)

    # Optuna's TPE on its own (not bonas's "optuna-tpe", which replaces repeats) re-proposes evaluated
    # architectures (or isomorphs) within 30 queries with seed 2.
    result = search(nb201_cifar10.space, objective, sampler=optuna.samplers.TPESampler(seed=2), n_trials=30)
    history = result.history
    repeats = history[history["repeat_of"].notna()]
    assert len(repeats) > 0
    assert len(history) == 30 + len(repeats)
    assert history["query"].max() == 30
    assert repeats["query"].isna().all()
    assert len(calls) == 30 and len(set(calls)) == 30
    by_trial = history.set_index("trial")
    for _, repeat in repeats.iterrows():
        earlier = by_trial.loc[int(repeat["repeat_of"])]
        assert pd.isna(earlier["repeat_of"])
        assert int(repeat["repeat_of"]) < repeat["trial"]
        assert earlier["arch_hash"] == repeat["arch_hash"]
        assert repeat["value"] == earlier["value"]
        assert repeat["state"] == "COMPLETE"
        assert pd.isna(repeat["objective_seconds"])


def test_allow_repeats_evaluates_repeats(nb201_cifar10) -> None:
    result = search(
        nb201_cifar10.space,
        nb201_cifar10,
        sampler=optuna.samplers.TPESampler(seed=2),
        n_trials=30,
        allow_repeats=True,
    )
    history = result.history
    assert len(history) == 30
    assert history["repeat_of"].isna().all()
    assert history["query"].tolist() == list(range(1, 31))
    assert history["arch_hash"].nunique() < 30


@pytest.mark.parametrize("name", ["optuna-tpe", "optuna-gp"])
def test_named_optuna_samplers_replace_repeats_with_new_architectures(nb201_cifar10, name: str) -> None:
    result = search(nb201_cifar10.space, nb201_cifar10, sampler=name, n_trials=25, seed=2)
    history = result.history
    assert len(history) == 25
    assert history["arch_hash"].nunique() == 25
    assert history["repeat_of"].isna().all()


@pytest.mark.parametrize("name", ["random", "regularized-evolution", "optuna-tpe", "bo-gp-categorical"])
def test_a_hyperband_pruner_works_with_every_kind_of_searcher(space: NB201Space, name: str) -> None:
    # Hyperband hands samplers a view of the study listing one bracket's trials and refusing its user
    # attributes; the searchers read the whole study (no architecture of another bracket is repeated).
    pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=3)
    result = search(space, hashed_score, sampler=name, n_trials=12, seed=0, pruner=pruner)
    history = result.history
    assert (history["state"] == "COMPLETE").all() and len(history) == 12
    assert history["arch_hash"].nunique() == 12


def test_allow_repeats_reaches_bonas_samplers() -> None:
    space = tiny_space()
    result = search(space, hashed_score, sampler="random", n_trials=10, seed=0, allow_repeats=True)
    assert result.study.sampler.allow_repeats
    history = result.history
    assert history["query"].tolist() == list(range(1, 11))
    assert history["arch_hash"].nunique() <= 4


def test_max_attempts_stops_a_sampler_stuck_on_repeats(caplog: pytest.LogCaptureFixture) -> None:
    space = tiny_space()
    with caplog.at_level(logging.WARNING, logger="bonas"):
        result = search(
            space, hashed_score, sampler=optuna.samplers.TPESampler(seed=0), n_trials=10, max_attempts=20
        )
    history = result.history
    assert len(history) == 20
    assert history["query"].max() == 4
    assert history["arch_hash"].nunique() == 4
    assert any("4 of 10 queries in 20 attempts" in record.getMessage() for record in caplog.records)


# -- interrupts and storage -----------------------------------------------------------------------------


@pytest.mark.parametrize("failure", [KeyboardInterrupt, DataFileNotFoundError])
def test_an_architecture_not_judged_may_be_proposed_again(tmp_path, failure: type[BaseException]) -> None:
    # Interrupted, or the objective's set-up failed: the architecture itself did not fail. Of the tiny
    # space's 4 architectures, the first run's only one must be among the 4 the second run evaluates.
    storage = sqlite_storage(tmp_path / "s.db")

    broken = True

    def objective(architecture: Architecture) -> float:
        if broken:
            raise failure("cifar10 data files missing")
        return hashed_score(architecture)

    expected = SearchFailedError if failure is DataFileNotFoundError else KeyboardInterrupt
    with pytest.raises(
        expected, match="set-up failed, not the architecture" if expected is SearchFailedError else ""
    ):
        search(tiny_space(), objective, sampler="random", n_trials=3, seed=0, storage=storage, study_name="s")
    (first,) = optuna.load_study(study_name="s", storage=storage).trials  # stopped at the first trial
    assert first.state == TrialState.FAIL and not trials.failed_evaluation(first) and trials.not_judged(first)
    broken = False
    result = search(
        tiny_space(), objective, sampler="random", n_trials=4, seed=1, storage=storage, study_name="s"
    )
    assert result.history["arch_hash"].dropna().nunique() == 4
    assert first.user_attrs["arch_hash"] in set(
        result.history.loc[result.history["state"] == "COMPLETE", "arch_hash"]
    )


def test_keyboard_interrupt_fails_the_trial_and_keeps_the_study(space: NB201Space, tmp_path) -> None:
    path = tmp_path / "study.db"
    url = f"sqlite:///{path}"
    calls = 0

    def objective(architecture: Architecture) -> float:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise KeyboardInterrupt
        return hashed_score(architecture)

    with pytest.raises(KeyboardInterrupt):
        search(
            space,
            objective,
            sampler="random",
            n_trials=10,
            seed=0,
            storage=sqlite_storage(path),
            study_name="nas",
        )

    study = optuna.load_study(study_name="nas", storage=url)
    states = [trial.state for trial in study.trials]
    assert states == [TrialState.COMPLETE] * 3 + [TrialState.FAIL]
    assert study.trials[3].user_attrs["fail_reason"] == "interrupted"
    assert all(
        trial.value == pytest.approx(hashed_score(space.parse(trial.user_attrs["arch"])))
        for trial in study.trials[:3]
    )

    # Resuming (with the same objective) continues the study: 10 more queries, none repeating the 3
    # completed ones.
    def objective(architecture: Architecture) -> float:  # type: ignore[no-redef]
        return hashed_score(architecture)

    result = search(
        space,
        objective,
        sampler="random",
        n_trials=10,
        seed=1,
        storage=sqlite_storage(path),
        study_name="nas",
    )
    history = result.history
    assert len(history) == 14
    # Pinned behaviour: an interrupted evaluation spends no query.
    assert pd.isna(history["query"].iloc[3])
    assert history["query"].max() == 13
    assert history.loc[history["state"] == "COMPLETE", "arch_hash"].is_unique


# -- arguments ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_trials", [0, -1])
def test_rejects_non_positive_n_trials(space: NB201Space, n_trials: int) -> None:
    with pytest.raises(ValueError, match=f"n_trials must be at least 1, got {n_trials}"):
        search(space, hashed_score, n_trials=n_trials)


def test_rejects_an_unknown_direction(space: NB201Space) -> None:
    with pytest.raises(ValueError, match="'up'"):
        search(space, hashed_score, n_trials=1, direction="up")


def test_rejects_an_unknown_sampler_listing_the_valid_ones(space: NB201Space) -> None:
    with pytest.raises(UnknownNameError, match="'bayesopt'") as raised:
        search(space, hashed_score, n_trials=1, sampler="bayesopt")
    for name in sampler_names():
        assert repr(name) in str(raised.value)


# -- result and history ---------------------------------------------------------------------------------


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_best_architecture_is_the_best_trials(space: NB201Space, direction: str) -> None:
    result = search(space, metrics, sampler="random", n_trials=15, seed=0, direction=direction)
    best = result.study.best_trial
    assert isinstance(result.best_architecture, Architecture)
    assert result.best_architecture == space.from_params(best.params)
    assert str(result.best_architecture) == best.user_attrs["arch"]
    values = result.history["value"]
    assert result.best_value == pytest.approx(values.max() if direction == "maximize" else values.min())


def test_history_frame_numbers_queries_and_skips_repeats() -> None:
    space = tiny_space()
    broken = space.from_params({"a": 0, "b": "x"})

    def objective(architecture: Architecture) -> float:
        if architecture == broken:
            raise RuntimeError("boom")
        return hashed_score(architecture)

    # Optuna's TPE on a 4-architecture space re-proposes architectures, evaluated and failed ones alike.
    result = search(space, objective, sampler=optuna.samplers.TPESampler(seed=0), n_trials=6, max_attempts=12)
    frame = history_frame(result.study)
    pd.testing.assert_frame_equal(frame, result.history)
    assert list(frame.columns) == [*BOOKKEEPING_COLUMNS, "val_accuracy"]
    assert frame["query"].dtype == "Int64"
    assert frame["trial"].tolist() == list(range(len(frame)))

    repeats = frame["repeat_of"].notna()
    assert repeats.any()
    assert frame.loc[repeats, "query"].isna().all()
    queried = frame.loc[~repeats, "query"]
    assert queried.tolist() == list(range(1, len(queried) + 1))
    assert (frame["propose_seconds"] >= 0).all()
    assert frame.loc[~repeats, "objective_seconds"].notna().all()

    # Pinned behaviour: a failed architecture is no repeat; proposed again, it is evaluated again and
    # spends another query (its failure may have been transient).
    failed = frame[frame["state"] == "FAIL"]
    assert (failed["arch"] == str(broken)).all() and len(failed) >= 2
    assert failed["query"].notna().all()
    assert (failed["fail_reason"] == "RuntimeError: boom").all()


def test_history_frame_of_an_empty_study() -> None:
    assert history_frame(optuna.create_study()).empty


def test_study_records_space_objective_and_metric(space: NB201Space, nb201_cifar10) -> None:
    result = search(
        space, metrics, sampler="random", n_trials=2, seed=0, metric="latency_ms", direction="minimize"
    )
    assert result.study.user_attrs == {"space": "nb201", "objective": "metrics", "metric": "latency_ms"}
    result = search(space, nb201_cifar10, sampler="random", n_trials=2, seed=0)
    assert result.study.user_attrs["objective"] == "nb201-cifar10"
    assert result.study.user_attrs["metric"] == "val_accuracy"
    assert result.study.direction == optuna.study.StudyDirection.MAXIMIZE


def test_named_optuna_sampler_replaces_its_repeats_by_new_architectures() -> None:
    from bonas.trials import REPLACED_REPEAT_ATTR

    space = tiny_space()  # 4 architectures: TPE alone re-proposes within 4 trials (see the test above)
    result = search(space, hashed_score, sampler="optuna-tpe", n_trials=4, seed=0)
    history = result.history
    assert len(history) == 4 and history["arch_hash"].nunique() == 4
    replaced = [t for t in result.study.trials if t.system_attrs.get(REPLACED_REPEAT_ATTR)]
    assert replaced, "TPE proposed no repeat, so the replacement path was not exercised"


# -- the sampler contract: options fixed at construction, checked by search() ---------------------------


def test_a_sampler_built_for_another_space_is_refused_naming_both(space: NB201Space) -> None:
    other = tiny_space()
    sampler = make_sampler("random", other, seed=0)
    with pytest.raises(SamplerMismatchError, match=r"'tiny'.*nb201|nb201.*'tiny'"):
        search(space, hashed_score, sampler=sampler, n_trials=2)


def test_a_sampler_built_for_an_equal_space_is_accepted() -> None:
    sampler = make_sampler("random", tiny_space(), seed=0)
    result = search(tiny_space(), hashed_score, sampler=sampler, n_trials=3)
    assert len(result.history) == 3


@pytest.mark.parametrize(("option", "value"), [("allow_repeats", True), ("batch_size", 2)])
def test_search_options_other_than_the_samplers_are_refused(option: str, value: object) -> None:
    space = tiny_space()
    sampler = make_sampler("random", space, seed=0)
    with pytest.raises(SamplerMismatchError, match=f"{option}={value}.*built with {option}="):
        search(space, hashed_score, sampler=sampler, n_trials=2, **{option: value})
    assert sampler.allow_repeats is False and sampler.batch_size == 1  # left as built


def test_search_does_not_change_the_samplers_settings() -> None:
    space = tiny_space()
    sampler = make_sampler("random", space, seed=0, allow_repeats=True)
    search(space, hashed_score, sampler=sampler, n_trials=5)
    assert sampler.allow_repeats is True


def test_batch_size_needs_a_bonas_sampler(space: NB201Space) -> None:
    with pytest.raises(SamplerMismatchError, match="batch_size=3 needs a bonas sampler"):
        search(space, hashed_score, sampler=optuna.samplers.TPESampler(seed=0), n_trials=2, batch_size=3)
    with pytest.raises(ValueError, match="one trial at a time"):
        search(space, hashed_score, sampler="optuna-tpe", n_trials=2, batch_size=3)


@pytest.mark.parametrize("batch_size", [0, -1, 1.5, True])
def test_invalid_batch_sizes_are_refused(batch_size: object) -> None:
    with pytest.raises(ValueError, match="batch_size must be an integer of at least 1"):
        make_sampler("random", tiny_space(), batch_size=batch_size)


class _CountingSampler(RandomSearchSampler):
    """Random search that records the size of each batch it is asked for and the history it saw."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.batches: list[tuple[int, int]] = []

    def propose_batch(self, history, rng, *, q):  # type: ignore[no-untyped-def]
        self.batches.append((q, len(history.observations)))
        return super().propose_batch(history, rng, q=q)


def test_batch_size_proposes_each_batch_before_any_of_its_values_is_known(space: NB201Space) -> None:
    sampler = _CountingSampler(space, seed=0, batch_size=4)
    result = search(space, hashed_score, sampler=sampler, n_trials=10, batch_size=4)
    assert sampler.batches == [(4, 0), (4, 4), (4, 8)]
    assert result.history["arch_hash"].nunique() == 10


def test_bo_batches_are_proposed_jointly_from_search(nb201_cifar10) -> None:
    sampler = make_sampler("bo-gp-wl", nb201_cifar10.space, seed=0, n_initial=4, batch_size=3)
    result = search(nb201_cifar10.space, nb201_cifar10, sampler=sampler, n_trials=10)
    history = result.history
    assert history["query"].tolist() == list(range(1, 11))
    assert history["arch_hash"].nunique() == 10


def test_default_propose_batch_sees_earlier_batch_members_as_pending() -> None:
    space = tiny_space()
    sampler = make_sampler("random", space, seed=0)
    batch = sampler.propose_batch(SearchHistory(), np.random.default_rng(0), q=4)
    assert len({a.canonical_hash for a in batch}) == 4  # the whole space, no repeat
    with pytest.raises(ValueError, match="q must be at least 1"):
        sampler.propose_batch(SearchHistory(), np.random.default_rng(0), q=0)


def test_a_noisy_search_answers_with_the_recommendation_at_its_mean_value() -> None:
    space = CategoricalSpace("noisy", [Categorical(f"p{i}", (0, 1, 2)) for i in range(3)])
    rng = np.random.default_rng(0)

    def noisy(architecture: Architecture) -> float:
        return float(sum(architecture.param_dict.values())) + 3.0 * rng.standard_normal()

    result = search(space, noisy, sampler="random", n_trials=25, seed=0, allow_repeats=True)
    values = result.history.dropna(subset=["value"]).groupby("arch")["value"]
    means = values.mean()
    assert str(result.best_architecture) == means.idxmax()
    assert result.best_value == pytest.approx(means.max())
    assert result.best_value < result.history["value"].max()  # not the luckiest single value


def test_a_noisy_constrained_search_answers_with_the_best_mean_feasible_on_average() -> None:
    space = CategoricalSpace("three", [Categorical("arm", ("steady", "lucky", "fast"))])
    draws = {"steady": iter([12.0] * 20), "lucky": iter([0.0, 20.0] * 10), "fast": iter([30.0] * 20)}

    def noisy(architecture: Architecture) -> dict[str, float]:
        arm = architecture.param_dict["arm"]
        return {"val_accuracy": next(draws[arm]), "size": 5.0 if arm == "fast" else 1.0}

    result = search(
        space,
        noisy,
        sampler="random",
        n_trials=15,
        seed=0,
        allow_repeats=True,
        constraints={"size": ("<=", 2.0)},
    )
    history = result.history.dropna(subset=["value"])
    assert set(history["arch"]) == {"arm=steady", "arm=lucky", "arm=fast"}
    assert history.groupby("arch")["value"].max()["arm=lucky"] == 20.0  # its mean is 10 or less
    assert str(result.pareto_front[0].architecture) == "arm=lucky"  # the luckiest feasible single value
    assert str(result.best_architecture) == "arm=steady" and result.best_value == 12.0


def test_an_objectives_traceback_is_in_the_debug_log(caplog) -> None:
    from bonas.testing.samplers import tiny_space

    def reads_a_missing_file(architecture):
        raise FileNotFoundError("dataset file /data/x.npz missing")

    with caplog.at_level("DEBUG", logger="bonas.study"), pytest.raises(BonasError):
        search(tiny_space(), reads_a_missing_file, sampler="random", n_trials=1)
    (record,) = [r for r in caplog.records if "the objective raised" in r.getMessage()]
    assert record.levelname == "DEBUG" and "in reads_a_missing_file" in caplog.text
