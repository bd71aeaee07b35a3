"""The DARTS search supernet (``model_search.py``) and genotype derivation from its alphas.

Every edge is a :class:`~unnas.spaces.oneshot.MixedOp` over the 8 PRIMITIVES weighted by ``softmax(alpha)`` (or by
the op weights a search strategy installs, :meth:`~unnas.spaces.oneshot.Supernet.set_op_weights`). Pooling ops are
followed by a non-affine BatchNorm and every BN inside the cells is non-affine. One pair of alphas
(``alphas_normal``, ``alphas_reduce``, shape ``[14, 8]`` for 4 nodes) is shared by all normal and all
reduction cells. The alphas are ``nn.Parameter``s (so DDP and checkpoints see them), kept apart from
the weights by :meth:`DartsSupernet.arch_parameters` and :meth:`DartsSupernet.weight_parameters`.
"""

from __future__ import annotations

from typing import Dict, List, Literal, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pretext_tasks.heads import HeadFactory, classifier_head
from unnas.errors import ConfigError
from unnas.spaces.base import check_positive
from unnas.spaces.darts.genotype import Genotype, make_genotype
from unnas.spaces.darts.networks import check_imagenet_channels, check_shape, reduction_indices
from unnas.spaces.darts.ops import OPS, PRIMITIVES, FactorizedReduce, ReLUConvBN
from unnas.spaces.oneshot import CellWeights, MixedOp, Supernet as SupernetInterface
from unnas.spaces.speedups import Speedups, built_speedups, apply_speedups, cat_channels, to_layout


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


def darts_mixed_op(C: int, stride: int, primitives: Sequence[str] = PRIMITIVES,
                   speedups: Speedups = Speedups.off()) -> MixedOp:
    """A mixed edge of DARTS's search cell: *primitives* of :data:`~unnas.spaces.darts.ops.OPS`, a non-affine BN
    after the pooling ops."""
    return MixedOp(C, stride, OPS, primitives, speedups, pool_bn=True)


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
        self.speedups = speedups = built_speedups(speedups)
        self._ops = nn.ModuleList(
            darts_mixed_op(C, 2 if reduction and j < 2 else 1, primitives, speedups)
            for i in range(steps) for j in range(i + 2)
        )

    def forward(self, s0, s1, weights, edge_weights: Optional[torch.Tensor] = None):
        """*weights*: the cell's :class:`~unnas.spaces.oneshot.CellWeights` (or its op weights: an
        :class:`~unnas.spaces.oneshot.OpWeights` or a plain ``[edges, ops]`` tensor, with *edge_weights*)."""
        weights = CellWeights.of(weights, edge_weights)
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(self._steps):
            s = sum(weights.edge_output(self._ops[offset + j], h, offset + j) for j, h in enumerate(states))
            offset += len(states)
            states.append(s)
        return cat_channels(states[-self._multiplier:], self.speedups)


class DartsSupernet(SupernetInterface):
    """DARTS's search network (a :class:`~unnas.spaces.oneshot.Supernet`).

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
        check_shape("DartsSupernet", C, layers, num_classes, input_channels, head)
        check_positive("DartsSupernet", steps=steps, multiplier=multiplier, stem_multiplier=stem_multiplier)
        check_multiplier(steps, multiplier)
        if stem == "imagenet":
            check_imagenet_channels(C)
        self.primitives = tuple(primitives)
        self.speedups = speedups = built_speedups(speedups)
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
        w_normal = self.cell_weights(self.alphas_normal, "normal")
        w_reduce = self.cell_weights(self.alphas_reduce, "reduce")
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, w_reduce if cell.reduction else w_normal)
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


#: the old name of :class:`DartsSupernet`, kept so that code and configs naming it keep working
Supernet = DartsSupernet
