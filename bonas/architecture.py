"""Architectures as immutable labelled DAGs with an isomorphism-invariant canonical hash.

An :class:`Architecture` is what a search space produces and an objective consumes. It holds

* the flat dict of categorical choices that define it in its space (what an Optuna trial stores),
* one or more :class:`Cell` graphs (a DAG whose nodes and/or edges carry operation labels),
* its string form, which the space parses back (``space.parse(str(arch)) == arch``).

The canonical hash identifies an architecture up to isomorphism: operations on edges become nodes,
edges carrying a zero operation (``"none"``) are dropped, nodes that are not on a path from an input to
the output are pruned, and what is left is put in canonical form (colour refinement plus
individualisation, exact for the small graphs of cell spaces).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

import networkx as nx

from bonas.errors import InvalidArchitectureError

#: Edge operations that compute zero: an edge carrying one is the same as no edge.
ZERO_OPERATIONS = frozenset({"none", "zero"})

ParamValue = str | int | float | bool | None


@dataclass(frozen=True)
class Cell:
    """A DAG with labelled nodes and optionally labelled edges.

    Args:
        nodes: label of node ``i`` (its role such as ``"input"``/``"output"``, or its operation).
        edges: ``(source, target, operation)`` triples; ``operation`` is ``""`` for a plain edge.
        inputs: indices of the nodes that receive the cell's inputs (their labels must differ when
            the inputs are not interchangeable).
        output: index of the node whose value is the cell's output.
    """

    nodes: tuple[str, ...]
    edges: tuple[tuple[int, int, str], ...]
    inputs: tuple[int, ...] = (0,)
    output: int = -1

    def __post_init__(self) -> None:
        n = len(self.nodes)
        if n == 0:
            raise InvalidArchitectureError("A cell needs at least one node, got none.")
        output = self.output if self.output >= 0 else n + self.output
        if not 0 <= output < n:
            raise InvalidArchitectureError(f"Cell output node {self.output} is not one of its {n} nodes.")
        object.__setattr__(self, "output", output)
        for node in self.inputs:
            if not 0 <= node < n:
                raise InvalidArchitectureError(f"Cell input node {node} is not one of its {n} nodes.")
        for source, target, _ in self.edges:
            if not (0 <= source < n and 0 <= target < n):
                raise InvalidArchitectureError(
                    f"Edge {source}->{target} names a node outside 0..{n - 1}; fix the edge list."
                )
        if not _is_acyclic(n, self.edges):
            cycle = [edge[:2] for edge in nx.find_cycle(self.to_networkx())]
            raise InvalidArchitectureError(f"A cell must be acyclic, but it has the cycle {cycle}.")

    def to_networkx(self) -> nx.MultiDiGraph:
        """A new networkx multigraph: node attribute ``label``, edge attribute ``op``."""
        graph = nx.MultiDiGraph()
        for index, label in enumerate(self.nodes):
            graph.add_node(index, label=label, is_input=index in self.inputs, is_output=index == self.output)
        for source, target, op in self.edges:
            graph.add_edge(source, target, op=op)
        return graph

    def operation_dag(self) -> OperationDag:
        """The pruned node-labelled form that the canonical hash and graph encodings work on.

        Each labelled edge ``u -op-> v`` becomes ``u -> (op) -> v``, zero operations are dropped, and
        nodes not on a path from an input to the output are removed.
        """
        return _operation_dag(self)

    def is_connected(self) -> bool:
        """Whether a path of non-zero operations leads from an input to the output (else the cell's
        output does not depend on its input: a network of it computes a constant)."""
        return self.operation_dag().output >= 0

    def operation_graph(self) -> nx.DiGraph:
        """:meth:`operation_dag` as a networkx graph (node attribute ``label``)."""
        return self.operation_dag().to_networkx()

    @property
    def canonical_form(self) -> str:
        """A string equal for two cells exactly when their operation graphs are isomorphic."""
        return _cell_canonical_form(self)


@dataclass(frozen=True)
class OperationDag:
    """A cell's pruned operation graph as plain tuples (see :meth:`Cell.operation_dag`).

    Nodes are numbered ``0..k-1`` in the order of ``ids``, their numbers in the cell with edge
    operations appended after the cell's own nodes.

    Args:
        ids: node number in the unpruned operation graph, per node.
        labels: label per node (cell node label or edge operation).
        predecessors: sorted predecessor indices per node.
        successors: sorted successor indices per node.
        inputs: indices of the input nodes that survived pruning.
        output: index of the output node, -1 when the output is unreachable (everything pruned).
    """

    ids: tuple[int, ...]
    labels: tuple[str, ...]
    predecessors: tuple[tuple[int, ...], ...]
    successors: tuple[tuple[int, ...], ...]
    inputs: tuple[int, ...]
    output: int

    def to_networkx(self) -> nx.DiGraph:
        graph = nx.DiGraph()
        for node, label in zip(self.ids, self.labels, strict=True):
            graph.add_node(node, label=label)
        for v, targets in enumerate(self.successors):
            graph.add_edges_from((self.ids[v], self.ids[t]) for t in targets)
        return graph


@dataclass(frozen=True)
class Architecture:
    """An immutable architecture of a search space.

    Build architectures through their space (``space.from_params``, ``space.parse``, ``space.sample``);
    equality is equality of the space and parameters, :attr:`canonical_hash` is equality up to
    isomorphism.

    Args:
        space: name of the search space the architecture belongs to.
        params: the categorical choices that define it, in the space's parameter order.
        cells: named cell graphs (one for most spaces; ``normal`` and ``reduce`` for DARTS). Empty for
            a user space that defines no graph, in which case the hash is the hash of the parameters.
        text: the string form, which the space parses back.
    """

    space: str
    params: tuple[tuple[str, ParamValue], ...]
    cells: tuple[tuple[str, Cell], ...] = field(compare=False, repr=False)
    text: str = field(compare=False, repr=False)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Architecture({self.space}: {self.text})"

    @property
    def param_dict(self) -> dict[str, ParamValue]:
        """The parameters as a new dict (what an Optuna trial holds)."""
        return dict(self.params)

    def cell(self, name: str | None = None) -> Cell:
        """The cell called ``name``; the only cell when ``name`` is None."""
        cells = dict(self.cells)
        if name is None:
            if len(cells) != 1:
                raise InvalidArchitectureError(
                    f"This {self.space} architecture has cells {sorted(cells)}; pass one of those names."
                )
            return next(iter(cells.values()))
        if name not in cells:
            raise InvalidArchitectureError(f"No cell {name!r}; this architecture has {sorted(cells)}.")
        return cells[name]

    def to_networkx(self, cell: str | None = None) -> nx.MultiDiGraph:
        """A new networkx DAG of one cell (see :meth:`Cell.to_networkx`)."""
        return self.cell(cell).to_networkx()

    @cached_property
    def canonical_hash(self) -> str:
        """16 hex digits, equal for architectures whose cells are pairwise isomorphic once pruned."""
        if self.cells:
            key = ";".join(f"{name}={cell.canonical_form}" for name, cell in self.cells)
        else:
            key = ",".join(f"{name}={value!r}" for name, value in self.params)
        return hashlib.blake2b(f"{self.space}|{key}".encode(), digest_size=8).hexdigest()


@lru_cache(maxsize=2**16)
def _cell_canonical_form(cell: Cell) -> str:
    # Searches meet the same cells again and again (mutations, rejected repeats): cache by value.
    dag = cell.operation_dag()
    return _canonical_form(
        [list(p) for p in dag.predecessors], [list(s) for s in dag.successors], list(dag.labels)
    )


@lru_cache(maxsize=4096)  # spares recomputing a cell for the hash, a second encoding or another WL depth
def _operation_dag(cell: Cell) -> OperationDag:
    labels = list(cell.nodes)
    successors: list[set[int]] = [set() for _ in labels]
    for source, target, op in cell.edges:
        if op in ZERO_OPERATIONS:
            continue
        if op == "":
            successors[source].add(target)
            continue
        labels.append(op)
        successors.append({target})
        successors[source].add(len(labels) - 1)
    predecessors: list[set[int]] = [set() for _ in labels]
    for node, targets in enumerate(successors):
        for target in targets:
            predecessors[target].add(node)
    kept = sorted(reachable(cell.inputs, successors) & reachable((cell.output,), predecessors))
    index = {node: i for i, node in enumerate(kept)}
    return OperationDag(
        ids=tuple(kept),
        labels=tuple(labels[node] for node in kept),
        predecessors=tuple(tuple(sorted(index[p] for p in predecessors[v] if p in index)) for v in kept),
        successors=tuple(tuple(sorted(index[s] for s in successors[v] if s in index)) for v in kept),
        inputs=tuple(index[node] for node in cell.inputs if node in index),
        output=index.get(cell.output, -1),
    )


def reachable(starts: Iterable[int], neighbours: Sequence[set[int]] | Mapping[int, set[int]]) -> set[int]:
    """The nodes reachable from ``starts`` (themselves included), ``neighbours[v]`` being ``v``'s next nodes."""
    seen = set(starts)
    stack = list(seen)
    while stack:
        for other in neighbours[stack.pop()]:
            if other not in seen:
                seen.add(other)
                stack.append(other)
    return seen


def _is_acyclic(n: int, edges: tuple[tuple[int, int, str], ...]) -> bool:
    """Kahn's algorithm; cheaper than building a networkx graph for every cell."""
    indegree = [0] * n
    successors: list[list[int]] = [[] for _ in range(n)]
    for source, target, _ in edges:
        indegree[target] += 1
        successors[source].append(target)
    ready = [v for v in range(n) if indegree[v] == 0]
    visited = 0
    while ready:
        v = ready.pop()
        visited += 1
        for s in successors[v]:
            indegree[s] -= 1
            if indegree[s] == 0:
                ready.append(s)
    return visited == n


def canonical_form(graph: nx.DiGraph) -> str:
    """Canonical string of a small node-labelled DAG (attribute ``label``).

    Colour refinement over in- and out-neighbours, then individualisation of each node of the first
    non-singleton colour class, recursively, keeping the smallest serialisation: an exact canonical
    form, fast on graphs of a few dozen nodes with few symmetries.
    """
    nodes = list(graph.nodes)
    index = {node: i for i, node in enumerate(nodes)}
    predecessors = [[index[p] for p in graph.predecessors(node)] for node in nodes]
    successors = [[index[s] for s in graph.successors(node)] for node in nodes]
    labels = [str(graph.nodes[node].get("label", "")) for node in nodes]
    return _canonical_form(predecessors, successors, labels)


def _canonical_form(predecessors: list[list[int]], successors: list[list[int]], labels: list[str]) -> str:
    if not labels:
        return "empty"
    initial = _rank([(label,) for label in labels])
    return _search(_refine(initial, predecessors, successors), predecessors, successors, labels)


def _rank(signatures: list[Any]) -> list[int]:
    order = {signature: rank for rank, signature in enumerate(sorted(set(signatures)))}
    return [order[signature] for signature in signatures]


def _refine(colours: list[int], predecessors: list[list[int]], successors: list[list[int]]) -> list[int]:
    while True:
        signatures = [
            (
                colours[v],
                tuple(sorted(colours[p] for p in predecessors[v])),
                tuple(sorted(colours[s] for s in successors[v])),
            )
            for v in range(len(colours))
        ]
        refined = _rank(signatures)
        if len(set(refined)) == len(set(colours)):
            return refined
        colours = refined


def _search(
    colours: list[int], predecessors: list[list[int]], successors: list[list[int]], labels: list[str]
) -> str:
    counts: dict[int, int] = {}
    for colour in colours:
        counts[colour] = counts.get(colour, 0) + 1
    ties = [colour for colour, count in counts.items() if count > 1]
    if not ties:
        order = sorted(range(len(colours)), key=colours.__getitem__)
        position = {v: i for i, v in enumerate(order)}
        node_part = ",".join(labels[v] for v in order)
        edge_part = ",".join(
            f"{a}>{b}" for a, b in sorted((position[v], position[s]) for v in order for s in successors[v])
        )
        return f"{node_part}|{edge_part}"
    target = min(ties)
    best: str | None = None
    for v in (u for u, colour in enumerate(colours) if colour == target):
        individualised = _rank([(colour, 0 if u == v else 1) for u, colour in enumerate(colours)])
        candidate = _search(
            _refine(individualised, predecessors, successors), predecessors, successors, labels
        )
        if best is None or candidate < best:
            best = candidate
    assert best is not None
    return best
