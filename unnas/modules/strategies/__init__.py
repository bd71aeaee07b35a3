"""Search strategies for :class:`~unnas.modules.DartsSearch`: how the alphas weigh the ops of a forward pass, how
architecture gradients are computed, what happens at epoch boundaries and how the final architecture is derived.

- :class:`FirstOrder` / :class:`SecondOrder`: DARTS (softmax op weights; first order as UnNAS runs it, second
  order with DARTS's unrolled step and finite-difference Hessian-vector product);
- :class:`GDAS`: one op per edge sampled by Gumbel-max, straight-through gradients, tau annealed over the epochs.

A new strategy is one module of this package with a subclass of :class:`SearchStrategy`, exported here
(docs/search_strategies.md).
"""

from unnas.modules.strategies.base import Batch, LossFn, OpWeights, SearchStrategy
from unnas.modules.strategies.darts import FirstOrder, SecondOrder
from unnas.modules.strategies.gdas import GDAS, linear_tau, straight_through

__all__ = ["SearchStrategy", "FirstOrder", "SecondOrder", "GDAS", "OpWeights", "Batch", "LossFn", "linear_tau",
           "straight_through"]
