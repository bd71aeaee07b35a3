"""The candidate operations of NAS-Bench-201 (``xautodl/models/cell_operations.py``, ``NAS_BENCH_201``).

``OPS[name](C, stride, affine)`` builds an op that keeps the channel count ``C``; the signature is that of
:data:`unnas.spaces.darts.ops.OPS`, so :class:`unnas.spaces.oneshot.MixedOp` builds NAS-Bench-201's mixed
edges with ``ops=OPS, pool_bn=False``. Inside NAS-Bench-201 cells every edge has stride 1 and equal input and
output channels (``TinyNetwork`` puts the resolution changes into :class:`ResNetBasicblock`), so the official
ops' ``C_in != C_out`` branches (a 1x1 ReLU-conv-BN before pooling, a ``FactorizedReduce`` skip, a fresh-zeros
``Zero``) never occur there and are not reproduced; ``stride=2`` still builds (the skip becomes DARTS's
``FactorizedReduce``, the zero and the pool subsample), for completeness only.

What the official code does with BatchNorm and biases (D-X-Y/AutoDL-Projects, read: ``lib/models/cell_operations.py``,
``lib/models/cell_infers/tiny_network.py``, ``lib/models/cell_searchs/search_model_darts.py``,
``xautodl/models/cell_infers/cells.py``, ``xautodl/models/cell_searchs/search_cells.py``,
``xautodl/models/cell_searchs/genotypes.py``, ``exps/NAS-Bench-201-algos/DARTS-V1.py`` and
``docs/NAS-Bench-201.md``):

- evaluation network (``TinyNetwork`` / ``InferCell``): every op is built with ``affine=True`` and
  ``track_running_stats=True`` (the defaults), so every BN in the cells is affine; the stem BN, the BNs of the
  :class:`ResNetBasicblock` and the final ``lastact`` BN are plain ``nn.BatchNorm2d`` (affine);
- DARTS search supernet (``TinyNetworkDarts`` with ``NAS201SearchCell``, whose defaults are ``affine=False``,
  ``track_running_stats=True``): ``DARTS-V1.py`` builds it with ``affine=False`` and ``track_running_stats`` from
  ``--track_running_stats``, which the documented baseline commands set to ``1``. That is what
  :class:`~unnas.spaces.oneshot.MixedOp` builds (``affine=False``, running statistics tracked). The stem,
  the two ``ResNetBasicblock`` s (``ResNetBasicblock(C_prev, C_curr, 2)``, i.e. their defaults) and ``lastact``
  stay affine there too. Pooling ops get no BN in NAS-Bench-201 (unlike DARTS's search cell);
- the convs of ``ReLUConvBN`` and of the residual block are bias-free in ``lib/models/cell_operations.py``, the
  code the benchmark was trained with. Later ``xautodl`` copies (as forks carry it, e.g. HY-HE/IS-DARTS) write
  ``bias=not affine`` in ``ReLUConvBN``, which gives only the non-affine *search* convs a bias; a per-channel
  bias right before a BN is removed by its batch normalisation in training. Here every conv is bias-free, and the evaluation
  network's parameter count equals NAS-Bench-201's ``params`` (tested on all 491 x 3 entries of NASLib's table).
"""

from __future__ import annotations

from typing import Callable, Dict, Optional

from torch import nn

from unnas.spaces.darts import ops as darts_ops

#: The 5 candidate ops of NAS-Bench-201 in the benchmark's order; it defines the columns of the alphas and the
#: op digits of :func:`unnas.spaces.nb201.cell.cell_index`.
PRIMITIVES = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv(k, bias-free) -> BN: the official ``ReLUConvBN`` (there the same three layers sit in a
    ``Sequential`` named ``op``). A ``Sequential`` itself, so the supernet's fused paths can split off the ReLU and
    the final non-affine BN."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int, affine: bool = True,
                 track_running_stats: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track_running_stats),
        )


class Zero(darts_ops.Zero):
    """The ``none`` op: ``x * 0`` (subsampled for stride 2), as the official ``Zero`` for ``C_in == C_out``.

    A subclass of DARTS's ``Zero`` so that the supernet's ``skip_none`` switch recognises it.
    """


class Identity(darts_ops.Identity):
    """The ``skip_connect`` op at stride 1."""


class ResNetBasicblock(nn.Module):
    """The official residual block between NAS-Bench-201's stages.

    ``conv_a`` = ReLUConvBN(3x3, *stride*), ``conv_b`` = ReLUConvBN(3x3, 1); the shortcut is, for stride 2,
    ``AvgPool2d(2, 2)`` then a bias-free 1x1 conv (no BN, no ReLU); for stride 1 with a channel change a 1x1
    ReLUConvBN; otherwise the identity. Output = shortcut + conv_b(conv_a(x)).

    The shortcut's pool uses ``ceil_mode=True``: on even sizes (all of NAS-Bench-201's) that is exactly the
    official pool; on odd sizes the official block fails (the pool gives ``floor(H/2)``, the strided conv
    ``ceil(H/2)``), here the last row/column is averaged on its own, so e.g. jigsaw tiles of 6x6 (16x16 images)
    work.
    """

    def __init__(self, inplanes: int, planes: int, stride: int, affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"ResNetBasicblock: stride must be 1 or 2, got {stride}")
        self.conv_a = ReLUConvBN(inplanes, planes, 3, stride, 1, affine, track_running_stats)
        self.conv_b = ReLUConvBN(planes, planes, 3, 1, 1, affine, track_running_stats)
        self.downsample: Optional[nn.Module]
        if stride == 2:
            self.downsample = nn.Sequential(
                nn.AvgPool2d(kernel_size=2, stride=2, padding=0, ceil_mode=True),
                nn.Conv2d(inplanes, planes, kernel_size=1, stride=1, padding=0, bias=False),
            )
        elif inplanes != planes:
            self.downsample = ReLUConvBN(inplanes, planes, 1, 1, 0, affine, track_running_stats)
        else:
            self.downsample = None
        self.in_dim, self.out_dim, self.stride = inplanes, planes, stride

    def forward(self, x):
        residual = x if self.downsample is None else self.downsample(x)
        return residual + self.conv_b(self.conv_a(x))

    def extra_repr(self) -> str:
        return f"inC={self.in_dim}, outC={self.out_dim}, stride={self.stride}"


def _skip(C: int, stride: int, affine: bool) -> nn.Module:
    return Identity() if stride == 1 else darts_ops.FactorizedReduce(C, C, affine=affine)


OpFactory = Callable[[int, int, bool], nn.Module]

#: ``name -> factory(C, stride, affine)`` for the 5 NAS-Bench-201 ops.
OPS: Dict[str, OpFactory] = {
    "none": lambda C, stride, affine: Zero(stride),
    "skip_connect": _skip,
    "nor_conv_1x1": lambda C, stride, affine: ReLUConvBN(C, C, 1, stride, 0, affine),
    "nor_conv_3x3": lambda C, stride, affine: ReLUConvBN(C, C, 3, stride, 1, affine),
    "avg_pool_3x3": lambda C, stride, affine: nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False),
}

__all__ = ["PRIMITIVES", "OPS", "ReLUConvBN", "Zero", "Identity", "ResNetBasicblock"]
