"""The NAS-Bench-201 cell space, and its canonical hash against NB201's own ``unique_str``."""

from __future__ import annotations

import csv
import time
from collections import defaultdict
from collections.abc import Iterable

import networkx as nx
import numpy as np
import pytest

from bonas.architecture import Architecture
from bonas.errors import InvalidArchitectureError
from bonas.spaces import NB201Space, get_space
from bonas.spaces.base import SearchSpace
from bonas.spaces.nb201 import EDGES, OPERATIONS, edge_parameter, parse_arch_string, to_arch_string
from bonas.testing.spaces import SearchSpaceConformance
from tests.conftest import require_shared_file

#: Best mean validation accuracy on cifar10-valid (DATA.md).
BEST_CIFAR10_VALID = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
)


class TestNB201Conformance(SearchSpaceConformance):
    def make_space(self) -> SearchSpace:
        return NB201Space()


@pytest.fixture(scope="module")
def space() -> NB201Space:
    return NB201Space()


@pytest.fixture(scope="module")
def all_hashes(space: NB201Space) -> dict[str, str]:
    """arch string -> canonical hash for the whole space (the time is printed, not asserted)."""
    start = time.perf_counter()
    hashes = {str(arch): arch.canonical_hash for arch in space.enumerate()}
    print(f"\nbuilt and hashed all {len(hashes):,} NB201 cells in {time.perf_counter() - start:.2f} s")
    return hashes


# -- Pinned facts ---------------------------------------------------------------------------------------


def test_registered_by_name() -> None:
    assert isinstance(get_space("nb201"), NB201Space)


def test_six_edge_parameters_of_five_operations(space: NB201Space) -> None:
    assert space.parameter_names == tuple(f"edge_{s}_{t}" for s, t in EDGES)
    assert list(EDGES) == [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]
    assert all(parameter.choices == OPERATIONS for parameter in space.parameters)
    assert len(OPERATIONS) == 5
    assert edge_parameter(1, 3) == "edge_1_3"


def test_size_is_15625(space: NB201Space) -> None:
    assert space.size() == 15_625 == 5**6
    assert space.is_enumerable


def test_every_cell_has_24_neighbours(space: NB201Space) -> None:
    rng = np.random.default_rng(0)
    for arch in [space.sample(rng) for _ in range(10)] + [space.parse(BEST_CIFAR10_VALID)]:
        neighbours = space.neighbours(arch)
        assert len(neighbours) == 24 == 6 * 4
        ops = space.operations(arch)
        for neighbour in neighbours:
            assert sum(a != b for a, b in zip(ops, space.operations(neighbour), strict=True)) == 1


def test_parse_known_best_cifar10_valid_architecture(space: NB201Space) -> None:
    arch = space.parse(BEST_CIFAR10_VALID)
    assert space.operations(arch) == (
        "nor_conv_3x3",
        "nor_conv_3x3",
        "nor_conv_3x3",
        "skip_connect",
        "nor_conv_3x3",
        "nor_conv_1x1",
    )
    assert arch.param_dict["edge_0_3"] == "skip_connect"
    assert arch.param_dict["edge_2_3"] == "nor_conv_1x1"
    assert str(arch) == BEST_CIFAR10_VALID
    assert space.from_operations(space.operations(arch)) == arch
    cell = arch.cell()
    assert cell.nodes == ("input", "sum", "sum", "output")
    assert cell.inputs == (0,) and cell.output == 3
    assert (0, 3, "skip_connect") in cell.edges


def test_arch_string_helpers_are_inverse() -> None:
    ops = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "none"]
    text = to_arch_string(ops)
    assert text == "|none~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|none~2|"
    assert parse_arch_string(text) == ops


def test_surrounding_whitespace_is_tolerated(space: NB201Space) -> None:
    assert space.parse(f"  {BEST_CIFAR10_VALID}\n") == space.parse(BEST_CIFAR10_VALID)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "Malformed NB201 arch string"),
        (BEST_CIFAR10_VALID + "+|none~0|none~1|none~2|none~3|", "Malformed NB201 arch string"),
        ("|nor_conv_3x3~0|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "Node 1 .* has 2 inputs, needs 1"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "Node 2 .* has 1 inputs, needs 2"),
        (
            "|nor_conv_3x3~1|+|none~0|none~1|+|none~0|none~1|none~2|",
            "'nor_conv_3x3~1' should come from node 0",
        ),
        ("|none~0|+|none~0|none~0|+|none~0|none~1|none~2|", "'none~0' should come from node 1"),
        ("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "Unknown operation 'conv_5x5'"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|Skip~2|", "Malformed NB201 arch string"),
        ("none~0+none~0|none~1+none~0|none~1|none~2", "Malformed NB201 arch string"),
        ("", "Malformed NB201 arch string"),
    ],
)
def test_malformed_strings_raise_naming_the_problem(space: NB201Space, text: str, message: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=message) as info:
        space.parse(text)
    assert "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|" in str(info.value) or "valid:" in str(info.value)


@pytest.mark.parametrize("value", [None, 42, ["none"] * 6, b"|none~0|"])
def test_non_string_raises(space: NB201Space, value: object) -> None:
    with pytest.raises(InvalidArchitectureError, match="must be a str"):
        space.parse(value)  # type: ignore[arg-type]


def test_from_operations_checks_length_and_names(space: NB201Space) -> None:
    with pytest.raises(InvalidArchitectureError, match="6 edge operations, got 5"):
        space.from_operations(["none"] * 5)
    with pytest.raises(InvalidArchitectureError, match="'conv_7x7'"):
        space.from_operations(["conv_7x7"] + ["none"] * 5)


# -- Canonical hash on NB201 cells ----------------------------------------------------------------------


def test_swapping_the_two_intermediate_branches_keeps_the_hash(space: NB201Space) -> None:
    # 0 -a-> 1 -b-> 3 and 0 -c-> 2 -d-> 3 with no 1->2 edge: nodes 1 and 2 are interchangeable.
    left = space.from_operations(
        ["nor_conv_3x3", "nor_conv_1x1", "none", "none", "avg_pool_3x3", "skip_connect"]
    )
    right = space.from_operations(
        ["nor_conv_1x1", "nor_conv_3x3", "none", "none", "skip_connect", "avg_pool_3x3"]
    )
    assert left != right
    assert left.canonical_hash == right.canonical_hash
    crossed = space.from_operations(
        ["nor_conv_1x1", "nor_conv_3x3", "none", "none", "avg_pool_3x3", "skip_connect"]
    )
    assert crossed.canonical_hash != left.canonical_hash


def test_dead_edges_do_not_change_the_hash(space: NB201Space) -> None:
    base = space.from_operations(["none", "none", "none", "nor_conv_3x3", "none", "none"])
    # Node 1 gets nothing (0->1 is none), so what leaves it is dead.
    for op in OPERATIONS:
        dead = space.from_operations(["none", "none", op, "nor_conv_3x3", op, "none"])
        assert dead.canonical_hash == base.canonical_hash


def test_skip_connect_is_an_ordinary_operation_for_the_hash(space: NB201Space) -> None:
    through_skip = space.from_operations(["skip_connect", "none", "none", "none", "nor_conv_3x3", "none"])
    direct = space.from_operations(["none", "none", "none", "nor_conv_3x3", "none", "none"])
    assert through_skip.canonical_hash != direct.canonical_hash


# -- Comparison with NB201's unique_str ------------------------------------------------------------------


def skip_transparent_expression(operations: Iterable[str]) -> str:
    """The cell's output as an expression with ``skip_connect`` transparent and zeros removed.

    A node's value is a sum; its terms are, for each incoming edge ``s -op-> node``: nothing when ``op``
    is ``none`` or node ``s`` is zero (no terms), the terms of node ``s`` when ``op`` is ``skip_connect``
    (sums flatten), else one term ``op(<terms of s>)``. Terms are sorted, so the string is invariant to
    the order of a sum's terms at every depth.
    """
    terms_of: dict[int, tuple[str, ...]] = {0: ("input",)}
    ops = list(operations)
    for node in (1, 2, 3):
        terms: list[str] = []
        for (source, target), op in zip(EDGES, ops, strict=True):
            if target != node or op == "none" or not terms_of[source]:
                continue
            if op == "skip_connect":
                terms.extend(terms_of[source])
            else:
                terms.append(f"{op}({'+'.join(terms_of[source])})")
        terms_of[node] = tuple(sorted(terms))
    return "+".join(terms_of[3])


def test_skip_transparent_expression_examples() -> None:
    assert skip_transparent_expression(["none"] * 6) == ""
    assert skip_transparent_expression(["skip_connect", "none", "none", "none", "nor_conv_3x3", "none"]) == (
        "nor_conv_3x3(input)"
    )
    assert skip_transparent_expression(parse_arch_string(BEST_CIFAR10_VALID)) == (
        "input+nor_conv_1x1(nor_conv_3x3(input)+nor_conv_3x3(nor_conv_3x3(input)))+nor_conv_3x3(nor_conv_3x3(input))"
    )


def classes(labels: dict[str, str]) -> dict[str, set[str]]:
    """label -> set of arch strings carrying it."""
    grouped: dict[str, set[str]] = defaultdict(set)
    for arch, label in labels.items():
        grouped[label].add(arch)
    return grouped


@pytest.fixture(scope="module")
def unique_str() -> dict[str, str]:
    """arch string -> NB201's unique_str, from the shared test-accuracy table (skips when absent)."""
    path = require_shared_file("nb201/nb201_test_accuracy.csv")
    with path.open(newline="") as handle:
        return {row["arch_str"]: row["unique_str"] for row in csv.DictReader(handle)}


def test_canonical_hash_against_nb201_unique_str(
    unique_str: dict[str, str], all_hashes: dict[str, str]
) -> None:
    """Our hash and NB201's ``unique_str`` are two different refinements of one expression equivalence.

    * Our hash: graph isomorphism of the cell once ``none`` edges are dropped and nodes off every
      input->output path are pruned; ``skip_connect`` is an operation like any other.
    * NB201's ``unique_str``: the output's expression where ``skip_connect`` is transparent (the term is
      the input node's own string), each node's terms are sorted, and zero is kept as a ``#`` term.
    * E (:func:`skip_transparent_expression`): skip transparent AND zeros removed. It is a function of
      the pruned graph (so of our hash) and of the ``unique_str`` string (drop the ``#`` terms), so
      (a) every hash class and (b) every unique_str class lies inside one E class.

    Our hash MERGES unique_str classes that differ only in dead parts, because NB201 keeps zero terms
    and only recognises a node as zero when its string is exactly ``#``. Example (both are ``conv(x)``)::

        |none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|          '#+#+(0)@nor_conv_3x3'
        |none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|skip_connect~2|  '#+#+#+(0)@nor_conv_3x3'

    (node 2 receives only zeros, so its string is ``#+#``, not ``#``, and a skip passes it on as two
    more zero terms; in the graph node 2 is simply pruned.)

    Our hash SPLITS unique_str classes because a skip is transparent for NB201 but a node of the graph
    for us: ``0 -skip-> 1 -conv-> 3`` computes the same ``conv(x)`` as ``0 -conv-> 3``::

        |skip_connect~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|  '#+#+(0)@nor_conv_3x3'
        |none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|          '#+#+(0)@nor_conv_3x3'

    E is strictly coarser than the join of the two (the finest equivalence containing both): NB201 sorts
    terms per node, so a sum passed on through a skip keeps its own order instead of being re-sorted
    among its new siblings (``#+(0)@avg_pool_3x3+(0)@nor_conv_1x1+0`` versus
    ``#+(0)@avg_pool_3x3+0+(0)@nor_conv_1x1``), and a zero term inside an operation's argument
    (``(#+(0)@avg_pool_3x3)@nor_conv_1x1``) is kept; neither difference is a graph difference either.
    """
    assert len(unique_str) == 15_625
    assert set(unique_str) == set(all_hashes)
    expression = {arch: skip_transparent_expression(parse_arch_string(arch)) for arch in unique_str}

    hash_classes = classes(all_hashes)
    unique_classes = classes(unique_str)
    expression_classes = classes(expression)

    # (a) and (b): both equivalences refine E.
    broken_hash = [c for c in hash_classes.values() if len({expression[a] for a in c}) > 1]
    assert not broken_hash, f"archs with one canonical hash compute different expressions: {broken_hash[:3]}"
    broken_unique = [c for c in unique_classes.values() if len({expression[a] for a in c}) > 1]
    assert not broken_unique, f"archs with one unique_str compute different expressions: {broken_unique[:3]}"

    # (c) the counts.
    assert len(hash_classes) == 8_765
    assert len(unique_classes) == 6_466
    assert len(expression_classes) == 4_930
    merging = [c for c in hash_classes.values() if len({unique_str[a] for a in c}) > 1]
    splitting = [c for c in unique_classes.values() if len({all_hashes[a] for a in c}) > 1]
    assert len(merging) == 685
    assert len(splitting) == 1_299
    assert len(set(zip(all_hashes.values(), (unique_str[a] for a in all_hashes), strict=True))) == 9_771
    join = nx.Graph((("hash", all_hashes[a]), ("unique_str", unique_str[a])) for a in unique_str)
    assert nx.number_connected_components(join) == 5_615

    # (d) the docstring's examples.
    merged = (
        "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|",
        "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|skip_connect~2|",
    )
    assert all_hashes[merged[0]] == all_hashes[merged[1]]
    assert unique_str[merged[0]] == "#+#+(0)@nor_conv_3x3"
    assert unique_str[merged[1]] == "#+#+#+(0)@nor_conv_3x3"
    split = (
        "|skip_connect~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|",
        "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|",
    )
    assert unique_str[split[0]] == unique_str[split[1]] == "#+#+(0)@nor_conv_3x3"
    assert all_hashes[split[0]] != all_hashes[split[1]]
    assert {expression[a] for a in merged + split} == {"nor_conv_3x3(input)"}
    reordered = (
        "|skip_connect~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|skip_connect~2|",
        "|skip_connect~0|+|avg_pool_3x3~0|skip_connect~1|+|nor_conv_1x1~0|none~1|skip_connect~2|",
    )
    assert unique_str[reordered[0]] == "#+(0)@avg_pool_3x3+(0)@nor_conv_1x1+0"
    assert unique_str[reordered[1]] == "#+(0)@avg_pool_3x3+0+(0)@nor_conv_1x1"
    assert expression[reordered[0]] == expression[reordered[1]]


def test_hash_classes_are_unions_of_isomorphic_cells(space: NB201Space, all_hashes: dict[str, str]) -> None:
    """Spot check of the hash against networkx's isomorphism test on the pruned operation graphs."""
    rng = np.random.default_rng(5)
    by_hash = classes(all_hashes)
    labels = nx.algorithms.isomorphism.categorical_node_match("label", None)
    archs = list(all_hashes)
    for index in rng.choice(len(archs), size=40, replace=False):
        arch: Architecture = space.parse(archs[int(index)])
        graph = arch.cell().operation_graph()
        same = sorted(by_hash[arch.canonical_hash])
        partner = space.parse(same[int(rng.integers(len(same)))])
        assert nx.is_isomorphic(graph, partner.cell().operation_graph(), node_match=labels)
        stranger = space.parse(archs[int(rng.integers(len(archs)))])
        if stranger.canonical_hash != arch.canonical_hash:
            assert not nx.is_isomorphic(graph, stranger.cell().operation_graph(), node_match=labels)
