"""The Bayesian optimisation sampler: validation, warm-up, the search itself, batches, pending trials,
the DARTS path (mutation candidates and local search on the acquisition) and the output transform.

The conformance suite runs on the BO samplers in tests/samplers/test_samplers.py; the strategy checks
here search NB201 for ``number of nor_conv_3x3 edges + 0.01 * noise`` (:func:`conv_count`), whose
optimum is the all-``nor_conv_3x3`` cell. Every run is seeded.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import optuna
import pytest
import scipy.stats
import torch

from bonas.acquisition import AcquisitionSettings, analytic_scores
from bonas.architecture import Architecture
from bonas.candidates import CandidateSettings
from bonas.errors import ArgumentTypeError, InvalidArgumentError, UnknownNameError
from bonas.history import Constraint, Observation, SearchHistory
from bonas.samplers import RandomSearchSampler, make_sampler
from bonas.samplers import bayesian as bayesian_module
from bonas.samplers.bayesian import BayesianOptimizationSampler
from bonas.spaces import Categorical, CategoricalSpace, get_space
from bonas.spaces.base import SearchSpace
from bonas.spaces.nb201 import NB201Space
from bonas.study import search
from bonas.surrogates import SurrogateNotFittedError
from bonas.surrogates.transforms import copula_transform, lower_copula_transform
from bonas.testing.samplers import hashed_score
from bonas.trials import suggest
from tests.known_answer import conv_count

#: Small candidate sets for DARTS, so that a proposal costs ~0.5 s instead of ~1.5 s.
SMALL_CANDIDATES = CandidateSettings(n_parents=2, mutations_per_parent=10, n_random=50)


def history_of(architectures: list[Architecture], values: list[float]) -> SearchHistory:
    return SearchHistory(
        observations=[Observation(a, v) for a, v in zip(architectures, values, strict=True)],
        seen={a.canonical_hash for a in architectures},
    )


def random_history(space: SearchSpace, count: int, seed: int, objective: Any = hashed_score) -> SearchHistory:
    """``count`` distinct random architectures of ``space``, evaluated by ``objective``."""
    rng = np.random.default_rng(seed)
    found: dict[str, Architecture] = {}
    while len(found) < count:
        architecture = space.sample(rng)
        found.setdefault(architecture.canonical_hash, architecture)
    architectures = list(found.values())
    return history_of(architectures, [objective(a) for a in architectures])


# -- construction -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "quoted"),
    [
        ({"n_initial": 0}, ValueError, "n_initial must be at least 1, got 0"),
        ({"n_initial": -4}, ValueError, "got -4"),
        ({"local_search_steps": -1}, ValueError, "local_search_steps must be >= 0, got -1"),
        ({"neighbourhood_every": -2}, ValueError, "neighbourhood_every must be >= 0 .*got -2"),
        ({"stall_patience": -1}, ValueError, "stall_patience must be >= 0 .*got -1"),
        ({"surrogate": "gp-magic"}, UnknownNameError, "'gp-magic'"),
        ({"output_transform": "rank"}, UnknownNameError, "'rank'"),
        ({"acquisition": "expected-improvement"}, UnknownNameError, "'expected-improvement'"),
        ({"neighbourhood_acquisition": "greedy"}, UnknownNameError, "'greedy'"),
    ],
)
def test_constructor_rejects_bad_values_and_quotes_them(
    nb201: NB201Space, options: dict[str, Any], error: type[Exception], quoted: str
) -> None:
    with pytest.raises(error, match=quoted):
        BayesianOptimizationSampler(nb201, **options)


def test_unknown_output_transform_lists_the_valid_ones(nb201: NB201Space) -> None:
    with pytest.raises(UnknownNameError, match=r"'copula'.*'none'"):
        BayesianOptimizationSampler(nb201, output_transform="log")


@pytest.mark.parametrize(
    ("name", "surrogate"),
    [("bo-gp-wl", "gp-wl"), ("bo-gp-categorical", "gp-categorical"), ("bo-gp-path", "gp-path")],
)
def test_registry_builds_the_named_surrogate_and_passes_options(
    nb201: NB201Space, name: str, surrogate: str
) -> None:
    sampler = make_sampler(name, nb201, seed=3, n_initial=4, acquisition="ucb", local_search_steps=0)
    assert isinstance(sampler, BayesianOptimizationSampler)
    assert sampler.surrogate.name == surrogate
    assert (sampler.n_initial, sampler.acquisition.name, sampler.local_search_steps) == (4, "ucb", 0)


def test_acquisition_settings_and_a_surrogate_factory_are_accepted(nb201: NB201Space) -> None:
    from bonas.surrogates import make_surrogate

    settings = AcquisitionSettings("pi")
    sampler = BayesianOptimizationSampler(
        nb201, surrogate=lambda space: make_surrogate("gp-categorical", space), acquisition=settings
    )
    assert sampler.acquisition is settings
    assert sampler.surrogate.name == "gp-categorical"


def test_surrogate_options_build_the_named_surrogate_with_them(nb201: NB201Space) -> None:
    sampler = make_sampler("bo-gp-wl-rbf", nb201, surrogate_options={"h": 1})
    assert (sampler.surrogate.name, sampler.surrogate.h) == ("gp-wl-rbf", 1)
    additive = make_sampler("bo-gp-categorical", nb201, surrogate_options={"kernel": "additive"})
    assert additive.surrogate.kernel == "additive"


def test_surrogate_options_with_a_factory_or_a_bad_kernel_are_refused_naming_them(nb201: NB201Space) -> None:
    from bonas.surrogates import make_surrogate

    with pytest.raises(ValueError, match=r"surrogate_options \{'h': 1\} apply to a surrogate name"):
        BayesianOptimizationSampler(
            nb201, surrogate=lambda space: make_surrogate("gp-wl", space), surrogate_options={"h": 1}
        )
    with pytest.raises(UnknownNameError, match="'hamming'"):
        make_sampler("bo-gp-categorical", nb201, surrogate_options={"kernel": "hamming"})
    with pytest.raises(
        InvalidArgumentError, match=r"Surrogate 'gp-categorical' does not take the options \['colour'\]"
    ):
        make_sampler("bo-gp-categorical", nb201, surrogate_options={"colour": 1})
    with pytest.raises(InvalidArgumentError, match=r"does not take the options \['space'\]"):
        make_sampler("bo-gp-categorical", nb201, surrogate_options={"space": nb201})
    with pytest.raises(TypeError, match="not iterable") as raised:  # a bad value, not a refused name
        make_sampler("bo-gp-wl", nb201, surrogate_options={"h_choices": 5})
    assert not isinstance(raised.value, InvalidArgumentError)
    for not_a_mapping in ("additive", [("kernel", "additive")], {1: "additive"}):
        with pytest.raises(
            ArgumentTypeError, match="surrogate_options must map the surrogate's option names"
        ):
            make_sampler("bo-gp-categorical", nb201, surrogate_options=not_a_mapping)


def test_propose_batch_rejects_q_below_one(nb201: NB201Space) -> None:
    sampler = BayesianOptimizationSampler(nb201, seed=0)
    with pytest.raises(ValueError, match="q must be at least 1, got 0"):
        sampler.propose_batch(SearchHistory(), np.random.default_rng(0), q=0)


# -- warm-up ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("evaluated", [0, 4])
def test_warm_up_proposals_are_random_search_proposals(nb201: NB201Space, evaluated: int) -> None:
    """Before n_initial evaluations a proposal is random search's for the same generator."""
    history = random_history(nb201, evaluated, seed=1)
    sampler = BayesianOptimizationSampler(nb201, n_initial=5, seed=0)
    for seed in range(3):
        expected = RandomSearchSampler(nb201).propose(history, np.random.default_rng(seed))
        assert sampler.propose(history, np.random.default_rng(seed)) == expected
    with pytest.raises(SurrogateNotFittedError):
        _ = sampler.surrogate.model  # no fit during the warm-up


def test_warm_up_batch_is_distinct_and_new(nb201: NB201Space) -> None:
    history = random_history(nb201, 3, seed=2)
    seen_before = set(history.seen)
    sampler = BayesianOptimizationSampler(nb201, n_initial=10, seed=0)
    batch = sampler.propose_batch(history, np.random.default_rng(0), q=5)
    hashes = [a.canonical_hash for a in batch]
    assert len(set(hashes)) == 5
    assert not set(hashes) & seen_before


def test_first_n_initial_trials_of_a_search_are_new_and_then_the_model_is_used(nb201: NB201Space) -> None:
    sampler = BayesianOptimizationSampler(nb201, n_initial=4, seed=0)
    history = search(nb201, conv_count, sampler=sampler, n_trials=5).history
    assert history["arch_hash"].is_unique
    assert (history["state"] == "COMPLETE").all()
    assert sampler.surrogate.model.train_inputs[0].shape[0] == 4  # the fifth proposal fitted 4 values


# -- the search itself ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_bo_gp_wl_finds_the_all_conv_cell_within_40_queries(
    nb201: NB201Space, all_conv: Architecture, seed: int
) -> None:
    # Measured: the all-conv cell is query 22, 18 and 12 for seeds 0, 1, 2 (and 25, 11 for seeds 3, 4),
    # after 10 random ones; random search needs ~15,625 / 2 on average.
    result = search(nb201, conv_count, sampler=make_sampler("bo-gp-wl", nb201, seed=seed), n_trials=40)
    assert result.best_architecture == all_conv
    assert result.history["arch_hash"].is_unique


def test_minimizing_the_negated_objective_finds_the_same_optimum(
    nb201: NB201Space, all_conv: Architecture
) -> None:
    # Seed 0 maximising conv_count finds the all-conv cell at query 22; the sampler sees -value when
    # minimising, so minimising -conv_count retraces that search.
    result = search(
        nb201,
        lambda arch: -conv_count(arch),
        sampler=make_sampler("bo-gp-wl", nb201, seed=0),
        n_trials=25,
        direction="minimize",
    )
    assert result.best_architecture == all_conv
    assert result.best_value == pytest.approx(-conv_count(all_conv))


# -- batches and pending evaluations ----------------------------------------------------------------------


@pytest.mark.parametrize("acquisition", ["log-ei", "thompson"])
def test_propose_batch_returns_distinct_unseen_architectures(nb201: NB201Space, acquisition: str) -> None:
    history = random_history(nb201, 12, seed=3, objective=conv_count)
    seen_before = set(history.seen)
    sampler = BayesianOptimizationSampler(nb201, acquisition=acquisition, n_initial=5, seed=0)
    batch = sampler.propose_batch(history, np.random.default_rng(0), q=4)
    hashes = [a.canonical_hash for a in batch]
    assert len(set(hashes)) == 4
    assert not set(hashes) & seen_before
    assert history.seen == seen_before  # the model's proposals leave the history alone


def test_a_running_trial_is_pending_and_not_proposed_again(
    nb201: NB201Space, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = optuna.storages.InMemoryStorage()
    sampler = BayesianOptimizationSampler(nb201, n_initial=5, seed=0)
    search(nb201, conv_count, sampler=sampler, n_trials=8, storage=storage, study_name="shared")
    study = optuna.load_study(study_name="shared", storage=storage, sampler=sampler)
    # What this worker would propose next (whole-space LogEI with no pending point is deterministic)...
    expected = sampler.propose(sampler.history(study), np.random.default_rng(0))

    # ... is taken by another worker, which is still evaluating it.
    other_worker = optuna.load_study(
        study_name="shared", storage=storage, sampler=optuna.samplers.RandomSampler(seed=0)
    )
    other_worker.enqueue_trial(nb201.to_params(expected))
    running = other_worker.ask()
    assert suggest(nb201, running) == expected

    pending_seen: list[torch.Tensor | None] = []
    real_select = bayesian_module.select

    def spy(*args: Any, **kwargs: Any) -> list[int]:
        pending_seen.append(kwargs["pending"])
        return real_select(*args, **kwargs)

    monkeypatch.setattr(bayesian_module, "select", spy)
    proposed = suggest(nb201, study.ask())
    assert proposed.canonical_hash != expected.canonical_hash
    assert len(pending_seen) == 1 and pending_seen[0] is not None
    torch.testing.assert_close(pending_seen[0], sampler.surrogate.encode([expected]))
    assert study.trials[running.number].state == optuna.trial.TrialState.RUNNING


# -- spaces too large to score whole ----------------------------------------------------------------------


def test_darts_proposals_after_the_warm_up_go_through_the_local_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    darts = get_space("darts")
    sampler = BayesianOptimizationSampler(
        darts, n_initial=5, candidates=SMALL_CANDIDATES, local_search_steps=2, neighbourhood_every=0, seed=0
    )
    pools: list[tuple[int, int]] = []
    real_local_search = sampler._local_search

    def spy(candidates: list[Architecture], *args: Any, **kwargs: Any) -> Any:
        architectures, encoded = real_local_search(candidates, *args, **kwargs)
        pools.append((len(candidates), len(architectures)))
        assert encoded.shape[0] == len(architectures)
        return architectures, encoded

    monkeypatch.setattr(sampler, "_local_search", spy)
    history = search(darts, hashed_score, sampler=sampler, n_trials=8).history
    assert len(history) == 8
    assert (history["state"] == "COMPLETE").all()
    assert history["arch_hash"].is_unique  # the three model proposals are new too
    assert len(pools) == 3  # one local search per model proposal, none during the warm-up
    for before, after in pools:
        assert after > before, "the local search adds the neighbours it visits to the candidates"


def test_local_search_is_skipped_when_disabled_or_the_space_is_scored_whole(
    nb201: NB201Space, monkeypatch: pytest.MonkeyPatch
) -> None:
    darts = get_space("darts")
    samplers = [
        BayesianOptimizationSampler(
            darts, n_initial=3, candidates=SMALL_CANDIDATES, local_search_steps=0, seed=0
        ),
        BayesianOptimizationSampler(nb201, n_initial=3, seed=0),
    ]
    for sampler in samplers:
        monkeypatch.setattr(sampler, "_local_search", lambda *args: pytest.fail("local search ran"))
        history = random_history(sampler.space, 4, seed=4)
        proposed = sampler.propose(history, np.random.default_rng(0))
        assert history.is_new(proposed)


# -- trust-region moves around the incumbent ------------------------------------------------------------


def _neighbour_hashes(space: SearchSpace, architecture: Architecture) -> set[str]:
    return {n.canonical_hash for n in space.neighbours(architecture)}


def test_every_kth_model_proposal_is_an_unseen_neighbour_of_the_incumbent(nb201: NB201Space) -> None:
    sampler = BayesianOptimizationSampler(nb201, n_initial=5, neighbourhood_every=3, seed=0)
    for evaluated, is_move in [(5, False), (6, False), (7, True), (8, False), (10, True)]:
        history = random_history(nb201, evaluated, seed=evaluated)
        assert bool(sampler._neighbourhood_move(history, q=1)) is is_move
    history = random_history(nb201, 7, seed=7)
    proposed = sampler.propose(history, np.random.default_rng(0))
    assert history.is_new(proposed)
    assert proposed.canonical_hash in _neighbour_hashes(nb201, history.best()[0].architecture)


def test_an_incumbent_with_no_unseen_neighbour_hands_the_move_to_the_runner_up(
    nb201: NB201Space, all_conv: Architecture
) -> None:
    neighbours = list({n.canonical_hash: n for n in nb201.neighbours(all_conv)}.values())
    runner_up = neighbours[0]
    history = history_of([all_conv, *neighbours], [10.0, 9.0, *([0.0] * (len(neighbours) - 1))])
    sampler = BayesianOptimizationSampler(nb201, n_initial=len(history.observations), neighbourhood_every=1)
    move = sampler._neighbourhood_move(history, q=1)
    assert move
    assert {a.canonical_hash for a in move} <= _neighbour_hashes(nb201, runner_up)
    assert all(history.is_new(a) for a in move)


def test_neighbourhood_moves_can_be_disabled(nb201: NB201Space) -> None:
    sampler = BayesianOptimizationSampler(nb201, n_initial=1, neighbourhood_every=0, stall_patience=0)
    assert all(not sampler._neighbourhood_move(random_history(nb201, n, seed=n), q=1) for n in range(1, 30))


def _stalled_history(space: SearchSpace, evaluations: int) -> SearchHistory:
    """The best architecture first, then ``evaluations - 1`` worse ones."""
    history = random_history(space, evaluations, seed=3)
    values = [o.value for o in history.observations]
    ranked = sorted(range(evaluations), key=lambda i: -values[i])
    return history_of([history.observations[i].architecture for i in ranked], sorted(values, reverse=True))


def test_a_stalled_incumbent_gets_its_neighbourhood_searched(nb201: NB201Space) -> None:
    history = _stalled_history(nb201, 12)  # 11 evaluations since the best
    incumbent = history.observations[0].architecture
    patient = BayesianOptimizationSampler(nb201, n_initial=5, neighbourhood_every=0, stall_patience=12)
    assert not patient._neighbourhood_move(history, q=1)
    sampler = BayesianOptimizationSampler(nb201, n_initial=5, neighbourhood_every=0, stall_patience=11)
    move = sampler._neighbourhood_move(history, q=1)
    assert move
    assert {a.canonical_hash for a in move} == {
        n.canonical_hash for n in nb201.neighbours(incumbent) if history.is_new(n)
    }
    proposed = sampler.propose(history, np.random.default_rng(0))
    assert proposed.canonical_hash in _neighbour_hashes(nb201, incumbent)


def test_trust_region_moves_draw_neighbours_by_thompson_sampling(nb201: NB201Space) -> None:
    history = _stalled_history(nb201, 12)
    neighbours = _neighbour_hashes(nb201, history.observations[0].architecture)

    def proposals(**options: Any) -> list[str]:
        sampler = BayesianOptimizationSampler(
            nb201, n_initial=5, neighbourhood_every=0, stall_patience=11, seed=0, **options
        )
        return [sampler.propose(history, np.random.default_rng(0)).canonical_hash for _ in range(6)]

    drawn = proposals()
    assert set(drawn) <= neighbours
    assert len(set(drawn)) > 1, "a posterior draw per move should vary the neighbour chosen"
    greedy = proposals(neighbourhood_acquisition=None)  # LogEI, as the global proposals
    assert set(greedy) <= neighbours
    assert len(set(greedy)) == 1


def test_a_stalled_local_optimum_sends_the_search_global_again(
    nb201: NB201Space, all_conv: Architecture
) -> None:
    neighbours = list({n.canonical_hash: n for n in nb201.neighbours(all_conv)}.values())
    history = history_of([all_conv, *neighbours], [10.0, 9.0, *([0.0] * (len(neighbours) - 1))])
    sampler = BayesianOptimizationSampler(nb201, n_initial=1, neighbourhood_every=0, stall_patience=5)
    assert sampler._stalled(history)
    # Unlike a scheduled move, a stall move does not hand over to the runner-up.
    assert sampler._neighbourhood_move(history, q=1) == []


# -- output transform -------------------------------------------------------------------------------------


def test_copula_gives_symmetric_normal_scores(nb201: NB201Space) -> None:
    sampler = BayesianOptimizationSampler(nb201)
    low, middle, high = sampler._transform([1.0, 2.0, 3.0])
    assert middle == pytest.approx(0.0, abs=1e-12)
    assert low == pytest.approx(-high)
    assert high == pytest.approx(scipy.stats.norm.ppf(5 / 6))


def test_copula_preserves_ranks_and_ignores_the_scale(nb201: NB201Space) -> None:
    sampler = BayesianOptimizationSampler(nb201)
    values = [*(np.random.default_rng(0).normal(size=30) ** 3), 0.0, 0.0]  # heavy tails and a tie
    transformed = sampler._transform(values)
    np.testing.assert_array_equal(scipy.stats.rankdata(transformed), scipy.stats.rankdata(values))
    np.testing.assert_allclose(sampler._transform([np.exp(v) for v in values]), transformed)
    assert transformed[-1] == transformed[-2]  # ties share their mean rank


def test_copula_is_the_shared_copula_transform(nb201: NB201Space) -> None:
    values = [*(np.random.default_rng(1).normal(size=20) ** 3), 0.0, 0.0]
    assert BayesianOptimizationSampler(nb201)._transform(values) == copula_transform(values)


def test_output_transform_none_fits_the_raw_values(
    nb201: NB201Space, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = random_history(nb201, 6, seed=5, objective=conv_count)
    raw = [o.value for o in history.observations]
    fitted: dict[str, list[float]] = {}
    for transform in ("none", "copula"):
        sampler = BayesianOptimizationSampler(
            nb201, surrogate="gp-categorical", n_initial=3, output_transform=transform, seed=0
        )
        real_fit = sampler.surrogate.fit

        def spy(
            architectures: Any, values: Any, real_fit: Any = real_fit, transform: str = transform
        ) -> None:
            fitted[transform] = list(values)
            real_fit(architectures, values)

        monkeypatch.setattr(sampler.surrogate, "fit", spy)
        sampler.propose(history, np.random.default_rng(0))
    assert BayesianOptimizationSampler(nb201, output_transform="none")._transform(raw) == raw
    assert fitted["none"] == raw
    assert fitted["copula"] == pytest.approx(BayesianOptimizationSampler(nb201)._transform(raw))
    assert fitted["copula"] != pytest.approx(raw)


@pytest.mark.parametrize("surrogate", ["gp-wl", "gp-wl-rbf", "gp-path"])
def test_graph_surrogates_refuse_a_space_without_graphs(surrogate: str) -> None:
    from bonas.spaces import Categorical, CategoricalSpace

    space = CategoricalSpace("flat", [Categorical("a", (1, 2)), Categorical("b", ("x", "y"))])
    with pytest.raises(
        ValueError, match=r"models cell graphs, but space 'flat' defines none.*gp-categorical"
    ):
        BayesianOptimizationSampler(space, surrogate=surrogate)
    BayesianOptimizationSampler(space, surrogate="gp-categorical")  # the parameters need no graph


# -- noisy objectives ---------------------------------------------------------------------------------------


def noisy_conv_history(nb201: NB201Space, seed: int, noise: float, repeats: int = 2) -> SearchHistory:
    """30 random cells, each evaluated ``repeats`` times: ``conv_count + N(0, noise^2)``."""
    base = random_history(nb201, 30, seed, objective=conv_count)
    rng = np.random.default_rng(seed)
    observations = [
        Observation(o.architecture, o.value + noise * float(rng.standard_normal()))
        for _ in range(repeats)
        for o in base.observations
    ]
    return SearchHistory(observations=observations, seen=set(base.seen))


def test_noisy_is_allow_repeats_unless_given_and_reaches_the_surrogate(nb201: NB201Space) -> None:
    assert not BayesianOptimizationSampler(nb201, seed=0).surrogate.noisy
    assert BayesianOptimizationSampler(nb201, seed=0, allow_repeats=True).surrogate.noisy
    assert not BayesianOptimizationSampler(nb201, seed=0, allow_repeats=True, noisy=False).noisy
    assert BayesianOptimizationSampler(nb201, seed=0, noisy=True).surrogate.noisy
    # Noise among the best values is modelled on their scale, not as ranks (see lower_copula_transform).
    values = [1.0, 5.0, 2.0, 9.0, 7.5]
    noisy = BayesianOptimizationSampler(nb201, allow_repeats=True)
    assert noisy.output_transform == "lower-copula"
    assert noisy._transform(values) == lower_copula_transform(values)
    assert (
        BayesianOptimizationSampler(nb201, noisy=True, output_transform="copula").output_transform == "copula"
    )
    assert BayesianOptimizationSampler(nb201).output_transform == "copula"
    with pytest.raises(ValueError, match=r"reevaluate must be >= 0.*got -1"):
        BayesianOptimizationSampler(nb201, reevaluate=-1)


@pytest.mark.parametrize("seed", range(2))
def test_a_noisy_gp_learns_the_noise_a_deterministic_one_fits_as_signal(nb201: NB201Space, seed: int) -> None:
    # conv_count has variance ~1 over random cells; noise of standard deviation 1 is half the values'
    # variance, which the GP with the wide noise prior attributes to noise.
    history = noisy_conv_history(nb201, seed, noise=1.0)
    architectures = [o.architecture for o in history.observations]
    values = [o.value for o in history.observations]
    learned = {}
    for noisy in (False, True):
        sampler = BayesianOptimizationSampler(nb201, seed=0, noisy=noisy, output_transform="none")
        sampler.surrogate.fit(architectures, values)
        learned[noisy] = float(sampler.surrogate.model.likelihood.noise.detach())  # standardised units
    assert 0.2 < learned[True] < 0.9
    assert learned[False] < learned[True]


def test_recommendation_is_the_best_mean_value_noisy_or_not(nb201: NB201Space) -> None:
    # The GP's posterior mean shrinks a lone good cell towards its neighbours; the mean value does not
    # (on NB201's noisy benchmarks it reports better architectures; see the module docstring), and race
    # moves evaluate the contenders for it again.
    history = noisy_conv_history(nb201, seed=0, noise=0.3)
    # The poorest cell, evaluated a third time at a value so lucky that its mean beats every other.
    lucky = min(history.observations, key=lambda o: conv_count(o.architecture)).architecture
    best_mean = max(o.value for o in history.means())
    earlier = sum(o.value for o in history.observations if o.architecture == lucky)
    history.observations.append(Observation(lucky, 3 * (best_mean + 0.2) - earlier))
    assert history.best_mean() == lucky
    for sampler in (
        BayesianOptimizationSampler(nb201, seed=0),
        BayesianOptimizationSampler(nb201, seed=0, allow_repeats=True),
        RandomSearchSampler(nb201, seed=0),
    ):
        assert sampler.recommend(history) == lucky


def test_a_noisy_proposal_may_evaluate_the_best_posterior_mean_again(
    nb201: NB201Space, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = noisy_conv_history(nb201, seed=1, noise=0.3)
    for allow_repeats in (True, False):
        sampler = BayesianOptimizationSampler(
            nb201, seed=0, allow_repeats=allow_repeats, noisy=True, neighbourhood_every=0, stall_patience=0
        )
        encoded: list[list[Architecture]] = []
        encode = sampler.surrogate.encode

        def spy(architectures: Any, encode: Any = encode, encoded: Any = encoded) -> torch.Tensor:
            encoded.append(list(architectures))
            return encode(architectures)

        monkeypatch.setattr(sampler.surrogate, "encode", spy)
        proposal = sampler.propose(history, np.random.default_rng(0))
        candidates = max(encoded, key=len)  # the whole space but what was evaluated, and the re-evaluations
        assert len(candidates) > 8_000  # one cell per isomorphism class
        repeated = [a for a in candidates if a.canonical_hash in history.seen]
        if allow_repeats:
            assert len(repeated) == sampler.reevaluate == 5
            assert sampler._best_by_mean(history)[0] in repeated  # the best posterior mean competes
        else:
            assert not repeated
            assert proposal.canonical_hash not in history.seen


def test_the_augmented_acquisition_discounts_an_architecture_its_evaluations_pin_down(
    nb201: NB201Space,
) -> None:
    # Plain LogEI of the best posterior mean stays positive however often it was evaluated (its latent
    # value is uncertain by about noise / sqrt(evaluations)); the augmented acquisition multiplies it by
    # 1 - tau / sqrt(sigma^2 + tau^2), which is small where sigma is small against the noise tau.
    history = noisy_conv_history(nb201, seed=2, noise=0.3, repeats=1)
    best = max(history.observations, key=lambda o: o.value)
    rng = np.random.default_rng(0)
    history.observations += [
        Observation(best.architecture, best.value + 0.3 * float(rng.standard_normal())) for _ in range(3)
    ]
    sampler = BayesianOptimizationSampler(nb201, seed=0, allow_repeats=True)
    best_value = sampler._fit(history)
    incumbent = sampler._best_by_mean(history)[0]
    assert incumbent == best.architecture
    unseen = [a for a in list(nb201.enumerate())[:3000] if history.is_new(a)]
    plain = analytic_scores(
        sampler.surrogate, sampler.surrogate.encode(unseen), best_value, sampler.acquisition
    )
    incumbent_plain = float(
        analytic_scores(
            sampler.surrogate, sampler.surrogate.encode([incumbent]), best_value, sampler.acquisition
        )[0]
    )
    # The unseen cell ranked just below the incumbent by plain LogEI ...
    below = int(torch.argmax(torch.where(plain < incumbent_plain, plain, -torch.inf)))
    pair = sampler.surrogate.encode([incumbent, unseen[below]])
    assert int(torch.argmax(analytic_scores(sampler.surrogate, pair, best_value, sampler.acquisition))) == 0
    # ... is preferred once one more evaluation's information is accounted for.
    assert sampler._augmented_choice(pair, best_value, None) == 1


def test_noisy_trust_region_moves_search_around_the_best_posterior_mean(nb201: NB201Space) -> None:
    history = noisy_conv_history(nb201, seed=0, noise=0.3)
    # The poorest cell, evaluated a third time at the best single value of all (but a poor mean).
    lucky = min(history.observations, key=lambda o: conv_count(o.architecture)).architecture
    history.observations.append(Observation(lucky, max(o.value for o in history.observations) + 1.0))
    assert history.best(1)[0].architecture == lucky
    for noisy in (True, False):
        sampler = BayesianOptimizationSampler(nb201, seed=0, noisy=noisy, neighbourhood_every=1)
        proposal = sampler.propose(history, np.random.default_rng(0))
        centre = sampler._best_by_mean(history)[0] if noisy else lucky  # the model's best when noisy
        assert (centre != lucky) == noisy
        assert proposal in nb201.neighbours(centre)


def test_means_average_objectives_and_constraints_and_the_best_mean_is_feasible(nb201: NB201Space) -> None:
    rng = np.random.default_rng(0)
    a, b = nb201.sample(rng), nb201.sample(rng)
    while b.canonical_hash == a.canonical_hash:
        b = nb201.sample(rng)
    history = SearchHistory(
        [
            Observation(a, 90.0, values=(90.0, -4.0), constraints=(1.0,)),
            Observation(b, 80.0, values=(80.0, -2.0), constraints=(-1.0,)),
            Observation(a, 92.0, values=(92.0, -6.0), constraints=(-0.5,)),
        ]
    )
    mean_a, mean_b = history.means()
    assert (mean_a.value, mean_a.values, mean_a.constraints) == (91.0, (91.0, -5.0), (0.25,))
    assert mean_b == history.observations[1]
    # a has the better mean value but violates its constraint on average: b is the answer.
    assert history.best_mean() == b


def close_race_history(nb201: NB201Space) -> SearchHistory:
    """30 cells each evaluated once, the best two values (10.0 and 9.8) closer than the values' spread."""
    base = random_history(nb201, 30, seed=3, objective=conv_count)
    top = {base.observations[0].architecture: 10.0, base.observations[1].architecture: 9.8}
    return SearchHistory(
        observations=[
            Observation(o.architecture, top.get(o.architecture, o.value)) for o in base.observations
        ],
        seen=set(base.seen),
    )


def test_a_race_move_evaluates_again_the_less_evaluated_of_incumbent_and_challenger(
    nb201: NB201Space,
) -> None:
    # Every cell evaluated once; the best two values 0.2 apart, closer than the values' spread (the
    # noise's prior before any repeat): the bounds of the incumbent (best mean value) and the challenger
    # (best upper bound of the others) overlap.
    history = close_race_history(nb201)
    sampler = BayesianOptimizationSampler(nb201, seed=0, allow_repeats=True, race_every=1)
    incumbent = history.best_mean()
    assert sampler.propose(history, np.random.default_rng(0)) == incumbent  # ties go to the incumbent
    # Evaluated twice now (at the same value), it waits while the challenger, evaluated once, is checked.
    history.observations.append(next(o for o in history.observations if o.architecture == incumbent))
    proposal = sampler.propose(history, np.random.default_rng(0))
    assert proposal != incumbent
    assert (
        proposal
        == max(
            (o for o in history.observations if o.architecture != incumbent), key=lambda o: o.value
        ).architecture
    )
    # Without repeats allowed there is no race: the proposal is new.
    no_repeats = BayesianOptimizationSampler(nb201, seed=0, noisy=True, race_every=1)
    assert history.is_new(no_repeats.propose(history, np.random.default_rng(0)))


def test_a_settled_race_proposes_a_new_architecture(nb201: NB201Space) -> None:
    # One cell far above the others, each evaluated three times with small noise: the incumbent's lower
    # bound clears every other upper bound, so the proposal is an unseen cell.
    base = random_history(nb201, 20, seed=4, objective=conv_count)
    rng = np.random.default_rng(4)
    observations = [
        Observation(o.architecture, o.value + (10.0 if i == 0 else 0.0) + 0.01 * float(rng.standard_normal()))
        for _ in range(3)
        for i, o in enumerate(base.observations)
    ]
    history = SearchHistory(observations=observations, seen=set(base.seen))
    sampler = BayesianOptimizationSampler(nb201, seed=0, allow_repeats=True, race_every=1, reevaluate=0)
    assert sampler._race_move(history) is None
    assert history.is_new(sampler.propose(history, np.random.default_rng(0)))


def test_a_race_with_constraints_is_between_architectures_feasible_on_average(nb201: NB201Space) -> None:
    # The best value by far violates its constraint: the race is between the two best feasible ones (their
    # values close, each evaluated once), and the incumbent is the answer the search gives, best_mean().
    base = random_history(nb201, 12, seed=5, objective=conv_count)
    best, second, infeasible = (o.architecture for o in base.observations[:3])
    value = {best: 10.0, second: 9.9, infeasible: 50.0}
    history = SearchHistory(
        observations=[
            Observation(
                o.architecture,
                value.get(o.architecture, o.value),
                constraints=(1.0 if o.architecture == infeasible else -1.0,),
            )
            for o in base.observations
        ],
        seen=set(base.seen),
        constraints=(Constraint("latency_ms", "<=", 5.0),),
    )
    assert history.best_mean() == best
    sampler = BayesianOptimizationSampler(nb201, seed=0, allow_repeats=True, race_every=1)
    assert sampler._race_move(history) == best
    # Only one architecture feasible on average: nothing to race.
    lonely = SearchHistory(
        observations=[
            replace(o, constraints=(-1.0 if o.architecture == best else 1.0,)) for o in history.observations
        ],
        seen=set(base.seen),
        constraints=history.constraints,
    )
    assert sampler._race_move(lonely) is None


def test_a_race_move_whose_evaluation_failed_is_not_proposed_again_at_once(nb201: NB201Space) -> None:
    history = close_race_history(nb201)
    sampler = BayesianOptimizationSampler(nb201, seed=0, allow_repeats=True, race_every=1)
    raced = sampler.propose(history, np.random.default_rng(0))
    assert raced == history.best_mean()
    # Its evaluation failed: the history is as it was, and the next proposal is not the same re-evaluation.
    assert sampler.propose(history, np.random.default_rng(0)) != raced
    # Once an evaluation lands, the race goes on.
    history.observations.append(Observation(history.observations[5].architecture, 0.0))
    assert sampler.propose(history, np.random.default_rng(0)) == raced


def test_the_race_noise_scales_with_the_values() -> None:
    groups = [[0.01], [0.02], [0.015, 0.017], [0.03]]
    scaled = [[1000 * v for v in g] for g in groups]
    assert bayesian_module._noise_sd(scaled) == pytest.approx(1000 * bayesian_module._noise_sd(groups))
    assert bayesian_module._noise_sd([[0.01], [0.02]]) == pytest.approx(0.005)


# -- failed evaluations --------------------------------------------------------------------------------

#: A user's space whose deepest and widest networks run out of memory; the best one is next to them.
MEMORY_SPACE = CategoricalSpace(
    "out-of-memory",
    [
        Categorical("depth", (1, 2, 3, 4)),
        Categorical("width", (32, 64, 128, 256)),
        Categorical("act", ("relu", "gelu", "silu")),
        Categorical("norm", (True, False)),
        Categorical("lr", (1e-3, 3e-3, 1e-2)),
    ],
)


def out_of_memory_objective(architecture: Architecture) -> float:
    p = architecture.param_dict
    if p["depth"] == 4 and p["width"] == 256:
        raise RuntimeError("CUDA out of memory")
    return (
        p["depth"]
        - abs(np.log2(p["width"]) - 7)
        + (p["act"] == "gelu")
        + 0.5 * p["norm"]
        - abs(np.log10(p["lr"]) + 2.5)
    )


def test_the_history_lists_the_objectives_failures_but_not_interrupts_or_lost_workers() -> None:
    study = optuna.create_study(direction="maximize")
    sampler = BayesianOptimizationSampler(MEMORY_SPACE, surrogate="gp-categorical", seed=0)
    cells = [MEMORY_SPACE.sample(np.random.default_rng(i)) for i in range(5)]
    ran = {"objective_seconds": 1.0}
    objective_failed = {"bonas:objective_failed": True}
    fail = optuna.trial.TrialState.FAIL
    for cell, state, attrs, system in [
        (cells[0], optuna.trial.TrialState.COMPLETE, ran, {}),
        (cells[1], fail, {**ran, "fail_reason": "RuntimeError: CUDA out of memory"}, objective_failed),
        (cells[2], fail, {"fail_reason": "interrupted"}, {}),
        (cells[3], fail, {**ran, "fail_reason": "interrupted"}, {}),  # after the objective returned
        (cells[4], fail, {"fail_reason": "worker lost (no heartbeat)"}, {}),
    ]:
        params = MEMORY_SPACE.to_params(cell)
        distributions = {n: optuna.distributions.CategoricalDistribution(
            next(p.choices for p in MEMORY_SPACE.parameters if p.name == n)) for n in params}  # fmt: skip
        study.add_trial(
            optuna.trial.create_trial(
                state=state,
                value=1.0 if state == optuna.trial.TrialState.COMPLETE else None,
                params=params,
                distributions=distributions,
                user_attrs=attrs,
                system_attrs=system,
            )
        )
    history = sampler.history(study)
    assert [o.architecture for o in history.observations] == [cells[0]]
    assert history.failed == [cells[1]]
    assert history.seen == {c.canonical_hash for c in cells}
    assert history.copy().failed == [cells[1]] and history.at_one_fidelity().failed == [cells[1]]


def test_a_search_marks_the_objectives_own_failures() -> None:
    def objective(architecture: Architecture) -> float:
        if architecture.param_dict["depth"] == 4:
            raise RuntimeError("CUDA out of memory")
        return float("nan") if architecture.param_dict["act"] == "silu" else 1.0

    sampler = RandomSearchSampler(MEMORY_SPACE, seed=0)
    result = search(
        MEMORY_SPACE, objective, sampler=sampler, n_trials=30, seed=0, max_consecutive_failures=None
    )
    failed = [t for t in result.study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed and all(t.system_attrs.get("bonas:objective_failed") for t in failed)
    reasons = {t.user_attrs["fail_reason"].split(":")[0] for t in failed}
    assert reasons == {"RuntimeError", "objective returned val_accuracy=nan"}
    assert len(sampler.history(result.study).failed) == len(failed)


def test_bo_stops_proposing_where_evaluations_fail_once_it_has_seen_them() -> None:
    failures = {}
    for model_failures in (True, False):
        failures[model_failures] = 0
        for seed in (0, 3):
            sampler = make_sampler("auto", MEMORY_SPACE, seed=seed, model_failures=model_failures)
            result = search(MEMORY_SPACE, out_of_memory_objective, sampler=sampler, n_trials=25, seed=seed)
            states = result.history["state"].tolist()
            failures[model_failures] += states[sampler.n_initial :].count("FAIL")
            assert result.best_value == pytest.approx(5.5 - abs(np.log10(3e-3) + 2.5))  # the optimum
    # Measured: 2 failed trials after the first n_initial with the failure model, 9 without.
    assert failures[True] * 2 < failures[False]


def test_without_failures_the_failure_model_changes_nothing(nb201: NB201Space) -> None:
    history = random_history(nb201, 15, seed=0, objective=conv_count)
    chosen = [
        BayesianOptimizationSampler(nb201, seed=0, model_failures=flag).propose(
            history, np.random.default_rng(0)
        )
        for flag in (True, False)
    ]
    assert chosen[0] == chosen[1]
    sampler = BayesianOptimizationSampler(nb201, seed=0)
    assert sampler._success_probability(history, list(nb201.enumerate())[:5]) is None
    history.failed.append(next(a for a in nb201.enumerate() if history.is_new(a)))
    success = sampler._success_probability(history, list(nb201.enumerate())[:5])
    assert success is not None and success.shape == (5,) and ((success >= 0) & (success <= 1)).all()


def test_the_initial_design_with_repeats_allowed_covers_a_small_space_before_repeating() -> None:
    space = CategoricalSpace("five", [Categorical("k", ("a", "b", "c", "d", "e"))])
    for seed in range(5):
        sampler = make_sampler("bo-gp-categorical", space, seed=seed, allow_repeats=True)
        result = search(space, lambda a: float("abcde".index(a.param_dict["k"])), sampler=sampler,
                        n_trials=7, allow_repeats=True)  # fmt: skip
        assert sorted(result.history["arch"][:5]) == sorted(str(a) for a in space.enumerate())
