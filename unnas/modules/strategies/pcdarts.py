"""PC-DARTS (Xu et al., ICLR 2020): partial channel connections and edge normalisation, first-order gradients."""

from __future__ import annotations

from unnas.errors import ConfigError
from unnas.modules.strategies.darts import FirstOrder
from unnas.spaces.oneshot import Supernet


class PCDARTS(FirstOrder):
    """PC-DARTS: every mixed op runs on ``1/k`` of its input channels (the first ``C/k``; the rest bypass it, through
    a 2x2 max-pool on reduction edges, and the concatenation is channel-shuffled with ``k`` groups), and with
    *edge_normalization* each edge's output is multiplied by the softmax of the betas of the edges entering its
    node. The betas are architecture parameters (optimised with the alphas, saved in checkpoints); the DARTS-space
    derivation weighs each edge's op weights by its normalised beta, as the official ``genotype()``. The
    architecture gradient is DARTS's first order. ``k=1`` without edge normalisation is DARTS first order.

    Args:
        k: the channel proportion ``1/k`` (official: 4); must divide the channels of every edge.
        edge_normalization: learn the per-edge betas (official: on).
    """

    def __init__(self, k: int = 4, edge_normalization: bool = True):
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"PCDARTS search_strategy.init_args.k={k!r:.40}: must be a positive integer; set "
                              "model.init_args.search_strategy.init_args.k, e.g. 4")
        self.k = k
        self.edge_normalization = bool(edge_normalization)

    def configure_supernet(self, supernet: Supernet) -> None:
        """Switch *supernet* to partial channels and (un)set its edge betas. Called once after the supernet is built,
        before the optimisers; calling it again changes nothing."""
        supernet.set_partial_channels(self.k)
        supernet.set_edge_normalization(self.edge_normalization)
