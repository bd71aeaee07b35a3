"""DARTS: softmax op weights; first order (as UnNAS runs it) and second order (DARTS's unrolled step with the
finite-difference Hessian-vector product)."""

from __future__ import annotations

from typing import Dict

import torch
from torch import nn
from torch.func import functional_call

from unnas.modules.strategies.base import SearchStrategy


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
