"""The ``auto`` searcher: bonas's best configuration for a space, decided from what the space exposes."""

from __future__ import annotations

import logging

import pytest

from bonas import search
from bonas.samplers import auto_searcher, make_sampler, sampler_names
from bonas.samplers.bayesian import BayesianOptimizationSampler
from bonas.spaces import get_space
from bonas.spaces.base import Categorical
from bonas.spaces.categorical import CategoricalSpace
from bonas.tabular.flat import flat_space
from bonas.testing.samplers import hashed_score


def plain_space() -> CategoricalSpace:
    return CategoricalSpace(
        "plain", [Categorical("lr", (0.1, 0.01, 0.001)), Categorical("depth", (1, 2, 3, 4))]
    )


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        (get_space("nb201"), "bo-gp-wl-rbf"),
        (get_space("darts"), "bo-gp-wl-rbf"),
        (get_space("mlp"), "bo-gp-wl-rbf"),  # a user space with a graph builder gets the graph model
        (plain_space(), "bo-gp-categorical-tr"),
        (flat_space(get_space("nb201")), "bo-gp-categorical-tr"),  # same shape as a hand-written space
    ],
)
def test_auto_picks_by_the_spaces_shape(space, expected: str) -> None:
    assert auto_searcher(space) == expected


def test_auto_is_a_searcher_and_logs_its_pick(caplog: pytest.LogCaptureFixture) -> None:
    assert "auto" in sampler_names()
    with caplog.at_level(logging.INFO, logger="bonas"):
        sampler = make_sampler("auto", plain_space(), seed=0, n_initial=3)
    assert isinstance(sampler, BayesianOptimizationSampler)
    assert any("picked 'bo-gp-categorical-tr' for space 'plain'" in r.getMessage() for r in caplog.records)


def test_search_defaults_to_auto() -> None:
    result = search(plain_space(), hashed_score, n_trials=12, seed=0)
    assert isinstance(result.study.sampler, BayesianOptimizationSampler)
    assert result.history["arch_hash"].nunique() == 12
