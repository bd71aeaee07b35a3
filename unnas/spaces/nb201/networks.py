"""The NAS-Bench-201 evaluation network (``xautodl/models/cell_infers/tiny_network.py``, ``cells.py``).

``TinyNetwork``: a 3x3 conv + BN stem to ``C`` channels; three stages of ``N`` cells at ``C``, ``2C`` and ``4C``
channels with a stride-2 :class:`~unnas.spaces.nb201.ops.ResNetBasicblock` between stages; then BN -> ReLU
(``lastact``) and the objective's head. With the default head (GAP + linear, as the official ``global_pooling``
and ``classifier``) the parameters are exactly the official network's: ``C=16, N=5`` gives NAS-Bench-201's
``params`` for every cell (tests/spaces/nb201/test_nb201_networks.py checks all 491 x 3 entries of NASLib's
table). ``forward`` returns ``(logits, None)`` like the DARTS networks (the official one returns
``(pooled features, logits)``).
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import torch
from torch import nn

from unnas.spaces.base import check_positive
from pretext_tasks.heads import HeadFactory, classifier_head
from unnas.spaces.nb201.cell import EDGES, NB201Cell, parse_cell
from unnas.spaces.nb201.ops import OPS, ResNetBasicblock
from unnas.spaces.speedups import Speedups, built_speedups, apply_speedups, to_layout


def as_cell(arch: Any) -> NB201Cell:
    """*arch* as a checked :class:`NB201Cell` (a cell, or anything :func:`parse_cell` reads)."""
    return parse_cell(arch)


class InferCell(nn.Module):
    """A NAS-Bench-201 cell with fixed ops: node ``i`` = sum over ``j < i`` of ``op(i<-j)(node j)``.

    All 6 edges are built, ``none`` included (a ``Zero``, as the official ``InferCell``); input and output have
    ``C`` channels and the same resolution (the only way ``TinyNetwork`` uses cells).
    """

    def __init__(self, cell: Any, C: int, affine: bool = True):
        super().__init__()
        self.cell = as_cell(cell)
        self.layers = nn.ModuleList(OPS[op](C, 1, affine) for op in self.cell)
        self.C = C

    def forward(self, x):
        nodes = [x]
        for node in (1, 2, 3):
            out = None
            for e, (i, j) in enumerate(EDGES):
                if i == node:
                    y = self.layers[e](nodes[j])
                    out = y if out is None else out + y
            nodes.append(out)
        return nodes[-1]

    def extra_repr(self) -> str:
        return f"C={self.C}, {self.cell}"


def check_shape(where: str, C: int, N: int, num_classes: int, input_channels: int, head) -> None:
    """One-line :class:`~unnas.errors.ConfigError` unless the sizes of a NAS-Bench-201 network are positive integers
    (*num_classes* only matters without a *head*). Any ``C >= 1`` builds: stages double it, and no op halves it."""
    check_positive(where, C=C, N=N, input_channels=input_channels)
    if head is None:
        check_positive(where, num_classes=num_classes)


def build_skeleton(net: nn.Module, C: int, N: int, input_channels: int, make_cell) -> int:
    """NAS-Bench-201's macro skeleton on *net*: ``stem`` (3x3 conv + BN), ``cells`` (three stages of N cells from
    ``make_cell(C_stage)`` at C, 2C, 4C with a stride-2 :class:`ResNetBasicblock` between stages) and ``lastact``
    (BN + ReLU). Returns the final channel count."""
    net.stem = nn.Sequential(nn.Conv2d(input_channels, C, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(C))
    net.cells = nn.ModuleList()
    C_prev = C
    for stage, C_curr in enumerate((C, 2 * C, 4 * C)):
        if stage > 0:
            net.cells.append(ResNetBasicblock(C_prev, C_curr, 2))
        for _ in range(N):
            net.cells.append(make_cell(C_curr))
        C_prev = C_curr
    net.lastact = nn.Sequential(nn.BatchNorm2d(C_prev), nn.ReLU(inplace=True))
    return C_prev


class TinyNetwork(nn.Module):
    """NAS-Bench-201's network for one cell.

    Args:
        cell: an :class:`NB201Cell` or any text :func:`parse_cell` reads.
        C: channels of the first stage (NAS-Bench-201: 16).
        N: cells per stage (NAS-Bench-201: 5).
        num_classes: outputs of the default head (ignored when *head* is given): 10, 100 or 120.
        input_channels: channels of the network input (1 for colorization).
        head: the objective's head factory ``head(in_channels) -> Head``; default GAP + linear.
        speedups: performance switches; ``channels_last`` is the one that acts on this network.
    """

    def __init__(self, cell: Any, C: int = 16, N: int = 5, num_classes: int = 10, input_channels: int = 3,
                 head: Optional[HeadFactory] = None, speedups: Speedups = Speedups()):
        super().__init__()
        check_shape("TinyNetwork", C, N, num_classes, input_channels, head)
        self.cell = as_cell(cell)
        self.C, self.N = C, N
        self.speedups = speedups = built_speedups(speedups)
        C_prev = build_skeleton(self, C, N, input_channels, lambda C_curr: InferCell(self.cell, C_curr))
        self.head = (head or classifier_head(num_classes))(C_prev)
        self.out_channels = C_prev
        apply_speedups(self, speedups)

    def forward(self, x) -> Tuple[torch.Tensor, None]:
        x = to_layout(self.head.fold(x), self.speedups)
        input_size = tuple(x.shape[-2:])
        feature = self.stem(x)
        for cell in self.cells:
            feature = cell(feature)
        return self.head(self.lastact(feature), input_size), None

    def extra_repr(self) -> str:
        return f"C={self.C}, N={self.N}, cell={self.cell}"


__all__ = ["InferCell", "TinyNetwork"]
