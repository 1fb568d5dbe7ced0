"""DARTS (Liu et al. 2019): a softmax over each edge's operations, descended on by bilevel gradients.

Every edge ``e`` of a :class:`~bonas.training.supernet.Supernet` gets architecture weights
``alpha_e`` (one per candidate operation) and computes the mixture ``sum_j softmax(alpha_e)_j op_j(x)``.
Training alternates two steps per minibatch pair:

1. **architecture step** on a validation minibatch: ``alpha`` moves along the gradient of the
   validation loss (Adam). *First order* takes ``grad_alpha L_val(w, alpha)`` at the current weights.
   *Second order* takes the gradient of ``L_val(w', alpha)`` at the weights after one virtual SGD step
   ``w' = w - xi grad_w L_train(w, alpha)``:

       grad_alpha L_val(w', alpha) - xi * grad^2_{alpha,w} L_train(w, alpha) . grad_w' L_val(w', alpha),

   the Hessian-vector product approximated by central finite differences of ``grad_alpha L_train`` at
   ``w +- eps v`` with ``v = grad_w' L_val(w', alpha)`` and ``eps = 0.01 / ||v||``, as DARTS does
   (:attr:`DartsSettings.hessian_eps`).
2. **weight step** on a training minibatch: SGD with momentum on ``L_train(w, alpha)``.

Weights learn on the training split, architecture weights on the validation split; the test split is
never read. The derived architecture takes, edge by edge, the operation of largest weight
(:meth:`DartsSearch.derive`; NB201: one operation per edge, ``none`` included, as NB201's own DARTS
baseline does), and is meant to be retrained stand-alone.

Two simplifications against DARTS's code, both documented where they act: the virtual step is plain SGD
with weight decay (no momentum term), and the batch norms keep their affine parameters (the supernet's
operations are the stand-alone ones, so inherited weights stay exact).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from bonas.architecture import ZERO_OPERATIONS, Architecture, Cell
from bonas.errors import InvalidArgumentError
from bonas.spaces.base import SearchSpace
from bonas.torch_training import resolve_device, seeded
from bonas.training.datasets import DatasetSplits
from bonas.training.supernet import Mixture, OutsideSupernetError, Supernet

logger = logging.getLogger(__name__)

#: Largest space whose best architecture under the weights :meth:`DartsSearch.derive` finds by scoring
#: every one (spaces where every combination of operations is valid take the per-edge argmax directly).
MAX_DERIVE_ENUMERATION = 100_000


@dataclass(frozen=True)
class DartsSettings:
    """DARTS's search recipe (defaults: DARTS's CIFAR-10 search unless said).

    Args:
        epochs: passes over the training split.
        order: 1 (first order) or 2 (second order: the unrolled gradient).
        batch_size: minibatch size of both splits.
        lr: SGD learning rate of the weights, annealed by a cosine to ``lr_min``.
        lr_min: the learning rate at the end.
        momentum: SGD momentum.
        weight_decay: L2 penalty of the weights.
        grad_clip: gradient-norm clip of the weights (None: none).
        arch_lr: Adam's learning rate for ``alpha``.
        arch_weight_decay: L2 penalty of ``alpha``.
        arch_betas: Adam's betas for ``alpha``.
        unrolled_lr: ``xi`` of the virtual step; None uses the weights' current learning rate (DARTS).
        hessian_eps: the finite-difference step of the Hessian-vector product is ``hessian_eps / ||v||``
            (DARTS: 0.01). Across ReLU kinks a step this size is a coarse estimate; smaller steps approach
            the exact product (tests/training/test_darts.py measures both).
        init_scale: ``alpha`` starts as ``init_scale * N(0, 1)``.
        seed: seed of ``alpha``'s initial values and of the minibatch orders.
        device: ``auto`` (CUDA when available) or a torch device string.
    """

    epochs: int = 10
    order: int = 1
    batch_size: int = 64
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float | None = 5.0
    arch_lr: float = 3e-4
    arch_weight_decay: float = 1e-3
    arch_betas: tuple[float, float] = (0.5, 0.999)
    unrolled_lr: float | None = None
    hessian_eps: float = 0.01
    init_scale: float = 1e-3
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.order not in (1, 2):
            raise InvalidArgumentError(f"DartsSettings.order must be 1 or 2, got {self.order!r}.")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(f"DartsSettings.{name} must be an integer >= 1, got {value!r}.")
        for name in ("lr", "arch_lr"):
            if not getattr(self, name) > 0:
                raise InvalidArgumentError(
                    f"DartsSettings.{name} must be positive, got {getattr(self, name)!r}."
                )
        if not 0 <= self.lr_min <= self.lr:
            raise InvalidArgumentError(
                f"DartsSettings.lr_min must lie in [0, lr={self.lr}], got {self.lr_min!r}."
            )
        if not self.hessian_eps > 0:
            raise InvalidArgumentError(
                f"DartsSettings.hessian_eps must be positive, got {self.hessian_eps!r}."
            )
        if self.unrolled_lr is not None and not self.unrolled_lr > 0:
            raise InvalidArgumentError(
                f"DartsSettings.unrolled_lr must be positive or None, got {self.unrolled_lr!r}."
            )


@dataclass
class DartsEpoch:
    """What one epoch of DARTS did.

    Args:
        epoch: 1-based epoch number.
        train_loss: mean training loss of the weight steps.
        val_loss: mean validation loss of the architecture steps.
        weights: per edge ``(source, target)``, ``{operation: softmax weight}`` at the epoch's end.
        derived: the derived cell's string form at the epoch's end.
        seconds: wall time of the epoch.
    """

    epoch: int
    train_loss: float
    val_loss: float
    weights: dict[tuple[int, int], dict[str, float]]
    derived: str
    seconds: float


@dataclass
class DartsResult:
    """A finished DARTS search: the derived architecture and the epochs that led to it."""

    architecture: Architecture | Cell
    epochs: list[DartsEpoch] = field(default_factory=list)
    seconds: float = 0.0


class DartsSearch:
    """DARTS on one supernet: architecture weights per edge and the bilevel updates.

    Args:
        supernet: the supernet (moved to the settings' device); its weights are trained in place.
        data: the splits (weights on ``train``, architecture weights on ``val``; ``test`` is never used).
        settings: the recipe.
        space: the space the derived architecture belongs to (None: :meth:`derive` returns a cell).
    """

    def __init__(
        self,
        supernet: Supernet,
        data: DatasetSplits,
        settings: DartsSettings | None = None,
        *,
        space: SearchSpace | None = None,
    ) -> None:
        self.settings = settings or DartsSettings()
        s = self.settings
        self.device = resolve_device(s.device)
        self.supernet = supernet.to(self.device)
        self.data = data
        self.space = space
        if len(data.train_y) == 0 or len(data.val_y) == 0:
            raise ValueError(f"{data.name} needs training and validation images for DARTS's two splits.")
        dtype = next(supernet.parameters()).dtype
        with seeded(s.seed):
            self.alphas = nn.ParameterList(
                nn.Parameter(s.init_scale * torch.randn(len(edge.ops), dtype=dtype).to(self.device))
                for edge in supernet.template.edges
            )
        self.weights = [p for p in supernet.parameters() if p.requires_grad]
        self.optimizer = torch.optim.SGD(
            self.weights, lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay
        )
        self.arch_optimizer = torch.optim.Adam(
            self.alphas.parameters(), lr=s.arch_lr, betas=s.arch_betas, weight_decay=s.arch_weight_decay
        )
        self._tensors = {
            name: getattr(data, name).to(self.device, dtype=dtype if name.endswith("_x") else None)
            for name in ("train_x", "train_y", "val_x", "val_y")
        }
        self.steps_per_epoch = math.ceil(len(data.train_y) / s.batch_size)
        self.steps_done = 0
        self.epochs_done = 0
        #: Epochs the cosine schedule spans: the settings', or fewer when a time limit affords fewer.
        self.schedule_epochs = s.epochs
        self.generator = torch.Generator().manual_seed(s.seed)

    # -- The relaxation -----------------------------------------------------------------------------

    def mixture(self) -> Mixture:
        """Each edge's softmax over its operations (with gradients to ``alpha``)."""
        return Mixture([torch.softmax(alpha, dim=-1) for alpha in self.alphas])

    def edge_weights(self) -> dict[tuple[int, int], dict[str, float]]:
        """Per edge ``(source, target)``, the softmax weight of each operation."""
        with torch.no_grad():
            return {
                (edge.source, edge.target): dict(
                    zip(edge.ops, torch.softmax(alpha, -1).double().cpu().tolist(), strict=True)
                )
                for edge, alpha in zip(self.supernet.template.edges, self.alphas, strict=True)
            }

    def loss(
        self, x: torch.Tensor, y: torch.Tensor, params: Mapping[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Cross-entropy of the mixture on ``(x, y)``, with the supernet's weights or ``params`` instead.

        Batch norms run in training mode (batch statistics), as during search; with ``params`` their
        running statistics are left as they were.
        """
        self.supernet.train()
        if params is None:
            return nn.functional.cross_entropy(self.supernet(x, self.mixture()), y)
        buffers = {name: b.clone() for name, b in self.supernet.named_buffers()}
        logits = functional_call(self.supernet, ({**params}, buffers), (x, self.mixture()))
        return nn.functional.cross_entropy(logits, y)

    # -- The architecture gradient ------------------------------------------------------------------

    def architecture_gradient(
        self, train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor]
    ) -> list[torch.Tensor]:
        """DARTS's gradient of the validation loss with respect to each edge's ``alpha``.

        Args:
            train: the training minibatch ``(x, y)`` of the virtual step (second order only).
            val: the validation minibatch ``(x, y)``.

        Returns:
            one tensor per edge, shaped like its ``alpha``.
        """
        alphas = list(self.alphas)
        if self.settings.order == 1:
            return list(
                torch.autograd.grad(self.loss(*val), alphas, allow_unused=True, materialize_grads=True)
            )
        xi = self.unrolled_lr()
        names = [name for name, p in self.supernet.named_parameters() if p.requires_grad]
        weights = dict(zip(names, self.weights, strict=True))
        # The virtual step w' = w - xi (grad_w L_train + weight_decay w).
        train_grads = torch.autograd.grad(
            self.loss(*train), self.weights, allow_unused=True, materialize_grads=True
        )
        unrolled = {
            name: (w - xi * (g + self.settings.weight_decay * w)).detach().requires_grad_(True)
            for (name, w), g in zip(weights.items(), train_grads, strict=True)
        }
        val_loss = self.loss(*val, params=unrolled)
        grads = torch.autograd.grad(
            val_loss, [*alphas, *unrolled.values()], allow_unused=True, materialize_grads=True
        )
        alpha_grads, v = list(grads[: len(alphas)]), grads[len(alphas) :]
        hessian_vector = self._hessian_vector(train, weights, v)
        return [g - xi * h for g, h in zip(alpha_grads, hessian_vector, strict=True)]

    def _hessian_vector(
        self,
        train: tuple[torch.Tensor, torch.Tensor],
        weights: Mapping[str, torch.Tensor],
        v: tuple[torch.Tensor, ...],
    ) -> list[torch.Tensor]:
        """``grad^2_{alpha,w} L_train(w, alpha) . v`` by central differences at ``w +- eps v``."""
        norm = torch.sqrt(sum((t.detach() ** 2).sum() for t in v))
        eps = self.settings.hessian_eps / max(float(norm), 1e-12)
        alphas = list(self.alphas)

        def grad_at(sign: float) -> tuple[torch.Tensor, ...]:
            shifted = {
                name: (w + sign * eps * t).detach() for (name, w), t in zip(weights.items(), v, strict=True)
            }
            return torch.autograd.grad(
                self.loss(*train, params=shifted), alphas, allow_unused=True, materialize_grads=True
            )

        plus, minus = grad_at(1.0), grad_at(-1.0)
        return [(p - m) / (2 * eps) for p, m in zip(plus, minus, strict=True)]

    def unrolled_lr(self) -> float:
        """``xi``: the settings' ``unrolled_lr``, else the weights' current learning rate (DARTS)."""
        if self.settings.unrolled_lr is not None:
            return self.settings.unrolled_lr
        return float(self.optimizer.param_groups[0]["lr"])

    # -- Training -----------------------------------------------------------------------------------

    def step(
        self, train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[float, float]:
        """One architecture step on ``val`` then one weight step on ``train``; returns both losses."""
        s = self.settings
        self._set_lr()
        gradients = self.architecture_gradient(train, val)
        self.arch_optimizer.zero_grad(set_to_none=True)
        for alpha, gradient in zip(self.alphas, gradients, strict=True):
            alpha.grad = gradient.detach()
        self.arch_optimizer.step()
        with torch.no_grad():
            val_loss = float(self.loss(*val))
        loss = self.loss(*train)
        if not torch.isfinite(loss):
            from bonas.training.trainer import DivergedError

            raise DivergedError(
                f"DARTS diverged: training loss {float(loss)} at step {self.steps_done} (lr={s.lr}). "
                "Lower the learning rate."
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if s.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.weights, s.grad_clip)
        self.optimizer.step()
        self.steps_done += 1
        return float(loss.detach()), val_loss

    def fit(
        self,
        epochs: int | None = None,
        *,
        max_seconds: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
        callback: Callable[[DartsEpoch], None] | None = None,
    ) -> DartsResult:
        """Run DARTS for ``epochs`` (default: the settings' remaining ones) or until ``max_seconds``.

        With a time limit, ``epochs`` is an upper bound: after the first epoch the run is shortened to
        the epochs the limit affords at that epoch's cost, and the cosine schedule with it (so the
        learning rate anneals by the end of the budget); the search also ends after the step that passes
        the limit. ``clock`` measures it (``time.process_time`` counts this process's CPU time).

        Returns:
            the derived architecture and one :class:`DartsEpoch` per epoch (the last one possibly partial).
        """
        epochs = self.settings.epochs - self.epochs_done if epochs is None else epochs
        started = clock()
        result = DartsResult(architecture=self.derive())
        first = self.epochs_done
        for _ in range(epochs):
            epoch_started = time.perf_counter()
            train_losses, val_losses = [], []
            for train, val in self._minibatches():
                train_loss, val_loss = self.step(train, val)
                train_losses.append(train_loss)
                val_losses.append(val_loss)
                if max_seconds is not None and clock() - started > max_seconds:
                    break
            self.epochs_done += 1
            record = DartsEpoch(
                epoch=self.epochs_done,
                train_loss=float(np.mean(train_losses)),
                val_loss=float(np.mean(val_losses)),
                weights=self.edge_weights(),
                derived=str(self.derive()),
                seconds=time.perf_counter() - epoch_started,
            )
            result.epochs.append(record)
            logger.info(
                "DARTS epoch %d: train loss %.3f, val loss %.3f, derived %s",
                record.epoch,
                record.train_loss,
                record.val_loss,
                record.derived,
            )
            if callback is not None:
                callback(record)
            if max_seconds is None:
                continue
            spent = clock() - started
            if spent > max_seconds:
                break
            if self.epochs_done == first + 1:
                affordable = max(1, int(max_seconds / max(spent, 1e-9)))
                epochs = min(epochs, affordable)
                self.schedule_epochs = first + epochs
            if self.epochs_done >= first + epochs:
                break
        result.architecture = self.derive()
        result.seconds = clock() - started
        return result

    def _minibatches(
        self,
    ) -> Iterator[tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]]:
        """One epoch of (training, validation) minibatch pairs; the validation split is cycled."""
        t = self._tensors
        size = self.settings.batch_size
        train_order = torch.randperm(len(t["train_y"]), generator=self.generator).to(self.device)
        val_order = torch.randperm(len(t["val_y"]), generator=self.generator).to(self.device)
        for step in range(self.steps_per_epoch):
            train_index = train_order[step * size : (step + 1) * size]
            start = (step * size) % len(val_order)
            val_index = val_order[start : start + size]
            if len(val_index) < min(size, len(val_order)):
                val_index = torch.cat([val_index, val_order[: min(size, len(val_order)) - len(val_index)]])
            yield (
                (t["train_x"][train_index], t["train_y"][train_index]),
                (t["val_x"][val_index], t["val_y"][val_index]),
            )

    def _set_lr(self) -> None:
        s = self.settings
        total = self.schedule_epochs * self.steps_per_epoch
        progress = min(self.steps_done, total) / total
        lr = s.lr_min + 0.5 * (s.lr - s.lr_min) * (1 + math.cos(math.pi * progress))
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    # -- The derived architecture -------------------------------------------------------------------

    def derive(self) -> Architecture | Cell:
        """The architecture of largest weight: each edge's operation of largest softmax weight.

        With a space, the architecture of the space whose operations have the largest summed log weight:
        the per-edge argmax when every combination is valid (NB201), the best valid one otherwise (found
        by scoring every architecture of a space of at most :data:`MAX_DERIVE_ENUMERATION`). Without a
        space, the cell of the per-edge argmax (``none`` drops its edge).

        Raises:
            OutsideSupernetError: the space is too large to enumerate and the per-edge argmax is not one
                of its architectures.
        """
        template = self.supernet.template
        with torch.no_grad():
            log_weights = [torch.log_softmax(alpha, -1).double().cpu().numpy() for alpha in self.alphas]
        ops = {
            (edge.source, edge.target): edge.ops[int(np.argmax(w))]
            for edge, w in zip(template.edges, log_weights, strict=True)
        }
        space = self.space
        if space is None:
            return Cell(
                nodes=tuple(labels[0] for labels in template.nodes),
                edges=tuple((s, t, op) for (s, t), op in ops.items() if op not in ZERO_OPERATIONS),
                inputs=(template.input,),
                output=template.output,
            )
        from bonas.spaces.nb201 import EDGES, NB201Space

        if isinstance(space, NB201Space):
            return space.from_operations(tuple(ops[edge] for edge in EDGES))
        if not space.is_enumerable or space.size() > MAX_DERIVE_ENUMERATION:
            raise OutsideSupernetError(
                f"Cannot derive an architecture of space {space.name!r} from DARTS's weights: it is too large "
                "to search for the best valid one. Use DartsSearch(space=None) to get the argmax cell."
            )

        zero = [
            next((j for j, op in enumerate(edge.ops) if op in ZERO_OPERATIONS), None)
            for edge in template.edges
        ]

        def score(architecture: Architecture) -> float:
            # An edge the architecture leaves out scores as its zero operation; without one it cannot be
            # read off a one-operation-per-edge mixture at all.
            total = 0.0
            edges = self.supernet.path(architecture).edges
            for w, chosen, j_zero in zip(log_weights, edges, zero, strict=True):
                if chosen:
                    total += float(sum(w[j] for j in chosen))
                elif j_zero is not None:
                    total += float(w[j_zero])
                else:
                    return -math.inf
            return total

        best = max(space.enumerate(), key=score)
        if score(best) == -math.inf:
            raise OutsideSupernetError(
                f"No architecture of space {space.name!r} takes one operation on every supernet edge; DARTS "
                "needs a zero operation ('none') on the edges an architecture may leave out."
            )
        return best
