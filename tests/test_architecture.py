"""Cells, architectures and the isomorphism-invariant canonical hash, on hand-made graphs.

The comparison of the hash with NAS-Bench-201's own ``unique_str`` over the whole NB201 space lives in
``tests/spaces/test_nb201.py``.
"""

from __future__ import annotations

import re
import time

import networkx as nx
import numpy as np
import pytest

from bonas.architecture import Architecture, Cell, canonical_form
from bonas.errors import InvalidArchitectureError
from bonas.spaces import get_space

HEX16 = re.compile(r"^[0-9a-f]{16}$")


def arch_of(cell: Cell, space: str = "hand-made") -> Architecture:
    return Architecture(space=space, params=(), cells=(("cell", cell),), text="")


def relabel(cell: Cell, permutation: list[int], rng: np.random.Generator | None = None) -> Cell:
    """The same cell with node ``i`` renamed ``permutation[i]`` (and, with ``rng``, edges reordered)."""
    nodes = [""] * len(cell.nodes)
    for old, new in enumerate(permutation):
        nodes[new] = cell.nodes[old]
    edges = [(permutation[s], permutation[t], op) for s, t, op in cell.edges]
    if rng is not None:
        edges = [edges[i] for i in rng.permutation(len(edges))]
    return Cell(
        nodes=tuple(nodes),
        edges=tuple(edges),
        inputs=tuple(permutation[i] for i in cell.inputs),
        output=permutation[cell.output],
    )


def random_relabelling(cell: Cell, rng: np.random.Generator) -> Cell:
    return relabel(cell, [int(i) for i in rng.permutation(len(cell.nodes))], rng)


#: A small cell with labelled edges: 0 -> 1 -> 2 -> 3 plus shortcuts, nodes summing their inputs.
DIAMOND = Cell(
    nodes=("input", "sum", "sum", "output"),
    edges=((0, 1, "conv3"), (0, 2, "conv1"), (1, 2, "pool"), (1, 3, "skip"), (2, 3, "conv3")),
    inputs=(0,),
    output=3,
)


# -- Cell construction --------------------------------------------------------------------------------


def test_negative_output_counts_from_the_end() -> None:
    cell = Cell(nodes=("input", "a", "output"), edges=((0, 1, ""), (1, 2, "")), output=-1)
    assert cell.output == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"nodes": (), "edges": ()}, "at least one node"),
        ({"nodes": ("input", "output"), "edges": ((0, 2, "conv"),)}, "0->2"),
        ({"nodes": ("input", "output"), "edges": ((-1, 1, "conv"),)}, "-1->1"),
        ({"nodes": ("input", "output"), "edges": (), "output": 5}, "output node 5"),
        ({"nodes": ("input", "output"), "edges": (), "inputs": (3,)}, "input node 3"),
    ],
)
def test_malformed_cells_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=re.escape(message)):
        Cell(**kwargs)


def test_cycle_raises_naming_the_cycle() -> None:
    with pytest.raises(InvalidArchitectureError, match="acyclic"):
        Cell(nodes=("input", "a", "b", "output"), edges=((0, 1, ""), (1, 2, ""), (2, 1, ""), (2, 3, "")))
    with pytest.raises(ValueError, match="cycle"):
        Cell(nodes=("input", "output"), edges=((0, 1, "conv"), (1, 1, "conv")))


def test_cell_is_immutable() -> None:
    with pytest.raises(AttributeError):
        DIAMOND.nodes = ("x",)  # type: ignore[misc]


def test_to_networkx_carries_labels_and_operations() -> None:
    graph = DIAMOND.to_networkx()
    assert sorted(graph.nodes) == [0, 1, 2, 3]
    assert [graph.nodes[i]["label"] for i in range(4)] == ["input", "sum", "sum", "output"]
    assert [graph.nodes[i]["is_input"] for i in range(4)] == [True, False, False, False]
    assert [graph.nodes[i]["is_output"] for i in range(4)] == [False, False, False, True]
    assert sorted((s, t, d["op"]) for s, t, d in graph.edges(data=True)) == sorted(DIAMOND.edges)
    # A new graph every call: editing it leaves the cell alone.
    graph.add_node(99)
    assert 99 not in DIAMOND.to_networkx()


def test_to_networkx_keeps_parallel_edges() -> None:
    cell = Cell(nodes=("input", "output"), edges=((0, 1, "conv"), (0, 1, "pool")))
    assert cell.to_networkx().number_of_edges() == 2


def test_operation_graph_turns_edge_operations_into_nodes() -> None:
    graph = DIAMOND.operation_graph()
    labels = sorted(label for _, label in graph.nodes(data="label"))
    assert labels == sorted(["input", "sum", "sum", "output", "conv3", "conv1", "pool", "skip", "conv3"])
    assert graph.number_of_edges() == 2 * len(DIAMOND.edges)


def test_architecture_to_networkx_and_cell_lookup() -> None:
    arch = arch_of(DIAMOND)
    assert arch.cell() is DIAMOND
    assert arch.cell("cell") is DIAMOND
    assert arch.to_networkx().nodes[3]["label"] == "output"
    with pytest.raises(InvalidArchitectureError, match="No cell 'normal'"):
        arch.cell("normal")
    two = Architecture(space="s", params=(), cells=(("normal", DIAMOND), ("reduce", DIAMOND)), text="")
    with pytest.raises(InvalidArchitectureError, match="normal"):
        two.cell()
    assert two.cell("reduce") is DIAMOND


# -- Canonical hash -----------------------------------------------------------------------------------


def test_hash_is_16_hex_digits_and_deterministic() -> None:
    digest = arch_of(DIAMOND).canonical_hash
    assert HEX16.match(digest)
    assert (
        arch_of(Cell(DIAMOND.nodes, DIAMOND.edges, DIAMOND.inputs, DIAMOND.output)).canonical_hash == digest
    )


def test_isomorphic_relabellings_hash_equal() -> None:
    rng = np.random.default_rng(0)
    expected = arch_of(DIAMOND).canonical_hash
    for _ in range(20):
        assert arch_of(random_relabelling(DIAMOND, rng)).canonical_hash == expected


def test_random_dags_are_invariant_under_relabelling() -> None:
    rng = np.random.default_rng(1)
    ops = ("conv", "pool", "skip", "")
    for _ in range(30):
        n = int(rng.integers(3, 9))
        edges = tuple(
            (s, t, ops[int(rng.integers(len(ops)))])
            for t in range(1, n)
            for s in range(t)
            if rng.random() < 0.5
        )
        nodes = ("input", *("node" for _ in range(n - 2)), "output")
        cell = Cell(nodes=nodes, edges=edges, inputs=(0,), output=n - 1)
        assert random_relabelling(cell, rng).canonical_form == cell.canonical_form


def test_different_operations_hash_differently() -> None:
    base = arch_of(DIAMOND).canonical_hash
    for index in range(len(DIAMOND.edges)):
        edges = list(DIAMOND.edges)
        s, t, op = edges[index]
        edges[index] = (s, t, "other" if op != "other" else "conv3")
        assert arch_of(Cell(DIAMOND.nodes, tuple(edges), (0,), 3)).canonical_hash != base


def test_different_node_labels_hash_differently() -> None:
    chain = Cell(nodes=("input", "linear_64", "output"), edges=((0, 1, ""), (1, 2, "")))
    other = Cell(nodes=("input", "linear_128", "output"), edges=((0, 1, ""), (1, 2, "")))
    assert arch_of(chain).canonical_hash != arch_of(other).canonical_hash


def test_edge_direction_matters() -> None:
    forward = Cell(nodes=("input", "a", "b", "output"), edges=((0, 1, ""), (1, 2, ""), (2, 3, "")))
    backward = Cell(nodes=("input", "b", "a", "output"), edges=((0, 1, ""), (1, 2, ""), (2, 3, "")))
    assert forward.canonical_form != backward.canonical_form


def test_zero_operation_edge_equals_no_edge() -> None:
    with_zero = Cell(DIAMOND.nodes, (*DIAMOND.edges, (0, 3, "none")), (0,), 3)
    with_zero_alias = Cell(DIAMOND.nodes, (*DIAMOND.edges, (0, 3, "zero")), (0,), 3)
    assert arch_of(with_zero).canonical_hash == arch_of(DIAMOND).canonical_hash
    assert arch_of(with_zero_alias).canonical_hash == arch_of(DIAMOND).canonical_hash
    # ... whereas any real operation on that edge changes the hash.
    with_skip = Cell(DIAMOND.nodes, (*DIAMOND.edges, (0, 3, "skip")), (0,), 3)
    assert arch_of(with_skip).canonical_hash != arch_of(DIAMOND).canonical_hash


def test_node_not_reaching_the_output_is_pruned() -> None:
    dangling = Cell(
        nodes=(*DIAMOND.nodes, "sum"),
        edges=(*DIAMOND.edges, (1, 4, "conv3"), (0, 4, "pool")),
        inputs=(0,),
        output=3,
    )
    assert arch_of(dangling).canonical_hash == arch_of(DIAMOND).canonical_hash


def test_node_not_reached_from_an_input_is_pruned() -> None:
    orphan = Cell(
        nodes=(*DIAMOND.nodes, "sum"),
        edges=(*DIAMOND.edges, (4, 3, "conv3"), (4, 2, "pool")),
        inputs=(0,),
        output=3,
    )
    assert arch_of(orphan).canonical_hash == arch_of(DIAMOND).canonical_hash


def test_node_cut_off_by_zero_edges_is_pruned() -> None:
    # Node 2's only input is a zero edge, so its conv into the output contributes nothing.
    cut = Cell(
        nodes=("input", "sum", "sum", "output"),
        edges=((0, 1, "conv3"), (1, 3, "pool"), (0, 2, "none"), (2, 3, "conv3")),
    )
    plain = Cell(nodes=("input", "sum", "output"), edges=((0, 1, "conv3"), (1, 2, "pool")))
    assert arch_of(cut).canonical_hash == arch_of(plain).canonical_hash


def test_output_unreachable_gives_the_empty_form() -> None:
    dead = Cell(nodes=("input", "sum", "output"), edges=((0, 1, "conv"), (1, 2, "none")))
    no_edges = Cell(nodes=("input", "output"), edges=())
    assert dead.canonical_form == no_edges.canonical_form == "empty"
    assert dead.operation_graph().number_of_nodes() == 0


def test_inputs_with_distinct_labels_are_not_interchangeable() -> None:
    # Two cell inputs (as in DARTS): c_{k-2} and c_{k-1}; which one feeds the conv matters.
    first = Cell(
        nodes=("input_0", "input_1", "output"),
        edges=((0, 2, "conv"), (1, 2, "pool")),
        inputs=(0, 1),
        output=2,
    )
    swapped = Cell(
        nodes=("input_0", "input_1", "output"),
        edges=((0, 2, "pool"), (1, 2, "conv")),
        inputs=(0, 1),
        output=2,
    )
    assert first.canonical_form != swapped.canonical_form
    assert relabel(first, [1, 0, 2]).canonical_form == first.canonical_form


def test_exact_where_colour_refinement_alone_fails() -> None:
    """Two 2-regular bipartite layers, an 8-cycle versus two 4-cycles: every node has the same colour
    after refinement, so only the individualisation search tells them apart."""

    def layered(pairs: list[tuple[int, int]]) -> Cell:
        # node 0 input, 1-4 layer a, 5-8 layer b, 9 output
        edges = [(0, a, "") for a in range(1, 5)]
        edges += [(a, b, "") for a, b in pairs]
        edges += [(b, 9, "") for b in range(5, 9)]
        return Cell(nodes=("input", *("a",) * 4, *("b",) * 4, "output"), edges=tuple(edges), output=9)

    eight_cycle = layered([(1, 5), (1, 6), (2, 6), (2, 7), (3, 7), (3, 8), (4, 8), (4, 5)])
    two_four_cycles = layered([(1, 5), (1, 6), (2, 5), (2, 6), (3, 7), (3, 8), (4, 7), (4, 8)])
    assert eight_cycle.canonical_form != two_four_cycles.canonical_form
    rng = np.random.default_rng(2)
    assert random_relabelling(eight_cycle, rng).canonical_form == eight_cycle.canonical_form
    assert random_relabelling(two_four_cycles, rng).canonical_form == two_four_cycles.canonical_form


def parallel_branches(ops: list[str]) -> Cell:
    """input -> branch_i -> output for each op: ``0 -op-> i -op-> n+1``."""
    n = len(ops)
    edges = [(0, i, op) for i, op in enumerate(ops, start=1)]
    edges += [(i, n + 1, op) for i, op in enumerate(ops, start=1)]
    return Cell(nodes=("input", *("sum",) * n, "output"), edges=tuple(edges), output=n + 1)


def test_many_automorphisms_hash_quickly_and_equally() -> None:
    """6 identical parallel branches have 720 automorphisms that the individualisation search walks."""
    rng = np.random.default_rng(3)
    identical = parallel_branches(["conv"] * 6)
    start = time.perf_counter()
    expected = arch_of(identical).canonical_hash
    elapsed = time.perf_counter() - start
    for _ in range(3):
        assert arch_of(random_relabelling(identical, rng)).canonical_hash == expected
    # Generous bound (about 0.15 s here): guards against an exponential regression, not a benchmark.
    assert elapsed < 3.0, f"hashing 6 parallel branches took {elapsed:.2f} s"

    mixed = parallel_branches(["conv", "pool", "conv", "pool", "conv", "pool"])
    reordered = parallel_branches(["pool", "pool", "conv", "conv", "pool", "conv"])
    assert arch_of(mixed).canonical_hash == arch_of(reordered).canonical_hash
    assert (
        arch_of(mixed).canonical_hash
        != arch_of(parallel_branches(["conv"] * 3 + ["pool"] * 2)).canonical_hash
    )
    assert arch_of(mixed).canonical_hash != expected


def test_hash_depends_on_space_name() -> None:
    assert arch_of(DIAMOND, "space-a").canonical_hash != arch_of(DIAMOND, "space-b").canonical_hash


def test_hash_combines_named_cells() -> None:
    other = parallel_branches(["conv", "pool"])

    def two(normal: Cell, reduce: Cell) -> Architecture:
        return Architecture(space="s", params=(), cells=(("normal", normal), ("reduce", reduce)), text="")

    assert two(DIAMOND, other).canonical_hash != two(other, DIAMOND).canonical_hash
    assert (
        two(DIAMOND, other).canonical_hash
        == two(random_relabelling(DIAMOND, np.random.default_rng(4)), other).canonical_hash
    )


def test_architecture_without_cells_hashes_its_parameters() -> None:
    def arch(params: dict, space: str = "plain") -> Architecture:
        return Architecture(space=space, params=tuple(params.items()), cells=(), text="")

    a = arch({"lr": 0.1, "depth": 2})
    assert HEX16.match(a.canonical_hash)
    assert a.canonical_hash == arch({"lr": 0.1, "depth": 2}).canonical_hash
    assert a.canonical_hash != arch({"lr": 0.1, "depth": 3}).canonical_hash
    assert a.canonical_hash != arch({"lr": 0.1, "depth": "2"}).canonical_hash
    assert a.canonical_hash != arch({"lr": 0.1, "depth": 2}, space="other").canonical_hash


def test_architecture_equality_ignores_cells_and_text() -> None:
    a = Architecture(space="s", params=(("x", 1),), cells=(("cell", DIAMOND),), text="x=1")
    b = Architecture(space="s", params=(("x", 1),), cells=(), text="different")
    assert a == b and hash(a) == hash(b)
    assert a != Architecture(space="t", params=(("x", 1),), cells=(), text="x=1")
    assert str(a) == "x=1"
    assert "x=1" in repr(a) and "s" in repr(a)
    assert a.param_dict == {"x": 1}
    a.param_dict["x"] = 2
    assert a.param_dict == {"x": 1}


def test_canonical_form_of_plain_networkx_graphs() -> None:
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_node("a", label="x")
    graph.add_node("b", label="y")
    graph.add_edge("a", "b")
    other = nx.DiGraph()
    other.add_node(1, label="y")
    other.add_node(0, label="x")
    other.add_edge(0, 1)
    assert canonical_form(graph) == canonical_form(other)
    assert canonical_form(nx.DiGraph()) == "empty"


def _reference_operation_graph(cell: Cell) -> nx.DiGraph:
    """The pruned operation graph built the slow, obvious way with networkx."""
    graph = nx.DiGraph()
    graph.add_nodes_from((i, {"label": label}) for i, label in enumerate(cell.nodes))
    extra = len(cell.nodes)
    for source, target, op in cell.edges:
        if op in ("none", "zero"):
            continue
        if op == "":
            graph.add_edge(source, target)
            continue
        graph.add_node(extra, label=op)
        graph.add_edge(source, extra)
        graph.add_edge(extra, target)
        extra += 1
    from_inputs = set(cell.inputs).union(*(nx.descendants(graph, v) for v in cell.inputs))
    to_output = nx.ancestors(graph, cell.output) | {cell.output}
    return graph.subgraph(from_inputs & to_output).copy()


@pytest.mark.parametrize("space_name", ["nb201", "nbgraph", "darts", "mlp"])
def test_operation_dag_matches_a_networkx_reference(space_name: str) -> None:
    space = get_space(space_name)
    rng = np.random.default_rng(0)
    architectures = [space.sample(rng) for _ in range(30)]
    if space_name == "nb201":
        architectures.append(space.from_operations(["none"] * 6))  # everything pruned
    for architecture in architectures:
        for _, cell in architecture.cells:
            reference = _reference_operation_graph(cell)
            dag = cell.operation_dag()
            assert dict(zip(dag.ids, dag.labels, strict=True)) == dict(reference.nodes(data="label"))
            edges = {(dag.ids[v], dag.ids[t]) for v, targets in enumerate(dag.successors) for t in targets}
            assert edges == set(reference.edges)
            assert {
                (dag.ids[p], dag.ids[v]) for v, preds in enumerate(dag.predecessors) for p in preds
            } == edges
            assert nx.utils.graphs_equal(cell.operation_graph(), reference)


def test_a_cell_is_connected_when_a_non_zero_path_joins_input_and_output() -> None:
    from bonas.spaces import NB201Space

    space = NB201Space()
    assert not space.from_operations(["none"] * 6).cell().is_connected()
    dead_end = ["nor_conv_3x3", "none", "none", "none", "none", "none"]  # 0 -> 1, and nothing out of 1
    assert not space.from_operations(dead_end).cell().is_connected()
    assert (
        space.from_operations(["none", "none", "none", "skip_connect", "none", "none"]).cell().is_connected()
    )
