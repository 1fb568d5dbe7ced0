"""The checks every architecture encoding must pass: :class:`EncodingConformance`.

Subclass it in a ``Test...`` class and say how to build a new, unfitted encoding::

    from bonas.testing.encodings import EncodingConformance

    class TestMyEncoding(EncodingConformance):
        def make_encoding(self):
            return MyEncoding()

The checks run on every space of :data:`SPACES` (NB201, NAS-Bench-Graph, DARTS, the MLP space); override
the ``space`` fixture to run them on your own space instead, and the ``encoding_factory`` fixture (a
callable returning a new unfitted encoding) instead of :meth:`~EncodingConformance.make_encoding` to
parametrize over encodings. They check the :class:`~bonas.encodings.Encoding` contract: ``n x dim``
float64 rows of fixed width whatever is transformed, rows that do not depend on the batch or on which
fresh instance encodes them, squared norms that match the rows, refusal of unfitted use and of
architectures of another space, pickling, and, for an encoding that declares itself ``invariant``,
identical rows for isomorphic architectures (equal ``canonical_hash``). Every random draw is seeded.
Needs pytest (see :mod:`bonas.testing`).
"""

from __future__ import annotations

import pickle
from collections import defaultdict
from collections.abc import Callable

import numpy as np
import pytest
import torch

from bonas.architecture import Architecture
from bonas.encodings import Encoding
from bonas.errors import InvalidArchitectureError, NotFittedError
from bonas.spaces import get_space
from bonas.spaces.base import SearchSpace

EncodingFactory = Callable[[], Encoding]

#: The spaces the suite encodes unless the ``space`` fixture is overridden.
SPACES = ("nb201", "nbgraph", "darts", "mlp")


def seeded_samples(space: SearchSpace, n: int, seed: int = 0) -> list[Architecture]:
    """``n`` architectures of ``space`` drawn with ``seed`` (repeats possible)."""
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]


def find_isomorphic_groups(
    space: SearchSpace, *, n_samples: int = 1000, n_neighbourhoods: int = 10, seed: int = 0
) -> list[list[Architecture]]:
    """Classes of 2 or more distinct architectures that share a canonical hash.

    Looks among ``n_samples`` seeded samples and the neighbourhoods of the first ``n_neighbourhoods`` of
    them (a one-edit change to a pruned edge often gives an isomorph). Empty when the space has no
    isomorphs there (DARTS: almost never; the MLP space: none).
    """
    architectures = seeded_samples(space, n_samples, seed)
    for architecture in architectures[:n_neighbourhoods]:
        architectures.extend(space.neighbours(architecture))
    classes: dict[str, dict[Architecture, None]] = defaultdict(dict)
    for architecture in architectures:
        classes[architecture.canonical_hash][architecture] = None
    return [list(members) for members in classes.values() if len(members) > 1]


def foreign_architecture(space: SearchSpace) -> Architecture:
    """An architecture with a cell graph from a built-in space other than ``space``."""
    other = get_space("mlp" if space.name == "nb201" else "nb201")
    return other.sample(np.random.default_rng(0))


class EncodingConformance:
    """Shared checks for :class:`bonas.encodings.Encoding` implementations (not collected itself)."""

    #: Architectures the encoding is fitted on in most checks.
    n_fit: int = 25
    #: Architectures transformed that were not in the fit set.
    n_new: int = 15

    def make_encoding(self) -> Encoding:
        """A new unfitted instance of the encoding under test."""
        raise NotImplementedError(
            f"{type(self).__name__} must override make_encoding() (or the `encoding_factory` fixture) to "
            "build the encoding under test."
        )

    def isomorphic_groups(self, space: SearchSpace) -> list[list[Architecture]]:
        """Groups of distinct, isomorphic architectures of ``space`` (default: :func:`find_isomorphic_groups`).

        Override to construct isomorphs of a space where random draws rarely give any.
        """
        return find_isomorphic_groups(space)

    # -- fixtures --------------------------------------------------------------------------------------

    @pytest.fixture(params=SPACES)
    def space(self, request: pytest.FixtureRequest) -> SearchSpace:
        """The space whose architectures are encoded (default: each of :data:`SPACES`)."""
        return get_space(request.param)

    @pytest.fixture
    def encoding_factory(self) -> EncodingFactory:
        """A callable returning a new unfitted encoding (default: :meth:`make_encoding`)."""
        return self.make_encoding

    # -- helpers ---------------------------------------------------------------------------------------

    def fit_and_new(self, space: SearchSpace) -> tuple[list[Architecture], list[Architecture]]:
        """Seeded architectures to fit on, and others to transform after the fit."""
        architectures = seeded_samples(space, self.n_fit + self.n_new)
        return architectures[: self.n_fit], architectures[self.n_fit :]

    # -- shape and type --------------------------------------------------------------------------------

    def test_rows_are_float64_of_fixed_width(
        self, space: SearchSpace, encoding_factory: EncodingFactory
    ) -> None:
        fit, new = self.fit_and_new(space)
        encoding = encoding_factory()
        assert isinstance(encoding, Encoding)
        assert encoding.fit(fit) is encoding, "fit() should return the encoding itself"
        assert isinstance(encoding.dim, int) and encoding.dim >= 1
        first, again = encoding.transform(fit), encoding.transform(new)
        for encoded, architectures in ((first, fit), (again, new)):
            assert isinstance(encoded, torch.Tensor)
            assert encoded.dtype == torch.float64
            assert encoded.shape == (len(architectures), encoding.dim)
            assert torch.isfinite(encoded).all()
        assert encoding.transform([]).shape == (0, encoding.dim)
        assert len(encoding.feature_names) == encoding.dim
        assert len(set(encoding.feature_names)) == encoding.dim, "feature names should be unique"
        assert torch.equal(encoding.fit_transform(fit), first)

    def test_rows_tell_architectures_apart(
        self, space: SearchSpace, encoding_factory: EncodingFactory
    ) -> None:
        """An encoding that maps everything to one row would pass every invariance check."""
        fit, _ = self.fit_and_new(space)
        encoded = encoding_factory().fit_transform(fit)
        assert len({tuple(row.tolist()) for row in encoded}) > 1

    # -- determinism -----------------------------------------------------------------------------------

    def test_rows_do_not_depend_on_the_batch(
        self, space: SearchSpace, encoding_factory: EncodingFactory
    ) -> None:
        fit, new = self.fit_and_new(space)
        encoding = encoding_factory().fit(fit)
        together = encoding.transform(fit + new)
        for index in (0, 3, len(fit), len(fit) + len(new) - 1):
            assert torch.equal(encoding.transform([(fit + new)[index]])[0], together[index])
        assert torch.equal(encoding.transform(new[::-1]), together[len(fit) :].flip(0))

    def test_same_fit_set_gives_the_same_encoding(
        self, space: SearchSpace, encoding_factory: EncodingFactory
    ) -> None:
        fit, new = self.fit_and_new(space)
        first, second = encoding_factory().fit(fit), encoding_factory().fit(list(fit))
        assert first.feature_names == second.feature_names
        assert torch.equal(first.transform(new), second.transform(new))
        assert torch.equal(first.transform(new), first.transform(new))

    def test_refit_forgets_the_previous_fit(
        self, space: SearchSpace, encoding_factory: EncodingFactory
    ) -> None:
        fit, new = self.fit_and_new(space)
        refitted = encoding_factory().fit(new).fit(fit)
        fresh = encoding_factory().fit(fit)
        assert refitted.feature_names == fresh.feature_names
        assert torch.equal(refitted.transform(new), fresh.transform(new))

    def test_squared_norms_match_the_rows_of_a_fit_on_everything(
        self, space: SearchSpace, encoding_factory: EncodingFactory
    ) -> None:
        fit, new = self.fit_and_new(space)
        encoding = encoding_factory().fit(fit + new)
        norms = encoding.squared_norms(new)
        assert norms.shape == (len(new),)
        torch.testing.assert_close(norms, (encoding.transform(new) ** 2).sum(dim=1).to(norms.dtype))

    def test_fitted_encoding_pickles(self, space: SearchSpace, encoding_factory: EncodingFactory) -> None:
        fit, new = self.fit_and_new(space)
        encoding = encoding_factory().fit(fit)
        restored = pickle.loads(pickle.dumps(encoding))
        assert torch.equal(restored.transform(new), encoding.transform(new))

    # -- isomorphism -----------------------------------------------------------------------------------

    def test_isomorphic_architectures_get_identical_rows(
        self, space: SearchSpace, encoding_factory: EncodingFactory
    ) -> None:
        encoding = encoding_factory()
        if not encoding.invariant:
            pytest.skip(f"{type(encoding).__name__} declares invariant=False")
        groups = self.isomorphic_groups(space)
        if not groups:
            pytest.skip(f"no isomorphic architectures found in {space.name!r}; override isomorphic_groups()")
        members = [architecture for group in groups for architecture in group]
        encoded = encoding.fit_transform(members)
        start = 0
        for group in groups:
            assert all(a.canonical_hash == group[0].canonical_hash for a in group)
            rows = encoded[start : start + len(group)]
            assert torch.equal(rows, rows[:1].expand_as(rows)), (
                f"rows differ for isomorphs {[str(a) for a in group]}"
            )
            start += len(group)

    # -- refusals --------------------------------------------------------------------------------------

    def test_use_before_fit_is_refused(self, space: SearchSpace, encoding_factory: EncodingFactory) -> None:
        encoding = encoding_factory()
        with pytest.raises(NotFittedError):
            encoding.transform(seeded_samples(space, 2))
        with pytest.raises(NotFittedError):
            _ = encoding.dim

    def test_architectures_of_another_space_are_refused(
        self, space: SearchSpace, encoding_factory: EncodingFactory
    ) -> None:
        fit, _ = self.fit_and_new(space)
        encoding = encoding_factory().fit(fit)
        foreign = foreign_architecture(space)
        with pytest.raises(InvalidArchitectureError, match=foreign.space):
            encoding.transform([foreign])
        with pytest.raises(InvalidArchitectureError):
            encoding_factory().fit([*fit, foreign])
        with pytest.raises(ValueError):
            encoding_factory().fit([])
