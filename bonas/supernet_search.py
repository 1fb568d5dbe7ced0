"""Searches that live on a weight-sharing supernet, by name: ENAS with shared weights and DARTS.

Unlike bonas's samplers, which propose architectures for an objective to measure, these searches train
one :class:`~bonas.training.supernet.Supernet` and read their answer off it:

* ``enas-ws`` (Pham et al. 2018): ENAS's LSTM controller (:class:`~bonas.samplers.enas.LSTMPolicy`)
  alternates with the shared weights. Each epoch, every training minibatch trains the path of a child
  the controller samples; then the controller takes ``controller_steps`` REINFORCE updates, each on
  ``controller_batch`` children rewarded by their accuracy on a validation minibatch with the inherited
  weights (batch norms on the minibatch's statistics, as ENAS; their running statistics untouched). At
  the end, ``final_candidates`` children sampled from the controller are scored on the whole validation
  split (batch norms recalibrated per child) and ranked.
* ``darts`` and ``darts-2nd``: DARTS's first- and second-order bilevel search
  (:class:`~bonas.training.darts.DartsSearch`); its derived cell is its answer.

:func:`supernet_search` runs one by name for a wall-time or CPU-time budget and returns a
:class:`SupernetSearchResult` whose candidates are meant to be retrained stand-alone (the validation
split is what these searches learn from; the test split is never read).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from bonas.architecture import Architecture
from bonas.errors import InvalidArgumentError, unknown_name
from bonas.samplers.enas import ControllerSettings, LSTMPolicy, PolicyGradient
from bonas.spaces.base import SearchSpace
from bonas.torch_training import seeded
from bonas.training.darts import DartsSearch, DartsSettings
from bonas.training.datasets import DatasetSplits, load_dataset
from bonas.training.networks import NetworkSettings
from bonas.training.supernet import Supernet
from bonas.training.weight_sharing import SupernetSettings, SupernetTrainer

logger = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True)
class ENASSettings:
    """ENAS's alternation (sizes scaled down from ENAS's CIFAR-10 search, which a CPU cannot afford).

    Args:
        epochs: shared-weight epochs, each followed by the controller's steps (a time budget may stop
            earlier). The shared weights' optimiser and schedule are the :class:`SupernetSettings`.
        controller_steps: controller updates after each epoch (ENAS: 2,000 on CIFAR-10).
        controller_batch: children per controller update, each rewarded on its own validation minibatch.
        reward_batch_size: validation images per reward.
        final_candidates: children sampled from the final controller and scored on the whole validation
            split (distinct; fewer if the controller keeps sampling the same ones).
        controller: the LSTM controller and its REINFORCE settings.
    """

    epochs: int = 10
    controller_steps: int = 20
    controller_batch: int = 5
    reward_batch_size: int = 128
    final_candidates: int = 20
    controller: ControllerSettings = field(default_factory=ControllerSettings)

    def __post_init__(self) -> None:
        for name in (
            "epochs",
            "controller_steps",
            "controller_batch",
            "reward_batch_size",
            "final_candidates",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(f"ENASSettings.{name} must be an integer >= 1, got {value!r}.")


@dataclass
class SupernetSearchResult:
    """What a supernet search found.

    Args:
        method: the search's name.
        candidates: architectures to retrain stand-alone, best first, with their inherited-weight
            validation accuracy in percent (None where the search does not score them: DARTS).
        seconds: time the search spent, by its clock.
        epochs: shared-weight epochs run.
        log: one record per epoch (losses, rewards, the controller's entropy, DARTS's weights).
    """

    method: str
    candidates: list[tuple[Architecture, float | None]]
    seconds: float
    epochs: int
    log: list[dict[str, Any]] = field(default_factory=list)

    @property
    def architecture(self) -> Architecture:
        """The search's answer: its first candidate."""
        return self.candidates[0][0]


# -- ENAS with shared weights -------------------------------------------------------------------------


class ENASSearch:
    """ENAS's controller alternating with a supernet's shared weights (see the module docstring).

    Args:
        space: the space (every architecture a path of the supernet: NB201, or a small DAG space).
        data: weights train on ``train``, rewards and final scores come from ``val``.
        network: the supernet's width and depth.
        supernet_settings: optimiser, schedule, batch size and device of the shared weights.
        settings: the alternation and the controller.
        seed: seed of the supernet's and controller's weights and of the children drawn.
    """

    def __init__(
        self,
        space: SearchSpace,
        data: DatasetSplits,
        *,
        network: NetworkSettings | None = None,
        supernet_settings: SupernetSettings | None = None,
        settings: ENASSettings | None = None,
        seed: int = 0,
    ) -> None:
        self.space = space
        self.settings = settings or ENASSettings()
        supernet_settings = supernet_settings or SupernetSettings(seed=seed, epochs=self.settings.epochs)
        with seeded(seed):
            supernet = Supernet.for_space(
                space, input_shape=data.input_shape, num_classes=data.num_classes, settings=network
            )
            policy = LSTMPolicy(space.parameters, self.settings.controller)
        self.trainer = SupernetTrainer(supernet, data, supernet_settings, population=space)
        self.supernet = self.trainer.supernet
        self.controller = PolicyGradient(policy)
        self.rng = np.random.default_rng(seed)
        self._val = (data.val_x.to(self.trainer.device), data.val_y.to(self.trainer.device))
        self.epochs_done = 0

    def sample(self) -> Architecture:
        """A child drawn from the controller (a random architecture if it keeps drawing invalid ones)."""
        for _ in range(100):
            params = self.controller.policy.sample(self.rng)
            if self.space.is_valid(params):
                return self.space.from_params(params)
        return self.space.sample(self.rng)

    def reward(self, architecture: Architecture) -> float:
        """Accuracy in [0, 1] of ``architecture``'s path on a random validation minibatch (ENAS's reward)."""
        x, y = self._val
        index = torch.from_numpy(
            self.rng.choice(len(y), size=min(self.settings.reward_batch_size, len(y)), replace=False)
        ).to(y.device)
        with torch.no_grad(), _batch_statistics(self.supernet):
            logits = self.supernet(x[index], self.supernet.path(architecture))
        return float((logits.argmax(dim=1) == y[index]).float().mean())

    def train_shared(self, steps: int) -> float:
        """``steps`` minibatches of shared-weight training, each on a child the controller samples."""
        return self.trainer.train_steps(lambda _step: self.supernet.path(self.sample()), steps)

    def train_controller(self, steps: int) -> dict[str, float]:
        """``steps`` REINFORCE updates; returns the mean reward and the controller's mean entropy."""
        rewards, entropies = [], []
        for _ in range(steps):
            children = [self.sample() for _ in range(self.settings.controller_batch)]
            batch = [(child.param_dict, self.reward(child)) for child in children]
            self.controller.step(batch)
            rewards += [reward for _, reward in batch]
            with torch.no_grad():
                entropies.append(float(self.controller.policy.walk(given=batch[0][0]).entropy))
        return {"reward": float(np.mean(rewards)), "entropy": float(np.mean(entropies))}

    def fit(
        self, *, max_seconds: float | None = None, clock: Clock = time.perf_counter
    ) -> SupernetSearchResult:
        """Alternate for the settings' epochs, or within ``max_seconds`` by ``clock``, then rank candidates.

        With a time limit, the settings' epochs are an upper bound: after the first epoch, the run is
        shortened to the epochs the limit affords at that epoch's cost, after reserving the final
        ranking's (one scoring timed, times ``final_candidates``), and the shared weights' cosine
        schedule with it. The limit is also checked every few minibatches and controller steps.
        """
        started = clock()
        planned = self.settings.epochs
        reserve = 0.0

        def out_of_time() -> bool:
            return max_seconds is not None and clock() - started > max_seconds - reserve

        log: list[dict[str, Any]] = []
        steps = self.trainer.steps_per_epoch
        chunk = max(1, steps // 10)
        while self.epochs_done < planned and not out_of_time():
            losses = []
            for done in range(0, steps, chunk):
                losses.append(self.train_shared(min(chunk, steps - done)))
                if out_of_time():
                    break
            record: dict[str, Any] = {"epoch": self.epochs_done + 1, "train_loss": float(np.mean(losses))}
            rewards, entropies = [], []
            while len(rewards) < self.settings.controller_steps and not out_of_time():
                stats = self.train_controller(1)
                rewards.append(stats["reward"])
                entropies.append(stats["entropy"])
            self.epochs_done += 1
            record.update(
                controller_steps=len(rewards),
                reward=float(np.mean(rewards)) if rewards else math.nan,
                entropy=float(np.mean(entropies)) if entropies else math.nan,
            )
            log.append(record)
            logger.info("ENAS epoch %d: %s", record["epoch"], record)
            if max_seconds is not None and self.epochs_done == 1:
                epoch_cost = clock() - started
                timed = clock()
                self.trainer.score([self.sample()])
                reserve = (clock() - timed) * self.settings.final_candidates
                affordable = int((max_seconds - reserve - (clock() - started)) / max(epoch_cost, 1e-9)) + 1
                planned = max(1, min(planned, affordable))
                self.trainer.settings = replace(self.trainer.settings, epochs=planned)
        candidates = self.ranked_candidates()
        return SupernetSearchResult("enas-ws", candidates, clock() - started, self.epochs_done, log)

    def ranked_candidates(self) -> list[tuple[Architecture, float | None]]:
        """``final_candidates`` distinct children of the controller, best inherited-weight score first."""
        children: dict[str, Architecture] = {}
        for _ in range(20 * self.settings.final_candidates):
            child = self.sample()
            children.setdefault(child.canonical_hash, child)
            if len(children) == self.settings.final_candidates:
                break
        architectures = list(children.values())
        scores = self.trainer.score(architectures)
        order = sorted(range(len(architectures)), key=lambda i: -scores[i])
        return [(architectures[i], float(scores[i])) for i in order]


@contextmanager
def _batch_statistics(model: nn.Module) -> Iterator[None]:
    """Train-mode batch norms (the minibatch's own statistics) that leave their running statistics alone."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    was_training = model.training
    try:
        for m in norms:
            m.momentum = 0.0  # running = (1 - 0) * running + 0 * batch: unchanged
        model.train()
        yield
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        model.train(was_training)


# -- Searches by name ----------------------------------------------------------------------------------


def _enas(
    space: SearchSpace,
    data: DatasetSplits,
    *,
    network: NetworkSettings | None,
    seed: int,
    max_seconds: float | None,
    clock: Clock,
    **options: Any,
) -> SupernetSearchResult:
    search = ENASSearch(space, data, network=network, seed=seed, **options)
    return search.fit(max_seconds=max_seconds, clock=clock)


def _darts(order: int) -> Callable[..., SupernetSearchResult]:
    def run(
        space: SearchSpace,
        data: DatasetSplits,
        *,
        network: NetworkSettings | None,
        seed: int,
        max_seconds: float | None,
        clock: Clock,
        settings: DartsSettings | None = None,
    ) -> SupernetSearchResult:
        settings = settings or DartsSettings(seed=seed, order=order)
        if settings.order != order:
            raise InvalidArgumentError(
                f"Search 'darts{'' if order == 1 else '-2nd'}' runs order {order}, but settings.order is "
                f"{settings.order}; use {'darts' if settings.order == 1 else 'darts-2nd'} instead."
            )
        with seeded(seed):
            supernet = Supernet.for_space(
                space, input_shape=data.input_shape, num_classes=data.num_classes, settings=network
            )
        result = DartsSearch(supernet, data, settings, space=space).fit(max_seconds=max_seconds, clock=clock)
        log = [
            {
                "epoch": e.epoch,
                "train_loss": e.train_loss,
                "val_loss": e.val_loss,
                "derived": e.derived,
                "weights": {f"{s}->{t}": w for (s, t), w in e.weights.items()},
            }
            for e in result.epochs
        ]
        name = "darts" if order == 1 else "darts-2nd"
        assert isinstance(result.architecture, Architecture)  # a space was given
        return SupernetSearchResult(
            name, [(result.architecture, None)], result.seconds, len(result.epochs), log
        )

    return run


_SEARCHES: dict[str, Callable[..., SupernetSearchResult]] = {
    "enas-ws": _enas,
    "darts": _darts(1),
    "darts-2nd": _darts(2),
}


#: The options (``settings`` objects) each search takes.
#: Each search's options and the type each must have.
_OPTIONS: dict[str, dict[str, type]] = {
    "enas-ws": {"settings": ENASSettings, "supernet_settings": SupernetSettings},
    "darts": {"settings": DartsSettings},
    "darts-2nd": {"settings": DartsSettings},
}


def supernet_search_names() -> list[str]:
    return sorted(_SEARCHES)


def supernet_search(
    name: str,
    space: SearchSpace,
    data: DatasetSplits | str,
    *,
    network: NetworkSettings | None = None,
    seed: int = 0,
    max_seconds: float | None = None,
    clock: Clock = time.perf_counter,
    **options: Any,
) -> SupernetSearchResult:
    """Run the supernet search ``name`` (:func:`supernet_search_names`) on ``space`` and ``data``.

    Args:
        name: ``enas-ws``, ``darts`` or ``darts-2nd``.
        space: NB201 or a space whose architectures are paths of one supernet.
        data: the splits (weights on ``train``; rewards, architecture weights and scores on ``val``), or
            a dataset name (:func:`bonas.training.datasets.load_dataset` with its defaults).
        network: the supernet's width and depth (NB201's published size by default).
        seed: seed of every random choice.
        max_seconds: a time budget by ``clock`` (None: the settings' epochs).
        clock: ``time.perf_counter`` (wall time) or ``time.process_time`` (this process's CPU time).
        options: the search's settings: ``settings=ENASSettings(...)`` and
            ``supernet_settings=SupernetSettings(...)`` for ``enas-ws``; ``settings=DartsSettings(...)``
            for DARTS.

    Returns:
        the candidates to retrain stand-alone, best first.
    """
    if name not in _SEARCHES:
        raise unknown_name("supernet search", name, _SEARCHES)
    if max_seconds is not None and not max_seconds >= 0:
        raise InvalidArgumentError(f"max_seconds must be non-negative or None, got {max_seconds!r}.")
    if not callable(clock):
        raise InvalidArgumentError(
            f"clock must be a function returning seconds (time.perf_counter or time.process_time), got {clock!r}."
        )
    unknown = sorted(set(options) - set(_OPTIONS[name]))
    if unknown:
        raise InvalidArgumentError(
            f"Supernet search {name!r} takes no option {', '.join(map(repr, unknown))}; its options are "
            f"{', '.join(_OPTIONS[name])}."
        )
    for option, value in options.items():
        expected = _OPTIONS[name][option]
        if value is not None and not isinstance(value, expected):
            raise InvalidArgumentError(
                f"Supernet search {name!r} takes {option}={expected.__name__}(...), got {type(value).__name__}: "
                f"{value!r}."
            )
    if isinstance(data, str):
        data = load_dataset(data)
    return _SEARCHES[name](
        space, data, network=network, seed=seed, max_seconds=max_seconds, clock=clock, **options
    )
