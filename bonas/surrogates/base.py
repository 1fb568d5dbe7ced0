"""The surrogate contract: fit on evaluated architectures, predict a posterior over candidates.

A surrogate owns an encoding (architectures -> tensors) and, once fitted, a BoTorch model over that
encoding, so every BoTorch acquisition function works on it unchanged::

    surrogate.fit(architectures, values)
    X = surrogate.encode(candidates)                 # n x d
    posterior = surrogate.model.posterior(X)         # BoTorch Posterior
    prediction = surrogate.predict(candidates)       # mean and variance, in the values' units

Values are "larger is better" (the BO sampler negates minimised objectives before fitting).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from botorch.models.model import Model

from bonas.architecture import Architecture
from bonas.errors import NotFittedError
from bonas.torch_training import check_counts, check_finite


class SurrogateNotFittedError(NotFittedError):
    """A surrogate's model or encoding was asked for before :meth:`Surrogate.fit`."""


@dataclass(frozen=True)
class Prediction:
    """Marginal predictive distribution at ``n`` architectures.

    Args:
        mean: ``n`` tensor of predicted values (same units as the fitted values).
        variance: ``n`` tensor of predictive variances of the latent function (no observation noise).
    """

    mean: torch.Tensor
    variance: torch.Tensor


class Surrogate(ABC):
    """A model of "architecture -> value" with uncertainty.

    Subclasses implement :meth:`fit`, :meth:`encode` and :attr:`model`. :meth:`predict` follows.
    """

    #: Short name used in searcher names (``bo-<name>``) and reports.
    name: str

    #: Whether the surrogate reads the architectures' cell graphs (so cannot model a graph-free space).
    requires_graph: bool = False

    #: Whether the values it is fitted on are noisy (an architecture evaluated twice may get two values).
    #: Set by the sampler before fitting; the GPs then learn their noise variance under a wide prior
    #: instead of one near zero.
    noisy: bool = False

    @abstractmethod
    def fit(self, architectures: Sequence[Architecture], values: Sequence[float]) -> None:
        """Fit on evaluated architectures; ``values[i]`` belongs to ``architectures[i]``.

        Raises:
            ValueError: the two sequences differ in length, are empty, or a value is not finite.
        """

    @abstractmethod
    def encode(self, architectures: Sequence[Architecture]) -> torch.Tensor:
        """``n x d`` tensor of the fitted model's inputs for ``architectures``."""

    @property
    @abstractmethod
    def model(self) -> Model:
        """The fitted BoTorch model over :meth:`encode`'s output (raises before :meth:`fit`)."""

    def predict(self, architectures: Sequence[Architecture]) -> Prediction:
        """Posterior mean and variance at ``architectures``."""
        with torch.no_grad():
            posterior = self.model.posterior(self.encode(architectures))
            return Prediction(posterior.mean.reshape(-1), posterior.variance.reshape(-1))


def check_training_data(architectures: Sequence[Architecture], values: Sequence[float]) -> torch.Tensor:
    """``values`` as an ``n x 1`` float64 tensor, after checking them against ``architectures``.

    Raises:
        ValueError: the counts differ, there are none, or a value is not finite (quoted).
    """
    check_counts(len(architectures), len(values), model="A surrogate")
    y = torch.as_tensor([float(v) for v in values], dtype=torch.float64).reshape(-1, 1)
    check_finite(y, model="A surrogate")
    return y
