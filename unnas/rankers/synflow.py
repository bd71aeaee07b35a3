"""SynFlow (Tanaka et al., NeurIPS 2020) as a zero-cost proxy (Abdelfattah et al., ICLR 2021, SamsungLabs/zero-cost-nas).

``R = sum(f(1))``: the network with every parameter and buffer replaced by its absolute value, without
BatchNorm, in float64, on one all-ones input; the score is ``sum |θ ⊙ ∂R/∂θ|`` over the weights of every
``Conv2d`` and ``Linear`` layer. zero-cost-nas builds its ``synflow`` network without BatchNorm
(``get_prunable_copy(bn=False)``); here every BatchNorm layer is replaced by an identity, which is the same network.
Float64 because the product of absolute weights grows geometrically with depth: the NAS-Bench-201 all-3x3-conv
cell at C=16, N=5 scores about 7e49, past float32's 3.4e38.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from unnas.rankers.base import RankBatch, Ranker, logits_of, weight_layers


def without_batchnorm(net: nn.Module) -> nn.Module:
    """*net* with every BatchNorm layer replaced by ``nn.Identity`` (in place; returns *net*)."""
    for name, child in list(net.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(net, name, nn.Identity())
        else:
            without_batchnorm(child)
    return net


def synflow(net: nn.Module, input_shape: Sequence[int]) -> float:
    """The SynFlow score of *net* for one sample of *input_shape* (``(C, H, W)``); changes *net* (pass a copy)."""
    param = next(net.parameters())
    without_batchnorm(net).double().train()
    with torch.no_grad():
        for t in net.state_dict().values():
            if t.is_floating_point():
                t.abs_()
    net.zero_grad(set_to_none=True)
    x = torch.ones((1, *input_shape), dtype=torch.float64, device=param.device)
    logits_of(net, x).sum().backward()
    with torch.no_grad():
        return float(sum(float((m.weight * m.weight.grad).abs().sum()) for m in weight_layers(net)
                         if m.weight.grad is not None))


class Synflow(Ranker):
    """SynFlow: data-free (uses only the batch's image shape) and label-free.

    Args:
        seed: seeds torch's random numbers while scoring.
    """

    name = "synflow"
    needs_images = False

    def _score(self, net: nn.Module, batch: RankBatch) -> float:
        return synflow(net, tuple(batch.images.shape[1:]))
