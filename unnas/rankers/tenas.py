"""TE-NAS's two indicators (Chen, Gong, Wang, "Neural Architecture Search on ImageNet in Four GPU Hours: A
Theoretically Inspired Perspective", ICLR 2021; official code VITA-Group/TENAS, ``lib/procedures/ntk.py``,
``lib/procedures/linear_region_counter.py``, ``prune_tenas.py``).

``te_ntk``: the condition number ``κ = λ_max / λ_min`` of the empirical NTK ``Θ = J Jᵀ`` over the batch, where row
``i`` of ``J`` is the gradient of the sum of sample ``i``'s logits with respect to every parameter whose name
contains ``weight`` (the official ``get_ntk_n``: ``logit[i:i+1].backward(ones)`` with the whole batch in one
forward, in training mode, so BatchNorm uses the batch's statistics and a sample's gradient sees the others through
them). Lower is better, so the score is ``−κ``; a singular or non-finite NTK scores :data:`DEGENERATE_COND` negated.
Before scoring, the network is re-initialised as ``prune_tenas.py`` does for the NTK: Kaiming-normal ``fan_out``
Conv2d/Linear weights with zero biases, BatchNorm weight 1 and bias 0.

``te_lr``: the number of linear regions, i.e. of distinct activation patterns ``[x > 0]`` of every ``nn.ReLU`` call
on a 4-d input (the official hook), over ``batches x batch_size`` (official 3 x 1000) random ``side x side``
(official 3 x 3) crops of the batch's images, forwarded ``batch_size`` at a time in training mode after a
Kaiming-normal ``fan_in`` re-initialisation (the official counter and ``prune_tenas.py``). Higher is better.
"""

from __future__ import annotations

import math
from typing import List

import torch
from torch import Tensor, nn

from unnas.errors import ConfigError
from unnas.rankers.base import RankBatch, Ranker, forward_hooks, logits_of, relus

#: the condition number of a degenerate NTK (singular, or with a non-finite eigenvalue): above any condition number
#: that float64 eigenvalues can resolve (at most about 1/eps = 4.5e15), so such a network ranks last, and the score
#: stays finite
DEGENERATE_COND = 1e20

#: Kaiming-normal modes of the official ``init_model``: ``fan_out`` before the NTK, ``fan_in`` before the linear
#: regions; ``none`` keeps the network's own weights
INITS = ("fan_in", "fan_out", "none")

WORD_BITS = 32  # units packed into one int64 word of an activation pattern (exact: below 2^63)


def kaiming_init_(net: nn.Module, mode: str) -> nn.Module:
    """The official ``kaiming_normal_fan{in,out}_init``: Conv2d/Linear weights Kaiming-normal (ReLU gain) in *mode*
    (``fan_in`` or ``fan_out``) with zero biases, affine BatchNorm2d weight 1 and bias 0; ``none`` leaves *net* as
    it is. Draws from torch's global generator."""
    if mode not in INITS:
        raise ConfigError(f"unknown TE-NAS initialisation {mode!r}; known: {', '.join(INITS)}")
    if mode == "none":
        return net
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                if m.weight is not None:
                    nn.init.ones_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
    return net


# --------------------------------------------------------------------------------------------------------------- NTK

def condition_number(gram: Tensor) -> float:
    """``λ_max / λ_min`` of a symmetric positive semi-definite *gram* (eigenvalues in float64); ``inf`` when it is
    singular: ``λ_min ≤ n · eps · λ_max`` (below what float64 eigenvalues resolve, zero or negative included), or
    an eigenvalue is not finite."""
    g = gram.detach().to(torch.float64)
    if not bool(torch.isfinite(g).all()):
        return math.inf
    eig = torch.linalg.eigvalsh(g)  # ascending
    lo, hi = float(eig[0]), float(eig[-1])
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= 0 or lo <= g.shape[0] * torch.finfo(g.dtype).eps * hi:
        return math.inf
    return hi / lo


def ntk_weights(net: nn.Module) -> List[Tensor]:
    """The parameters the official NTK differentiates: those whose name contains ``weight`` (Conv2d, Linear and
    affine BatchNorm weights; no biases)."""
    return [p for name, p in net.named_parameters() if "weight" in name and p.requires_grad]


def ntk_jacobian(net: nn.Module, x: Tensor) -> Tensor:
    """``J [B, P]``: row ``i`` the gradient of the sum of sample ``i``'s logits (of all its outputs, for a dense
    head), with the whole of *x* in one
    forward, with respect to :func:`ntk_weights` (zero for a weight the output does not depend on): one backward
    through the batch's graph per sample, as the official loop does (a vectorised ``is_grads_batched`` backward
    gives the same rows but ran twice as slow on the CPU)."""
    params = ntk_weights(net)
    rows = logits_of(net, x).flatten(1).sum(dim=1)  # a dense head's output: every value of the sample
    width = sum(p.numel() for p in params)
    if not params or not rows.requires_grad:
        return torch.zeros((x.shape[0], width), dtype=rows.dtype, device=rows.device)
    jac = torch.empty((rows.shape[0], width), dtype=rows.dtype, device=rows.device)
    for i in range(rows.shape[0]):
        grads = torch.autograd.grad(rows[i], params, retain_graph=i + 1 < rows.shape[0], allow_unused=True)
        jac[i] = torch.cat([(g if g is not None else torch.zeros_like(p)).flatten() for g, p in zip(grads, params)])
    return jac


def ntk_gram(net: nn.Module, x: Tensor) -> Tensor:
    """The empirical NTK ``J Jᵀ [B, B]`` (float64) of *net* on *x* in its current mode."""
    jac = ntk_jacobian(net, x).to(torch.float64)
    return jac @ jac.T


def ntk_condition(net: nn.Module, x: Tensor, init: str = "fan_out") -> float:
    """``κ`` of *net* (changed in place: re-initialised with *init*, put in training mode) on *x*; capped at
    :data:`DEGENERATE_COND`."""
    kaiming_init_(net, init)
    net.train()
    cond = condition_number(ntk_gram(net, x))
    return min(cond, DEGENERATE_COND)


class TENTK(Ranker):
    """TE-NAS's NTK condition number on the batch's images (no labels): ``−κ``, higher = better.

    Args:
        repeats: re-initialisations whose ``κ`` is averaged (the official search averages 3; 1 here).
        init: ``fan_out`` (official, before the NTK), ``fan_in``, or ``none`` to keep the network's weights.
        seed: seeds torch's random numbers (the re-initialisations) while scoring.
    """

    name = "te_ntk"

    def __init__(self, repeats: int = 1, init: str = "fan_out", seed: int = 0):
        super().__init__(seed)
        if repeats < 1:
            raise ConfigError(f"te_ntk needs at least one repeat, got {repeats}")
        if init not in INITS:
            raise ConfigError(f"unknown te_ntk init {init!r}; known: {', '.join(INITS)}")
        self.repeats, self.init = repeats, init

    def _score(self, net: nn.Module, batch: RankBatch) -> float:
        if batch.images.shape[0] < 2:
            raise ConfigError(f"te_ntk needs a batch of at least 2 (the NTK of one sample has condition number 1), "
                              f"got {batch.images.shape[0]}")
        conds = [ntk_condition(net, batch.images, self.init) for _ in range(self.repeats)]
        return -min(sum(conds) / len(conds), DEGENERATE_COND)

    def __repr__(self) -> str:
        return f"TENTK(repeats={self.repeats}, init={self.init!r}, seed={self.seed})"


# ---------------------------------------------------------------------------------------------------- linear regions

def pack_codes(codes: Tensor) -> Tensor:
    """Binary *codes* ``[S, units]`` packed per sample into ``[S, ⌈units/32⌉]`` int64 words (unit ``32w + b`` is
    bit ``b`` of word ``w``): two samples share a packed row exactly when they share a pattern."""
    s, units = codes.shape
    words = max(1, math.ceil(units / WORD_BITS))
    padded = nn.functional.pad(codes.to(torch.int64), (0, words * WORD_BITS - units))
    bits = torch.ones((), dtype=torch.int64, device=codes.device) << torch.arange(WORD_BITS, device=codes.device)
    return (padded.view(s, words, WORD_BITS) * bits).sum(dim=2)


def count_regions(packed: Tensor) -> int:
    """The number of distinct rows of packed patterns ``[S, words]`` (the official ``calc_LR``: the sum over samples
    of one over the number of samples sharing its pattern); 1 when there are no units (one linear region)."""
    if packed.shape[0] == 0:
        return 0
    if packed.shape[1] == 0:
        return 1
    return int(torch.unique(packed, dim=0).shape[0])


def relu_patterns(net: nn.Module, x: Tensor) -> Tensor:
    """The packed activation patterns ``[S, words]`` of *net* on *x*: ``[output > 0]`` of every ``nn.ReLU`` call
    whose input is 4-d, concatenated per sample in call order (zero words when no such ReLU fires)."""
    parts: List[Tensor] = []

    def hook(module, inputs, output):
        if isinstance(inputs, tuple) and inputs[0].dim() == 4:
            parts.append(pack_codes((output.detach() > 0).flatten(1)))

    with forward_hooks(relus(net), hook), torch.no_grad():
        logits_of(net, x)
    if not parts:
        return torch.zeros((x.shape[0], 0), dtype=torch.int64, device=x.device)
    return torch.cat(parts, dim=1)


def accepted_side(net: nn.Module, side: int, largest: int, like: Tensor) -> int:
    """The smallest square input side from *side* up to *largest* that *net* runs on (an NB-101 network's
    max-pools need 4 x 4); probed in evaluation mode on two zero inputs shaped like *like*'s, which changes no
    statistic."""
    mode = net.training
    net.eval()
    try:
        for s in range(side, largest + 1):
            try:
                with torch.no_grad():
                    logits_of(net, like.new_zeros((2, *like.shape[1:-2], s, s)))
                return s
            except RuntimeError:
                continue
    finally:
        net.train(mode)
    raise ConfigError(f"te_lr: the network runs on no input side from {side} to the images' {largest}")


def random_crops(images: Tensor, count: int, side: int, generator: torch.Generator) -> Tensor:
    """*count* ``side x side`` crops of *images* ``[B, C, H, W]`` at random images and offsets (drawn on the CPU
    from *generator*, so the same seed gives the same crops on every device). Inputs with more leading dimensions
    (``[B, T, C, H, W]``: a jigsaw objective's tiles) are cropped the same way in every one of them."""
    if images.dim() > 4:
        lead = images.shape[1:-2]
        flat = random_crops(images.reshape(images.shape[0], -1, *images.shape[-2:]), count, side, generator)
        return flat.reshape(count, *lead, side, side)
    b, _, h, w = images.shape
    idx = torch.randint(0, b, (count,), generator=generator)
    top = torch.randint(0, h - side + 1, (count,), generator=generator)
    left = torch.randint(0, w - side + 1, (count,), generator=generator)
    rows = (top[:, None] + torch.arange(side)).to(images.device)
    cols = (left[:, None] + torch.arange(side)).to(images.device)
    picked = images[idx.to(images.device)]  # [count, C, H, W]
    picked = picked.gather(2, rows[:, None, :, None].expand(-1, picked.shape[1], -1, w))
    return picked.gather(3, cols[:, None, None, :].expand(-1, picked.shape[1], side, -1))


def linear_regions(net: nn.Module, images: Tensor, side: int = 3, batch_size: int = 1000, batches: int = 3,
                   init: str = "fan_in") -> int:
    """The number of linear regions of *net* (changed in place: re-initialised with *init*, training mode) over
    ``batches x batch_size`` random crops of *images* (the smallest accepted side from *side*; whole images when
    *side* is larger than them), forwarded ``batch_size`` at a time."""
    kaiming_init_(net, init)
    largest = min(images.shape[-2], images.shape[-1])
    side = accepted_side(net, min(side, largest), largest, images)
    g = torch.Generator().manual_seed(int(torch.randint(0, 2 ** 62, ())))
    net.train()
    packed = [relu_patterns(net, random_crops(images, batch_size, side, g)) for _ in range(batches)]
    return count_regions(torch.cat(packed))


class TELinearRegions(Ranker):
    """TE-NAS's number of linear regions over random crops of the batch's images (no labels): higher = better.

    Args:
        side: crop side (official 3: 3 x 3 crops), raised to the smallest side the network accepts.
        batch_size: crops per forward; BatchNorm uses their statistics (official 1000).
        batches: forwards whose crops are pooled (official 3: 3000 samples).
        repeats: re-initialisations whose counts are averaged (the official search averages 3; 1 here).
        init: ``fan_in`` (official, before the linear regions), ``fan_out``, or ``none`` to keep the weights.
        seed: seeds torch's random numbers (re-initialisations and crops) while scoring.
    """

    name = "te_lr"

    def __init__(self, side: int = 3, batch_size: int = 1000, batches: int = 3, repeats: int = 1,
                 init: str = "fan_in", seed: int = 0):
        super().__init__(seed)
        if side < 1 or batch_size < 2 or batches < 1 or repeats < 1:
            raise ConfigError(f"te_lr needs side >= 1, batch_size >= 2, batches >= 1 and repeats >= 1, got "
                              f"{side}, {batch_size}, {batches}, {repeats}")
        if init not in INITS:
            raise ConfigError(f"unknown te_lr init {init!r}; known: {', '.join(INITS)}")
        self.side, self.batch_size, self.batches, self.repeats, self.init = side, batch_size, batches, repeats, init

    def _score(self, net: nn.Module, batch: RankBatch) -> float:
        counts = [linear_regions(net, batch.images, self.side, self.batch_size, self.batches, self.init)
                  for _ in range(self.repeats)]
        return sum(counts) / len(counts)

    def __repr__(self) -> str:
        return (f"TELinearRegions(side={self.side}, batch_size={self.batch_size}, batches={self.batches}, "
                f"repeats={self.repeats}, init={self.init!r}, seed={self.seed})")
