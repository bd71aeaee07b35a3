"""ZiCo (Li et al., "ZiCo: Zero-shot NAS via Inverse Coefficient of Variation on Gradients", ICLR 2023;
official code SLDGroup/ZiCo, ``ZeroShotProxy/compute_zico.py``).

The batch is split into ``N`` sub-batches (the paper: two batches); each gives the loss gradient ``g`` of every
weight of every ``Conv2d`` and ``Linear`` layer. Per layer ``l``, over the ``N`` gradients of each weight ``θ``:
``mean|g_θ|`` and the population standard deviation ``σ_θ`` (numpy's ``np.std``, ``ddof=0``); the score is

    ZiCo = Σ_l log( Σ_{θ ∈ l, σ_θ > 0} mean|g_θ| / σ_θ )

Weights whose gradient does not vary (``σ_θ = 0``) are left out of their layer's sum, and a layer whose sum is 0
(every weight left out, e.g. a gradient that is zero) adds nothing, as in the official ``caculate_zico``. Like
``grad_norm`` it takes its loss from :class:`~unnas.rankers.base.LossRanker`: cross-entropy on labels, or a
pretext objective's loss (label-free); the network runs in training mode, as the official code does.
"""

from __future__ import annotations

import math
from typing import Callable, List, Optional, Sequence

import torch
from torch import Tensor, nn

from unnas.errors import ConfigError
from unnas.rankers.base import LossRanker, RankBatch, logits_of, weight_layers

LossFn = Callable[[Tensor, Tensor], Tensor]


def zico_of_gradients(layer_grads: Sequence[Tensor]) -> float:
    """ZiCo of per-layer gradient stacks: each element ``[N, ...]`` holds the ``N`` gradients of one layer's
    weights (one per sub-batch). ``Σ_l log Σ_{σ>0} mean|g| / σ`` with ``σ`` the population std over the ``N``
    gradients; zero-``σ`` weights are skipped and a layer whose sum is 0 adds nothing (the official code)."""
    total = 0.0
    for grads in layer_grads:
        g = grads.detach().to(torch.float64).flatten(1)
        std = g.std(dim=0, unbiased=False)
        mean_abs = g.abs().mean(dim=0)
        nonzero = std != 0
        layer_sum = float((mean_abs[nonzero] / std[nonzero]).sum())
        if layer_sum != 0:
            total += math.log(layer_sum)
    return total


def layer_gradients(net: nn.Module, batches: Sequence[tuple], loss_fn: LossFn) -> List[Tensor]:
    """The weight gradients of every ``Conv2d``/``Linear`` layer of *net* on each ``(inputs, targets)`` of
    *batches*, stacked per layer as ``[N, *weight.shape]`` (training mode; one backward per batch). Layers that get
    no gradient on some batch (unused by the forward) are left out."""
    net.train()
    layers = weight_layers(net)
    per_layer: List[List[Tensor]] = [[] for _ in layers]
    for x, y in batches:
        net.zero_grad(set_to_none=True)
        loss_fn(logits_of(net, x), y).backward()
        for i, m in enumerate(layers):
            if m.weight.grad is not None:
                per_layer[i].append(m.weight.grad.detach().clone())
    net.zero_grad(set_to_none=True)
    return [torch.stack(gs) for gs in per_layer if gs and len(gs) == len(batches)]


def zico(net: nn.Module, batches: Sequence[tuple], loss_fn: LossFn) -> float:
    """ZiCo of *net* over the ``(inputs, targets)`` sub-batches *batches* (at least 2)."""
    if len(batches) < 2:
        raise ConfigError(f"ZiCo needs at least 2 sub-batches (the std of a gradient over one batch is 0), "
                         f"got {len(batches)}")
    return zico_of_gradients(layer_gradients(net, batches, loss_fn))


def split_batch(batch: RankBatch, parts: int) -> List[RankBatch]:
    """*batch* split into *parts* sub-batches of sizes as equal as possible (``torch.tensor_split`` order)."""
    n = batch.images.shape[0]
    if parts < 2 or n < parts:
        raise ConfigError(f"zico splits the batch into {parts} sub-batches: --batch must be at least "
                         f"{max(parts, 2)} and zico's batches at least 2, got a batch of {n} and {parts} sub-batches")
    return [RankBatch(x, y) for x, y in zip(torch.tensor_split(batch.images, parts),
                                            torch.tensor_split(batch.labels, parts))]


class ZiCo(LossRanker):
    """ZiCo; the batch is split into ``batches`` sub-batches, each prepared by the objective on its own.

    Args:
        objective: as :class:`~unnas.rankers.base.LossRanker` (``None``: cross-entropy on the batch's labels).
        batches: number of sub-batches (the paper and official code: 2); the batch must hold at least that many.
        seed: seeds torch's random numbers while scoring.
    """

    name = "zico"

    def __init__(self, objective: Optional[nn.Module] = None, batches: int = 2, seed: int = 0):
        super().__init__(objective=objective, seed=seed)
        self.batches = batches

    def _score(self, net: nn.Module, batch: RankBatch) -> float:
        return zico(net, [self.inputs_targets(b) for b in split_batch(batch, self.batches)], self.loss_fn)

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", batches={self.batches})"
