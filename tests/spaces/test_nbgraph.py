"""The NAS-Bench-Graph space: parameters, cells, string form, validity and errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bonas.errors import InvalidArchitectureError
from bonas.spaces.base import SearchSpace
from bonas.spaces.nbgraph import (
    LINK_CHOICES,
    LINKS,
    OPERATIONS,
    PROTEINS_OPERATIONS,
    NBGraphSpace,
    leaves,
    parse_arch_string,
)
from bonas.testing.spaces import SearchSpaceConformance


class TestNBGraphSpaceConformance(SearchSpaceConformance):
    max_enumeration = 60_000  # the whole space (59,040) enumerates in about 2 s

    def make_space(self) -> SearchSpace:
        return NBGraphSpace()


class TestNBGraphProteinsSpaceConformance(SearchSpaceConformance):
    def make_space(self) -> SearchSpace:
        return NBGraphSpace(proteins=True)


@pytest.fixture(scope="module")
def space() -> NBGraphSpace:
    return NBGraphSpace()


def test_names_and_parameters() -> None:
    full, proteins = NBGraphSpace(), NBGraphSpace(proteins=True)
    assert (full.name, proteins.name) == ("nbgraph", "nbgraph-proteins")
    assert [p.name for p in full.parameters] == ["link", "op_1", "op_2", "op_3", "op_4"]
    assert full.parameters[0].choices == LINK_CHOICES
    assert LINK_CHOICES[0] == "0,0,0,0" and LINK_CHOICES[3] == "0,0,1,2" and LINK_CHOICES[-1] == "0,1,2,3"
    assert full.parameters[1].choices == OPERATIONS
    assert proteins.parameters[1].choices == PROTEINS_OPERATIONS


def test_size_excludes_only_the_all_skip_cells() -> None:
    # 9 links x 9**4 (5**4) operations, less the 9 identity cells that have no table entry.
    assert NBGraphSpace().size() == 9 * 9**4 - 9 == 59_040
    assert NBGraphSpace(proteins=True).size() == 9 * 5**4 - 9 == 5_616


def test_all_skip_is_rejected_with_a_clear_message(space: NBGraphSpace) -> None:
    with pytest.raises(InvalidArchitectureError, match="identity"):
        space.parse("link=0,1,2,3|ops=skip,skip,skip,skip")
    assert not space.is_valid(
        {"link": "0,0,0,0", "op_1": "skip", "op_2": "skip", "op_3": "skip", "op_4": "skip"}
    )
    assert space.is_valid({"link": "0,0,0,0", "op_1": "skip", "op_2": "skip", "op_3": "skip", "op_4": "fc"})
    rng = np.random.default_rng(0)
    proteins = NBGraphSpace(proteins=True)
    for _ in range(200):
        assert set(proteins.link_ops(proteins.sample(rng))[1]) != {"skip"}


def test_cell_wires_links_and_leaves_to_output(space: NBGraphSpace) -> None:
    cell = space.parse("link=0,0,1,2|ops=gcn,gat,sage,fc").cell()
    assert cell.nodes == ("input", "gcn", "gat", "sage", "fc", "output")
    assert cell.inputs == (0,) and cell.output == 5
    assert set(cell.edges) == {(0, 1, ""), (0, 2, ""), (1, 3, ""), (2, 4, ""), (3, 5, ""), (4, 5, "")}


def test_skip_layers_are_wires(space: NBGraphSpace) -> None:
    # The skip leaf (node 3, reading gcn) makes gcn feed the output.
    cell = space.parse("link=0,0,1,2|ops=gcn,gat,skip,fc").cell()
    assert cell.nodes == ("input", "gcn", "gat", "fc", "output")
    assert set(cell.edges) == {(0, 1, ""), (0, 2, ""), (2, 3, ""), (1, 4, ""), (3, 4, "")}
    # A chain of three gcn layers, wherever the skip sits in it, is one architecture.
    chains = {
        space.parse(f"link=0,1,2,3|ops={ops}").canonical_hash
        for ops in ("skip,gcn,gcn,gcn", "gcn,skip,gcn,gcn", "gcn,gcn,skip,gcn", "gcn,gcn,gcn,skip")
    }
    assert len(chains) == 1
    # Wires count: gcn plus three wires from the input to the output is not gcn plus two.
    three = space.parse("link=0,0,0,0|ops=gcn,skip,skip,skip")
    two = space.parse("link=0,0,0,1|ops=gcn,skip,skip,skip")
    assert three.cell().nodes.count("skip") == 2 and two.cell().nodes.count("skip") == 1
    assert three.canonical_hash != two.canonical_hash


@pytest.mark.parametrize(
    ("link", "expected"),
    [((0, 0, 0, 0), (1, 2, 3, 4)), ((0, 1, 2, 3), (4,)), ((0, 0, 1, 3), (2, 4)), ((0, 1, 1, 1), (2, 3, 4))],
)
def test_leaves(link: tuple[int, ...], expected: tuple[int, ...]) -> None:
    assert leaves(link) == expected


def test_every_link_round_trips_through_params_and_string(space: NBGraphSpace) -> None:
    for link, ops in zip(
        LINKS, itertools.cycle([("gat", "skip", "cheb", "fc"), ("arma", "graph", "gin", "sage")])
    ):
        arch = space.from_link_ops(link, ops)
        assert str(arch) == f"link={','.join(map(str, link))}|ops={','.join(ops)}"
        assert space.link_ops(arch) == (link, ops)
        assert space.from_params(space.to_params(arch)) == arch
        assert space.parse(str(arch)) == arch
        assert parse_arch_string(str(arch)) == (link, ops)


def test_parse_tolerates_spaces(space: NBGraphSpace) -> None:
    assert space.parse(" link = 0,0,1,2 | ops = gcn, gat, skip, fc ") == space.parse(
        "link=0,0,1,2|ops=gcn,gat,skip,fc"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gcn,gat,skip,fc", "expected 'link="),
        ("link=0,0,1,2", "expected 'link="),
        ("link=0,0,1,2|ops=gcn,gat|ops=fc,fc", "expected 'link="),
        ("link=0,0,1,2|ops=gcn,gat,skip,fc|extra=1", "expected 'link="),
        ("link=0,1,2,1|ops=gcn,gat,skip,fc", r"Unknown link pattern '0,1,2,1'.*0,0,0,0 0,0,0,1"),
        ("link=a,b,c,d|ops=gcn,gat,skip,fc", "Unknown link pattern 'a,b,c,d'"),
        ("link=0,0,1,2|ops=gcn,gat,skip", "has 3 operations.*needs 4"),
        ("link=0,0,1,2|ops=gcn,gat,conv3x3,fc", r"Unknown operation 'conv3x3'.*gat, gcn, gin, cheb"),
    ],
)
def test_parse_errors_name_the_bad_value(space: NBGraphSpace, text: str, message: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=message):
        space.parse(text)


def test_proteins_space_rejects_operations_it_was_not_trained_with() -> None:
    proteins = NBGraphSpace(proteins=True)
    with pytest.raises(InvalidArchitectureError, match=r"Unknown operation 'gat'.*gcn, sage, arma, fc, skip"):
        proteins.parse("link=0,0,1,2|ops=gat,gcn,fc,skip")
    assert NBGraphSpace().parse("link=0,0,1,2|ops=gat,gcn,fc,skip")


def test_from_link_ops_errors(space: NBGraphSpace) -> None:
    with pytest.raises(InvalidArchitectureError, match=r"\[0, 0, 2, 0\] is not one of"):
        space.from_link_ops((0, 0, 2, 0), ("gcn", "gcn", "gcn", "gcn"))
    with pytest.raises(InvalidArchitectureError, match="has 4 operations, got 3"):
        space.from_link_ops((0, 0, 0, 0), ("gcn", "gcn", "gcn"))
    with pytest.raises(InvalidArchitectureError, match="'op_2'='conv'"):
        space.from_link_ops((0, 0, 0, 0), ("gcn", "conv", "gcn", "gcn"))


def test_isomorphic_variants_share_canonical_hash(space: NBGraphSpace) -> None:
    # Siblings fed by the same node can be listed in any order.
    orders = itertools.permutations(("gcn", "gat", "gin", "fc"))
    star = {space.from_link_ops((0, 0, 0, 0), ops).canonical_hash for ops in orders}
    assert len(star) == 1
    # Two branches input->a->c and input->b->d, swapped.
    assert (
        space.parse("link=0,0,1,2|ops=gcn,gat,sage,fc").canonical_hash
        == space.parse("link=0,0,1,2|ops=gat,gcn,fc,sage").canonical_hash
    )
    # Different operations on one branch: not isomorphic.
    assert (
        space.parse("link=0,0,1,2|ops=gcn,gat,sage,fc").canonical_hash
        != space.parse("link=0,0,1,2|ops=gcn,gat,fc,sage").canonical_hash
    )
    # Same operations, different shape (chain vs star).
    assert (
        space.parse("link=0,1,2,3|ops=gcn,gcn,gcn,gcn").canonical_hash
        != space.parse("link=0,0,0,0|ops=gcn,gcn,gcn,gcn").canonical_hash
    )
