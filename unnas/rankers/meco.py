"""Data-free proxies from the channel correlations of one random input: MeCo and MeCo_opt.

MeCo (Jiang, Wang, Bie, NeurIPS 2023, HamsterMimi/MeCo): one forward pass of one standard-normal sample; the output
of every module that is a feature map ``[B, C, H, W]`` (any ``[B, C, ...]`` of three or more dimensions) gives, for
the first sample, ``C`` channels of ``H*W`` values; the score is the sum over modules of the minimum eigenvalue of
the ``C x C`` Pearson correlation matrix of those channels. Entries of the correlation matrix that are undefined (a
constant channel) count as 0, as in the official code, so a module with a constant channel (a dead ReLU channel, a
``none`` operation) adds 0.

MeCo_opt (the same repository's ``--measure meco_opt``): per module, the minimum eigenvalue of the correlation
matrix of 8 channels drawn at random without replacement, times ``C / 8``: cheaper for wide layers, and scaled with
the width.

Every module is hooked, containers and the network itself included (``net.modules()``, as the official
``named_modules`` loop), so a container whose output is its last child's counts it again, as there. The network
runs in training mode (BatchNorm on the sample's own statistics), as the official script leaves it.
"""

from __future__ import annotations

import math
from typing import Callable, List, Optional

import torch
from torch import Tensor, nn

from unnas.errors import ConfigError
from unnas.rankers.base import RankBatch, Ranker, forward_hooks

#: channels MeCo_opt samples per module (the official ``random.sample(range(n), 8)``)
OPT_CHANNELS = 8


def correlation(features: Tensor) -> Tensor:
    """The Pearson correlation matrix (float64) of the rows of *features* ``[C, N]``; entries that are undefined
    (a row that does not vary) or not finite are 0, as the official code sets them."""
    rows = features.detach().reshape(features.shape[0], -1).to(torch.float64)
    if rows.shape[0] == 1:  # torch.corrcoef returns a 0-d tensor for one row
        var = rows.var()
        corr = (var / var).reshape(1, 1)
    else:
        corr = torch.corrcoef(rows)
    return torch.where(torch.isfinite(corr), corr, torch.zeros_like(corr))


def min_eig_correlation(features: Tensor) -> float:
    """The minimum eigenvalue of :func:`correlation` of *features* ``[C, N]`` (channels x positions): 0 when two
    channels are identical (or proportional, or one is constant), 1 when all channels are uncorrelated."""
    return float(torch.linalg.eigvalsh(correlation(features))[0])


def min_eig_sampled(features: Tensor, channels: int = OPT_CHANNELS, generator: Optional[torch.Generator] = None
                    ) -> float:
    """MeCo_opt's term: :func:`min_eig_correlation` of *channels* rows of *features* ``[C, N]`` drawn without
    replacement (``torch.randperm`` on the CPU with *generator*, else torch's global generator), times
    ``C / channels``; with at most *channels* rows, all of them, unscaled (the official code fails there)."""
    n = features.shape[0]
    if n <= channels:
        return min_eig_correlation(features)
    idx = torch.randperm(n, generator=generator)[:channels].to(features.device)
    return min_eig_correlation(features[idx]) * n / channels


def each_feature_map(net: nn.Module, x: Tensor, fn: Callable[[Tensor], None]) -> None:
    """Calls *fn* with the first sample's output ``[C, H*W]`` of every module of *net* (itself included) whose
    output is a tensor ``[B, C, ...]`` of three or more dimensions, as each module finishes, on input *x* (so the
    maps are never all held at once). Outputs ``[B, K]`` (pooled features, logits) are left out: the official code
    reads them as ``K`` channels of one value, whose correlations are all undefined, so they add 0. Tuple outputs
    are left out too."""

    def hook(module, inputs, output):
        if isinstance(output, Tensor) and output.dim() >= 3:
            fn(output[0].detach().reshape(output.shape[1], -1))

    with forward_hooks(net.modules(), hook), torch.no_grad():
        net(x)


def feature_maps(net: nn.Module, x: Tensor) -> List[Tensor]:
    """The maps :func:`each_feature_map` reads, in order (copies)."""
    maps: List[Tensor] = []
    each_feature_map(net, x, lambda fea: maps.append(fea.clone()))
    return maps


def meco_terms(net: nn.Module, x: Tensor, channels: Optional[int] = None) -> List[float]:
    """The per-module terms of MeCo (*channels* ``None``) or MeCo_opt (*channels* sampled per module) of *net* on
    *x*, in training mode; non-finite terms are dropped, as the official code drops them."""
    net.train()
    terms: List[float] = []

    def term_of(fea: Tensor) -> None:
        term = min_eig_correlation(fea) if channels is None else min_eig_sampled(fea, channels)
        if math.isfinite(term):
            terms.append(term)

    each_feature_map(net, x, term_of)
    return terms


def meco(net: nn.Module, x: Tensor) -> float:
    """MeCo of *net* on *x*: the sum over modules of the minimum eigenvalue of the channel correlations."""
    return float(sum(meco_terms(net, x)))


def meco_opt(net: nn.Module, x: Tensor, channels: int = OPT_CHANNELS) -> float:
    """MeCo_opt of *net* on *x*: the sum over modules of the minimum eigenvalue of the correlations of *channels*
    random channels, times the module's channel count over *channels* (torch's global generator draws them)."""
    return float(sum(meco_terms(net, x, channels)))


def gaussian_input(batch: RankBatch, batch_size: int, seed: int) -> Tensor:
    """*batch_size* standard-normal samples of the batch's input shape, drawn on the CPU from *seed* (the same on
    every device), in the batch's dtype and on its device."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((batch_size, *batch.images.shape[1:]), generator=g, dtype=torch.float32)
    return x.to(device=batch.images.device, dtype=batch.images.dtype)


class MeCo(Ranker):
    """MeCo on its own seeded standard-normal input of the batch's shape (the batch's pixels and labels unused).

    Args:
        batch_size: samples in the forward pass (the paper's 1); only the first one's feature maps are read, the
            others change the BatchNorm statistics.
        seed: seeds the input and torch's random numbers while scoring.
    """

    name = "meco"
    needs_images = False

    def __init__(self, batch_size: int = 1, seed: int = 0):
        super().__init__(seed)
        if batch_size < 1:
            raise ConfigError(f"{self.name} needs a batch size of at least 1, got {batch_size}")
        self.batch_size = batch_size

    def _score(self, net: nn.Module, batch: RankBatch) -> float:
        return meco(net, gaussian_input(batch, self.batch_size, self.seed))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(batch_size={self.batch_size}, seed={self.seed})"


class MeCoOpt(MeCo):
    """MeCo_opt: MeCo with the correlations of *channels* random channels per module, scaled by width.

    Args:
        batch_size: samples in the forward pass (the paper's 1).
        channels: channels drawn per module (the official 8).
        seed: seeds the input and the channels drawn.
    """

    name = "meco_opt"

    def __init__(self, batch_size: int = 1, channels: int = OPT_CHANNELS, seed: int = 0):
        super().__init__(batch_size, seed)
        if channels < 2:
            raise ConfigError(f"{self.name} needs at least 2 channels per module, got {channels}")
        self.channels = channels

    def _score(self, net: nn.Module, batch: RankBatch) -> float:
        return meco_opt(net, gaussian_input(batch, self.batch_size, self.seed), self.channels)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(batch_size={self.batch_size}, channels={self.channels}, seed={self.seed})"
