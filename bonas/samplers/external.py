"""Optuna's own samplers as architecture searchers, with bonas's no-repeat rule.

Optuna's TPE and GP samplers know nothing of isomorphism and, once converged, keep proposing the
architecture they like best. :class:`NoRepeatSampler` asks the wrapped sampler for a full set of
parameters exactly as Optuna would, and only when that architecture (or an isomorph) was already
evaluated replaces it with a random new one, so every query is spent on a new architecture and a
converged sampler cannot loop on repeats.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from bonas.architecture import Architecture, ParamValue
from bonas.errors import InvalidArchitectureError
from bonas.history import SearchHistory
from bonas.samplers.base import ArchitectureSampler
from bonas.spaces.base import SearchSpace
from bonas.trials import REPLACED_REPEAT_ATTR, distributions


class NoRepeatSampler(ArchitectureSampler):
    """Any Optuna sampler, with repeated architectures replaced by random new ones.

    Args:
        base: the Optuna sampler whose proposals are used (e.g. ``TPESampler(seed=0)``).
        space: the search space.
        seed: seed of the generator used for replacements.
        allow_repeats: pass repeats through unchanged (then this wrapper only forwards).
        batch_size: must be 1: Optuna's samplers propose one trial at a time.
    """

    def __init__(
        self,
        base: BaseSampler,
        space: SearchSpace,
        *,
        seed: int | None = None,
        allow_repeats: bool = False,
        batch_size: int = 1,
    ) -> None:
        if batch_size != 1:
            raise ValueError(
                f"batch_size={batch_size!r}: {type(base).__name__} proposes one trial at a time; use a bonas "
                "searcher (e.g. a bo-* one) for batches."
            )
        super().__init__(space, seed=seed, allow_repeats=allow_repeats)
        self.base = base

    #: Optuna's samplers that search several objectives and read ``FrozenTrial.constraints``.
    _MULTI_OBJECTIVE_BASES = (
        optuna.samplers.TPESampler,
        optuna.samplers.GPSampler,
        optuna.samplers.NSGAIISampler,
        optuna.samplers.NSGAIIISampler,
        optuna.samplers.RandomSampler,
    )

    @property
    def supports_multi_objective(self) -> bool:  # type: ignore[override]
        return isinstance(self.base, self._MULTI_OBJECTIVE_BASES)

    @property
    def supports_constraints(self) -> bool:  # type: ignore[override]
        return isinstance(self.base, self._MULTI_OBJECTIVE_BASES)

    def _next_architecture(self, history: SearchHistory) -> Architecture:
        raise NotImplementedError("NoRepeatSampler proposes through the wrapped sampler (sample_relative).")

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        history = self.history(study, exclude_trial=trial.number)
        self._last_proposal = (trial._trial_id, history)
        proposal = self._ask_base(study, trial)
        if proposal is not None and (self.allow_repeats or history.is_new(proposal)):
            return self.space.to_params(proposal)
        study._storage.set_trial_system_attr(trial._trial_id, REPLACED_REPEAT_ATTR, True)
        return self.space.to_params(self.random_new(history.copy(), self._rng))

    def propose(self, history: SearchHistory, rng: np.random.Generator) -> Architecture:
        # Only reached through a direct call: proposals come from the wrapped sampler in sample_relative.
        return self.random_new(history, rng)

    def _ask_base(self, study: Study, trial: FrozenTrial) -> Architecture | None:
        """The wrapped sampler's architecture for ``trial``: its relative sample, then each remaining
        active parameter from its independent sampler, in the space's order."""
        relative_space = self.base.infer_relative_search_space(study, trial)
        relative = self.base.sample_relative(study, trial, relative_space) if relative_space else {}
        params: dict[str, ParamValue] = {}
        space_distributions = distributions(self.space)
        for parameter in self.space.parameters:
            if not parameter.is_active(params):
                continue
            if parameter.name in relative:
                params[parameter.name] = relative[parameter.name]
            else:
                params[parameter.name] = self.base.sample_independent(
                    study, trial, parameter.name, space_distributions[parameter.name]
                )
        try:
            return self.space.from_params(params)
        except InvalidArchitectureError:
            return None  # the wrapped sampler broke a validity constraint it does not know about

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.base.before_trial(study, trial)

    def after_trial(
        self, study: Study, trial: FrozenTrial, state: TrialState, values: list[float] | None
    ) -> None:
        self.base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        super().reseed_rng()
        self.base.reseed_rng()

    def __repr__(self) -> str:
        return f"NoRepeatSampler({self.base!r}, space={self.space.name!r})"
