"""The DARTS supernet of NAS-Bench-201 (AutoDL-Projects ``cell_searchs/search_model_darts.py``, ``TinyNetworkDarts``,
with ``cell_searchs/search_cells.py``'s ``NAS201SearchCell``).

The macro skeleton is :class:`~unnas.spaces.nb201.networks.TinyNetwork`'s (stem, 3 stages of ``N`` cells, two
stride-2 ``ResNetBasicblock`` s, BN + ReLU, head); every cell edge is a mixed op over the 5 ops weighted by
``softmax(alpha)`` (or by the op weights a search strategy installs), and ONE alpha matrix ``[6, 5]``
(``1e-3 * randn``, rows in arch-string edge order ``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2``, which is also the
official ``edge2index`` order) is shared by all cells.
The cells' BNs are non-affine with tracked running statistics (the official search scripts: ``affine=False``,
``--track_running_stats 1`` in the documented commands); pooling gets no BN. The stem, the residual blocks and
``lastact`` keep affine BNs, as in the official search model.

Derivation (the official ``genotype()``): per edge the op with the largest alpha, ``none`` included; ties go to
the lower op index.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pretext_tasks.heads import HeadFactory, classifier_head
from unnas.spaces.nb201.cell import EDGES, NB201Cell
from unnas.spaces.nb201.networks import build_skeleton, check_shape
from unnas.spaces.nb201.ops import OPS, PRIMITIVES
from unnas.spaces.oneshot import CellWeights, MixedOp, Supernet
from unnas.spaces.speedups import Speedups, built_speedups, apply_speedups, to_layout

#: Row labels of the alpha matrix, in arch-string edge order.
EDGE_LABELS = [f"node {i} <- node {j}" for i, j in EDGES]


def derive_cell(alphas, primitives: Sequence[str] = PRIMITIVES) -> NB201Cell:
    """The cell of per-edge argmax over *alphas* ``[6, len(primitives)]`` (raw alphas or their softmax: same
    argmax), all ops including ``none``; ties to the lower op index."""
    a = np.asarray(alphas, dtype=np.float64)
    if a.shape != (len(EDGES), len(primitives)):
        raise ValueError(f"alphas must have shape [{len(EDGES)}, {len(primitives)}], got {list(a.shape)}")
    return NB201Cell(*(primitives[int(np.argmax(row))] for row in a))


class SearchCell(nn.Module):
    """All 6 edges as :class:`~unnas.spaces.oneshot.MixedOp` s over the NAS-Bench-201 ops (stride 1, no BN after
    pooling)."""

    def __init__(self, C: int, primitives: Sequence[str] = PRIMITIVES, speedups: Speedups = Speedups.off()):
        super().__init__()
        self.edges = nn.ModuleList(MixedOp(C, 1, OPS, primitives, speedups) for _ in EDGES)

    def forward(self, x, weights, edge_weights: Optional[torch.Tensor] = None):
        """*weights*: the cell's :class:`~unnas.spaces.oneshot.CellWeights` (or its op weights: an
        :class:`~unnas.spaces.oneshot.OpWeights` or a plain ``[6, ops]`` tensor, with *edge_weights*)."""
        weights = CellWeights.of(weights, edge_weights)
        nodes = [x]
        for node in (1, 2, 3):
            out = None
            for e, (i, j) in enumerate(EDGES):
                if i == node:
                    y = weights.edge_output(self.edges[e], nodes[j], e)
                    out = y if out is None else out + y
            nodes.append(out)
        return nodes[-1]


class NB201Supernet(Supernet):
    """NAS-Bench-201's DARTS search network (a :class:`~unnas.spaces.oneshot.Supernet`).

    Args:
        C: channels of the first stage (official: 16).
        N: search cells per stage (official: 5).
        num_classes: outputs of the default head (ignored when *head* is given).
        input_channels: channels of the network input.
        head: the objective's head factory; default GAP + linear.
        primitives: candidate ops (default all 5, in NAS-Bench-201's order).
        speedups: the exact performance switches of :class:`~unnas.spaces.speedups.Speedups` (``shared_relu``,
            ``fold_weights``, ``skip_none`` act on the mixed ops, ``channels_last`` on the layout).
    """

    def __init__(self, C: int = 16, N: int = 5, num_classes: int = 10, input_channels: int = 3,
                 head: Optional[HeadFactory] = None, primitives: Sequence[str] = PRIMITIVES,
                 speedups: Speedups = Speedups()):
        super().__init__()
        self.primitives = tuple(primitives)
        unknown = [p for p in self.primitives if p not in OPS]
        if unknown or not self.primitives:
            raise ValueError(f"unknown primitive(s) {unknown}; known ops: {', '.join(PRIMITIVES)}")
        check_shape("NB201Supernet", C, N, num_classes, input_channels, head)
        self.C, self.N = C, N
        self.speedups = speedups = built_speedups(speedups)
        C_prev = build_skeleton(self, C, N, input_channels, lambda C_curr: SearchCell(C_curr, self.primitives, speedups))
        self.head = (head or classifier_head(num_classes))(C_prev)
        self.alphas = nn.Parameter(1e-3 * torch.randn(len(EDGES), len(self.primitives)))
        apply_speedups(self, speedups)

    beta_names = {"cell": "betas"}

    def arch_parameters(self) -> List[nn.Parameter]:
        return [self.alphas, *self.beta_parameters()]

    def mixed_ops(self) -> List[MixedOp]:
        return [e for cell in self.cells if isinstance(cell, SearchCell) for e in cell.edges]

    def node_in_degrees(self) -> List[int]:
        return [sum(1 for i, _ in EDGES if i == node) for node in (1, 2, 3)]

    def arch_weights(self) -> Dict[str, np.ndarray]:
        return {"cell": F.softmax(self.alphas.detach().float(), dim=-1).cpu().numpy()}

    def edge_labels(self, key: str) -> List[str]:
        if key != "cell":
            raise KeyError(f"NAS-Bench-201's supernet has one alpha matrix, 'cell', not {key!r}")
        return list(EDGE_LABELS)

    @torch.no_grad()
    def genotype(self) -> NB201Cell:
        """The official derivation: per edge the op with the largest alpha (``none`` included). Edge normalisation
        scales a whole row by a positive factor, which leaves its argmax unchanged, so the betas play no part."""
        return derive_cell(self.alphas.detach().double().cpu().numpy(), self.primitives)

    def forward(self, x):
        x = to_layout(self.head.fold(x), self.speedups)
        input_size = tuple(x.shape[-2:])
        weights = self.cell_weights(self.alphas, "cell")
        feature = self.stem(x)
        for cell in self.cells:
            feature = cell(feature, weights) if isinstance(cell, SearchCell) else cell(feature)
        return self.head(self.lastact(feature), input_size)


__all__ = ["NB201Supernet", "SearchCell", "derive_cell", "EDGE_LABELS"]
