"""Parameter counts and multiply-adds, counted the way DARTS-style papers report them.

Multiply-adds count ``nn.Conv2d`` (output elements x in_channels/groups x kernel area) and
``nn.Linear`` (in x out) for ONE sample at the network's input size; BatchNorm, pooling, activations
and element-wise ops are not counted. The network runs in eval mode, so the auxiliary head is
excluded, as DARTS's counter does.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


def count_params(model: nn.Module, exclude_auxiliary: bool = True) -> int:
    """Number of weights; by default without the auxiliary head (DARTS's ``count_parameters_in_MB``).

    A supernet's architecture parameters (its ``arch_parameters()``) are not weights and are never
    counted, as in DARTS, where the alphas are not module parameters at all.
    """
    arch = {id(p) for p in model.arch_parameters()} if hasattr(model, "arch_parameters") else set()
    return sum(
        p.numel() for name, p in model.named_parameters()
        if id(p) not in arch and not (exclude_auxiliary and "auxiliary" in name)
    )


def count_macs(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Conv2d + Linear multiply-adds of one forward pass on a single sample of shape *input_shape*.

    *input_shape* excludes the batch dimension (``(3, 32, 32)``; ``(4, 3, 12, 12)`` for 4 jigsaw tiles).
    """
    total = 0

    def conv_hook(module: nn.Conv2d, inputs, output):
        nonlocal total
        kh, kw = module.kernel_size
        total += output.numel() * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Linear, inputs, output):
        nonlocal total
        total += output.numel() // module.out_features * module.in_features * module.out_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total
