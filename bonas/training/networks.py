"""Torch networks built from architectures: the NB201 cell network, the MLP space, any user DAG.

* :class:`DagCell` runs one cell DAG: every node holds a tensor, every edge applies an operation of the
  registry (:mod:`bonas.training.ops`) to its source, a node sums its incoming edges and then applies
  its own operation when its label names one. NB201's cell is such a DAG.
* :class:`CellNetwork` is NAS-Bench-201's macro skeleton: a 3x3 stem, three stages of ``N`` cells with
  ``C``, ``2C`` and ``4C`` channels separated by residual reduction blocks, then batch norm, ReLU,
  global average pooling and a linear classifier.
* :func:`build_network` picks the builder for an architecture's space (``nb201``, ``mlp``, or any space
  whose architectures carry one cell); :func:`register_network_builder` adds your own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import networkx as nx
import torch
from torch import nn

from bonas.architecture import ZERO_OPERATIONS, Architecture, Cell, reachable
from bonas.errors import InvalidArchitectureError, unknown_name
from bonas.training.ops import ReLUConvBN, check_op, make_op

#: Node labels that only aggregate (sum) their inputs and apply no operation.
AGGREGATION_LABELS = frozenset({"", "input", "output", "sum", "add"})


@dataclass(frozen=True)
class NetworkSettings:
    """Size of the cell network (NB201's published network is ``channels=16, cells_per_stage=5``).

    Args:
        channels: channels ``C`` of the first stage (the others have ``2C`` and ``4C``).
        cells_per_stage: cells ``N`` in each of the three stages.
    """

    channels: int = 16
    cells_per_stage: int = 5

    def __post_init__(self) -> None:
        if self.channels < 1 or self.cells_per_stage < 0:
            raise ValueError(
                f"NetworkSettings needs channels >= 1 and cells_per_stage >= 0, got {self.channels=}, "
                f"{self.cells_per_stage=}."
            )


# -- Cells ------------------------------------------------------------------------------------------


class DagCell(nn.Module):
    """A cell DAG as a module from ``B x C x H x W`` to ``B x C x H x W``.

    Args:
        cell: the DAG (one input node; edges ``(source, target, op)`` with ``op`` a registered operation
            or ``""`` for identity; node labels in :data:`AGGREGATION_LABELS` or a registered operation).
        channels: channels ``C`` of every node.

    Raises:
        InvalidArchitectureError: the cell has several inputs, or a node is dangling (not reachable from
            the input, or with no path to the output).
        UnknownNameError: an edge or node names an operation that is not registered.
    """

    def __init__(self, cell: Cell, channels: int) -> None:
        super().__init__()
        check_cell(cell)
        self.input = cell.inputs[0]
        self.output = cell.output
        self.order = _topological_order(cell)
        self.edge_ops = nn.ModuleList()
        # incoming[v] = [(source, index into edge_ops)], zero operations left out: they add nothing.
        self.incoming: dict[int, list[tuple[int, int]]] = {v: [] for v in range(len(cell.nodes))}
        for source, target, op in cell.edges:
            if op in ZERO_OPERATIONS:
                continue
            self.edge_ops.append(nn.Identity() if op == "" else make_op(op, channels, channels, 1))
            self.incoming[target].append((source, len(self.edge_ops) - 1))
        self.node_ops = nn.ModuleDict(
            {
                str(v): make_op(label, channels, channels, 1)
                for v, label in enumerate(cell.nodes)
                if label not in AGGREGATION_LABELS and v != self.input
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: dict[int, torch.Tensor] = {self.input: x}
        for node in self.order:
            if node == self.input:
                continue
            terms = [self.edge_ops[index](values[source]) for source, index in self.incoming[node]]
            total = sum(terms[1:], terms[0]) if terms else torch.zeros_like(x)
            key = str(node)
            values[node] = self.node_ops[key](total) if key in self.node_ops else total
        return values[self.output]


def check_cell(cell: Cell) -> None:
    """Raise a clear error unless ``cell`` can be built by :class:`DagCell` (see its Raises)."""
    if len(cell.inputs) != 1:
        raise InvalidArchitectureError(
            f"A trainable cell needs exactly one input node, this one has {list(cell.inputs)}; "
            "merge the inputs into one node."
        )
    for source, target, op in cell.edges:
        if op != "" and op not in ZERO_OPERATIONS:
            try:
                check_op(op)
            except ValueError as error:
                raise type(error)(f"Edge {source}->{target}: {error} Add it with register_op().") from None
    for node, label in enumerate(cell.nodes):
        if label not in AGGREGATION_LABELS and node != cell.inputs[0]:
            try:
                check_op(label)
            except ValueError as error:
                raise type(error)(
                    f"Node {node}: {error} Add it with register_op(), or label the node "
                    f"one of {sorted(AGGREGATION_LABELS)} to only sum its inputs."
                ) from None
    successors: dict[int, set[int]] = {v: set() for v in range(len(cell.nodes))}
    predecessors: dict[int, set[int]] = {v: set() for v in range(len(cell.nodes))}
    for source, target, _ in cell.edges:
        successors[source].add(target)
        predecessors[target].add(source)
    from_input = reachable((cell.inputs[0],), successors)
    to_output = reachable((cell.output,), predecessors)
    unreachable = sorted(set(range(len(cell.nodes))) - from_input)
    dead_ends = sorted(set(range(len(cell.nodes))) - to_output)
    if unreachable or dead_ends:
        parts = []
        if unreachable:
            parts.append(f"nodes {unreachable} are not reachable from the input node {cell.inputs[0]}")
        if dead_ends:
            parts.append(f"nodes {dead_ends} have no path to the output node {cell.output}")
        raise InvalidArchitectureError(
            f"Dangling nodes in the cell: {'; '.join(parts)}. Connect them or remove them."
        )


def _topological_order(cell: Cell) -> list[int]:
    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(cell.nodes)))
    graph.add_edges_from((s, t) for s, t, _ in cell.edges)
    return list(nx.lexicographical_topological_sort(graph))


def cell_from_networkx(
    graph: nx.DiGraph, *, input_node: object | None = None, output_node: object | None = None
) -> Cell:
    """A :class:`Cell` from a networkx DAG whose nodes and/or edges carry operations.

    Node attribute ``op`` (or ``label``) names the node's operation (default: sum only); edge attribute
    ``op`` names the edge's operation (default: identity). The input is the node without predecessors
    and the output the node without successors, unless given.

    Raises:
        InvalidArchitectureError: the graph is empty or has a cycle, or its input or output is ambiguous
            (several nodes without predecessors or successors: dangling nodes).
    """
    if graph.number_of_nodes() == 0:
        raise InvalidArchitectureError("The graph has no nodes; give at least an input and an output.")
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle is not None:
        raise InvalidArchitectureError(
            f"The graph must be acyclic, but it has the cycle {[edge[:2] for edge in cycle]}; remove an edge of it."
        )
    nodes = list(graph.nodes)
    index = {node: i for i, node in enumerate(nodes)}
    sources = [node for node in nodes if graph.in_degree(node) == 0]
    sinks = [node for node in nodes if graph.out_degree(node) == 0]
    if input_node is None:
        if len(sources) != 1:
            raise InvalidArchitectureError(
                f"Cannot tell the input node: nodes {sources} have no incoming edge (dangling nodes?). "
                "Connect them or pass input_node=."
            )
        input_node = sources[0]
    if output_node is None:
        if len(sinks) != 1:
            raise InvalidArchitectureError(
                f"Cannot tell the output node: nodes {sinks} have no outgoing edge (dangling nodes?). "
                "Connect them or pass output_node=."
            )
        output_node = sinks[0]
    for role, node in (("input", input_node), ("output", output_node)):
        if node not in index:
            raise InvalidArchitectureError(f"The {role} node {node!r} is not in the graph.")
    labels = []
    for node in nodes:
        data = graph.nodes[node]
        label = str(data.get("op", data.get("label", "")) or "")
        labels.append("input" if node == input_node and label in AGGREGATION_LABELS else label)
    edges = tuple(
        (index[source], index[target], str(data.get("op", "") or ""))
        for source, target, data in graph.edges(data=True)
    )
    return Cell(nodes=tuple(labels), edges=edges, inputs=(index[input_node],), output=index[output_node])


# -- The NB201 skeleton -----------------------------------------------------------------------------


class ResidualReduction(nn.Module):
    """NB201's reduction block: a ResNet basic block with stride 2 and an average-pool + 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0), nn.Conv2d(c_in, c_out, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class CellNetwork(nn.Module):
    """NB201's macro skeleton around any cell.

    Args:
        cell_factory: ``cell_factory(channels)`` returns a module from ``B x channels x H x W`` to the
            same shape.
        input_shape: ``(channels, height, width)`` of one input image.
        num_classes: outputs of the classifier.
        settings: ``C`` and ``N``.

    Input ``B x channels x H x W``, output ``B x num_classes`` logits.
    """

    def __init__(
        self,
        cell_factory: Callable[[int], nn.Module],
        *,
        input_shape: tuple[int, ...],
        num_classes: int,
        settings: NetworkSettings | None = None,
    ) -> None:
        super().__init__()
        settings = settings or NetworkSettings()
        if len(input_shape) != 3:
            raise ValueError(
                f"A cell network takes images of shape (channels, height, width), got {input_shape}; "
                "use an MLP for flat inputs."
            )
        c = settings.channels
        self.stem = nn.Sequential(nn.Conv2d(input_shape[0], c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        layers: list[nn.Module] = []
        for stage in range(3):
            width = c * 2**stage
            if stage > 0:
                layers.append(ResidualReduction(width // 2, width))
            layers.extend(cell_factory(width) for _ in range(settings.cells_per_stage))
        self.cells = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.BatchNorm2d(4 * c), nn.ReLU(inplace=False), nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Linear(4 * c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.cells(self.stem(x))).flatten(1))


class MLP(nn.Sequential):
    """Flatten, then ``Linear -> ReLU`` per hidden width, then a linear classifier.

    Input ``B x *input_shape``, output ``B x num_classes`` logits.
    """

    def __init__(self, widths: list[int], *, input_shape: tuple[int, ...], num_classes: int) -> None:
        layers: list[nn.Module] = [nn.Flatten()]
        features = math.prod(input_shape)
        for width in widths:
            layers += [nn.Linear(features, width), nn.ReLU()]
            features = width
        layers.append(nn.Linear(features, num_classes))
        super().__init__(*layers)


# -- Builders ---------------------------------------------------------------------------------------

NetworkBuilder = Callable[[Architecture, tuple[int, ...], int, NetworkSettings], nn.Module]


def build_nb201_network(
    architecture: Architecture, input_shape: tuple[int, ...], num_classes: int, settings: NetworkSettings
) -> nn.Module:
    """NB201's network (:class:`CellNetwork` of :class:`DagCell`) for an ``nb201`` architecture."""
    cell = architecture.cell()
    return _dag_cell_network(cell, input_shape, num_classes, settings)


def _dag_cell_network(
    cell: Cell, input_shape: tuple[int, ...], num_classes: int, settings: NetworkSettings | None
) -> nn.Module:
    """The NB201 skeleton (:class:`CellNetwork`) with a :class:`DagCell` of ``cell`` in every cell slot."""
    return CellNetwork(
        lambda channels: DagCell(cell, channels),
        input_shape=input_shape,
        num_classes=num_classes,
        settings=settings,
    )


def build_mlp_network(
    architecture: Architecture, input_shape: tuple[int, ...], num_classes: int, settings: NetworkSettings
) -> nn.Module:
    """An :class:`MLP` for an architecture of :func:`bonas.spaces.mlp_space` (``n_layers``, ``width_k``)."""
    params = architecture.param_dict
    if "n_layers" not in params:
        raise InvalidArchitectureError(
            f"An MLP architecture needs parameters n_layers and width_1..; {architecture!r} has {sorted(params)}."
        )
    widths = [int(params[f"width_{k}"]) for k in range(1, int(params["n_layers"]) + 1)]  # type: ignore[arg-type]
    return MLP(widths, input_shape=input_shape, num_classes=num_classes)


def build_dag_network(
    graph: Cell | nx.DiGraph | Architecture,
    *,
    input_shape: tuple[int, ...],
    num_classes: int,
    settings: NetworkSettings | None = None,
) -> nn.Module:
    """The NB201 skeleton with ``graph`` as its cell.

    Args:
        graph: a :class:`Cell`, a networkx DAG (see :func:`cell_from_networkx`) or an architecture with
            exactly one cell.
        input_shape: ``(channels, height, width)``.
        num_classes: classifier outputs.
        settings: ``C`` and ``N``.

    Raises:
        InvalidArchitectureError: a cycle, a dangling node or several inputs.
        UnknownNameError: an operation that is not registered.
    """
    if isinstance(graph, Architecture):
        cell = graph.cell()
    elif isinstance(graph, Cell):
        cell = graph
    elif isinstance(graph, nx.DiGraph):
        cell = cell_from_networkx(graph)
    else:
        raise TypeError(
            f"Expected a Cell, a networkx DiGraph or an Architecture, got {type(graph).__name__}."
        )
    check_cell(cell)
    return _dag_cell_network(cell, input_shape, num_classes, settings)


def _dag_builder(
    architecture: Architecture, input_shape: tuple[int, ...], num_classes: int, settings: NetworkSettings
) -> nn.Module:
    return build_dag_network(
        architecture, input_shape=input_shape, num_classes=num_classes, settings=settings
    )


_BUILDERS: dict[str, NetworkBuilder] = {"nb201": build_nb201_network, "mlp": build_mlp_network}


def register_network_builder(space: str, builder: NetworkBuilder) -> None:
    """Use ``builder(architecture, input_shape, num_classes, settings)`` for architectures of ``space``."""
    _BUILDERS[space] = builder


def has_network_builder(space: str) -> bool:
    """Whether architectures of ``space`` have a builder of their own (else: one cell in NB201's skeleton)."""
    return space in _BUILDERS


def build_network(
    architecture: Architecture,
    *,
    input_shape: tuple[int, ...],
    num_classes: int,
    settings: NetworkSettings | None = None,
) -> nn.Module:
    """A new, randomly initialised network for ``architecture``.

    Spaces with a registered builder use it (``nb201``, ``mlp``); any other architecture with exactly one
    cell becomes :func:`build_dag_network` of that cell.

    Args:
        architecture: the architecture to build.
        input_shape: shape of one input (``(channels, height, width)`` for images).
        num_classes: classifier outputs.
        settings: ``C`` and ``N`` of cell networks.

    Raises:
        UnknownNameError: no builder for the space and the architecture does not have exactly one cell.
    """
    settings = settings or NetworkSettings()
    builder = _BUILDERS.get(architecture.space)
    if builder is None:
        if len(architecture.cells) != 1:
            raise unknown_name("network space", architecture.space, _BUILDERS)
        builder = _dag_builder
    return builder(architecture, tuple(input_shape), num_classes, settings)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (buffers such as batch-norm statistics excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
