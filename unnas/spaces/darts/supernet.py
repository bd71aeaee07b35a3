"""The DARTS search supernet (``model_search.py``) and genotype derivation from its alphas.

Every edge is a mixed op: all 8 PRIMITIVES weighted by ``softmax(alpha)`` (or by the op weights a search strategy
installs, :meth:`~unnas.spaces.base.Supernet.set_op_weights`). Pooling ops are followed
by a non-affine BatchNorm and every BN inside the cells is non-affine. One pair of alphas
(``alphas_normal``, ``alphas_reduce``, shape ``[14, 8]`` for 4 nodes) is shared by all normal and all
reduction cells. The alphas are ``nn.Parameter``s (so DDP and checkpoints see them), kept apart from
the weights by :meth:`Supernet.arch_parameters` and :meth:`Supernet.weight_parameters`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Dict, List, Literal, Mapping, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from unnas.spaces.base import Supernet as SupernetBase
from unnas.spaces.darts.genotype import Genotype, make_genotype
from pretext_tasks.heads import HeadFactory, classifier_head
from unnas.errors import ConfigError
from unnas.spaces.base import check_positive
from unnas.spaces.darts.networks import check_imagenet_channels, check_shape, reduction_indices
from unnas.spaces.darts.ops import OPS, PRIMITIVES, FactorizedReduce, ReLUConvBN, Zero
from unnas.spaces.speedups import (DepthwiseConv2d, Speedups, apply_speedups, cat_channels, depthwise_pointwise,
                                   is_pointwise, to_layout)


def num_edges(steps: int) -> int:
    """Edges of a search cell with *steps* intermediate nodes (node i has i + 2 inputs): 14 for 4."""
    return sum(i + 2 for i in range(steps))


def edge_labels(steps: int) -> List[str]:
    """Row labels of a DARTS alpha matrix: ``node i <- c_{k-2}``, ``node i <- node j`` ..."""
    rows = []
    for i in range(steps):
        rows += [f"node {i} <- " + ("c_{k-2}", "c_{k-1}")[j] if j < 2 else f"node {i} <- node {j - 2}"
                 for j in range(i + 2)]
    return rows


def check_multiplier(steps: int, multiplier: int) -> None:
    """One-line :class:`ConfigError` unless a search cell's output (its last *multiplier* states) holds nodes only."""
    if multiplier > steps:
        raise ConfigError(f"multiplier={multiplier} exceeds steps={steps}: a search cell concatenates its last "
                          f"`multiplier` nodes and has only `steps`; use a multiplier of 1..{steps}")


def derive_cell(weights: np.ndarray, steps: int = 4, primitives: Sequence[str] = PRIMITIVES):
    """DARTS's ``_parse``: per node keep the two inputs whose best non-``none`` weight is largest.

    *weights* is ``softmax(alpha)`` of shape ``[num_edges(steps), len(primitives)]``. Ties go to the lower
    input index and the lower op index, as in DARTS (stable sort, strict ``>``). Within a node the edges
    are listed strongest first.
    """
    weights = np.asarray(weights, dtype=np.float64)
    none = primitives.index("none") if "none" in primitives else None
    cols = [k for k in range(len(primitives)) if k != none]
    gene, start = [], 0
    for i in range(steps):
        W = weights[start:start + i + 2]
        strength = [max(W[j][k] for k in cols) for j in range(i + 2)]
        chosen = sorted(range(i + 2), key=lambda j: -strength[j])[:2]
        for j in chosen:
            k_best = None
            for k in cols:
                if k_best is None or W[j][k] > W[j][k_best]:
                    k_best = k
            gene.append((primitives[k_best], j))
        start += i + 2
    return gene


def derive_genotype(weights_normal, weights_reduce, steps: int = 4, multiplier: int = 4,
                    primitives: Sequence[str] = PRIMITIVES) -> Genotype:
    """A :class:`Genotype` from softmaxed alphas; concat is the last *multiplier* states, as in DARTS."""
    concat = list(range(2 + steps - multiplier, steps + 2))
    return make_genotype(derive_cell(weights_normal, steps, primitives), concat,
                         derive_cell(weights_reduce, steps, primitives), concat)


def _bn_scaled(bn: nn.BatchNorm2d, z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``w * bn(z)`` for a non-affine BN as one batch norm with weight ``w`` (running stats updated as bn does)."""
    if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
    momentum = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
    use_batch = bn.training or bn.running_mean is None
    track = not bn.training or bn.track_running_stats
    return F.batch_norm(z, bn.running_mean if track else None, bn.running_var if track else None,
                        weight=w.expand(z.shape[1]).contiguous(), bias=None, training=use_batch, momentum=momentum, eps=bn.eps)


def _split_op(op: nn.Module):
    """``(leading ReLU or None, body, final non-affine BN or None)`` of a candidate op, for the fused path.

    Looked up on every call (not cached) so that copies of the network use their own modules.
    """
    if isinstance(op, FactorizedReduce):
        return op.relu, lambda x, fuse=False: op.features(x), op.bn
    if isinstance(op, nn.Sequential):
        relu = op[0] if isinstance(op[0], nn.ReLU) else None
        bn = op[-1] if isinstance(op[-1], nn.BatchNorm2d) and not op[-1].affine else None
        layers = list(op._modules.values())[int(relu is not None):len(op) - (bn is not None)]
        return relu, lambda x, fuse=False: _chain(layers, x, fuse), bn
    return None, lambda x, fuse=False: op(x), None


def _chain(layers, x, fuse: bool):
    i = 0
    while i < len(layers):
        if fuse and isinstance(layers[i], DepthwiseConv2d) and i + 1 < len(layers) and is_pointwise(layers[i + 1]):
            x = depthwise_pointwise(layers[i], layers[i + 1], x)
            i += 2
        else:
            x = layers[i](x)
            i += 1
    return x


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """PC-DARTS's ``channel_shuffle``: view the channels as ``[groups, C / groups]``, transpose, flatten, so output
    channel ``j * groups + g`` is input channel ``g * C / groups + j``."""
    b, c, h, w = x.shape
    return x.reshape(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class MixedOp(nn.Module):
    """All candidate ops on one edge, summed with the edge's op weights.

    *ops* maps names to ``factory(C, stride, affine)`` (DARTS's :data:`OPS` by default); *pool_bn* puts DARTS's
    non-affine BN after pooling ops. With *speedups* off this is DARTS's ``sum(w * op(x))``; the ``shared_relu``, ``fold_weights``, ``skip_none``
    and ``recompute_depthwise`` switches compute the same sum with fewer kernels and fewer stored activations.
    With *active* (a hard sample: every other weight is exactly 0) only op *active* runs and the other weights are
    added as scalars: the same value, and each of them still gets a gradient (GDAS).

    After :meth:`set_partial_channels` with ``k > 1`` (PC-DARTS) the ops are built for ``C / k`` channels and run on
    the first ``C / k`` input channels; the other channels bypass them (through a 2x2 max-pool
    on stride-2 edges) and are concatenated after the ops' sum, and the result is shuffled with ``k`` groups
    (:func:`channel_shuffle`).
    """

    def __init__(self, C: int, stride: int, primitives: Sequence[str] = PRIMITIVES, speedups: Speedups = Speedups.off(),
                 ops: Mapping[str, Callable[[int, int, bool], nn.Module]] = OPS, pool_bn: bool = True):
        super().__init__()
        self.C, self.stride, self.k = C, stride, 1
        self._factory = (tuple(primitives), ops, pool_bn)
        self.speedups = speedups
        self._ops = self._build(C)
        self._configure_paths()

    def _build(self, C: int) -> nn.ModuleList:
        primitives, ops, pool_bn = self._factory
        built = nn.ModuleList()
        for p in primitives:
            op = ops[p](C, self.stride, False)
            if pool_bn and "pool" in p:
                op = nn.Sequential(op, nn.BatchNorm2d(C, affine=False))
            built.append(op)
        return built

    def _configure_paths(self) -> None:
        speedups = self.speedups
        self._leading_relu = any(_split_op(op)[0] is not None for op in self._ops)
        skip = [speedups.skip_none and isinstance(op, Zero) for op in self._ops]
        self._skip = skip if not all(skip) else [False] * len(skip)
        self._plain = not (speedups.shared_relu or speedups.fold_weights or speedups.recompute_depthwise
                           or any(self._skip))

    def check_partial_channels(self, k: int) -> None:
        """One-line :class:`ConfigError` unless this edge can run on ``C / k`` channels."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"partial channels k must be a positive integer, got {k!r:.40}; set "
                              "model.init_args.strategy.init_args.k, e.g. 4")
        if self.C % k:
            raise ConfigError(f"partial channels k={k} must divide every edge's channels, and an edge has C={self.C}; "
                              f"choose a k that divides the supernet's channels (space.init_args.channels)")
        if self.stride != 1 and (self.C // k) % 2:
            raise ConfigError(f"partial channels k={k} leaves a reduction edge {self.C // k} channel(s), and its "
                              "factorized-reduce skip needs an even number; choose a smaller k or more channels")

    def set_partial_channels(self, k: int) -> None:
        """Rebuild the ops for ``C / k`` channels (fresh weights; nothing changes when *k* is already set)."""
        self.check_partial_channels(k)
        if k == self.k:
            return
        ref = next((t for t in (*self._ops.parameters(), *self._ops.buffers()) if t.is_floating_point()), None)
        ops = self._build(self.C // k)
        if ref is not None:
            ops.to(device=ref.device, dtype=ref.dtype)
        # Narrow ops compute in NCHW: on CPU the channels-last backward of FactorizedReduce's 1x1 stride-2 convs
        # corrupts memory for 2 to 6 input channels (torch 2.14), widths that partial channels produce.
        apply_speedups(ops, replace(self.speedups, channels_last=self.speedups.channels_last and k == 1))
        self._ops, self.k = ops, k
        self._configure_paths()

    def forward(self, x, weights, active: Optional[int] = None, runs: Optional[Sequence[bool]] = None):
        """The edge's output for its op *weights*; *active*: the only op of a hard sample; *runs*: which ops run
        (the others have weight exactly 0 and are left out; see :class:`~unnas.spaces.base.Supernet.OpWeights`)."""
        if self.k == 1:
            return self._mix(x, weights, active, runs)
        c = x.shape[1] // self.k
        out = self._mix(x[:, :c].contiguous(), weights, active, runs)
        rest = x[:, c:]
        if self.stride != 1:
            # ceil_mode: the ops' stride-2 outputs have ceil(n / 2) pixels, odd n included
            rest = F.max_pool2d(rest, 2, 2, ceil_mode=True)
        return to_layout(channel_shuffle(torch.cat([out, rest], dim=1), self.k), self.speedups)

    def _mix(self, x, weights, active: Optional[int], runs: Optional[Sequence[bool]] = None):
        if active is not None:
            return self._forward_one(x, weights, active)
        runs = [True] * len(self._ops) if runs is None else [bool(r) for r in runs]
        if len(runs) != len(self._ops) or not any(runs):
            raise ValueError(f"runs must name at least one of the edge's {len(self._ops)} ops, got {runs}")
        if self._plain or not any(r and not s for r, s in zip(runs, self._skip)):
            # (also when only skipped ops run: `none` then gives the output's shape)
            return sum(w * op(x) for w, op, r in zip(weights, self._ops, runs) if r)
        fold, fuse = self.speedups.fold_weights, self.speedups.recompute_depthwise
        rectified = None
        if self.speedups.shared_relu and self._leading_relu:
            rectified = F.relu(x)
        out = None
        for w, skip, op, run in zip(weights, self._skip, self._ops, runs):
            if skip or not run:
                continue
            out = _add(out, self._term(op, x, w, rectified, fold, fuse))
        return out

    @staticmethod
    def _term(op: nn.Module, x, w, rectified, fold: bool, fuse: bool):
        """``w * op(x)`` on the fused path (*rectified*: the shared ``relu(x)``, or None)."""
        relu, body, bn = _split_op(op)
        inp = x if relu is None else (rectified if rectified is not None else relu(x))
        z = body(inp, fuse)
        if bn is None:
            return w * z
        return _bn_scaled(bn, z, w) if fold else w * bn(z)

    def _forward_one(self, x, weights, k: int):
        op, w = self._ops[k], weights[k]
        if self._plain:
            term = w * op(x)
        else:  # the sampled op runs even when it is `none`: its zeros give the output's shape
            term = self._term(op, x, w, None, self.speedups.fold_weights, self.speedups.recompute_depthwise)
        others = torch.cat([weights[:k], weights[k + 1:]])
        return term + others.sum() if others.numel() else term


def _add(total, term):
    return term if total is None else total + term


def unpack_op_weights(weights):
    """``(weights, active, runs)`` of an :class:`~unnas.spaces.base.Supernet.OpWeights` or a plain weight tensor."""
    if isinstance(weights, SupernetBase.OpWeights):
        return weights.weights, weights.active, weights.runs
    return weights, None, None


class SearchCell(nn.Module):
    def __init__(self, steps: int, multiplier: int, C_prev_prev: int, C_prev: int, C: int, reduction: bool,
                 reduction_prev: bool, primitives: Sequence[str] = PRIMITIVES, speedups: Speedups = Speedups.off()):
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = (FactorizedReduce(C_prev_prev, C, affine=False) if reduction_prev
                            else ReLUConvBN(C_prev_prev, C, 1, 1, 0, affine=False))
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0, affine=False)
        self._steps = steps
        self._multiplier = multiplier
        self.speedups = speedups
        self._ops = nn.ModuleList(
            MixedOp(C, 2 if reduction and j < 2 else 1, primitives, speedups) for i in range(steps) for j in range(i + 2)
        )

    def forward(self, s0, s1, weights, edge_weights: Optional[torch.Tensor] = None):
        """*weights*: the cell's :class:`~unnas.spaces.base.Supernet.OpWeights` (or a plain ``[edges, ops]`` tensor);
        *edge_weights*: one factor per edge multiplying its mixed op's output (PC-DARTS's normalised betas)."""
        weights, active, runs = unpack_op_weights(weights)
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(self._steps):
            s = sum(_edge_term(self._ops[offset + j], h, weights, active, runs, edge_weights, offset + j)
                    for j, h in enumerate(states))
            offset += len(states)
            states.append(s)
        return cat_channels(states[-self._multiplier:], self.speedups)


def _edge_term(op: MixedOp, x, weights, active, runs, edge_weights, e: int):
    """Edge *e*'s mixed-op output, times its edge weight when there are edge weights."""
    out = op(x, weights[e], None if active is None else active[e], None if runs is None else runs[e])
    return out if edge_weights is None else edge_weights[e] * out


class Supernet(SupernetBase):
    """DARTS's search network (the seam's :class:`~unnas.spaces.base.Supernet` interface).

    Args:
        C: initial channels (DARTS: 16).
        num_classes: outputs of the default classifier head (ignored when *head* is given).
        layers: number of cells (DARTS: 8; reductions at ``layers//3`` and ``2*layers//3``).
        steps: intermediate nodes per cell; multiplier: how many of the last nodes are concatenated (``1 .. steps``).
        stem: ``"cifar"`` (one 3x3 conv, ``stem_multiplier*C`` channels) or ``"imagenet"`` (DARTS's stride-8
            stems, as UnNAS uses for non-CIFAR searches).
        input_channels: channels of the network input; head: the objective's head factory.
        speedups: performance switches (:class:`~unnas.spaces.speedups.Speedups`); ``Speedups.off()`` is the plain
            DARTS formulation.
    """

    def __init__(self, C: int = 16, num_classes: int = 10, layers: int = 8, steps: int = 4, multiplier: int = 4,
                 stem_multiplier: int = 3, stem: Literal["cifar", "imagenet"] = "cifar", input_channels: int = 3,
                 head: Optional[HeadFactory] = None, primitives: Sequence[str] = PRIMITIVES,
                 speedups: Speedups = Speedups()):
        super().__init__()
        check_shape("Supernet", C, layers, num_classes, input_channels, head)
        check_positive("Supernet", steps=steps, multiplier=multiplier, stem_multiplier=stem_multiplier)
        check_multiplier(steps, multiplier)
        if stem == "imagenet":
            check_imagenet_channels(C)
        self.primitives = tuple(primitives)
        self.speedups = speedups
        unknown = [p for p in self.primitives if p not in OPS]
        if unknown:
            raise ConfigError(f"unknown primitive(s) {unknown}; known ops: {', '.join(sorted(OPS))}")
        self._steps, self._multiplier, self._layers = steps, multiplier, layers
        if stem == "cifar":
            C_curr = stem_multiplier * C
            self.stem = nn.Sequential(nn.Conv2d(input_channels, C_curr, 3, padding=1, bias=False), nn.BatchNorm2d(C_curr))
            C_prev_prev = C_prev = C_curr
            reduction_prev = False
        elif stem == "imagenet":
            self.stem = nn.Sequential(
                nn.Conv2d(input_channels, C // 2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C // 2),
                nn.ReLU(inplace=True),
                nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C),
            )
            self.stem1 = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C))
            C_prev_prev = C_prev = C
            reduction_prev = True
        else:
            raise ConfigError(f"unknown stem {stem!r}; use 'cifar' or 'imagenet'")
        self.stem_kind = stem
        C_curr = C
        reductions = reduction_indices(layers)
        self.cells = nn.ModuleList()
        for i in range(layers):
            reduction = i in reductions
            if reduction:
                C_curr *= 2
            cell = SearchCell(steps, multiplier, C_prev_prev, C_prev, C_curr, reduction, reduction_prev, self.primitives,
                              speedups)
            reduction_prev = reduction
            self.cells.append(cell)
            C_prev_prev, C_prev = C_prev, multiplier * C_curr
        self.head = (head or classifier_head(num_classes))(C_prev)
        k, n = num_edges(steps), len(self.primitives)
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(k, n))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(k, n))
        apply_speedups(self, speedups)

    beta_names = {"normal": "betas_normal", "reduce": "betas_reduce"}

    def arch_parameters(self) -> list:
        return [self.alphas_normal, self.alphas_reduce, *self.beta_parameters()]

    def mixed_ops(self) -> List[MixedOp]:
        return [op for cell in self.cells for op in cell._ops]

    def node_in_degrees(self) -> List[int]:
        return [i + 2 for i in range(self._steps)]

    def arch_weights(self) -> Dict[str, np.ndarray]:
        return {"normal": F.softmax(self.alphas_normal.detach().float(), -1).cpu().numpy(),
                "reduce": F.softmax(self.alphas_reduce.detach().float(), -1).cpu().numpy()}

    def edge_labels(self, key: str) -> List[str]:
        return edge_labels(self._steps)

    def forward(self, x):
        x = to_layout(self.head.fold(x), self.speedups)
        input_size = tuple(x.shape[-2:])
        s0 = self.stem(x)
        s1 = self.stem1(s0) if self.stem_kind == "imagenet" else s0
        w_normal = self.op_weights(self.alphas_normal, "normal")
        w_reduce = self.op_weights(self.alphas_reduce, "reduce")
        e_normal, e_reduce = self.edge_weights("normal"), self.edge_weights("reduce")
        for cell in self.cells:
            s0, s1 = s1, (cell(s0, s1, w_reduce, e_reduce) if cell.reduction else cell(s0, s1, w_normal, e_normal))
        return self.head(s1, input_size)

    def _derivation_weights(self, key: str) -> np.ndarray:
        weights = F.softmax(getattr(self, f"alphas_{key}").float(), dim=-1)
        edges = self.edge_weights(key)
        if edges is not None:  # PC-DARTS's genotype(): each edge's op weights times its normalised beta
            weights = weights * edges.float()[:, None]
        return weights.cpu().numpy()

    @torch.no_grad()
    def genotype(self) -> Genotype:
        """The discrete cell DARTS derives from the current alphas (with edge normalisation, from the op weights
        times the edges' normalised betas, as PC-DARTS does)."""
        return derive_genotype(self._derivation_weights("normal"), self._derivation_weights("reduce"),
                               self._steps, self._multiplier, self.primitives)
