"""Search strategies for :class:`~unnas.modules.WeightSharingSearch`: how the alphas weigh the ops of a forward pass,
how architecture gradients are computed, what happens at epoch boundaries and how the final architecture is
derived.

- :class:`FirstOrder` / :class:`SecondOrder`: DARTS (softmax op weights; first order as UnNAS runs it, second
  order with DARTS's unrolled step and finite-difference Hessian-vector product);
- :class:`GDAS`: one op per edge sampled by Gumbel-max, straight-through gradients, tau annealed over the epochs;
- :class:`PCDARTS`: partial channel connections (1/k of the channels through the ops) and edge normalisation;
- :class:`RandomWS`: random search with weight sharing (uniform paths, then the best of sampled cells);
- :class:`DDPNAS`: a categorical distribution per edge, updated from held-out scores, pruned to one cell;
- :class:`TNDNAS`: DARTS first order on a space shrunk by alpha, with an accuracy–cost Pareto front of sampled cells
  under a resource budget.

A new strategy is one module of this package with a subclass of :class:`SearchStrategy`, exported here
(docs/search_strategies.md).
"""

from unnas.modules.strategies.base import Batch, LossFn, OpWeights, SearchStrategy
from unnas.modules.strategies.darts import FirstOrder, SecondOrder
from unnas.modules.strategies.gdas import GDAS, linear_tau, straight_through
from unnas.modules.strategies.pcdarts import PCDARTS
from unnas.modules.strategies.random_ws import RandomWS
from unnas.modules.strategies.ddpnas import DDPNAS
from unnas.modules.strategies.tndnas import TNDNAS

__all__ = ["SearchStrategy", "FirstOrder", "SecondOrder", "GDAS", "OpWeights", "Batch", "LossFn", "linear_tau",
           "straight_through", "PCDARTS", "RandomWS", "DDPNAS", "TNDNAS"]
