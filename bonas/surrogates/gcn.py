"""BONAS's GCN embedding of cell DAGs, and the two surrogates built on it: ``gcn-blr`` and ``gcn-gp``.

BONAS (Shi et al. 2020) embeds an architecture with a graph convolutional network and puts a Bayesian
linear regression on the embedding. Here, per cell of an architecture:

* the graph is the cell's pruned operation graph (:meth:`bonas.architecture.Cell.operation_dag`: edge
  operations become nodes, zero operations and nodes off every input-to-output path are gone), so
  isomorphic cells give the same graph up to node numbering;
* a node's features are the one-hot of its label (``input``, ``sum``, ``nor_conv_3x3``...) over the
  space's label vocabulary, plus one slot for labels the vocabulary lacks;
* a global node, linked both ways to every node, is added; each GCN layer mixes a node's row with the
  mean of its predecessors' rows and, through separate weights, the mean of its successors' rows
  (row-normalised adjacency with self loops, ``D^-1 (A + I)``, in each direction, so data flow direction
  is kept), ``h' = relu(P_in h W_in + P_out h W_out + b)``;
* the embedding is the global node's row after the last layer.

Cells share the GCN; an architecture's embedding concatenates its cells' (DARTS: normal, then reduce).
A layer is a function of the graph alone and the read-out is one node's row, so the embedding is
invariant to node relabelling. The network is trained with a linear regression head on the
standardised values (mean squared error, Adam), then the head is dropped and the embedding frozen:

* :class:`GCNBayesianLinearRegression` (``gcn-blr``, BONAS): a Bayesian linear regression on the
  embedding, its two precisions set by evidence maximisation (:mod:`bonas.surrogates.blr`);
* :class:`GCNGaussianProcess` (``gcn-gp``): a GP (single-lengthscale RBF kernel, the fitting and
  fallbacks of :class:`~bonas.surrogates.gp.GaussianProcessSurrogate`) on the frozen embedding. The GCN
  is pretrained by regression rather than trained jointly with the kernel by marginal likelihood (deep
  kernel learning): with tens of points, a network trained through the marginal likelihood can move
  training points apart until the GP explains them with little noise and overfits (Ober et al. 2021,
  "The promises and pitfalls of deep kernel learning"), each joint step costs a network pass plus a
  Cholesky, and the pretrained route keeps the GP surrogates' robust fitting unchanged.

For both, :meth:`~bonas.surrogates.base.Surrogate.encode` is the frozen embedding (``n x (cells *
hidden)`` float64): the input the BoTorch model consumes. Training follows ``device`` (CUDA when
available); every fit is seeded and reproducible.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from bonas.architecture import Architecture, Cell
from bonas.errors import InvalidArchitectureError
from bonas.spaces.base import SearchSpace
from bonas.surrogates.base import Surrogate, SurrogateNotFittedError, check_training_data
from bonas.surrogates.blr import BayesianLinearModel
from bonas.surrogates.gp.kernels import median_heuristic_rbf_kernel
from bonas.surrogates.gp.models import GaussianProcessSurrogate
from bonas.surrogates.neural import TrainingOptions, loss_function, train_by_minibatches
from bonas.torch_training import Standardisation, resolve_device, seeded

logger = logging.getLogger(__name__)

#: Random architectures of the space whose labels make the label vocabulary (with the training set's).
VOCABULARY_SAMPLES = 200

#: Architectures per GCN forward pass when embedding (bounds memory).
EMBED_BATCH = 4096

#: The graph store is emptied when it holds more architectures than this (large spaces, long searches).
STORE_LIMIT = 2**17


# -- Graphs as tensors -----------------------------------------------------------------------------------


class CellGraphs:
    """Architectures as padded graph tensors: per cell, an adjacency matrix and node label indices.

    The label vocabulary is fixed on construction; a label outside it gets index ``len(vocabulary)``
    (the "other" slot). Graphs are computed once per architecture and kept (up to :data:`STORE_LIMIT`).

    Args:
        vocabulary: the node labels that get their own one-hot slot.
        cell_names: the cells every architecture has, in order.
    """

    def __init__(self, vocabulary: Sequence[str], cell_names: tuple[str, ...]) -> None:
        self.vocabulary = tuple(vocabulary)
        self.cell_names = cell_names
        self._index = {label: i for i, label in enumerate(self.vocabulary)}
        self._graphs: dict[Architecture, tuple[tuple[np.ndarray, np.ndarray], ...]] = {}

    @property
    def n_labels(self) -> int:
        """One-hot width: the vocabulary plus the "other" slot."""
        return len(self.vocabulary) + 1

    def tensors(self, architectures: Sequence[Architecture]) -> tuple[Tensor, Tensor]:
        """``(adjacency, labels)`` of ``architectures``.

        Returns:
            ``n x C x N x N`` float32 adjacency (``[i, j] = 1`` for an edge ``i -> j``) and ``n x C x N``
            int64 label indices, ``-1`` on padding; ``C`` cells, ``N`` the most nodes of any of their
            pruned cells.
        """
        if len(self._graphs) > STORE_LIMIT:
            self._graphs.clear()
        graphs = [self._graph(architecture) for architecture in architectures]
        cells = len(self.cell_names)
        size = max((len(labels) for graph in graphs for _, labels in graph), default=0)
        adjacency = np.zeros((len(graphs), cells, size, size), dtype=np.float32)
        labels = np.full((len(graphs), cells, size), -1, dtype=np.int64)
        for row, graph in enumerate(graphs):
            for position, (edges, cell_labels) in enumerate(graph):
                k = len(cell_labels)
                labels[row, position, :k] = cell_labels
                if edges.size:
                    adjacency[row, position, edges[0], edges[1]] = 1.0
        return torch.from_numpy(adjacency), torch.from_numpy(labels)

    def _graph(self, architecture: Architecture) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        graph = self._graphs.get(architecture)
        if graph is None:
            if not isinstance(architecture, Architecture):
                raise TypeError(
                    f"Expected Architecture objects, got {type(architecture).__name__}: {architecture!r}."
                )
            names = tuple(name for name, _ in architecture.cells)
            if names != self.cell_names:
                raise InvalidArchitectureError(
                    f"Architecture {architecture.text!r} has cells {list(names)}, but this surrogate was "
                    f"fitted on cells {list(self.cell_names)}; use one surrogate per search space."
                )
            graph = tuple(self._cell_graph(cell) for _, cell in architecture.cells)
            self._graphs[architecture] = graph
        return graph

    def _cell_graph(self, cell: Cell) -> tuple[np.ndarray, np.ndarray]:
        dag = cell.operation_dag()
        other = len(self.vocabulary)
        labels = np.array([self._index.get(label, other) for label in dag.labels], dtype=np.int64)
        edges = [(u, v) for u, targets in enumerate(dag.successors) for v in targets]
        return np.array(edges, dtype=np.int64).T.reshape(2, -1), labels


def label_vocabulary(architectures: Sequence[Architecture], space: SearchSpace | None) -> tuple[str, ...]:
    """Sorted node labels of the pruned cells of ``architectures`` and of random architectures of ``space``.

    The random ones (a fixed seed) fill in the operations the training set happens to lack.
    """
    found = {label for a in architectures for _, cell in a.cells for label in cell.operation_dag().labels}
    if space is not None:
        rng = np.random.default_rng(0)
        for _ in range(VOCABULARY_SAMPLES):
            sample = space.sample(rng)
            found.update(label for _, cell in sample.cells for label in cell.operation_dag().labels)
    return tuple(sorted(found))


# -- The network -----------------------------------------------------------------------------------------


class DirectedGCNLayer(nn.Module):
    """``h' = relu(P_in h W_in + P_out h W_out + b)``, ``P`` the row-normalised adjacencies with self loops."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.incoming = nn.Linear(width, width)
        self.outgoing = nn.Linear(width, width, bias=False)

    def forward(self, h: Tensor, incoming: Tensor, outgoing: Tensor) -> Tensor:
        """``h``: ``B x N x W`` node rows; ``incoming``/``outgoing``: ``B x N x N`` propagation matrices."""
        return torch.relu(incoming @ self.incoming(h) + outgoing @ self.outgoing(h))


class GCNEmbedding(nn.Module):
    """The GCN with a global node (see the module docstring) and a linear regression head.

    Args:
        n_labels: one-hot width of node labels (vocabulary plus "other").
        n_cells: cells per architecture (their embeddings are concatenated).
        hidden: width of every layer, and of each cell's embedding.
        layers: number of GCN layers.
    """

    def __init__(self, *, n_labels: int, n_cells: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.n_labels = n_labels
        # One-hot features times a weight matrix is an embedding lookup; the last index is the global node.
        self.features = nn.Embedding(n_labels + 1, hidden)
        self.layers = nn.ModuleList(DirectedGCNLayer(hidden) for _ in range(layers))
        self.head = nn.Linear(n_cells * hidden, 1)

    def embed(self, graphs: PreparedGraphs) -> Tensor:
        """``B x (C * hidden)`` embeddings of ``B`` prepared architectures (see :func:`prepare_graphs`)."""
        batch, cells, size = graphs.labels.shape
        flat = batch * cells
        mask = graphs.mask.reshape(flat, size, 1).to(self.features.weight.dtype)
        h = self.features(graphs.labels.reshape(flat, size)) * mask
        incoming = graphs.incoming.reshape(flat, size, size)
        outgoing = graphs.outgoing.reshape(flat, size, size)
        for layer in self.layers:
            h = layer(h, incoming, outgoing) * mask
        return h[:, -1, :].reshape(batch, -1)

    def forward(self, graphs: PreparedGraphs) -> Tensor:
        """``B`` predictions (standardised units)."""
        return self.head(self.embed(graphs)).reshape(-1)


@dataclass(frozen=True)
class PreparedGraphs:
    """Architectures ready for :class:`GCNEmbedding`, the global node appended as each cell's last node.

    Args:
        incoming: ``B x C x (N + 1) x (N + 1)`` row-normalised "node and its predecessors" matrices.
        outgoing: the same for successors.
        labels: ``B x C x (N + 1)`` label indices (padding 0, masked; the global node ``n_labels``).
        mask: ``B x C x (N + 1)`` bool, True on real nodes and the global node.
    """

    incoming: Tensor
    outgoing: Tensor
    labels: Tensor
    mask: Tensor

    def take(self, index: Tensor) -> PreparedGraphs:
        """The architectures at ``index`` (a 1-d index tensor)."""
        return PreparedGraphs(
            self.incoming[index], self.outgoing[index], self.labels[index], self.mask[index]
        )


def prepare_graphs(adjacency: Tensor, labels: Tensor, n_labels: int) -> PreparedGraphs:
    """Append the global node and build both propagation matrices (once per set of architectures).

    Args:
        adjacency: ``B x C x N x N`` 0/1 float adjacency (``[i, j] = 1`` for an edge ``i -> j``).
        labels: ``B x C x N`` label indices, ``-1`` on padding.
        n_labels: the global node's label index.
    """
    batch, cells, size = labels.shape
    real = labels >= 0
    full = torch.zeros(batch, cells, size + 1, size + 1, dtype=adjacency.dtype, device=adjacency.device)
    full[..., :size, :size] = adjacency
    full[..., :size, size] = real.to(adjacency.dtype)
    full[..., size, :size] = real.to(adjacency.dtype)
    present = torch.cat([real, torch.ones_like(real[..., :1])], dim=-1)
    eye = torch.diag_embed(present.to(adjacency.dtype))
    node_labels = torch.cat([labels.clamp_min(0), torch.full_like(labels[..., :1], n_labels)], dim=-1)
    return PreparedGraphs(
        incoming=_row_normalise(full.transpose(-1, -2) + eye),
        outgoing=_row_normalise(full + eye),
        labels=node_labels,
        mask=present,
    )


def _row_normalise(matrix: Tensor) -> Tensor:
    return matrix / matrix.sum(dim=-1, keepdim=True).clamp_min(1.0)


# -- The surrogates --------------------------------------------------------------------------------------


class _GCNEmbedder:
    """Trains the GCN on a fit's data and embeds architectures with it (shared by both surrogates).

    Args:
        space: the search space (its random architectures complete the label vocabulary).
        hidden, layers: the GCN's width and depth.
        epochs, batch_size, learning_rate, weight_decay: Adam training of the GCN and its head.
        seed: seeds the network's initialisation and the minibatch order of every fit.
        device: where the GCN trains (None: CUDA when available, else CPU).
    """

    def __init__(
        self,
        space: SearchSpace | None,
        *,
        hidden: int,
        layers: int,
        epochs: int,
        batch_size: int,
        learning_rate: float,
        weight_decay: float,
        seed: int,
        device: str | torch.device | None,
    ) -> None:
        if hidden < 1 or layers < 1:
            raise ValueError(f"hidden and layers must be >= 1, but got ({hidden=}, {layers=}).")
        #: How the network is trained.
        self.training = TrainingOptions(epochs, batch_size, learning_rate, weight_decay, "mse")
        self.space = space
        self.hidden = hidden
        self.layers = layers
        self.seed = seed
        self.device = resolve_device(device)
        self._graphs: CellGraphs | None = None
        self._network: GCNEmbedding | None = None

    def train(self, architectures: list[Architecture], y: Tensor) -> Tensor:
        """Train a new GCN on ``architectures`` and ``n x 1`` values ``y``; their ``n x e`` embeddings."""
        if self._graphs is None or self._graphs.cell_names != _cell_names(architectures[0]):
            self._graphs = CellGraphs(
                label_vocabulary(architectures, self.space), _cell_names(architectures[0])
            )
        graphs = self._prepare(architectures)
        targets = Standardisation.of(y).forward(y).reshape(-1).to(torch.float32).to(self.device)
        loss = loss_function("mse")
        with seeded(self.seed, self.device):
            network = GCNEmbedding(
                n_labels=self._graphs.n_labels,
                n_cells=len(self._graphs.cell_names),
                hidden=self.hidden,
                layers=self.layers,
            ).to(self.device)
            train_by_minibatches(
                network,
                lambda batch: loss(network(graphs.take(batch)), targets[batch]),
                n=targets.shape[0],
                options=self.training,
                seed=self.seed,
                device=self.device,
            )
        network.eval()
        self._network = network
        return self.embed(architectures)

    def embed(self, architectures: Sequence[Architecture]) -> Tensor:
        """``n x e`` float64 CPU embeddings by the last trained GCN."""
        if self._network is None or self._graphs is None:
            raise SurrogateNotFittedError("The GCN surrogate has no trained network yet; call fit() first.")
        archs = list(architectures)
        chunks = []
        with torch.no_grad():
            for start in range(0, len(archs), EMBED_BATCH):
                chunks.append(self._network.embed(self._prepare(archs[start : start + EMBED_BATCH])))
        width = len(self._graphs.cell_names) * self.hidden
        return (
            torch.cat(chunks).to("cpu", torch.float64)
            if chunks
            else torch.zeros(0, width, dtype=torch.float64)
        )

    def _prepare(self, architectures: Sequence[Architecture]) -> PreparedGraphs:
        if self._graphs is None:
            raise SurrogateNotFittedError("The GCN surrogate has no label vocabulary yet; call fit() first.")
        adjacency, labels = self._graphs.tensors(architectures)
        return prepare_graphs(adjacency.to(self.device), labels.to(self.device), self._graphs.n_labels)


def _cell_names(architecture: Architecture) -> tuple[str, ...]:
    names = tuple(name for name, _ in architecture.cells)
    if not names:
        raise InvalidArchitectureError(
            f"Architectures of space {architecture.space!r} have no cell graph for a GCN to embed; give the "
            "space a graph builder (CategoricalSpace(..., graph=...)) or use surrogate='gp-categorical'."
        )
    return names


class GCNBayesianLinearRegression(Surrogate):
    """BONAS's surrogate: Bayesian linear regression on a trained GCN's embedding (``gcn-blr``).

    Defaults follow BONAS's architecture (GCN layers of width 64 feeding a regression head, Adam at
    1e-3), scaled so one fit on 150 NB201 cells takes about a second on one CPU core.

    Args:
        space: the search space (its random architectures complete the label vocabulary).
        hidden: width of the GCN layers (and of each cell's embedding).
        layers: number of GCN layers.
        epochs, batch_size, learning_rate, weight_decay: Adam training of the GCN and its regression head
            on the standardised values (mean squared error).
        seed: seeds every fit (network initialisation, minibatch order).
        device: where the GCN trains (None or ``"auto"``: CUDA when available, else CPU).
    """

    name = "gcn-blr"
    requires_graph = True
    encoding = "gcn"

    def __init__(
        self,
        space: SearchSpace | None = None,
        *,
        hidden: int = 64,
        layers: int = 3,
        epochs: int = 100,
        batch_size: int = 64,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        seed: int = 0,
        device: str | torch.device | None = None,
    ) -> None:
        self.embedder = _GCNEmbedder(
            space,
            hidden=hidden,
            layers=layers,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            seed=seed,
            device=device,
        )
        self._model: BayesianLinearModel | None = None

    def fit(self, architectures: Sequence[Architecture], values: Sequence[float]) -> None:
        y = check_training_data(architectures, values)
        embedding = self.embedder.train(list(architectures), y)
        self._model = BayesianLinearModel(embedding, y)
        logger.debug(
            "%s: alpha=%.3g beta=%.3g after %d iterations",
            self.name,
            self._model.fit.alpha,
            self._model.fit.beta,
            self._model.fit.iterations,
        )

    def encode(self, architectures: Sequence[Architecture]) -> Tensor:
        """``n x (cells * hidden)`` float64 GCN embeddings (what the Bayesian linear regression reads)."""
        return self.embedder.embed(architectures)

    @property
    def model(self) -> BayesianLinearModel:
        if self._model is None:
            raise SurrogateNotFittedError(f"{type(self).__name__} has no model yet; call fit() first.")
        return self._model


class GCNGaussianProcess(GaussianProcessSurrogate):
    """A GP on a GCN's frozen embedding (``gcn-gp``); the GCN is pretrained by regression.

    See the module docstring for why the GCN is not trained jointly with the kernel. The GP is a
    ``SingleTaskGP`` with a single-lengthscale RBF kernel (LogNormal prior at the median distance
    between training embeddings), standardised values and the GP surrogates' fallbacks.

    Args:
        space, hidden, layers, epochs, batch_size, learning_rate, weight_decay, seed, device: as for
            :class:`GCNBayesianLinearRegression` (``seed`` also seeds the GP's fit).
        max_iterations: L-BFGS iterations of the GP's hyperparameter fit.
    """

    name = "gcn-gp"
    requires_graph = True
    encoding = "gcn"

    def __init__(
        self,
        space: SearchSpace | None = None,
        *,
        hidden: int = 64,
        layers: int = 3,
        epochs: int = 100,
        batch_size: int = 64,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        seed: int = 0,
        device: str | torch.device | None = None,
        max_iterations: int = 200,
    ) -> None:
        super().__init__(seed=seed, max_iterations=max_iterations)
        self.embedder = _GCNEmbedder(
            space,
            hidden=hidden,
            layers=layers,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            seed=seed,
            device=device,
        )

    def fit(self, architectures: Sequence[Architecture], values: Sequence[float]) -> None:
        y = check_training_data(architectures, values)
        embedding = self.embedder.train(list(architectures), y)
        self._set_model(*self._fit_model(embedding, y))

    def encode(self, architectures: Sequence[Architecture]) -> Tensor:
        """``n x (cells * hidden)`` float64 GCN embeddings (the GP's inputs)."""
        return self.embedder.embed(architectures)

    def _kernel(self, x: Tensor) -> torch.nn.Module:
        return median_heuristic_rbf_kernel(x)
