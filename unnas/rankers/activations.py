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

from unnas.rankers.base import RankBatch, Ranker, forward_hooks, logits_of, relus


EXACT_FLOAT32 = 2 ** 24  # 0/1 dot products over fewer units than this are exact in float32


def relu_kernel(codes: Tensor) -> Tensor:
    """``K = c cᵀ + (1 − c)(1 − c)ᵀ`` of binary codes ``[B, units]`` (float64), computed exactly with one matrix
    product as ``K_ij = units − |c_i| − |c_j| + 2 c_i·c_j``."""
    units = codes.shape[1]
    dtype = torch.float32 if units < EXACT_FLOAT32 else torch.float64
    c = codes.to(dtype)
    ones = c.sum(dim=1, dtype=torch.float64)
    return units - ones[:, None] - ones[None, :] + 2 * (c @ c.T).to(torch.float64)


def relu_kernel_of(net: nn.Module, x: Tensor) -> Tensor:
    """The NASWOT kernel of *net* on *x*: :func:`relu_kernel` summed over the inputs of every ``nn.ReLU`` module,
    accumulated as each one fires (the kernel of concatenated codes is the sum of the per-module kernels), so the
    codes of the whole network are never held at once. Its size is the ReLUs' batch (a jigsaw network's ReLUs see
    every tile of every image), the batch of *x* when the network has no ReLU."""
    kernel = None

    def hook(module, inputs, output):
        nonlocal kernel
        k = relu_kernel((inputs[0].detach() > 0).flatten(1))
        kernel = k if kernel is None else kernel.add_(k)

    with forward_hooks(relus(net), hook), torch.no_grad():
        logits_of(net, x)
    if kernel is None:
        return torch.zeros((x.shape[0], x.shape[0]), dtype=torch.float64, device=x.device)
    return kernel


#: the score of a degenerate network, whose proxy is undefined (a singular NASWOT kernel, a Jacobian that does not
#: vary): NASLib's value for such cells (its zero-cost table holds it for the cells whose output does not depend on
#: their input), so they rank last and the score stays a finite number
DEGENERATE_SCORE = -1e8


def naswot(net: nn.Module, x: Tensor) -> float:
    """NASWOT: ``log|det K|`` of the ReLU-code kernel of *net* on *x*; :data:`DEGENERATE_SCORE` when ``K`` is
    singular (``log|det K| = -inf``: two samples with the same codes, e.g. a cell cut off from its input)."""
    net.train()
    logdet = float(torch.linalg.slogdet(relu_kernel_of(net, x))[1])
    return logdet if logdet != float("-inf") else DEGENERATE_SCORE


def jacobian_score(jacobians: Tensor, k: float = 1e-5) -> float:
    """``−Σ (log(λ + k) + 1/(λ + k))`` over the eigenvalues of the correlation matrix of the rows of *jacobians*;
    :data:`DEGENERATE_SCORE` when a row does not vary (its correlations are undefined: the output does not depend
    on that input)."""
    rows = jacobians.flatten(1).to(torch.float64)
    if bool((rows.std(dim=1) == 0).any()):
        return DEGENERATE_SCORE
    eig = torch.linalg.eigvalsh(torch.corrcoef(rows))
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
