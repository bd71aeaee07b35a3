"""AZ-NAS's four training-free scores: expressivity, progressivity, trainability and complexity.

AZ-NAS (Lee & Ham, "AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search", CVPR 2024; official
code github.com/cvlab-yonsei/AZ-NAS, ``ImageNet_MBV2/ZeroShotProxy/compute_az_nas_score.py``) reads the feature maps
``f_0, …, f_L`` of a network's stages (here: the stem's output, then every cell's or layer's output) from one
forward pass on one batch, after re-initialising the network with Kaiming-normal fan-in weights:

- **expressivity** ``s_E = Σ_l H(f_l)``: ``H`` the entropy of the normalised eigenvalue spectrum of the channel
  covariance of ``f_l`` (every pixel of every sample a point in ``R^C``): ``log C`` for an isotropic feature
  space, 0 for a rank-one one (:func:`feature_entropy`).
- **progressivity** ``s_P = min_l (H(f_l) − H(f_{l−1}))``: the smallest gain of expressivity from a stage to the
  next (:func:`progressivity_of`).
- **trainability** ``s_T = mean_l (2 − σ_l − 1/σ_l)``: ``σ_l`` the largest singular value of the matrix that maps a
  random ±1 gradient at ``f_l`` to its backpropagated gradient at ``f_{l−1}`` (``E[g_in g_outᵀ]`` over pixels; the
  input gradient is pixel-unshuffled to the output's resolution when a stage downsamples); 0 when every ``σ_l = 1``
  (:func:`trainability_term`).
- **complexity** ``s_C``: the network's multiply-adds (FLOPs) of one sample.

Higher is better for all four. The paper ranks a *set* of architectures by ``Σ_proxies log(rank / N)``
(:func:`unnas.rankers.aggregate.log_rank_sum`), which no per-architecture score can compute alone.
"""

from __future__ import annotations

import math
import weakref
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from unnas.errors import ConfigError
from unnas.rankers.activations import DEGENERATE_SCORE
from unnas.rankers.aggregate import Aggregate
from unnas.rankers.base import RankBatch, Ranker, batch_digest, forward_hooks, isolated, logits_of
from unnas.spaces.complexity import count_macs

#: added to the normalised eigenvalues inside the log, as the official code does
ENTROPY_EPS = 1e-8
#: added to σ_max in 1/σ_max, as the official code does
SIGMA_EPS = 1e-6


# ---------------------------------------------------------------------------------------------------------------
# the math, on tensors


def feature_entropy(feature: Tensor) -> float:
    """AZ-NAS's expressivity of one feature map ``[B, C, H, W]`` (or ``[B, C]``): the entropy
    ``−Σ p_k log(p_k + 1e-8)`` of ``p = λ / Σλ``, ``λ`` the eigenvalues of the channel covariance over all
    ``B·H·W`` positions (mean-centred, divided by their count), in float64. ``nan`` when the covariance is zero
    (a constant feature map), as the reference's 0/0."""
    f = feature.detach().to(torch.float64)
    points = f.movedim(1, -1).reshape(-1, f.shape[1])
    points = points - points.mean(dim=0, keepdim=True)
    sigma = points.T @ points / points.shape[0]
    eig = torch.linalg.eigvalsh(sigma).clamp_min(0.0)  # eigvalsh's round-off can be a hair below zero
    p = eig / eig.sum()
    return float(-(p * torch.log(p + ENTROPY_EPS)).sum())


def progressivity_of(entropies: Sequence[float]) -> float:
    """``min_l (e_l − e_{l−1})`` of a sequence of per-stage expressivities (at least two)."""
    if len(entropies) < 2:
        raise ConfigError(f"progressivity needs at least two stages, got {len(entropies)}")
    return min(b - a for a, b in zip(entropies[:-1], entropies[1:]))


def gradient_map(g_in: Tensor, g_out: Tensor) -> Tensor:
    """``E[g_in g_outᵀ]`` over positions, ``[C_in', C_out]``: *g_in* ``[B, C_in, H_in, W_in]`` is first
    pixel-unshuffled by ``H_in // H_out`` when the stage changed the resolution (so ``C_in' = C_in·s²``)."""
    if g_in.shape[-2:] != g_out.shape[-2:]:
        g_in = nn.functional.pixel_unshuffle(g_in, int(g_in.shape[-2] // g_out.shape[-2]))
    b, co, ho, wo = g_out.shape
    gi = g_in.movedim(1, -1).reshape(-1, g_in.shape[1]).to(torch.float64)
    go = g_out.movedim(1, -1).reshape(-1, co).to(torch.float64)
    return gi.T @ go / (b * ho * wo)


def trainability_term(mat: Tensor) -> float:
    """``2 − σ − 1/(σ + 1e-6)`` of the largest singular value ``σ`` of *mat*: 0 at ``σ = 1``, negative otherwise."""
    sigma = float(torch.linalg.svdvals(mat).max())
    return 2.0 - sigma - 1.0 / (sigma + SIGMA_EPS)


# ---------------------------------------------------------------------------------------------------------------
# the network side


def kaiming_fanin_init(net: nn.Module) -> None:
    """The official code's initialisation: Kaiming-normal fan-in (ReLU gain) Conv2d/Linear weights, zero biases,
    BatchNorm/GroupNorm affine weights 1 and biases 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def stage_modules(net: nn.Module) -> List[nn.Module]:
    """The modules whose outputs are AZ-NAS's stages: the stem (``stem``, or ``stem1`` for DARTS's ImageNet
    network, whose output feeds the first cell) and every entry of the network's ``cells`` (NAS-Bench-201, DARTS)
    or ``layers`` (NAS-Bench-101, max-pools included) module list."""
    stem = getattr(net, "stem1", None) or getattr(net, "stem", None)
    body = getattr(net, "cells", None)
    if not isinstance(body, nn.ModuleList):
        body = getattr(net, "layers", None)
    if not isinstance(body, nn.ModuleList) or len(body) == 0:
        raise ConfigError(f"AZ-NAS needs a network with a 'cells' or 'layers' module list, got {type(net).__name__}")
    return ([stem] if isinstance(stem, nn.Module) else []) + list(body)


def stage_features(net: nn.Module, x: Tensor) -> List[Tensor]:
    """The stage outputs of *net* on *x* (:func:`stage_modules`, in forward order), still attached to the graph."""
    features: List[Tensor] = []

    def hook(module, inputs, output):
        features.append(output[0] if isinstance(output, (tuple, list)) else output)

    with forward_hooks(stage_modules(net), hook):
        logits_of(net, x)
    return features


class AZScores(NamedTuple):
    expressivity: float
    progressivity: float
    trainability: float
    complexity: float


def _finite(value: float) -> float:
    return value if math.isfinite(value) else DEGENERATE_SCORE


def trainability_of(features: Sequence[Tensor]) -> float:
    """The mean over consecutive stages (last to first, as the reference draws its random signs) of
    :func:`trainability_term` of the backpropagated random ±1 gradient; ``-inf`` when a stage passes its input's
    gradient through unchanged (the reference's test for an identity stage)."""
    terms = []
    for i in reversed(range(1, len(features))):
        f_out, f_in = features[i], features[i - 1]
        g_out = (torch.bernoulli(torch.full_like(f_out, 0.5)) - 0.5) * 2
        g_in = torch.autograd.grad(f_out, f_in, grad_outputs=g_out, retain_graph=True, allow_unused=True)[0]
        if g_in is None:
            g_in = torch.zeros_like(f_in)
        if g_in.shape == g_out.shape and bool(torch.equal(g_in, g_out)):
            terms.append(-math.inf)
            continue
        terms.append(trainability_term(gradient_map(g_in, g_out)))
    return sum(terms) / len(terms)


def az_nas_scores(net: nn.Module, x: Tensor, init: bool = True) -> AZScores:
    """AZ-NAS's four scores of *net* (changed: re-initialised when *init*, in training mode) on inputs *x*, from
    one forward pass and one backward pass per stage. A score the reference makes ``nan`` or ``-inf`` (a constant
    stage, an identity stage) is :data:`~unnas.rankers.activations.DEGENERATE_SCORE`."""
    if init:
        kaiming_fanin_init(net)
    net.train()
    features = stage_features(net, x)
    if len(features) < 2:
        raise ConfigError(f"AZ-NAS needs at least two stages, the network has {len(features)}")
    entropies = [feature_entropy(f) for f in features]
    expressivity = sum(entropies)
    progressivity = progressivity_of(entropies)
    trainability = trainability_of(features)
    complexity = float(count_macs(net, tuple(x.shape[1:])))
    return AZScores(_finite(expressivity), _finite(progressivity), _finite(trainability), complexity)


# ---------------------------------------------------------------------------------------------------------------
# the rankers


class _AZRanker(Ranker):
    """One of AZ-NAS's scores on the batch's images (no labels); see :mod:`unnas.rankers.aznas`.

    Args:
        seed: seeds torch's random numbers while scoring (the re-initialisation and the random gradient signs).
        init: re-initialise the (copied) network with Kaiming-normal fan-in weights first, as the reference does.
        batch_size: score on the first ``batch_size`` images of the batch (``None``: all of them); the pass costs
            about linearly in it.
    """

    field: str

    def __init__(self, seed: int = 0, init: bool = True, batch_size: Optional[int] = None):
        if batch_size is not None and batch_size < 1:
            raise ConfigError(f"{self.name}: batch_size must be at least 1, got {batch_size}")
        super().__init__(seed)
        self.init, self.batch_size = init, batch_size

    def score(self, net: nn.Module, batch: RankBatch) -> float:
        """The score of *net* on *batch*; the three pass-based scores share one pass: asked of the same network
        (unchanged since), batch, seed and ``init`` in a row, the pass runs once."""
        if self.batch_size is not None:
            batch = RankBatch(batch.images[:self.batch_size], batch.labels[:self.batch_size])
        key = _PassKey(self.seed, self.init, tuple(batch.images.shape), batch_digest(batch), _versions(net))
        hit = _LAST_PASS.get(net)
        if hit is None or hit[0] != key:
            hit = (key, seeded_scores(net, batch, self.seed, self.init))
            _LAST_PASS[net] = hit
        return float(getattr(hit[1], self.field))

    def _score(self, net: nn.Module, batch: RankBatch) -> float:  # pragma: no cover - score is overridden
        return getattr(az_nas_scores(net, batch.images, self.init), self.field)


class _PassKey(NamedTuple):
    """What one AZ-NAS pass depends on: the seed, ``init``, the batch (shape and digest) and the network's tensors."""

    seed: int
    init: bool
    shape: Tuple[int, ...]
    batch: str
    versions: Tuple


#: the last pass of each network still alive: (its key, its scores)
_LAST_PASS: "weakref.WeakKeyDictionary[nn.Module, Tuple[_PassKey, AZScores]]" = weakref.WeakKeyDictionary()


def _versions(net: nn.Module) -> Tuple:
    """Each parameter's and buffer's identity and version (an in-place change bumps it)."""
    return tuple((id(t), t._version) for t in list(net.parameters()) + list(net.buffers()))


class AZExpressivity(_AZRanker):
    name = "az_expressivity"
    field = "expressivity"


class AZProgressivity(_AZRanker):
    name = "az_progressivity"
    field = "progressivity"


class AZTrainability(_AZRanker):
    name = "az_trainability"
    field = "trainability"


class AZComplexity(Ranker):
    """AZ-NAS's complexity: multiply-adds of one sample of the batch's shape (``count_macs``, as ``macs``).

    Args:
        seed: unused (the count is exact); kept for the common constructor.
    """

    name = "az_complexity"
    needs_images = False

    def score(self, net: nn.Module, batch: RankBatch) -> float:
        """The count; taken from the shared pass when one just ran on *net* (unchanged since) with inputs of the
        batch's shape, which counted the same multiply-adds."""
        hit = _LAST_PASS.get(net)
        if hit is not None and hit[0].shape[1:] == tuple(batch.images.shape[1:]) and hit[0].versions == _versions(net):
            return float(hit[1].complexity)
        return super().score(net, batch)

    def _score(self, net: nn.Module, batch: RankBatch) -> float:
        return float(count_macs(net, tuple(batch.images.shape[1:])))


def seeded_scores(net: nn.Module, batch: RankBatch, seed: int = 0, init: bool = True) -> AZScores:
    """All four scores of *net* on *batch* under a ranker's contract (a deep copy, torch seeded with *seed*):
    the values ``az_expressivity``, ``az_progressivity``, ``az_trainability`` and ``az_complexity`` return."""
    return isolated(net, seed, lambda work: az_nas_scores(work, batch.images, init))


def az_nas_table(nets: Sequence[nn.Module], batch: RankBatch, seed: int = 0) -> Dict[str, List[float]]:
    """The four scores of every network of *nets* (in order) on *batch*, one shared pass each
    (:func:`seeded_scores`): the columns :func:`unnas.rankers.aggregate.log_rank_sum` takes."""
    rows = [seeded_scores(net, batch, seed) for net in nets]
    return {f: [getattr(r, f) for r in rows] for f in AZScores._fields}


class AZNAS(Aggregate):
    """AZ-NAS itself (Lee & Ham, CVPR 2024): its four scores combined by the sum of log-ranks, each ranked against a
    reference sample of the space (:class:`~unnas.rankers.aggregate.Aggregate`).

    Args:
        reference: architectures in the reference sample.
        reference_seed: the seed of that sample.
        seed: seeds the four scores and the reference networks.
    """

    name = "az_nas"

    def __init__(self, reference: int = 128, reference_seed: int = 0, seed: int = 0):
        super().__init__(("az_expressivity", "az_progressivity", "az_trainability", "az_complexity"),
                         "log_rank_sum", reference, reference_seed, seed)


__all__ = ["AZNAS", "AZExpressivity", "AZProgressivity", "AZTrainability", "AZComplexity", "AZScores", "az_nas_scores",
           "az_nas_table", "seeded_scores", "feature_entropy", "progressivity_of", "gradient_map", "trainability_term",
           "stage_modules", "stage_features", "kaiming_fanin_init"]
