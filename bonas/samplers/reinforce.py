"""REINFORCE controller: a policy over the space's categorical choices, trained by policy gradient.

The policy holds independent logits per parameter (conditional parameters count only when active).
After each evaluation the logits move along ``advantage * grad log p(choices)``, where the advantage is
the reward minus an exponential moving-average baseline, scaled by a moving average of its magnitude so
the learning rate does not depend on the metric's units. The policy is replayed from the study's history
at each proposal, so it survives resume.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bonas.architecture import Architecture, ParamValue
from bonas.history import Observation, SearchHistory
from bonas.samplers.base import ArchitectureSampler
from bonas.spaces.base import SearchSpace


class ReinforceSampler(ArchitectureSampler):
    """Policy-gradient controller with a moving-average baseline.

    Args:
        space: the search space.
        learning_rate: step size on the logits per evaluation (for a unit-scaled advantage).
        baseline_decay: decay of the moving-average reward baseline (closer to 1 = slower).
        seed: seed of the sampler's generator.
        allow_repeats: allow proposing architectures already evaluated (noisy objectives).
        batch_size: architectures proposed jointly per batch (see :class:`ArchitectureSampler`).
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        learning_rate: float = 0.5,
        baseline_decay: float = 0.9,
        seed: int | None = None,
        allow_repeats: bool = False,
        batch_size: int = 1,
    ) -> None:
        if learning_rate <= 0 or not 0 <= baseline_decay < 1:
            raise ValueError(
                f"Need learning_rate > 0 and 0 <= baseline_decay < 1, got ({learning_rate=}, {baseline_decay=})."
            )
        super().__init__(space, seed=seed, allow_repeats=allow_repeats, batch_size=batch_size)
        self.learning_rate = learning_rate
        self.baseline_decay = baseline_decay
        self._choice_index = {p.name: {c: i for i, c in enumerate(p.choices)} for p in space.parameters}
        self._state: _PolicyState | None = None

    def policy(self, observations: list[Observation]) -> dict[str, np.ndarray]:
        """Logits per parameter after replaying ``observations`` in order.

        The replay is incremental: when ``observations`` extends the ones replayed last time (the usual
        case), only the new ones are applied.
        """
        state = self._state
        if state is None or observations[: len(state.replayed)] != state.replayed:
            state = _PolicyState({p.name: np.zeros(len(p.choices)) for p in self.space.parameters})
        for observation in observations[len(state.replayed) :]:
            self._update(state, observation)
        self._state = state
        return state.logits

    def _update(self, state: _PolicyState, observation: Observation) -> None:
        state.replayed.append(observation)
        reward = observation.value
        if state.baseline is None:
            state.baseline = reward
            return
        advantage = reward - state.baseline
        state.scale = self.baseline_decay * state.scale + (1 - self.baseline_decay) * abs(advantage)
        step = self.learning_rate * advantage / (state.scale + 1e-12)
        for name, value in observation.architecture.params:
            probabilities = _softmax(state.logits[name])
            gradient = -probabilities
            gradient[self._choice_index[name][value]] += 1.0
            state.logits[name] += step * gradient
        state.baseline = self.baseline_decay * state.baseline + (1 - self.baseline_decay) * reward

    def propose(self, history: SearchHistory, rng: np.random.Generator) -> Architecture:
        logits = self.policy(history.observations)

        def draw() -> Architecture:
            for _ in range(100):
                params: dict[str, ParamValue] = {}
                for parameter in self.space.parameters:
                    if parameter.is_active(params):
                        choice = rng.choice(len(parameter.choices), p=_softmax(logits[parameter.name]))
                        params[parameter.name] = parameter.choices[int(choice)]
                if self.space.is_valid(params):
                    return self.space.from_params(params)
            return self.space.sample(rng)

        return self.first_new(history, draw, rng)


@dataclass
class _PolicyState:
    logits: dict[str, np.ndarray]
    replayed: list[Observation] = field(default_factory=list)
    baseline: float | None = None
    scale: float = 0.0


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()
