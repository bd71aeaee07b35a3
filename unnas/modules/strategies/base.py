"""The search-strategy interface: what a strategy owns (docs/search_strategies.md)."""

from __future__ import annotations

from typing import Any, Callable, Dict, Tuple, Union

import torch
import torch.nn.functional as F

from unnas.spaces.base import Supernet


Batch = Tuple[torch.Tensor, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
OpWeights = Supernet.OpWeights


class SearchStrategy:
    """What a search strategy owns. The search module installs :meth:`op_weights` in the supernet, calls
    :meth:`arch_gradients` once per step, :meth:`on_epoch_start` / :meth:`on_epoch_end` around every training
    epoch, saves :meth:`state_dict` in checkpoints and derives the architecture with :meth:`derive`."""

    #: whether every candidate op runs in every forward pass (``False``: DDP must allow unused parameters)
    runs_every_op = True

    def op_weights(self, alpha: torch.Tensor, key: str) -> Union[torch.Tensor, OpWeights]:
        """The op weights ``[edges, ops]`` of alpha matrix *key* for one forward pass (default: DARTS's softmax), or
        an :class:`~unnas.spaces.base.Supernet.OpWeights` naming per edge the only op with a non-zero weight."""
        return F.softmax(alpha, dim=-1)

    def arch_gradients(self, model: Supernet, loss_fn: LossFn, weights_batch: Batch, arch_batch: Batch,
                       weight_optimizer: torch.optim.Optimizer) -> torch.Tensor:  # pragma: no cover - interface
        """Set ``p.grad`` for every ``p`` in ``model.arch_parameters()`` and return the architecture loss."""
        raise NotImplementedError

    def on_epoch_start(self, epoch: int, max_epochs: int) -> None:
        """Called before training epoch *epoch* (0-based) of *max_epochs* (the trainer's setting)."""

    def on_epoch_end(self, epoch: int, max_epochs: int) -> None:
        """Called after training epoch *epoch*, before the epoch's architecture is derived and recorded."""

    def state_dict(self) -> Dict[str, Any]:
        """The strategy's state (plain numbers), saved in checkpoints and in every epoch's ``alphas.json`` entry."""
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (an empty dict, from a checkpoint without one, changes nothing)."""

    def derive(self, supernet: Supernet) -> Any:
        """The discrete architecture of the current alphas (default: the space's own rule, ``supernet.genotype()``)."""
        return supernet.genotype()
