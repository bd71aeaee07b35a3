"""Supervised classification: the baseline objective of UnNAS (``TASK: cls``)."""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from pretext_tasks.registry import register
from pretext_tasks.base import PretextTask, Style, as_float_images
from pretext_tasks.heads import ClassifierHead, Head


@register
class Supervised(PretextTask):
    """Predict the dataset label: global average pooling + one linear layer.

    Augmentation is UnNAS's ``prepare_im``: CIFAR style normalises, then (train only) flips and takes a
    random 32-crop of the zero-padded (4 px) image; ImageNet style takes an Inception crop on the CPU
    (:meth:`sample_transform`), then (train only) flips and applies PCA lighting, then normalises.

    Args:
        num_classes: number of dataset classes (10 for CIFAR-10, 1000 for ImageNet).
        style: "cifar" or "imagenet" recipe.
        mean, std: per-channel RGB statistics; default the CIFAR-10 or ImageNet ones.
        crop_size: ImageNet-style crop side (224).
        resize_size: ImageNet-style test resize of the short side before the centre crop (256).
    """

    name = "supervised"
    label = "Supervised"
    order = 0
    default_study = True
    color = "#e15759"
    needs_labels = True
    input_channels = 3

    def __init__(self, num_classes: int = 10, style: Style = "cifar", mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None, crop_size: int = 224, resize_size: int = 256):
        super().__init__(style=style, mean=mean, std=std, crop_size=crop_size, resize_size=resize_size)
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        self.num_classes = int(num_classes)

    def head(self, in_channels: int) -> Head:
        return ClassifierHead(in_channels, self.num_classes)

    def prepare(self, images: Tensor, labels: Optional[Tensor], *, train: bool,
                generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
        """Augment and normalise *images*; the targets are *labels* (required)."""
        if labels is None:
            raise ValueError(
                "the supervised objective needs labels; this batch has none. Use a labelled dataset, "
                "or a pretext task that makes its own targets (Rotation, Colorization, Jigsaw)")
        images = as_float_images(images)
        labels = torch.as_tensor(labels)
        if labels.shape != (images.shape[0],):
            raise ValueError(f"expected one label per image ({images.shape[0]}), "
                             f"got labels of shape {list(labels.shape)}")
        x = self.standard_augment(images, train, generator)
        return x, labels.to(device=x.device, dtype=torch.long)
