"""The pretext-task interface and the batched image operations the tasks share.

A task turns a batch of images in ``[0, 1]`` (already cropped to a fixed size on the CPU by
:meth:`PretextTask.sample_transform`) into network inputs and targets with :meth:`PretextTask.prepare`.
``prepare`` runs on whatever device the images are on, with whole-batch torch/kornia ops. Its random
numbers (flips, crop offsets, permutations, ...) are drawn on the CPU, from ``generator`` when one is
given and from the global torch RNG otherwise, and then moved to the device, so a seed gives the same
augmentation on every device.
"""

from __future__ import annotations

from typing import Callable, Literal, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pretext_tasks.heads import Head
from pretext_tasks.stats import (CIFAR_MEAN, CIFAR_STD, IMAGENET_EIGVAL, IMAGENET_EIGVEC,  # noqa: F401
                                 IMAGENET_MEAN, IMAGENET_STD, LIGHTING_STD, default_stats)

Style = Literal["cifar", "imagenet"]


# ---------------------------------------------------------------------------------------------
# Random numbers: drawn on the CPU (from `generator` or the global RNG), then moved to `device`.
# ---------------------------------------------------------------------------------------------

def draw_uniform(shape: Tuple[int, ...], generator: Optional[torch.Generator], device) -> Tensor:
    """Uniform ``[0, 1)`` floats of *shape* on *device*."""
    return torch.rand(shape, generator=generator).to(device)


def draw_int(high: int, shape: Tuple[int, ...], generator: Optional[torch.Generator], device) -> Tensor:
    """Integers uniform in ``[0, high)`` (int64) of *shape* on *device*."""
    return torch.randint(0, high, shape, generator=generator).to(device)


def draw_normal(shape: Tuple[int, ...], generator: Optional[torch.Generator], device) -> Tensor:
    """Standard normal floats of *shape* on *device*."""
    return torch.randn(shape, generator=generator).to(device)


# ---------------------------------------------------------------------------------------------
# Batched image operations (images are [B, C, H, W]).
# ---------------------------------------------------------------------------------------------

def as_float_images(images: Tensor, channels: int = 3) -> Tensor:
    """Check a ``[B, C, H, W]`` batch and return it as floats in ``[0, 1]`` (uint8 is divided by 255)."""
    if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[1] != channels:
        shape = list(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"expected a batch of {channels}-channel images [B, {channels}, H, W], got {shape}")
    if images.dtype == torch.uint8:
        return images.float() / 255.0
    return images if images.is_floating_point() else images.float()


def normalize(x: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """Per-channel ``(x - mean) / std``."""
    return (x - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)


def random_hflip(x: Tensor, p: float, generator: Optional[torch.Generator]) -> Tensor:
    """Mirror each image left-right with probability *p* (one draw per image)."""
    flip = draw_uniform((x.shape[0],), generator, x.device) < p
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


def batched_crop(x: Tensor, top: Tensor, left: Tensor, height: int, width: int) -> Tensor:
    """Crop ``x[n, :, top[n]:top[n]+height, left[n]:left[n]+width]`` for every n in one gather.

    *top* and *left* may have extra trailing dims ``[N, *K]``; the result is ``[N, *K, C, height, width]``.
    """
    n = x.shape[0]
    extra = top.shape[1:]
    rows = top.unsqueeze(-1) + torch.arange(height, device=x.device)   # [N, *K, h]
    cols = left.unsqueeze(-1) + torch.arange(width, device=x.device)   # [N, *K, w]
    b = torch.arange(n, device=x.device).view(n, *([1] * (len(extra) + 2)))
    # Advanced indices separated by a slice: the broadcast index dims come first -> [N, *K, h, w, C].
    out = x[b, :, rows.unsqueeze(-1), cols.unsqueeze(-2)]
    return out.movedim(-1, -3)


def random_pad_crop(x: Tensor, pad: int, generator: Optional[torch.Generator]) -> Tensor:
    """Zero-pad by *pad* and crop back to the input size at a random offset per image.

    Offsets are drawn from ``[0, 2*pad)`` as pycls's ``random_crop`` does (``np.random.randint(0, h - size)``),
    so the largest shift ``2*pad`` never occurs; this reproduces the reference.
    """
    if pad <= 0:
        return x
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    offsets = draw_int(2 * pad, (b, 2), generator, x.device)
    return batched_crop(padded, offsets[:, 0], offsets[:, 1], h, w)


def pca_lighting(x: Tensor, eigval: Tensor, eigvec: Tensor, alpha_std: float,
                 generator: Optional[torch.Generator]) -> Tensor:
    """AlexNet PCA colour jitter on RGB images in [0, 1]: add ``eigvec @ (alpha * eigval)``, alpha ~ N(0, std)."""
    if alpha_std <= 0:
        return x
    alpha = draw_normal((x.shape[0], 3), generator, x.device) * alpha_std
    offset = (alpha * eigval.view(1, 3)) @ eigvec.t()   # [B, 3]: offset[b, c] = sum_k V[c, k] alpha_k lambda_k
    return x + offset.view(-1, 3, 1, 1).to(x.dtype)


def _to_rgb(image):
    """PIL image -> RGB mode (grayscale, palette or CMYK files happen in ImageNet)."""
    return image if image.mode == "RGB" else image.convert("RGB")


# ---------------------------------------------------------------------------------------------
# The interface
# ---------------------------------------------------------------------------------------------

class PretextTask(nn.Module):
    """A training objective: augmentation and input/target construction, head, loss and accuracy.

    Subclasses are ``nn.Module`` s so that constant tables (colour bins, permutations, statistics) are
    buffers that follow ``.to(device)``; the buffers are not persistent, so they never enter a checkpoint.

    Attributes:
        name: short identifier ("supervised", "rotation", "colorization", "jigsaw"), the objective's name
            everywhere (see :mod:`pretext_tasks.registry`).
        label, order, default_study, color: registry metadata: display name, display order, membership of a
            study's default objectives, fixed plot colour.
        needs_labels: whether :meth:`prepare` needs dataset labels.
        input_channels: channels of one network input image (1 for colorization).
        num_classes: number of classes the head predicts (per pixel for colorization).
        eval_seed: seed of :meth:`eval_generator`.
        rank_metric: the field of a training run's result a study ranks this objective by, declared once here
            and written into every record: ``"best_acc"`` (best held-out accuracy), ``"train_acc"`` (last epoch's
            training accuracy) or ``"weight_angle"`` (RLNAS's angle between the initial and the trained weights;
            random labels) for an objective whose held-out accuracy carries no signal. Larger ranks higher.
    """

    name: str = "task"
    #: display name in reports and plots
    label: str = ""
    #: display and iteration order among the objectives (ties by name)
    order: float = 100.0
    #: one of the objectives a study trains when none are named
    default_study: bool = False
    #: a fixed matplotlib colour in every figure (None: one from the palette by position)
    color: Optional[str] = None
    needs_labels: bool = False
    rank_metric: str = "best_acc"
    #: ImageNet style: a random resized crop for training (False: the test crop for training too, for objectives
    #: whose targets must not change with the crop)
    random_crop: bool = True
    input_channels: int = 3
    num_classes: int
    eval_seed: int = 0

    def __init__(self, style: Style = "cifar", mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None, crop_size: int = 224, resize_size: int = 256):
        super().__init__()
        mean, std = default_stats(style, mean, std)
        if crop_size < 1 or resize_size < crop_size:
            raise ValueError(f"need 1 <= crop_size <= resize_size, got crop_size={crop_size}, "
                             f"resize_size={resize_size}")
        self.style = style
        self.mean_rgb, self.std_rgb = mean, std
        self.crop_size = int(crop_size)
        self.resize_size = int(resize_size)
        self.register_buffer("norm_mean", torch.tensor(mean), persistent=False)
        self.register_buffer("norm_std", torch.tensor(std), persistent=False)
        self.register_buffer("eigval", torch.tensor(IMAGENET_EIGVAL), persistent=False)
        self.register_buffer("eigvec", torch.tensor(IMAGENET_EIGVEC), persistent=False)

    # -- to be provided by subclasses ------------------------------------------------------------
    def head(self, in_channels: int) -> Head:
        """Build this task's output head on a trunk with *in_channels* final channels (a HeadFactory)."""
        raise NotImplementedError

    def prepare(self, images: Tensor, labels: Optional[Tensor], *, train: bool,
                generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
        """Batched augmentation and task transform: images ``[B, 3, H, W]`` in [0, 1] -> (inputs, targets)."""
        raise NotImplementedError

    def input_shape(self, image_size: int) -> Tuple[int, ...]:
        """Shape of one network sample (no batch dim) for task input size *image_size*."""
        return (self.input_channels, image_size, image_size)

    # -- shared behaviour ------------------------------------------------------------------------
    def sample_transform(self, train: bool) -> Callable:
        """Per-image CPU transform for data loaders: PIL image -> float CHW tensor in [0, 1] at a fixed size.

        CIFAR style: ``ToTensor`` only. ImageNet style: ``RandomResizedCrop(crop_size)`` for training (when
        :attr:`random_crop`), ``Resize(resize_size) + CenterCrop(crop_size)`` otherwise. Flips and everything else
        happen in :meth:`prepare`.
        """
        from torchvision import transforms as T

        steps = [T.Lambda(_to_rgb)]
        if self.style == "imagenet":
            if train and self.random_crop:
                steps.append(T.RandomResizedCrop(self.crop_size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)))
            else:
                steps += [T.Resize(self.resize_size), T.CenterCrop(self.crop_size)]
        steps.append(T.ToTensor())
        return T.Compose(steps)

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        """Mean cross-entropy (over samples, or over pixels for dense targets)."""
        return F.cross_entropy(logits, targets)

    def accuracy(self, logits: Tensor, targets: Tensor) -> Tuple[Tensor, int]:
        """(number of correct top-1 predictions as a tensor, number of predictions counted)."""
        correct = (logits.argmax(dim=1) == targets).sum()
        return correct, targets.numel()

    def eval_generator(self) -> torch.Generator:
        """A fresh CPU generator seeded with :attr:`eval_seed`; pass one to every ``prepare(train=False)``
        call of an evaluation pass to make its random draws repeatable."""
        return torch.Generator().manual_seed(int(self.eval_seed))

    def standard_augment(self, images: Tensor, train: bool, generator: Optional[torch.Generator]) -> Tensor:
        """The supervised augmentation and normalisation of UnNAS (``prepare_im``), batched.

        CIFAR: normalise; train only: flip p=0.5, zero-pad 4 and random crop (padding after normalisation).
        ImageNet (images already cropped by :meth:`sample_transform`): train only: flip p=0.5 and PCA
        lighting 0.1; then normalise.
        """
        x = as_float_images(images)
        if self.style == "cifar":
            x = normalize(x, self.norm_mean, self.norm_std)
            if train:
                x = random_hflip(x, 0.5, generator)
                x = random_pad_crop(x, 4, generator)
            return x
        if train:
            x = random_hflip(x, 0.5, generator)
            x = pca_lighting(x, self.eigval, self.eigvec, LIGHTING_STD, generator)
        return normalize(x, self.norm_mean, self.norm_std)

    def extra_repr(self) -> str:
        return f"style={self.style!r}, num_classes={self.num_classes}"
