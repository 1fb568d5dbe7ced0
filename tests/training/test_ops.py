"""The operation registry: NB201's operations, shapes, and user-registered operations."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bonas.errors import UnknownNameError
from bonas.training.ops import BUILTIN_OPS, make_op, op_names, register_op, unregister_op


def test_nb201_operations_are_registered() -> None:
    assert set(BUILTIN_OPS) == {"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"}
    assert set(BUILTIN_OPS) <= set(op_names())


@pytest.mark.parametrize("name", BUILTIN_OPS)
@pytest.mark.parametrize(("c_in", "c_out", "stride"), [(8, 8, 1), (8, 16, 2), (4, 8, 1)])
def test_operation_shapes(name: str, c_in: int, c_out: int, stride: int) -> None:
    torch.manual_seed(0)
    op = make_op(name, c_in, c_out, stride)
    out = op(torch.randn(2, c_in, 8, 8))
    assert out.shape == (2, c_out, 8 // stride, 8 // stride)


def test_operations_compute_what_they_are_named() -> None:
    x = torch.randn(2, 4, 6, 6)
    assert torch.equal(make_op("skip_connect", 4, 4)(x), x)
    assert torch.count_nonzero(make_op("none", 4, 4)(x)) == 0
    pooled = make_op("avg_pool_3x3", 4, 4)(x)
    assert torch.allclose(pooled[:, :, 2, 2], x[:, :, 1:4, 1:4].mean(dim=(2, 3)), atol=1e-6)
    # Padding is not counted: a corner averages its 4 real neighbours.
    assert torch.allclose(pooled[:, :, 0, 0], x[:, :, :2, :2].mean(dim=(2, 3)), atol=1e-6)
    conv = make_op("nor_conv_3x3", 4, 4)
    assert sum(p.numel() for p in conv.parameters()) == 4 * 4 * 9 + 2 * 4  # conv without bias, BN affine


def test_unknown_operation_lists_the_registered_ones() -> None:
    with pytest.raises(UnknownNameError, match=r"sep_conv_7x7") as error:
        make_op("sep_conv_7x7", 4, 4)
    assert "nor_conv_3x3" in str(error.value)


def test_register_and_unregister_an_operation() -> None:
    register_op("test_double", lambda c_in, c_out, stride: _Double())
    try:
        assert "test_double" in op_names()
        assert torch.equal(make_op("test_double", 3, 3)(torch.ones(1, 3, 2, 2)), 2 * torch.ones(1, 3, 2, 2))
        with pytest.raises(ValueError, match=r"already registered"):
            register_op("test_double", lambda c_in, c_out, stride: nn.Identity())
    finally:
        unregister_op("test_double")
    assert "test_double" not in op_names()
    with pytest.raises(ValueError, match=r"built in"):
        unregister_op("nor_conv_3x3")
    with pytest.raises(ValueError, match=r"callable"):
        register_op("broken", "not a factory")  # type: ignore[arg-type]


class _Double(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x
