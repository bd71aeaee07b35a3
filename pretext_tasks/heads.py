"""Output heads: what a network puts after its last cell, chosen by the objective, not by the network.

A head receives the trunk's final feature map and the spatial size of the trunk's input. It may also
``fold`` the network input before the stem (jigsaw folds its tiles into the batch). Networks build
their head with a :data:`HeadFactory`, ``factory(in_channels) -> Head``, so a network never needs to
know which objective it serves.
"""

from __future__ import annotations

from typing import Callable, Tuple

import torch
import torch.nn.functional as F
from torch import nn


class Head(nn.Module):
    """Base head. Subclasses implement :meth:`forward`; :meth:`fold` maps the raw input to trunk input."""

    num_classes: int

    def fold(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def forward(self, features: torch.Tensor, input_size: Tuple[int, int]) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


HeadFactory = Callable[[int], Head]


class ClassifierHead(Head):
    """Global average pooling + one linear layer (DARTS's classifier)."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.classifier = nn.Linear(in_channels, num_classes)

    def forward(self, features, input_size):
        return self.classifier(features.mean(dim=(-2, -1)))


class DenseHead(Head):
    """1x1 conv to per-pixel class scores, bilinearly upsampled to the input size (UnNAS colorization)."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.classifier = nn.Conv2d(in_channels, num_classes, 1)

    def forward(self, features, input_size):
        logits = self.classifier(features)
        if tuple(logits.shape[-2:]) != tuple(input_size):
            logits = F.interpolate(logits, size=tuple(input_size), mode="bilinear", align_corners=True)
        return logits


class TileHead(Head):
    """Siamese tiles (UnNAS jigsaw): input ``[B, T, C, h, w]`` is folded to ``[B*T, C, h, w]``; each tile's
    pooled feature is concatenated in slot order and one linear layer classifies the ``B`` samples."""

    def __init__(self, in_channels: int, num_classes: int, num_tiles: int):
        super().__init__()
        self.num_classes = num_classes
        self.num_tiles = num_tiles
        self.classifier = nn.Linear(in_channels * num_tiles, num_classes)

    def fold(self, x):
        if x.dim() != 5 or x.shape[1] != self.num_tiles:
            raise ValueError(f"TileHead expects input [B, {self.num_tiles}, C, h, w], got {list(x.shape)}")
        return x.flatten(0, 1)

    def forward(self, features, input_size):
        pooled = features.mean(dim=(-2, -1))
        return self.classifier(pooled.reshape(-1, self.num_tiles * pooled.shape[-1]))


def classifier_head(num_classes: int) -> HeadFactory:
    """Factory for the default GAP + linear head with *num_classes* outputs."""
    return lambda in_channels: ClassifierHead(in_channels, num_classes)
