"""ENAS with shared weights and the supernet searches by name, on a tiny NB201 supernet and digits."""

from __future__ import annotations

import itertools
import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from bonas.architecture import Architecture
from bonas.errors import InvalidArgumentError, UnknownNameError
from bonas.samplers.enas import ControllerSettings
from bonas.spaces import NB201Space
from bonas.spaces.nb201 import OPERATIONS
from bonas.supernet_search import ENASSearch, ENASSettings, supernet_search, supernet_search_names
from bonas.training import NetworkSettings, SupernetSettings
from bonas.training.darts import DartsSettings
from bonas.training.datasets import load_dataset

TINY = NetworkSettings(channels=2, cells_per_stage=1)
SMALL_ENAS = ENASSettings(
    epochs=2,
    controller_steps=3,
    controller_batch=2,
    reward_batch_size=32,
    final_candidates=4,
    controller=ControllerSettings(embedding_size=8, hidden_size=8),
)


@pytest.fixture(scope="module")
def digits():
    data = load_dataset("digits", seed=0)
    return replace(
        data,
        train_x=data.train_x[:96],
        train_y=data.train_y[:96],
        val_x=data.val_x[:64],
        val_y=data.val_y[:64],
    )


def enas(digits, seed: int = 0, settings: ENASSettings = SMALL_ENAS) -> ENASSearch:
    return ENASSearch(
        NB201Space(),
        digits,
        network=TINY,
        supernet_settings=SupernetSettings(epochs=settings.epochs, batch_size=32, seed=seed, device="cpu"),
        settings=settings,
        seed=seed,
    )


def test_enas_alternates_and_ranks_distinct_candidates_by_inherited_weight_score(digits) -> None:
    search = enas(digits)
    before = {k: v.clone() for k, v in search.supernet.state_dict().items()}
    result = search.fit()
    assert result.method == "enas-ws"
    assert result.epochs == 2 and [r["epoch"] for r in result.log] == [1, 2]
    assert all(r["controller_steps"] == 3 and 0 <= r["reward"] <= 1 for r in result.log)
    assert search.controller.updates == 2 * 3  # one REINFORCE update per controller step
    assert search.trainer.steps_done == 2 * 3  # 96 images / 32 per minibatch, two epochs
    changed = [k for k, v in search.supernet.state_dict().items() if not torch.equal(v, before[k])]
    assert any("cells" in k for k in changed)  # the shared cell weights were trained
    scores = [score for _, score in result.candidates]
    assert len({a.canonical_hash for a, _ in result.candidates}) == len(result.candidates) == 4
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= s <= 100 for s in scores)
    assert result.architecture == result.candidates[0][0]


def test_enas_is_deterministic_with_a_seed(digits) -> None:
    runs = [enas(digits, seed=3).fit() for _ in range(2)]
    assert [str(a) for a, _ in runs[0].candidates] == [str(a) for a, _ in runs[1].candidates]
    assert [r["reward"] for r in runs[0].log] == [r["reward"] for r in runs[1].log]


def test_a_reward_leaves_the_batch_norm_statistics_alone(digits) -> None:
    search = enas(digits)
    buffers = {k: v.clone() for k, v in search.supernet.named_buffers() if "running" in k}
    reward = search.reward(NB201Space().from_operations(("nor_conv_3x3",) * 6))
    assert 0 <= reward <= 1
    for name, value in search.supernet.named_buffers():
        if "running" in name:
            torch.testing.assert_close(value, buffers[name])


def test_the_controller_learns_from_the_rewards_it_is_given(digits, monkeypatch) -> None:
    """With a rigged reward (the share of nor_conv_3x3 edges), ENAS's controller steps favour the conv."""
    search = enas(digits, settings=replace(SMALL_ENAS, controller_batch=4))
    monkeypatch.setattr(search, "reward", lambda a: sum(v == "nor_conv_3x3" for _, v in a.params) / 6)
    first = search.train_controller(5)["reward"]
    search.train_controller(60)
    last = search.train_controller(10)["reward"]
    assert last > first + 0.2
    probabilities = search.controller.policy.probabilities(
        {p: "nor_conv_3x3" for p in NB201Space().parameter_names}
    )
    assert np.mean([p[OPERATIONS.index("nor_conv_3x3")] for p in probabilities.values()]) > 0.4


def test_a_time_budget_stops_the_alternation(digits) -> None:
    result = enas(digits, settings=replace(SMALL_ENAS, epochs=50)).fit(max_seconds=0.0)
    assert result.epochs == 0
    assert len(result.candidates) == 4  # it still answers


def test_searches_by_name(digits) -> None:
    assert {"enas-ws", "darts", "darts-2nd"} <= set(supernet_search_names())
    result = supernet_search(
        "darts",
        NB201Space(),
        digits,
        network=TINY,
        seed=1,
        settings=DartsSettings(epochs=1, batch_size=32, device="cpu", seed=1),
        clock=time.process_time,
    )
    assert isinstance(result.architecture, Architecture) and result.architecture.space == "nb201"
    assert result.candidates == [(result.architecture, None)]
    assert result.log[0]["derived"] == str(result.architecture)
    with pytest.raises(UnknownNameError, match="'darts-3rd'"):
        supernet_search("darts-3rd", NB201Space(), digits)
    with pytest.raises(InvalidArgumentError, match="use darts-2nd instead"):
        supernet_search("darts", NB201Space(), digits, settings=DartsSettings(order=2))
    # Without settings, each DARTS search runs its own order (darts-2nd refused its own defaults).
    second = supernet_search("darts-2nd", NB201Space(), digits, network=TINY, seed=1, max_seconds=0.0)
    assert isinstance(second.architecture, Architecture)
    with pytest.raises(InvalidArgumentError, match="max_seconds must be non-negative"):
        supernet_search("enas-ws", NB201Space(), digits, max_seconds=-1.0)
    with pytest.raises(InvalidArgumentError, match="controller_steps must be an integer >= 1, got 0"):
        ENASSettings(controller_steps=0)


def test_supernet_search_mistakes_name_the_fix(digits) -> None:
    with pytest.raises(UnknownNameError, match=r"Valid supernet searches: 'darts'"):
        supernet_search("darts-3rd", NB201Space(), digits)
    with pytest.raises(
        InvalidArgumentError, match=r"'darts' takes no option 'supernet_settings'; its options are settings"
    ):
        supernet_search("darts", NB201Space(), digits, supernet_settings=SupernetSettings())
    with pytest.raises(
        InvalidArgumentError, match=r"'enas-ws' takes no option 'setting'; .* settings, supernet_settings"
    ):
        supernet_search("enas-ws", NB201Space(), digits, setting=SMALL_ENAS)
    with pytest.raises(
        InvalidArgumentError, match=r"clock must be a function returning seconds .* got 'cpu'"
    ):
        supernet_search("darts", NB201Space(), digits, clock="cpu")  # type: ignore[arg-type]
    with pytest.raises(
        InvalidArgumentError, match=r"'darts' takes settings=DartsSettings\(\.\.\.\), got SupernetSettings"
    ):
        supernet_search("darts", NB201Space(), digits, settings=SupernetSettings())


def test_a_supernet_search_takes_a_dataset_name() -> None:
    settings = DartsSettings(epochs=1, batch_size=256, device="cpu", seed=0)
    result = supernet_search("darts", NB201Space(), "digits", network=TINY, settings=settings)
    assert result.architecture.space == "nb201"


def test_a_time_limit_shrinks_the_alternation_to_the_epochs_it_affords(digits) -> None:
    ticks = itertools.count()  # a clock that advances one "second" per reading: no timing in the test
    search = enas(digits, settings=replace(SMALL_ENAS, epochs=50))
    result = search.fit(max_seconds=80, clock=lambda: float(next(ticks)))
    assert 1 < result.epochs < 50
    assert search.trainer.settings.epochs == result.epochs  # the shared weights' cosine ends with the budget
    assert len(result.candidates) == 4
