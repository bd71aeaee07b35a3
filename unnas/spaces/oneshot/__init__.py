"""The one-shot (weight-sharing) machinery every space's supernet uses.

- :class:`Supernet` (:mod:`~unnas.spaces.oneshot.supernet`): the interface a space's supernet provides, with the
  shared op-weight rule a search strategy installs, PC-DARTS's partial channels and edge betas;
- :class:`MixedOp` (:mod:`~unnas.spaces.oneshot.mixed_op`): all candidate ops of one edge, with the exact fused
  path, hard samples, pruned ops and partial channels;
- :class:`OpWeights` and :class:`CellWeights` (:mod:`~unnas.spaces.oneshot.weights`): what one forward pass weighs
  a cell's edges by.

A space builds its search cells from :class:`MixedOp` s and computes every edge with
:meth:`CellWeights.edge_output`; a search strategy that changes the mixed op changes this package and its own
module under ``unnas/modules/strategies/``, not the spaces.
"""

from unnas.spaces.oneshot.mixed_op import ZERO_OP, MixedOp, OpFactory, channel_shuffle
from unnas.spaces.oneshot.supernet import OpWeightsRule, Supernet
from unnas.spaces.oneshot.weights import CellWeights, OpWeights, node_softmax, unpack_op_weights

__all__ = ["Supernet", "MixedOp", "OpWeights", "CellWeights", "OpFactory", "OpWeightsRule", "ZERO_OP",
           "channel_shuffle", "node_softmax", "unpack_op_weights"]
