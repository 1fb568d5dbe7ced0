"""The DARTS cell space, as NAS-Bench-301 parameterises it (about 1.08e18 architectures).

A DARTS network stacks two kinds of cell, ``normal`` and ``reduce`` (which halves the resolution). In
each cell, nodes 0 and 1 are the cell's inputs (the outputs of the two previous cells, c_{k-2} and
c_{k-1}), nodes 2 to 5 are intermediate nodes that each sum two operations applied to two distinct
earlier nodes, and the cell's output concatenates nodes 2 to 5. Node 2 always takes nodes 0 and 1;
nodes 3, 4 and 5 choose their pair of inputs. Each chosen input edge carries one of seven
:data:`OPERATIONS`.

Parameters mirror NB301's ConfigSpace (``config_space_v2.json``) with the
``NetworkSelectorDatasetInfo_COLON_darts_COLON_`` prefix dropped (see :func:`long_name`):

* ``inputs_node_<cell>_<node>`` for nodes 3..5: the pair of inputs, e.g. ``"0_2"`` (nodes 0 and 2);
* ``edge_<cell>_<i>`` for the 14 possible edges of a cell, numbered node by node (edges 0-1 into node 2,
  2-4 into node 3, 5-8 into node 4, 9-13 into node 5, each group by source node): active only when the
  target node's inputs include the edge's source, so every cell has exactly 8 active edges.

Parameters are ordered cell by cell, node by node, each inputs parameter before the edges it controls.

String form, DARTS's genotype: per cell 8 ``(operation, source)`` pairs, two per node 2..5, in node
order and within a node by source::

    normal=[(sep_conv_3x3,0),(sep_conv_3x3,1),...];reduce=[(max_pool_3x3,0),...]

:meth:`DartsSpace.parse` also accepts spaces, quotes and either order of a node's two pairs, so a
genotype copied from a DARTS paper or code (``normal=[('sep_conv_3x3', 1), ...]``) parses.

One edit (:meth:`DartsSpace.neighbours`, :meth:`DartsSpace.mutate`) is either a new operation on one
edge or moving one input edge of a node 3..5 to another source node, keeping its operation: 120
neighbours per architecture.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from bonas.architecture import Architecture, Cell, ParamValue
from bonas.errors import InvalidArchitectureError
from bonas.spaces.base import Categorical, Params, SearchSpace

#: Edge operations, in the order of NB301's ConfigSpace.
OPERATIONS = (
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)

#: The two cell types of a DARTS network, in parameter and string order.
CELL_TYPES = ("normal", "reduce")

#: Intermediate nodes of a cell; nodes 0 and 1 are its inputs.
INTERMEDIATE_NODES = (2, 3, 4, 5)

#: Intermediate nodes that choose their pair of inputs (node 2 always takes nodes 0 and 1).
CHOOSING_NODES = (3, 4, 5)

#: Index of the output node in each :class:`~bonas.architecture.Cell` (it concatenates nodes 2..5).
OUTPUT_NODE = 6

#: Node labels of each cell: the two (distinguishable) inputs, four sums, the concatenating output.
NODE_LABELS = ("input0", "input1", "sum", "sum", "sum", "sum", "output")

#: Prefix of every parameter name in NB301's ConfigSpace and surrogate encoding.
NB301_PREFIX = "NetworkSelectorDatasetInfo_COLON_darts_COLON_"

#: DARTS (second order) from Liu et al. 2019, the best-known cell of this space.
DARTS_V2 = (
    "normal=[(sep_conv_3x3,0),(sep_conv_3x3,1),(sep_conv_3x3,0),(sep_conv_3x3,1),"
    "(skip_connect,0),(sep_conv_3x3,1),(skip_connect,0),(dil_conv_3x3,2)];"
    "reduce=[(max_pool_3x3,0),(max_pool_3x3,1),(max_pool_3x3,1),(skip_connect,2),"
    "(max_pool_3x3,0),(skip_connect,2),(max_pool_3x3,1),(skip_connect,2)]"
)

_EXPECTED = (
    "expected 'normal=[(op,source),...];reduce=[(op,source),...]' with 8 (op, source) pairs per cell, "
    "two per node 2..5, each source an earlier node, ops " + ", ".join(OPERATIONS)
)
_CELL_PATTERN = re.compile(r"^\s*(\w+)\s*=\s*\[(.*)\]\s*$", re.DOTALL)
_PAIR = r"\(([^(),]*),([^(),]*)\)"
_BODY_PATTERN = re.compile(rf"\s*(?:{_PAIR}\s*(?:,\s*{_PAIR}\s*)*,?\s*)?")
_PAIR_PATTERN = re.compile(_PAIR)

#: One chosen input of an intermediate node: (operation, source node).
Pair = tuple[str, int]


def edge_index(source: int, target: int) -> int:
    """NB301's number (0..13) of the edge from node ``source`` into intermediate node ``target``."""
    return target * (target - 1) // 2 - 1 + source


def edge_parameter(cell: str, source: int, target: int) -> str:
    """Parameter name of the edge ``source -> target`` of ``cell``, e.g. ``edge_normal_7``."""
    return f"edge_{cell}_{edge_index(source, target)}"


def inputs_parameter(cell: str, node: int) -> str:
    """Parameter name of the input pair of ``node`` (3..5) of ``cell``, e.g. ``inputs_node_reduce_4``."""
    return f"inputs_node_{cell}_{node}"


def input_pairs(node: int) -> tuple[str, ...]:
    """The input-pair choices of ``node``: ``"i_j"`` for nodes ``i < j < node``, in NB301's order."""
    return tuple(f"{i}_{j}" for i, j in combinations(range(node), 2))


def pair_sources(pair: str) -> tuple[int, int]:
    """The two source nodes of an input-pair value such as ``"0_3"``."""
    first, _, second = pair.partition("_")
    return int(first), int(second)


def long_name(name: str) -> str:
    """NB301's ConfigSpace name of parameter ``name``: :data:`NB301_PREFIX` + ``name``."""
    return NB301_PREFIX + name


def short_name(name: str) -> str:
    """The bonas parameter name of an NB301 ConfigSpace name (drops :data:`NB301_PREFIX`)."""
    if not name.startswith(NB301_PREFIX):
        raise InvalidArchitectureError(
            f"NB301 parameter {name!r} does not start with {NB301_PREFIX!r}; pass NB301's full names."
        )
    return name[len(NB301_PREFIX) :]


@dataclass(frozen=True)
class ValueIn:
    """Condition "parameter ``parameter`` takes one of ``values``" (ConfigSpace's InCondition).

    A class rather than a lambda so that the space pickles and the condition prints readably.
    """

    parameter: str
    values: frozenset[str]

    def __call__(self, earlier: Params) -> bool:
        return earlier.get(self.parameter) in self.values


@dataclass(frozen=True)
class DartsGenotype:
    """A DARTS cell pair as DARTS writes it.

    Args:
        normal: 8 ``(operation, source)`` pairs of the normal cell, two per node 2..5 in node order.
        reduce: the same for the reduction cell.
    """

    normal: tuple[Pair, ...]
    reduce: tuple[Pair, ...]

    def cell(self, name: str) -> tuple[Pair, ...]:
        """The pairs of cell ``name`` (``"normal"`` or ``"reduce"``)."""
        if name not in CELL_TYPES:
            raise InvalidArchitectureError(f"No DARTS cell {name!r}; cells are {list(CELL_TYPES)}.")
        return self.normal if name == "normal" else self.reduce

    def __str__(self) -> str:
        return ";".join(
            f"{name}=[" + ",".join(f"({op},{source})" for op, source in self.cell(name)) + "]"
            for name in CELL_TYPES
        )


class DartsSpace(SearchSpace):
    """The DARTS / NAS-Bench-301 space: a normal and a reduction cell, 8 operation edges each.

    Each cell becomes a :class:`~bonas.architecture.Cell` with nodes ``input0, input1, sum x4, output``
    (see :data:`NODE_LABELS`), one edge labelled by its operation per chosen input and a plain edge from
    every intermediate node to the output (DARTS concatenates them). Swapping two intermediate nodes
    that do not feed each other therefore leaves the canonical hash unchanged.
    """

    name = "darts"

    def __init__(self) -> None:
        parameters: list[Categorical] = []
        for cell in CELL_TYPES:
            for node in INTERMEDIATE_NODES:
                if node == 2:
                    parameters.extend(Categorical(edge_parameter(cell, s, 2), OPERATIONS) for s in (0, 1))
                    continue
                selector = inputs_parameter(cell, node)
                pairs = input_pairs(node)
                parameters.append(Categorical(selector, pairs))
                for source in range(node):
                    using = frozenset(p for p in pairs if source in pair_sources(p))
                    parameters.append(
                        Categorical(
                            edge_parameter(cell, source, node), OPERATIONS, active_if=ValueIn(selector, using)
                        )
                    )
        self._parameters = tuple(parameters)

    @property
    def parameters(self) -> tuple[Categorical, ...]:
        return self._parameters

    # -- Parameters, graphs and strings --------------------------------------------------------------

    def build(self, params: Params) -> tuple[tuple[tuple[str, Cell], ...], str]:
        genotype = _genotype_of(params)
        cells = tuple((name, _cell_graph(genotype.cell(name))) for name in CELL_TYPES)
        return cells, str(genotype)

    def parse(self, text: str) -> Architecture:
        return self.from_genotype(parse_genotype(text))

    def genotype(self, architecture: Architecture) -> DartsGenotype:
        """The DARTS genotype of ``architecture`` (what a DARTS trainer builds a network from)."""
        self.validate(architecture)
        return _genotype_of(architecture.param_dict)

    def from_genotype(self, genotype: DartsGenotype) -> Architecture:
        """The architecture of a DARTS genotype.

        Raises:
            InvalidArchitectureError: a cell does not have 8 pairs, an operation is unknown, or a node's
                two sources are not two distinct earlier nodes (nodes 0 and 1 for node 2).
        """
        params: dict[str, ParamValue] = {}
        for cell in CELL_TYPES:
            pairs = genotype.cell(cell)
            if len(pairs) != 2 * len(INTERMEDIATE_NODES):
                raise InvalidArchitectureError(
                    f"The {cell} cell has {len(pairs)} (op, source) pairs, needs "
                    f"{2 * len(INTERMEDIATE_NODES)} (two per node 2..5); {_EXPECTED}."
                )
            for position, node in enumerate(INTERMEDIATE_NODES):
                (op_a, source_a), (op_b, source_b) = pairs[2 * position : 2 * position + 2]
                for op in (op_a, op_b):
                    if op not in OPERATIONS:
                        raise InvalidArchitectureError(
                            f"Unknown operation {op!r} in node {node} of the {cell} cell; "
                            f"valid: {', '.join(OPERATIONS)}."
                        )
                for source in (source_a, source_b):
                    if not isinstance(source, int) or isinstance(source, bool):
                        raise InvalidArchitectureError(
                            f"Source {source!r} of node {node} of the {cell} cell is not a node number (int)."
                        )
                sources = sorted((source_a, source_b))
                if source_a == source_b or not all(0 <= s < node for s in sources):
                    raise InvalidArchitectureError(
                        f"Node {node} of the {cell} cell takes sources {source_a} and {source_b}; it needs "
                        f"two distinct nodes among 0..{node - 1}."
                    )
                if node != 2:
                    params[inputs_parameter(cell, node)] = f"{sources[0]}_{sources[1]}"
                params[edge_parameter(cell, source_a, node)] = op_a
                params[edge_parameter(cell, source_b, node)] = op_b
        return self.from_params(params)

    def to_nb301_config(self, architecture: Architecture) -> dict[str, str]:
        """The active parameters under NB301's ConfigSpace names (see :func:`long_name`)."""
        return {long_name(name): str(value) for name, value in self.to_params(architecture).items()}

    def from_nb301_config(self, config: Mapping[str, ParamValue]) -> Architecture:
        """The architecture of an NB301 ConfigSpace configuration (long names, active parameters only)."""
        return self.from_params({short_name(name): value for name, value in config.items()})

    # -- Size and moves ------------------------------------------------------------------------------

    def size(self) -> int:
        """Exact number of architectures: per cell, each node k picks one of C(k, 2) input pairs and
        an operation for each of its two edges, so ``(prod_k C(k,2) * 7**2)**2 = (180 * 7**8)**2``."""
        per_cell = 1
        for node in INTERMEDIATE_NODES:
            per_cell *= len(input_pairs(node)) * len(OPERATIONS) ** 2
        return per_cell ** len(CELL_TYPES)

    def neighbours(self, architecture: Architecture) -> list[Architecture]:
        """Every architecture one edit away (120 of them).

        An edit either gives one edge another operation (16 edges x 6), or moves one input edge of a
        node 3..5 to another earlier node that the node does not already use, keeping the edge's
        operation (per cell 2 + 4 + 6). Changing a node's whole input pair at once is two edits.
        """
        return [self.from_params(params) for params in self._one_edits(self.to_params(architecture))]

    def mutate(
        self, architecture: Architecture, rng: np.random.Generator, *, max_tries: int = 100
    ) -> Architecture:
        """A uniformly random one of :meth:`neighbours` (``max_tries`` is unused: every edit is valid)."""
        edits = self._one_edits(self.to_params(architecture))
        return self.from_params(edits[int(rng.integers(len(edits)))])

    def _one_edits(self, params: dict[str, ParamValue]) -> list[dict[str, ParamValue]]:
        edits: list[dict[str, ParamValue]] = []
        for cell in CELL_TYPES:
            for node in INTERMEDIATE_NODES:
                sources = _sources(params, cell, node)
                for source in sources:
                    name = edge_parameter(cell, source, node)
                    edits.extend({**params, name: op} for op in OPERATIONS if op != params[name])
                if node == 2:
                    continue
                for kept, moved in (sources, sources[::-1]):
                    for target in range(node):
                        if target in sources:
                            continue
                        edited = dict(params)
                        op = edited.pop(edge_parameter(cell, moved, node))
                        edited[inputs_parameter(cell, node)] = f"{min(kept, target)}_{max(kept, target)}"
                        edited[edge_parameter(cell, target, node)] = op
                        edits.append(edited)
        return edits


def _sources(params: Params, cell: str, node: int) -> tuple[int, int]:
    return (0, 1) if node == 2 else pair_sources(str(params[inputs_parameter(cell, node)]))


def _genotype_of(params: Params) -> DartsGenotype:
    """Genotype of validated parameters: per node, its two (op, source) pairs by source."""
    cells = {
        cell: tuple(
            (str(params[edge_parameter(cell, source, node)]), source)
            for node in INTERMEDIATE_NODES
            for source in _sources(params, cell, node)
        )
        for cell in CELL_TYPES
    }
    return DartsGenotype(normal=cells["normal"], reduce=cells["reduce"])


def _cell_graph(pairs: Sequence[Pair]) -> Cell:
    edges = [(source, INTERMEDIATE_NODES[i // 2], op) for i, (op, source) in enumerate(pairs)]
    edges.extend((node, OUTPUT_NODE, "") for node in INTERMEDIATE_NODES)
    return Cell(nodes=NODE_LABELS, edges=tuple(edges), inputs=(0, 1), output=OUTPUT_NODE)


def parse_genotype(text: str) -> DartsGenotype:
    """The genotype written as ``normal=[(op,source),...];reduce=[(op,source),...]``.

    Whitespace and quotes around operations are ignored, so DARTS's own ``[('sep_conv_3x3', 1), ...]``
    lists parse too. Checks the syntax and the operation names; :meth:`DartsSpace.from_genotype`
    checks the sources.

    Raises:
        InvalidArchitectureError: ``text`` is malformed, misses a cell or names an unknown operation.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidArchitectureError(
            f"A DARTS architecture string must be a non-empty str, got {text!r}; {_EXPECTED}."
        )
    cells: dict[str, tuple[Pair, ...]] = {}
    parts = text.split(";")
    for part in parts:
        match = _CELL_PATTERN.match(part)
        if match is None:
            raise InvalidArchitectureError(
                f"Malformed part {part.strip()!r} of DARTS string {text!r}; {_EXPECTED}."
            )
        name, body = match.groups()
        if name not in CELL_TYPES:
            raise InvalidArchitectureError(
                f"Unknown cell {name!r} in DARTS string {text!r}; cells are {list(CELL_TYPES)}."
            )
        if name in cells:
            raise InvalidArchitectureError(f"Cell {name!r} appears twice in DARTS string {text!r}.")
        if _BODY_PATTERN.fullmatch(body) is None:
            raise InvalidArchitectureError(
                f"Malformed list [{body}] of the {name} cell in {text!r}; write (op,source) pairs separated "
                f"by commas; {_EXPECTED}."
            )
        cells[name] = tuple(_parse_pair(name, op, source) for op, source in _PAIR_PATTERN.findall(body))
    missing = [name for name in CELL_TYPES if name not in cells]
    if missing:
        raise InvalidArchitectureError(
            f"DARTS string {text!r} has no {' or '.join(missing)} cell; {_EXPECTED}."
        )
    return DartsGenotype(normal=cells["normal"], reduce=cells["reduce"])


def _parse_pair(cell: str, raw_op: str, raw_source: str) -> Pair:
    op = raw_op.strip().strip("'\"")
    if op not in OPERATIONS:
        raise InvalidArchitectureError(
            f"Unknown operation {op!r} in the {cell} cell; valid: {', '.join(OPERATIONS)}."
        )
    source = raw_source.strip()
    if not (source.isascii() and source.isdigit()):
        raise InvalidArchitectureError(
            f"Source {source!r} of ({op}, {source}) in the {cell} cell is not a node number (0..4)."
        )
    return op, int(source)
