"""SWAP (Peng et al., "SWAP-NAS: Sample-Wise Activation Patterns for Ultra-fast NAS", ICLR 2024 spotlight;
official code pym1024/SWAP, ``src/metrics/swap.py`` and ``correlation.py``).

Every ``nn.ReLU`` module whose input is a 4-d feature map (the official hook skips the ReLUs of fully connected
layers) gives, for each of its output units (channel x position), the sign vector of that unit over the batch's
``B`` samples: ``c = sign(ReLU(x)) ∈ {0, 1}^B``. The outputs of all such ReLU calls are concatenated per sample
and the score is the number of **distinct** sign vectors among all units (``torch.unique`` over the rows of the
transposed ``[samples, units]`` matrix); at most ``2^B`` and at most the number of units.

As ``correlation.py`` does, the score is the mean over ``repeats`` re-initialisations (default 32): before each
one, every ``Conv2d``/``Linear`` weight is drawn from ``N(0, 1)`` and its bias zeroed, every ``BatchNorm2d`` /
``GroupNorm`` gets weight 1 and bias 0 (``network_weight_gaussian_init``); the network runs in training mode.

The optional size regulariser multiplies each score by ``exp(−(P − μ)² / σ)``, ``P`` the parameter count in
thousands without an auxiliary head (the official ``count_parameters`` / ``cal_regular_factor``); off by default.
"""

from __future__ import annotations

import math
from typing import List, Optional

import torch
from torch import Tensor, nn

from unnas.rankers.base import RankBatch, Ranker, forward_hooks, logits_of, relus
from unnas.spaces.complexity import count_params

#: samples packed into one int64 word of a unit's sign vector (exact: below 2^32)
WORD_BITS = 32


def pack_patterns(codes: Tensor) -> Tensor:
    """The sign vectors of binary *codes* ``[B, units]`` (samples x units) packed per unit: ``[units, ⌈B/32⌉]``
    int64, word ``w`` holding samples ``32w .. 32w+31`` as bits. Two units share a packed row exactly when they
    share a sign vector."""
    b, units = codes.shape
    words = max(1, math.ceil(b / WORD_BITS))
    packed = torch.zeros((units, words), dtype=torch.int64, device=codes.device)
    for s in range(b):  # one sample at a time: memory of one int64 per unit and word, not per sample
        packed[:, s // WORD_BITS] += codes[s].to(torch.int64) << (s % WORD_BITS)
    return packed


def distinct_patterns(packed: Tensor) -> Tensor:
    """The distinct rows of packed sign vectors ``[units, words]``."""
    if packed.shape[0] == 0:
        return packed
    if packed.shape[1] == 1:
        return torch.unique(packed[:, 0])[:, None]
    return torch.unique(packed, dim=0)


def swap_count(codes: Tensor) -> int:
    """SWAP of binary *codes* ``[B, units]``: the number of distinct per-unit sign vectors over the samples."""
    return int(distinct_patterns(pack_patterns(codes)).shape[0])


def swap_of(net: nn.Module, x: Tensor) -> int:
    """The SWAP count of *net* on *x*: the sign vectors of the outputs of every ``nn.ReLU`` call on a 4-d input,
    deduplicated per call as it fires and once more over all calls (the same count as the official concatenation,
    without holding every unit's vector at once). 0 when no such ReLU fires."""
    seen: List[Tensor] = []

    def hook(module, inputs, output):
        if isinstance(inputs, tuple) and inputs[0].dim() == 4:
            codes = (output.detach() > 0).flatten(1)
            seen.append(distinct_patterns(pack_patterns(codes)))

    with forward_hooks(relus(net), hook), torch.no_grad():
        logits_of(net, x)
    if not seen:
        return 0
    width = max(s.shape[1] for s in seen)  # the same for every call that sees the batch's B samples
    seen = [nn.functional.pad(s, (0, width - s.shape[1])) for s in seen]
    return int(distinct_patterns(torch.cat(seen)).shape[0])


def gaussian_init_(net: nn.Module) -> nn.Module:
    """The official ``network_weight_gaussian_init``: Conv2d/Linear weights ``N(0, 1)`` and zero biases,
    BatchNorm2d/GroupNorm weight 1 and bias 0 (drawn from torch's global generator)."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                if m.weight is not None:
                    nn.init.ones_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
    return net


def size_factor(params: float, mu: float, sigma: float) -> float:
    """The official ``cal_regular_factor``: ``exp(−(P − μ)² / σ)``, ``P`` the parameter count in thousands."""
    return math.exp(-((params / 1e3 - mu) ** 2) / sigma)


def swap(net: nn.Module, x: Tensor, repeats: int = 32, mu: Optional[float] = None,
         sigma: Optional[float] = None) -> float:
    """SWAP of *net* on *x*: the mean count over *repeats* Gaussian re-initialisations of *net* (changed in
    place), times :func:`size_factor` when both *mu* and *sigma* are given."""
    if repeats < 1:
        raise ValueError(f"SWAP needs at least one repeat, got {repeats}")
    net.train()
    counts = []
    for _ in range(repeats):
        gaussian_init_(net)
        counts.append(swap_of(net, x))
    score = sum(counts) / len(counts)
    if mu is not None and sigma is not None:
        score *= size_factor(count_params(net), mu, sigma)
    return score


class SWAP(Ranker):
    """SWAP on the batch's images (no labels).

    Args:
        repeats: Gaussian re-initialisations averaged (official ``correlation.py``: 32).
        mu: centre of the size regulariser, in thousands of parameters; with *sigma*, turns it on (off by default).
        sigma: width of the size regulariser (``exp(−(P − μ)² / σ)``).
        seed: seeds torch's random numbers (the re-initialisations) while scoring.
    """

    name = "swap"

    def __init__(self, repeats: int = 32, mu: Optional[float] = None, sigma: Optional[float] = None, seed: int = 0):
        super().__init__(seed)
        self.repeats, self.mu, self.sigma = repeats, mu, sigma

    def _score(self, net: nn.Module, batch: RankBatch) -> float:
        return swap(net, batch.images, self.repeats, self.mu, self.sigma)

    def __repr__(self) -> str:
        return f"SWAP(repeats={self.repeats}, mu={self.mu}, sigma={self.sigma}, seed={self.seed})"
