"""Size baselines: ``params`` (weights) and ``macs`` (Conv2d + Linear multiply-adds of one sample), counted by
:mod:`unnas.spaces.complexity`. Strong baselines for the proxies (ZiCo, Li et al., ICLR 2023)."""

from __future__ import annotations

from torch import nn

from unnas.rankers.base import RankBatch, Ranker
from unnas.spaces.complexity import count_macs, count_params


class Params(Ranker):
    """The network's parameter count (without an auxiliary head); the batch is not used.

    Args:
        seed: unused (counting is deterministic); kept for a uniform interface.
    """

    name = "params"
    needs_images = False

    def _score(self, net: nn.Module, batch: RankBatch) -> float:
        return float(count_params(net))


class Macs(Ranker):
    """Multiply-adds of one sample of the batch's image shape.

    Args:
        seed: unused (counting is deterministic); kept for a uniform interface.
    """

    name = "macs"
    needs_images = False

    def _score(self, net: nn.Module, batch: RankBatch) -> float:
        return float(count_macs(net, tuple(batch.images.shape[1:])))
