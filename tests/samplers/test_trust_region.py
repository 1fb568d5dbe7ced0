"""The Hamming-ball trust region (bonas.samplers.trust_region): its schedule and where proposals land."""

from __future__ import annotations

import numpy as np
import pytest

from bonas.architecture import Architecture
from bonas.candidates import CandidateSettings
from bonas.history import Observation, SearchHistory
from bonas.samplers import make_sampler
from bonas.samplers.trust_region import TrustRegion, TrustRegionBayesianSampler, TrustRegionSchedule
from bonas.spaces.base import Categorical
from bonas.spaces.categorical import CategoricalSpace
from bonas.surrogates import make_surrogate


def wide_space() -> CategoricalSpace:
    """Twelve parameters of four choices (16.8 million architectures): too many to list."""
    return CategoricalSpace("wide", [Categorical(f"p{i}", (0, 1, 2, 3)) for i in range(12)])


def observations(values: list[float]) -> list[Observation]:
    space = wide_space()
    rng = np.random.default_rng(0)
    return [Observation(space.sample(rng), value) for value in values]


def schedule(**options: int) -> TrustRegionSchedule:
    settings = {"initial_radius": 3, "max_radius": 5, "success_tolerance": 2, "failure_tolerance": 2}
    return TrustRegionSchedule(**{**settings, **options})


def test_the_region_starts_at_the_best_random_point_with_the_initial_radius() -> None:
    history = observations([1.0, 3.0, 2.0])
    region = schedule().replay(history, n_initial=3)
    assert region == TrustRegion(centre=history[1], radius=3, restarts=0)


def test_successes_in_a_row_widen_the_region_and_move_its_centre() -> None:
    history = observations([1.0, 2.0, 3.0, 4.0, 5.0])
    region = schedule().replay(history, n_initial=1)
    # Four new bests after the start: two widenings of one, capped at max_radius.
    assert region.centre is history[-1]
    assert region.radius == 5


def test_failures_in_a_row_narrow_the_region_a_collapse_restarts_it() -> None:
    history = observations([5.0, 1.0, 1.0])
    assert schedule().replay(history, n_initial=1).radius == 2
    collapsed = schedule().replay(observations([5.0] + [1.0] * 6), n_initial=1)
    assert collapsed.radius == 0  # the next proposal is global
    restarted = schedule().replay(observations([5.0] + [1.0] * 7), n_initial=1)
    assert (restarted.radius, restarted.restarts) == (3, 1)


def test_a_success_resets_the_failure_count() -> None:
    # fail, success, fail: never two failures in a row, so the radius stays.
    region = schedule().replay(observations([5.0, 1.0, 6.0, 1.0]), n_initial=1)
    assert region.radius == 3


@pytest.mark.parametrize(
    "options",
    [{"initial_radius": 0}, {"initial_radius": 6}, {"success_tolerance": 0}, {"failure_tolerance": 0}],
)
def test_schedule_rejects_bad_settings_quoting_them(options: dict[str, int]) -> None:
    name = next(iter(options))
    with pytest.raises(ValueError, match=name):
        schedule(**options)


def test_replay_needs_an_observation() -> None:
    with pytest.raises(ValueError, match="at least one observation"):
        schedule().replay([], n_initial=3)


def hamming(a: Architecture, b: Architecture) -> int:
    return sum(a.param_dict[name] != b.param_dict[name] for name in a.param_dict)


def test_proposals_in_a_large_space_stay_in_the_region_and_are_new() -> None:
    space = wide_space()
    sampler = TrustRegionBayesianSampler(
        space,
        seed=0,
        n_initial=4,
        initial_radius=2,
        neighbourhood_every=0,
        stall_patience=0,
        n_candidates=200,
        local_search_steps=2,
        surrogate=lambda space: make_surrogate("gp-categorical", space, max_iterations=20),
        candidates=CandidateSettings(n_parents=2, mutations_per_parent=10, n_random=20),
    )
    rng = np.random.default_rng(1)
    history = SearchHistory()

    def score(architecture: Architecture) -> float:
        return float(sum(value == 3 for value in architecture.param_dict.values()))

    for _ in range(8):
        region = sampler.trust_region(history) if len(history.observations) >= 4 else None
        proposal = sampler.propose(history.copy(), rng)
        assert history.is_new(proposal)
        if region is not None and region.radius > 0:
            assert hamming(proposal, region.centre.architecture) <= region.radius
        history.observations.append(Observation(proposal, score(proposal)))
        history.seen.add(proposal.canonical_hash)
    assert max(o.value for o in history.observations[4:]) >= max(o.value for o in history.observations[:4])


def test_inside_measures_hamming_distance_on_the_parameters() -> None:
    space = wide_space()
    sampler = TrustRegionBayesianSampler(space, seed=0)
    centre = space.from_params({f"p{i}": 0 for i in range(12)})
    two_away = space.from_params({f"p{i}": 1 if i < 2 else 0 for i in range(12)})
    three_away = space.from_params({f"p{i}": 2 if i < 3 else 0 for i in range(12)})
    region = TrustRegion(centre=Observation(centre, 1.0), radius=2)
    assert sampler.inside(region, [centre, two_away, three_away]) == [True, True, False]


def test_the_searcher_is_registered_with_a_warm_started_categorical_gp() -> None:
    sampler = make_sampler("bo-gp-categorical-tr", wide_space(), seed=0)
    assert isinstance(sampler, TrustRegionBayesianSampler)
    assert sampler.surrogate.name == "gp-categorical"
    assert sampler.surrogate.warm_start
    assert sampler.schedule.initial_radius == 6 and sampler.schedule.max_radius == 12


def test_surrogate_options_reach_the_default_gp_and_keep_its_warm_start() -> None:
    sampler = make_sampler(
        "bo-gp-categorical-tr", wide_space(), seed=0, surrogate_options={"kernel": "additive"}
    )
    assert sampler.surrogate.name == "gp-categorical"
    assert sampler.surrogate.kernel == "additive"
    assert sampler.surrogate.warm_start
    options = {"warm_start": False}
    cold = make_sampler("bo-gp-categorical-tr", wide_space(), surrogate_options=options)
    assert not cold.surrogate.warm_start
    assert options == {"warm_start": False}  # the caller's dict is not changed
    with pytest.raises(ValueError, match="apply to a surrogate name, not to the factory"):
        make_sampler(
            "bo-gp-categorical-tr",
            wide_space(),
            surrogate=lambda space: make_surrogate("gp-categorical", space),
            surrogate_options=options,
        )
    with pytest.raises(TypeError, match="surrogate_options must map"):
        make_sampler("bo-gp-categorical-tr", wide_space(), surrogate_options="additive")


def test_rejects_a_bad_candidate_count() -> None:
    with pytest.raises(ValueError, match="n_candidates"):
        TrustRegionBayesianSampler(wide_space(), n_candidates=0)


def listed_space() -> CategoricalSpace:
    return CategoricalSpace("listed", [Categorical(f"p{i}", (0, 1, 2, 3, 4)) for i in range(4)])


def history_of(space: CategoricalSpace, n: int) -> SearchHistory:
    rng = np.random.default_rng(0)
    history = SearchHistory()
    while len(history.observations) < n:
        architecture = space.sample(rng)
        if history.is_new(architecture):
            history.observations.append(
                Observation(architecture, float(sum(architecture.param_dict.values())))
            )
            history.seen.add(architecture.canonical_hash)
    return history


def test_a_listed_space_is_scored_whole_until_its_variances_cost_too_much(monkeypatch) -> None:
    import bonas.samplers.trust_region as trust_region

    space = listed_space()  # 625 architectures
    sampler = TrustRegionBayesianSampler(space, seed=0, n_initial=3)
    monkeypatch.setattr(trust_region, "WHOLE_SPACE_BUDGET", 625 * 20 * 20)
    assert sampler._scores_whole_space(history_of(space, 20))
    long = history_of(space, 21)
    assert not sampler._scores_whole_space(long)
    region = sampler.trust_region(long)
    candidates = sampler._global_candidates(long, np.random.default_rng(0))
    assert candidates and len(candidates) < 625 - 21
    assert all(sampler.inside(region, candidates)) and all(long.is_new(a) for a in candidates)


def test_region_in_listed_keeps_a_listed_spaces_candidates_in_the_region() -> None:
    space = listed_space()
    history = history_of(space, 12)
    plain = TrustRegionBayesianSampler(space, seed=0, n_initial=3, initial_radius=1)
    inside = TrustRegionBayesianSampler(
        space, seed=0, n_initial=3, initial_radius=1, failure_tolerance=100, region_in_listed=True
    )
    rng = np.random.default_rng(0)
    assert len(plain._global_candidates(history, rng)) == 625 - 12
    candidates = inside._global_candidates(history, rng)
    region = inside.trust_region(history)
    assert 0 < len(candidates) <= 16 and all(inside.inside(region, candidates))


def test_the_bo_sampler_keeps_the_neighbour_lists_of_recent_architectures(monkeypatch) -> None:
    import bonas.samplers.bayesian as bayesian

    space = listed_space()
    sampler = TrustRegionBayesianSampler(space, seed=0)
    calls: list[Architecture] = []
    original = space.neighbours
    monkeypatch.setattr(space, "neighbours", lambda a: calls.append(a) or original(a))
    monkeypatch.setattr(bayesian, "NEIGHBOURS_KEPT", 2)
    a, b, c = (space.from_params({f"p{i}": v for i in range(4)}) for v in (0, 1, 2))
    assert sampler._neighbours(a) == original(a)
    sampler._neighbours(a)
    sampler._neighbours(b)
    sampler._neighbours(c)  # a is dropped: only the last two are kept
    sampler._neighbours(c)
    sampler._neighbours(a)
    assert calls == [a, b, c, a]


def test_on_noisy_values_the_region_centres_on_the_model_best_not_a_lucky_draw() -> None:
    space = CategoricalSpace("wide", [Categorical(f"p{i}", (0, 1, 2, 3)) for i in range(12)])
    rng = np.random.default_rng(0)

    def threes(architecture: Architecture) -> float:  # the true mean
        return float(sum(v == 3 for v in architecture.param_dict.values()))

    architectures = [space.sample(rng) for _ in range(30)]
    observations = [
        Observation(a, threes(a) + 0.3 * rng.standard_normal()) for a in architectures for _ in range(2)
    ]
    poorest = min(architectures, key=threes)
    observations.append(Observation(poorest, max(o.value for o in observations) + 1.0))  # one lucky draw
    history = SearchHistory(observations, [], {a.canonical_hash for a in architectures})
    sampler = TrustRegionBayesianSampler(space, seed=0, allow_repeats=True, n_initial=10)
    sampler._fit(history)
    best = sampler._incumbents(history, 1)[0]  # the model's best, which the region centres on
    region = sampler.trust_region(history)
    assert region.centre.architecture == best != poorest
    assert threes(best) >= max(map(threes, architectures)) - 1
