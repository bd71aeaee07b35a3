"""Contrastive learning with the NT-Xent loss over two augmented views (SimCLR, Chen et al. ICML 2020)."""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from kornia.color import rgb_to_grayscale
from kornia.enhance import adjust_hue, adjust_saturation
from kornia.geometry.transform import crop_and_resize
from torch import Tensor, nn

from pretext_tasks.registry import register
from pretext_tasks.base import PretextTask, Style, as_float_images, draw_uniform, normalize, random_hflip
from pretext_tasks.heads import Head

# SimCLR's crop: area fraction and aspect ratio ranges of torchvision's RandomResizedCrop.
CROP_SCALE = (0.08, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)
JITTER_PROB = 0.8
GRAY_PROB = 0.2
# Colour-jitter strength s (brightness, contrast, saturation 0.8 s; hue 0.2 s): 0.5 for CIFAR, 1.0 for ImageNet.
JITTER_STRENGTH = {"cifar": 0.5, "imagenet": 1.0}


def partner_targets(num_views: int, device=None) -> Tensor:
    """Index of each view's partner when the two views of image i sit at rows 2i and 2i+1."""
    return torch.arange(num_views, device=device) ^ 1


def similarity_logits(embeddings: Tensor, temperature: float) -> Tensor:
    """Cosine similarities / temperature ``[2N, 2N]`` with each view's similarity to itself set to -inf."""
    z = F.normalize(embeddings.float(), dim=1)
    sim = z @ z.t() / temperature
    eye = torch.eye(sim.shape[0], dtype=torch.bool, device=sim.device)
    return sim.masked_fill(eye, float("-inf"))


def nt_xent(embeddings: Tensor, partners: Tensor, temperature: float) -> Tensor:
    """NT-Xent: mean over the 2N views of the cross-entropy of the partner among the other 2N-1 views."""
    return F.cross_entropy(similarity_logits(embeddings, temperature), partners)


def simclr_views(x: Tensor, strength: float, generator: Optional[torch.Generator]) -> Tensor:
    """SimCLR augmentation of every image of *x* ``[N, 3, H, W]`` in [0, 1], with kornia ops, batched.

    Random resized crop (area 0.08-1, aspect 3/4-4/3, resized back to H x W), horizontal flip p=0.5,
    colour jitter p=0.8 (brightness, contrast, saturation by factors in ``[1-0.8s, 1+0.8s]``, hue by a
    fraction of a turn in ``[-0.2s, 0.2s]``, applied in that order), grayscale p=0.2.
    """
    n, _, h, w = x.shape
    u = draw_uniform((n, 10), generator, x.device)
    area = h * w * (CROP_SCALE[0] + (CROP_SCALE[1] - CROP_SCALE[0]) * u[:, 0])
    log_lo, log_hi = math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])
    ratio = torch.exp(log_lo + (log_hi - log_lo) * u[:, 1])
    cw = torch.sqrt(area * ratio).clamp(1, w)
    ch = torch.sqrt(area / ratio).clamp(1, h)
    x0 = (w - cw) * u[:, 2]
    y0 = (h - ch) * u[:, 3]
    x1, y1 = x0 + cw - 1, y0 + ch - 1
    boxes = torch.stack([torch.stack([x0, y0], 1), torch.stack([x1, y0], 1),
                         torch.stack([x1, y1], 1), torch.stack([x0, y1], 1)], dim=1)
    x = crop_and_resize(x, boxes.to(x.dtype), (h, w), mode="bilinear", align_corners=True)
    x = random_hflip(x, 0.5, generator)

    jitter = (u[:, 4] < JITTER_PROB).to(x.dtype)
    amount = 0.8 * strength

    def factor(col: Tensor) -> Tensor:  # identity (1) where the jitter is not applied
        return (1 + jitter * amount * (2 * col - 1)).to(x.dtype).view(-1, 1, 1, 1)

    x = (x * factor(u[:, 5])).clamp(0, 1)                                        # brightness
    mean = rgb_to_grayscale(x).mean(dim=(-3, -2, -1), keepdim=True)
    x = ((x - mean) * factor(u[:, 6]) + mean).clamp(0, 1)                          # contrast
    x = adjust_saturation(x, factor(u[:, 7]).view(-1)).clamp(0, 1)
    hue = jitter * 0.2 * strength * (2 * u[:, 8] - 1) * 2 * math.pi                # radians
    x = adjust_hue(x, hue.to(x.dtype)).clamp(0, 1)
    gray = (u[:, 9] < GRAY_PROB).view(-1, 1, 1, 1)
    return torch.where(gray, rgb_to_grayscale(x).expand_as(x), x)


class ProjectionHead(Head):
    """SimCLR's projection MLP on the globally pooled features: Linear(C, C), ReLU, Linear(C, D)."""

    def __init__(self, in_channels: int, projection_dim: int):
        super().__init__()
        self.num_classes = projection_dim
        self.mlp = nn.Sequential(nn.Linear(in_channels, in_channels), nn.ReLU(inplace=True),
                                 nn.Linear(in_channels, projection_dim))

    def forward(self, features, input_size):
        return self.mlp(features.mean(dim=(-2, -1)))


@register
class Contrastive(PretextTask):
    """SimCLR: pull together the embeddings of two augmented views of an image, push apart the others.

    :meth:`prepare` turns B images into 2B views (:func:`simclr_views`, then normalisation), the two
    views of image i at rows 2i and 2i+1; the targets are each view's partner row. The network's head
    is a projection MLP (:class:`ProjectionHead`) giving ``projection_dim``-d embeddings; the loss is
    NT-Xent (:func:`nt_xent`) over the 2B views of the batch at *temperature*. Accuracy is top-1
    retrieval: a view counts as correct when its most similar other view in the batch is its partner.
    Held-out batches get views too, drawn from the evaluation generator (seeded with *seed*).
    Dataset labels are ignored.

    ImageNet style: the CPU transform is ``Resize(resize_size) + CenterCrop(crop_size)`` for training
    and test alike; the random resized crop of the views happens in :meth:`prepare`.

    Args:
        temperature: NT-Xent temperature (SimCLR's CIFAR setting: 0.5).
        projection_dim: output width of the projection head (128).
        style: "cifar" (jitter strength 0.5) or "imagenet" (1.0).
        seed: seed of the held-out views (:attr:`eval_seed`).
        mean, std, crop_size, resize_size: as :class:`~pretext_tasks.Supervised`.
    """

    name = "contrastive"
    label = "Contrastive"
    order = 5
    default_study = False
    color = "#9c755f"
    needs_labels = False
    random_crop = False
    input_channels = 3

    def __init__(self, temperature: float = 0.5, projection_dim: int = 128, style: Style = "cifar", seed: int = 0,
                 mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None,
                 crop_size: int = 224, resize_size: int = 256):
        super().__init__(style=style, mean=mean, std=std, crop_size=crop_size, resize_size=resize_size)
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if projection_dim < 1:
            raise ValueError(f"projection_dim must be at least 1, got {projection_dim}")
        self.temperature = float(temperature)
        self.num_classes = int(projection_dim)
        self.eval_seed = int(seed)

    def head(self, in_channels: int) -> Head:
        return ProjectionHead(in_channels, self.num_classes)

    def prepare(self, images: Tensor, labels: Optional[Tensor], *, train: bool,
                generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
        """B images -> 2B normalised views ``[2B, 3, H, W]`` and partner indices ``[2B]`` (train or not)."""
        x = as_float_images(images).repeat_interleave(2, dim=0)
        x = simclr_views(x, JITTER_STRENGTH[self.style], generator)
        return normalize(x, self.norm_mean, self.norm_std), partner_targets(x.shape[0], x.device)

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        """NT-Xent of the embeddings *logits* ``[2N, D]`` with partner indices *targets*."""
        return nt_xent(logits, targets, self.temperature)

    def accuracy(self, logits: Tensor, targets: Tensor) -> Tuple[Tensor, int]:
        """(views whose most similar other view is their partner, number of views)."""
        nearest = similarity_logits(logits, self.temperature).argmax(dim=1)
        return (nearest == targets).sum(), targets.numel()

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, temperature={self.temperature}, eval_seed={self.eval_seed}"
