"""Proxies from the gradient of a loss at initialisation (Abdelfattah et al., ICLR 2021, SamsungLabs/zero-cost-nas):
``grad_norm``, ``snip``, ``grasp`` and ``fisher``. Each sums a per-layer quantity over the ``Conv2d`` and ``Linear``
layers, runs the network in training mode (BatchNorm on the batch's statistics) and takes its loss from
:class:`~unnas.rankers.base.LossRanker`: cross-entropy on labels, or a pretext objective's loss (label-free).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from unnas.rankers.base import LossRanker, RankBatch, forward_hooks, logits_of, weight_layers

LossFn = Callable[[Tensor, Tensor], Tensor]


def _backward(net: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn) -> None:
    net.train()
    net.zero_grad(set_to_none=True)
    loss_fn(logits_of(net, x), y).backward()


def grad_norm(net: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn) -> float:
    """``Σ_layers ‖∂L/∂W‖₂``: the sum of each layer's weight-gradient norm."""
    _backward(net, x, y, loss_fn)
    return float(sum(float(m.weight.grad.norm()) for m in weight_layers(net) if m.weight.grad is not None))


def snip(net: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn) -> float:
    """SNIP (Lee et al., ICLR 2019): ``Σ |W ⊙ ∂L/∂W|`` (the gradient with respect to a multiplicative mask of ones)."""
    _backward(net, x, y, loss_fn)
    return float(sum(float((m.weight.detach() * m.weight.grad).abs().sum()) for m in weight_layers(net)
                     if m.weight.grad is not None))


def grasp(net: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn) -> float:
    """GraSP (Wang et al., ICLR 2020): ``Σ −W ⊙ (H g)``, with ``g = ∂L/∂W`` and ``H`` the Hessian of ``L``
    (one Hessian-vector product; temperature 1 as in zero-cost-nas)."""
    net.train()
    weights = [m.weight for m in weight_layers(net)]
    # One forward serves both: g is the detached value of the differentiable gradient (zero-cost-nas runs the
    # forward twice; in training mode both see the same batch statistics, so the numbers are the same).
    grad_f = torch.autograd.grad(loss_fn(logits_of(net, x), y), weights, create_graph=True, allow_unused=True)
    z = sum((gf.detach() * gf).sum() for gf in grad_f if gf is not None)
    if not torch.is_tensor(z):
        return 0.0
    hg = torch.autograd.grad(z, weights, allow_unused=True)
    return float(sum(float((-w.detach() * h).sum()) for w, h in zip(weights, hg) if h is not None))


def fisher(net: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn) -> float:
    """Fisher (Turner et al., ICLR 2020, as zero-cost-nas and NASLib compute it): for each output channel ``k`` of
    every layer, ``F_k = ½ · mean_n (Σ_spatial a ⊙ ∂L/∂a)²`` over the layer's activations ``a``; the score is
    ``Σ_layers Σ_k F_k · |W_k|``, ``|W_k|`` the number of weights of channel ``k`` (in-channels x kernel area): the
    references give every weight of a channel its channel's value and sum over weights."""
    net.train()
    net.zero_grad(set_to_none=True)
    outputs: list = []  # (layer, output) of every Conv2d/Linear call

    def on_output(module, inputs, output):
        if output.requires_grad:
            outputs.append((module, output))

    # The gradients of the layer outputs come from autograd.grad, not from hooks on the outputs: a hook that
    # closes over its own tensor makes a reference cycle through autograd that keeps every batch's graph alive.
    with forward_hooks(weight_layers(net), on_output):
        loss = loss_fn(logits_of(net, x), y)
    if not outputs:
        return 0.0
    grads = torch.autograd.grad(loss, [a for _, a in outputs], allow_unused=True)
    total = 0.0
    for (module, a), g in zip(outputs, grads):
        if g is None:
            continue
        ag = a.detach() * g
        g_nk = ag.flatten(2).sum(-1) if ag.dim() > 2 else ag
        total += float(g_nk.pow(2).mean(0).mul(0.5).sum()) * module.weight[0].numel()
    return total


class _GradientRanker(LossRanker):
    proxy: Callable[..., float]

    def _score(self, net: nn.Module, batch: RankBatch) -> float:
        x, y = self.inputs_targets(batch)
        return type(self).proxy(net, x, y, self.loss_fn)


class GradNorm(_GradientRanker):
    """``grad_norm``; arguments as :class:`~unnas.rankers.base.LossRanker`."""

    name = "grad_norm"
    proxy = staticmethod(grad_norm)


class Snip(_GradientRanker):
    """``snip``; arguments as :class:`~unnas.rankers.base.LossRanker`."""

    name = "snip"
    proxy = staticmethod(snip)


class Grasp(_GradientRanker):
    """``grasp``; arguments as :class:`~unnas.rankers.base.LossRanker`."""

    name = "grasp"
    proxy = staticmethod(grasp)


class Fisher(_GradientRanker):
    """``fisher``; arguments as :class:`~unnas.rankers.base.LossRanker`."""

    name = "fisher"
    proxy = staticmethod(fisher)
