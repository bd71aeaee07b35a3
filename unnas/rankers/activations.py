"""Label-free proxies from one batch's activations and input Jacobians: NASWOT and jacov.

NASWOT (Mellor et al., ICML 2021, BayesWatch/nas-without-training): every ``nn.ReLU`` module's input on the
batch gives binary codes ``c = [x > 0]`` per sample (all units of all ReLUs concatenated); the kernel
``K = c cᵀ + (1 − c)(1 − c)ᵀ`` counts, for each pair of samples, the units on which they agree; the score is
``log|det K|``. ReLUs written as ``F.relu`` in ``forward`` are not seen (the reference hooks modules too).

jacov (Mellor et al., arXiv 2006.04647v1, as in zero-cost-nas and NASLib): the input Jacobians ``J_i = ∂(Σ f(x_i))/∂x_i``,
their correlation matrix ``Σ``, and ``−Σ_k (log(λ_k + 1e-5) + 1/(λ_k + 1e-5))`` over its eigenvalues ``λ``.

Both run the network in training mode (BatchNorm uses the batch's statistics), as the references do.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from unnas.rankers.base import RankBatch, Ranker, logits_of


def relu_kernel(codes: Tensor) -> Tensor:
    """``K = c cᵀ + (1 − c)(1 − c)ᵀ`` of binary codes ``[B, units]`` (float64)."""
    c = codes.to(torch.float64)
    return c @ c.T + (1 - c) @ (1 - c).T


def relu_codes(net: nn.Module, x: Tensor) -> Tensor:
    """``[B, units]`` 0/1 codes of the inputs of every ``nn.ReLU`` module of *net* on *x*."""
    codes = []

    def hook(module, inputs, output):
        codes.append((inputs[0].detach() > 0).flatten(1))

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            logits_of(net, x)
    finally:
        for h in handles:
            h.remove()
    if not codes:
        return torch.zeros((x.shape[0], 0), dtype=torch.bool, device=x.device)
    return torch.cat(codes, dim=1)


def naswot(net: nn.Module, x: Tensor) -> float:
    """NASWOT: ``log|det K|`` of the ReLU-code kernel of *net* on *x* (``-inf`` when ``K`` is singular)."""
    net.train()
    return float(torch.linalg.slogdet(relu_kernel(relu_codes(net, x)))[1])


def jacobian_score(jacobians: Tensor, k: float = 1e-5) -> float:
    """``−Σ (log(λ + k) + 1/(λ + k))`` over the eigenvalues of the correlation matrix of the rows of *jacobians*."""
    corr = torch.corrcoef(jacobians.flatten(1).to(torch.float64))
    eig = torch.linalg.eigvalsh(corr)
    return float(-(torch.log(eig + k) + 1.0 / (eig + k)).sum())


def jacov(net: nn.Module, x: Tensor) -> float:
    """jacov of *net* on inputs *x*: :func:`jacobian_score` of the input Jacobians of the summed logits."""
    net.train()
    x = x.detach().clone().requires_grad_(True)
    logits_of(net, x).sum().backward()
    return jacobian_score(x.grad.detach())


class NASWOT(Ranker):
    """NASWOT on the batch's images (no labels).

    Args:
        seed: seeds torch's random numbers while scoring.
    """

    name = "naswot"

    def _score(self, net: nn.Module, batch: RankBatch) -> float:
        return naswot(net, batch.images)


class Jacov(Ranker):
    """jacov on the batch's images (no labels); needs a batch of at least 2.

    Args:
        seed: seeds torch's random numbers while scoring.
    """

    name = "jacov"

    def _score(self, net: nn.Module, batch: RankBatch) -> float:
        return jacov(net, batch.images)
