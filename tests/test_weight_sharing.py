"""Weight sharing inside bonas.search: one-shot and BONAS-batch objectives, fidelities, retraining, resume."""

from __future__ import annotations

import gc
import subprocess
import sys

import numpy as np
import optuna
import pytest

import bonas
from bonas.errors import BonasError, InvalidArchitectureError
from bonas.history import Observation, SearchHistory
from bonas.objectives import BatchTraining, weight_sharing
from bonas.spaces import NB201Space, mlp_space
from bonas.study import SearchFailedError
from bonas.training import NetworkSettings, SupernetSettings, TrainingSettings
from bonas.training import supernet as supernet_module
from bonas.training.supernet import OutsideSupernetError
from bonas.trials import FIDELITY_ATTR, STAND_ALONE, SUPERNET_CHECKPOINT_ATTR, WEIGHT_SHARING

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = NB201Space()
TINY = NetworkSettings(channels=4, cells_per_stage=1)
FAST = SupernetSettings(epochs=1, batch_size=64, device="cpu")


def _one_shot(**options):
    return weight_sharing(SPACE, "digits", network=TINY, settings=FAST, val_size=200, **options)


def test_one_shot_scores_every_trial_from_one_supernet(tmp_path) -> None:
    objective = _one_shot(checkpoint=tmp_path / "supernet.pt")
    result = bonas.search(SPACE, objective, sampler="random", n_trials=4, seed=0)
    history = result.history
    assert list(history["state"]) == ["COMPLETE"] * 4
    assert (history["fidelity"] == WEIGHT_SHARING).all()
    assert (history["supernet_epochs"] == 1).all()
    assert result.study.user_attrs[SUPERNET_CHECKPOINT_ATTR] == str(tmp_path / "supernet.pt")
    # Scoring is deterministic: the same architecture scores the same, whatever was scored before.
    architecture = result.best_architecture
    assert objective(architecture)["val_accuracy"] == result.best_value


def test_a_resumed_search_continues_from_the_recorded_checkpoint(tmp_path, monkeypatch) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    first = _one_shot(checkpoint=tmp_path / "supernet.pt")
    bonas.search(SPACE, first, sampler="random", n_trials=2, seed=0, storage=storage, study_name="ws")
    again = _one_shot()  # no checkpoint given: the study's attribute names it

    def no_training(self, epochs=None):
        raise AssertionError("the supernet was trained again instead of loaded")

    monkeypatch.setattr(type(again.trainer), "train", no_training)
    reads = []
    read = supernet_module.read_checkpoint
    monkeypatch.setattr(supernet_module, "read_checkpoint", lambda file: reads.append(file) or read(file))
    result = bonas.search(
        SPACE, again, sampler="random", n_trials=2, seed=1, storage=storage, study_name="ws"
    )
    assert list(result.history["state"]) == ["COMPLETE"] * 4
    assert len(reads) == 1  # the data check and the weights share one read of the file
    assert again.trainer.epochs_done == 1
    architecture = SPACE.parse(result.history["arch"].iloc[0])
    assert again(architecture)["val_accuracy"] == result.history["value"].iloc[0]


def test_a_checkpoint_of_another_width_stops_the_search_naming_it(tmp_path) -> None:
    _one_shot(checkpoint=tmp_path / "supernet.pt").train_supernet()
    wider = weight_sharing(
        SPACE,
        "digits",
        network=NetworkSettings(8, 1),
        settings=FAST,
        checkpoint=tmp_path / "supernet.pt",
        val_size=200,
    )
    with pytest.raises(SearchFailedError, match="channels: checkpoint 4, this supernet 8"):
        bonas.search(SPACE, wider, sampler="random", n_trials=3, seed=0, max_consecutive_failures=2)


def test_a_checkpoint_trained_on_other_data_is_refused_before_it_is_loaded(tmp_path) -> None:
    _one_shot(checkpoint=tmp_path / "supernet.pt").train_supernet()
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == [
        "supernet.pt"
    ]  # no .partial
    other = weight_sharing(
        SPACE, "digits", network=TINY, settings=FAST, val_size=300, checkpoint=tmp_path / "supernet.pt"
    )
    with pytest.raises(
        SearchFailedError, match=r"trained on dataset 'digits' with options .*'val_size', 200"
    ):
        bonas.search(SPACE, other, sampler="random", n_trials=3, seed=0)
    assert other.trainer.epochs_done == 0  # nothing was loaded


def test_continuing_a_study_with_another_checkpoint_is_refused_naming_the_recorded_one(tmp_path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    first = _one_shot(checkpoint=tmp_path / "a.pt")
    bonas.search(SPACE, first, sampler="random", n_trials=2, seed=0, storage=storage, study_name="ws")
    second = _one_shot(checkpoint=tmp_path / "b.pt")
    with pytest.raises(SearchFailedError, match=r"scored its architectures on the supernet in '.*a\.pt'"):
        bonas.search(SPACE, second, sampler="random", n_trials=2, seed=1, storage=storage, study_name="ws")
    study = optuna.load_study(study_name="ws", storage=storage)
    assert study.user_attrs[SUPERNET_CHECKPOINT_ATTR] == str(tmp_path / "a.pt")  # still the first one
    assert not (tmp_path / "b.pt").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="no advisory file locks (fcntl) on Windows")
def test_a_checkpoint_another_process_trains_is_refused(tmp_path) -> None:
    # Two workers of one weight-sharing study would each train their own supernet on one file.
    path = tmp_path / "supernet.pt"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom bonas.training.supernet import hold_checkpoint\n"
         f"hold_checkpoint({str(path)!r}); print('held', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(SearchFailedError, match=r"supernet.pt' is in use by another process"):
            bonas.search(SPACE, _one_shot(checkpoint=path), sampler="random", n_trials=2, seed=0)
    finally:
        holder.kill()
        holder.wait()
    result = bonas.search(SPACE, _one_shot(checkpoint=path), sampler="random", n_trials=2, seed=0)
    assert (result.history["state"] == "COMPLETE").all()  # free once that process is gone


@pytest.mark.skipif(sys.platform == "win32", reason="no advisory file locks (fcntl) on Windows")
def test_holding_a_checkpoint_removes_the_partial_saves_of_killed_processes(tmp_path) -> None:
    path = tmp_path / "supernet.pt"
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        dead = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
        )
        orphan = tmp_path / f".supernet.pt.{int(dead.stdout)}-0a1b2c3d.partial"
        in_flight = tmp_path / f".supernet.pt.{writer.pid}-0a1b2c3d.partial"
        other = tmp_path / f".other.pt.{int(dead.stdout)}-0a1b2c3d.partial"
        # A temporary file of checkpoint "supernet.pt.7-x" (not this one's), and a pid past os.kill's range.
        lookalike = tmp_path / f".supernet.pt.7-x.{int(dead.stdout)}-0a1b2c3d.partial"
        huge = tmp_path / ".supernet.pt.99999999999999999999-0a1b2c3d.partial"
        for file in (orphan, in_flight, other, lookalike, huge):
            file.write_bytes(b"half a save")
        supernet_module.hold_checkpoint(path)
        try:
            assert not orphan.exists()  # its writer is gone
            assert in_flight.exists() and other.exists()  # a live writer's, and another checkpoint's
            assert lookalike.exists() and huge.exists()  # not a name Supernet.save writes for it
        finally:
            supernet_module.release_checkpoint(path)
    finally:
        writer.kill()
        writer.wait()


def test_the_checkpoint_lock_is_released_with_the_objective(tmp_path) -> None:
    objective = _one_shot(checkpoint=tmp_path / "supernet.pt")
    objective.train_supernet()
    assert (tmp_path / "supernet.pt").resolve() in supernet_module._HELD_CHECKPOINTS
    del objective
    gc.collect()
    assert (tmp_path / "supernet.pt").resolve() not in supernet_module._HELD_CHECKPOINTS


def test_a_study_continued_from_another_folder_finds_its_checkpoint(tmp_path, monkeypatch) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    bonas.search(SPACE, _one_shot(checkpoint="ck/s.pt"), sampler="random", n_trials=2, seed=0, storage=storage,
                 study_name="ws")  # fmt: skip
    study = optuna.load_study(study_name="ws", storage=storage)
    assert study.user_attrs[SUPERNET_CHECKPOINT_ATTR] == str(tmp_path / "ck" / "s.pt")  # absolute
    monkeypatch.chdir(tmp_path / "sub")
    for checkpoint in ("../ck/s.pt", None):  # the same file by another relative path, or the study's
        again = _one_shot(checkpoint=checkpoint)
        result = bonas.search(
            SPACE, again, sampler="random", n_trials=1, seed=1, storage=storage, study_name="ws"
        )
        assert result.history["state"].iloc[-1] == "COMPLETE" and again.trainer.epochs_done == 1
    assert not (tmp_path / "sub" / "ck").exists()


def test_a_study_whose_recorded_checkpoint_is_gone_is_not_continued_on_a_new_supernet(tmp_path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    bonas.search(SPACE, _one_shot(checkpoint=tmp_path / "s.pt"), sampler="random", n_trials=2, seed=0,
                 storage=storage, study_name="ws")  # fmt: skip
    gc.collect()
    (tmp_path / "s.pt").unlink()
    with pytest.raises(
        SearchFailedError, match=r"scored 2 architectures on the supernet in .*does not exist"
    ):
        bonas.search(
            SPACE, _one_shot(), sampler="random", n_trials=1, seed=1, storage=storage, study_name="ws"
        )


def test_a_checkpoint_is_the_same_data_whether_the_loader_defaults_are_given_or_not(tmp_path) -> None:
    _one_shot(checkpoint=tmp_path / "s.pt").train_supernet()
    gc.collect()
    explicit = weight_sharing(
        SPACE, "digits", network=TINY, settings=FAST, val_size=200, seed=0, checkpoint=tmp_path / "s.pt"
    )
    explicit.train_supernet()  # seed=0 is the loader's default: the same data
    assert explicit.trainer.epochs_done == 1


def test_a_checkpoint_trained_with_other_settings_is_refused_naming_them(tmp_path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    bonas.search(SPACE, _one_shot(checkpoint=tmp_path / "s.pt"), sampler="random", n_trials=2, seed=0,
                 storage=storage, study_name="ws")  # fmt: skip
    gc.collect()
    longer = weight_sharing(SPACE, "digits", network=TINY, val_size=200,
                            settings=SupernetSettings(epochs=2, batch_size=64, device="cpu"))  # fmt: skip
    with pytest.raises(
        SearchFailedError, match=r"saved with other settings \(epochs: checkpoint 1, this objective 2\)"
    ):
        bonas.search(SPACE, longer, sampler="random", n_trials=1, seed=1, storage=storage, study_name="ws")
    assert longer.trainer.epochs_done == 0  # the weights behind the two scores are untouched
    gc.collect()
    rescored = weight_sharing(SPACE, "digits", network=TINY, val_size=200, checkpoint=tmp_path / "s.pt",
                              settings=SupernetSettings(epochs=1, batch_size=64, device="cpu", score_size=100))  # fmt: skip
    with pytest.raises(
        SearchFailedError, match=r"score_size: checkpoint None, this objective 100\): the study's"
    ):
        bonas.search(SPACE, rescored, sampler="random", n_trials=1, seed=1, storage=storage, study_name="ws")
    gc.collect()
    # A new study may score on the fully trained supernet with its own scoring settings.
    result = bonas.search(
        SPACE, rescored, sampler="random", n_trials=2, seed=1, storage=storage, study_name="new"
    )
    assert (result.history["state"] == "COMPLETE").all() and rescored.trainer.epochs_done == 1


def test_a_study_that_scored_on_an_unsaved_supernet_is_not_continued_on_a_new_one(tmp_path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    bonas.search(SPACE, _one_shot(), sampler="random", n_trials=2, seed=0, storage=storage, study_name="ws")
    with pytest.raises(
        SearchFailedError, match=r"holds 2 weight-sharing scores of a supernet that was not saved"
    ):
        bonas.search(
            SPACE, _one_shot(), sampler="random", n_trials=1, seed=1, storage=storage, study_name="ws"
        )


def test_a_bonas_batch_supernet_of_one_study_is_not_trained_on_by_another(tmp_path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"

    def batches():
        return weight_sharing(SPACE, "digits", network=TINY, settings=FAST, batches=BatchTraining(1, 1),
                              val_size=200, checkpoint=tmp_path / "b.pt")  # fmt: skip

    bonas.search(SPACE, batches(), sampler="random", n_trials=2, seed=0, batch_size=2, storage=storage,
                 study_name="first")  # fmt: skip
    gc.collect()
    with pytest.raises(SearchFailedError, match=r"BONAS-batch supernet of study 'first'"):
        bonas.search(SPACE, batches(), sampler="random", n_trials=2, seed=0, batch_size=2, storage=storage,
                     study_name="second")  # fmt: skip
    gc.collect()
    again = bonas.search(SPACE, batches(), sampler="random", n_trials=2, seed=1, batch_size=2, storage=storage,
                         study_name="first")  # fmt: skip
    assert list(again.history["supernet_epochs"]) == [2, 2, 4, 4]  # its own study continues it


def test_a_checkpoint_of_given_splits_refuses_other_splits(tmp_path) -> None:
    from bonas.training.datasets import load_dataset

    def on(data):
        return weight_sharing(SPACE, data, network=TINY, settings=FAST, checkpoint=tmp_path / "g.pt")

    on(load_dataset("digits", val_size=200, seed=0)).train_supernet()
    gc.collect()
    on(load_dataset("digits", val_size=200, seed=0)).train_supernet()  # the same splits, loaded again
    gc.collect()
    with pytest.raises(BonasError, match=r"trained on other splits of 'digits' than these"):
        on(load_dataset("digits", val_size=200, seed=1)).train_supernet()


def test_an_objective_of_another_space_or_a_factory_stops_the_search_at_the_first_trial() -> None:
    storage = optuna.storages.InMemoryStorage()
    with pytest.raises(SearchFailedError, match=r"built for space 'nb201' and cannot score"):
        bonas.search(mlp_space(), _one_shot(), sampler="random", n_trials=5, storage=storage, study_name="s")
    with pytest.raises(SearchFailedError, match=r"called with an architecture"):
        bonas.search(SPACE, weight_sharing, sampler="random", n_trials=5, storage=storage, study_name="f")
    for name in ("s", "f"):
        assert len(optuna.load_study(study_name=name, storage=storage).trials) == 1


def test_bonas_batches_train_once_per_batch_and_score_all_of_it(monkeypatch) -> None:
    objective = weight_sharing(
        SPACE, "digits", network=TINY, settings=FAST, batches=BatchTraining(1, 1), val_size=200
    )
    batches: list[int] = []
    original = type(objective).score_batch

    def recording(self, architectures):
        batches.append(len(architectures))
        return original(self, architectures)

    monkeypatch.setattr(type(objective), "score_batch", recording)
    result = bonas.search(SPACE, objective, sampler="random", n_trials=6, seed=0, batch_size=3)
    assert batches == [3, 3]
    assert (result.history["fidelity"] == WEIGHT_SHARING).all()
    assert list(result.history["supernet_epochs"]) == [2, 2, 2, 4, 4, 4]


def test_retraining_the_best_adds_stand_alone_trials_that_decide_the_best() -> None:
    result = bonas.search(SPACE, _one_shot(), sampler="random", n_trials=5, seed=0)
    standalone = bonas.objectives.train(
        "digits", network=TINY, settings=TrainingSettings(epochs=1, batch_size=64, device="cpu"), val_size=200
    )
    after = bonas.retrain_best(result, SPACE, standalone, top_k=2)
    history = after.history
    retrained = history[history["fidelity"] == STAND_ALONE]
    assert len(retrained) == 2
    top = history[history["fidelity"] == WEIGHT_SHARING].sort_values("value", ascending=False)["arch"][:2]
    assert set(retrained["arch"]) == set(top)
    assert str(after.best_architecture) in set(retrained["arch"])
    assert after.best_value == retrained["value"].max()
    assert set(retrained["retrain_of"]) <= set(history["trial"])
    # Retraining again picks the next candidates, never the same ones twice.
    again = bonas.retrain_best(after, SPACE, standalone, top_k=1)
    assert len(again.history[again.history["fidelity"] == STAND_ALONE]) == 3
    assert all(t.user_attrs.get(FIDELITY_ATTR) for t in again.study.trials)


def test_retraining_with_a_weight_sharing_objective_is_refused() -> None:
    result = bonas.search(SPACE, _one_shot(), sampler="random", n_trials=2, seed=0)
    with pytest.raises(BonasError, match=r"trains the candidates stand-alone.*supernet"):
        bonas.retrain_best(result, SPACE, _one_shot(), top_k=1)
    assert len(result.study.trials) == 2


def test_retraining_needs_scores_to_retrain() -> None:
    result = bonas.search(SPACE, lambda a: 1.0, sampler="random", n_trials=2, seed=0)
    with pytest.raises(BonasError, match="no evaluation below fidelity"):
        bonas.retrain_best(result, SPACE, lambda a: 1.0)


def test_bad_input_is_named() -> None:
    with pytest.raises(OutsideSupernetError, match="own registered builder"):
        bonas.objectives.weight_sharing(mlp_space(), "digits")
    with pytest.raises(TypeError, match="search space first"):
        bonas.objectives.weight_sharing("digits")
    objective = _one_shot()
    with pytest.raises(InvalidArchitectureError, match="belongs to space 'mlp'"):
        objective(mlp_space().sample(np.random.default_rng(0)))
    with pytest.raises(ValueError, match="at least one epoch"):
        BatchTraining(0, 0)


# -- One scale for two fidelities ----------------------------------------------------------------


def _distinct_cells(n: int) -> list:
    cells: dict[str, object] = {}
    for architecture in SPACE.enumerate():
        cells.setdefault(architecture.canonical_hash, architecture)
        if len(cells) == n:
            return list(cells.values())
    raise AssertionError


def _history(values: list[tuple[int, float, str | None]]) -> SearchHistory:
    cells = _distinct_cells(10)
    return SearchHistory([Observation(cells[i], v, fidelity=f) for i, v, f in values])


def test_one_fidelity_history_is_unchanged() -> None:
    history = _history([(0, 50.0, WEIGHT_SHARING), (1, 60.0, WEIGHT_SHARING)])
    assert history.at_one_fidelity() is history


def test_scores_map_onto_the_stand_alone_scale_by_a_fitted_line() -> None:
    # Stand-alone = 2 * score - 40 on the three pairs; architecture 9 has a score only.
    pairs = [(i, 40.0 + 5 * i, WEIGHT_SHARING) for i in range(3)]
    pairs += [(i, 2 * (40.0 + 5 * i) - 40.0, STAND_ALONE) for i in range(3)]
    history = _history([*pairs, (9, 50.0, WEIGHT_SHARING)])
    one = history.at_one_fidelity()
    values = {o.architecture.canonical_hash: o.value for o in one.observations}
    cells = _distinct_cells(10)
    assert len(one.observations) == 4  # an architecture measured twice keeps its stand-alone value
    assert values[cells[0].canonical_hash] == 40.0
    assert values[cells[9].canonical_hash] == pytest.approx(60.0)
    assert {o.fidelity for o in one.observations} == {STAND_ALONE}


def test_with_one_pair_scores_shift_by_its_offset_and_with_none_they_match_spreads() -> None:
    one_pair = _history([(0, 40.0, WEIGHT_SHARING), (0, 70.0, STAND_ALONE), (5, 45.0, WEIGHT_SHARING)])
    assert sorted(o.value for o in one_pair.at_one_fidelity().observations) == [70.0, 75.0]
    no_pair = _history(
        [(0, 40.0, WEIGHT_SHARING), (1, 50.0, WEIGHT_SHARING), (2, 80.0, STAND_ALONE), (3, 90.0, STAND_ALONE)]
    )
    assert sorted(o.value for o in no_pair.at_one_fidelity().observations) == pytest.approx(
        [80.0, 80.0, 90.0, 90.0]
    )


def test_repeated_scores_of_an_architecture_are_all_kept_on_the_stand_alone_scale() -> None:
    # Architecture 5 was scored twice on the supernet and never trained alone: both scores stay,
    # shifted by the offset of the one pair (30), so a noisy model sees its mean and its spread.
    history = _history(
        [
            (0, 40.0, WEIGHT_SHARING),
            (0, 70.0, STAND_ALONE),
            (5, 45.0, WEIGHT_SHARING),
            (5, 47.0, WEIGHT_SHARING),
        ]
    )
    assert sorted(o.value for o in history.at_one_fidelity().observations) == [70.0, 75.0, 77.0]


def test_a_line_needs_three_architectures_measured_at_both_not_three_scores() -> None:
    # Two paired architectures, one scored twice: three scores, but a line through two architectures
    # would rest on them alone, so the mean offset (30, 25 and 25: 26.67) maps architecture 5.
    history = _history(
        [
            (0, 40.0, WEIGHT_SHARING),
            (0, 70.0, STAND_ALONE),
            (1, 50.0, WEIGHT_SHARING),
            (1, 50.0, WEIGHT_SHARING),
            (1, 75.0, STAND_ALONE),
            (5, 45.0, WEIGHT_SHARING),
        ]
    )
    values = sorted(o.value for o in history.at_one_fidelity().observations)
    assert values == pytest.approx([70.0, 45.0 + 80.0 / 3, 75.0])


def test_with_no_pair_spreads_are_matched_on_architecture_means_not_repeats() -> None:
    # Architecture 1's two scores (49 and 51) average 50: the scores' spread is that of 40 and 50.
    history = _history(
        [
            (0, 40.0, WEIGHT_SHARING),
            (1, 49.0, WEIGHT_SHARING),
            (1, 51.0, WEIGHT_SHARING),
            (2, 80.0, STAND_ALONE),
            (3, 90.0, STAND_ALONE),
        ]
    )
    values = sorted(o.value for o in history.at_one_fidelity().observations)
    assert values == pytest.approx([80.0, 80.0, 89.0, 90.0, 91.0])


def test_bo_proposes_from_a_study_holding_both_fidelities() -> None:
    rng = np.random.default_rng(0)
    cells = [SPACE.sample(rng) for _ in range(14)]
    observations = [Observation(c, float(rng.normal(60, 5)), fidelity=WEIGHT_SHARING) for c in cells]
    observations += [
        Observation(c, o.value + 25.0, fidelity=STAND_ALONE)
        for c, o in zip(cells[:3], observations, strict=False)
    ]
    history = SearchHistory(observations, [], {c.canonical_hash for c in cells})
    sampler = bonas.make_sampler("bo-gp-wl", SPACE, seed=0, n_initial=5)
    batch = sampler.propose_batch(history.at_one_fidelity(), np.random.default_rng(0), q=2)
    assert len(batch) == 2 and all(history.is_new(a) for a in batch)
