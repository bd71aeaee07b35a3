"""Random labels (RLNAS, Zhang et al. CVPR 2021): every image carries a fixed, random class."""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from pretext_tasks.registry import register
from pretext_tasks.base import PretextTask, Style, as_float_images
from pretext_tasks.heads import ClassifierHead, Head

# Modulus of the image hash: a prime, so the hash of two different images collides with probability 1/P.
HASH_PRIME = 2 ** 31 - 1


def image_hash_labels(images: Tensor, num_classes: int, seed: int) -> Tensor:
    """A class in ``[0, num_classes)`` per image, a fixed function of its pixels and *seed*.

    The pixels are quantised to 8 bits (``round(255 x)``; uint8 as is) and hashed with
    ``sum_i q_i w_i mod P`` (P = 2^31 - 1), where the weights ``w_i`` in ``[1, P)`` are drawn from a
    generator seeded with *seed* (one per pixel position and channel). For random weights this is a
    universal hash: two different images share a hash value with probability 1/P, so labels are
    uniform over the classes across images, and the same image always gets the same label under a seed.
    """
    if images.dim() != 4:
        raise ValueError(f"expected a batch of images [B, C, H, W], got {list(images.shape)}")
    if images.dtype == torch.uint8:
        q = images.to(torch.int64)
    else:
        q = torch.round(images.float().clamp(0, 1) * 255).to(torch.int64)
    q = q.flatten(1)
    weights = torch.randint(1, HASH_PRIME, (q.shape[1],), generator=torch.Generator().manual_seed(int(seed)))
    # 8-bit values times 31-bit weights summed over at most ~10^7 positions stay inside int64.
    h = (q * weights.to(q.device)).sum(dim=1) % HASH_PRIME
    return h % num_classes


@register
class RandomLabels(PretextTask):
    """Classify each image into a random class that is fixed for that image (RLNAS's training signal).

    The batch carries no image index, so the label is derived from the image content: a seeded hash of
    its 8-bit pixels (:func:`image_hash_labels`), computed before augmentation. Labels are uniform over
    the classes across images and independent of the dataset labels (which are ignored); identical
    images share a label. Augmentation is the supervised one (:meth:`PretextTask.standard_augment`).

    ImageNet style: the label must see the same pixels every epoch, so the CPU transform is
    ``Resize(resize_size) + CenterCrop(crop_size)`` for training as well (no Inception crop); flips and
    PCA lighting still apply in :meth:`prepare`.

    Held-out images have their own random labels, which nothing learnt on the training images can
    predict: the held-out accuracy is chance (1 / num_classes) in expectation for every network. A study
    therefore ranks this objective as RLNAS does, by the angle between the network's initial and trained weights
    (``rank_metric = "weight_angle"``, recorded with every training run by
    :class:`~unnas.modules.train_callbacks.WeightAngle`; larger: predicted better). The last epoch's training
    accuracy (``train_acc``), how well the network fits its random labels, stays in every record.

    Args:
        num_classes: number of random classes (10, as CIFAR-10).
        seed: seed of the label hash; another seed gives another labelling.
        style, mean, std, crop_size, resize_size: as :class:`~pretext_tasks.Supervised`.
    """

    name = "random_labels"
    label = "Random labels"
    order = 4
    default_study = False
    color = "#b07aa1"
    needs_labels = False
    random_crop = False
    rank_metric = "weight_angle"
    input_channels = 3

    def __init__(self, num_classes: int = 10, seed: int = 0, style: Style = "cifar",
                 mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None,
                 crop_size: int = 224, resize_size: int = 256):
        super().__init__(style=style, mean=mean, std=std, crop_size=crop_size, resize_size=resize_size)
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        self.num_classes = int(num_classes)
        self.seed = int(seed)

    def head(self, in_channels: int) -> Head:
        return ClassifierHead(in_channels, self.num_classes)

    def prepare(self, images: Tensor, labels: Optional[Tensor], *, train: bool,
                generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
        """Targets: the images' hash labels (dataset *labels* are ignored); inputs: the supervised augmentation."""
        as_float_images(images)  # rejects anything but a [B, 3, H, W] batch
        targets = image_hash_labels(images, self.num_classes, self.seed)
        x = self.standard_augment(images, train, generator)
        return x, targets.to(x.device)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, seed={self.seed}"
