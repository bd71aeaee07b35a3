"""VKDNW: the entropy of the Fisher information spectrum of a few weights, from the network's own predictions.

VKDNW (Týbl & Neumann, "Training-free Neural Architecture Search through Variance of Knowledge of Deep Network
Weights", CVPR 2025; official code github.com/ondratybl/VKDNW, ``NB201/ZeroShotProxy/compute_vkdnw_score.py``):

1. re-initialise the network with Kaiming-normal fan-in weights (zero biases, BatchNorm weight 1, bias 0) and put it
   in evaluation mode (BatchNorm on its running statistics, so every sample is scored on its own);
2. pick ``θ``: ``per_tensor`` entries (evenly spaced, ``linspace(0, numel − 1)``; one entry: the first) of each of
   the first ``max_tensors`` parameter tensors in ``named_parameters`` order (:func:`selected_entries`);
3. per sample ``x_b`` of a standard-normal batch, the Jacobian ``J_b = ∂z(x_b)/∂θ`` ``[K, P]`` of the ``K``
   logits (``torch.func``: ``vmap`` over samples of ``jacrev``);
4. the Fisher information of the categorical model at its own predictive distribution (no labels: the expectation
   over ``y ~ p(·|x)``), ``F = mean_b J_bᵀ (diag(p_b) − p_b p_bᵀ) J_b``, with ``p_b = (1 − α) softmax(z_b) + α/K``,
   ``α = 0.05`` (:func:`fisher_matrix`);
5. ``λ``: the eigenvalues of ``F`` (its singular values, as the official ``torch.svd``); ``q_1..q_9`` their
   deciles (``torch.quantile`` at 0.1, …, 0.9, linear interpolation); ``q̃ = q / (Σ q + 1e-10)``;
   **VKDNW = −Σ_k q̃_k log(q̃_k + 1e-10)** (:func:`decile_entropy`): at most ``log 9`` (all deciles equal, a
   well-conditioned spectrum), 0 for a zero spectrum. Higher is better.
"""

from __future__ import annotations

import math
from typing import Dict, Tuple

import torch
from torch import Tensor, nn
from torch.func import functional_call, jacrev, vmap

from unnas.errors import ConfigError
from unnas.rankers.activations import DEGENERATE_SCORE
from unnas.rankers.aznas import kaiming_fanin_init
from unnas.rankers.base import RankBatch, Ranker
from unnas.rankers.meco import gaussian_input
from unnas.spaces.speedups import Speedups, set_speedups_

#: the official smoothing of the predictive distribution, ``p = (1 − α) softmax + α / K``
ALPHA = 0.05
#: the official constants in the normalisation and inside the log
NORM_EPS = 1e-10
LOG_EPS = 1e-10
#: the quantile levels of the spectrum (the official ``torch.arange(0.1, 1., 0.1)``: the nine deciles)
LEVELS = tuple(k / 10 for k in range(1, 10))


# ---------------------------------------------------------------------------------------------------------------
# the math, on tensors


def smoothed_probabilities(logits: Tensor, alpha: float = ALPHA) -> Tensor:
    """``(1 − α) softmax(logits) + α / K`` over the last dimension (``K`` classes)."""
    return torch.softmax(logits, dim=-1) * (1 - alpha) + alpha / logits.shape[-1]


def fisher_matrix(jacobians: Tensor, probs: Tensor) -> Tensor:
    """``mean_b J_bᵀ (diag(p_b) − p_b p_bᵀ) J_b`` (float64, ``[P, P]``) of per-sample logit Jacobians
    ``[B, K, P]`` and class probabilities ``[B, K]``: the Fisher information of ``θ`` in the categorical model
    ``y ~ p(·|x)`` (the covariance of the softmax is the Hessian of its log-likelihood in the logits)."""
    j = jacobians.to(torch.float64)
    p = probs.to(torch.float64)
    weighted = (j * p.unsqueeze(-1)).transpose(1, 2) @ j  # Σ_k p_k J_kᵀ J_k
    mean_row = torch.einsum("bk,bkp->bp", p, j)  # J_bᵀ p_b
    return (weighted - mean_row.unsqueeze(-1) * mean_row.unsqueeze(-2)).mean(dim=0)


def spectrum(fisher: Tensor) -> Tensor:
    """The eigenvalues of the symmetric *fisher*, as the official singular values (``|λ|``), ascending."""
    return torch.linalg.eigvalsh(fisher.to(torch.float64)).abs().sort().values


def decile_entropy(eigenvalues: Tensor) -> float:
    """``−Σ q̃ log(q̃ + 1e-10)`` of the nine deciles ``q`` of *eigenvalues* normalised by ``Σ q + 1e-10``:
    ``log 9`` when the deciles are equal, 0 when all are 0 (or when one decile carries the whole mass)."""
    lam = eigenvalues.detach().to(torch.float64).flatten()
    if lam.numel() == 0:
        return 0.0
    q = torch.quantile(lam, torch.tensor(LEVELS, dtype=torch.float64, device=lam.device))
    t = q / (q.abs().sum() + NORM_EPS)
    return float(-(t * torch.log(t + LOG_EPS)).sum()) + 0.0  # + 0.0: no -0.0


# ---------------------------------------------------------------------------------------------------------------
# the network side


def plain_formulation_(net: nn.Module) -> nn.Module:
    """*net* (changed) with every performance switch off (:meth:`Speedups.off`: default memory layout, plain
    autograd): the switches' custom ``autograd.Function`` classes and channels-last copies have no ``torch.func``
    batching rules. The math is the same up to rounding."""
    return set_speedups_(net, Speedups.off())


def selected_entries(net: nn.Module, max_tensors: int = 128, per_tensor: int = 1) -> Dict[str, Tensor]:
    """The flat indices scored of each of the first *max_tensors* parameter tensors (``named_parameters`` order):
    *per_tensor* evenly spaced ones, ``linspace(0, numel − 1, per_tensor)`` rounded down, repeats dropped."""
    chosen: Dict[str, Tensor] = {}
    for name, p in list(net.named_parameters())[:max_tensors]:
        idx = torch.linspace(0, p.numel() - 1, steps=per_tensor, dtype=torch.float64).long().unique()
        chosen[name] = idx.to(p.device)
    return chosen


def logit_jacobians(net: nn.Module, x: Tensor, entries: Dict[str, Tensor]) -> Tuple[Tensor, Tensor]:
    """Per-sample Jacobians ``[B, K, P]`` of *net*'s logits on each sample of *x* (run alone, as a batch of one)
    with respect to the *entries* of its parameters (concatenated in *entries*' order), and the logits ``[B, K]``.
    A dense head's output ``[K, H, W]`` counts as its ``K`` channels averaged over the pixels.
    *net* should be in evaluation mode so that a sample's output does not depend on the others."""
    params = {k: v.detach() for k, v in net.named_parameters()}
    buffers = {k: v.detach() for k, v in net.named_buffers()}
    values = {k: params[k].flatten()[idx] for k, idx in entries.items()}

    def logits(theta: Dict[str, Tensor], sample: Tensor) -> Tensor:
        full = dict(params)
        for k, idx in entries.items():
            flat = params[k].flatten()
            delta = torch.zeros_like(flat).index_add(0, idx, theta[k] - flat[idx])
            full[k] = (flat + delta).view_as(params[k])
        out = functional_call(net, (full, buffers), (sample.unsqueeze(0),))
        out = (out[0] if isinstance(out, (tuple, list)) else out).squeeze(0)
        return out.flatten(1).mean(dim=1) if out.dim() > 1 else out  # a dense head: its channels, pixel-averaged

    def per_sample(sample: Tensor) -> Tuple[Dict[str, Tensor], Tensor]:
        jac = jacrev(logits)(values, sample)
        return jac, logits(values, sample)

    jac, out = vmap(per_sample)(x)
    parts = [jac[k].reshape(x.shape[0], out.shape[-1], -1) for k in entries]
    return torch.cat(parts, dim=-1).detach(), out.detach()


def vkdnw_score(net: nn.Module, x: Tensor, max_tensors: int = 128, per_tensor: int = 1, init: bool = True) -> float:
    """VKDNW of *net* (changed: re-initialised when *init*, put in evaluation mode) on inputs *x*; a network
    whose logits or Fisher matrix are not finite scores :data:`~unnas.rankers.activations.DEGENERATE_SCORE`."""
    plain_formulation_(net)
    if init:
        kaiming_fanin_init(net)
    net.eval()
    entries = selected_entries(net, max_tensors, per_tensor)
    if not entries:
        raise ConfigError(f"vkdnw needs a network with parameters, got {type(net).__name__}")
    jac, logits = logit_jacobians(net, x, entries)
    fisher = fisher_matrix(jac, smoothed_probabilities(logits.to(torch.float64)))
    if not bool(torch.isfinite(fisher).all()):
        return DEGENERATE_SCORE
    value = decile_entropy(spectrum(fisher))
    return value if math.isfinite(value) else DEGENERATE_SCORE


# ---------------------------------------------------------------------------------------------------------------
# the ranker


class VKDNW(Ranker):
    """VKDNW (see :mod:`unnas.rankers.vkdnw`) on its own seeded standard-normal input of the batch's shape (the
    batch's pixels and labels unused: the Fisher matrix takes the expectation over the model's own predictions).

    Args:
        max_tensors: parameter tensors scored, the first ones in ``named_parameters`` order (the official 128).
        per_tensor: entries scored per tensor, evenly spaced (the official 1: the first entry).
        seed: seeds the input and the re-initialisation.
        init: re-initialise the (copied) network with Kaiming-normal fan-in weights first, as the reference does.
        single: the paper's VKDNW_single ranking as one score: ``10 ℵ + entropy``, ``ℵ`` the network's number of
            trainable parameter tensors (the official ``vkdnw_dim``), so ℵ orders first and the entropy (at most
            ``log 9 < 10``) orders networks of equal ℵ.
    """

    name = "vkdnw"
    needs_images = False

    def __init__(self, max_tensors: int = 128, per_tensor: int = 1, seed: int = 0, init: bool = True,
                 single: bool = False):
        super().__init__(seed)
        self.single = single
        if max_tensors < 1 or per_tensor < 1:
            raise ConfigError(f"{self.name} needs at least one tensor and one entry per tensor, got max_tensors="
                              f"{max_tensors}, per_tensor={per_tensor}")
        self.max_tensors = max_tensors
        self.per_tensor = per_tensor
        self.init = init

    def _score(self, net: nn.Module, batch: RankBatch) -> float:
        x = gaussian_input(batch, batch.images.shape[0], self.seed)
        aleph = sum(1 for p in net.parameters() if p.requires_grad)  # before the score switches anything
        entropy = vkdnw_score(net, x, self.max_tensors, self.per_tensor, self.init)
        return 10.0 * aleph + entropy if self.single else entropy

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(max_tensors={self.max_tensors}, per_tensor={self.per_tensor}, "
                f"seed={self.seed}, init={self.init}, single={self.single})")


__all__ = ["VKDNW", "vkdnw_score", "fisher_matrix", "decile_entropy", "spectrum", "smoothed_probabilities",
           "selected_entries", "logit_jacobians", "plain_formulation_"]
