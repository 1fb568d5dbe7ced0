"""Architecture samplers: Optuna samplers that propose whole architectures of one search space.

Optuna calls :meth:`ArchitectureSampler.sample_relative` once per trial; the sampler rebuilds the
:class:`SearchHistory` from the study's trials (so storage, resume and several workers all work) and
asks the strategy (:meth:`ArchitectureSampler.propose`) for one architecture nobody has evaluated yet.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from bonas.architecture import Architecture
from bonas.errors import InvalidArchitectureError, SearchSpaceExhaustedError
from bonas.spaces.base import SearchSpace

#: User attribute set on trials whose architecture repeats an earlier one (value = that trial's number).
REPEAT_OF_ATTR = "repeat_of"


@dataclass(frozen=True)
class Observation:
    """An evaluated architecture and its value (larger is better, whatever the study's direction)."""

    architecture: Architecture
    value: float


@dataclass
class SearchHistory:
    """What a sampler knows about a study.

    Args:
        observations: completed evaluations in trial order (repeats of an earlier architecture excluded).
        pending: architectures being evaluated right now (RUNNING trials of other workers).
        seen: canonical hashes of every architecture already evaluated, pending or failed.
    """

    observations: list[Observation] = field(default_factory=list)
    pending: list[Architecture] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def best(self, k: int = 1) -> list[Observation]:
        """The ``k`` best observations, best first."""
        return sorted(self.observations, key=lambda o: o.value, reverse=True)[:k]

    def is_new(self, architecture: Architecture) -> bool:
        return architecture.canonical_hash not in self.seen


class ArchitectureSampler(BaseSampler):
    """Base of bonas's samplers: Optuna plumbing, history reconstruction and de-duplication.

    Subclasses implement :meth:`propose`.

    Args:
        space: the search space whose parameters the study's objective suggests
            (via ``space.suggest(trial)``).
        seed: seed of the sampler's random generator.
        allow_repeats: propose architectures already evaluated (for noisy objectives).
    """

    def __init__(self, space: SearchSpace, *, seed: int | None = None, allow_repeats: bool = False) -> None:
        self.space = space
        self.allow_repeats = allow_repeats
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._decoded: dict[tuple[tuple[str, Any], ...], Architecture | None] = {}

    @abstractmethod
    def propose(self, history: SearchHistory, rng: np.random.Generator) -> Architecture:
        """The next architecture to evaluate; should be new (``history.is_new``) unless repeats are allowed."""

    # -- Optuna's sampler interface -----------------------------------------------------------------

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self.space.distributions)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        history = self.history(study, exclude_trial=trial.number)
        architecture = self.propose(history, self._rng)
        return self.space.to_params(architecture)

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        # Only reached for parameters outside the space (an objective suggesting extras): draw uniformly.
        return optuna.samplers.RandomSampler(seed=int(self._rng.integers(2**31))).sample_independent(
            study, trial, param_name, param_distribution
        )

    def reseed_rng(self) -> None:
        self._rng = np.random.default_rng()

    # -- History --------------------------------------------------------------------------------------

    def history(self, study: Study, *, exclude_trial: int | None = None) -> SearchHistory:
        """The study's trials as a :class:`SearchHistory` (values negated for minimising studies)."""
        sign = -1.0 if study.direction == StudyDirection.MINIMIZE else 1.0
        history = SearchHistory()
        for trial in study.get_trials(deepcopy=False):
            if trial.number == exclude_trial:
                continue
            architecture = self._decode(trial)
            if architecture is None:
                continue
            history.seen.add(architecture.canonical_hash)
            if trial.state == TrialState.RUNNING:
                history.pending.append(architecture)
            elif (
                trial.state == TrialState.COMPLETE
                and trial.value is not None
                and math.isfinite(trial.value)
                and REPEAT_OF_ATTR not in trial.user_attrs
            ):
                history.observations.append(Observation(architecture, sign * trial.value))
        return history

    def _decode(self, trial: FrozenTrial) -> Architecture | None:
        # Cached by parameters, not trial number: one sampler may serve several studies, whose trial
        # numbers collide, and a running trial's parameters grow as it suggests them.
        key = tuple(sorted(trial.params.items()))
        if key in self._decoded:
            return self._decoded[key]
        try:
            architecture: Architecture | None = self.space.from_params(trial.params)
        except InvalidArchitectureError:
            architecture = None  # a trial without (all) architecture parameters yet, or from another space
        self._decoded[key] = architecture
        return architecture

    # -- Helpers for strategies ---------------------------------------------------------------------

    def first_new(
        self,
        history: SearchHistory,
        candidates: Callable[[], Architecture],
        rng: np.random.Generator,
        *,
        tries: int = 200,
    ) -> Architecture:
        """The first new architecture drawn from ``candidates()``, falling back to a random new one."""
        for _ in range(tries):
            architecture = candidates()
            if self.allow_repeats or history.is_new(architecture):
                return architecture
        return self.random_new(history, rng)

    def random_new(
        self, history: SearchHistory, rng: np.random.Generator, *, tries: int = 2000
    ) -> Architecture:
        """A uniformly random architecture not yet seen.

        Raises:
            SearchSpaceExhaustedError: every architecture of an enumerable space has been seen.
        """
        for _ in range(tries):
            architecture = self.space.sample(rng)
            if self.allow_repeats or history.is_new(architecture):
                return architecture
        if self.space.is_enumerable:
            unseen = [a for a in self.space.enumerate() if history.is_new(a)]
            if unseen:
                return unseen[int(rng.integers(len(unseen)))]
        raise SearchSpaceExhaustedError(
            f"No unseen architecture of space {self.space.name!r} found: all {len(history.seen)} "
            "distinct architectures seen so far may be the whole space."
        )

    def new_choice(
        self, history: SearchHistory, options: Sequence[Architecture], rng: np.random.Generator
    ) -> Architecture | None:
        """A random new architecture among ``options``, or None if all were seen."""
        fresh = [a for a in options if self.allow_repeats or history.is_new(a)]
        return fresh[int(rng.integers(len(fresh)))] if fresh else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(space={self.space.name!r}, seed={self._seed})"
