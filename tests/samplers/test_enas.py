"""ENAS's LSTM controller: its distribution over a space, its policy gradient, and the searcher.

The conformance suite (no repeats, seeded reproducibility, resume, conditional DARTS and MLP spaces) runs
it with every bonas sampler in tests/samplers/test_samplers.py; these are the checks of its own.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from bonas.samplers import make_sampler
from bonas.samplers.enas import ControllerSettings, ENASSampler, LSTMPolicy, PolicyGradient
from bonas.spaces.base import Categorical
from bonas.spaces.categorical import CategoricalSpace
from bonas.spaces.nb201 import OPERATIONS, NB201Space
from bonas.study import search
from bonas.torch_training import seeded
from tests.known_answer import CONV, conv_count


def conditional_space() -> CategoricalSpace:
    """9 architectures: ``depth`` 1..3, ``width_2`` only when depth >= 2, ``act`` only when depth == 3."""
    return CategoricalSpace(
        "conditional",
        [
            Categorical("depth", (1, 2, 3)),
            Categorical("width_2", (8, 16), active_if=lambda p: p["depth"] >= 2),
            Categorical("act", ("relu", "tanh"), active_if=lambda p: p["depth"] == 3),
        ],
    )


#: A peaked policy (no tanh bound, a small temperature) so the checks below see non-uniform probabilities.
PEAKED = ControllerSettings(
    embedding_size=4, hidden_size=5, num_layers=2, temperature=0.2, tanh_constant=None
)


def policy(space: CategoricalSpace, settings: ControllerSettings = PEAKED, seed: int = 0) -> LSTMPolicy:
    with seeded(seed):
        return LSTMPolicy(space.parameters, settings)


def all_params(space: CategoricalSpace) -> list[dict]:
    return [a.param_dict for a in space.enumerate()]


def test_the_policy_is_a_distribution_over_the_active_decisions() -> None:
    space = conditional_space()
    net = policy(space)
    architectures = all_params(space)
    assert len(architectures) == 1 + 2 + 4
    probabilities = np.array([float(net.log_prob(p).detach().exp()) for p in architectures])
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-6)
    assert probabilities.max() > 2 / len(architectures)  # PEAKED: far from uniform
    # Sampling draws from the distribution that scoring computes (a chi-square bound at p ~ 1e-6).
    rng = np.random.default_rng(0)
    draws = 2000
    counts = Counter(tuple(sorted(net.sample(rng).items())) for _ in range(draws))
    assert set(counts) <= {tuple(sorted(p.items())) for p in architectures}  # only active parameters
    expected = probabilities * draws
    observed = np.array([counts[tuple(sorted(p.items()))] for p in architectures])
    chi_square = ((observed - expected) ** 2 / expected).sum()
    assert chi_square < 35.0, (observed, expected)


def test_the_reinforce_gradient_equals_the_exact_gradient_of_the_expected_reward() -> None:
    """Over every architecture of a conditional space: ``sum_a p(a) * grad loss(a, R(a) - b)`` is
    ``-grad sum_a p(a) R(a)`` for any baseline ``b`` (the baseline changes nothing in expectation only
    because the conditional probabilities sum to one)."""
    space = conditional_space()
    net = policy(space, seed=3)
    architectures = all_params(space)
    rewards = torch.tensor([0.3, -1.0, 2.0, 0.5, 1.5, -0.2, 0.9], dtype=torch.float64)
    weights = list(net.parameters())

    expected_reward = sum(
        net.log_prob(p).exp().double() * r for p, r in zip(architectures, rewards, strict=True)
    )
    exact = _grads(-expected_reward, weights)

    for baseline in (0.0, 0.7):
        estimate = [torch.zeros_like(w, dtype=torch.float64) for w in weights]
        for params, reward in zip(architectures, rewards, strict=True):
            walk = net.walk(given=params)
            loss = PolicyGradient.loss([walk], [float(reward) - baseline])
            grads = _grads(loss, weights)
            probability = float(walk.log_prob.detach().exp())
            for total, grad in zip(estimate, grads, strict=True):
                total += probability * grad.double()
        for got, want in zip(estimate, exact, strict=True):
            torch.testing.assert_close(got, want.double(), rtol=1e-4, atol=1e-6)
    assert max(float(g.abs().max()) for g in exact) > 1e-3  # the check compares something


def _grads(loss: torch.Tensor, weights: list[torch.Tensor]) -> list[torch.Tensor]:
    # The last decision's embedding feeds no later step: its gradient is zero, not missing.
    grads = torch.autograd.grad(loss, weights, allow_unused=True)
    return [torch.zeros_like(w) if g is None else g for w, g in zip(weights, grads, strict=True)]


def test_a_rewarded_architecture_becomes_more_likely_and_a_punished_one_less() -> None:
    space = NB201Space()
    chosen = {p.name: CONV for p in space.parameters}
    other = {p.name: "none" for p in space.parameters}
    for sign in (+1.0, -1.0):
        trainer = PolicyGradient(policy(space, ControllerSettings(), seed=1))
        trainer.step([(other, 0.0)])  # the first reward sets the baseline
        before = trainer.policy.probabilities(chosen)
        log_p_before = float(trainer.policy.log_prob(chosen).detach())
        trainer.step([(chosen, sign)])
        after = trainer.policy.probabilities(chosen)
        assert sign * (float(trainer.policy.log_prob(chosen).detach()) - log_p_before) > 0
        # Every decision the architecture took moved the same way, given the same earlier choices.
        index = OPERATIONS.index(CONV)
        for name in before:
            assert sign * (after[name][index] - before[name][index]) > 0, name


def test_advantages_follow_the_moving_average_baseline() -> None:
    settings = ControllerSettings(baseline_decay=0.5, normalize_advantage=False)
    trainer = PolicyGradient(policy(conditional_space(), settings))
    assert trainer.advantages([1.0, 3.0, 0.0]) == [None, 2.0, -2.0]  # baselines 1, then 2
    assert trainer.baseline == pytest.approx(1.0)
    normalised = PolicyGradient(policy(conditional_space(), ControllerSettings(baseline_decay=0.5)))
    # scale 0.5 * |2| = 1 -> advantage 2; then baseline 2, scale 0.5 + 0.5 * 4 = 2.5 -> -4 / 2.5.
    assert normalised.advantages([1.0, 3.0, -2.0])[1:] == pytest.approx([2.0, -1.6])


def test_the_searcher_learns_to_prefer_the_rewarded_operation() -> None:
    space = NB201Space()
    sampler = ENASSampler(space, seed=0)
    result = search(space, conv_count, sampler=sampler, n_trials=80)
    values = [t.value for t in result.study.trials]
    assert np.mean(values[-20:]) > np.mean(values[:20]) + 1.0
    net = sampler.controller(sampler.history(result.study).observations).policy
    all_conv = {p.name: CONV for p in space.parameters}
    conv_probabilities = [p[OPERATIONS.index(CONV)] for p in net.probabilities(all_conv).values()]
    assert min(conv_probabilities) > 1 / len(OPERATIONS), conv_probabilities


def test_same_seed_same_proposals_and_incremental_replay_equals_a_fresh_one() -> None:
    space = NB201Space()

    def texts(seed: int) -> list[str]:
        result = search(space, conv_count, sampler=make_sampler("enas", space, seed=seed), n_trials=15)
        return [str(sorted(t.params.items())) for t in result.study.trials]

    assert texts(4) == texts(4)
    assert texts(4) != texts(5)

    sampler = ENASSampler(space, seed=2)
    observations = sampler.history(search(space, conv_count, sampler=sampler, n_trials=12).study).observations
    sampler.controller(observations[:5])
    incremental = sampler.controller(observations).policy.state_dict()
    fresh = ENASSampler(space, seed=2).controller(observations).policy.state_dict()
    for name, value in fresh.items():
        torch.testing.assert_close(incremental[name], value)


def test_every_decision_of_a_conditional_space_is_proposed_and_no_architecture_twice() -> None:
    space = conditional_space()
    sampler = ENASSampler(space, seed=0)
    result = search(space, lambda a: float(a.param_dict["depth"]), sampler=sampler, n_trials=7)
    proposed = [tuple(sorted(t.params.items())) for t in result.study.trials]
    assert sorted(proposed) == sorted(tuple(sorted(p.items())) for p in all_params(space))


@pytest.mark.parametrize(
    ("options", "quoted"),
    [
        ({"hidden_size": 0}, "hidden_size must be a positive integer, got 0"),
        ({"temperature": -1.0}, "temperature must be positive or None, got -1.0"),
        ({"learning_rate": 0.0}, "learning_rate must be positive, got 0.0"),
        ({"baseline_decay": 1.0}, "baseline_decay must lie in [0, 1), got 1.0"),
        ({"entropy_weight": -0.1}, "entropy_weight must be non-negative, got -0.1"),
    ],
)
def test_bad_settings_are_refused_naming_the_value(options: dict, quoted: str) -> None:
    with pytest.raises(ValueError, match=quoted.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        ControllerSettings(**options)
    with pytest.raises(TypeError, match="settings must be a ControllerSettings"):
        ENASSampler(NB201Space(), settings={"hidden_size": 8})  # type: ignore[arg-type]
