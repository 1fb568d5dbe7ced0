"""The supernet: inherited weights are exact, a path runs only its operations, batch norm recalibrates."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

from bonas.architecture import Cell
from bonas.errors import UnknownNameError
from bonas.spaces import NB201Space, get_space
from bonas.training.networks import NetworkSettings, build_network, cell_from_networkx
from bonas.training.supernet import (
    CellTemplate,
    Mixture,
    OutsideSupernetError,
    Supernet,
    SupernetCheckpointError,
)

TINY = NetworkSettings(channels=4, cells_per_stage=1)
SHAPE = {"input_shape": (1, 8, 8), "num_classes": 10}


def _randomised(supernet: Supernet, seed: int) -> Supernet:
    """Every weight and batch-norm buffer random, so a wrong copy cannot pass by coincidence."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in supernet.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(module.num_features, generator=generator))
                module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.num_features, generator=generator))
    return supernet


@pytest.fixture(scope="module")
def supernet() -> Supernet:
    torch.manual_seed(0)
    return _randomised(Supernet.for_space(NB201Space(), **SHAPE, settings=TINY), 1)


def _nb201_cells(n: int, seed: int) -> list:
    space = NB201Space()
    rng = np.random.default_rng(seed)
    fixed = [
        space.from_operations([op] * 6) for op in ("none", "skip_connect", "nor_conv_3x3", "avg_pool_3x3")
    ]
    return fixed + [space.sample(rng) for _ in range(n)]


def test_nb201_template_holds_every_operation_on_every_edge(supernet: Supernet) -> None:
    assert len(supernet.template.edges) == 6
    assert all(len(edge.ops) == 5 for edge in supernet.template.edges)
    assert [(e.source, e.target) for e in supernet.template.edges] == [
        (0, 1),
        (0, 2),
        (1, 2),
        (0, 3),
        (1, 3),
        (2, 3),
    ]


@pytest.mark.parametrize("train", [False, True])
def test_subnet_equals_its_standalone_network_with_copied_weights(supernet: Supernet, train: bool) -> None:
    x = torch.randn(6, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    for architecture in _nb201_cells(8, seed=0):
        network = supernet.extract(architecture)
        supernet.train(train)
        network.train(train)
        with torch.no_grad():
            expected = network(x)
            got = supernet(x, supernet.path(architecture))
        assert torch.allclose(got, expected, atol=1e-5, rtol=1e-5), str(architecture)
    supernet.eval()


def test_the_copy_is_exactly_the_path_and_nothing_else(supernet: Supernet) -> None:
    architecture = NB201Space().parse(
        "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
    )
    state = supernet.subnet_state_dict(architecture)
    fresh = build_network(architecture, **SHAPE, settings=TINY)
    assert set(state) == set(fresh.state_dict())
    # Two 3x3 convolutions on different edges come from different supernet modules.
    cell = supernet.cells[0]
    assert torch.equal(state["cells.0.edge_ops.0.1.weight"], cell.edge_ops[0][3][1].weight)
    assert torch.equal(state["cells.0.edge_ops.4.1.weight"], cell.edge_ops[5][3][1].weight)


def test_a_path_runs_and_trains_only_its_operations() -> None:
    torch.manual_seed(0)
    supernet = Supernet.for_space(NB201Space(), **SHAPE, settings=TINY)
    architecture = NB201Space().from_operations(
        ["nor_conv_3x3", "nor_conv_1x1", "none", "skip_connect", "nor_conv_3x3", "avg_pool_3x3"]
    )
    path = supernet.path(architecture)
    x = torch.randn(4, 1, 8, 8)
    supernet(x, path).sum().backward()
    used = set(supernet.subnet_state_dict(architecture))
    for name, parameter in supernet.named_parameters():
        in_cell = name.startswith("cells.") and ".edge_ops." in name
        if not in_cell:
            assert parameter.grad is not None, name
            continue
        rest = name.split(".edge_ops.")[1]
        e, j = (int(v) for v in rest.split(".")[:2])
        on_path = j in path.edges[e]
        assert (parameter.grad is not None) == on_path, name
    assert used  # the state dict names the path's weights
    # Changing an operation off the path changes nothing.
    before = supernet(x, path).detach()
    with torch.no_grad():
        supernet.cells[0].edge_ops[2][3][1].weight.add_(1.0)  # 3x3 conv of edge 1->2, which is none here
    assert torch.equal(supernet(x, path).detach(), before)


def test_one_hot_mixture_equals_the_single_path(supernet: Supernet) -> None:
    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    supernet.eval()
    for architecture in _nb201_cells(4, seed=1):
        path = supernet.path(architecture)
        weights = torch.zeros(6, 5)
        for e, chosen in enumerate(path.edges):
            weights[e, list(chosen)] = 1.0
        with torch.no_grad():
            assert torch.allclose(supernet(x, Mixture(weights)), supernet(x, path), atol=1e-5)


def test_mixture_weights_get_gradients_except_through_zero_operations() -> None:
    torch.manual_seed(0)
    supernet = Supernet.for_space(NB201Space(), **SHAPE, settings=TINY)
    alphas = torch.zeros(6, 5, requires_grad=True)
    supernet(torch.randn(4, 1, 8, 8), Mixture(torch.softmax(alphas, dim=-1))).square().mean().backward()
    assert alphas.grad is not None
    assert torch.all(alphas.grad.abs().sum(dim=1) > 0)
    with pytest.raises(ValueError, match="5 candidate operations"):
        supernet(torch.randn(1, 1, 8, 8), Mixture(torch.ones(6, 4)))


def test_recalibration_gives_the_subnets_own_batch_statistics(supernet: Supernet) -> None:
    architecture = NB201Space().from_operations(["nor_conv_3x3"] * 3 + ["nor_conv_1x1"] * 3)
    path = supernet.path(architecture)
    generator = torch.Generator().manual_seed(7)
    batches = [torch.randn(16, 1, 8, 8, generator=generator) for _ in range(3)]
    # The module-scoped fixture's mode depends on which tests ran before (a new module trains): set it.
    supernet.eval()
    supernet.recalibrate(path, batches)
    # The same estimate made on the stand-alone network: the exact mean over the three batches.
    network = supernet.extract(architecture)
    for module in network.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    network.train()
    with torch.no_grad():
        for x in batches:
            network(x)
    ours = supernet.subnet_state_dict(architecture)
    for name, value in network.state_dict().items():
        if "running_" in name:
            assert torch.allclose(ours[name], value, atol=1e-5), name
    stem_mean = ours["stem.1.running_mean"]
    with torch.no_grad():
        conv = torch.cat([supernet.stem[0](x) for x in batches])
    assert torch.allclose(stem_mean, conv.mean(dim=(0, 2, 3)), atol=1e-5)
    # Momentum is restored; the supernet keeps its mode.
    assert supernet.stem[1].momentum == 0.1
    assert not supernet.training


def test_general_dag_template_with_node_operations_is_exact() -> None:
    graph = nx.DiGraph()
    graph.add_node("in")
    graph.add_node("a", op="nor_conv_3x3")
    graph.add_node("b")
    graph.add_node("out")
    graph.add_edge("in", "a")
    graph.add_edge("in", "b", op="avg_pool_3x3")
    graph.add_edge("a", "out", op="nor_conv_1x1")
    graph.add_edge("b", "out")
    first = cell_from_networkx(graph)
    graph.nodes["a"]["op"] = "nor_conv_1x1"
    graph.edges["in", "b"]["op"] = "skip_connect"
    second = cell_from_networkx(graph)
    template = CellTemplate.from_cells([first, second])
    assert template.nodes[1] == ("nor_conv_3x3", "nor_conv_1x1")
    torch.manual_seed(0)
    supernet = _randomised(Supernet(template, **SHAPE, settings=TINY), 2).eval()
    x = torch.randn(2, 1, 8, 8)
    for cell in (first, second):
        network = build_network(_cell_architecture(cell), **SHAPE, settings=TINY).eval()
        network.load_state_dict(supernet.subnet_state_dict(cell), strict=True)
        with torch.no_grad():
            assert torch.allclose(supernet(x, supernet.path(cell)), network(x), atol=1e-5)


def _cell_architecture(cell: Cell):
    from bonas.architecture import Architecture

    return Architecture(space="user-dag", params=(("cell", "x"),), cells=(("cell", cell),), text="x")


def test_training_steps_are_deterministic_on_cpu() -> None:
    def run() -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        supernet = Supernet.for_space(NB201Space(), **SHAPE, settings=TINY)
        optimiser = torch.optim.SGD(supernet.parameters(), lr=0.1)
        rng = np.random.default_rng(0)
        generator = torch.Generator().manual_seed(0)
        for _ in range(3):
            path = supernet.path(NB201Space().sample(rng))
            x = torch.randn(8, 1, 8, 8, generator=generator)
            y = torch.randint(0, 10, (8,), generator=generator)
            optimiser.zero_grad()
            nn.functional.cross_entropy(supernet(x, path), y).backward()
            optimiser.step()
        return {k: v.clone() for k, v in supernet.state_dict().items()}

    first, second = run(), run()
    assert all(torch.equal(first[k], second[k]) for k in first)


# -- Bad input -----------------------------------------------------------------------------------


def test_architecture_outside_the_supernet_is_refused(supernet: Supernet) -> None:
    other = get_space("nb201")
    assert supernet.path(other.sample(np.random.default_rng(0)))  # the same space by name is fine
    mlp = get_space("mlp")
    with pytest.raises(OutsideSupernetError, match="belongs to space 'mlp'"):
        supernet.path(mlp.sample(np.random.default_rng(0)))
    with pytest.raises(OutsideSupernetError, match="belongs to space 'darts'"):  # not "unknown network space"
        supernet.extract(get_space("darts").sample(np.random.default_rng(0)))
    union = Supernet(
        CellTemplate.from_cells([NB201Space().from_operations(["nor_conv_3x3"] * 6).cell()]),
        **SHAPE,
        settings=TINY,
    )
    with pytest.raises(OutsideSupernetError, match=r"operation 'skip_connect'.*holds \['nor_conv_3x3'\]"):
        union.path(NB201Space().from_operations(["skip_connect"] * 6))
    with pytest.raises(OutsideSupernetError, match="nodes"):
        supernet.path(Cell(nodes=("input", "output"), edges=((0, 1, "nor_conv_3x3"),), output=1))
    with pytest.raises(TypeError, match="SubnetPath"):
        supernet(torch.zeros(1, 1, 8, 8), "|none~0|")


def test_an_operation_without_supernet_form_is_named() -> None:
    cell = Cell(nodes=("input", "output"), edges=((0, 1, "sep_conv_5x5"),), output=1)
    with pytest.raises(UnknownNameError, match="sep_conv_5x5"):
        CellTemplate.from_cells([cell])
    with pytest.raises(OutsideSupernetError, match="own registered builder"):
        Supernet.for_space(get_space("mlp"), **SHAPE, settings=TINY)


def test_checkpoints_round_trip_and_refuse_another_supernet(supernet: Supernet, tmp_path) -> None:
    file = supernet.save(tmp_path / "supernet.pt", extra={"epochs": 3})
    loaded = Supernet.load(file)
    assert all(
        torch.equal(a, b)
        for a, b in zip(loaded.state_dict().values(), supernet.state_dict().values(), strict=True)
    )
    assert loaded.load_state(file) == {"epochs": 3}
    wider = Supernet.for_space(NB201Space(), **SHAPE, settings=NetworkSettings(channels=8, cells_per_stage=1))
    with pytest.raises(SupernetCheckpointError, match="channels: checkpoint 4, this supernet 8"):
        wider.load_state(file)
    union = Supernet(
        CellTemplate.from_cells([NB201Space().from_operations(["nor_conv_3x3"] * 6).cell()]),
        **SHAPE,
        settings=TINY,
    )
    with pytest.raises(SupernetCheckpointError, match="template"):
        union.load_state(file)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SupernetCheckpointError, match="Cannot read"):
        supernet.load_state(tmp_path / "junk.pt")
    with pytest.raises(SupernetCheckpointError, match="does not exist"):
        Supernet.load(tmp_path / "missing.pt")
