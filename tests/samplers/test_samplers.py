"""Every bonas architecture sampler against the conformance suite, plus per-strategy checks.

The strategy checks search NB201 for ``number of nor_conv_3x3 edges + 0.01 * noise`` (noise a fixed
pseudo-random tie-break per architecture): the optimum is the all-``nor_conv_3x3`` cell, and all runs
are seeded, so each assertion either always holds or never does.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pytest

from bonas.architecture import Architecture
from bonas.candidates import CandidateSettings
from bonas.errors import UnknownNameError
from bonas.nao import NAOSettings
from bonas.samplers import (
    ArchitectureSampler,
    LocalSearchSampler,
    NoRepeatSampler,
    RegularizedEvolutionSampler,
    ReinforceSampler,
    make_sampler,
    sampler_names,
)
from bonas.samplers.base import ArchitectureSampler as BaseArchitectureSampler
from bonas.samplers.bayesian import BayesianOptimizationSampler
from bonas.samplers.multiobjective import MultiObjectiveBOSampler
from bonas.samplers.reinforce import _softmax
from bonas.spaces import get_space, mlp_space
from bonas.spaces.base import SearchSpace
from bonas.spaces.nb201 import OPERATIONS, NB201Space
from bonas.study import search
from bonas.surrogates import make_surrogate
from bonas.testing.samplers import ArchitectureSamplerConformance, SamplerFactory
from tests.known_answer import CONV, conv_count

#: Every searcher name whose strategy is bonas's own (Optuna's samplers come wrapped in NoRepeatSampler,
#: tested in tests/test_study.py; ``auto`` is one of the BO samplers below, see tests/samplers/test_auto.py).
ARCHITECTURE_SAMPLERS = [
    name
    for name in sampler_names()
    if name != "auto"
    and isinstance(sampler := make_sampler(name, NB201Space()), ArchitectureSampler)
    and not isinstance(sampler, NoRepeatSampler)
]

#: The Bayesian optimisation samplers: a GP fit (~0.2 s) per proposal, so they get their own, shorter
#: conformance run (TestBayesianSamplerConformance below).
BAYESIAN_SAMPLERS = [
    name
    for name in ARCHITECTURE_SAMPLERS
    if isinstance(make_sampler(name, NB201Space()), BayesianOptimizationSampler | MultiObjectiveBOSampler)
]  # bo-*, bananas, mobo-*, parego-*

#: The multi-objective BO samplers differ by surrogate and acquisition only: the suite runs two of the
#: four (one per surrogate and per acquisition); their multi-objective paths are in test_multiobjective.py.
_SKIPPED = {"mobo-gp-categorical", "parego-gp-wl-rbf"}
ARCHITECTURE_SAMPLERS = [name for name in ARCHITECTURE_SAMPLERS if name not in _SKIPPED]
BAYESIAN_SAMPLERS = [name for name in BAYESIAN_SAMPLERS if name not in _SKIPPED]

#: Constructor options that end each sampler's warm-up early enough for the suite's short budgets. The BO
#: samplers also score small candidate sets (their defaults: ~1,000 DARTS candidates and 5 local search
#: steps per proposal).
SHORT_BUDGET_OPTIONS: dict[str, dict[str, Any]] = {
    "regularized-evolution": {"population_size": 4, "tournament_size": 2},
    "local-search": {"n_initial": 3},
    "nao": {
        "n_initial": 3,
        "n_starts": 3,
        "n_unlabeled": 5,
        "settings": NAOSettings(
            embedding_size=8, hidden_size=8, predictor_hidden_size=8, epochs=3, warm_epochs=1
        ),
    },
    **{
        name: {
            "n_initial": 3,
            "candidates": CandidateSettings(n_parents=2, mutations_per_parent=10, n_random=50),
            **({} if name.startswith(("mobo-", "parego-")) else {"local_search_steps": 1}),
        }
        for name in BAYESIAN_SAMPLERS
    },
}

#: The neural surrogates' defaults train 100 epochs per proposal; the suite gives them small networks.
NEURAL_SURROGATE_OPTIONS: dict[str, dict[str, Any]] = {
    "gcn-blr": {"hidden": 16, "layers": 2, "epochs": 20},
    "gcn-gp": {"hidden": 16, "layers": 2, "epochs": 20},
    "ensemble-path": {"width": 16, "layers": 2, "epochs": 20},
}
for _name in BAYESIAN_SAMPLERS:
    if _name.startswith(("mobo-", "parego-")):
        continue  # GP surrogates only
    _surrogate = make_sampler(_name, NB201Space()).surrogate.name
    if _surrogate in NEURAL_SURROGATE_OPTIONS:
        SHORT_BUDGET_OPTIONS[_name]["surrogate"] = partial(
            make_surrogate, _surrogate, **NEURAL_SURROGATE_OPTIONS[_surrogate]
        )

SPACES = {"nb201": lambda: get_space("nb201"), "mlp": mlp_space, "darts": lambda: get_space("darts")}


def test_every_bonas_strategy_is_covered() -> None:
    assert set(ARCHITECTURE_SAMPLERS) >= {"random", "regularized-evolution", "local-search", "reinforce"}
    assert ArchitectureSampler is BaseArchitectureSampler
    assert not {"optuna-tpe", "optuna-gp"} & set(ARCHITECTURE_SAMPLERS)


class TestArchitectureSamplerConformance(ArchitectureSamplerConformance):
    @pytest.fixture(params=sorted(SPACES))
    def space(self, request: pytest.FixtureRequest) -> SearchSpace:
        return SPACES[request.param]()

    @pytest.fixture(params=[name for name in ARCHITECTURE_SAMPLERS if name not in BAYESIAN_SAMPLERS])
    def sampler_factory(self, request: pytest.FixtureRequest) -> SamplerFactory:
        name = request.param
        options = SHORT_BUDGET_OPTIONS.get(name, {})
        return lambda space, seed: make_sampler(name, space, seed=seed, **options)  # type: ignore[return-value]


#: (space, BO sampler) pairs of TestBayesianSamplerConformance: every BO sampler on mlp (258
#: architectures, scored whole), the default one on NB201 too (8,765 isomorphism classes scored whole).
BAYESIAN_CONFORMANCE_PAIRS = [("mlp", name) for name in BAYESIAN_SAMPLERS] + [("nb201", "bo-gp-wl")]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.cls is not TestBayesianSamplerConformance:
        return
    if "space" in metafunc.fixturenames:
        metafunc.parametrize(
            ("space", "sampler_factory"),
            BAYESIAN_CONFORMANCE_PAIRS,
            indirect=True,
            ids=[f"{space}-{name}" for space, name in BAYESIAN_CONFORMANCE_PAIRS],
        )
    else:  # the checks on the tiny exhaustion space
        metafunc.parametrize("sampler_factory", BAYESIAN_SAMPLERS, indirect=True)


class TestBayesianSamplerConformance(ArchitectureSamplerConformance):
    """The suite for the BO samplers, cut to fit: 10 queries per search (7 of them BO proposals after
    SHORT_BUDGET_OPTIONS' 3 random ones) on the pairs of BAYESIAN_CONFORMANCE_PAIRS: ~40 s on two cores.
    The full suite (24 queries, nb201, mlp and darts) took ~13 minutes with the samplers' defaults and
    ~3 minutes with SHORT_BUDGET_OPTIONS on nb201 and mlp alone, one GP fit per proposal. Their DARTS
    path (mutation candidates and local search on the acquisition) and their NB201 behaviour are tested
    in tests/samplers/test_bayesian.py."""

    budget = 10

    # Both fixtures are parametrized (indirectly) by pytest_generate_tests above.
    @pytest.fixture
    def space(self, request: pytest.FixtureRequest) -> SearchSpace:
        return SPACES[request.param]()

    @pytest.fixture
    def sampler_factory(self, request: pytest.FixtureRequest) -> SamplerFactory:
        name = request.param
        options = SHORT_BUDGET_OPTIONS[name]

        def factory(space: SearchSpace, seed: int) -> ArchitectureSampler:
            if not space.sample(np.random.default_rng(0)).cells:
                # The tiny exhaustion space has no cell graph for the WL and path encodings to encode,
                # so there every BO sampler models the parameters (as bo-gp-categorical does).
                return BayesianOptimizationSampler(
                    space, seed=seed, **{**options, "surrogate": "gp-categorical"}
                )
            return make_sampler(name, space, seed=seed, **options)  # type: ignore[return-value]

        return factory


# -- constructor validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sampler_class", "options", "quoted"),
    [
        (RegularizedEvolutionSampler, {"population_size": 0}, "population_size=0"),
        (RegularizedEvolutionSampler, {"population_size": -3}, "population_size=-3"),
        (RegularizedEvolutionSampler, {"tournament_size": 0}, "tournament_size=0"),
        (RegularizedEvolutionSampler, {"population_size": 5, "tournament_size": 6}, "tournament_size=6"),
        (LocalSearchSampler, {"n_initial": 0}, "n_initial must be at least 1, got 0"),
        (LocalSearchSampler, {"n_initial": -2}, "got -2"),
        (ReinforceSampler, {"learning_rate": 0.0}, "learning_rate=0.0"),
        (ReinforceSampler, {"learning_rate": -0.5}, "learning_rate=-0.5"),
        (ReinforceSampler, {"baseline_decay": 1.0}, "baseline_decay=1.0"),
        (ReinforceSampler, {"baseline_decay": -0.1}, "baseline_decay=-0.1"),
    ],
)
def test_constructor_rejects_bad_values_and_quotes_them(
    sampler_class: type[ArchitectureSampler], options: dict[str, Any], quoted: str
) -> None:
    with pytest.raises(ValueError, match=quoted.replace(".", r"\.")):
        sampler_class(NB201Space(), **options)


def test_make_sampler_passes_options_to_the_constructor() -> None:
    sampler = make_sampler(
        "regularized-evolution", NB201Space(), seed=1, population_size=7, tournament_size=2
    )
    assert isinstance(sampler, RegularizedEvolutionSampler)
    assert (sampler.population_size, sampler.tournament_size) == (7, 2)
    with pytest.raises(ValueError, match="population_size=0"):
        make_sampler("regularized-evolution", NB201Space(), population_size=0)


def test_make_sampler_rejects_an_unknown_name_listing_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError, match="'hill-climbing'") as raised:
        make_sampler("hill-climbing", NB201Space())
    for name in sampler_names():
        assert repr(name) in str(raised.value)


# -- strategies on a problem with a known answer ------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_local_search_reaches_the_optimum_within_60_queries(
    nb201: NB201Space, all_conv: Architecture, seed: int
) -> None:
    result = search(nb201, conv_count, sampler="local-search", n_trials=60, seed=seed)
    assert result.best_architecture == all_conv


@pytest.mark.parametrize("seed", range(5))
def test_local_search_minimising_reaches_the_minimum_within_60_queries(
    nb201: NB201Space, all_conv: Architecture, seed: int
) -> None:
    result = search(
        nb201,
        lambda arch: -conv_count(arch),
        sampler="local-search",
        n_trials=60,
        seed=seed,
        direction="minimize",
    )
    assert result.best_architecture == all_conv
    assert result.best_value == pytest.approx(-conv_count(all_conv))


def test_regularized_evolution_beats_random_search(nb201: NB201Space) -> None:
    def mean_best(sampler: str) -> float:
        return float(
            np.mean(
                [
                    search(nb201, conv_count, sampler=sampler, n_trials=100, seed=s).best_value
                    for s in range(5)
                ]
            )
        )

    evolution, random = mean_best("regularized-evolution"), mean_best("random")
    # Random search's best of 100 has ~4 convolutions (P(>= 5) is 0.16%); evolution climbs to 5-6.
    assert evolution > random + 1.0, (evolution, random)


def test_reinforce_policy_learns_to_prefer_the_rewarded_operation(nb201: NB201Space) -> None:
    sampler = ReinforceSampler(nb201, seed=0)
    result = search(nb201, conv_count, sampler=sampler, n_trials=100)
    logits = sampler.policy(sampler.history(result.study).observations)
    assert set(logits) == set(nb201.parameter_names)
    conv_probabilities = np.array([_softmax(edge)[OPERATIONS.index(CONV)] for edge in logits.values()])
    uniform = 1 / len(OPERATIONS)
    assert (conv_probabilities > uniform).all(), conv_probabilities
    assert conv_probabilities.mean() > 0.5, conv_probabilities


def test_reinforce_incremental_replay_equals_a_fresh_replay(nb201: NB201Space) -> None:
    sampler = ReinforceSampler(nb201, seed=1)
    result = search(nb201, conv_count, sampler=sampler, n_trials=30)
    observations = sampler.history(result.study).observations
    sampler.policy(observations[:12])
    incremental = sampler.policy(observations)
    fresh = ReinforceSampler(nb201, seed=1).policy(observations)
    for name in fresh:
        np.testing.assert_allclose(incremental[name], fresh[name])
    # A history that does not extend the replayed one (another study) is replayed from scratch.
    other = sampler.policy(observations[5:])
    fresh_other = ReinforceSampler(nb201).policy(observations[5:])
    for name in fresh_other:
        np.testing.assert_allclose(other[name], fresh_other[name])


def test_regularized_evolution_mutates_one_edit_from_the_population(nb201: NB201Space) -> None:
    sampler = RegularizedEvolutionSampler(nb201, population_size=10, tournament_size=3, seed=0)
    result = search(nb201, conv_count, sampler=sampler, n_trials=40)
    history = sampler.history(result.study)
    observations = history.observations
    assert len(observations) == 40

    def edits(a: Architecture, b: Architecture) -> int:
        return sum(x != y for (_, x), (_, y) in zip(a.params, b.params, strict=True))

    for index in range(10, len(observations)):
        # The parent is one of the 10 previous observations (the population) and the child one edit away
        # (a random fallback happens only when every mutation was seen, not this early in NB201).
        child = observations[index].architecture
        assert min(edits(child, o.architecture) for o in observations[index - 10 : index]) == 1
