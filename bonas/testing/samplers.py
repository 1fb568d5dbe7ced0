"""The checks every architecture sampler must pass: :class:`ArchitectureSamplerConformance`.

Subclass it in a ``Test...`` class and say how to build the sampler for a space and a seed::

    from bonas.testing.samplers import ArchitectureSamplerConformance

    class TestMySampler(ArchitectureSamplerConformance):
        def make_sampler(self, space, seed):
            return MySampler(space, seed=seed)

The searched space is NAS-Bench-201 unless you override the ``space`` fixture; override the
``sampler_factory`` fixture (a callable ``(space, seed) -> sampler``) instead of :meth:`make_sampler` to
parametrize over samplers. The objective is a fixed pseudo-random score per canonical hash
(:func:`hashed_score`), so every check is deterministic and isomorphic architectures score alike. Checks
that need a space small enough to exhaust use :func:`tiny_space` (4 architectures) instead of the
``space`` fixture. Build the sampler so its warm-up (random proposals) ends within
:attr:`ArchitectureSamplerConformance.resume_budget` queries, so that every check also exercises the
strategy itself. Needs pytest (see :mod:`bonas.testing`).
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from bonas import trials
from bonas.architecture import Architecture
from bonas.errors import SearchSpaceExhaustedError
from bonas.samplers import ArchitectureSampler, SearchHistory
from bonas.spaces.base import Categorical, SearchSpace
from bonas.spaces.categorical import CategoricalSpace
from bonas.spaces.nb201 import NB201Space
from bonas.study import search

SamplerFactory = Callable[[SearchSpace, int], ArchitectureSampler]


def hashed_score(architecture: Architecture) -> float:
    """A fixed pseudo-random score in [0, 1) per canonical hash (the same in every run and process)."""
    digest = hashlib.blake2b(architecture.canonical_hash.encode(), digest_size=8, key=b"bonas-tests")
    return int.from_bytes(digest.digest(), "big") / 2**64


def tiny_space() -> CategoricalSpace:
    """A space of exactly 4 architectures, for exhaustion checks."""
    return CategoricalSpace("tiny", [Categorical("a", (0, 1)), Categorical("b", ("x", "y"))])


def sqlite_storage(path: Path | str) -> optuna.storages.RDBStorage:
    """An Optuna SQLite storage in the file ``path`` (created if absent).

    Writes skip fsync (``PRAGMA synchronous = OFF``): a study commits a few dozen times per trial and
    each fsync costs ~15 ms on a plain disk. Durability after an OS crash is all this gives up; the
    file is an ordinary SQLite database that ``sqlite:///<path>`` opens.
    """

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(path, check_same_thread=False)
        connection.execute("PRAGMA synchronous = OFF")
        return connection

    return optuna.storages.RDBStorage(f"sqlite:///{path}", engine_kwargs={"creator": connect})


def _quiet() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


class ArchitectureSamplerConformance:
    """Shared checks for :class:`bonas.samplers.ArchitectureSampler` strategies (not collected itself)."""

    #: Queries per search; samplers with a warm-up phase should be built to leave it within this budget.
    budget: int = 24
    #: Queries per call in the resume check (each SQLite trial costs ~30 ms of Optuna bookkeeping).
    resume_budget: int = 5

    def make_sampler(self, space: SearchSpace, seed: int) -> ArchitectureSampler:
        """A new sampler for ``space`` seeded with ``seed``."""
        raise NotImplementedError(
            f"{type(self).__name__} must override make_sampler(space, seed) (or the `sampler_factory` "
            "fixture) to build the sampler under test."
        )

    # -- fixtures --------------------------------------------------------------------------------------

    @pytest.fixture
    def space(self) -> SearchSpace:
        """The space searched by the checks that do not need to exhaust one (default: NAS-Bench-201)."""
        return NB201Space()

    @pytest.fixture
    def sampler_factory(self) -> SamplerFactory:
        """``(space, seed) -> sampler`` (default: :meth:`make_sampler`)."""
        return self.make_sampler

    # -- helpers ---------------------------------------------------------------------------------------

    def run(self, space: SearchSpace, sampler: ArchitectureSampler, **options: object):
        _quiet()
        options.setdefault("n_trials", self.budget)
        return search(space, hashed_score, sampler=sampler, **options)  # type: ignore[arg-type]

    @staticmethod
    def assert_no_repeats(history, space: SearchSpace) -> None:
        completed = history[history["state"] == "COMPLETE"]
        assert history[trials.REPEAT_OF_ATTR].isna().all(), (
            "the sampler proposed an already evaluated architecture"
        )
        assert completed[trials.ARCH_HASH_ATTR].is_unique
        for text, arch_hash in zip(
            completed[trials.ARCH_ATTR], completed[trials.ARCH_HASH_ATTR], strict=True
        ):
            assert space.parse(text).canonical_hash == arch_hash

    # -- basics ----------------------------------------------------------------------------------------

    def test_builds_an_architecture_sampler_for_the_space(
        self, space: SearchSpace, sampler_factory: SamplerFactory
    ) -> None:
        sampler = sampler_factory(space, 0)
        assert isinstance(sampler, ArchitectureSampler)
        assert sampler.space is space
        assert not sampler.allow_repeats

    def test_same_seed_gives_same_architectures(
        self, space: SearchSpace, sampler_factory: SamplerFactory
    ) -> None:
        first = self.run(space, sampler_factory(space, 3)).history[trials.ARCH_ATTR].tolist()
        again = self.run(space, sampler_factory(space, 3)).history[trials.ARCH_ATTR].tolist()
        other = self.run(space, sampler_factory(space, 4)).history[trials.ARCH_ATTR].tolist()
        assert len(first) == self.budget
        assert first == again
        assert first != other, "different seeds should give different searches"

    def test_never_proposes_a_seen_architecture(
        self, space: SearchSpace, sampler_factory: SamplerFactory
    ) -> None:
        history = self.run(space, sampler_factory(space, 0)).history
        assert len(history) == self.budget
        assert (history["state"] == "COMPLETE").all()
        assert history["query"].tolist() == list(range(1, self.budget + 1))
        self.assert_no_repeats(history, space)

    # -- storage, resume and other workers -------------------------------------------------------------

    def test_resumes_a_sqlite_study_without_repeats(
        self, space: SearchSpace, sampler_factory: SamplerFactory, tmp_path: Path
    ) -> None:
        path = tmp_path / "study.db"
        half = self.resume_budget
        first = self.run(
            space, sampler_factory(space, 0), n_trials=half, storage=sqlite_storage(path), study_name="nas"
        )
        assert len(first.history) == half
        # A new process: a fresh sampler (other seed) and a fresh connection to the same file.
        second = self.run(
            space, sampler_factory(space, 1), n_trials=half, storage=sqlite_storage(path), study_name="nas"
        )
        history = second.history
        assert len(history) == 2 * half
        assert history["query"].tolist() == list(range(1, 2 * half + 1))
        assert history[trials.ARCH_ATTR].iloc[:half].tolist() == first.history[trials.ARCH_ATTR].tolist()
        self.assert_no_repeats(history, space)

        reloaded = optuna.load_study(study_name="nas", storage=f"sqlite:///{path}")
        assert [t.state for t in reloaded.trials] == [TrialState.COMPLETE] * (2 * half)
        assert reloaded.user_attrs[trials.SPACE_ATTR] == space.name

    def test_running_trials_of_other_workers_count_as_seen(
        self, space: SearchSpace, sampler_factory: SamplerFactory
    ) -> None:
        storage = optuna.storages.InMemoryStorage()
        sampler = sampler_factory(space, 0)
        half = self.budget // 2
        self.run(space, sampler, n_trials=half, storage=storage, study_name="shared")

        # Another worker asks for a trial, suggests an architecture of its choice and is still running it.
        other_worker = optuna.load_study(
            study_name="shared", storage=storage, sampler=optuna.samplers.RandomSampler(seed=0)
        )
        rng = np.random.default_rng(11)
        evaluated = {t.user_attrs[trials.ARCH_HASH_ATTR] for t in other_worker.trials}
        pending = space.sample(rng)
        while pending.canonical_hash in evaluated:
            pending = space.sample(rng)
        other_worker.enqueue_trial(space.to_params(pending))
        running = other_worker.ask()
        assert trials.suggest(space, running) == pending

        study = optuna.load_study(study_name="shared", storage=storage, sampler=sampler)
        history = sampler.history(study)
        assert history.pending == [pending]
        assert pending.canonical_hash in history.seen
        assert len(history.observations) == half

        result = self.run(space, sampler, n_trials=half, storage=storage, study_name="shared")
        finished = result.history[result.history["trial"] != running.number]
        assert len(finished) == 2 * half
        assert pending.canonical_hash not in set(finished[trials.ARCH_HASH_ATTR])
        assert study.trials[running.number].state == TrialState.RUNNING
        self.assert_no_repeats(finished, space)

    def test_running_trial_is_not_proposed_in_a_tiny_space(self, sampler_factory: SamplerFactory) -> None:
        space = tiny_space()
        sampler = sampler_factory(space, 0)
        storage = optuna.storages.InMemoryStorage()
        study = optuna.create_study(storage=storage, study_name="tiny", direction="maximize")
        pending = space.from_params({"a": 1, "b": "y"})
        study.enqueue_trial(space.to_params(pending))
        trials.suggest(space, study.ask())  # left RUNNING, as by a worker still training it

        result = self.run(space, sampler, n_trials=10, storage=storage, study_name="tiny")
        completed = result.history[result.history["state"] == "COMPLETE"]
        assert len(completed) == 3
        assert str(pending) not in set(completed[trials.ARCH_ATTR])

    # -- direction -------------------------------------------------------------------------------------

    def test_minimize_mirrors_maximize(self, space: SearchSpace, sampler_factory: SamplerFactory) -> None:
        """Samplers see ``-value`` when minimising, so minimising ``-f`` retraces maximising ``f``."""
        maximized = self.run(space, sampler_factory(space, 5))
        _quiet()
        sampler = sampler_factory(space, 5)
        minimized = search(
            space,
            lambda arch: -hashed_score(arch),
            sampler=sampler,
            n_trials=self.budget,
            direction="minimize",
        )
        assert minimized.history[trials.ARCH_ATTR].tolist() == maximized.history[trials.ARCH_ATTR].tolist()
        assert minimized.best_value == pytest.approx(-maximized.best_value)
        assert minimized.best_value == pytest.approx(minimized.history["value"].min())
        observations = sampler.history(minimized.study).observations
        assert [o.value for o in observations] == pytest.approx(
            [hashed_score(o.architecture) for o in observations]
        )

    # -- exhaustion ------------------------------------------------------------------------------------

    def test_stops_cleanly_when_the_space_is_exhausted(
        self, sampler_factory: SamplerFactory, caplog: pytest.LogCaptureFixture
    ) -> None:
        space = tiny_space()
        with caplog.at_level(logging.WARNING, logger="bonas"):
            result = self.run(space, sampler_factory(space, 0), n_trials=10)
        history = result.history
        completed = history[history["state"] == "COMPLETE"]
        assert sorted(completed[trials.ARCH_ATTR]) == sorted(str(a) for a in space.enumerate())
        assert history["query"].max() == 4
        assert not (history["state"] == "RUNNING").any()
        assert any("4 of 10 queries" in record.getMessage() for record in caplog.records)

    def test_propose_raises_when_everything_was_seen(self, sampler_factory: SamplerFactory) -> None:
        space = tiny_space()
        sampler = sampler_factory(space, 0)
        history = SearchHistory(seen={a.canonical_hash for a in space.enumerate()})
        with pytest.raises(SearchSpaceExhaustedError, match="tiny"):
            sampler.propose(history, np.random.default_rng(0))

    def test_a_reused_sampler_follows_each_study(self, sampler_factory: SamplerFactory) -> None:
        """One sampler instance serving two studies in turn must read each study's own trials."""
        space = tiny_space()
        sampler = sampler_factory(space, 0)
        for _ in range(2):
            history = self.run(space, sampler, n_trials=4).history
            assert history["query"].max() == 4
            self.assert_no_repeats(history, space)
