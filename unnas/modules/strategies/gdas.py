"""GDAS (Dong & Yang, CVPR 2019): one op per edge sampled by Gumbel-max, straight-through gradients, tau annealed."""

from __future__ import annotations

from typing import Any, Dict, Tuple

import torch
import torch.nn.functional as F

from unnas.errors import ConfigError
from unnas.modules.common import NonFiniteLossError, check_range
from unnas.modules.strategies.base import OpWeights
from unnas.modules.strategies.darts import FirstOrder


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
        check_range("GDAS", "search_strategy.init_args.tau_max", tau_max, low_open=True, example=10.0)
        check_range("GDAS", "search_strategy.init_args.tau_min", tau_min, low_open=True, example=0.1)
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
                                 f"tau={self.tau:g}; raise search_strategy.init_args.tau_min")

    def state_dict(self) -> Dict[str, Any]:
        return {"tau": self.tau}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        if "tau" in state:
            self.tau = float(state["tau"])
