"""A weight-sharing supernet: every edge of a cell holds every candidate operation at once.

API (what ENAS, DARTS, one-shot scoring and BONAS batches build on)::

    from bonas.training.supernet import CellTemplate, Supernet, Mixture

    supernet = Supernet.for_space(space, input_shape=(1, 28, 28), num_classes=10,
                                  settings=NetworkSettings(channels=8, cells_per_stage=1))
    # or Supernet(CellTemplate.from_cells([a.cell() for a in archs]), input_shape=..., num_classes=...)

    path = supernet.path(architecture)       # SubnetPath; OutsideSupernetError if it is not in the space
    logits = supernet(x, path)               # single path: only the architecture's operations run
    logits = supernet(x, Mixture(weights))   # continuous mixture: weights[e] is a 1-d tensor over
                                             # supernet.template.edges[e].ops (DARTS: a softmax of alphas);
                                             # Mixture(..., active=...) skips the ops left out
    supernet.recalibrate(path, batches)      # batch-norm statistics of that subnet, from training batches
    supernet.accuracy(path, x, y)            # eval-mode accuracy in percent
    network = supernet.extract(architecture) # the stand-alone network (build_network) with inherited weights
    supernet.save(file); Supernet.load(file) # checkpoints that refuse another space, width or depth

    # Training and scoring (bonas.training.weight_sharing):
    trainer = SupernetTrainer(supernet, data, SupernetSettings(epochs=10, regime="uniform"), population=space)
    trainer.train()                          # single-path (or fair, or warm-up) training
    trainer.train_steps(lambda step: choice, steps)   # your own choice per minibatch (ENAS)
    trainer.step(x, y, choice)               # one SGD step of the shared weights
    trainer.score(architectures)             # BN recalibrated per path, then validation accuracy
    trainer.save(file); trainer.load(file)   # weights + optimiser + random states: resumes exactly

The network is NB201's skeleton (:class:`~bonas.training.networks.CellNetwork`: stem, three stages of
``N`` cells with reductions, head) with a :class:`SuperCell` in every cell slot; every cell of the
network takes the same choice, as the stand-alone network repeats one cell. A :class:`CellTemplate`
says what a supernet can hold: a fixed set of nodes (with the labels each may take) and per edge
``(source, target)`` its candidate operations. Edges an architecture leaves out and zero operations
(``none``) hold no module and compute nothing. Parameter names follow the stand-alone network's, so
:meth:`Supernet.subnet_state_dict` loads strictly into :func:`~bonas.training.networks.build_network`'s
network of the same settings: that is how the exactness of inherited weights is tested.

(About 700 lines, one concept: what a supernet holds, how it runs a choice, and how its weights map to
stand-alone networks and checkpoints; each part is defined by the template's edge and operation order.)
"""

from __future__ import annotations

import glob
import os
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import torch
from torch import nn

from bonas.architecture import ZERO_OPERATIONS, Architecture, Cell
from bonas.errors import InvalidArchitectureError, SetupError, UnknownNameError
from bonas.spaces.base import SearchSpace
from bonas.training.networks import (
    AGGREGATION_LABELS,
    CellNetwork,
    NetworkSettings,
    check_cell,
    has_network_builder,
)
from bonas.training.ops import check_op, make_op

#: Largest enumerable space whose template :meth:`CellTemplate.of_space` builds by enumeration.
MAX_TEMPLATE_ENUMERATION = 20_000

CHECKPOINT_FORMAT = "bonas-supernet"
CHECKPOINT_VERSION = 1


class OutsideSupernetError(InvalidArchitectureError):
    """An architecture uses a node, edge or operation the supernet does not hold."""


class SupernetCheckpointError(SetupError, ValueError):
    """A supernet checkpoint is unreadable, or was saved for another space, width or depth."""


# -- What a supernet holds --------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateEdge:
    """One edge of a :class:`CellTemplate`: its end nodes and its candidate operations, in order.

    ``""`` is the identity; zero operations (``none``, ``zero``) are candidates without a module.
    """

    source: int
    target: int
    ops: tuple[str, ...]


@dataclass(frozen=True)
class CellTemplate:
    """The cells a supernet can run: fixed nodes, candidate labels per node, candidate ops per edge.

    Args:
        nodes: the labels node ``i`` may take (aggregation labels such as ``"sum"`` or operations).
        edges: the edges in a fixed order, each with its candidate operations.
        input: the input node.
        output: the output node.
    """

    nodes: tuple[tuple[str, ...], ...]
    edges: tuple[TemplateEdge, ...]
    input: int
    output: int

    def __post_init__(self) -> None:
        seen = set()
        for edge in self.edges:
            key = (edge.source, edge.target)
            if key in seen:
                raise ValueError(f"Edge {key} appears twice in the template; give each edge once.")
            seen.add(key)
            if not edge.ops:
                raise ValueError(f"Edge {key} of the template has no candidate operation.")
            for op in edge.ops:
                _check_supernet_op(op, f"Edge {edge.source}->{edge.target}")
        for node, labels in enumerate(self.nodes):
            for label in labels:
                if label not in AGGREGATION_LABELS and node != self.input:
                    _check_supernet_op(label, f"Node {node}")

    @classmethod
    def from_cells(cls, cells: Iterable[Cell]) -> CellTemplate:
        """The smallest template holding every one of ``cells`` (their union).

        Operations keep the order in which they first appear; edges are ordered by ``(target, source)``.

        Raises:
            OutsideSupernetError: the cells differ in node count, input or output (no common template).
            InvalidArchitectureError, UnknownNameError: a cell a network cannot be built from.
        """
        cells = list(cells)
        if not cells:
            raise ValueError("A template needs at least one cell, got none.")
        first = cells[0]
        nodes: list[list[str]] = [[] for _ in first.nodes]
        ops: dict[tuple[int, int], list[str]] = {}
        for cell in cells:
            check_cell(cell)
            if (
                len(cell.nodes) != len(first.nodes)
                or cell.inputs != first.inputs
                or cell.output != first.output
            ):
                raise OutsideSupernetError(
                    f"Cells of one supernet need the same nodes, input and output: got {len(cell.nodes)} nodes, "
                    f"input {cell.inputs}, output {cell.output} after {len(first.nodes)} nodes, input "
                    f"{first.inputs}, output {first.output}."
                )
            for node, label in enumerate(cell.nodes):
                if label not in nodes[node]:
                    nodes[node].append(label)
            for source, target, op in cell.edges:
                choices = ops.setdefault((source, target), [])
                if op not in choices:
                    choices.append(op)
        edges = tuple(
            TemplateEdge(source, target, tuple(ops[(source, target)]))
            for source, target in sorted(ops, key=lambda key: (key[1], key[0]))
        )
        return cls(tuple(tuple(labels) for labels in nodes), edges, first.inputs[0], first.output)

    @classmethod
    def of_space(cls, space: SearchSpace) -> CellTemplate:
        """The template of every architecture of ``space`` (one cell each).

        NB201 is built from its description; another space by enumerating it (at most
        :data:`MAX_TEMPLATE_ENUMERATION` architectures).

        Raises:
            OutsideSupernetError: the space's architectures have no cell or several cells, or the space is
                too large to enumerate (build the template from the cells you need instead).
        """
        from bonas.spaces.nb201 import EDGES, OPERATIONS, NB201Space

        if isinstance(space, NB201Space):
            return cls(
                nodes=(("input",), ("sum",), ("sum",), ("output",)),
                edges=tuple(TemplateEdge(s, t, OPERATIONS) for s, t in EDGES),
                input=0,
                output=3,
            )
        if not space.is_enumerable or space.size() > MAX_TEMPLATE_ENUMERATION:
            raise OutsideSupernetError(
                f"Cannot derive a supernet template for space {space.name!r}: it is not enumerable or has over "
                f"{MAX_TEMPLATE_ENUMERATION} architectures. Build one with "
                "CellTemplate.from_cells([a.cell() for a in architectures]) from the architectures to share."
            )
        return cls.from_cells(_single_cell(a) for a in space.enumerate())

    def path(self, cell: Cell) -> SubnetPath:
        """The choices that make this template compute ``cell``.

        Raises:
            OutsideSupernetError: ``cell`` has other nodes, an edge the template lacks, an operation that
                edge does not hold, the same operation twice on one edge, or a node label not held.
        """
        if len(cell.nodes) != len(self.nodes) or cell.inputs != (self.input,) or cell.output != self.output:
            raise OutsideSupernetError(
                f"The cell has {len(cell.nodes)} nodes, inputs {cell.inputs} and output {cell.output}; this "
                f"supernet's cells have {len(self.nodes)} nodes, input {self.input} and output {self.output}."
            )
        index = {(edge.source, edge.target): e for e, edge in enumerate(self.edges)}
        chosen: list[list[int]] = [[] for _ in self.edges]
        for source, target, op in cell.edges:
            e = index.get((source, target))
            if e is None:
                raise OutsideSupernetError(
                    f"Edge {source}->{target} ({op!r}) is not an edge of this supernet; its edges are "
                    f"{sorted(index)}."
                )
            ops = self.edges[e].ops
            if op not in ops:
                raise OutsideSupernetError(
                    f"Edge {source}->{target} has operation {op!r}, which this supernet does not hold there; "
                    f"it holds {list(ops)}."
                )
            if ops.index(op) in chosen[e]:
                raise OutsideSupernetError(
                    f"Edge {source}->{target} carries {op!r} twice; a supernet holds one module per "
                    "operation and edge, so it cannot give the two copies separate weights."
                )
            chosen[e].append(ops.index(op))
        nodes = []
        for node, label in enumerate(cell.nodes):
            if label not in self.nodes[node]:
                raise OutsideSupernetError(
                    f"Node {node} is labelled {label!r}, which this supernet does not hold there; it holds "
                    f"{list(self.nodes[node])}."
                )
            nodes.append(self.nodes[node].index(label))
        return SubnetPath(tuple(tuple(c) for c in chosen), tuple(nodes))

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and strings (what a checkpoint stores)."""
        return {
            "nodes": [list(labels) for labels in self.nodes],
            "edges": [[edge.source, edge.target, list(edge.ops)] for edge in self.edges],
            "input": self.input,
            "output": self.output,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CellTemplate:
        return cls(
            nodes=tuple(tuple(labels) for labels in data["nodes"]),
            edges=tuple(TemplateEdge(int(s), int(t), tuple(ops)) for s, t, ops in data["edges"]),
            input=int(data["input"]),
            output=int(data["output"]),
        )


def template_for_space(space: SearchSpace) -> CellTemplate:
    """:meth:`CellTemplate.of_space`, once the space's networks are known to be NB201-skeleton networks
    of one cell (a space with a network builder of its own has no supernet form).

    Raises:
        OutsideSupernetError: they are not, or the template cannot be derived (see ``of_space``).
    """
    if has_network_builder(space.name) and space.name != "nb201":
        raise OutsideSupernetError(
            f"Space {space.name!r} builds its networks with its own registered builder, which has no "
            "supernet form; a supernet holds NB201-skeleton networks of one repeated cell."
        )
    return CellTemplate.of_space(space)


def _check_supernet_op(op: str, where: str) -> None:
    if op == "" or op in ZERO_OPERATIONS:
        return
    try:
        check_op(op)
    except UnknownNameError as error:
        raise UnknownNameError(
            f"{where}: operation {op!r} has no supernet form: {error} Register it with "
            "bonas.training.register_op() so every edge can hold a module of it."
        ) from None


def _single_cell(architecture: Architecture) -> Cell:
    if len(architecture.cells) != 1:
        raise OutsideSupernetError(
            f"A supernet holds networks of one repeated cell; {architecture!r} has cells "
            f"{[name for name, _ in architecture.cells] or 'none'}."
        )
    return architecture.cells[0][1]


@dataclass(frozen=True)
class SubnetPath:
    """A single path: the candidate indices each edge runs (empty: no edge) and each node's label index.

    Args:
        edges: per template edge, indices into its ``ops`` (usually one; zero operations compute nothing).
        nodes: per node, the index into its candidate labels.
    """

    edges: tuple[tuple[int, ...], ...]
    nodes: tuple[int, ...]


@dataclass(frozen=True)
class Mixture:
    """A continuous relaxation: every edge computes ``sum_j weights[e][j] * op_j(x)``.

    Args:
        edges: per template edge a 1-d tensor over its candidate operations (zero operations contribute
            nothing whatever their weight); a ``E x K`` tensor where every edge has ``K`` candidates.
        nodes: per node a 1-d tensor over its candidate labels (an aggregation label is the identity),
            or None to use each node's first label.
        active: per edge the candidate indices to compute, or None for all of them. Operations left out
            are skipped (no compute, no gradient, so no weight decay or momentum touches them), as if
            their weight were 0.
    """

    edges: Sequence[torch.Tensor] | torch.Tensor
    nodes: Sequence[torch.Tensor] | None = None
    active: tuple[tuple[int, ...], ...] | None = None


Choice = SubnetPath | Mixture


# -- The modules ------------------------------------------------------------------------------------


class SuperCell(nn.Module):
    """A cell of a :class:`CellTemplate` that runs any of its cells (or a mixture of them).

    ``edge_ops[e][j]`` is operation ``j`` of template edge ``e``; ``node_ops[str(v)][k]`` is label ``k``
    of node ``v`` (:class:`~torch.nn.Identity` for aggregation labels).

    Args:
        template: the cells it holds.
        channels: channels ``C`` of every node (``B x C x H x W`` in and out).
    """

    def __init__(self, template: CellTemplate, channels: int) -> None:
        super().__init__()
        self.template = template
        self.order = _template_order(template)
        self.edge_ops = nn.ModuleList(
            nn.ModuleList(_edge_module(op, channels) for op in edge.ops) for edge in template.edges
        )
        self.zero = [[op in ZERO_OPERATIONS for op in edge.ops] for edge in template.edges]
        self.incoming: dict[int, list[int]] = {v: [] for v in range(len(template.nodes))}
        for e, edge in enumerate(template.edges):
            self.incoming[edge.target].append(e)
        self.node_ops = nn.ModuleDict(
            {
                str(v): nn.ModuleList(
                    nn.Identity() if label in AGGREGATION_LABELS else make_op(label, channels, channels, 1)
                    for label in labels
                )
                for v, labels in enumerate(template.nodes)
                if v != template.input and any(label not in AGGREGATION_LABELS for label in labels)
            }
        )

    def forward(self, x: torch.Tensor, choice: Choice) -> torch.Tensor:
        if isinstance(choice, SubnetPath):
            return self._single_path(x, choice)
        return self._mixture(x, choice)

    def _single_path(self, x: torch.Tensor, path: SubnetPath) -> torch.Tensor:
        values: dict[int, torch.Tensor] = {self.template.input: x}
        for node in self.order:
            if node == self.template.input:
                continue
            terms = [
                self.edge_ops[e][j](values[self.template.edges[e].source])
                for e in self.incoming[node]
                for j in path.edges[e]
                if not self.zero[e][j]
            ]
            total = sum(terms[1:], terms[0]) if terms else torch.zeros_like(x)
            key = str(node)
            values[node] = self.node_ops[key][path.nodes[node]](total) if key in self.node_ops else total
        return values[self.template.output]

    def _mixture(self, x: torch.Tensor, mixture: Mixture) -> torch.Tensor:
        values: dict[int, torch.Tensor] = {self.template.input: x}
        for node in self.order:
            if node == self.template.input:
                continue
            total = torch.zeros_like(x)
            for e in self.incoming[node]:
                source = values[self.template.edges[e].source]
                weights = mixture.edges[e]
                active = range(len(self.edge_ops[e])) if mixture.active is None else mixture.active[e]
                for j in active:
                    if not self.zero[e][j]:
                        total = total + weights[j] * self.edge_ops[e][j](source)
            key = str(node)
            if key in self.node_ops:
                if mixture.nodes is None:
                    total = self.node_ops[key][0](total)
                else:
                    weights = mixture.nodes[node]
                    total = sum(w * op(total) for w, op in zip(weights, self.node_ops[key], strict=True))  # type: ignore[assignment]
            values[node] = total
        return values[self.template.output]


def _edge_module(op: str, channels: int) -> nn.Module:
    # Zero operations and the identity hold no weights; a placeholder keeps the indices aligned.
    if op == "" or op in ZERO_OPERATIONS:
        return nn.Identity()
    return make_op(op, channels, channels, 1)


def _template_order(template: CellTemplate) -> list[int]:
    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(template.nodes)))
    graph.add_edges_from((edge.source, edge.target) for edge in template.edges)
    if not nx.is_directed_acyclic_graph(graph):
        raise InvalidArchitectureError("A supernet template must be acyclic.")
    return list(nx.lexicographical_topological_sort(graph))


class Supernet(CellNetwork):
    """NB201's skeleton with a :class:`SuperCell` in every cell slot (see the module docstring).

    Args:
        template: the cells it holds.
        input_shape: ``(channels, height, width)`` of one image.
        num_classes: classifier outputs.
        settings: ``C`` and ``N`` (as the stand-alone networks it stands for).

    Input ``B x channels x H x W`` and a :data:`Choice`; output ``B x num_classes`` logits.
    """

    def __init__(
        self,
        template: CellTemplate,
        *,
        input_shape: tuple[int, ...],
        num_classes: int,
        settings: NetworkSettings | None = None,
        space: str | None = None,
    ) -> None:
        settings = settings or NetworkSettings()
        super().__init__(
            lambda channels: SuperCell(template, channels),
            input_shape=tuple(input_shape),
            num_classes=num_classes,
            settings=settings,
        )
        self.settings = settings
        self.template = template
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.space = space
        self._paths: dict[Architecture, SubnetPath] = {}

    @classmethod
    def for_space(
        cls,
        space: SearchSpace,
        *,
        input_shape: tuple[int, ...],
        num_classes: int,
        settings: NetworkSettings | None = None,
    ) -> Supernet:
        """A supernet holding every architecture of ``space`` (see :meth:`CellTemplate.of_space`).

        Raises:
            OutsideSupernetError: the space's networks are not one repeated cell in NB201's skeleton.
        """
        return cls(
            template_for_space(space),
            input_shape=input_shape,
            num_classes=num_classes,
            settings=settings,
            space=space.name,
        )

    # -- Choices ------------------------------------------------------------------------------------

    def path(self, architecture: Architecture | Cell) -> SubnetPath:
        """The single path of ``architecture`` (or of a cell).

        Raises:
            OutsideSupernetError: it belongs to another space or uses what the supernet does not hold.
        """
        if isinstance(architecture, Cell):
            return self.template.path(architecture)
        if not isinstance(architecture, Architecture):
            raise TypeError(f"Expected an Architecture or a Cell, got {type(architecture).__name__}.")
        cached = self._paths.get(architecture)
        if cached is not None:
            return cached
        if self.space is not None and architecture.space != self.space:
            raise OutsideSupernetError(
                f"{architecture!r} belongs to space {architecture.space!r}; this supernet holds space "
                f"{self.space!r}."
            )
        path = self.template.path(_single_cell(architecture))
        self._paths[architecture] = path
        return path

    def forward(self, x: torch.Tensor, choice: Choice) -> torch.Tensor:  # type: ignore[override]
        if isinstance(choice, Mixture):
            choice = self._checked_mixture(choice)
        elif not isinstance(choice, SubnetPath):
            raise TypeError(
                f"A supernet runs a SubnetPath (supernet.path(architecture)) or a Mixture, got "
                f"{type(choice).__name__}."
            )
        x = self.stem(x)
        for layer in self.cells:
            x = layer(x, choice) if isinstance(layer, SuperCell) else layer(x)
        return self.classifier(self.head(x).flatten(1))

    def _checked_mixture(self, mixture: Mixture) -> Mixture:
        edges = mixture.edges
        if len(edges) != len(self.template.edges):
            raise ValueError(
                f"A mixture needs weights for each of the supernet's {len(self.template.edges)} edges, got "
                f"{len(edges)}."
            )
        for e, (weights, edge) in enumerate(zip(edges, self.template.edges, strict=True)):
            if weights.dim() != 1 or len(weights) != len(edge.ops):
                raise ValueError(
                    f"Edge {e} ({edge.source}->{edge.target}) has {len(edge.ops)} candidate operations "
                    f"{list(edge.ops)}, but its mixture weights have shape {tuple(weights.shape)}."
                )
        if mixture.active is not None and len(mixture.active) != len(self.template.edges):
            raise ValueError(
                f"A mixture's active operations need one entry per edge ({len(self.template.edges)}), got "
                f"{len(mixture.active)}."
            )
        return mixture

    # -- Inherited weights ----------------------------------------------------------------------------

    def subnet_state_dict(self, architecture: Architecture | Cell) -> dict[str, torch.Tensor]:
        """The weights (and batch-norm buffers) of ``architecture``'s path, named as in its stand-alone
        network of the same settings, so ``build_network(...).load_state_dict(sd, strict=True)`` works."""
        cell = architecture if isinstance(architecture, Cell) else _single_cell(architecture)
        path = self.path(architecture)
        # Stand-alone DagCell numbers its non-zero edges in the cell's edge order.
        index = {(edge.source, edge.target): e for e, edge in enumerate(self.template.edges)}
        renames: dict[str, str] = {}
        standalone = 0
        for source, target, op in cell.edges:
            if op in ZERO_OPERATIONS:
                continue
            e = index[(source, target)]
            renames[f"edge_ops.{e}.{self.template.edges[e].ops.index(op)}."] = f"edge_ops.{standalone}."
            standalone += 1
        for node, k in enumerate(path.nodes):
            if node != self.template.input and cell.nodes[node] not in AGGREGATION_LABELS:
                renames[f"node_ops.{node}.{k}."] = f"node_ops.{node}."
        cell_layers = {str(i) for i, layer in enumerate(self.cells) if isinstance(layer, SuperCell)}
        state: dict[str, torch.Tensor] = {}
        for name, tensor in self.state_dict().items():
            match = _CELL_KEY.match(name)
            if match is None or match["layer"] not in cell_layers:
                state[name] = tensor
                continue
            rest = match["rest"]
            for old, new in renames.items():
                if rest.startswith(old):
                    state[f"cells.{match['layer']}.{new}{rest[len(old) :]}"] = tensor
                    break
        return state

    def extract(self, architecture: Architecture) -> nn.Module:
        """The stand-alone network of ``architecture`` (:func:`build_network`) with the inherited weights.

        Raises:
            OutsideSupernetError: it belongs to another space or uses what the supernet does not hold.
        """
        from bonas.training.networks import build_network

        self.path(architecture)  # an architecture of another space is named as such, before any network
        network = build_network(
            architecture, input_shape=self.input_shape, num_classes=self.num_classes, settings=self.settings
        )
        network.load_state_dict(self.subnet_state_dict(architecture), strict=True)
        return network.to(next(self.parameters()).device)

    # -- Batch norm and scoring -------------------------------------------------------------------

    @torch.no_grad()
    def recalibrate(self, choice: Choice, batches: Iterable[torch.Tensor]) -> None:
        """Reset every batch norm's running statistics and re-estimate them for ``choice``.

        The statistics become the exact average over ``batches`` (train-mode forwards; no weight
        changes). Each subnet sees other inputs at every shared batch norm, so statistics gathered
        while training random paths fit none of them.
        """
        norms = [m for m in self.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        momenta = [m.momentum for m in norms]
        was_training = self.training
        try:
            for m in norms:
                m.reset_running_stats()
                m.momentum = None  # cumulative average
            self.train()
            seen = False
            for x in batches:
                self(x, choice)
                seen = True
            if not seen:
                raise ValueError("recalibrate() needs at least one batch of inputs.")
        finally:
            for m, momentum in zip(norms, momenta, strict=True):
                m.momentum = momentum
            self.train(was_training)

    @torch.no_grad()
    def accuracy(self, choice: Choice, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 512) -> float:
        """Eval-mode accuracy in percent of ``choice`` on ``x`` (``n x ...``) with labels ``y`` (``n``)."""
        was_training = self.training
        self.eval()
        try:
            correct = 0
            for start in range(0, len(y), batch_size):
                logits = self(x[start : start + batch_size], choice)
                correct += int((logits.argmax(dim=1) == y[start : start + batch_size]).sum())
        finally:
            self.train(was_training)
        return 100.0 * correct / max(len(y), 1)

    # -- Checkpoints ----------------------------------------------------------------------------------

    def description(self) -> dict[str, Any]:
        """What must match for a checkpoint to load: template, sizes and the space's name."""
        return {
            "template": self.template.to_dict(),
            "channels": self.settings.channels,
            "cells_per_stage": self.settings.cells_per_stage,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "space": self.space,
        }

    def save(self, file: str | Path, *, extra: Mapping[str, Any] | None = None) -> Path:
        """Write the weights and :meth:`description` to ``file`` atomically (via a temporary file).

        Args:
            file: the checkpoint's path.
            extra: plain values saved beside them (training progress), returned by :meth:`load_state`.
        """
        file = Path(file)
        file.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "description": self.description(),
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
            "extra": dict(extra or {}),
        }
        # A name of this process's own: workers saving the same checkpoint never move each other's file.
        partial = file.with_name(_partial_name(file.name, os.getpid()))
        try:
            torch.save(payload, partial)
            partial.replace(file)
        finally:
            partial.unlink(missing_ok=True)
        return file

    def load_state(self, file: str | Path, *, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Load weights saved by :meth:`save` into this supernet; returns their ``extra`` values.

        Args:
            file: the checkpoint.
            payload: its content where the caller already read it (:func:`read_checkpoint`), so that
                a large checkpoint is not read twice.

        Raises:
            SupernetCheckpointError: the file is not a supernet checkpoint, or it was saved for another
                space, template, width, depth, input shape or class count (each difference named).
        """
        if payload is None:
            payload = read_checkpoint(file)
        theirs, ours = payload["description"], self.description()
        differences = [
            f"{key}: checkpoint {theirs.get(key)!r}, this supernet {ours[key]!r}"
            for key in ours
            if key != "template" and theirs.get(key) != ours[key]
        ]
        if theirs.get("template") != ours["template"]:
            differences.append("template: the checkpoint's cells hold other nodes, edges or operations")
        if differences:
            raise SupernetCheckpointError(
                f"Supernet checkpoint {file} was saved for another supernet ({'; '.join(differences)}). Build "
                "the supernet with the checkpoint's space and settings, or start from a new checkpoint path."
            )
        self.load_state_dict(payload["state_dict"], strict=True)
        self._paths.clear()
        return dict(payload.get("extra", {}))

    @classmethod
    def load(cls, file: str | Path) -> Supernet:
        """A supernet rebuilt from a checkpoint's description, with its weights."""
        payload = read_checkpoint(file)
        description = payload["description"]
        supernet = cls(
            CellTemplate.from_dict(description["template"]),
            input_shape=tuple(description["input_shape"]),
            num_classes=int(description["num_classes"]),
            settings=NetworkSettings(
                channels=int(description["channels"]), cells_per_stage=int(description["cells_per_stage"])
            ),
            space=description["space"],
        )
        supernet.load_state(file, payload=payload)
        return supernet


_CELL_KEY = re.compile(r"^cells\.(?P<layer>\d+)\.(?P<rest>.*)$")


#: The checkpoints this process holds (:func:`hold_checkpoint`): their lock files' descriptors and how many
#: holders of this process share each.
_HELD_CHECKPOINTS: dict[Path, list[int]] = {}


def hold_checkpoint(file: str | Path) -> None:
    """Hold, for the rest of this process, the lock beside the supernet checkpoint ``file``.

    A supernet lives in the process that trains it: two processes on one checkpoint (two workers of a
    weight-sharing study) would each train their own copy, overwrite each other's file and score the
    study's architectures on different supernets. Holders in one process share the lock, which is
    released when the last of them calls :func:`release_checkpoint` (a weight-sharing objective does when
    it is garbage-collected). Where the system has no advisory file locks (Windows), nothing is checked.

    Raises:
        SupernetCheckpointError: another process holds the checkpoint.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - no flock on Windows
        return
    path = Path(file).resolve()
    if path in _HELD_CHECKPOINTS:
        _HELD_CHECKPOINTS[path][1] += 1
        return
    lock = path.with_name(f".{path.name}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise SupernetCheckpointError(
            f"Supernet checkpoint {str(file)!r} is in use by another process (it holds {str(lock)!r}): a "
            "weight-sharing objective trains its supernet in one process, so two would each train their own "
            "and overwrite each other's. Search a weight-sharing study with one process, or give the other "
            "search its own study and checkpoint."
        ) from None
    _HELD_CHECKPOINTS[path] = [descriptor, 1]
    _remove_orphan_partials(Path(file))  # where Supernet.save writes them: beside the path as given


def _partial_name(name: str, pid: int) -> str:
    """The temporary file a save of checkpoint ``name`` by process ``pid`` writes first."""
    return f".{name}.{pid}-{secrets.token_hex(4)}.partial"


def _remove_orphan_partials(path: Path) -> None:
    """Delete the temporary files of saves of ``path`` that a process killed mid-save left behind (their
    names carry the writer's process id, see :func:`_partial_name`; a live writer's file is kept).
    Best effort: a file that cannot be removed stays."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?P<pid>\d{{1,10}})-[0-9a-f]{{8}}\.partial")
    for partial in path.parent.glob(f".{glob.escape(path.name)}.*.partial"):
        found = pattern.fullmatch(partial.name)
        if found is None or int(found["pid"]) == os.getpid() or _process_alive(int(found["pid"])):
            continue
        with suppress(OSError):
            partial.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except OSError:  # another user's live process (PermissionError), or nothing to tell
        return True
    return True


def release_checkpoint(file: str | Path) -> None:
    """One holder of this process lets go of ``file``'s lock (see :func:`hold_checkpoint`)."""
    path = Path(file).resolve()
    held = _HELD_CHECKPOINTS.get(path)
    if held is None:
        return
    held[1] -= 1
    if held[1] == 0:
        del _HELD_CHECKPOINTS[path]
        os.close(held[0])  # closing the descriptor releases the lock


def read_checkpoint(file: str | Path) -> dict[str, Any]:
    """The payload of a supernet checkpoint (read with ``weights_only=True``: no code runs).

    Raises:
        SupernetCheckpointError: missing, unreadable or not written by :meth:`Supernet.save`.
    """
    file = Path(file)
    if not file.is_file():
        raise SupernetCheckpointError(f"Supernet checkpoint {file} does not exist.")
    try:
        payload = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:
        raise SupernetCheckpointError(
            f"Cannot read supernet checkpoint {file}: it is not a file torch.save wrote, or it is damaged "
            f"({type(error).__name__}: {(str(error).splitlines() or [''])[0]}). Give the path of a checkpoint "
            "Supernet.save wrote, or a new path to start a new supernet."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise SupernetCheckpointError(
            f"{file} is not a bonas supernet checkpoint (written by Supernet.save)."
        )
    if payload.get("version") != CHECKPOINT_VERSION:
        raise SupernetCheckpointError(
            f"Supernet checkpoint {file} has format version {payload.get('version')!r}; this bonas reads "
            f"version {CHECKPOINT_VERSION}."
        )
    return payload
