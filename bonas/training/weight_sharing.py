"""Training a :class:`~bonas.training.supernet.Supernet` and scoring architectures by inherited weights.

:class:`SupernetTrainer` owns one supernet, its optimiser and the data. Training regimes
(:data:`REGIMES`) decide which choice each minibatch runs:

* ``uniform``: one architecture drawn uniformly per minibatch (single-path one-shot, SPOS);
* ``fair``: strict fairness (FairNAS): within every ``K`` consecutive minibatches each edge runs each
  of its ``K`` candidate operations once (a fresh permutation per edge), so every operation gets the
  same number of updates; for templates where every combination is an architecture (NB201);
* ``warmup``: the whole supernet first (every edge a uniform mixture of its candidates, as DARTS
  starts) for ``warmup_epochs``, then ``uniform``;
* ``auto`` (the default): the regime that ranks best per CPU second where measured, today ``uniform``
  on every template. On the weight-sharing bench (40 cells, a ground truth of 4 training seeds, 20
  supernets per regime, Kendall tau mean ± std) ``uniform`` ranked 0.159 ± 0.098 at 12 epochs and
  0.324 ± 0.119 at 24, balanced paths (``fair``) 0.113 ± 0.111 and 0.290 ± 0.110, and ``warmup``
  0.220 ± 0.100 and 0.348 ± 0.103 for 27% and 40% more CPU time than ``uniform`` (which reached 0.359
  ± 0.082 at 36 epochs, as costly as ``warmup:24``).

:meth:`SupernetTrainer.score` recalibrates the batch-norm statistics of each architecture's path on a
fixed set of training batches and returns its validation accuracy: the inherited-weight score.
:meth:`SupernetTrainer.train_on` trains on a given set of architectures only (BONAS's batches: the
union as a whole, then one of them per minibatch). ENAS-style alternation calls
:meth:`SupernetTrainer.train_steps` with its own choice per step.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from bonas.architecture import Architecture
from bonas.errors import InvalidArgumentError, SearchSpaceTooLargeError, unknown_name
from bonas.spaces.base import SearchSpace
from bonas.torch_training import resolve_device
from bonas.training.datasets import DatasetSplits
from bonas.training.supernet import Choice, Mixture, SubnetPath, Supernet, SupernetCheckpointError

logger = logging.getLogger(__name__)

REGIMES = ("auto", "uniform", "fair", "warmup")
SCHEDULES = ("cosine", "constant")

#: Draws of a space before uniform single-path training takes a cell whose output is a constant.
_CONNECTED_TRIES = 100

#: Where architectures come from: a space (sampled uniformly) or a fixed list (drawn uniformly).
Population = SearchSpace | Sequence[Architecture]


@dataclass(frozen=True)
class SupernetSettings:
    """How a supernet is trained and how it scores architectures.

    Args:
        epochs: passes over the training split (the one-shot budget; the cosine schedule's length).
        regime: ``auto``, ``uniform``, ``fair`` or ``warmup`` (see the module docstring).
        warmup_epochs: for ``warmup``, the first epochs that train the whole supernet.
        batch_size: training minibatch size.
        lr: SGD (Nesterov momentum 0.9) learning rate.
        weight_decay: SGD weight decay.
        schedule: ``cosine`` (to 0 over ``epochs``) or ``constant`` (for supernets trained batch after
            batch, whose total length is not known).
        grad_clip: gradient-norm clip (None: none).
        recalibration_batches: training minibatches whose statistics each scored path's batch norms get.
        score_size: validation images a score is measured on (the first ones of the split, the same for
            every architecture); None for all. Fewer make a score cheaper and noisier.
        seed: seed of the minibatch order and of the architectures drawn.
        device: ``auto`` (CUDA when available) or a torch device string.
    """

    epochs: int = 10
    regime: str = "auto"
    warmup_epochs: int = 2
    batch_size: int = 64
    lr: float = 0.05
    weight_decay: float = 3e-4
    schedule: str = "cosine"
    grad_clip: float | None = 5.0
    recalibration_batches: int = 4
    score_size: int | None = None
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.regime not in REGIMES:
            raise unknown_name("supernet training regime", self.regime, REGIMES)
        if self.schedule not in SCHEDULES:
            raise unknown_name("learning-rate schedule", self.schedule, SCHEDULES)
        for name in ("epochs", "batch_size", "recalibration_batches"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(f"SupernetSettings.{name} must be an integer >= 1, got {value!r}.")
        if isinstance(self.warmup_epochs, bool) or not isinstance(self.warmup_epochs, int):
            raise InvalidArgumentError(
                f"SupernetSettings.warmup_epochs must be a whole number of epochs, got {self.warmup_epochs!r}."
            )
        if self.warmup_epochs < 0 or (self.regime == "warmup" and self.warmup_epochs > self.epochs):
            raise InvalidArgumentError(
                f"SupernetSettings.warmup_epochs must lie in 0..epochs={self.epochs}, got {self.warmup_epochs!r}."
            )
        if self.score_size is not None and (
            isinstance(self.score_size, bool) or not isinstance(self.score_size, int) or self.score_size < 1
        ):
            raise InvalidArgumentError(
                f"SupernetSettings.score_size must be None or an integer >= 1, got {self.score_size!r}."
            )
        if not self.lr > 0:
            raise InvalidArgumentError(f"SupernetSettings.lr must be positive, got {self.lr!r}.")
        if not (isinstance(self.weight_decay, int | float) and 0 <= self.weight_decay < math.inf):
            raise InvalidArgumentError(
                f"SupernetSettings.weight_decay must be a number >= 0, got {self.weight_decay!r}."
            )
        if self.grad_clip is not None and not (
            isinstance(self.grad_clip, int | float) and self.grad_clip > 0
        ):
            raise InvalidArgumentError(
                f"SupernetSettings.grad_clip must be None or a positive number, got {self.grad_clip!r}."
            )
        if self.device != "auto":  # a misspelt device fails here (whether CUDA is there is seen at use)
            try:
                torch.device(self.device)
            except (RuntimeError, TypeError):
                raise InvalidArgumentError(
                    f"SupernetSettings.device must be 'auto', 'cpu', 'cuda' or 'cuda:<index>', got {self.device!r}."
                ) from None


class SupernetTrainer:
    """Trains one supernet on ``data`` and scores architectures by their inherited weights.

    Args:
        supernet: the supernet (moved to the settings' device).
        data: the dataset splits (validation scores; the test split is never used here).
        settings: the recipe.
        population: the architectures single-path training draws from: a space (uniformly sampled) or
            a list. Default: the supernet's space is not known here, so give it for ``uniform``.
    """

    def __init__(
        self,
        supernet: Supernet,
        data: DatasetSplits,
        settings: SupernetSettings | None = None,
        *,
        population: Population | None = None,
    ) -> None:
        self.settings = settings or SupernetSettings()
        if tuple(supernet.input_shape) != tuple(data.input_shape) or supernet.num_classes != data.num_classes:
            raise InvalidArgumentError(
                f"The supernet takes inputs of shape {tuple(supernet.input_shape)} and {supernet.num_classes} "
                f"classes; {data!r} has {tuple(data.input_shape)} and {data.num_classes}. Build the supernet for "
                "the data: Supernet.for_space(space, input_shape=data.input_shape, num_classes=data.num_classes)."
            )
        self.device = resolve_device(self.settings.device)
        self.supernet = supernet.to(self.device)
        self.data = data
        self.population = population
        self._tensors = {
            name: getattr(data, name).to(self.device) for name in ("train_x", "train_y", "val_x", "val_y")
        }
        if len(data.train_y) == 0 or len(data.val_y) == 0:
            raise ValueError(f"{data.name} needs training and validation images to train a supernet on.")
        s = self.settings
        self._parameters = list(supernet.parameters())
        self.optimizer = torch.optim.SGD(
            self._parameters, lr=s.lr, momentum=0.9, nesterov=True, weight_decay=s.weight_decay
        )
        self.steps_per_epoch = math.ceil(len(data.train_y) / s.batch_size)
        self.epochs_done = 0
        self.steps_done = 0
        self.train_seconds = 0.0
        self.rng = np.random.default_rng(s.seed)
        self.generator = torch.Generator().manual_seed(s.seed)
        self._fair_queue: list[SubnetPath] = []
        self.regime = self._resolve_regime()
        # A fixed set of training batches for every recalibration, so scores are comparable.
        order = torch.randperm(len(data.train_y), generator=torch.Generator().manual_seed(s.seed + 1))
        size = min(len(order), s.recalibration_batches * s.batch_size)
        self._calibration = order[:size].to(self.device).split(s.batch_size)

    # -- Training -------------------------------------------------------------------------------------

    def train(self, epochs: int | None = None) -> list[float]:
        """Train for ``epochs`` (default: the settings' ``epochs`` minus those done) in the settings' regime.

        Returns:
            The mean training loss of each epoch.
        """
        s = self.settings
        epochs = s.epochs - self.epochs_done if epochs is None else epochs
        losses = []
        for _ in range(epochs):
            if self.regime == "warmup" and self.epochs_done < s.warmup_epochs:
                mixture = self.uniform_mixture()
                losses.append(self.train_steps(lambda _step, m=mixture: m, self.steps_per_epoch))
            elif self.regime == "fair":
                losses.append(self.train_steps(lambda _step: self._fair_path(), self.steps_per_epoch))
            else:
                losses.append(self.train_steps(lambda _step: self._uniform_path(), self.steps_per_epoch))
            self.epochs_done += 1
            logger.debug("supernet epoch %d: loss %.4f", self.epochs_done, losses[-1])
        return losses

    def train_on(self, architectures: Sequence[Architecture], *, whole_epochs: int, path_epochs: int) -> None:
        """Train on ``architectures`` only: their union as a whole (each edge the mean of the operations
        any of them uses there) for ``whole_epochs``, then one of them per minibatch for ``path_epochs``.

        What BONAS does with each proposed batch before scoring it.
        """
        if not architectures:
            raise ValueError("train_on() needs at least one architecture.")
        paths = [self.supernet.path(a) for a in architectures]
        union = self.union_mixture(paths)
        for _ in range(whole_epochs):
            self.train_steps(lambda _step: union, self.steps_per_epoch)
            self.epochs_done += 1
        for _ in range(path_epochs):
            self.train_steps(lambda _step: paths[int(self.rng.integers(len(paths)))], self.steps_per_epoch)
            self.epochs_done += 1

    def train_steps(self, choose: Callable[[int], Choice], steps: int) -> float:
        """``steps`` SGD steps, minibatch ``i`` running ``choose(i)``; returns the mean loss.

        Minibatches follow one seeded permutation of the training split per pass.
        """
        s = self.settings
        x_all, y_all = self._tensors["train_x"], self._tensors["train_y"]
        self.supernet.train()
        started = time.perf_counter()
        total, count = 0.0, 0
        for step in range(steps):
            position = self.steps_done % self.steps_per_epoch
            if position == 0:
                self._order = torch.randperm(len(y_all), generator=self.generator).to(self.device)
            index = self._order[position * s.batch_size : (position + 1) * s.batch_size]
            loss = self.step(x_all[index], y_all[index], choose(step))
            total += loss * len(index)
            count += len(index)
        self.train_seconds += time.perf_counter() - started
        return total / max(count, 1)

    def step(self, x: torch.Tensor, y: torch.Tensor, choice: Choice) -> float:
        """One SGD step of ``choice`` on a minibatch; returns its loss."""
        s = self.settings
        self._set_lr()
        loss = nn.functional.cross_entropy(self.supernet(x, choice), y)
        if not torch.isfinite(loss):
            from bonas.training.trainer import DivergedError

            raise DivergedError(
                f"Supernet training diverged: loss {float(loss)} at step {self.steps_done} (lr={s.lr}). "
                "Lower the learning rate."
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if s.grad_clip is not None:
            # A single path leaves most weights without a gradient: clip those it has (walking the whole
            # module tree for them each step cost about 7% of a CPU step).
            nn.utils.clip_grad_norm_([p for p in self._parameters if p.grad is not None], s.grad_clip)
        self.optimizer.step()
        self.steps_done += 1
        return float(loss.detach())

    def _set_lr(self) -> None:
        s = self.settings
        if s.schedule == "constant":
            lr = s.lr
        else:
            total = s.epochs * self.steps_per_epoch
            lr = 0.5 * s.lr * (1 + math.cos(math.pi * min(self.steps_done, total) / total))
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    # -- Choices ----------------------------------------------------------------------------------------

    def _uniform_path(self) -> SubnetPath:
        population = self.population
        if population is None:
            raise ValueError(
                "Uniform single-path training needs population= (the space, or the architectures to share)."
            )
        if isinstance(population, SearchSpace):
            return self.supernet.path(self._sample_connected(population))
        return self.supernet.path(population[int(self.rng.integers(len(population)))])

    def _sample_connected(self, space: SearchSpace) -> Architecture:
        """An architecture drawn uniformly from those of ``space`` whose cells connect input to output.

        A cell without such a path (every route through a zero operation) makes the network's output
        a constant, so a step on it teaches nothing but the class prior. Skipping those paths (2% of
        NB201) moved the weight-sharing bench's Kendall tau at 24 epochs by less than one supernet's
        seed moves it (0.324-0.358 over 20 supernets with, 0.306-0.335 without; see the README). A space
        that (almost) only holds such cells is trained on what it draws.
        """
        for _ in range(_CONNECTED_TRIES):
            architecture = space.sample(self.rng)
            if all(cell.is_connected() for _, cell in architecture.cells):
                return architecture
        return architecture

    def _resolve_regime(self) -> str:
        """The settings' regime, ``auto`` resolved (see the module docstring); ``fair`` checked."""
        regime = self.settings.regime
        if regime == "auto":
            return "uniform"
        if regime == "fair" and (obstacle := self._fair_obstacle()) is not None:
            raise InvalidArgumentError(
                f"SupernetSettings.regime='fair' cannot train this supernet: {obstacle}. Use regime='uniform' "
                "(or 'auto')."
            )
        return regime

    def _fair_obstacle(self) -> str | None:
        """Why strict fairness cannot train this supernet on its population, or None where it can.

        Fair rounds run every combination of the edges' candidates, so every combination must be an
        architecture of the population: a space of exactly as many architectures as combinations.
        """
        template = self.supernet.template
        sizes = sorted({len(edge.ops) for edge in template.edges})
        if len(sizes) != 1:
            return f"its edges hold different numbers of candidate operations ({sizes})"
        if any(len(labels) != 1 for labels in template.nodes):
            return "some of its nodes have more than one candidate label"
        population = self.population
        if population is None:
            return None  # nothing to stay within: the template's combinations are the architectures
        if not isinstance(population, SearchSpace):
            return "the population is a list of architectures, and fair rounds would leave it"
        combinations = sizes[0] ** len(template.edges)
        try:
            size = population.size()
        except SearchSpaceTooLargeError:
            size = None
        if size != combinations:
            return (
                f"space {population.name!r} has {size if size is not None else 'too many to count'} "
                f"architectures, not one per combination of the edges' candidates ({combinations})"
            )
        return None

    def _fair_path(self) -> SubnetPath:
        """The next path of strict fairness: per edge, the candidates in a fresh random order."""
        if not self._fair_queue:
            template = self.supernet.template
            k = len(template.edges[0].ops)
            orders = [self.rng.permutation(k) for _ in template.edges]
            zeros = tuple(0 for _ in template.nodes)
            self._fair_queue = [
                SubnetPath(tuple((int(order[i]),) for order in orders), zeros) for i in range(k)
            ]
        return self._fair_queue.pop(0)

    def uniform_mixture(self) -> Mixture:
        """Every edge the mean of all its candidates (DARTS's mixture at zero architecture weights)."""
        return Mixture(
            [
                torch.full((len(edge.ops),), 1.0 / len(edge.ops), device=self.device)
                for edge in self.supernet.template.edges
            ]
        )

    def union_mixture(self, paths: Sequence[SubnetPath]) -> Mixture:
        """Every edge the mean of the candidates any of ``paths`` runs there (zero where none does)."""
        weights, active = [], []
        for e, edge in enumerate(self.supernet.template.edges):
            used = tuple(sorted({j for path in paths for j in path.edges[e]}))
            w = torch.zeros(len(edge.ops), device=self.device)
            if used:
                w[list(used)] = 1.0 / len(used)
            weights.append(w)
            active.append(used)
        return Mixture(weights, active=tuple(active))

    # -- Scoring ---------------------------------------------------------------------------------------

    def score(self, architectures: Sequence[Architecture]) -> list[float]:
        """Validation accuracy (percent) of each architecture with the supernet's weights, its batch norms
        recalibrated on the fixed training batches first."""
        batches = [self._tensors["train_x"][index] for index in self._calibration]
        size = self.settings.score_size
        x, y = self._tensors["val_x"][:size], self._tensors["val_y"][:size]
        scores = []
        for architecture in architectures:
            path = self.supernet.path(architecture)
            self.supernet.recalibrate(path, batches)
            scores.append(self.supernet.accuracy(path, x, y))
        return scores

    # -- Checkpoints --------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Progress to save beside the weights (optimiser, counters, random states)."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "epochs_done": self.epochs_done,
            "steps_done": self.steps_done,
            "train_seconds": self.train_seconds,
            "generator": self.generator.get_state(),
            "rng": repr(self.rng.bit_generator.state),
            "regime": self.regime,
            # The rest of the current round of fair paths (a round may span two epochs).
            "fair_queue": [
                [[list(ops) for ops in path.edges], list(path.nodes)] for path in self._fair_queue
            ],
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state` (the weights are loaded separately, with the supernet)."""
        import ast

        epochs_done = int(state["epochs_done"])
        recorded = state.get("regime")
        if epochs_done < self.settings.epochs and recorded != self.regime:
            if recorded is None:
                logger.warning(
                    "The supernet checkpoint does not record its training regime (written by an older bonas); "
                    "its remaining epochs train in regime %r.",
                    self.regime,
                )
            else:
                raise SupernetCheckpointError(
                    f"The supernet checkpoint was trained in regime {recorded!r} and has epochs left, but this "
                    f"trainer's regime is {self.regime!r}; pass SupernetSettings(regime={recorded!r}) to continue "
                    "it as it started."
                )
        self.optimizer.load_state_dict(state["optimizer"])
        self.epochs_done = epochs_done
        self.steps_done = int(state["steps_done"])
        self.train_seconds = float(state["train_seconds"])
        self.generator.set_state(state["generator"])
        self.rng.bit_generator.state = ast.literal_eval(state["rng"])
        self._fair_queue = [
            SubnetPath(tuple(tuple(ops) for ops in edges), tuple(nodes))
            for edges, nodes in state.get("fair_queue", [])
        ]
        if self.steps_done % self.steps_per_epoch:
            # A checkpoint mid-epoch resumes with a fresh permutation for the rest of that epoch.
            self._order = torch.randperm(len(self.data.train_y), generator=self.generator).to(self.device)

    def save(self, file: Any, **extra: Any) -> None:
        """The supernet's weights and this trainer's progress in one checkpoint."""
        self.supernet.save(file, extra={"trainer": self.state(), **extra})

    def load(self, file: Any, *, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Continue from a checkpoint written by :meth:`save`; returns its other ``extra`` values
        (``payload``: the file's content where already read, as :meth:`Supernet.load_state` takes it).

        Raises:
            SupernetCheckpointError: the checkpoint belongs to another supernet.
        """
        extra = self.supernet.load_state(file, payload=payload)
        if "trainer" in extra:
            self.restore(extra.pop("trainer"))
        return extra
