"""Evaluation networks built from a genotype: DARTS's ``NetworkCIFAR`` and ``NetworkImageNet``.

Structure follows DARTS's ``model.py``: a stem, ``layers`` cells with reduction cells at
``layers // 3`` and ``2 * layers // 3``, an optional auxiliary head after the second reduction, and
the objective's head. ``forward`` returns ``(logits, aux_logits)`` like DARTS; ``aux_logits`` is
``None`` unless the network is training and was built with ``auxiliary=True``.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
from torch import nn

from unnas.errors import ConfigError
from unnas.spaces.base import check_positive
from unnas.spaces.darts.genotype import Edge, GenotypeLike, load_genotype
from pretext_tasks.heads import HeadFactory, classifier_head
from unnas.spaces.darts.ops import OPS, FactorizedReduce, Identity, ReLUConvBN
from unnas.spaces.speedups import Speedups, built_speedups, apply_speedups, cat_channels, to_layout


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability *drop_prob* and rescale the rest (DARTS's drop path)."""
    if drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask


def reduction_indices(layers: int) -> Tuple[int, int]:
    """Positions of the two reduction cells in a stack of *layers* cells."""
    return layers // 3, 2 * layers // 3


def check_depth(layers: int) -> None:
    """One-line :class:`ConfigError` unless a stack of *layers* cells holds a normal cell and two reductions."""
    if layers < 3:
        raise ConfigError(f"layers={layers} is too small: a DARTS network needs at least 3 cells (the cells at "
                          f"layers//3 and 2*layers//3 are reductions, and fewer cells leave no normal cell)")


def check_imagenet_channels(C: int) -> None:
    """One-line :class:`ConfigError` unless DARTS's ImageNet stems and first cell can be built with *C* channels."""
    if C % 2:
        raise ConfigError(f"channels={C} is odd: DARTS's ImageNet network needs an even channel count (its first stem "
                          f"conv has C/2 channels and its first cell halves input 0 with FactorizedReduce)")


def check_shape(where: str, C: int, layers: int, num_classes: int, input_channels: int, head) -> None:
    """The checks every DARTS network and supernet builder makes on its sizes (one-line :class:`ConfigError`)."""
    check_positive(where, C=C, layers=layers, input_channels=input_channels)
    if head is None:
        check_positive(where, num_classes=num_classes)
    check_depth(layers)


class Cell(nn.Module):
    """A cell of a fixed genotype: node k sums ``op[2k](state[j0]) + op[2k+1](state[j1])``."""

    def __init__(self, edges: Sequence[Edge], concat: Sequence[int], C_prev_prev: int, C_prev: int, C: int,
                 reduction: bool, reduction_prev: bool, speedups: Speedups = Speedups.off()):
        super().__init__()
        self.speedups = speedups = built_speedups(speedups)
        # Preprocessing runs even for an input that no edge reads, as in DARTS (its params count too).
        self.preprocess0 = FactorizedReduce(C_prev_prev, C) if reduction_prev else ReLUConvBN(C_prev_prev, C, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0)
        self.reduction = reduction
        self._indices = [j for _, j in edges]
        self._concat = list(concat)
        self.multiplier = len(self._concat)
        self._ops = nn.ModuleList(OPS[op](C, 2 if reduction and j < 2 else 1, True) for op, j in edges)
        self._droppable = [not isinstance(op, Identity) for op in self._ops]

    def forward(self, s0, s1, drop_prob: float = 0.0):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for k in range(len(self._ops) // 2):
            h = []
            for t in (2 * k, 2 * k + 1):
                out = self._ops[t](states[self._indices[t]])
                if self.training and drop_prob > 0.0 and self._droppable[t]:
                    out = drop_path(out, drop_prob)
                h.append(out)
            states.append(h[0] + h[1])
        return cat_channels([states[i] for i in self._concat], self.speedups)


class AuxiliaryTrunk(nn.Module):
    """DARTS's auxiliary tower up to its 768-d feature; the objective's head classifies that feature.

    ``imagenet=True`` gives DARTS's ImageNet tower, which has no BatchNorm after the 768-channel conv.
    """

    def __init__(self, C: int, imagenet: bool):
        super().__init__()
        layers: List[nn.Module] = [
            nn.ReLU(inplace=True),
            nn.AvgPool2d(5, stride=2 if imagenet else 3, padding=0, count_include_pad=False),
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
        ]
        if not imagenet:
            layers.append(nn.BatchNorm2d(768))
        layers.append(nn.ReLU(inplace=True))
        self.features = nn.Sequential(*layers)

    def forward(self, x):
        return self.features(x)


class _CellNetwork(nn.Module):
    """Shared stack-of-cells logic; subclasses provide the stem."""

    auxiliary_imagenet = False

    def _build_cells(self, genotype, C_stem: int, C: int, layers: int, first_reduction_prev: bool,
                     auxiliary: bool, head: HeadFactory) -> None:
        C_prev_prev, C_prev, C_curr = C_stem, C_stem, C
        reduction_prev = first_reduction_prev
        self.cells = nn.ModuleList()
        reductions = reduction_indices(layers)
        self._aux_after = reductions[1]
        for i in range(layers):
            reduction = i in reductions
            if reduction:
                C_curr *= 2
            edges, concat = (genotype.reduce, genotype.reduce_concat) if reduction else (genotype.normal, genotype.normal_concat)
            cell = Cell(edges, concat, C_prev_prev, C_prev, C_curr, reduction, reduction_prev, self.speedups)
            self.cells.append(cell)
            reduction_prev = reduction
            C_prev_prev, C_prev = C_prev, cell.multiplier * C_curr
            if i == self._aux_after:
                C_aux = C_prev
        self.auxiliary_trunk = AuxiliaryTrunk(C_aux, self.auxiliary_imagenet) if auxiliary else None
        self.auxiliary_head = head(768) if auxiliary else None
        self.head = head(C_prev)
        self.out_channels = C_prev

    def stem_forward(self, x) -> Tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def forward(self, x) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        x = to_layout(self.head.fold(x), self.speedups)
        input_size = tuple(x.shape[-2:])
        s0, s1 = self.stem_forward(x)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self._aux_after and self.auxiliary_trunk is not None and self.training:
                aux = self.auxiliary_head(self.auxiliary_trunk(s1), input_size)
        return self.head(s1, input_size), aux


class NetworkCIFAR(_CellNetwork):
    """DARTS's CIFAR network: 3x3 conv stem with ``stem_multiplier * C`` channels, then the cells.

    Args:
        genotype: anything :func:`load_genotype` accepts.
        C: initial channels (DARTS: 36; UnNAS sample study: 16).
        num_classes: outputs of the default classifier head (ignored when *head* is given).
        layers: number of cells (DARTS: 20).
        auxiliary: build DARTS's auxiliary head after cell ``2 * layers // 3``.
        drop_path_prob: drop-path probability; training code ramps it per epoch.
        input_channels: channels of the network input (1 for colorization).
        head: factory for the objective's head; default is GAP + linear with *num_classes*.
        speedups: performance switches (those in ``speedups.NETWORK_SWITCHES`` apply here).

    Sizes are positive integers and ``layers >= 3``; otherwise a one-line :class:`~unnas.errors.ConfigError`.
    """

    def __init__(self, genotype: GenotypeLike, C: int = 36, num_classes: int = 10, layers: int = 20,
                 auxiliary: bool = False, drop_path_prob: float = 0.0, input_channels: int = 3,
                 head: Optional[HeadFactory] = None, stem_multiplier: int = 3, speedups: Speedups = Speedups()):
        super().__init__()
        check_shape("NetworkCIFAR", C, layers, num_classes, input_channels, head)
        check_positive("NetworkCIFAR", stem_multiplier=stem_multiplier)
        self.speedups = speedups = built_speedups(speedups)
        genotype = load_genotype(genotype)
        self.genotype = genotype
        self.drop_path_prob = drop_path_prob
        C_stem = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(input_channels, C_stem, 3, padding=1, bias=False), nn.BatchNorm2d(C_stem))
        self._build_cells(genotype, C_stem, C, layers, False, auxiliary, head or classifier_head(num_classes))
        apply_speedups(self, speedups)

    def stem_forward(self, x):
        s = self.stem(x)
        return s, s


class NetworkImageNet(_CellNetwork):
    """DARTS's ImageNet network: two stride-2 stems (overall stride 8 before the first cell).

    Arguments as :class:`NetworkCIFAR`; defaults follow DARTS (C=48, 14 layers, 1000 classes). *C* must be even.
    """

    auxiliary_imagenet = True

    def __init__(self, genotype: GenotypeLike, C: int = 48, num_classes: int = 1000, layers: int = 14,
                 auxiliary: bool = False, drop_path_prob: float = 0.0, input_channels: int = 3,
                 head: Optional[HeadFactory] = None, speedups: Speedups = Speedups()):
        super().__init__()
        check_shape("NetworkImageNet", C, layers, num_classes, input_channels, head)
        check_imagenet_channels(C)
        self.speedups = speedups = built_speedups(speedups)
        genotype = load_genotype(genotype)
        self.genotype = genotype
        self.drop_path_prob = drop_path_prob
        self.stem0 = nn.Sequential(
            nn.Conv2d(input_channels, C // 2, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C),
        )
        self.stem1 = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C),
        )
        self._build_cells(genotype, C, C, layers, True, auxiliary, head or classifier_head(num_classes))
        apply_speedups(self, speedups)

    def stem_forward(self, x):
        s0 = self.stem0(x)
        return s0, self.stem1(s0)
