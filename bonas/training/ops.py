"""The operation registry: names of cell operations mapped to factories of torch modules.

An operation maps a ``B x C_in x H x W`` tensor to ``B x C_out x H' x W'`` (``H' = H / stride``). Its
factory is called as ``factory(c_in, c_out, stride)``. The NAS-Bench-201 operations are registered
under their NB201 names; :func:`register_op` adds your own::

    from torch import nn
    from bonas.training.ops import register_op

    register_op("sep_conv_3x3", lambda c_in, c_out, stride: nn.Sequential(
        nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False),
        nn.Conv2d(c_in, c_out, 1, bias=False),
        nn.BatchNorm2d(c_out),
    ))
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from bonas.errors import unknown_name

#: ``factory(c_in, c_out, stride) -> module``.
OpFactory = Callable[[int, int, int], nn.Module]


class ReLUConvBN(nn.Sequential):
    """ReLU, convolution (no bias), batch norm: NB201's ``nor_conv`` operations.

    Args:
        c_in: input channels.
        c_out: output channels.
        kernel_size: square kernel side; padding keeps the spatial size at stride 1.
        stride: convolution stride.
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )


class Zero(nn.Module):
    """Outputs zeros of the operation's output shape (NB201's ``none``: the edge is absent)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.c_out = c_out
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        if x.shape[1] == self.c_out:
            return x.mul(0.0)
        shape = (x.shape[0], self.c_out, *x.shape[2:])
        return x.new_zeros(shape)


class FactorizedReduce(nn.Module):
    """Halves the spatial size with two offset 1x1 stride-2 convolutions, concatenated, then batch norm.

    Used where a skip connection changes shape (stride 2 or a channel change).
    """

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        if stride == 1:
            self.convs = nn.ModuleList([nn.Conv2d(c_in, c_out, 1, bias=False)])
        else:
            half = c_out // 2
            self.convs = nn.ModuleList(
                [
                    nn.Conv2d(c_in, half, 1, stride=stride, bias=False),
                    nn.Conv2d(c_in, c_out - half, 1, stride=stride, bias=False),
                ]
            )
        self.relu = nn.ReLU(inplace=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        if self.stride == 1:
            return self.bn(self.convs[0](x))
        # The second path sees the input shifted by one pixel, so the two halves sample different pixels.
        shifted = nn.functional.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.convs[0](x), self.convs[1](shifted)], dim=1))


class AvgPool(nn.Module):
    """3x3 average pooling (padding not counted), after a 1x1 ReLU-Conv-BN when channels change."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.preprocess = ReLUConvBN(c_in, c_out, 1, 1) if c_in != c_out else nn.Identity()
        self.pool = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.preprocess(x))


def _skip(c_in: int, c_out: int, stride: int) -> nn.Module:
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return FactorizedReduce(c_in, c_out, stride)


_REGISTRY: dict[str, OpFactory] = {
    "none": Zero,
    "skip_connect": _skip,
    "nor_conv_1x1": lambda c_in, c_out, stride: ReLUConvBN(c_in, c_out, 1, stride),
    "nor_conv_3x3": lambda c_in, c_out, stride: ReLUConvBN(c_in, c_out, 3, stride),
    "avg_pool_3x3": AvgPool,
}

#: The operations registered when bonas is imported (NB201's five).
BUILTIN_OPS = tuple(_REGISTRY)


def register_op(name: str, factory: OpFactory, *, overwrite: bool = False) -> None:
    """Register ``factory`` under ``name`` so cells can use that operation.

    Args:
        name: the operation name as it appears on a cell's edges or nodes.
        factory: ``factory(c_in, c_out, stride)`` returning a module that maps
            ``B x c_in x H x W`` to ``B x c_out x H/stride x W/stride``.
        overwrite: replace an existing operation of that name (refused otherwise).

    Raises:
        ValueError: ``name`` is empty, is already registered without ``overwrite``, or ``factory`` is not
            callable.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"An operation name must be a non-empty string, got {name!r}.")
    if not callable(factory):
        raise ValueError(f"The factory for operation {name!r} must be callable, got {factory!r}.")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"Operation {name!r} is already registered; pass overwrite=True to replace it.")
    _REGISTRY[name] = factory


def unregister_op(name: str) -> None:
    """Remove an operation added with :func:`register_op` (built-in operations cannot be removed)."""
    if name in BUILTIN_OPS:
        raise ValueError(f"Operation {name!r} is built in and cannot be removed.")
    if name not in _REGISTRY:
        raise unknown_name("operation", name, _REGISTRY)
    del _REGISTRY[name]


def op_names() -> list[str]:
    """Every registered operation name, sorted."""
    return sorted(_REGISTRY)


def check_op(name: str) -> None:
    """Raise UnknownNameError (listing the registered names) unless ``name`` is registered."""
    if name not in _REGISTRY:
        raise unknown_name("operation", name, _REGISTRY)


def make_op(name: str, c_in: int, c_out: int, stride: int = 1) -> nn.Module:
    """A new module of operation ``name`` from ``c_in`` to ``c_out`` channels.

    Raises:
        UnknownNameError: ``name`` is not registered; the message lists the registered names.
    """
    check_op(name)
    return _REGISTRY[name](c_in, c_out, stride)
