"""The DARTS / NB301 space: parameters as NB301 defines them, graphs, strings, size and one-edit moves."""

from __future__ import annotations

import json
import math
import pickle
import re

import numpy as np
import pytest

from bonas.errors import InvalidArchitectureError, SearchSpaceTooLargeError
from bonas.spaces.base import Categorical, SearchSpace
from bonas.spaces.categorical import CategoricalSpace
from bonas.spaces.darts import (
    CELL_TYPES,
    CHOOSING_NODES,
    DARTS_V2,
    INTERMEDIATE_NODES,
    NB301_PREFIX,
    OPERATIONS,
    OUTPUT_NODE,
    DartsGenotype,
    DartsSpace,
    edge_index,
    input_pairs,
    long_name,
    short_name,
)
from bonas.testing.spaces import SearchSpaceConformance
from tests.conftest import require_shared_file

#: (180 * 7**8) ** 2: per cell, 1 * 3 * 6 * 10 input pairs and 7 operations on each of 8 edges.
DARTS_SIZE = 1_076_746_950_455_072_400

#: DARTS_V2 as the DARTS code prints it: quotes, spaces, a node's pairs not ordered by source.
DARTS_V2_AS_PUBLISHED = (
    "normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)]; "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
    "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)]"
)


def cell_text(pairs: list[tuple[str, int]]) -> str:
    return "[" + ",".join(f"({op},{source})" for op, source in pairs) + "]"


@pytest.fixture(scope="module")
def space() -> DartsSpace:
    return DartsSpace()


class TestDartsConformance(SearchSpaceConformance):
    def make_space(self) -> SearchSpace:
        return DartsSpace()

    def test_size_is_analytic(self, space: SearchSpace) -> None:
        assert space.size() == DARTS_SIZE


# -- Parameters mirror NB301's ConfigSpace -------------------------------------------------------------


def test_parameters_match_nb301_config_space(space: DartsSpace) -> None:
    config = json.loads(require_shared_file("nb301/config_space_v2.json").read_text())
    expected = {
        short_name(hp["name"]): tuple(hp["choices"])
        for hp in config["hyperparameters"]
        if hp["name"] != "epoch"
    }
    assert {p.name: p.choices for p in space.parameters} == expected
    conditions = {
        short_name(c["child"]): (short_name(c["parent"]), frozenset(c["values"]))
        for c in config["conditions"]
    }
    assert all(c["type"] == "IN" for c in config["conditions"])
    for parameter in space.parameters:
        if parameter.name in conditions:
            parent, values = conditions[parameter.name]
            assert parameter.active_if is not None
            assert (parameter.active_if.parameter, parameter.active_if.values) == (parent, values)
        else:
            assert parameter.active_if is None, parameter.name


def test_conditions_only_look_backwards(space: DartsSpace) -> None:
    position = {p.name: i for i, p in enumerate(space.parameters)}
    for parameter in space.parameters:
        if parameter.active_if is not None:
            assert position[parameter.active_if.parameter] < position[parameter.name]


def test_long_and_short_names() -> None:
    assert long_name("edge_normal_0") == "NetworkSelectorDatasetInfo_COLON_darts_COLON_edge_normal_0"
    assert short_name(long_name("inputs_node_reduce_5")) == "inputs_node_reduce_5"
    with pytest.raises(InvalidArchitectureError, match=re.escape(NB301_PREFIX)):
        short_name("edge_normal_0")


def test_edge_numbering_follows_nb301() -> None:
    # Edges are numbered node by node: 0-1 into node 2, 2-4 into node 3, 5-8 into node 4, 9-13 into 5.
    numbers = [edge_index(source, node) for node in INTERMEDIATE_NODES for source in range(node)]
    assert numbers == list(range(14))
    assert input_pairs(4) == ("0_1", "0_2", "0_3", "1_2", "1_3", "2_3")


# -- Architectures -------------------------------------------------------------------------------------


def test_every_cell_has_two_active_edges_per_node(space: DartsSpace) -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        params = space.sample(rng).param_dict
        for cell in CELL_TYPES:
            edges = [name for name in params if name.startswith(f"edge_{cell}_")]
            assert len(edges) == 8
            for node in INTERMEDIATE_NODES:
                into_node = [
                    e
                    for e in edges
                    if edge_index(0, node) <= int(e.rsplit("_", 1)[1]) <= edge_index(node - 1, node)
                ]
                assert len(into_node) == 2
            assert sum(name.startswith(f"inputs_node_{cell}_") for name in params) == 3


def test_cells_are_darts_graphs(space: DartsSpace) -> None:
    arch = space.parse(DARTS_V2)
    assert [name for name, _ in arch.cells] == ["normal", "reduce"]
    normal = arch.cell("normal")
    assert normal.nodes == ("input0", "input1", "sum", "sum", "sum", "sum", "output")
    assert normal.inputs == (0, 1) and normal.output == OUTPUT_NODE
    operation_edges = [e for e in normal.edges if e[2]]
    assert len(operation_edges) == 8
    assert sorted((s, t) for s, t, op in normal.edges if not op) == [
        (n, OUTPUT_NODE) for n in INTERMEDIATE_NODES
    ]
    assert (2, 5, "dil_conv_3x3") in normal.edges
    assert (2, 3, "skip_connect") in arch.cell("reduce").edges


def test_genotype_round_trip(space: DartsSpace) -> None:
    rng = np.random.default_rng(1)
    for _ in range(10):
        arch = space.sample(rng)
        genotype = space.genotype(arch)
        assert isinstance(genotype, DartsGenotype)
        assert len(genotype.normal) == len(genotype.reduce) == 8
        assert space.from_genotype(genotype) == arch
        assert str(genotype) == str(arch)


def test_string_form_is_the_darts_genotype(space: DartsSpace) -> None:
    arch = space.parse(DARTS_V2)
    assert str(arch) == DARTS_V2
    assert space.genotype(arch).normal[6:] == (("skip_connect", 0), ("dil_conv_3x3", 2))
    assert arch.param_dict["inputs_node_normal_5"] == "0_2"
    assert arch.param_dict["edge_normal_11"] == "dil_conv_3x3"


def test_parse_accepts_darts_code_notation(space: DartsSpace) -> None:
    assert space.parse(DARTS_V2_AS_PUBLISHED) == space.parse(DARTS_V2)
    assert str(space.parse(DARTS_V2_AS_PUBLISHED)) == DARTS_V2
    spaced = DARTS_V2.replace(";", " ;\n ").replace(",", ", ")
    assert space.parse(spaced) == space.parse(DARTS_V2)


def test_nb301_config_round_trip(space: DartsSpace) -> None:
    arch = space.sample(np.random.default_rng(2))
    config = space.to_nb301_config(arch)
    assert all(name.startswith(NB301_PREFIX) for name in config)
    assert len(config) == 22
    assert space.from_nb301_config(config) == arch


def test_space_pickles(space: DartsSpace) -> None:
    arch = space.sample(np.random.default_rng(3))
    copy = pickle.loads(pickle.dumps(space))
    assert copy.from_params(arch.param_dict) == arch


# -- Size ----------------------------------------------------------------------------------------------


def test_size_is_exact_and_enumeration_refused(space: DartsSpace) -> None:
    assert space.size() == DARTS_SIZE == (180 * 7**8) ** 2
    assert not space.is_enumerable
    with pytest.raises(SearchSpaceTooLargeError, match="darts"):
        next(iter(space.enumerate()))


def test_every_input_choice_activates_eight_edges(space: DartsSpace) -> None:
    # Cross-check of the size formula with the space's own conditions: each of the 180 input-pair
    # choices of a cell leaves exactly 8 edges (7 operations each) active.
    cell = [p for p in space.parameters if "_normal_" in p.name]
    selectors = [p for p in cell if p.name.startswith("inputs_node_")]
    edges = [p for p in cell if p.name.startswith("edge_")]
    combinations = 0
    for choice in np.ndindex(*(len(p.choices) for p in selectors)):
        chosen = {p.name: p.choices[i] for p, i in zip(selectors, choice, strict=True)}
        assert sum(edge.is_active(chosen) for edge in edges) == 8
        combinations += 7**8
    assert combinations**2 == space.size()


def test_size_formula_matches_enumeration_of_a_smaller_variant(space: DartsSpace) -> None:
    # Nodes 2..4 of one cell with 2 operations: the formula prod_k C(k,2) * 2**2 against enumeration.
    names = {"inputs_node_normal_3", "inputs_node_normal_4", *(f"edge_normal_{i}" for i in range(9))}
    kept = [p for p in space.parameters if p.name in names]
    small = CategoricalSpace(
        "darts-small",
        [
            Categorical(p.name, p.choices[:2] if p.name.startswith("edge") else p.choices, p.active_if)
            for p in kept
        ],
    )
    formula = math.prod(len(input_pairs(node)) * 2**2 for node in (2, 3, 4))
    assert small.size() == formula == 1152


# -- One-edit moves ------------------------------------------------------------------------------------


def node_pairs(space: DartsSpace, arch) -> dict[tuple[str, int], set[tuple[str, int]]]:
    genotype = space.genotype(arch)
    return {
        (cell, node): set(genotype.cell(cell)[2 * i : 2 * i + 2])
        for cell in CELL_TYPES
        for i, node in enumerate(INTERMEDIATE_NODES)
    }


def test_neighbours_differ_by_one_operation_or_one_input(space: DartsSpace) -> None:
    arch = space.sample(np.random.default_rng(4))
    neighbours = space.neighbours(arch)
    assert len(neighbours) == len(set(neighbours)) == 2 * (8 * 6 + 2 + 4 + 6) == 120
    before = node_pairs(space, arch)
    rewired = 0
    for neighbour in neighbours:
        after = node_pairs(space, neighbour)
        changed = [key for key in before if before[key] != after[key]]
        assert len(changed) == 1
        (old,) = before[changed[0]] - after[changed[0]]
        (new,) = after[changed[0]] - before[changed[0]]
        same_op, same_source = old[0] == new[0], old[1] == new[1]
        assert same_op != same_source, (old, new)
        rewired += same_op
    assert rewired == 24


def test_mutate_rewiring_keeps_the_operation(space: DartsSpace) -> None:
    rng = np.random.default_rng(5)
    arch = space.sample(rng)
    mutants = {space.mutate(arch, rng) for _ in range(300)}
    assert mutants <= set(space.neighbours(arch))
    assert len(mutants) > 60, "mutate should reach most of the 120 neighbours in 300 draws"


# -- Isomorphism ---------------------------------------------------------------------------------------


def test_swapping_independent_nodes_keeps_the_canonical_hash(space: DartsSpace) -> None:
    # Nodes 3 and 4 do not feed each other: swapping them (and renaming node 5's input) is the same cell.
    reduce = cell_text([("max_pool_3x3", 0), ("max_pool_3x3", 1)] * 4)
    first = space.parse(
        "normal="
        + cell_text(
            [
                *[("sep_conv_3x3", 0), ("sep_conv_5x5", 1), ("skip_connect", 0), ("dil_conv_3x3", 2)],
                *[("avg_pool_3x3", 1), ("sep_conv_3x3", 2), ("dil_conv_5x5", 3), ("max_pool_3x3", 4)],
            ]
        )
        + f";reduce={reduce}"
    )
    swapped = space.parse(
        "normal="
        + cell_text(
            [
                *[("sep_conv_3x3", 0), ("sep_conv_5x5", 1), ("avg_pool_3x3", 1), ("sep_conv_3x3", 2)],
                *[("skip_connect", 0), ("dil_conv_3x3", 2), ("max_pool_3x3", 3), ("dil_conv_5x5", 4)],
            ]
        )
        + f";reduce={reduce}"
    )
    assert first != swapped
    assert first.param_dict != swapped.param_dict
    assert first.canonical_hash == swapped.canonical_hash
    # Changing one operation breaks the isomorphism.
    other = space.parse(str(swapped).replace("(dil_conv_5x5,4)", "(sep_conv_5x5,4)"))
    assert other.canonical_hash != first.canonical_hash


def test_normal_and_reduce_cells_are_not_interchangeable(space: DartsSpace) -> None:
    a = cell_text([("sep_conv_3x3", 0), ("sep_conv_3x3", 1)] * 4)
    b = cell_text([("max_pool_3x3", 0), ("max_pool_3x3", 1)] * 4)
    assert (
        space.parse(f"normal={a};reduce={b}").canonical_hash
        != space.parse(f"normal={b};reduce={a}").canonical_hash
    )


# -- Bad input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("normal=[(sep_conv_3x3,0)]", "no reduce cell"),
        (DARTS_V2.replace("reduce=", "reduction="), "Unknown cell 'reduction'"),
        (DARTS_V2 + ";normal=[]", "appears twice"),
        (DARTS_V2.replace("dil_conv_3x3", "conv_7x7"), "Unknown operation 'conv_7x7'.*valid: max_pool_3x3"),
        (DARTS_V2.replace("(dil_conv_3x3,2)", "(dil_conv_3x3,x)"), "Source 'x'"),
        (DARTS_V2.replace("(dil_conv_3x3,2)", "(dil_conv_3x3,5)"), "Node 5 of the normal cell.*0..4"),
        (
            DARTS_V2.replace("(skip_connect,0),(sep_conv_3x3,1)", "(skip_connect,1),(sep_conv_3x3,1)"),
            "distinct",
        ),
        (
            DARTS_V2.replace(
                "(sep_conv_3x3,0),(sep_conv_3x3,1),(sep_conv_3x3,0)",
                "(sep_conv_3x3,0),(sep_conv_3x3,2),(sep_conv_3x3,0)",
                1,
            ),
            "Node 2",
        ),
        (DARTS_V2.replace(",(dil_conv_3x3,2)", ""), "7 \\(op, source\\) pairs, needs 8"),
        (DARTS_V2.replace("),(dil", ") (dil"), "Malformed list"),
        (DARTS_V2.replace("normal=[", "normal=("), "Malformed part"),
    ],
)
def test_parse_errors_name_the_problem(space: DartsSpace, text: str, message: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=message):
        space.parse(text)


def test_from_params_rejects_values_outside_the_space(space: DartsSpace) -> None:
    params = space.parse(DARTS_V2).param_dict
    with pytest.raises(InvalidArchitectureError, match=r"inputs_node_normal_3.*'0_3'"):
        space.from_params({**params, "inputs_node_normal_3": "0_3"})
    with pytest.raises(InvalidArchitectureError, match=r"edge_normal_0.*'none'"):
        space.from_params({**params, "edge_normal_0": "none"})
    with pytest.raises(InvalidArchitectureError, match=r"edge_normal_4.*inactive"):
        space.from_params({**params, "edge_normal_4": "skip_connect"})  # node 3 takes 0 and 1, not 2
    del params["edge_normal_3"]
    with pytest.raises(InvalidArchitectureError, match=r"edge_normal_4.*missing"):
        space.from_params({**params, "inputs_node_normal_3": "0_2"})


def test_from_genotype_rejects_bad_sources(space: DartsSpace) -> None:
    genotype = space.genotype(space.parse(DARTS_V2))
    bad = DartsGenotype(normal=genotype.normal, reduce=(("skip_connect", "1"), *genotype.reduce[1:]))
    with pytest.raises(InvalidArchitectureError, match="not a node number"):
        space.from_genotype(bad)
    with pytest.raises(InvalidArchitectureError, match="No DARTS cell 'middle'"):
        genotype.cell("middle")


def test_constants() -> None:
    assert len(OPERATIONS) == 7 and "none" not in OPERATIONS
    assert CHOOSING_NODES == (3, 4, 5)
