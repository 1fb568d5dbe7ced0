"""The NAS-Bench-201 cell space: 4 nodes, 6 edges, 5 operations per edge (15,625 cells).

String form (NB201's own): ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, edges in the order
(1<-0), (2<-0), (2<-1), (3<-0), (3<-1), (3<-2).
"""

from __future__ import annotations

import re

from bonas.architecture import Architecture, Cell
from bonas.errors import InvalidArchitectureError
from bonas.spaces.base import Categorical, Params, SearchSpace

OPERATIONS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")

#: (source, target) of each edge, in arch-string order.
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))

_NODE_PATTERN = re.compile(r"^\|(?:[a-z0-9_]+~\d\|)+$")


def edge_parameter(source: int, target: int) -> str:
    """Parameter name of the edge from node ``source`` to node ``target``."""
    return f"edge_{source}_{target}"


class NB201Space(SearchSpace):
    """NAS-Bench-201's cell: node 0 is the input, 3 the output, every node sums its incoming edges."""

    name = "nb201"

    def __init__(self) -> None:
        self._parameters = tuple(Categorical(edge_parameter(s, t), OPERATIONS) for s, t in EDGES)

    @property
    def parameters(self) -> tuple[Categorical, ...]:
        return self._parameters

    def build(self, params: Params) -> tuple[tuple[tuple[str, Cell], ...], str]:
        ops = [str(params[edge_parameter(s, t)]) for s, t in EDGES]
        cell = Cell(
            nodes=("input", "sum", "sum", "output"),
            edges=tuple((s, t, op) for (s, t), op in zip(EDGES, ops, strict=True)),
            inputs=(0,),
            output=3,
        )
        return (("cell", cell),), to_arch_string(ops)

    def parse(self, text: str) -> Architecture:
        return self.from_params(dict(zip(self.parameter_names, parse_arch_string(text), strict=True)))

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(parameter.name for parameter in self._parameters)

    def operations(self, architecture: Architecture) -> tuple[str, ...]:
        """The 6 edge operations in arch-string order."""
        self.validate(architecture)
        return tuple(str(value) for _, value in architecture.params)

    def from_operations(self, operations: tuple[str, ...] | list[str]) -> Architecture:
        """The architecture with these 6 edge operations in arch-string order."""
        if len(operations) != len(EDGES):
            raise InvalidArchitectureError(
                f"An NB201 cell has {len(EDGES)} edge operations, got {len(operations)}: {operations}."
            )
        return self.from_params(dict(zip(self.parameter_names, operations, strict=True)))


def to_arch_string(operations: list[str] | tuple[str, ...]) -> str:
    """NB201 arch string of 6 operations in edge order."""
    o = operations
    return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"


def parse_arch_string(text: str) -> list[str]:
    """The 6 operations of an NB201 arch string, in edge order.

    Raises:
        InvalidArchitectureError: ``text`` is not of the form ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``
            with operations from :data:`OPERATIONS`.
    """
    expected = "expected '|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' with ops " + ", ".join(OPERATIONS)
    if not isinstance(text, str):
        raise InvalidArchitectureError(f"NB201 arch string must be a str, got {text!r}; {expected}.")
    nodes = text.strip().split("+")
    if len(nodes) != 3 or not all(_NODE_PATTERN.match(node) for node in nodes):
        raise InvalidArchitectureError(f"Malformed NB201 arch string {text!r}; {expected}.")
    operations: list[str] = []
    for target, node in enumerate(nodes, start=1):
        items = node.strip("|").split("|")
        if len(items) != target:
            raise InvalidArchitectureError(
                f"Node {target} of NB201 arch string {text!r} has {len(items)} inputs, needs {target}; {expected}."
            )
        for source, item in enumerate(items):
            op, _, index = item.partition("~")
            if int(index) != source:
                raise InvalidArchitectureError(
                    f"In NB201 arch string {text!r}, {item!r} should come from node {source}; {expected}."
                )
            if op not in OPERATIONS:
                raise InvalidArchitectureError(
                    f"Unknown operation {op!r} in NB201 arch string {text!r}; valid: {', '.join(OPERATIONS)}."
                )
            operations.append(op)
    return operations
