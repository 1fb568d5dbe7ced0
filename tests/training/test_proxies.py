"""Zero-cost proxies: SynFlow leaves the network alone, is deterministic, and ranks by what reaches the output."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import bonas
from bonas.training import NetworkSettings, build_network
from bonas.training.proxies import synflow


def _cell(arch: str) -> nn.Module:
    torch.manual_seed(0)
    return build_network(
        bonas.get_space("nb201").parse(arch),
        input_shape=(1, 8, 8),
        num_classes=3,
        settings=NetworkSettings(channels=4, cells_per_stage=1),
    )


def test_synflow_leaves_the_network_unchanged_and_repeats() -> None:
    network = _cell("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|")
    network.train()
    before = {name: tensor.clone() for name, tensor in network.state_dict().items()}
    first = synflow(network, (1, 8, 8))
    assert math.isfinite(first) and synflow(network, (1, 8, 8)) == first
    after = network.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert all(p.grad is None for p in network.parameters()) and network.training


def test_synflow_grows_with_the_convolutions_that_reach_the_output() -> None:
    scores = [
        synflow(_cell(arch), (1, 8, 8))
        for arch in (
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
            "|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|nor_conv_1x1~0|nor_conv_1x1~1|nor_conv_1x1~2|",
            "|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|",
        )
    ]
    assert scores[0] > scores[1] > scores[2]


def test_synflow_of_a_network_without_parameters_on_its_output_is_minus_infinity() -> None:
    assert synflow(nn.Flatten(), (1, 2, 2)) == -math.inf


@pytest.mark.parametrize("shape", [(1, 8, 8)])
def test_synflow_does_not_overflow_in_double_precision(shape: tuple[int, ...]) -> None:
    deep = nn.Sequential(nn.Flatten(), *[nn.Linear(64, 64) for _ in range(20)])
    assert math.isfinite(synflow(deep, shape))
