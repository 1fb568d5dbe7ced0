"""Architecture samplers: Optuna samplers that propose whole architectures of one search space.

Optuna calls :meth:`ArchitectureSampler.sample_relative` once per trial; the sampler rebuilds the
:class:`SearchHistory` from the study's trials (so storage, resume and several workers all work) and
asks the strategy (:meth:`ArchitectureSampler.propose`) for one architecture nobody has evaluated yet.
A sampler built with ``batch_size=q > 1`` instead asks :meth:`ArchitectureSampler.propose_batch` for
``q`` architectures at once and hands them to the next ``q`` trials, so they are chosen before any of
their values is known (as a BO batch evaluated in parallel, or one trained jointly).

Every option is fixed at construction; :func:`bonas.search` checks a sampler against the space and the
settings it is given (:meth:`ArchitectureSampler.space_matches`) instead of changing it.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial

from bonas.architecture import Architecture
from bonas.errors import SearchSpaceExhaustedError
from bonas.history import SearchHistory
from bonas.library_warnings import jitter_to_debug_log
from bonas.spaces.base import SearchSpace
from bonas.trials import StudyAttributes, architecture_from_params, distributions, search_history


class ArchitectureSampler(BaseSampler):
    """Base of bonas's samplers: Optuna plumbing, history reconstruction and de-duplication.

    Subclasses implement :meth:`propose`. One that searches several objectives (it reads
    :attr:`Observation.objectives`) sets :attr:`supports_multi_objective`; one that respects constraints
    (:attr:`Observation.constraints`) sets :attr:`supports_constraints`. :func:`bonas.search` refuses the
    others on such studies.

    Args:
        space: the search space whose parameters the study's objective suggests
            (via :func:`bonas.trials.suggest`).
        seed: seed of the sampler's random generator.
        allow_repeats: propose architectures already evaluated (for noisy objectives).
        batch_size: architectures proposed jointly (:meth:`propose_batch`) and handed to the next
            ``batch_size`` trials before any of their values is known; 1 proposes per trial.
    """

    #: Whether the sampler searches several objectives (a multi-objective study).
    supports_multi_objective: bool = False
    #: Whether the sampler takes a constrained study's constraints into account.
    supports_constraints: bool = False

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int | None = None,
        allow_repeats: bool = False,
        batch_size: int = 1,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer of at least 1, got {batch_size!r}.")
        self.space = space
        self.allow_repeats = allow_repeats
        self.batch_size = batch_size
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._decoded: dict[tuple[tuple[str, Any], ...], Architecture | None] = {}
        self._queue: list[Architecture] = []
        self._last_proposal: tuple[int, SearchHistory] | None = None

    @abstractmethod
    def propose(self, history: SearchHistory, rng: np.random.Generator) -> Architecture:
        """The next architecture to evaluate; should be new (``history.is_new``) unless repeats are allowed."""

    def propose_batch(
        self, history: SearchHistory, rng: np.random.Generator, *, q: int
    ) -> list[Architecture]:
        """``q`` distinct architectures to evaluate before any of their values is known.

        By default :meth:`propose` ``q`` times, each proposal seen as pending by the next; model-based
        samplers override this to choose the batch jointly.
        """
        if q < 1:
            raise ValueError(f"q must be at least 1, got {q}.")
        history = history.copy()
        batch: list[Architecture] = []
        for _ in range(q):
            architecture = self.propose(history, rng)
            history.pending.append(architecture)
            history.seen.add(architecture.canonical_hash)
            batch.append(architecture)
        return batch

    def recommend(self, history: SearchHistory) -> Architecture | None:
        """The architecture this searcher reports as its result after ``history`` (None before any
        evaluation): the one of best mean observed value (:meth:`SearchHistory.best_mean`), noisy
        objectives included (BO's race moves evaluate the contenders for it again)."""
        return history.best_mean()

    def space_matches(self, space: SearchSpace) -> bool:
        """Whether ``space`` is this sampler's space: the same object, or one of the same name and the
        same parameters and choices (as a space rebuilt from the same data is)."""
        if space is self.space:
            return True
        return (
            type(space) is type(self.space)
            and space.name == self.space.name
            and [(p.name, p.choices) for p in space.parameters]
            == [(p.name, p.choices) for p in self.space.parameters]
        )

    @property
    def queued(self) -> tuple[Architecture, ...]:
        """The rest of the current batch: architectures proposed jointly, not yet handed to a trial.

        A weight-sharing objective trains a supernet on the whole batch before scoring its first member.
        """
        return tuple(self._queue)

    def proposal_history(self, trial: optuna.Trial | FrozenTrial) -> SearchHistory | None:
        """The history this sampler proposed ``trial``'s architecture from, as it was before the proposal
        (None if this sampler did not propose that trial's architecture)."""
        if self._last_proposal is None or self._last_proposal[0] != trial._trial_id:
            return None
        return self._last_proposal[1]

    # -- Optuna's sampler interface -----------------------------------------------------------------

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return distributions(self.space)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        history = self.history(study, exclude_trial=trial.number)
        self._last_proposal = (trial._trial_id, history)
        # Weight-sharing scores and stand-alone trainings in one study: one scale (see at_one_fidelity).
        with jitter_to_debug_log():
            return self.space.to_params(self._next_architecture(history.at_one_fidelity().copy()))

    def _next_architecture(self, history: SearchHistory) -> Architecture:
        """One proposal, or the next of the current batch that is still new."""
        if self.batch_size == 1:
            return self.propose(history, self._rng)
        if not self.allow_repeats:
            self._queue = [a for a in self._queue if history.is_new(a)]
        if not self._queue:
            self._queue = list(self.propose_batch(history, self._rng, q=self.batch_size))
        return self._queue.pop(0)

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
        """The study's trials as a :class:`SearchHistory` (values negated for minimised objectives), with
        the study's objectives and constraints."""
        study = whole_study(study)
        signs = tuple(-1.0 if d == StudyDirection.MINIMIZE else 1.0 for d in study.directions)
        attributes = StudyAttributes.of(study)
        return search_history(
            study.get_trials(deepcopy=False),
            self._decode,
            sign=signs if len(signs) > 1 else signs[0],
            exclude_trial=exclude_trial,
            objectives=attributes.metrics,
            constraints=attributes.constraints,
        )

    def _decode(self, trial: FrozenTrial) -> Architecture | None:
        # Cached by parameters, not trial number: one sampler may serve several studies, whose trial
        # numbers collide, and a running trial's parameters grow as it suggests them.
        key = tuple(sorted(trial.params.items()))
        if key in self._decoded:
            return self._decoded[key]
        architecture = architecture_from_params(trial.params, self.space)
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
        self, history: SearchHistory, rng: np.random.Generator, *, tries: int = 2000, prefer_new: bool = False
    ) -> Architecture:
        """A uniformly random architecture not yet seen (with ``allow_repeats``, any architecture).

        Args:
            prefer_new: with ``allow_repeats``, still an unseen one while there is one, else a repeat (an
                initial design that covers a small space before it repeats anything).

        Raises:
            SearchSpaceExhaustedError: every architecture of an enumerable space has been seen.
        """
        repeats = self.allow_repeats and not prefer_new
        for _ in range(tries):
            architecture = self.space.sample(rng)
            if repeats or history.is_new(architecture):
                return architecture
        if self.space.is_enumerable:
            unseen = [a for a in self.space.enumerate() if history.is_new(a)]
            if unseen:
                return unseen[int(rng.integers(len(unseen)))]
        if self.allow_repeats:
            return self.space.sample(rng)
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
        batch = f", batch_size={self.batch_size}" if self.batch_size != 1 else ""
        return f"{type(self).__name__}(space={self.space.name!r}, seed={self._seed}{batch})"


def whole_study(study: Study) -> Study:
    """The study itself, also where a pruner hands samplers a view of it.

    Optuna's ``HyperbandPruner`` passes samplers a per-bracket study that lists only the trials of one
    bracket and refuses every other attribute (the study's user attributes among them). A bonas searcher
    proposes from everything evaluated: an architecture measured in another bracket is still measured,
    and proposing it again would waste an evaluation.
    """
    return getattr(study, "_study", study)
