"""What the neural surrogates share: their training options, losses and minibatch training.

A neural surrogate trains on CUDA when ``torch.cuda.is_available()`` and on the CPU otherwise, unless
given a ``device``; its inputs and outputs stay CPU float64 tensors, as the :class:`Surrogate` contract
and the GP surrogates have them. Every fit runs under :func:`~bonas.torch_training.seeded`, which seeds
torch's generators for the duration of the fit and restores them after, so a fit is reproducible and
leaves the caller's randomness untouched.

The device, seeding, standardisation and epoch loop are :mod:`bonas.torch_training`'s (shared with
NAO and the trainer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from bonas.torch_training import (
    seeded_generator,
    train_epochs,
)

#: Loss functions a neural surrogate can be trained with, by name.
LOSSES = ("mse", "mae")


def loss_function(name: str) -> torch.nn.Module:
    """The training loss called ``name`` (one of :data:`LOSSES`)."""
    return torch.nn.MSELoss() if name == "mse" else torch.nn.L1Loss()


@dataclass(frozen=True)
class TrainingOptions:
    """Adam training of a neural surrogate's network on the standardised values.

    Raises:
        ValueError: an option out of range (quoted).
    """

    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    loss: str = "mse"

    def __post_init__(self) -> None:
        epochs, batch_size = self.epochs, self.batch_size
        learning_rate, weight_decay, loss = self.learning_rate, self.weight_decay, self.loss
        if epochs < 1 or batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, but got ({epochs=}, {batch_size=}).")
        if not learning_rate > 0 or weight_decay < 0:
            raise ValueError(
                f"Need learning_rate > 0 and weight_decay >= 0, but got ({learning_rate=}, {weight_decay=})."
            )
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, but got {loss=!r}.")


def train_by_minibatches(
    network: torch.nn.Module,
    batch_loss: Callable[[Tensor], Tensor],
    *,
    n: int,
    options: TrainingOptions,
    seed: int,
    device: torch.device,
    members: int | None = None,
) -> None:
    """Train ``network`` from scratch with a new Adam on shuffled minibatches of ``n`` points, in place.

    Call it inside :func:`seeded`: the minibatch order comes from a new CPU generator seeded with ``seed``,
    so every fit walks the data in the same orders (see :func:`bonas.torch_training.train_epochs`).

    Args:
        network: the network to train (left in training mode).
        batch_loss: the loss of a minibatch given its indices on ``device``: a ``b`` tensor, or
            ``members x b`` when ``members`` is given.
        n: number of training points.
        options: epochs, minibatch size and Adam's learning rate and weight decay.
        seed: seeds the minibatch order.
        device: where the indices go.
        members: None for one shuffled order per epoch; else each of ``members`` ensemble members walks
            the data in its own order, and the indices are ``members x b``.
    """
    optimiser = torch.optim.Adam(
        network.parameters(), lr=options.learning_rate, weight_decay=options.weight_decay
    )
    train_epochs(
        network,
        optimiser,
        batch_loss,
        n=n,
        epochs=options.epochs,
        batch_size=options.batch_size,
        generator=seeded_generator(seed),
        device=device,
        members=members,
    )


__all__ = [
    "LOSSES",
    "TrainingOptions",
    "loss_function",
    "train_by_minibatches",
]
