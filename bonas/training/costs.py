"""What a network costs to run: floating-point operations and measured inference latency.

* :func:`count_flops`: the FLOPs of one forward pass of one input, counted by
  ``torch.utils.flop_counter.FlopCounterMode`` (PyTorch's own counter: matrix multiplications and
  convolutions, two FLOPs per multiply-add; pooling, normalisation and element-wise additions are not
  counted).
* :func:`measure_latency`: inference latency on a device, in milliseconds: warm-up passes first (lazy
  initialisation, allocator and kernel caches, cuDNN autotuning), then the median of timed repeats
  (robust to the odd slow pass of a shared machine), synchronising the device around each pass.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass of one input of ``input_shape`` (batch 1, evaluation mode).

    Args:
        model: the network; left in the training mode it had.
        input_shape: one input's shape, e.g. ``(3, 32, 32)``.
    """
    device = _device_of(model)
    was_training = model.training
    model.eval()
    try:
        # Not under no_grad: FlopCounterMode's module tracker hooks the outputs' gradients, and fails on an
        # output that requires grad without a grad_fn (a module returning a parameter as it is).
        with FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def measure_latency(
    model: nn.Module,
    input_shape: tuple[int, ...],
    *,
    batch_size: int = 1,
    warmup: int = 3,
    repeats: int = 10,
) -> float:
    """Median wall time of a forward pass of ``batch_size`` inputs, in milliseconds, on the model's device.

    Args:
        model: the network (measured in evaluation mode, without gradients; its mode is restored).
        input_shape: one input's shape.
        batch_size: inputs per pass.
        warmup: untimed passes first.
        repeats: timed passes; the median is returned.

    Raises:
        ValueError: ``batch_size`` or ``repeats`` is below 1, or ``warmup`` below 0.
    """
    if batch_size < 1 or repeats < 1 or warmup < 0:
        raise ValueError(
            f"Need batch_size >= 1, repeats >= 1 and warmup >= 0, got {batch_size=}, {repeats=}, {warmup=}."
        )
    device = _device_of(model)
    inputs = torch.zeros(batch_size, *input_shape, device=device)
    was_training = model.training
    model.eval()
    times = []
    try:
        with torch.no_grad():
            for _ in range(warmup):
                model(inputs)
            for _ in range(repeats):
                _synchronize(device)
                started = time.perf_counter()
                model(inputs)
                _synchronize(device)
                times.append(1000.0 * (time.perf_counter() - started))
    finally:
        model.train(was_training)
    return float(statistics.median(times))


def _device_of(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
