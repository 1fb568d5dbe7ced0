"""Training a supernet: regimes, scores by inherited weights, determinism and resuming a checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bonas.architecture import Cell
from bonas.errors import InvalidArgumentError, UnknownNameError
from bonas.spaces import Categorical, CategoricalSpace, NB201Space
from bonas.training.datasets import load_digits
from bonas.training.networks import NetworkSettings
from bonas.training.supernet import CellTemplate, Mixture, SubnetPath, Supernet, SupernetCheckpointError
from bonas.training.weight_sharing import SupernetSettings, SupernetTrainer

TINY = NetworkSettings(channels=4, cells_per_stage=1)
SPACE = NB201Space()


@pytest.fixture(scope="module")
def digits():
    return load_digits(val_size=200)


def _trainer(data, seed: int = 0, **options) -> SupernetTrainer:
    torch.manual_seed(seed)
    supernet = Supernet.for_space(SPACE, input_shape=data.input_shape, num_classes=10, settings=TINY)
    settings = SupernetSettings(**{"epochs": 2, "batch_size": 64, "seed": seed, "device": "cpu", **options})
    return SupernetTrainer(supernet, data, settings, population=SPACE)


def _architectures(n: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [SPACE.sample(rng) for _ in range(n)]


def test_uniform_training_lifts_scores_above_chance_and_scores_repeat_exactly(digits) -> None:
    trainer = _trainer(digits, epochs=3, lr=0.1)
    losses = trainer.train()
    assert len(losses) == 3 and losses[-1] < losses[0]
    cells = [SPACE.from_operations([op] * 6) for op in ("skip_connect", "nor_conv_1x1", "none")]
    scores = trainer.score([*cells, cells[0]])
    assert max(scores[:2]) > 30.0  # ten classes: chance is 10%
    assert scores[2] < 15.0  # the empty cell's constant output predicts one class
    assert scores[0] == scores[3]  # recalibration resets what the previous path left behind


def test_training_and_scores_are_deterministic_on_cpu(digits) -> None:
    architectures = _architectures(3)
    scores = [
        _trainer(digits, seed=3).train() + _trainer(digits, seed=3).score(architectures) for _ in range(2)
    ]
    assert scores[0] == scores[1]


def test_uniform_training_skips_cells_whose_output_is_a_constant(digits) -> None:
    trainer = _trainer(digits, regime="uniform")
    cut_off = {trainer.supernet.path(a) for a in SPACE.enumerate() if not a.cell().is_connected()}
    assert len(cut_off) == 341  # 2% of NB201: 600 draws would hold some
    drawn = [trainer._uniform_path() for _ in range(600)]
    assert not cut_off & set(drawn)
    assert len(set(drawn)) > 500  # still spread over the space

    class OnlyEmptyCells:  # a space whose every cell cuts its input off
        def sample(self, rng):
            return SPACE.from_operations(["none"] * 6)

    assert trainer._sample_connected(OnlyEmptyCells()) == SPACE.from_operations(["none"] * 6)


def test_fair_regime_runs_every_candidate_once_per_round(digits) -> None:
    trainer = _trainer(digits, regime="fair")
    paths = [trainer._fair_path() for _ in range(10)]
    for start in (0, 5):
        for e in range(6):
            assert sorted(p.edges[e][0] for p in paths[start : start + 5]) == [0, 1, 2, 3, 4]
    trainer.train(1)
    assert trainer.epochs_done == 1


def test_auto_regime_is_uniform_and_fair_is_refused_where_it_does_not_apply(digits) -> None:
    assert SupernetSettings().regime == "auto"
    # On NB201 balanced paths ranked no better than uniform ones (20 supernets per regime on the bench).
    assert _trainer(digits).regime == "uniform"
    nb201 = Supernet.for_space(SPACE, input_shape=digits.input_shape, num_classes=10, settings=TINY)

    def trainer(supernet, population, regime="auto"):
        return SupernetTrainer(
            supernet, digits, SupernetSettings(regime=regime, device="cpu"), population=population
        )

    # No population to leave: the template's combinations are the architectures.
    assert trainer(nb201, None, "fair").regime == "fair"
    assert trainer(nb201, SPACE, "fair").regime == "fair"  # NB201: every combination of 5 ops on 6 edges
    listed = _architectures(3)
    assert trainer(nb201, listed).regime == "uniform"
    with pytest.raises(InvalidArgumentError, match="population is a list"):
        trainer(nb201, listed, "fair")
    # Two cells that differ on one edge only: that edge holds two candidates, the others one.
    cells = [SPACE.from_operations([op] + ["nor_conv_3x3"] * 5) for op in ("skip_connect", "avg_pool_3x3")]
    union = Supernet(
        CellTemplate.from_cells([c.cell() for c in cells]),
        input_shape=digits.input_shape,
        num_classes=10,
        settings=TINY,
    )
    assert trainer(union, SPACE).regime == "uniform"
    with pytest.raises(
        InvalidArgumentError, match=r"regime='fair'.*different numbers of candidate operations \(\[1, 2\]\)"
    ):
        trainer(union, SPACE, "fair")
    # A space that forbids one combination: a fair round could run the forbidden cell.
    ops = ("skip_connect", "nor_conv_3x3", "avg_pool_3x3")
    constrained = CategoricalSpace(
        "two-edges",
        [Categorical("a", ops), Categorical("b", ops)],
        constraint=lambda p: not (p["a"] == p["b"] == "nor_conv_3x3"),
        graph=lambda p: Cell(
            nodes=("input", "sum", "output"),
            edges=((0, 1, str(p["a"])), (1, 2, str(p["b"]))),
            inputs=(0,),
            output=2,
        ),
    )
    supernet = Supernet(
        CellTemplate.from_cells(a.cell() for a in constrained.enumerate()),
        input_shape=digits.input_shape,
        num_classes=10,
        settings=TINY,
    )
    assert trainer(supernet, constrained).regime == "uniform"
    with pytest.raises(InvalidArgumentError, match=r"has 8 architectures, not one per combination .*\(9\)"):
        trainer(supernet, constrained, "fair")


def test_warmup_trains_the_whole_supernet_first(digits, monkeypatch) -> None:
    trainer = _trainer(digits, regime="warmup", warmup_epochs=1, epochs=2)
    kinds = []
    original = trainer.step

    def recording(x, y, choice):
        kinds.append(type(choice))
        return original(x, y, choice)

    monkeypatch.setattr(trainer, "step", recording)
    trainer.train()
    per_epoch = trainer.steps_per_epoch
    assert set(kinds[:per_epoch]) == {Mixture}
    assert set(kinds[per_epoch:]) == {SubnetPath}


def test_train_on_a_batch_uses_only_its_operations(digits) -> None:
    trainer = _trainer(digits, schedule="constant")
    batch = [SPACE.from_operations(["nor_conv_1x1"] * 6), SPACE.from_operations(["skip_connect"] * 6)]
    conv3 = trainer.supernet.cells[0].edge_ops[0][3][1].weight.detach().clone()
    conv1 = trainer.supernet.cells[0].edge_ops[0][2][1].weight.detach().clone()
    trainer.train_on(batch, whole_epochs=1, path_epochs=1)
    assert torch.equal(trainer.supernet.cells[0].edge_ops[0][3][1].weight, conv3)
    assert not torch.equal(trainer.supernet.cells[0].edge_ops[0][2][1].weight, conv1)
    union = trainer.union_mixture([trainer.supernet.path(a) for a in batch])
    assert union.edges[0].tolist() == [0.0, 0.5, 0.5, 0.0, 0.0]


@pytest.mark.parametrize("regime", ["uniform", "fair"])
def test_a_resumed_checkpoint_continues_exactly(digits, tmp_path, regime) -> None:
    # 26 minibatches an epoch: a round of 5 fair paths spans the checkpoint.
    options = {"epochs": 2, "regime": regime, "batch_size": 48}
    straight = _trainer(digits, **options)
    assert straight.steps_per_epoch % 5 != 0
    straight.train()
    first = _trainer(digits, **options)
    first.train(1)
    first.save(tmp_path / "supernet.pt", note="half")
    resumed = _trainer(digits, seed=0, **options)
    assert resumed.load(tmp_path / "supernet.pt") == {"note": "half"}
    assert resumed.epochs_done == 1
    resumed.train()
    for (name, a), b in zip(
        straight.supernet.state_dict().items(), resumed.supernet.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    # A checkpoint with epochs left continues only in the regime it was trained in.
    other_regime = _trainer(
        digits, seed=0, **{**options, "regime": {"uniform": "fair", "fair": "uniform"}[regime]}
    )
    with pytest.raises(SupernetCheckpointError, match=f"trained in regime '{regime}'.*regime='{regime}'"):
        other_regime.load(tmp_path / "supernet.pt")
    wider = Supernet.for_space(
        SPACE, input_shape=digits.input_shape, num_classes=10, settings=NetworkSettings(8, 1)
    )
    other = SupernetTrainer(wider, digits, SupernetSettings(device="cpu"), population=SPACE)
    with pytest.raises(SupernetCheckpointError, match="channels"):
        other.load(tmp_path / "supernet.pt")


def test_a_checkpoint_from_before_regimes_were_recorded_continues_with_a_warning(digits, caplog) -> None:
    first = _trainer(digits, epochs=2, regime="fair")
    first.train(1)
    state = first.state()
    del state["regime"], state["fair_queue"]
    resumed = _trainer(digits, epochs=2, regime="fair")
    with caplog.at_level("WARNING", logger="bonas.training.weight_sharing"):
        resumed.restore(state)
    assert resumed.epochs_done == 1
    assert "does not record its training regime" in caplog.text and "'fair'" in caplog.text
    resumed.train()
    assert resumed.epochs_done == 2


def test_settings_are_checked() -> None:
    with pytest.raises(UnknownNameError, match="'sandwich'"):
        SupernetSettings(regime="sandwich")
    with pytest.raises(InvalidArgumentError, match="epochs"):
        SupernetSettings(epochs=0)
    with pytest.raises(InvalidArgumentError, match="warmup_epochs"):
        SupernetSettings(epochs=2, regime="warmup", warmup_epochs=3)
    for bad, named in (
        ({"warmup_epochs": 1.5}, "warmup_epochs must be a whole number of epochs, got 1.5"),
        ({"weight_decay": -1}, "weight_decay must be a number >= 0, got -1"),
        ({"grad_clip": 0}, "grad_clip must be None or a positive number, got 0"),
        ({"device": "tpu"}, "device must be 'auto', 'cpu', 'cuda' or 'cuda:<index>', got 'tpu'"),
    ):
        with pytest.raises(InvalidArgumentError, match=named):
            SupernetSettings(**bad)


def test_splits_and_a_supernet_that_do_not_fit_are_refused(digits) -> None:
    import dataclasses

    with pytest.raises(ValueError, match=r"train_x holds \d+ inputs but train_y 10 labels"):
        dataclasses.replace(digits, train_y=digits.train_y[:10])
    with pytest.raises(ValueError, match=r"val_x has inputs of shape \(1, 4, 4\), train_x of \(1, 8, 8\)"):
        dataclasses.replace(digits, val_x=digits.val_x[:, :, :4, :4])
    with pytest.raises(ValueError, match=r"train_y holds labels 0\.\.14, outside 0\.\.9"):
        dataclasses.replace(digits, train_y=digits.train_y.clamp(max=7) * 2)
    wrong = Supernet.for_space(SPACE, input_shape=(1, 28, 28), num_classes=10, settings=TINY)
    no_test = dataclasses.replace(
        digits, test_x=torch.empty(0), test_y=torch.empty(0), num_classes=np.int64(10)
    )
    assert len(no_test.test_y) == 0  # an empty test split of any shape, and a numpy class count, are fine
    assert SupernetSettings(device="cuda").device == "cuda"  # whether CUDA is there is seen at use
    with pytest.raises(InvalidArgumentError, match=r"takes inputs of shape \(1, 28, 28\)"):
        SupernetTrainer(wrong, digits, SupernetSettings(device="cpu"), population=SPACE)
