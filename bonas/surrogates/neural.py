"""What the neural surrogates share: the device they train on, seeded randomness, standardised targets.

A neural surrogate trains on CUDA when ``torch.cuda.is_available()`` and on the CPU otherwise, unless
given a ``device``; its inputs and outputs stay CPU float64 tensors, as the :class:`Surrogate` contract
and the GP surrogates have them. Every fit runs under :func:`seeded`, which seeds torch's generators
for the duration of the fit and restores them after, so a fit is reproducible and leaves the caller's
randomness untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor

#: Loss functions a neural surrogate can be trained with, by name.
LOSSES = ("mse", "mae")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``device``, or CUDA when available and the CPU otherwise when it is None or ``"auto"``."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"device must be None, 'auto', 'cpu', 'cuda' or 'cuda:<index>', but got {device=!r}."
        ) from error


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's CPU generator (and ``device``'s, for CUDA) inside the block; restore them after."""
    devices = (
        [device.index if device.index is not None else torch.cuda.current_device()]
        if (device.type == "cuda")
        else []
    )
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@dataclass(frozen=True)
class Standardisation:
    """``z = (y - mean) / std``: what the networks are trained on; ``std`` is 1 for constant values."""

    mean: float
    std: float

    @classmethod
    def of(cls, y: Tensor) -> Standardisation:
        """The standardisation of the values ``y`` (any shape)."""
        mean = float(y.mean())
        std = float(y.std()) if y.numel() > 1 else 0.0
        spread = float(y.max() - y.min())
        if not std > 0 or spread <= 1e-12 * max(1.0, abs(mean)):
            std = 1.0
        return cls(mean, std)

    def forward(self, y: Tensor) -> Tensor:
        return (y - self.mean) / self.std


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
    """Train ``network`` with Adam on shuffled minibatches of ``n`` training points, in place.

    Call it inside :func:`seeded`: the minibatch order comes from a CPU generator seeded with ``seed``.

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
    generator = torch.Generator().manual_seed(seed)
    network.train()
    for _ in range(options.epochs):
        if members is None:
            batches = torch.randperm(n, generator=generator).to(device).split(options.batch_size)
        else:
            orders = torch.stack([torch.randperm(n, generator=generator) for _ in range(members)])
            batches = orders.to(device).split(options.batch_size, dim=1)
        for batch in batches:
            optimiser.zero_grad()
            batch_loss(batch).backward()
            optimiser.step()
