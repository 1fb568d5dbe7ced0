"""What the neural surrogates share: the device they train on, seeded randomness, standardised targets.

A neural surrogate trains on CUDA when ``torch.cuda.is_available()`` and on the CPU otherwise, unless
given a ``device``; its inputs and outputs stay CPU float64 tensors, as the :class:`Surrogate` contract
and the GP surrogates have them. Every fit runs under :func:`seeded`, which seeds torch's generators
for the duration of the fit and restores them after, so a fit is reproducible and leaves the caller's
randomness untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
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


def check_training_options(
    *, epochs: int, batch_size: int, learning_rate: float, weight_decay: float, loss: str
) -> None:
    """Raise ValueError, quoting the value, for a training option out of range."""
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, but got ({epochs=}, {batch_size=}).")
    if not learning_rate > 0 or weight_decay < 0:
        raise ValueError(
            f"Need learning_rate > 0 and weight_decay >= 0, but got ({learning_rate=}, {weight_decay=})."
        )
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, but got {loss=!r}.")
