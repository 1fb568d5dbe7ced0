"""Encoded rows kept per architecture (RowCache, FeatureStore) and their projection onto model columns."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
import torch

from bonas.architecture import Architecture
from bonas.encodings import PathEncoding, WLEncoding
from bonas.errors import InvalidArchitectureError
from bonas.spaces import get_space, mlp_space
from bonas.surrogates.gp import FeatureStore, RowCache, project, training_columns


def nb201_samples(n: int, seed: int) -> list[Architecture]:
    space = get_space("nb201")
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]


# -- RowCache ----------------------------------------------------------------------------------------------


def test_row_cache_transforms_each_distinct_architecture_once() -> None:
    architectures = nb201_samples(100, seed=0)
    calls: list[int] = []

    def transform(archs: list[Architecture]) -> torch.Tensor:
        calls.append(len(archs))
        return torch.tensor(
            [[float(len(a.text)), float(i)] for i, a in enumerate(archs)], dtype=torch.float64
        )

    cache = RowCache(transform)
    first = cache(architectures[:10] + architectures[:3])  # duplicates within one call
    assert calls == [10]
    torch.testing.assert_close(first[10:], first[:3])
    again = cache(architectures)  # 90 new ones, past the initial 64 rows
    assert calls == [10, 90]
    torch.testing.assert_close(again[:10], first[:10])
    assert cache([]).shape == (0, 2)
    cache.clear()
    cache(architectures[:1])
    assert calls == [10, 90, 1]


def test_row_cache_of_nothing_is_empty() -> None:
    cache = RowCache(lambda archs: torch.zeros((len(archs), 3), dtype=torch.float64))
    assert cache([]).shape == (0, 0)


# -- FeatureStore ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make_encoding", [PathEncoding, lambda: WLEncoding(h=2, normalize=True)])
def test_feature_store_rows_equal_one_encoding_of_every_architecture(make_encoding) -> None:
    architectures = nb201_samples(60, seed=1)
    store = FeatureStore(make_encoding)
    store.rows(architectures[:20])
    rows = store.rows(architectures[10:] + architectures[:10])  # half stored, half new, reordered
    order = architectures[10:] + architectures[:10]
    reference = make_encoding().fit(architectures)
    expected = reference.transform(order).numpy()
    # Compare column by feature: the store's columns are in order of first appearance.
    dense = rows.toarray()
    assert dense.shape[1] == len(reference.feature_names)
    np.testing.assert_allclose(np.sort(dense, axis=1), np.sort(expected, axis=1))
    np.testing.assert_allclose(dense @ dense.T, expected @ expected.T)


def test_feature_store_refuses_architectures_of_two_spaces() -> None:
    store = FeatureStore(PathEncoding)
    store.rows(nb201_samples(3, seed=2))
    other = mlp_space().sample(np.random.default_rng(0))
    with pytest.raises(InvalidArchitectureError, match="one surrogate per space"):
        store.rows([other])


# -- Projection --------------------------------------------------------------------------------------------


def test_training_columns_are_the_used_ones_or_the_most_used() -> None:
    rows = scipy.sparse.csr_matrix(np.array([[1, 0, 1, 0, 1], [0, 0, 1, 0, 1], [0, 0, 0, 0, 1]], dtype=float))
    np.testing.assert_array_equal(training_columns(rows, None), [0, 2, 4])
    np.testing.assert_array_equal(training_columns(rows, 2), [2, 4])
    np.testing.assert_array_equal(training_columns(rows, 10), [0, 2, 4])
    # Ties go to the smaller column id.
    tied = scipy.sparse.csr_matrix(np.array([[0, 1, 1, 1]], dtype=float))
    np.testing.assert_array_equal(training_columns(tied, 2), [1, 2])


def test_projection_keeps_inner_products_with_training_rows_and_every_norm() -> None:
    rng = np.random.default_rng(3)
    train = scipy.sparse.csr_matrix(rng.random((6, 8)) * (rng.random((6, 8)) < 0.4))
    others = scipy.sparse.csr_matrix(rng.random((5, 12)) * (rng.random((5, 12)) < 0.5))
    train = scipy.sparse.hstack([train, scipy.sparse.csr_matrix((6, 4))]).tocsr()  # no training mass past 8
    columns = training_columns(train, None)
    projected_train, projected_others = project(train, columns), project(others, columns)
    assert projected_train.shape == (6, columns.size + 1) and projected_train.dtype == torch.float64
    torch.testing.assert_close(projected_train[:, -1], torch.zeros(6, dtype=torch.float64))
    expected_cross = torch.from_numpy((others @ train.T).toarray())
    torch.testing.assert_close(projected_others @ projected_train.T, expected_cross)
    expected_norms = torch.from_numpy(np.asarray(others.multiply(others).sum(axis=1)).reshape(-1))
    torch.testing.assert_close((projected_others**2).sum(1), expected_norms)
