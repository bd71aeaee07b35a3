"""Rotation prediction (Gidaris et al. 2018) as in UnNAS (``TASK: rot``)."""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from pretext_tasks.registry import register
from pretext_tasks.base import PretextTask, Style, as_float_images
from pretext_tasks.heads import ClassifierHead, Head


@register
class Rotation(PretextTask):
    """Predict by how many quarter turns an image was rotated.

    After the supervised augmentation, every image enters the batch four times, rotated by 0, 90, 180
    and 270 degrees counter-clockwise (``torch.rot90(x, k, dims=(-2, -1))`` = ``np.rot90(im, k, (1, 2))``
    on CHW), with targets 0..3. A batch of B images gives 4B network samples, ordered image by image
    (image 0 at k = 0, 1, 2, 3, then image 1, ...), as UnNAS's collate function does. Labels are ignored.
    Test batches get all four rotations too.

    Args:
        style, mean, std, crop_size, resize_size: as :class:`~pretext_tasks.Supervised`.
    """

    name = "rotation"
    label = "Rotation"
    order = 1
    default_study = True
    color = "#4e79a7"
    needs_labels = False
    input_channels = 3
    num_classes = 4

    def __init__(self, style: Style = "cifar", mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None, crop_size: int = 224, resize_size: int = 256):
        super().__init__(style=style, mean=mean, std=std, crop_size=crop_size, resize_size=resize_size)

    def head(self, in_channels: int) -> Head:
        return ClassifierHead(in_channels, self.num_classes)

    def prepare(self, images: Tensor, labels: Optional[Tensor], *, train: bool,
                generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
        """Augment B images, then return their 4B rotated copies ``[4B, 3, H, W]`` and targets ``[4B]``."""
        images = as_float_images(images)
        if images.shape[-1] != images.shape[-2]:
            raise ValueError(f"rotation needs square images, got {images.shape[-2]}x{images.shape[-1]}")
        x = self.standard_augment(images, train, generator)
        rotated = torch.stack([torch.rot90(x, k, dims=(-2, -1)) for k in range(4)], dim=1)
        targets = torch.arange(4, device=x.device).repeat(x.shape[0])
        return rotated.flatten(0, 1), targets
