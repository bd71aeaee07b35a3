"""The mixed op of every weight-sharing supernet: all candidate ops of one edge, summed with the edge's op weights;
its exact fused path (:class:`~unnas.spaces.speedups.Speedups`), hard samples, pruned ops and PC-DARTS's partial
channels.

The mixed op knows nothing about a particular space: a space hands it its candidate ops as
``{name: factory(C, stride, affine)}`` and the names to build. It relies on two conventions of the candidates:

- the op named ``none`` is the zero op (``skip_none`` leaves it out of the sum);
- for the fused path an op is split into ``(leading ReLU, body, final non-affine BN)``: an ``nn.Sequential``
  by its first and last layers, any other op that has ``relu``, ``features(x)`` and ``bn`` attributes (and
  computes ``bn(features(relu(x)))``, as DARTS's ``FactorizedReduce``) by those; every other op runs whole.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from unnas.errors import ConfigError
from unnas.spaces.speedups import (DepthwiseConv2d, Speedups, apply_speedups, built_speedups, depthwise_pointwise,
                                   is_pointwise, to_layout)

OpFactory = Callable[[int, int, bool], nn.Module]

#: the candidate name of the zero op, in every space
ZERO_OP = "none"


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """PC-DARTS's ``channel_shuffle``: view the channels as ``[groups, C / groups]``, transpose, flatten, so output
    channel ``j * groups + g`` is input channel ``g * C / groups + j``."""
    b, c, h, w = x.shape
    return x.reshape(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


def _bn_scaled(bn: nn.BatchNorm2d, z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``w * bn(z)`` for a non-affine BN as one batch norm with weight ``w`` (running stats updated as bn does)."""
    if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
    momentum = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
    use_batch = bn.training or bn.running_mean is None
    track = not bn.training or bn.track_running_stats
    return F.batch_norm(z, bn.running_mean if track else None, bn.running_var if track else None,
                        weight=w.expand(z.shape[1]).contiguous(), bias=None, training=use_batch, momentum=momentum,
                        eps=bn.eps)


def _split_op(op: nn.Module):
    """``(leading ReLU or None, body, final non-affine BN or None)`` of a candidate op, for the fused path.

    Looked up on every call (not cached) so that copies of the network use their own modules.
    """
    if isinstance(op, nn.Sequential):
        relu = op[0] if isinstance(op[0], nn.ReLU) else None
        bn = op[-1] if isinstance(op[-1], nn.BatchNorm2d) and not op[-1].affine else None
        layers = list(op._modules.values())[int(relu is not None):len(op) - (bn is not None)]
        return relu, lambda x, fuse=False: _chain(layers, x, fuse), bn
    if (isinstance(getattr(op, "relu", None), nn.ReLU) and callable(getattr(op, "features", None))
            and isinstance(getattr(op, "bn", None), nn.BatchNorm2d)):
        return op.relu, lambda x, fuse=False: op.features(x), op.bn
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


def _add(total, term):
    return term if total is None else total + term


class MixedOp(nn.Module):
    """All candidate ops on one edge, summed with the edge's op weights.

    *ops* maps names to ``factory(C, stride, affine)`` (a space's candidate ops) and *primitives* names the ones
    built, in alpha-column order; every op is built with ``affine=False``, and *pool_bn* puts a non-affine BN
    after pooling ops (DARTS's search cell). With *speedups* off this is DARTS's ``sum(w * op(x))``; the
    ``shared_relu``, ``fold_weights``, ``skip_none`` and ``recompute_depthwise`` switches compute the same sum with
    fewer kernels and fewer stored activations. With *active* (a hard sample: every other weight is exactly 0)
    only op *active* runs and the other weights are added as scalars: the same value, and each of them still gets
    a gradient (GDAS).

    After :meth:`set_partial_channels` with ``k > 1`` (PC-DARTS) the ops are built for ``C / k`` channels and run on
    the first ``C / k`` input channels; the other channels bypass them (through a 2x2 max-pool
    on stride-2 edges) and are concatenated after the ops' sum, and the result is shuffled with ``k`` groups
    (:func:`channel_shuffle`).
    """

    def __init__(self, C: int, stride: int, ops: Mapping[str, OpFactory], primitives: Sequence[str],
                 speedups: Speedups = Speedups.off(), pool_bn: bool = False):
        super().__init__()
        self.C, self.stride, self.k = C, stride, 1
        self.primitives = tuple(primitives)
        self._factory = (ops, pool_bn)
        self.speedups = speedups = built_speedups(speedups)
        self._ops = self._build(C)
        self._configure_paths()

    def _build(self, C: int) -> nn.ModuleList:
        ops, pool_bn = self._factory
        built = nn.ModuleList()
        for p in self.primitives:
            op = ops[p](C, self.stride, False)
            if pool_bn and "pool" in p:
                op = nn.Sequential(op, nn.BatchNorm2d(C, affine=False))
            built.append(op)
        return built

    def _configure_paths(self) -> None:
        speedups = self.speedups
        self._leading_relu = any(_split_op(op)[0] is not None for op in self._ops)
        skip = [speedups.skip_none and p == ZERO_OP for p in self.primitives]
        self._skip = skip if not all(skip) else [False] * len(skip)
        self._plain = not (speedups.shared_relu or speedups.fold_weights or speedups.recompute_depthwise
                           or any(self._skip))

    def check_partial_channels(self, k: int) -> None:
        """One-line :class:`ConfigError` unless this edge can run on ``C / k`` channels."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"partial channels k must be a positive integer, got {k!r:.40}; set "
                              "model.init_args.search_strategy.init_args.k, e.g. 4")
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
        (the others have weight exactly 0 and are left out; see :class:`~unnas.spaces.oneshot.OpWeights`)."""
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


__all__ = ["MixedOp", "OpFactory", "ZERO_OP", "channel_shuffle"]
