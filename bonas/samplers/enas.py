"""ENAS's controller (Pham et al. 2018; NASNet's, Zoph et al. 2018): an LSTM policy over the space's decisions.

The space's parameters are decided in their order, each by one step of an LSTM:

* the first step reads a learned start vector, every later step the embedding of the choice just made
  (one embedding table per parameter);
* each step's hidden state goes through the parameter's own linear head to logits, which ENAS bounds as
  ``tanh_constant * tanh(logits / temperature)`` (no choice's probability runs away early), and one
  choice is drawn from their softmax;
* a parameter that is inactive given the choices before it (NB301's edges that a node's inputs leave
  out, an MLP's unused layer) takes no step, so the policy is over exactly the active decisions and the
  probability of an architecture is the product over its own parameters.

Training is REINFORCE with a moving-average baseline: for a sampled architecture with reward ``R``,
the loss is ``-(R + w H - b) log p(architecture)``, where ``H`` is the summed entropy of the steps'
distributions (ENAS's entropy bonus, added to the reward), ``w`` its weight and ``b`` an exponential
moving average of the rewards. Two departures from ENAS, both because rewards here come in any unit
(accuracy points, a negated error, a loss) and a study has a few hundred of them rather than ENAS's
hundred thousand: the baseline starts at the first reward instead of 0, and the advantage is divided
by a moving average of its own magnitude (as :class:`~bonas.samplers.reinforce.ReinforceSampler`
does), so one learning rate suits every metric.

:class:`LSTMPolicy` is the network, :class:`PolicyGradient` its optimiser and baseline; both are used
by :class:`ENASSampler` (one update per evaluated architecture, replayed from the study's history so a
resumed study continues where it stopped) and by ENAS with shared weights (one update per batch of
children scored on the supernet).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from bonas.architecture import Architecture, ParamValue
from bonas.history import Observation, SearchHistory
from bonas.samplers.base import ArchitectureSampler
from bonas.spaces.base import Categorical, SearchSpace
from bonas.torch_training import seeded


@dataclass(frozen=True)
class ControllerSettings:
    """Size and training of the LSTM controller (defaults from ENAS's micro search unless said).

    Args:
        embedding_size: size of the choice embeddings and of the start vector.
        hidden_size: LSTM state size (ENAS: 64).
        num_layers: stacked LSTM layers (ENAS: 1 for cells).
        temperature: logits are divided by it before the tanh (ENAS: 5); None skips the division.
        tanh_constant: bound on the logits, ``c * tanh(logits / T)`` (ENAS: 1.1 for inputs, 2.5 for
            operations); None leaves the logits unbounded.
        learning_rate: Adam's step size. ENAS's 3.5e-4 suits its ~10^5 updates; a study gives a few hundred,
            each with a unit-scaled advantage, hence the larger default.
        baseline_decay: decay of the moving-average baseline (ENAS: 0.99).
        entropy_weight: weight ``w`` of the entropy bonus added to the reward, in units of the
            advantage's scale (ENAS: 1e-4 with rewards in [0, 1]).
        grad_clip: largest gradient norm of one update (None: no clipping).
        normalize_advantage: divide the advantage by a moving average of its magnitude (see the module).
    """

    embedding_size: int = 32
    hidden_size: int = 64
    num_layers: int = 1
    temperature: float | None = 5.0
    tanh_constant: float | None = 2.5
    learning_rate: float = 0.01
    baseline_decay: float = 0.95
    entropy_weight: float = 1e-4
    grad_clip: float | None = 5.0
    normalize_advantage: bool = True

    def __post_init__(self) -> None:
        for name in ("embedding_size", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ControllerSettings.{name} must be a positive integer, got {value!r}.")
        for name in ("temperature", "tanh_constant", "grad_clip"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"ControllerSettings.{name} must be positive or None, got {value!r}.")
        if not self.learning_rate > 0:
            raise ValueError(
                f"ControllerSettings.learning_rate must be positive, got {self.learning_rate!r}."
            )
        if not 0 <= self.baseline_decay < 1:
            raise ValueError(
                f"ControllerSettings.baseline_decay must lie in [0, 1), got {self.baseline_decay!r}."
            )
        if not self.entropy_weight >= 0:
            raise ValueError(
                f"ControllerSettings.entropy_weight must be non-negative, got {self.entropy_weight!r}."
            )


@dataclass(frozen=True)
class Decisions:
    """One walk of the policy through the space's decisions.

    Args:
        params: the value of every active parameter, in the space's order.
        log_prob: ``log p(params)``, a scalar tensor (with a graph when computed with gradients).
        entropy: summed entropy of the steps' distributions, a scalar tensor.
        probabilities: per active parameter, the distribution it was decided from (no graph).
    """

    params: dict[str, ParamValue]
    log_prob: torch.Tensor
    entropy: torch.Tensor
    probabilities: dict[str, np.ndarray]


class LSTMPolicy(nn.Module):
    """The autoregressive policy: an LSTM that takes one step per active parameter.

    Args:
        parameters: the space's parameters, in the order they are decided.
        settings: sizes and the logits' temperature and bound.
    """

    def __init__(self, parameters: Sequence[Categorical], settings: ControllerSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or ControllerSettings()
        self.space_parameters = tuple(parameters)
        size, hidden = self.settings.embedding_size, self.settings.hidden_size
        self.start = nn.Parameter(torch.empty(1, size).uniform_(-0.1, 0.1))
        # A stack of LSTM cells run one step at a time (nn.LSTM costs ~10x more per single step on a CPU).
        self.cells = nn.ModuleList(
            nn.LSTMCell(size if layer == 0 else hidden, hidden) for layer in range(self.settings.num_layers)
        )
        self.embeddings = nn.ModuleList(nn.Embedding(len(p.choices), size) for p in self.space_parameters)
        self.heads = nn.ModuleList(nn.Linear(hidden, len(p.choices)) for p in self.space_parameters)
        self._index = [{choice: i for i, choice in enumerate(p.choices)} for p in self.space_parameters]
        # ENAS initialises every controller weight uniformly in [-0.1, 0.1]: near-uniform first policy.
        for weight in self.parameters():
            nn.init.uniform_(weight, -0.1, 0.1)

    def lstm_step(
        self, step_input: torch.Tensor, state: list[tuple[torch.Tensor, torch.Tensor]] | None
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """One step of the stacked LSTM: ``1 x E`` input -> ``1 x H`` output and the new per-layer states."""
        new_state = []
        x = step_input
        for layer, cell in enumerate(self.cells):
            h, c = cell(x, None if state is None else state[layer])
            new_state.append((h, c))
            x = h
        return x, new_state

    def logits(self, hidden: torch.Tensor, position: int) -> torch.Tensor:
        """Bounded logits of parameter ``position`` from the LSTM's output ``hidden`` (``1 x H``)."""
        logits = self.heads[position](hidden)
        if self.settings.temperature is not None:
            logits = logits / self.settings.temperature
        if self.settings.tanh_constant is not None:
            logits = self.settings.tanh_constant * torch.tanh(logits)
        return logits.squeeze(0)

    def walk(
        self, rng: np.random.Generator | None = None, *, given: Mapping[str, ParamValue] | None = None
    ) -> Decisions:
        """Decide every active parameter: draw it from ``rng``, or take it from ``given``.

        Args:
            rng: draws the choices (required unless ``given`` is).
            given: the parameters of an architecture whose probability is wanted (teacher forcing);
                every parameter active given the earlier ones must be present.

        Returns:
            the choices with their log-probability and the summed entropy of the steps.

        Raises:
            KeyError: ``given`` lacks an active parameter.
        """
        if (rng is None) == (given is None):
            raise ValueError("Pass exactly one of rng (to sample) and given (to score).")
        params: dict[str, ParamValue] = {}
        probabilities: dict[str, np.ndarray] = {}
        log_prob = self.start.new_zeros(())
        entropy = self.start.new_zeros(())
        state: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        step_input = self.start
        for position, parameter in enumerate(self.space_parameters):
            if not parameter.is_active(params):
                continue
            output, state = self.lstm_step(step_input, state)
            log_probs = torch.log_softmax(self.logits(output, position), dim=-1)
            distribution = log_probs.detach().double().exp().cpu().numpy()
            probabilities[parameter.name] = distribution
            if given is not None:
                index = self._index[position][given[parameter.name]]
            else:
                assert rng is not None
                index = int(rng.choice(len(distribution), p=distribution / distribution.sum()))
            params[parameter.name] = parameter.choices[index]
            log_prob = log_prob + log_probs[index]
            entropy = entropy - (log_probs.exp() * log_probs).sum()
            step_input = self.embeddings[position].weight[index : index + 1]
        return Decisions(params, log_prob, entropy, probabilities)

    def sample(self, rng: np.random.Generator) -> dict[str, ParamValue]:
        """One draw of every active parameter (no gradients)."""
        with torch.no_grad():
            return self.walk(rng).params

    def log_prob(self, params: Mapping[str, ParamValue]) -> torch.Tensor:
        """``log p(params)`` with gradients (a scalar tensor)."""
        return self.walk(given=params).log_prob

    def probabilities(self, params: Mapping[str, ParamValue]) -> dict[str, np.ndarray]:
        """The distribution each active parameter of ``params`` is decided from, given the earlier ones."""
        with torch.no_grad():
            return self.walk(given=params).probabilities


class PolicyGradient:
    """REINFORCE for an :class:`LSTMPolicy`: Adam, a moving-average baseline and ENAS's entropy bonus.

    Args:
        policy: the policy to train (its settings give the optimiser's and the baseline's).
    """

    def __init__(self, policy: LSTMPolicy) -> None:
        self.policy = policy
        self.settings = policy.settings
        self.optimizer = torch.optim.Adam(policy.parameters(), lr=self.settings.learning_rate)
        self.baseline: float | None = None
        self.scale = 0.0
        self.updates = 0

    def step(self, samples: Sequence[tuple[Mapping[str, ParamValue], float]]) -> float:
        """One gradient step on the mean REINFORCE loss of ``samples`` (``(params, reward)`` pairs).

        Each reward gets the entropy bonus, then its advantage (:meth:`advantages`, which moves the
        baseline); the very first reward of a controller only sets the baseline.

        Returns:
            the loss of the step (0.0 when nothing was learned).
        """
        walks = [self.policy.walk(given=params) for params, _ in samples]
        bonus = self.settings.entropy_weight * max(self.scale, 1e-12)
        rewards = [
            float(reward) + bonus * float(walk.entropy.detach())
            for walk, (_, reward) in zip(walks, samples, strict=True)
        ]
        learned = [
            (walk, advantage)
            for walk, advantage in zip(walks, self.advantages(rewards), strict=True)
            if advantage is not None
        ]
        if not learned:
            return 0.0
        loss = self.loss([walk for walk, _ in learned], [advantage for _, advantage in learned])
        self.optimizer.zero_grad()
        loss.backward()
        if self.settings.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.policy.parameters(), self.settings.grad_clip)
        self.optimizer.step()
        self.updates += 1
        return float(loss.detach())

    def advantages(self, rewards: Sequence[float]) -> list[float | None]:
        """Each reward's advantage over the baseline, the baseline moving after each (in order).

        The advantage is ``reward - baseline``, divided by the moving average of its magnitude when
        :attr:`ControllerSettings.normalize_advantage` is set; None for a controller's very first reward,
        which only sets the baseline.
        """
        decay = self.settings.baseline_decay
        result: list[float | None] = []
        for reward in rewards:
            if self.baseline is None:
                self.baseline = reward
                result.append(None)
                continue
            advantage = reward - self.baseline
            if self.settings.normalize_advantage:
                self.scale = decay * self.scale + (1 - decay) * abs(advantage)
                advantage = advantage / (self.scale + 1e-12)
            result.append(advantage)
            self.baseline = decay * self.baseline + (1 - decay) * reward
        return result

    @staticmethod
    def loss(walks: Sequence[Decisions], advantages: Sequence[float]) -> torch.Tensor:
        """REINFORCE's surrogate loss ``mean(-advantage * log p)``: its gradient is the policy-gradient
        estimate of ``-grad E[reward]`` from these samples (``walks`` scored with gradients)."""
        return torch.stack(
            [-advantage * walk.log_prob for walk, advantage in zip(walks, advantages, strict=True)]
        ).mean()


class ENASSampler(ArchitectureSampler):
    """ENAS's LSTM controller as a searcher: each evaluated architecture is one REINFORCE update.

    Unlike :class:`~bonas.samplers.reinforce.ReinforceSampler`'s independent logits, the LSTM conditions
    each decision on the ones before it (an op on one edge on the ops of earlier edges).

    Args:
        space: the search space.
        settings: the controller's size and training (:class:`ControllerSettings`).
        seed: seed of the sampler's generator and of the controller's initial weights.
        allow_repeats: allow proposing architectures already evaluated (noisy objectives).
        batch_size: architectures proposed jointly per batch (see :class:`ArchitectureSampler`).
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        settings: ControllerSettings | None = None,
        seed: int | None = None,
        allow_repeats: bool = False,
        batch_size: int = 1,
    ) -> None:
        if settings is not None and not isinstance(settings, ControllerSettings):
            raise TypeError(
                f"settings must be a ControllerSettings, got {type(settings).__name__}: {settings!r}."
            )
        super().__init__(space, seed=seed, allow_repeats=allow_repeats, batch_size=batch_size)
        self.settings = settings or ControllerSettings()
        self._init_seed = int(self._rng.integers(2**31))
        self._state: _ControllerState | None = None

    def controller(self, observations: list[Observation]) -> PolicyGradient:
        """The controller after one REINFORCE update per observation, in order.

        The replay is incremental: when ``observations`` extends the ones replayed last time (the usual
        case), only the new ones are applied; otherwise the controller restarts from its seeded
        initial weights.
        """
        state = self._state
        if state is None or observations[: len(state.replayed)] != state.replayed:
            with seeded(self._init_seed):
                policy = LSTMPolicy(self.space.parameters, self.settings)
            state = _ControllerState(PolicyGradient(policy))
        for observation in observations[len(state.replayed) :]:
            state.replayed.append(observation)
            state.trainer.step([(observation.architecture.param_dict, observation.value)])
        self._state = state
        return state.trainer

    def propose(self, history: SearchHistory, rng: np.random.Generator) -> Architecture:
        policy = self.controller(history.observations).policy

        def draw() -> Architecture:
            for _ in range(100):
                params = policy.sample(rng)
                if self.space.is_valid(params):
                    return self.space.from_params(params)
            return self.space.sample(rng)

        return self.first_new(history, draw, rng)


@dataclass
class _ControllerState:
    trainer: PolicyGradient
    replayed: list[Observation] = field(default_factory=list)
