"""Acquisition functions over a discrete candidate set: settings, analytic scores and batch selection.

The surrogates are fitted on 20 random NB201 cells valued by ``number of nor_conv_3x3 edges`` plus a
fixed pseudo-random tie-break (:func:`tests.samplers.test_samplers.conv_count`); 200 other cells are the
candidates. Everything is seeded, so each assertion either always holds or never does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import scipy.stats
import torch
from botorch.models.ensemble import EnsembleModel

from bonas.acquisition import ACQUISITIONS, AcquisitionSettings, analytic_scores, select, weighted_scores
from bonas.architecture import Architecture
from bonas.errors import UnknownNameError
from bonas.spaces.nb201 import NB201Space
from bonas.surrogates import make_surrogate
from bonas.surrogates.base import Surrogate
from tests.known_answer import conv_count


@dataclass(frozen=True)
class Problem:
    """A fitted surrogate and what :func:`select` needs besides it."""

    surrogate: Surrogate
    candidates: torch.Tensor  # n x d encoded candidates
    observed: torch.Tensor  # m x d encoded training architectures
    best_value: float

    def select(
        self,
        settings: AcquisitionSettings,
        *,
        q: int = 1,
        pending: torch.Tensor | None = None,
        seed: int = 0,
        success: torch.Tensor | None = None,
    ):
        return select(
            self.surrogate,
            self.candidates,
            q=q,
            best_value=self.best_value,
            observed=self.observed,
            pending=pending,
            settings=settings,
            generator=torch.Generator().manual_seed(seed),
            success=success,
        )

    def scores(self, settings: AcquisitionSettings) -> torch.Tensor:
        return analytic_scores(self.surrogate, self.candidates, self.best_value, settings)


def distinct_cells(count: int, seed: int) -> list[Architecture]:
    """``count`` random NB201 cells, no two isomorphic."""
    space, rng = NB201Space(), np.random.default_rng(seed)
    found: dict[str, Architecture] = {}
    while len(found) < count:
        architecture = space.sample(rng)
        found.setdefault(architecture.canonical_hash, architecture)
    return list(found.values())


@pytest.fixture(scope="module", params=["gp-categorical", "gp-wl"])
def problem(request: pytest.FixtureRequest) -> Problem:
    cells = distinct_cells(220, seed=0)
    train, candidates = cells[:20], cells[20:]
    values = [conv_count(a) for a in train]
    surrogate = make_surrogate(request.param, NB201Space())
    surrogate.fit(train, values)
    return Problem(surrogate, surrogate.encode(candidates), surrogate.encode(train), max(values))


# -- settings -----------------------------------------------------------------------------------------


def test_unknown_acquisition_name_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError, match="'expected-improvement'") as raised:
        AcquisitionSettings("expected-improvement")
    for name in ACQUISITIONS:
        assert repr(name) in str(raised.value)


@pytest.mark.parametrize(
    ("options", "quoted"),
    [({"beta": -0.5}, "beta=-0.5"), ({"batch_pool": 0}, "batch_pool=0"), ({"mc_samples": 0}, "mc_samples=0")],
)
def test_settings_reject_bad_numbers_and_quote_them(options: dict[str, float], quoted: str) -> None:
    with pytest.raises(ValueError, match=quoted.replace(".", r"\.")):
        AcquisitionSettings(**options)  # type: ignore[arg-type]


def test_defaults_are_log_ei() -> None:
    settings = AcquisitionSettings()
    assert settings.name == "log-ei"
    assert settings.beta >= 0


# -- analytic scores ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ACQUISITIONS)
def test_analytic_scores_give_one_finite_score_per_candidate(problem: Problem, name: str) -> None:
    scores = problem.scores(AcquisitionSettings(name))
    assert scores.shape == (problem.candidates.shape[0],)
    assert torch.isfinite(scores).all()
    assert scores.std() > 0  # the surrogate tells the candidates apart


def test_analytic_scores_follow_their_closed_forms(problem: Problem) -> None:
    """UCB = mean + sqrt(beta) std, log PI = log Phi(z), log EI = log(std (phi(z) + z Phi(z)))."""
    with torch.no_grad():
        posterior = problem.surrogate.model.posterior(problem.candidates.unsqueeze(-2))
    mean = posterior.mean.reshape(-1).double().numpy()
    std = posterior.variance.reshape(-1).double().sqrt().numpy()
    z = (mean - problem.best_value) / std

    ucb = problem.scores(AcquisitionSettings("ucb", beta=4.0)).double().numpy()
    np.testing.assert_allclose(ucb, mean + 2.0 * std, rtol=1e-6, atol=1e-9)
    log_pi = problem.scores(AcquisitionSettings("pi")).double().numpy()
    np.testing.assert_allclose(log_pi, scipy.stats.norm.logcdf(z), rtol=1e-4, atol=1e-6)
    log_ei = problem.scores(AcquisitionSettings("log-ei")).double().numpy()
    moderate = z > -5  # where the naive formula is still accurate
    assert moderate.sum() >= 10
    z, std = z[moderate], std[moderate]
    naive = np.log(std * (scipy.stats.norm.pdf(z) + z * scipy.stats.norm.cdf(z)))
    np.testing.assert_allclose(log_ei[moderate], naive, rtol=1e-4, atol=1e-6)


def test_thompson_is_scored_by_ucb(problem: Problem) -> None:
    thompson = problem.scores(AcquisitionSettings("thompson", beta=3.0))
    ucb = problem.scores(AcquisitionSettings("ucb", beta=3.0))
    torch.testing.assert_close(thompson, ucb)


# -- select ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["log-ei", "ucb", "pi"])
def test_select_one_without_pending_is_the_analytic_argmax(problem: Problem, name: str) -> None:
    settings = AcquisitionSettings(name)
    assert problem.select(settings) == [int(torch.argmax(problem.scores(settings)))]


@pytest.mark.parametrize("name", ["log-ei", "ucb", "pi"])
def test_select_a_batch_returns_distinct_indices(problem: Problem, name: str) -> None:
    settings = AcquisitionSettings(name)
    chosen = problem.select(settings, q=4)
    assert len(chosen) == len(set(chosen)) == 4
    assert all(0 <= i < problem.candidates.shape[0] for i in chosen)
    # qLogNEI's first pick is the candidate that is best on its own (within the analytic top five).
    top = torch.topk(problem.scores(settings), 5).indices.tolist()
    assert chosen[0] in top


def test_select_a_batch_is_reproducible(problem: Problem) -> None:
    settings = AcquisitionSettings("log-ei")
    assert problem.select(settings, q=3, seed=1) == problem.select(settings, q=3, seed=1)


def test_a_pending_point_makes_the_same_candidate_worthless(problem: Problem) -> None:
    """qLogNEI values a candidate jointly with the pending points: one equal to a pending point adds nothing."""
    settings = AcquisitionSettings("log-ei")
    best = problem.select(settings)[0]
    pending = problem.candidates[best : best + 1]
    with_pending = problem.select(settings, pending=pending)
    assert len(with_pending) == 1
    assert with_pending != [best]
    # Without that pending point, the qLogNEI route (q = 2) still starts from the best candidate.
    assert problem.select(settings, q=2)[0] == best


def test_select_returns_distinct_indices_when_candidates_share_an_encoding(problem: Problem) -> None:
    """Non-isomorphic cells can share a WL encoding; each must still be picked at most once (regression)."""
    rows = problem.candidates[:3]
    candidates = torch.cat([rows, rows, rows[:1]])  # 7 rows, 3 distinct
    chosen = select(
        problem.surrogate,
        candidates,
        q=7,
        best_value=problem.best_value,
        observed=problem.observed,
        pending=None,
        settings=AcquisitionSettings("log-ei"),
        generator=torch.Generator().manual_seed(0),
    )
    assert sorted(chosen) == list(range(7))


def test_thompson_batch_is_distinct_and_reproducible_per_generator_seed(problem: Problem) -> None:
    settings = AcquisitionSettings("thompson")
    draws = [problem.select(settings, q=3, seed=seed) for seed in range(8)]
    for chosen in draws:
        assert len(chosen) == len(set(chosen)) == 3
    assert problem.select(settings, q=3, seed=5) == draws[5]
    assert len({tuple(chosen) for chosen in draws}) > 1, "Thompson draws should vary with the seed"


def test_thompson_ignores_candidates_outside_the_ucb_pool(problem: Problem) -> None:
    settings = AcquisitionSettings("thompson", batch_pool=5)
    pool = set(torch.topk(problem.scores(settings), 5).indices.tolist())
    for seed in range(4):
        chosen = problem.select(settings, q=3, seed=seed)
        assert set(chosen) <= pool


@pytest.mark.parametrize("name", ACQUISITIONS)
def test_select_rejects_q_outside_one_to_n(problem: Problem, name: str) -> None:
    n = problem.candidates.shape[0]
    with pytest.raises(ValueError, match=f"q={n + 1} of {n}"):
        problem.select(AcquisitionSettings(name), q=n + 1)
    with pytest.raises(ValueError, match="q=0"):
        problem.select(AcquisitionSettings(name), q=0)


# -- candidates likely to fail --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["log-ei", "ucb", "pi"])
def test_weighted_scores_are_lower_for_a_smaller_weight_whatever_the_sign(name: str) -> None:
    settings = AcquisitionSettings(name)
    scores = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0], dtype=torch.float64)
    for weight in (0.9, 0.5, 1e-3):
        weighted = weighted_scores(scores, torch.full_like(scores, weight), settings)
        assert (
            (weighted < scores).all()
            if name != "ucb"
            else (weighted[scores != 0] < scores[scores != 0]).all()
        )
    assert torch.equal(weighted_scores(scores, torch.ones_like(scores), settings), scores)


@pytest.mark.parametrize(
    ("name", "q"), [("log-ei", 1), ("ucb", 1), ("pi", 1), ("thompson", 1), ("log-ei", 3)]
)
def test_a_candidate_certain_to_fail_is_never_chosen(problem: Problem, name: str, q: int) -> None:
    settings = AcquisitionSettings(name)
    for seed in range(3):
        best = problem.select(settings, q=q, seed=seed)
        success = torch.ones(problem.candidates.shape[0], dtype=torch.float64)
        success[best] = 0.0
        chosen = problem.select(settings, q=q, seed=seed, success=success)
        assert not set(chosen) & set(best)
        # Certain success everywhere changes nothing.
        assert problem.select(settings, q=q, seed=seed, success=torch.ones_like(success)) == best


def test_thompson_tries_a_candidate_in_proportion_to_its_chance_to_complete(problem: Problem) -> None:
    settings = AcquisitionSettings("thompson")
    plain = [problem.select(settings, seed=seed)[0] for seed in range(40)]
    favourite = max(set(plain), key=plain.count)
    success = torch.ones(problem.candidates.shape[0], dtype=torch.float64)
    success[favourite] = 0.5
    halved = [problem.select(settings, seed=seed, success=success)[0] for seed in range(40)]
    assert 0 < halved.count(favourite) < plain.count(favourite)


def test_success_needs_one_probability_per_candidate(problem: Problem) -> None:
    with pytest.raises(ValueError, match="one probability per candidate"):
        problem.select(AcquisitionSettings("log-ei"), success=torch.ones(3, dtype=torch.float64))


class FixedEnsemble(EnsembleModel):
    """An ensemble whose members' predictions are fixed: ``values`` is members x candidates, and a
    candidate is encoded as its index."""

    def __init__(self, values: torch.Tensor) -> None:
        super().__init__()
        self.values = values
        self._num_outputs = 1

    def forward(self, X: torch.Tensor) -> torch.Tensor:  # noqa: N803 (BoTorch names it X)
        return self.values[:, X[..., 0].long()].unsqueeze(-1)


@pytest.mark.parametrize("success", [[0.0] * 6, [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
def test_ensemble_thompson_stays_distinct_when_every_open_candidate_is_drawn_to_fail(
    success: list[float],
) -> None:
    values = torch.arange(6, dtype=torch.float64).repeat(3, 1)  # every member ranks candidate 5 first
    surrogate = type("Stub", (), {"model": FixedEnsemble(values)})()
    candidates = torch.arange(6, dtype=torch.float64).unsqueeze(-1)
    chosen = select(
        surrogate,
        candidates,
        q=3,
        best_value=0.0,
        observed=candidates[:1],
        pending=None,
        settings=AcquisitionSettings("thompson"),
        generator=torch.Generator().manual_seed(0),
        success=torch.tensor(success, dtype=torch.float64),
    )
    assert len(set(chosen)) == 3
    if success[0] == 1.0:
        assert chosen[0] == 0  # the one candidate certain to complete comes first
    # Certain to fail everywhere: the plain ranking.
    if not any(success):
        assert chosen == [5, 4, 3]
