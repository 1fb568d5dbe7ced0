"""Training small torch networks on evaluated architectures: what the neural surrogates and NAO share.

The neural surrogates (:mod:`bonas.surrogates.neural`) and NAO's controller (:mod:`bonas.nao.controller`)
both fit a network to architectures and their values:

* :func:`resolve_device`: where the network trains (``"auto"``/None: CUDA when available, else CPU);
* :func:`seeded` and :func:`seeded_generator`: seeded torch randomness that leaves the caller's alone;
* :func:`check_counts` and :func:`check_finite`: the training data checks, quoting the bad value;
* :class:`Standardisation`: the targets the network sees, and back;
* :func:`train_epochs`: Adam (or any optimiser) over shuffled minibatches, epoch by epoch.

The two users differ in details (sample or population standard deviation, a tolerance for "constant",
numpy or torch statistics, gradient clipping, one or several shuffled orders per epoch); each keeps its
own through the arguments here. This module imports torch and numpy only, so any layer may use it (it is
not :mod:`bonas.training`, which trains the searched architectures themselves).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

#: Targets as the caller holds them: a torch tensor or a numpy array (statistics follow its library).
Values = TypeVar("Values", Tensor, np.ndarray)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``device``, or CUDA when available and the CPU otherwise when it is None or ``"auto"``.

    Used by the trainer, NAO and the neural surrogates alike.

    Raises:
        ValueError: ``device`` is not a device torch knows, or asks for CUDA where torch sees none (quoted).
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"device must be None, 'auto', 'cpu', 'cuda' or 'cuda:<index>', but got {device=!r}."
        ) from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} asked for CUDA, but torch sees no CUDA device; use 'auto' or 'cpu'."
        )
    return resolved


@contextmanager
def seeded(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Seed torch's global generators inside the block and restore the CPU one (and ``device``'s) after.

    Args:
        seed: passed to :func:`torch.manual_seed`, which seeds the CPU and every CUDA generator.
        device: a CUDA device whose generator is restored too; None or a CPU device restore only the
            CPU generator (for networks initialised on the CPU and moved after).
    """
    devices = (
        [device.index if device.index is not None else torch.cuda.current_device()]
        if device is not None and device.type == "cuda"
        else []
    )
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def seeded_generator(seed: int) -> torch.Generator:
    """A new CPU generator seeded with ``seed`` (minibatch orders are drawn on the CPU on every device)."""
    return torch.Generator().manual_seed(seed)


def check_counts(architectures: int, values: int, *, model: str, minimum: int = 1) -> None:
    """Check that there is one value per architecture and at least ``minimum`` of them.

    Args:
        architectures: number of training architectures.
        values: number of training values.
        model: who is being fitted, to start the message (``"A surrogate"``, ``"NAO"``).
        minimum: fewest architectures ``model`` can fit.

    Raises:
        ValueError: the counts differ or are below ``minimum`` (both quoted).
    """
    if architectures != values:
        raise ValueError(f"Got {architectures} architectures but {values} values; give one value each.")
    if values < minimum:
        needed = "one evaluated architecture" if minimum == 1 else f"{minimum} evaluated architectures"
        raise ValueError(f"{model} needs at least {needed} to fit, got {values or 'none'}.")


def check_finite(values: Tensor | np.ndarray, *, model: str) -> None:
    """Check that every one of ``values`` (any shape) is finite.

    Raises:
        ValueError: some are NaN or infinite (quoted, in order).
    """
    flat = torch.as_tensor(values)
    bad = flat[~torch.isfinite(flat)]
    if bad.numel():
        raise ValueError(
            f"{model}'s values must be finite, got {bad.tolist()}; drop failed evaluations first."
        )


@dataclass(frozen=True)
class Standardisation:
    """``z = (y - mean) / std``: what the networks are trained on; ``std`` is 1 for constant values."""

    mean: float
    std: float

    @classmethod
    def of(
        cls, y: Tensor | np.ndarray, *, correction: int = 1, constant_tolerance: float | None = 1e-12
    ) -> Standardisation:
        """The standardisation of the values ``y`` (any shape, float64).

        Mean and standard deviation are computed by ``y``'s own library: numpy and torch sum in different
        orders, so the same values can give statistics a few ulps apart.

        Args:
            y: the values, at least one.
            correction: subtracted from the count in the variance's denominator: 1 for the sample
                standard deviation (Bessel's correction), 0 for the population one. With no more than
                ``correction`` values the spread counts as 0.
            constant_tolerance: values whose range is at most this times ``max(1, |mean|)`` count as
                constant (a mean rounded off the common value gives a std of a few ulps otherwise); None
                counts only an exactly zero std as constant.
        """
        mean = float(y.mean())
        count = y.numel() if isinstance(y, Tensor) else y.size
        if count <= correction:
            std = 0.0
        elif isinstance(y, Tensor):
            std = float(y.std(correction=correction))
        else:
            std = float(y.std(ddof=correction))
        if not std > 0 or (
            constant_tolerance is not None
            and float(y.max() - y.min()) <= constant_tolerance * max(1.0, abs(mean))
        ):
            std = 1.0
        return cls(mean, std)

    def forward(self, y: Values) -> Values:
        """Standardised ``y``."""
        return (y - self.mean) / self.std

    def inverse(self, z: Values) -> Values:
        """``z`` back in the values' units."""
        return z * self.std + self.mean


def epoch_batches(
    n: int,
    *,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device,
    members: int | None = None,
) -> tuple[Tensor, ...]:
    """One epoch's minibatches of the indices ``0..n-1``, each index in exactly one of them.

    Args:
        n: number of training points.
        batch_size: indices per minibatch (the last may have fewer).
        generator: draws the order (``torch.randperm`` on the CPU, then moved to ``device``).
        device: where the indices go.
        members: None for one order, the minibatches ``b`` tensors; else one order per ensemble member,
            drawn member by member, the minibatches ``members x b`` tensors.
    """
    if members is None:
        return torch.randperm(n, generator=generator).to(device).split(batch_size)
    orders = torch.stack([torch.randperm(n, generator=generator) for _ in range(members)])
    return orders.to(device).split(batch_size, dim=1)


def train_epochs(
    network: torch.nn.Module,
    optimiser: torch.optim.Optimizer,
    batch_loss: Callable[[Tensor], Tensor],
    *,
    n: int,
    epochs: int,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device,
    members: int | None = None,
    grad_clip: float | None = None,
    record_losses: bool = False,
) -> list[float]:
    """Train ``network`` in place for ``epochs`` passes over shuffled minibatches of ``n`` points.

    Each step computes ``batch_loss(batch)``, clears the gradients, back-propagates, clips the gradient
    norm when ``grad_clip`` is given and steps ``optimiser``. ``network`` is left in training mode.

    Args:
        network: the network to train (its parameters are the ones clipped).
        optimiser: steps ``network``'s parameters; its state carries over between calls.
        batch_loss: the scalar loss of a minibatch given its indices (see :func:`epoch_batches`).
        n: number of training points.
        epochs: passes over the data.
        batch_size: indices per minibatch.
        generator: draws every epoch's order; its state carries over between calls.
        device: where the indices go.
        members: as for :func:`epoch_batches`.
        grad_clip: largest gradient norm per step; None does not clip.
        record_losses: return the mean loss per point of every epoch (reads each step's loss back to the
            host, a synchronisation per step on CUDA).

    Returns:
        ``epochs`` mean losses when ``record_losses``, else an empty list.
    """
    network.train()
    losses = []
    for _ in range(epochs):
        total = 0.0
        for batch in epoch_batches(
            n, batch_size=batch_size, generator=generator, device=device, members=members
        ):
            loss = batch_loss(batch)
            optimiser.zero_grad()
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(network.parameters(), grad_clip)
            optimiser.step()
            if record_losses:
                total += float(loss.detach()) * batch.shape[-1]
        if record_losses:
            losses.append(total / n)
    return losses
