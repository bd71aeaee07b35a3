"""Search strategies for :class:`~unnas.modules.DartsSearch`: how the alphas weigh the ops of a forward pass, how
architecture gradients are computed, what happens at epoch boundaries and how the final architecture is derived.

- :class:`FirstOrder` / :class:`SecondOrder`: DARTS (softmax op weights; first order as UnNAS runs it, second
  order with DARTS's unrolled step and finite-difference Hessian-vector product);
- :class:`GDAS`: one op per edge sampled by Gumbel-max, straight-through gradients, tau annealed over the epochs.

A new strategy is one subclass of :class:`SearchStrategy` (docs/search_strategies.md).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from unnas.errors import ConfigError
from unnas.modules.common import NonFiniteLossError, check_range
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


class FirstOrder(SearchStrategy):
    """DARTS first order: the gradient of the architecture-split loss at the current weights."""

    def arch_gradients(self, model, loss_fn, weights_batch, arch_batch, weight_optimizer):
        x, y = arch_batch
        loss = loss_fn(model(x), y)
        alphas = model.arch_parameters()
        grads = torch.autograd.grad(loss, alphas)
        for a, g in zip(alphas, grads):
            a.grad = g
        return loss.detach()


class SecondOrder(SearchStrategy):
    """DARTS second order (``--unrolled``): the gradient at one virtual SGD step of the weights,
    ``dL_val(w', a)/da - eta * (dL_train(w+, a)/da - dL_train(w-, a)/da) / (2R)`` with
    ``w' = w - eta * (momentum * buffer + dL_train/dw + wd * w)``, ``w± = w ± R v``, ``v = dL_val(w', a)/dw'``,
    ``R = r / ||v||``. eta, momentum and weight decay are read from the weight optimizer's first group.

    Args:
        r: the finite-difference scale (DARTS: 0.01).
    """

    def __init__(self, r: float = 0.01):
        self.r = r

    @staticmethod
    def _buffers(model: nn.Module) -> Dict[str, torch.Tensor]:
        # Copies: the virtual and finite-difference passes must not move the real BN running statistics,
        # just as DARTS runs them on a throwaway copy of the network.
        return {n: b.clone() for n, b in model.named_buffers()}

    def arch_gradients(self, model, loss_fn, weights_batch, arch_batch, weight_optimizer):
        alphas = model.arch_parameters()
        arch_ids = {id(a) for a in alphas}
        names, weights = zip(*[(n, p) for n, p in model.named_parameters() if id(p) not in arch_ids])
        group = weight_optimizer.param_groups[0]
        eta, momentum, wd = group["lr"], group.get("momentum", 0.0), group.get("weight_decay", 0.0)
        xt, yt = weights_batch
        xv, yv = arch_batch

        def loss_at(ws, x, y):
            return loss_fn(functional_call(model, {**dict(zip(names, ws)), **self._buffers(model)}, (x,)), y)

        # one virtual SGD step on the weights (no clipping, as in DARTS)
        train_grads = torch.autograd.grad(loss_at(weights, xt, yt), weights, allow_unused=True)
        unrolled = []
        for w, g in zip(weights, train_grads):
            buf = weight_optimizer.state.get(w, {}).get("momentum_buffer")
            step = (g if g is not None else torch.zeros_like(w)) + wd * w.detach()
            if buf is not None:
                step = step + momentum * buf
            unrolled.append((w.detach() - eta * step).requires_grad_(True))

        val_loss = loss_at(unrolled, xv, yv)
        grads = torch.autograd.grad(val_loss, list(alphas) + unrolled, allow_unused=True)
        d_alpha = [g if g is not None else torch.zeros_like(a) for a, g in zip(alphas, grads[:len(alphas)])]
        v = [g if g is not None else torch.zeros_like(w) for w, g in zip(unrolled, grads[len(alphas):])]

        norm = torch.sqrt(sum((g * g).sum() for g in v))
        R = self.r / norm.clamp_min(1e-12)
        with torch.no_grad():
            w_plus = [w + R * g for w, g in zip(weights, v)]
            w_minus = [w - R * g for w, g in zip(weights, v)]
        g_plus = torch.autograd.grad(loss_at(w_plus, xt, yt), alphas)
        g_minus = torch.autograd.grad(loss_at(w_minus, xt, yt), alphas)
        for a, da, gp, gm in zip(alphas, d_alpha, g_plus, g_minus):
            a.grad = da - eta * (gp - gm) / (2 * R)
        return val_loss.detach()


# ------------------------------------------------------------------------------------------------------ GDAS
def straight_through(alpha: torch.Tensor, gumbels: torch.Tensor, tau: float) -> Tuple[OpWeights, torch.Tensor]:
    """GDAS's op weights of *alpha* ``[edges, ops]`` under Gumbel noise *gumbels*: ``(weights, soft)``.

    ``soft = softmax((log_softmax(alpha) + gumbels) / tau)``; per edge the op ``argmax(soft)`` is sampled and the
    weights are ``one_hot - soft.detach() + soft``: exactly 1 - s + s at the sampled op and exactly 0 elsewhere
    in value, with the gradient of ``soft``.
    """
    soft = F.softmax((alpha.log_softmax(dim=-1) + gumbels) / tau, dim=-1)
    index = soft.argmax(dim=-1)
    hard = torch.zeros_like(soft).scatter_(-1, index.unsqueeze(-1), 1.0)
    return OpWeights(hard - soft.detach() + soft, tuple(index.tolist())), soft


def linear_tau(tau_max: float, tau_min: float, epoch: int, max_epochs: int) -> float:
    """GDAS's temperature at *epoch*: linear from *tau_max* (epoch 0) to *tau_min* (epoch ``max_epochs - 1``)."""
    return tau_max - (tau_max - tau_min) * epoch / max(1, max_epochs - 1)


class GDAS(FirstOrder):
    """GDAS (Dong & Yang, CVPR 2019): every forward pass samples one op per edge by Gumbel-max from
    ``log_softmax(alpha)`` and runs only that op, with the straight-through weights of :func:`straight_through`.
    The temperature falls linearly from *tau_max* to *tau_min* over the epochs (:func:`linear_tau`). Architecture
    gradients are first order on the architecture split; weights and alphas are both updated from sampled forward
    passes. The architecture is derived from alpha as DARTS does (the argmax per edge on NAS-Bench-201).

    Draws come from torch's random generator, which the search module seeds per step (deterministic runs).

    Args:
        tau_max: the temperature of the first epoch (official: 10).
        tau_min: the temperature of the last epoch (official: 0.1).
    """

    #: draws in a row that may give non-finite weights before the search stops
    max_draws = 100
    runs_every_op = False

    def __init__(self, tau_max: float = 10.0, tau_min: float = 0.1):
        check_range("GDAS", "strategy.init_args.tau_max", tau_max, low_open=True, example=10.0)
        check_range("GDAS", "strategy.init_args.tau_min", tau_min, low_open=True, example=0.1)
        self.tau_max, self.tau_min = float(tau_max), float(tau_min)
        self.tau = self.tau_max

    def on_epoch_start(self, epoch: int, max_epochs: int) -> None:
        if max_epochs is None or max_epochs < 1:
            raise ConfigError(f"GDAS anneals tau over trainer.max_epochs, which is {max_epochs}; set "
                              "trainer.max_epochs (e.g. 250, NAS-Bench-201's GDAS runs)")
        self.tau = linear_tau(self.tau_max, self.tau_min, epoch, max_epochs)

    def op_weights(self, alpha: torch.Tensor, key: str) -> OpWeights:
        if not torch.isfinite(alpha).all():
            raise NonFiniteLossError(f"GDAS: the {key} alphas are not finite; lower arch_lr (a NaN cannot recover)")
        for _ in range(self.max_draws):
            gumbels = -torch.empty_like(alpha).exponential_().log()
            weights, soft = straight_through(alpha, gumbels, self.tau)
            # resample while a draw is infinite or the soft weights overflow, as the official code does
            if torch.isfinite(gumbels).all() and torch.isfinite(soft).all():
                return weights
        raise NonFiniteLossError(f"GDAS: {self.max_draws} draws in a row gave non-finite {key} weights at "
                                 f"tau={self.tau:g}; raise strategy.init_args.tau_min")

    def state_dict(self) -> Dict[str, Any]:
        return {"tau": self.tau}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        if "tau" in state:
            self.tau = float(state["tau"])
