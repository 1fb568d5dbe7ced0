"""NAO: tokenization, masked decoding, reconstruction, gradient steps and the sampler.

The sampler also runs the shared conformance suite through tests/samplers/test_samplers.py (registered
as ``nao``). Networks here are small and briefly trained so the whole file takes seconds.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from bonas.architecture import Architecture
from bonas.history import Observation, SearchHistory
from bonas.nao import (
    PAD,
    ArchitectureTokenizer,
    ImprovedCandidate,
    NAOController,
    NAOSettings,
    resolve_device,
)
from bonas.samplers import make_sampler
from bonas.samplers.nao import NAOSampler
from bonas.spaces import get_space, mlp_space
from bonas.spaces.base import SearchSpace
from bonas.spaces.nb201 import NB201Space
from bonas.study import search
from bonas.surrogates.transforms import copula_transform
from bonas.testing.samplers import hashed_score
from tests.known_answer import conv_count

#: A small network that still learns NB201's 6-token sequences in a second or two.
SMALL = NAOSettings(embedding_size=16, hidden_size=32, predictor_hidden_size=32, epochs=60, warm_epochs=5)


def distinct_sample(space: SearchSpace, n: int, seed: int) -> list[Architecture]:
    rng = np.random.default_rng(seed)
    found: dict[str, Architecture] = {}
    while len(found) < n:
        architecture = space.sample(rng)
        found.setdefault(architecture.canonical_hash, architecture)
    return list(found.values())


@pytest.fixture(scope="module")
def trained_nb201() -> tuple[NAOController, list[Architecture], list[Architecture]]:
    """A controller (default size) fitted on 150 random NB201 cells (conv_count values), and 200 other cells."""
    space = NB201Space()
    architectures = distinct_sample(space, 350, seed=0)
    train, held_out = architectures[:150], architectures[150:]
    torch.set_num_threads(1)
    controller = NAOController(space, NAOSettings(), device="cpu", seed=0)  # SMALL generalises worse
    controller.fit(train, [conv_count(a) for a in train])
    return controller, train, held_out


# -- tokens -------------------------------------------------------------------------------------------


def test_nb201_tokens_round_trip() -> None:
    space = NB201Space()
    tokenizer = ArchitectureTokenizer(space)
    assert (tokenizer.length, tokenizer.vocab_size) == (6, 31)
    assert not tokenizer.is_conditional
    architectures = distinct_sample(space, 100, seed=1)
    tokens = tokenizer.encode(architectures)
    assert tokens.shape == (100, 6) and tokens.dtype == torch.long
    assert (tokens != PAD).all()
    assert [tokenizer.decode(row) for row in tokens.tolist()] == architectures
    # Each position has its own five tokens: the same operation on two edges is two tokens.
    assert tokenizer.token(0, "nor_conv_3x3") != tokenizer.token(1, "nor_conv_3x3")


def test_conditional_space_tokens_round_trip_with_padding() -> None:
    space = mlp_space()
    tokenizer = ArchitectureTokenizer(space)
    assert tokenizer.is_conditional
    architectures = list(space.enumerate())
    tokens = tokenizer.encode(architectures)
    for architecture, row in zip(architectures, tokens.tolist(), strict=True):
        assert tokenizer.decode(row) == architecture
        depth = architecture.param_dict["n_layers"]
        assert row[1 + depth :] == [PAD] * (3 - depth)
        assert PAD not in row[: 1 + depth]


def test_tokens_of_another_position_are_rejected() -> None:
    tokenizer = ArchitectureTokenizer(NB201Space())
    row = tokenizer.encode(distinct_sample(NB201Space(), 1, seed=0))[0].tolist()
    row[0] = tokenizer.token(5, "none")
    with pytest.raises(ValueError, match="not a choice of parameter 'edge_0_1'"):
        tokenizer.to_params(row)
    with pytest.raises(ValueError, match="has 6 tokens, got 5"):
        tokenizer.to_params(row[:5])


# -- masked decoding ----------------------------------------------------------------------------------


@pytest.mark.parametrize("space_name", ["nb201", "mlp", "darts"])
def test_masked_decoding_only_yields_legal_tokens(space_name: str) -> None:
    space = get_space(space_name)
    controller = NAOController(space, SMALL, device="cpu", seed=3)
    controller.reset()  # untrained: its unmasked argmax would be arbitrary tokens
    assert controller.model is not None
    embedding = torch.randn(
        64, controller.tokenizer.length, SMALL.hidden_size, generator=torch.Generator().manual_seed(0)
    )
    tokens, log_probs = controller.model.greedy_decode(embedding, controller.tokenizer.step_mask)
    for row in tokens.tolist():
        params = controller.tokenizer.to_params(row)  # raises on a token of another position
        assert space.is_valid(params)  # exactly the active parameters, each with one of its choices
    assert torch.isinf(log_probs[~controller.tokenizer.static_mask.expand_as(log_probs)]).all()
    decoded = controller.decode(embedding)
    assert all(a is not None and not repaired for a, repaired in decoded)


def test_a_decode_that_violates_the_constraint_is_repaired_one_token_away() -> None:
    space = get_space("nbgraph")  # four skip layers are not an architecture of NAS-Bench-Graph
    controller = NAOController(space, SMALL, device="cpu", seed=0)
    tokenizer = controller.tokenizer
    valid = space.sample(np.random.default_rng(0))
    row = tokenizer.encode([valid])[0].tolist()
    skip = [i for i, p in enumerate(space.parameters) if "skip" in p.choices]
    for position in skip:
        row[position] = tokenizer.token(position, "skip")
    assert tokenizer.decode(row) is None
    log_probs = torch.zeros(tokenizer.length, tokenizer.vocab_size).masked_fill(
        ~tokenizer.static_mask, float("-inf")
    )
    log_probs[skip[-1], tokenizer.token(skip[-1], "gcn")] = 0.5  # the decoder's favourite other choice
    architecture, repaired = controller._valid_or_repaired(row, log_probs)
    assert repaired and architecture is not None
    assert architecture.param_dict[space.parameters[skip[-1]].name] == "gcn"
    assert sum(a != b for a, b in zip(tokenizer.encode([architecture])[0].tolist(), row, strict=True)) == 1


# -- training, reconstruction, gradient steps ---------------------------------------------------------


@pytest.mark.slow  # the shared fixture trains a default-size network (~5-10 s)
def test_reconstructs_held_out_architectures_after_training_on_150(trained_nb201) -> None:
    controller, train, held_out = trained_nb201
    rates = [
        np.mean([r == a for r, a in zip(controller.reconstruct(cells), cells, strict=True)])
        for cells in (train, held_out)
    ]
    assert rates[0] >= 0.97 and rates[1] >= 0.9, rates


@pytest.mark.slow  # the shared fixture trains a default-size network (~5-10 s)
def test_predictor_ranks_held_out_architectures(trained_nb201) -> None:
    controller, _, held_out = trained_nb201
    predicted = controller.predict(held_out).numpy()
    assert np.corrcoef(predicted, [conv_count(a) for a in held_out])[0, 1] > 0.8


@pytest.mark.slow  # the shared fixture trains a default-size network (~5-10 s)
def test_gradient_steps_increase_the_predicted_value(trained_nb201) -> None:
    controller, train, _ = trained_nb201
    embedding = controller.embed(train[:30])
    moved = controller.ascend(embedding, [0.01, 0.05])
    assert moved.shape == (30, 2, *embedding.shape[1:])
    before = controller._predict_embedding(embedding)
    for step in range(2):
        assert (controller._predict_embedding(moved[:, step]) > before).all()
    # Decoded moves go towards more nor_conv_3x3 edges on average (what the values reward).
    candidates = controller.improve(train[:30], [0.4, 0.8, 1.6])
    changed = [c for c in candidates if c.architecture is not None and c.architecture != train[c.start]]
    assert changed
    gains = [conv_count(c.architecture) - conv_count(train[c.start]) for c in changed]
    assert np.mean(gains) > 0.5, gains


def test_fit_rejects_bad_data() -> None:
    controller = NAOController(NB201Space(), SMALL, device="cpu")
    architectures = distinct_sample(NB201Space(), 3, seed=0)
    with pytest.raises(ValueError, match="3 architectures but 2 values"):
        controller.fit(architectures, [1.0, 2.0])
    with pytest.raises(ValueError, match="at least one"):
        controller.fit([], [])
    with pytest.raises(ValueError, match="finite"):
        controller.fit(architectures, [1.0, float("nan"), 2.0])
    with pytest.raises(Exception, match="not fitted"):
        controller.predict(architectures)


def test_values_are_standardised_by_their_population_std() -> None:
    """NAO's own convention (the neural surrogates divide by the sample std)."""
    controller = NAOController(NB201Space(), NAOSettings(hidden_size=8, epochs=1), device="cpu")
    controller.fit(distinct_sample(NB201Space(), 3, seed=0), [0.0, 2.0, 4.0])
    assert controller._standardisation.mean == 2.0
    assert controller._standardisation.std == pytest.approx(2.0 * (2 / 3) ** 0.5, rel=1e-12)


def test_same_seed_gives_the_same_network() -> None:
    space = NB201Space()
    architectures = distinct_sample(space, 40, seed=2)
    values = [hashed_score(a) for a in architectures]
    predictions = []
    for _ in range(2):
        controller = NAOController(space, SMALL, device="cpu", seed=5)
        controller.fit(architectures, values, unlabeled=architectures[:10])
        predictions.append(controller.predict(architectures))
    torch.testing.assert_close(predictions[0], predictions[1])


def test_device_follows_availability() -> None:
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert NAOSampler(NB201Space(), device="cpu").controller.device == torch.device("cpu")


# -- the sampler --------------------------------------------------------------------------------------


def fast_sampler(space: SearchSpace, seed: int, **options: object) -> NAOSampler:
    options = {"n_initial": 5, "n_unlabeled": 20, "settings": SMALL, "device": "cpu", **options}
    return NAOSampler(space, seed=seed, **options)  # type: ignore[arg-type]


def test_sampler_models_the_copula_of_the_values_or_the_values() -> None:
    values = [0.5, 3.0, -1.0, 3.0, 10.0]
    assert fast_sampler(NB201Space(), 0)._transform(values) == copula_transform(values)
    assert fast_sampler(NB201Space(), 0, output_transform="none")._transform(values) == values


def test_sampler_never_proposes_an_evaluated_or_pending_architecture() -> None:
    space = NB201Space()
    architectures = distinct_sample(space, 40, seed=4)
    observed, pending = architectures[:30], architectures[30:]
    history = SearchHistory(
        observations=[Observation(a, conv_count(a)) for a in observed],
        pending=pending,
        seen={a.canonical_hash for a in architectures},
    )
    sampler = fast_sampler(space, 0)
    rng = np.random.default_rng(0)
    for _ in range(8):
        proposal = sampler.propose(history, rng)
        assert history.is_new(proposal)
        history.observations.append(Observation(proposal, conv_count(proposal)))
        history.seen.add(proposal.canonical_hash)
    assert sampler.last_round is not None and sampler.last_round.warm_start


def test_sampler_falls_back_to_a_mutation_of_the_best_and_logs_it(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    space = NB201Space()
    architectures = distinct_sample(space, 12, seed=6)
    history = SearchHistory(
        observations=[Observation(a, conv_count(a)) for a in architectures],
        seen={a.canonical_hash for a in architectures},
    )
    sampler = fast_sampler(space, 0)
    # Every gradient step decodes back to its start: nothing new.
    monkeypatch.setattr(
        sampler.controller,
        "improve",
        lambda starts, steps: [
            ImprovedCandidate(i, s, a, False, 0.0) for i, a in enumerate(starts) for s in steps
        ],
    )
    with caplog.at_level(logging.INFO, logger="bonas.samplers.nao"):
        proposal = sampler.propose(history, np.random.default_rng(0))
    assert sampler.last_round is not None and sampler.last_round.chosen is None
    assert not sampler.last_round.kept
    assert any("proposing a mutation of the best" in r.getMessage() for r in caplog.records)
    best = history.best(1)[0].architecture
    assert history.is_new(proposal)
    assert proposal in space.neighbours(best)


@pytest.mark.slow  # ten fits of a default-size network
def test_short_search_on_nb201_climbs_with_gradient_proposals() -> None:
    space = NB201Space()
    sampler = make_sampler("nao", space, seed=0, n_initial=5, n_unlabeled=20, device="cpu")
    assert isinstance(sampler, NAOSampler)
    chosen = 0
    propose = sampler.propose

    def counting(history: SearchHistory, rng: np.random.Generator) -> Architecture:
        nonlocal chosen
        sampler.last_round = None
        architecture = propose(history, rng)
        chosen += sampler.last_round is not None and sampler.last_round.chosen is not None
        return architecture

    sampler.propose = counting  # type: ignore[method-assign]
    result = search(space, conv_count, sampler=sampler, n_trials=15)
    history = result.history
    assert len(history) == 15 and history["arch_hash"].is_unique
    assert chosen >= 5, chosen  # most of the 10 model-based proposals came from gradient steps
    random_part, nao_part = history["value"].iloc[:5], history["value"].iloc[5:]
    assert nao_part.mean() > random_part.mean() + 1.0


@pytest.mark.parametrize(
    ("options", "quoted"),
    [
        ({"n_initial": 0}, "n_initial=0"),
        ({"n_starts": 0}, "n_starts=0"),
        ({"n_unlabeled": -1}, "n_unlabeled=-1"),
        ({"step_sizes": (0.5, 0.1)}, r"\(0\.5, 0\.1\)"),
        ({"step_sizes": ()}, r"\(\)"),
        ({"output_transform": "log"}, "'log'"),
    ],
)
def test_sampler_rejects_bad_options_and_quotes_them(options: dict[str, object], quoted: str) -> None:
    with pytest.raises(ValueError, match=quoted):
        NAOSampler(NB201Space(), **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "quoted"),
    [({"hidden_size": 0}, "hidden_size must be at least 1, got 0"), ({"trade_off": 1.5}, "1.5")],
)
def test_settings_reject_bad_values(options: dict[str, object], quoted: str) -> None:
    with pytest.raises(ValueError, match=quoted):
        NAOSettings(**options)  # type: ignore[arg-type]
