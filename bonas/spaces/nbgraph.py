"""The NAS-Bench-Graph space: a GNN of 4 computing nodes, each one layer fed by one earlier node.

An architecture (Qin et al., NeurIPS 2022 Datasets and Benchmarks) is

* a *link* pattern: entry ``i`` names the node that feeds computing node ``i + 1`` (0 is the input,
  ``j`` the ``j``-th computing node). The benchmark keeps one representative of each of the 9 shapes
  a 4-node tree rooted at the input can take (:data:`LINKS`); any other list is a relabelling of one;
* one GNN layer per computing node (:data:`OPERATIONS`; proteins was trained on :data:`PROTEINS_OPERATIONS`).

Every computing node that no other node consumes (a leaf) feeds the output: the package's README says
"all leaf nodes (i.e., nodes without descendants) are connected to the output". How the output
combines them does not change the graph, so the cell just has an edge from each leaf to the output.
A ``skip`` layer is the identity, a wire, and is contracted out of the cell (see :func:`make_cell`), so
cells that differ only in such wires are one architecture.

Parameters: ``link``, a string such as ``"0,0,1,2"`` (the entries of the pattern joined by commas,
readable in an Optuna study), then ``op_1`` .. ``op_4``. Four ``skip`` layers make the identity,
which is not an architecture: the benchmark has no entry for it, and :meth:`NBGraphSpace.check_params`
rejects it, so the space holds 9 * 9**4 - 9 = 59,040 combinations (9 * 5**4 - 9 = 5,616 for proteins),
which cover the table's 26,206 (2,021) isomorphism classes exactly.

String form: ``link=0,0,1,2|ops=gcn,gat,skip,fc``.
"""

from __future__ import annotations

from collections.abc import Sequence

from bonas.architecture import Architecture, Cell
from bonas.errors import InvalidArchitectureError
from bonas.spaces.base import Categorical, Params, SearchSpace

#: The 9 link patterns, in the package's order (its ``link_list``).
LINKS: tuple[tuple[int, int, int, int], ...] = (
    (0, 0, 0, 0),
    (0, 0, 0, 1),
    (0, 0, 1, 1),
    (0, 0, 1, 2),
    (0, 0, 1, 3),
    (0, 1, 1, 1),
    (0, 1, 1, 2),
    (0, 1, 2, 2),
    (0, 1, 2, 3),
)

#: The GNN layers of the 8 node-classification datasets, in the package's order (its ``gnn_list``).
OPERATIONS = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")

#: The 5 layers proteins was trained with (the package's ``gnn_list_proteins``).
PROTEINS_OPERATIONS = ("gcn", "sage", "arma", "fc", "skip")

#: Number of computing nodes.
N_NODES = 4

#: The identity layer; a cell of only these computes nothing.
SKIP = "skip"

LINK_PARAMETER = "link"
OPERATION_PARAMETERS = tuple(f"op_{node}" for node in range(1, N_NODES + 1))

_FORMAT = "expected 'link=a,b,c,d|ops=op1,op2,op3,op4'"


def link_to_string(link: Sequence[int]) -> str:
    """The ``link`` parameter value of a pattern: ``(0, 0, 1, 2)`` -> ``"0,0,1,2"``."""
    return ",".join(str(source) for source in link)


LINK_CHOICES = tuple(link_to_string(link) for link in LINKS)


def leaves(link: Sequence[int]) -> tuple[int, ...]:
    """The computing nodes (1-based) that no other computing node consumes: those feed the output."""
    consumed = set(link)
    return tuple(node for node in range(1, len(link) + 1) if node not in consumed)


class NBGraphSpace(SearchSpace):
    """NAS-Bench-Graph's space of 4-layer GNNs.

    Args:
        proteins: use the 5 layers proteins was trained with (space ``nbgraph-proteins``) instead of
            the 9 of the other datasets (space ``nbgraph``).
    """

    def __init__(self, *, proteins: bool = False) -> None:
        self.proteins = proteins
        self.name = "nbgraph-proteins" if proteins else "nbgraph"
        self.operation_choices = PROTEINS_OPERATIONS if proteins else OPERATIONS
        self._parameters = (
            Categorical(LINK_PARAMETER, LINK_CHOICES),
            *(Categorical(name, self.operation_choices) for name in OPERATION_PARAMETERS),
        )

    @property
    def parameters(self) -> tuple[Categorical, ...]:
        return self._parameters

    def check_params(self, params: Params) -> None:
        if all(params[name] == SKIP for name in OPERATION_PARAMETERS):
            raise InvalidArchitectureError(
                f"Four {SKIP!r} layers make the identity, which is not a NAS-Bench-Graph architecture "
                f"(the benchmark has no entry for it); give at least one node another operation of "
                f"{list(self.operation_choices)}."
            )

    def build(self, params: Params) -> tuple[tuple[tuple[str, Cell], ...], str]:
        link = LINKS[LINK_CHOICES.index(str(params[LINK_PARAMETER]))]
        ops = tuple(str(params[name]) for name in OPERATION_PARAMETERS)
        return (("cell", make_cell(link, ops)),), to_arch_string(link, ops)

    def parse(self, text: str) -> Architecture:
        link, ops = parse_arch_string(text, self.operation_choices)
        return self.from_link_ops(link, ops)

    def from_link_ops(self, link: Sequence[int], ops: Sequence[str]) -> Architecture:
        """The architecture with link pattern ``link`` (one of :data:`LINKS`) and 4 operations ``ops``."""
        if tuple(link) not in LINKS:
            raise InvalidArchitectureError(
                f"Link pattern {list(link)} is not one of NAS-Bench-Graph's; valid: "
                f"{', '.join(LINK_CHOICES)} (other patterns are relabellings of these)."
            )
        if len(ops) != N_NODES:
            raise InvalidArchitectureError(
                f"A NAS-Bench-Graph cell has {N_NODES} operations, got {len(ops)}: {list(ops)}."
            )
        return self.from_params(
            {LINK_PARAMETER: link_to_string(link), **dict(zip(OPERATION_PARAMETERS, ops, strict=True))}
        )

    def link_ops(self, architecture: Architecture) -> tuple[tuple[int, ...], tuple[str, ...]]:
        """The link pattern and the 4 operations of ``architecture``."""
        self.validate(architecture)
        params = architecture.param_dict
        link = LINKS[LINK_CHOICES.index(str(params[LINK_PARAMETER]))]
        return link, tuple(str(params[name]) for name in OPERATION_PARAMETERS)


def make_cell(link: Sequence[int], ops: Sequence[str]) -> Cell:
    """The cell: node 0 ``input``, one node per non-``skip`` layer labelled by its operation, ``output``.

    Computing node ``i`` takes node ``link[i - 1]``; every leaf feeds the output. A ``skip`` layer is the
    identity, a wire: layers that read one read its input instead, and a ``skip`` leaf makes its input
    feed the output. A node that feeds the output through several wires keeps one edge and one ``skip``
    node per further wire (the output sums its inputs, so the count matters). Cells that differ only in
    their wires thus have one graph, hence one canonical hash: graph isomorphism merges the 59,040
    combinations into 27,934 classes for the table's 26,206 entries (never two entries into one class),
    where graphs keeping every skip node had 35,910.
    """

    def source(node: int) -> int:  # what a node outputs, through wires: a computing node or the input
        while node and ops[node - 1] == SKIP:
            node = link[node - 1]
        return node

    kept = [node for node in range(1, len(ops) + 1) if ops[node - 1] != SKIP]
    wired: list[int] = []
    again: list[int] = []
    for leaf in leaves(link):
        (again if source(leaf) in wired else wired).append(source(leaf))
    index = {0: 0, **{node: position for position, node in enumerate(kept, start=1)}}
    output = len(kept) + len(again) + 1
    edges = [(index[source(link[node - 1])], index[node], "") for node in kept]
    edges += [(index[node], output, "") for node in wired]
    for position, node in enumerate(again, start=len(kept) + 1):
        edges += [(index[node], position, ""), (position, output, "")]
    nodes = ("input", *(ops[node - 1] for node in kept), *(SKIP for _ in again), "output")
    return Cell(nodes=nodes, edges=tuple(edges), inputs=(0,), output=output)


def to_arch_string(link: Sequence[int], ops: Sequence[str]) -> str:
    """``link=0,0,1,2|ops=gcn,gat,skip,fc``."""
    return f"link={link_to_string(link)}|ops={','.join(ops)}"


def parse_arch_string(
    text: str, operations: Sequence[str] = OPERATIONS
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The link pattern and operations of a string ``link=a,b,c,d|ops=op1,op2,op3,op4``.

    Raises:
        InvalidArchitectureError: ``text`` is not of that form, its link is not one of :data:`LINKS`,
            or an operation is not one of ``operations``.
    """
    if not isinstance(text, str):
        raise InvalidArchitectureError(f"A NAS-Bench-Graph string must be a str, got {text!r}; {_FORMAT}.")
    parts = {}
    for part in text.strip().split("|"):
        key, equals, value = part.partition("=")
        if not equals or key.strip() not in ("link", "ops") or key.strip() in parts:
            raise InvalidArchitectureError(f"Malformed NAS-Bench-Graph string {text!r}; {_FORMAT}.")
        parts[key.strip()] = [item.strip() for item in value.split(",")]
    if set(parts) != {"link", "ops"}:
        raise InvalidArchitectureError(f"Malformed NAS-Bench-Graph string {text!r}; {_FORMAT}.")
    if not all(item.isdigit() for item in parts["link"]) or tuple(map(int, parts["link"])) not in LINKS:
        raise InvalidArchitectureError(
            f"Unknown link pattern {','.join(parts['link'])!r} in {text!r}; valid: {' '.join(LINK_CHOICES)}."
        )
    ops = tuple(parts["ops"])
    if len(ops) != N_NODES:
        raise InvalidArchitectureError(
            f"{text!r} has {len(ops)} operations, a NAS-Bench-Graph cell needs {N_NODES}; {_FORMAT}."
        )
    for op in ops:
        if op not in operations:
            raise InvalidArchitectureError(
                f"Unknown operation {op!r} in {text!r}; valid: {', '.join(operations)}."
            )
    return tuple(map(int, parts["link"])), ops
