"""The search-strategy interface: what a strategy owns (docs/search_strategies.md)."""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from unnas.spaces.oneshot import OpWeights, Supernet


Batch = Tuple[torch.Tensor, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: a hard sample of the supernet: per alpha key (``"normal"``, ``"reduce"``, ``"cell"``) the op index of every edge
ArchSample = Dict[str, Tuple[int, ...]]
#: ``evaluate(samples) -> scores``: the held-out accuracy (a fraction) of every sample with the shared weights
Evaluate = Callable[[Sequence[ArchSample]], List[float]]
#: ``cost(genotype) -> {"params": ..., "macs": ...}``: the size of the architecture's network at the search's shape
Cost = Callable[[Any], Dict[str, float]]


def strategy_name(cls: type) -> str:
    """A strategy class's name in run names, tags and folders: its ``short_name``, else its class name in snake
    case (``first_order``, ``gdas``, ``pcdarts``, ``tndnas``)."""
    return getattr(cls, "short_name", None) or re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", cls.__name__).lower()


class SearchStrategy:
    """What a search strategy owns. The search module installs :meth:`op_weights` in the supernet, calls
    :meth:`arch_gradients` once per step, :meth:`on_epoch_start` / :meth:`on_epoch_end` around every training
    epoch, saves :meth:`state_dict` in checkpoints and derives the architecture with :meth:`derive`."""

    #: the strategy's name in run names, W&B tags and run folders (``None``: its class name in snake case)
    short_name: Optional[str] = None
    #: whether every candidate op runs in every forward pass (``False``: DDP must allow unused parameters)
    runs_every_op = True
    #: whether the module runs an architecture step (:meth:`arch_gradients` and Adam on the alphas) every step
    arch_step = True
    #: held-out batches of the architecture split that :meth:`on_epoch_end`'s ``evaluate`` scores samples on
    #: (0: the strategy does not evaluate samples, and ``evaluate`` is ``None``)
    eval_batches = 0

    def configure_supernet(self, supernet: Supernet) -> None:
        """Called once by the module after it builds the supernet, before the optimisers are made (e.g. to learn
        the shapes of the alpha matrices, or to add architecture parameters)."""

    def configure_cost(self, cost: Cost) -> None:
        """Called once by the module with the function that sizes an architecture (parameters and multiply-adds of
        its network at the search's shape and input), for strategies that hold a resource budget."""

    def op_weights(self, alpha: torch.Tensor, key: str) -> Union[torch.Tensor, OpWeights]:
        """The op weights ``[edges, ops]`` of alpha matrix *key* for one forward pass (default: DARTS's softmax), or
        an :class:`~unnas.spaces.oneshot.OpWeights` naming per edge the only op with a non-zero weight."""
        return F.softmax(alpha, dim=-1)

    def arch_gradients(self, model: Supernet, loss_fn: LossFn, weights_batch: Batch, arch_batch: Batch,
                       weight_optimizer: torch.optim.Optimizer) -> torch.Tensor:  # pragma: no cover - interface
        """Set ``p.grad`` for every ``p`` in ``model.arch_parameters()`` and return the architecture loss."""
        raise NotImplementedError

    def on_epoch_start(self, epoch: int, max_epochs: int) -> None:
        """Called before training epoch *epoch* (0-based) of *max_epochs* (the trainer's setting)."""

    def on_epoch_end(self, epoch: int, max_epochs: int, evaluate: Optional[Evaluate] = None) -> None:
        """Called after training epoch *epoch*, before the epoch's architecture is derived and recorded. With
        :attr:`eval_batches` > 0, *evaluate* scores hard samples with the shared weights (see
        :meth:`~unnas.modules.WeightSharingSearch.evaluate_samples`); its draws are seeded per epoch, equal on every rank."""

    def state_dict(self) -> Dict[str, Any]:
        """The strategy's state (plain numbers), saved in checkpoints and in every epoch's ``alphas.json`` entry."""
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (an empty dict, from a checkpoint without one, changes nothing)."""

    def derive(self, supernet: Supernet) -> Any:
        """The discrete architecture of the current alphas (default: the space's own rule, ``supernet.genotype()``)."""
        return supernet.genotype()

    def cells(self, supernet: Supernet) -> List[Dict[str, Any]]:
        """The cells a strategy returns beside :meth:`derive`'s (e.g. the scored candidates of random search, the
        accuracy–cost front of progressive shrinking): ``[{"genotype": architecture, "score": held-out accuracy
        or None}]``. The module sizes each one and looks up its true accuracy; the search callback draws them
        against their multiply-adds with the Pareto front. Default: none."""
        return []


# ------------------------------------------------------------------------------------------ hard samples
def hard_weights(alpha: torch.Tensor, active: Sequence[int]) -> OpWeights:
    """The one-hot op weights of a hard sample of *alpha* ``[edges, ops]``: op ``active[e]`` on edge ``e``, only
    that op runs, and no gradient reaches *alpha*."""
    index = torch.as_tensor(list(active), dtype=torch.long, device=alpha.device)
    weights = F.one_hot(index, alpha.shape[-1]).to(alpha.dtype)
    return OpWeights(weights, tuple(int(k) for k in active))


def alpha_matrices(supernet: Supernet) -> Dict[str, nn.Parameter]:
    """The alpha matrices by key: the first ``arch_parameters()`` in the order of ``arch_weights()``'s keys (the
    seam's order; edge betas, where a strategy adds them, come after)."""
    keys = list(supernet.arch_weights())
    params = supernet.arch_parameters()[:len(keys)]
    shapes = {k: tuple(w.shape) for k, w in supernet.arch_weights().items()}
    if [tuple(p.shape) for p in params] != [shapes[k] for k in keys]:
        raise RuntimeError(f"{type(supernet).__name__}: the first arch_parameters() are not the alpha matrices "
                           f"{shapes}")
    return dict(zip(keys, params))


@torch.no_grad()
def genotype_at(supernet: Supernet, probs: Mapping[str, torch.Tensor]) -> Any:
    """The space's derivation (``supernet.genotype()``) at op probabilities *probs* ``{key: [edges, ops]}``: every
    alpha matrix is set to ``log(probs)`` (so ``softmax(alpha) == probs``; a zero becomes -1e4) for the call and
    restored after it."""
    alphas = alpha_matrices(supernet)
    saved = {k: a.detach().clone() for k, a in alphas.items()}
    try:
        for k, a in alphas.items():
            a.copy_(torch.as_tensor(probs[k], dtype=a.dtype, device=a.device).log().clamp_min(-1e4))
        return supernet.genotype()
    finally:
        for k, a in alphas.items():
            a.copy_(saved[k])


def one_hot(sample: ArchSample, shapes: Mapping[str, Tuple[int, int]]) -> Dict[str, torch.Tensor]:
    """The one-hot matrices ``{key: [edges, ops]}`` of a hard sample."""
    return {k: F.one_hot(torch.as_tensor(list(sample[k])), shapes[k][1]).double() for k in shapes}
