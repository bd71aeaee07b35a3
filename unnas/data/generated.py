"""Small synthetic image datasets with learnable structure, for tests and quick experiments.

Each image shows one class-dependent shape (square, disc, bars, cross, triangle, ring) at a random
position and scale over a textured background. The scene is built so that every pretext task has
something to learn:

* colour follows position and brightness: the background runs from warm and bright at the top to cool
  and dark at the bottom and gets greener to the right; shapes are light yellow at the top and teal at
  the bottom (colorization can predict colour from lightness and position);
* the content is not rotation-symmetric: the vertical gradients, and a white bar always just above the
  shape (rotation);
* the grid cells differ: a vignette darkens the corners, so each cell has its own brightness slope
  even in grayscale, besides the gradients (jigsaw);
* the shape itself gives the class (supervised).

Generation is deterministic given ``seed`` and prefix-stable: the first k images of ``n`` are the same for
any ``n >= k``.
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch
from torch import Tensor
from torch.utils.data import Dataset

SHAPES = ("square", "disc", "bars", "cross", "triangle", "ring")
_CHUNK = 64  # images drawn per generator; fixed so that datasets are prefix-stable


def _chunk(count: int, size: int, num_classes: int, gen: torch.Generator) -> Tuple[Tensor, Tensor]:
    def u(lo, hi, *shape):
        return lo + (hi - lo) * torch.rand(count, *shape, generator=gen)

    labels = torch.randint(0, num_classes, (count,), generator=gen)
    cy, cx, r = u(0.32, 0.68), u(0.3, 0.7), u(0.15, 0.26)
    warm = torch.tensor([0.95, 0.55, 0.25]) + u(-0.08, 0.08, 3)
    cool = torch.tensor([0.20, 0.35, 0.85]) + u(-0.08, 0.08, 3)
    freq, angle, phase = u(1.5, 4.0), u(0.0, 3.1416), u(0.0, 6.2832)

    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    y = coords.view(1, 1, size, 1)
    x = coords.view(1, 1, 1, size)
    view = (-1, 1, 1, 1)

    # Background: hue and brightness gradients, greener to the right, vignette.
    t = y.expand(count, 1, size, size)
    bg = (1 - t) * warm.view(-1, 3, 1, 1) + t * cool.view(-1, 3, 1, 1)
    bg = bg + torch.tensor([0.0, 0.15, 0.0]).view(1, 3, 1, 1) * (x - 0.5)
    bg = bg * (1.05 - 0.35 * y)
    vignette = 1.0 - 0.9 * ((x - 0.5) ** 2 + (y - 0.5) ** 2)
    bg = bg * vignette

    # The shape: class-dependent mask; colour from yellow (top) to teal (bottom).
    dy, dx = y - cy.view(view), x - cx.view(view)
    rr = r.view(view)
    box = torch.maximum(dx.abs(), dy.abs())
    dist = torch.sqrt(dx ** 2 + dy ** 2)
    masks = torch.stack([
        box < 0.85 * rr,                                                           # square
        dist < rr,                                                                 # disc
        (box < rr) & (torch.floor((dy + rr) / (2 * rr) * 5) % 2 == 0),             # bars
        ((dx.abs() < rr / 3) & (dy.abs() < rr)) | ((dy.abs() < rr / 3) & (dx.abs() < rr)),  # cross
        (dy.abs() < rr) & (dx.abs() < (dy + rr) / 2),                              # triangle, apex up
        (dist < rr) & (dist > 0.55 * rr),                                          # ring
    ], dim=1)  # [count, 6, 1, size, size] after broadcasting
    mask = masks[torch.arange(count), labels].float()
    yellow, teal = torch.tensor([1.0, 0.92, 0.4]).view(1, 3, 1, 1), torch.tensor([0.25, 0.8, 0.7]).view(1, 3, 1, 1)
    shape_colour = (1 - y) * yellow + y * teal
    img = bg * (1 - mask) + shape_colour * mask
    bar = ((dy < -rr - 0.03) & (dy > -rr - 0.11) & (dx.abs() < rr)).float()
    img = img * (1 - bar) + 0.97 * bar

    # Texture: an oriented sinusoid and a little pixel noise.
    wave = torch.sin(2 * 3.1416 * freq.view(view) * (torch.cos(angle).view(view) * x + torch.sin(angle).view(view) * y)
                     + phase.view(view))
    img = img * (1 + 0.04 * wave) + 0.01 * torch.randn(count, 3, size, size, generator=gen)
    return (img.clamp(0, 1) * 255).round().to(torch.uint8), labels


def make_structured_dataset(n: int, size: int = 32, num_classes: int = 4, seed: int = 0) -> Tuple[Tensor, Tensor]:
    """*n* synthetic RGB images and their shape labels.

    Args:
        n: number of images.
        size: image side in pixels (at least 8).
        num_classes: number of shape classes, 2 to 6 (the first ``num_classes`` of :data:`SHAPES`).
        seed: images are a deterministic function of ``(seed, index, size, num_classes)``.

    Returns:
        ``(images, labels)``: uint8 ``[n, 3, size, size]`` and int64 ``[n]``.
    """
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    if size < 8:
        raise ValueError(f"size must be at least 8, got {size}")
    if not 2 <= num_classes <= len(SHAPES):
        raise ValueError(f"num_classes must be between 2 and {len(SHAPES)}, got {num_classes}")
    images, labels = [torch.empty(0, 3, size, size, dtype=torch.uint8)], [torch.empty(0, dtype=torch.long)]
    for k, start in enumerate(range(0, n, _CHUNK)):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + k)
        im, lab = _chunk(_CHUNK, size, num_classes, gen)
        images.append(im[: n - start])
        labels.append(lab[: n - start])
    return torch.cat(images), torch.cat(labels)


class GeneratedImages(Dataset):
    """A map-style dataset over :func:`make_structured_dataset`.

    Items are ``(image, label)`` with a float CHW image in [0, 1]; with ``labelled=False`` an item is the
    image alone. If *transform* is given it receives the image as a PIL image (so a task's
    ``sample_transform`` can be used) and its result replaces the image.
    """

    def __init__(self, n: int, size: int = 32, num_classes: int = 4, seed: int = 0, labelled: bool = True,
                 transform: Optional[Callable] = None):
        self.images, self.labels = make_structured_dataset(n, size, num_classes, seed)
        self.labelled = labelled
        self.transform = transform
        self.num_classes = num_classes

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int):
        image = self.images[index]
        if self.transform is not None:
            from torchvision.transforms.functional import to_pil_image

            image = self.transform(to_pil_image(image))
        else:
            image = image.float() / 255.0
        return (image, int(self.labels[index])) if self.labelled else image
