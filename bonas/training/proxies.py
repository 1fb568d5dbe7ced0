"""Zero-cost proxies: scores of an untrained network that predict how well it will train.

* :func:`synflow`: SynFlow (Tanaka et al., 2020, "Pruning neural networks without any data by iteratively
  conserving synaptic flow"), which Abdelfattah et al. (2021, "Zero-Cost Proxies for Lightweight NAS")
  found to rank NAS-Bench-201 cells best among the proxies they compared. It costs one forward and one
  backward pass of a single input, and needs no data.

On ``python -m benchmarks.weight_sharing``'s 40 cells its ranking (Kendall tau against stand-alone
training) is about that of a trained supernet's, and it errs differently: the two rank-averaged rank
better than either (the README's weight-sharing section has the numbers).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def synflow(model: nn.Module, input_shape: tuple[int, ...]) -> float:
    """The natural log of ``model``'s SynFlow score (higher predicts a better trained network).

    On a copy of ``model`` in double precision and evaluation mode, with every parameter and buffer
    replaced by its absolute value, one all-ones input of ``input_shape`` is passed forward; the score is
    the sum over parameters of ``|theta * dR/dtheta|``, where ``R`` is the sum of the outputs. ``model``
    itself is left unchanged. -inf when no parameter reaches the output.

    Args:
        model: the network, untrained (its weights as initialised).
        input_shape: one input's shape, e.g. ``(3, 32, 32)``.
    """
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    network = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for tensor in network.state_dict().values():
            if tensor.is_floating_point():
                tensor.abs_()
    network.zero_grad(set_to_none=True)
    output = network(torch.ones((1, *input_shape), dtype=torch.double, device=device)).sum()
    if not output.requires_grad:
        return -math.inf
    output.backward()
    total = sum(float((p.detach() * p.grad).abs().sum()) for p in network.parameters() if p.grad is not None)
    return math.log(total) if total > 0 else -math.inf
