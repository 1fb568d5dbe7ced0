"""bonas's multi-objective BO (mobo-*, parego-*): several objectives, modelled and cheap outcomes,
constraints, pending trials."""

from __future__ import annotations

import hashlib

import numpy as np
import optuna
import pytest

from bonas import trials
from bonas.architecture import Architecture
from bonas.samplers import make_sampler
from bonas.samplers.multiobjective import MultiObjectiveBOSampler, pareto_set
from bonas.spaces import mlp_space
from bonas.study import SearchFailedError, search
from bonas.testing.samplers import hashed_score


def size(architecture: Architecture) -> float:
    """A cost known without evaluating: a fixed function of the parameters."""
    return float(sum(len(str(v)) for v in architecture.param_dict.values()))


def noise(architecture: Architecture) -> float:
    digest = hashlib.blake2b(architecture.canonical_hash.encode(), digest_size=8, key=b"other")
    return int.from_bytes(digest.digest(), "big") / 2**64


class Objective:
    """Accuracy (hashed), a cost correlated with it, and a cheap size."""

    def __call__(self, architecture: Architecture) -> dict[str, float]:
        score = hashed_score(architecture)
        return {"accuracy": score, "cost": score + 0.5 * noise(architecture), "size": size(architecture)}

    def cheap_metrics(self, architecture: Architecture) -> dict[str, float]:
        return {"size": size(architecture)}


@pytest.fixture(scope="module")
def space():
    return mlp_space()


@pytest.mark.slow
def test_proposals_after_the_initial_design_satisfy_a_constraint_on_a_cheap_metric(space) -> None:
    bound = float(np.percentile([size(a) for a in space.enumerate()], 30))
    sampler = make_sampler(
        "mobo-gp-categorical", space, seed=0, n_initial=4, cheap_metrics=Objective().cheap_metrics
    )
    result = search(
        space,
        Objective(),
        sampler=sampler,
        objectives={"accuracy": "maximize", "cost": "minimize"},
        constraints={"size": ("<=", bound)},
        n_trials=12,
        seed=0,
    )
    history = result.history
    assert history["feasible"].all()  # the initial design draws feasible ones too, as there are some
    assert all(m.metrics["size"] <= bound for m in result.pareto_front)


@pytest.mark.slow
def test_modelled_objectives_and_constraints_with_a_batch_and_pending_trials(space) -> None:
    sampler = make_sampler("mobo-gp-categorical", space, seed=1, n_initial=4, batch_size=3)
    result = search(
        space,
        Objective(),
        sampler=sampler,
        objectives={"accuracy": "maximize", "cost": "minimize"},
        constraints={"cost": ("<=", 0.9)},
        n_trials=10,
        seed=1,
        batch_size=3,
    )
    history = result.history
    assert len(trials.evaluations(result.study.trials)) == 10 and history["arch_hash"].is_unique
    assert set(history["feasible"]) <= {True, False} and result.pareto_front


@pytest.mark.slow
def test_parego_and_a_single_constrained_objective(space) -> None:
    parego = search(
        space, Objective(), sampler=make_sampler("parego-gp-categorical", space, seed=2, n_initial=4),
        objectives={"accuracy": "maximize", "cost": "minimize"}, n_trials=8, seed=2,
    )  # fmt: skip
    assert len(trials.evaluations(parego.study.trials)) == 8
    single = search(
        space, Objective(), sampler=make_sampler("mobo-gp-categorical", space, seed=3, n_initial=4),
        metric="accuracy", constraints={"cost": ("<=", 0.8)}, n_trials=8, seed=3,
    )  # fmt: skip
    feasible = single.history[single.history["feasible"] == True]  # noqa: E712
    assert single.best_value == feasible["accuracy"].max()


def test_surrogate_options_reach_the_factory_of_the_outcome_models(space) -> None:
    sampler = make_sampler("mobo-gp-categorical", space, surrogate_options={"kernel": "additive"})
    assert isinstance(sampler, MultiObjectiveBOSampler)
    assert sampler._surrogate_factory(space).kernel == "additive"


def test_the_pareto_set_of_observations_is_their_feasible_front(space) -> None:
    from bonas.history import Observation

    archs = list(space.enumerate())[:4]
    observations = [
        Observation(archs[0], 1.0, (1.0, -3.0), (0.5,)),
        Observation(archs[1], 0.5, (0.5, -1.0), (0.0,)),
        Observation(archs[2], 0.4, (0.4, -2.0), (-1.0,)),
        Observation(archs[3], 0.9, (0.9, -3.0), (-1.0,)),
    ]
    assert [o.architecture for o in pareto_set(observations)] == [archs[1], archs[3]]
    infeasible = [
        Observation(a, 0.0, (0.0, 0.0), (v,)) for a, v in zip(archs, (3.0, 1.0, 2.0, 4.0), strict=False)
    ]
    assert [o.architecture for o in pareto_set(infeasible)] == [archs[1]]


def test_bad_options_are_refused(space) -> None:
    with pytest.raises(ValueError, match="Unknown multi-objective acquisition 'ehvi'"):
        MultiObjectiveBOSampler(space, surrogate="gp-categorical", acquisition="ehvi")
    with pytest.raises(TypeError, match="cheap_metrics must be a function"):
        MultiObjectiveBOSampler(space, surrogate="gp-categorical", cheap_metrics={"size": 1})


@pytest.mark.parametrize(
    ("allow_repeats", "noisy", "expected"), [(True, None, True), (True, False, False), (False, True, True)]
)
def test_repeats_make_every_modelled_outcome_learn_its_noise(space, allow_repeats, noisy, expected) -> None:
    sampler = MultiObjectiveBOSampler(
        space, surrogate="gp-categorical", n_initial=4, seed=0, allow_repeats=allow_repeats, noisy=noisy
    )
    search(
        space,
        Objective(),
        sampler=sampler,
        objectives={"accuracy": "maximize", "cost": "minimize"},
        n_trials=6,
        seed=0,
    )
    assert sampler.noisy is expected
    assert len(sampler._surrogates) == 2 and all(s.noisy is expected for s in sampler._surrogates.values())


def test_a_feasible_region_is_a_space_of_the_feasible_architectures_only(space) -> None:
    from bonas.samplers.multiobjective import FeasibleRegion

    bound = float(np.median([size(a) for a in space.enumerate()]))
    region = FeasibleRegion(space, lambda a: size(a) <= bound)
    inside = list(region.enumerate())
    assert inside and all(size(a) <= bound for a in inside)
    assert {str(a) for a in inside} == {str(a) for a in space.enumerate() if size(a) <= bound}
    rng = np.random.default_rng(0)
    assert all(size(region.sample(rng)) <= bound for _ in range(20))
    assert all(size(n) <= bound for n in region.neighbours(inside[0]))
    assert region.name == space.name and region.from_params(inside[0].param_dict) == inside[0]


@pytest.mark.slow
def test_one_objective_under_a_cheap_constraint_searches_the_feasible_region(space) -> None:
    bound = float(np.percentile([size(a) for a in space.enumerate()], 30))
    sampler = make_sampler(
        "mobo-gp-categorical", space, seed=4, n_initial=4, cheap_metrics=Objective().cheap_metrics, noisy=True
    )
    result = search(
        space, Objective(), sampler=sampler, metric="accuracy", constraints={"size": ("<=", bound)}, n_trials=10, seed=4
    )  # fmt: skip
    assert result.history["feasible"].all() and sampler._region_bo is not None
    assert sampler._region_bo.noisy and sampler._region_bo.surrogate.noisy  # the region's BO models noise


def test_candidates_likely_to_fail_are_mostly_left_out_once_evaluations_failed(monkeypatch) -> None:
    from bonas.history import Observation, SearchHistory
    from bonas.samplers import multiobjective
    from bonas.spaces import Categorical, CategoricalSpace
    from bonas.surrogates.failures import completion_probability

    space = CategoricalSpace(
        "out-of-memory-mo",
        [
            Categorical("depth", (1, 2, 3, 4)),
            Categorical("width", (32, 64, 128, 256)),
            Categorical("act", ("a", "b")),
        ],
    )
    every = list(space.enumerate())

    def fails(a: Architecture) -> bool:
        return a.param_dict["depth"] == 4 and a.param_dict["width"] == 256

    rng = np.random.default_rng(0)
    drawn = [every[i] for i in rng.choice(len(every), 16, replace=False)]
    failed = [a for a in every if fails(a) and a.param_dict["act"] == "a"]
    completed = [a for a in drawn if not fails(a)]
    history = SearchHistory(
        observations=[Observation(a, 1.0, (1.0, 2.0)) for a in completed],
        seen={a.canonical_hash for a in completed + failed},
        failed=failed,
    )
    unseen = [a for a in every if history.is_new(a)]
    kept = MultiObjectiveBOSampler(space, surrogate="gp-categorical", seed=0)._drawn_to_complete(
        history, unseen, 2
    )
    assert not any(fails(a) for a in kept)  # the unseen deepest widest cell (act "b")
    assert len(kept) >= 0.8 * (len(unseen) - 1)
    off = MultiObjectiveBOSampler(space, surrogate="gp-categorical", seed=0, model_failures=False)
    assert off._drawn_to_complete(history, unseen, 2) == unseen
    # Every candidate likely to fail: the q likeliest to complete are kept.
    sampler = MultiObjectiveBOSampler(space, surrogate="gp-categorical", seed=0)
    doomed = next(a for a in unseen if fails(a))
    safe = next(a for a in unseen if a.param_dict["depth"] == 1)
    assert completion_probability(space, history, [doomed])[0] < 0.1
    # Fewer than q drawn to complete (one certain to fail): the q likeliest to complete, likeliest first.
    monkeypatch.setattr(multiobjective, "completion_probability", lambda *_: np.array([0.0, 0.9]))
    assert sampler._drawn_to_complete(history, [doomed, safe], 2) == [safe, doomed]


@pytest.mark.parametrize(
    ("cheap", "named"),
    [
        ({"size": "fast"}, "returned size='fast' (str); each cheap metric must be a finite number"),
        ({"size": float("nan")}, "returned size=nan (float)"),
        (3.0, "returned 3.0 (float); it must return a dict"),
    ],
)
def test_a_cheap_metrics_function_returning_no_numbers_stops_the_search_naming_it(
    space, cheap, named
) -> None:
    class Broken(Objective):
        def cheap_metrics(self, architecture: Architecture) -> object:
            return cheap

    objective = Broken()
    storage = optuna.storages.InMemoryStorage()
    with pytest.raises(SearchFailedError, match=r"Stopped study .*: cheap_metrics\(") as raised:
        search(space, objective, objectives={"accuracy": "maximize", "cost": "minimize"}, n_trials=4,
               constraints={"size": ("<=", 100.0)}, study_name="s", max_consecutive_failures=None,
               storage=storage)  # fmt: skip
    assert named in str(raised.value)
    (failed,) = optuna.load_study(study_name="s", storage=storage).get_trials()
    # The user's function failed, not an architecture: bonas show counts the trial as stopped.
    assert trials.not_judged(failed)


def test_a_cheap_metrics_function_that_raises_for_some_architectures_stops_the_search_at_once(space) -> None:
    class Partial(Objective):
        def cheap_metrics(self, architecture: Architecture) -> dict[str, float]:
            if size(architecture) > 8:  # a profiler that cannot handle every architecture
                raise RuntimeError("cannot profile this one")
            return super().cheap_metrics(architecture)

    storage = optuna.storages.InMemoryStorage()
    with pytest.raises(SearchFailedError, match=r"cheap_metrics\(.*\) raised RuntimeError: cannot profile"):
        search(space, Partial(), objectives={"accuracy": "maximize", "cost": "minimize"}, n_trials=12,
               constraints={"size": ("<=", 100.0)}, study_name="s", storage=storage, seed=0)  # fmt: skip
    study = optuna.load_study(study_name="s", storage=storage)
    failed = [t for t in study.get_trials() if t.state == optuna.trial.TrialState.FAIL]
    assert len(failed) == 1 and trials.not_judged(failed[0])  # stopped at once, counted as stopped


def test_cheap_metrics_none_of_which_is_searched_are_named_in_a_warning(space, caplog) -> None:
    class Misspelt(Objective):
        def cheap_metrics(self, architecture: Architecture) -> dict[str, float]:
            return {"sizes": size(architecture)}  # the constraint is on "size"

    with caplog.at_level("WARNING", logger="bonas.samplers.multiobjective"):
        search(space, Misspelt(), objectives={"accuracy": "maximize", "cost": "minimize"}, n_trials=3,
               constraints={"size": ("<=", 100.0)}, seed=0)  # fmt: skip
    (warning,) = [m for m in caplog.messages if "cheap_metrics gives" in m]
    assert "'sizes', none of the searched metrics ('accuracy', 'cost', 'size')" in warning
