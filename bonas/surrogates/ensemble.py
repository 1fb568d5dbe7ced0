"""BANANAS's predictor: an ensemble of feed-forward networks on the path encoding (``ensemble-path``).

BANANAS (White et al. 2021) trains five networks that differ only in their random initialisation and
minibatch order on the path encoding of the evaluated architectures; their mean is the prediction and
their spread the uncertainty, and the search picks by independent Thompson sampling (one member at random
per proposal, its argmax; see :func:`bonas.acquisition.select`).

The members are trained together as one batched network (:class:`BatchedMLP`: each layer's weights are an
``s x in x out`` tensor, one slice per member), which costs one set of small kernel launches per step
instead of ``s``. The BoTorch model is an :class:`~botorch.models.ensemble.EnsembleModel` whose posterior
is an :class:`~botorch.posteriors.ensemble.EnsemblePosterior` over the members' predictions: analytic
acquisitions read its mean and (unbiased) variance across members, Monte-Carlo ones sample members with
BoTorch's ``IndexSampler``. The ensemble has no noise model: ``observation_noise`` is ignored.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from botorch.models.ensemble import EnsembleModel
from torch import Tensor, nn

from bonas.architecture import Architecture
from bonas.encodings import PathEncoding
from bonas.spaces.base import SearchSpace
from bonas.surrogates.base import Surrogate, SurrogateNotFittedError, check_training_data
from bonas.surrogates.neural import TrainingOptions, loss_function, train_by_minibatches
from bonas.torch_training import Standardisation, resolve_device, seeded


class BatchedMLP(nn.Module):
    """``s`` independent ReLU networks of the same shape, evaluated together.

    Args:
        members: ensemble size ``s``.
        inputs: input width ``d``.
        width: hidden width.
        layers: hidden layers (then a linear output layer).
    """

    def __init__(self, *, members: int, inputs: int, width: int, layers: int) -> None:
        super().__init__()
        sizes = [inputs, *([width] * layers), 1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in itertools.pairwise(sizes):
            # nn.Linear's default initialisation, drawn independently for every member.
            bound = 1.0 / math.sqrt(max(fan_in, 1))
            self.weights.append(nn.Parameter(torch.empty(members, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(members, 1, fan_out).uniform_(-bound, bound)))

    @property
    def members(self) -> int:
        return self.weights[0].shape[0]

    def forward(self, x: Tensor) -> Tensor:
        """Predictions of every member.

        Args:
            x: ``batch x n x d`` inputs, the same for every member, or ``s x n x d``, one set per member
                (training minibatches); ``batch`` may be several dimensions or none.

        Returns:
            ``batch x s x n`` (``s x n`` for per-member inputs).
        """
        h = x if x.dim() == 3 and x.shape[0] == self.members and self.training else x.unsqueeze(-3)
        last = len(self.weights) - 1
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ weight + bias
            if index < last:
                h = torch.relu(h)
        return h.squeeze(-1)


class PathEnsembleModel(EnsembleModel):
    """The trained ensemble as a BoTorch model on path encodings (values in the fitted units).

    Inputs go to the network's device and dtype; outputs come back as CPU float64. The network is kept
    outside the module tree: BoTorch's acquisition functions move their model to their inputs' device and
    dtype (``acqf.to(X)``), which would turn the trained float32 network, on CUDA maybe, into a float64
    CPU one.

    Args:
        network: the trained members.
        standardisation: how the values were standardised for training (undone on the outputs).
    """

    network: BatchedMLP

    def __init__(self, network: BatchedMLP, standardisation: Standardisation) -> None:
        super().__init__()
        object.__setattr__(self, "network", network.eval())
        self.standardisation = standardisation
        self._num_outputs = 1

    @property
    def ensemble_size(self) -> int:
        return self.network.members

    def forward(self, X: Tensor) -> Tensor:  # noqa: N803 (BoTorch's signature)
        """``batch x s x n x 1`` member predictions at ``batch x n x d`` path encodings ``X``."""
        parameter = self.network.weights[0]
        with torch.no_grad():
            values = self.network(X.to(parameter))
        values = values.to("cpu", torch.float64)
        return self.standardisation.inverse(values).unsqueeze(-1)


class PathEnsemble(Surrogate):
    """BANANAS's ensemble of feed-forward networks on the path encoding (``ensemble-path``).

    Defaults follow BANANAS (5 members, Adam at 0.01, minibatches of 32, mean absolute error on the
    standardised values) with the networks scaled down from 10 layers of width 20 for 200 epochs, so one
    fit on 150 NB201 cells takes about a second on one CPU core.

    The path vocabulary is that of the training set (paths only candidates have are ignored, as no
    weight could have learnt them), optionally truncated to the ``max_paths`` most frequent.

    Args:
        space: the search space (unused: paths come from the architectures' cells).
        members: ensemble size.
        width, layers: hidden width and number of hidden layers of each member.
        epochs, batch_size, learning_rate, weight_decay, loss: Adam training on the standardised values
            (``loss`` is ``"mae"`` or ``"mse"``).
        max_paths: keep only the most frequent paths (BANANAS's truncation); None keeps all.
        seed: seeds every fit (initialisation and minibatch order of every member).
        device: where the networks train (None or ``"auto"``: CUDA when available, else CPU).
    """

    name = "ensemble-path"
    requires_graph = True

    def __init__(
        self,
        space: SearchSpace | None = None,
        *,
        members: int = 5,
        width: int = 20,
        layers: int = 5,
        epochs: int = 100,
        batch_size: int = 32,
        learning_rate: float = 0.01,
        weight_decay: float = 0.0,
        loss: str = "mae",
        max_paths: int | None = None,
        seed: int = 0,
        device: str | torch.device | None = None,
    ) -> None:
        if members < 1 or width < 1 or layers < 0:
            raise ValueError(
                f"Need members >= 1, width >= 1 and layers >= 0, but got ({members=}, {width=}, {layers=})."
            )
        #: How the network is trained.
        self.training = TrainingOptions(epochs, batch_size, learning_rate, weight_decay, loss)
        self.space = space
        self.members = members
        self.width = width
        self.layers = layers
        self.seed = seed
        self.device = resolve_device(device)
        #: The path encoding, refitted on every fit's training set.
        self.encoding = PathEncoding(max_paths=max_paths)
        self._model: PathEnsembleModel | None = None

    def fit(self, architectures: Sequence[Architecture], values: Sequence[float]) -> None:
        y = check_training_data(architectures, values)
        x = self.encoding.fit_transform(list(architectures)).to(self.device, torch.float32)
        standardisation = Standardisation.of(y)
        targets = standardisation.forward(y).reshape(-1).to(self.device, torch.float32)
        loss = loss_function(self.training.loss)
        with seeded(self.seed, self.device):
            network = BatchedMLP(
                members=self.members, inputs=x.shape[1], width=self.width, layers=self.layers
            ).to(self.device)
            train_by_minibatches(
                network,
                # Sum over members of each member's mean loss: members' gradients do not mix.
                lambda batch: self.members * loss(network(x[batch]), targets[batch]),
                n=targets.shape[0],
                options=self.training,
                seed=self.seed,
                device=self.device,
                members=self.members,
            )
        self._model = PathEnsembleModel(network, standardisation)

    def encode(self, architectures: Sequence[Architecture]) -> Tensor:
        """``n x d`` float64 path indicators over the last training set's paths."""
        if not self.encoding.is_fitted:
            raise SurrogateNotFittedError(
                f"{type(self).__name__} has no path vocabulary yet; call fit() first."
            )
        return self.encoding.transform(list(architectures))

    @property
    def model(self) -> PathEnsembleModel:
        if self._model is None:
            raise SurrogateNotFittedError(f"{type(self).__name__} has no model yet; call fit() first.")
        return self._model
