"""Dataset statistics the objectives normalise with: per-channel means and standard deviations (CIFAR-10,
ImageNet) and ImageNet's PCA lighting, all in RGB order. Imports nothing but the standard library."""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

# pycls/datasets/cifar10.py (RGB order despite the "BGR" comment there).
CIFAR_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
CIFAR_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)
# ImageNet statistics in RGB order (pycls lists the same numbers in BGR order).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# AlexNet PCA lighting: eigenvalues and eigenvectors (columns) of the ImageNet RGB covariance.
IMAGENET_EIGVAL = (0.2175, 0.0188, 0.0045)
IMAGENET_EIGVEC = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)
LIGHTING_STD = 0.1

#: style -> (mean, std) of the dataset family whose recipe the style follows
STYLE_STATS = {"cifar": (CIFAR_MEAN, CIFAR_STD), "imagenet": (IMAGENET_MEAN, IMAGENET_STD)}


def default_stats(style: str, mean: Optional[Sequence[float]],
                  std: Optional[Sequence[float]]) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
    """Per-channel mean and std: the given ones, else the CIFAR-10 or ImageNet statistics."""
    if style not in STYLE_STATS:
        raise ValueError(f"style must be 'cifar' or 'imagenet', got {style!r}")
    base_mean, base_std = STYLE_STATS[style]
    mean = tuple(float(m) for m in (base_mean if mean is None else mean))
    std = tuple(float(s) for s in (base_std if std is None else std))
    if len(mean) != 3 or len(std) != 3:
        raise ValueError(f"mean and std need 3 values (RGB), got {list(mean)} and {list(std)}")
    if min(std) <= 0:
        raise ValueError(f"std must be positive, got {list(std)}")
    return mean, std


__all__ = ["CIFAR_MEAN", "CIFAR_STD", "IMAGENET_MEAN", "IMAGENET_STD", "IMAGENET_EIGVAL", "IMAGENET_EIGVEC",
           "LIGHTING_STD", "STYLE_STATS", "default_stats"]
