"""Colorization as in UnNAS (``TASK: col``): per-pixel classification of the ab colour into 313 bins."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from kornia.color import rgb_to_lab
from torch import Tensor

from pretext_tasks.registry import register
from pretext_tasks.base import PretextTask, Style, as_float_images, random_hflip
from pretext_tasks.heads import DenseHead, Head

DATA_DIR = Path(__file__).resolve().parent / "data"
PTS_IN_HULL = DATA_DIR / "pts_in_hull.npy"
GRID_STEP = 10  # the bins lie on a lattice with this step in a and b

# Pixels whose a/10 or b/10 lies within this distance of a half-integer are resolved by full search, so that
# the lookup table never has to decide a tie (see nearest_ab_bin).
_TIE_MARGIN = 1e-3


def load_ab_bins() -> np.ndarray:
    """The 313 (a, b) bin centres of Zhang et al., ``pts_in_hull.npy`` from the UnNAS repository (int64 [313, 2])."""
    return np.load(PTS_IN_HULL)


def build_bin_table(bins: Tensor) -> Tensor:
    """Lookup table ``[na+2, nb+2]``: bin index of each lattice point (a, b), -1 outside the set (incl. a border)."""
    cells = torch.div(bins, GRID_STEP, rounding_mode="floor")
    if not torch.equal(cells * GRID_STEP, bins):
        raise ValueError("ab bins must lie on a lattice of step 10")
    lo = cells.min(0).values
    size = cells.max(0).values - lo + 3
    table = torch.full((int(size[0]), int(size[1])), -1, dtype=torch.long)
    idx = cells - lo + 1
    if torch.unique(idx, dim=0).shape[0] != idx.shape[0]:
        raise ValueError("ab bins must be distinct")
    table[idx[:, 0], idx[:, 1]] = torch.arange(len(bins))
    return table


def nearest_ab_bin_bruteforce(ab: Tensor, bins: Tensor, chunk: int = 1 << 16) -> Tensor:
    """Index of the nearest bin (Euclidean, lowest index on ties) for points ``ab [N, 2]``, by full search."""
    out = torch.empty(ab.shape[0], dtype=torch.long, device=ab.device)
    bins = bins.to(ab.dtype)
    for start in range(0, ab.shape[0], chunk):
        p = ab[start:start + chunk]
        d = (p[:, None, 0] - bins[None, :, 0]).square() + (p[:, None, 1] - bins[None, :, 1]).square()
        out[start:start + chunk] = d.argmin(dim=1)  # argmin returns the first minimum
    return out


def nearest_ab_bin(ab: Tensor, bins: Tensor, table: Tensor) -> Tensor:
    """Index of the nearest of the lattice bins for each (a, b) in ``ab [..., 2]`` (result shape ``[...]``).

    Exact nearest neighbour by Euclidean distance, ties to the lowest index (as a brute-force search):
    the bins are a subset of the lattice ``10 * Z^2``, so when the lattice point nearest to (a, b), found by
    rounding, is a bin, it is the nearest bin. Points whose rounded lattice point is not a bin (outside
    the sRGB gamut) or that lie within 0.01 of a lattice Voronoi edge (possible ties) are resolved by
    :func:`nearest_ab_bin_bruteforce`.
    """
    shape = ab.shape[:-1]
    flat = ab.reshape(-1, 2).float()
    scaled = flat / GRID_STEP
    rounded = torch.round(scaled)
    near_edge = ((scaled - rounded).abs() > 0.5 - _TIE_MARGIN).any(dim=1)
    lo = torch.div(bins.min(0).values, GRID_STEP, rounding_mode="floor")
    idx = rounded.long() - lo + 1
    idx[:, 0].clamp_(0, table.shape[0] - 1)
    idx[:, 1].clamp_(0, table.shape[1] - 1)
    out = table[idx[:, 0], idx[:, 1]]
    todo = torch.nonzero((out < 0) | near_edge).squeeze(1)
    if todo.numel():
        out[todo] = nearest_ab_bin_bruteforce(flat[todo], bins.float())
    return out.reshape(shape)


@register
class Colorization(PretextTask):
    """Predict each pixel's colour bin from the lightness channel.

    The image (flipped at random for training) is converted to CIE Lab with
    ``kornia.color.rgb_to_lab`` (sRGB in [0, 1], D65). The network sees the single channel
    ``(L/100 - mean(mean)) / mean(std)`` (UnNAS's "ad hoc normalisation of the L channel", with the
    averages of the dataset's RGB statistics: (L/100 - 0.4735)/0.2507 on CIFAR-10, (L/100 - 0.449)/0.226
    on ImageNet). The target of a pixel is the index of the nearest of the 313 ab bin centres
    (:data:`PTS_IN_HULL`), at full input resolution. Head: 1x1 conv to 313 channels + bilinear
    upsampling to the input size (:class:`~pretext_tasks.heads.DenseHead`). Loss and accuracy are per pixel.

    Args:
        style: "cifar" (flip only) or "imagenet" (Inception crop on the CPU + flip; no PCA lighting).
        mean, std: RGB statistics whose averages normalise L; default the CIFAR-10 or ImageNet ones.
        crop_size, resize_size: ImageNet-style crop and test resize.
    """

    name = "colorization"
    label = "Colorization"
    order = 2
    default_study = True
    color = "#f28e2b"
    needs_labels = False
    input_channels = 1

    def __init__(self, style: Style = "cifar", mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None, crop_size: int = 224, resize_size: int = 256):
        super().__init__(style=style, mean=mean, std=std, crop_size=crop_size, resize_size=resize_size)
        bins = torch.from_numpy(load_ab_bins())
        self.num_classes = int(bins.shape[0])
        self.register_buffer("bins", bins, persistent=False)
        self.register_buffer("bin_table", build_bin_table(bins), persistent=False)
        self.l_mean = sum(self.mean_rgb) / 3
        self.l_std = sum(self.std_rgb) / 3

    def head(self, in_channels: int) -> Head:
        return DenseHead(in_channels, self.num_classes)

    def ab_to_bin(self, ab: Tensor) -> Tensor:
        """Nearest-bin index of ab values ``[..., 2]`` (see :func:`nearest_ab_bin`)."""
        return nearest_ab_bin(ab, self.bins, self.bin_table)

    def prepare(self, images: Tensor, labels: Optional[Tensor], *, train: bool,
                generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
        """Images ``[B, 3, H, W]`` -> normalised L ``[B, 1, H, W]`` and bin targets ``[B, H, W]`` (int64)."""
        x = as_float_images(images).clamp(0.0, 1.0)
        if train:
            x = random_hflip(x, 0.5, generator)  # before Lab, so the targets flip with the input
        lab = rgb_to_lab(x)
        inputs = (lab[:, :1] / 100.0 - self.l_mean) / self.l_std
        targets = self.ab_to_bin(lab[:, 1:].permute(0, 2, 3, 1))
        return inputs, targets
