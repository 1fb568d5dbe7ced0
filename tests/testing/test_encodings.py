"""The encoding suite fails the faults it checks for, and passes an encoding written outside bonas."""

from __future__ import annotations

import itertools

import pytest
import torch

from bonas.architecture import Architecture
from bonas.encodings import AdjacencyEncoding, Encoding, PathEncoding
from bonas.spaces import get_space
from bonas.spaces.base import SearchSpace
from bonas.testing.encodings import EncodingConformance, find_isomorphic_groups


class FalselyInvariantAdjacency(AdjacencyEncoding):
    """The adjacency one-hot tells isomorphic NB201 cells apart, so it must not claim invariance."""

    invariant = True


class RotatedPaths(PathEncoding):
    """Column order that changes with every fit (as an unseeded shuffle would): two fits on one set
    disagree."""

    _fits = itertools.count(1)

    def _layout(self, architectures: list[Architecture]) -> list[tuple[int, str]]:
        layout = super()._layout(architectures)
        shift = next(self._fits) % len(layout)
        return layout[shift:] + layout[:shift]


class ConstantRows(PathEncoding):
    """Every architecture gets the same row: invariant, but useless."""

    def transform(self, architectures):  # type: ignore[no-untyped-def, override]
        encoded = super().transform(architectures)
        return torch.ones_like(encoded)


class BatchDependent(PathEncoding):
    """Rows scaled by the batch size."""

    def transform(self, architectures):  # type: ignore[no-untyped-def, override]
        encoded = super().transform(architectures)
        return encoded / max(1, len(encoded))


class TestCountingPathEncodingOnNB201(EncodingConformance):
    """A path encoding that counts repeated paths, as a user would subclass one, on NB201 only."""

    @pytest.fixture
    def space(self) -> SearchSpace:
        return get_space("nb201")

    def make_encoding(self) -> Encoding:
        return PathEncoding(counts=True)


@pytest.fixture(scope="module")
def nb201() -> SearchSpace:
    return get_space("nb201")


def test_finds_isomorphs_where_nb201_has_them(nb201: SearchSpace) -> None:
    groups = find_isomorphic_groups(nb201, n_samples=300)
    assert groups
    for group in groups:
        assert len(set(group)) == len(group) > 1
        assert len({a.canonical_hash for a in group}) == 1


@pytest.mark.parametrize(
    ("check", "encoding"),
    [
        ("test_isomorphic_architectures_get_identical_rows", FalselyInvariantAdjacency),
        ("test_same_fit_set_gives_the_same_encoding", RotatedPaths),
        ("test_rows_tell_architectures_apart", ConstantRows),
        ("test_rows_do_not_depend_on_the_batch", BatchDependent),
        ("test_squared_norms_match_the_rows_of_a_fit_on_everything", BatchDependent),
    ],
)
def test_suite_fails_a_faulty_encoding(check: str, encoding: type[Encoding], nb201: SearchSpace) -> None:
    suite = EncodingConformance()
    with pytest.raises(AssertionError):
        getattr(suite, check)(nb201, encoding)


def test_suite_needs_an_encoding() -> None:
    with pytest.raises(NotImplementedError, match="make_encoding"):
        EncodingConformance().make_encoding()
