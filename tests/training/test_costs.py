"""FLOPs and measured latency of a network (bonas.training.costs)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bonas.training.costs import count_flops, measure_latency


def test_flops_count_two_per_multiply_add_of_one_input() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 2))
    assert count_flops(model, (3, 4)) == 2 * (12 * 5 + 5 * 2)
    conv = nn.Conv2d(3, 8, kernel_size=3, padding=1, bias=False)
    assert count_flops(conv, (3, 6, 6)) == 2 * 8 * 6 * 6 * 3 * 3 * 3


def test_latency_is_a_positive_median_and_leaves_the_mode_alone() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.BatchNorm1d(32), nn.Linear(32, 10))
    model.train()
    single = measure_latency(model, (8, 8), batch_size=1, warmup=1, repeats=3)
    batch = measure_latency(model, (8, 8), batch_size=16, warmup=1, repeats=3)
    assert single > 0 and batch > 0
    assert model.training  # restored
    with pytest.raises(ValueError, match="batch_size >= 1"):
        measure_latency(model, (8, 8), batch_size=0)
