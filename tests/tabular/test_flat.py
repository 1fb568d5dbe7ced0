"""Flat benchmarks: a table's lookups over its space written as plain categorical choices, no graph."""

from __future__ import annotations

import pickle
from itertools import islice

import numpy as np
import pytest

from bonas import search
from bonas.spaces.categorical import CategoricalSpace
from bonas.tabular import load_benchmark
from bonas.tabular.flat import flat_space
from tests.conftest import SHARED_DATA


@pytest.mark.parametrize("name", ["nb201-cifar10", "analognas-baseline", "nbgraph-cora"])
def test_a_flat_benchmark_answers_as_the_original(name: str) -> None:
    original = load_benchmark(name, data_dir=SHARED_DATA)
    flat = load_benchmark(f"{name}-flat", data_dir=SHARED_DATA)
    assert flat.name == f"{name}-flat" and isinstance(flat.space, CategoricalSpace)
    assert flat.space.name == f"{original.space.name}-flat"
    assert [p.name for p in flat.space.parameters] == [p.name for p in original.space.parameters]
    rng = np.random.default_rng(0)
    for _ in range(20):
        architecture = flat.space.sample(rng)
        assert flat(architecture) == original(flat.original(architecture))
    assert flat.optimum.val_accuracy == original.optimum.val_accuracy
    assert list(islice(flat.table_rows(), 3)) == list(islice(original.table_rows(), 3))  # the same table
    assert flat(flat.space.parse(flat.optimum.best_val_architecture))["val_accuracy"] == pytest.approx(
        original.optimum.val_accuracy
    )


def test_isomorphic_nb201_cells_are_distinct_flat_architectures() -> None:
    original = load_benchmark("nb201-cifar10", data_dir=SHARED_DATA)
    # Edge 1->3 feeds the output from node 1, which receives nothing when edge 0->1 is 'none': the two
    # cells below compute the same function, so NB201 merges them and the flat space does not.
    a = original.space.parse(
        "|none~0|+|nor_conv_3x3~0|skip_connect~1|+|nor_conv_1x1~0|avg_pool_3x3~1|skip_connect~2|"
    )
    b = original.space.parse(
        "|none~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|nor_conv_1x1~0|nor_conv_3x3~1|skip_connect~2|"
    )
    assert a.canonical_hash == b.canonical_hash
    space = flat_space(original.space)
    assert space.from_params(a.param_dict).canonical_hash != space.from_params(b.param_dict).canonical_hash


def test_choices_holding_separators_are_renamed_and_mapped_back() -> None:
    flat = load_benchmark("nbgraph-cora-flat", data_dir=SHARED_DATA)
    link = flat.space.parameters[0]
    assert all("," not in str(choice) for choice in link.choices)
    architecture = flat.space.sample(np.random.default_rng(1))
    assert flat.space.parse(str(architecture)) == architecture
    assert "," in flat.original(architecture).param_dict[link.name]


def test_the_validity_rule_carries_over() -> None:
    flat = load_benchmark("nbgraph-cora-flat", data_dir=SHARED_DATA)
    assert not flat.space.is_valid(
        {"link": "0-0-0-0", "op_1": "skip", "op_2": "skip", "op_3": "skip", "op_4": "skip"}
    )


def test_flat_spaces_pickle_and_search() -> None:
    flat = load_benchmark("nb201-cifar10-flat", data_dir=SHARED_DATA)
    assert pickle.loads(pickle.dumps(flat.space)).name == "nb201-flat"
    result = search(flat.space, flat, sampler="local-search", n_trials=15, seed=0)
    assert result.study.user_attrs["benchmark"] == "nb201-cifar10-flat"
    assert result.best_value > 0
