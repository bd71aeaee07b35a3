"""Jigsaw puzzles (Noroozi & Favaro 2016) as in UnNAS (``TASK: jig``)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Literal, Optional, Sequence, Tuple

import numpy as np
import torch
from kornia.color import rgb_to_grayscale
from torch import Tensor

from pretext_tasks.registry import register
from pretext_tasks.base import (
    LIGHTING_STD,
    PretextTask,
    Style,
    _to_rgb,
    as_float_images,
    batched_crop,
    draw_int,
    draw_uniform,
    normalize,
    pca_lighting,
    random_hflip,
)
from pretext_tasks.heads import Head, TileHead

DATA_DIR = Path(__file__).resolve().parent / "data"
# The permutation sets shipped with UnNAS: (grid, count) -> file.
SHIPPED_PERMUTATIONS = {
    (2, 24): DATA_DIR / "permutations_24.npy",
    (3, 1000): DATA_DIR / "hamming_perms_1000_patches_9_max.npy",
    (3, 2000): DATA_DIR / "hamming_perms_2000_patches_9_max_avg.npy",
}
# skimage.color.rgb2gray weights, which UnNAS uses for its gray images.
GRAY_WEIGHTS = (0.2125, 0.7154, 0.0721)
_MAX_ENUMERATED_TILES = 9  # up to 9! = 362880 candidates are enumerated; more tiles use a random pool
_POOL_SIZE = 200_000


def hamming_permutations(num_tiles: int, count: int, seed: int = 0,
                         criterion: Literal["mean", "min"] = "mean") -> np.ndarray:
    """Greedy maximal-Hamming-distance permutation set (Noroozi & Favaro 2016, Algorithm 1).

    Start from a random permutation (seeded); then repeatedly add the candidate whose Hamming distance to
    the permutations chosen so far is largest: by their sum (``criterion="mean"``, the paper's algorithm)
    or by their minimum (``"min"``, maximin). Ties go to the first candidate in lexicographic order.
    Candidates are all ``num_tiles!`` permutations for up to 9 tiles, otherwise a seeded random pool.

    Returns:
        int64 array ``[count, num_tiles]`` of distinct permutations of ``0..num_tiles-1``.
    """
    if num_tiles < 2:
        raise ValueError(f"need at least 2 tiles, got {num_tiles}")
    if criterion not in ("mean", "min"):
        raise ValueError(f"criterion must be 'mean' or 'min', got {criterion!r}")
    rng = np.random.default_rng(seed)
    if num_tiles <= _MAX_ENUMERATED_TILES:
        candidates = np.array(list(itertools.permutations(range(num_tiles))), dtype=np.int8)
    else:
        pool = np.argsort(rng.random((_POOL_SIZE, num_tiles)), axis=1)
        candidates = np.unique(pool, axis=0)
    n = candidates.shape[0]
    if not 1 <= count <= n:
        raise ValueError(f"cannot choose {count} distinct permutations of {num_tiles} tiles (at most {n})")
    if num_tiles <= _MAX_ENUMERATED_TILES:
        # Hamming distance to q = T - matches, and matches[k] = sum over p of indicator[p*T + q[p], k]
        # (candidate k has value q[p] at position p): 9 row sums instead of a [n, T] comparison.
        indicator = np.zeros((num_tiles * num_tiles, n), dtype=np.uint8)
        for p in range(num_tiles):
            indicator[p * num_tiles + candidates[:, p], np.arange(n)] = 1
        rows = np.arange(num_tiles) * num_tiles

        def distance_to(q):
            return num_tiles - indicator[rows + q].sum(axis=0, dtype=np.uint8).astype(np.int64)
    else:
        def distance_to(q):
            return (candidates != q).sum(axis=1, dtype=np.int64)

    taken = -(1 << 40)  # score of chosen candidates: stays below any real score under + and min
    score = np.zeros(n, dtype=np.int64) if criterion == "mean" else np.full(n, num_tiles, dtype=np.int64)
    chosen = [int(rng.integers(n))]
    for _ in range(count - 1):
        dist = distance_to(candidates[chosen[-1]].astype(np.int64))
        score = score + dist if criterion == "mean" else np.minimum(score, dist)
        score[chosen] = taken
        chosen.append(int(np.argmax(score)))
    return candidates[chosen].astype(np.int64)


def load_permutations(path) -> np.ndarray:
    """Load a permutation set from a ``.npy`` file (``[P, T]``, each row a permutation of ``0..T-1``)."""
    perms = np.load(path)
    check_permutations(perms)
    return perms.astype(np.int64)


def check_permutations(perms: np.ndarray) -> None:
    """Raise ValueError unless *perms* is ``[P, T]`` with distinct rows, each a permutation of ``0..T-1``."""
    if perms.ndim != 2 or perms.shape[0] < 1:
        raise ValueError(f"a permutation set must be a 2-d array [P, T], got shape {perms.shape}")
    t = perms.shape[1]
    if not (np.sort(perms, axis=1) == np.arange(t)).all():
        raise ValueError(f"every row of a permutation set must be a permutation of 0..{t - 1}")
    if len(np.unique(perms, axis=0)) != perms.shape[0]:
        raise ValueError("a permutation set must not repeat a permutation")


@register
class Jigsaw(PretextTask):
    """Predict which permutation shuffled the tiles of a ``grid x grid`` split of the image.

    Per image: (train only) horizontal flip p=0.5 and, with probability *gray_prob*, grayscale replicated
    to 3 channels; (ImageNet style, train only) PCA lighting; per-channel normalisation. Then one
    permutation index is drawn per image (the target). The image is split into ``grid x grid`` cells of
    ``psz = S // grid`` pixels; from each cell a ``t = int(psz * tile_fraction)`` tile is cut at a random
    offset, standardised to zero mean and unit std (scalars over its channels and pixels), and the tile
    from cell p (row-major) is written to slot ``perm[p]``. Inputs are ``[B, grid**2, 3, t, t]``; the head
    (:class:`~pretext_tasks.heads.TileHead`) runs one trunk on every tile, concatenates the pooled tile
    features in slot order and applies one linear layer.

    CIFAR (S = 32): 2x2 grid, all 24 permutations, 12x12 tiles. ImageNet style: resize 256 + 255 crop on
    the CPU, 3x3 grid, the official 1000 permutations, 64x64 tiles.

    Permutations and tile offsets are random at test time too (as in UnNAS); ``prepare(train=False)``
    draws them from the given generator, or from a fresh generator seeded with *eval_seed*, so
    evaluation is repeatable.

    Args:
        grid: tiles per side (default 2 for CIFAR style, 3 for ImageNet style).
        num_permutations: number of classes (default 24 for a 2x2 grid, else 1000, capped at grid**2!).
        permutations: path to a ``.npy`` permutation set ``[P, grid**2]``; default the shipped UnNAS file
            for (2, 24), (3, 1000) or (3, 2000), otherwise a maximal-Hamming-distance set generated with
            seed 0 (:func:`hamming_permutations`).
        gray_prob: probability of a grayscale training image.
        tile_fraction: tile side as a fraction of the cell side.
        eval_seed: seed of the permutations and offsets at evaluation when no generator is passed.
        style: "cifar" or "imagenet".
        mean, std: per-channel RGB statistics; default the CIFAR-10 or ImageNet ones.
        crop_size: ImageNet-style crop side the tiles are cut from (255).
        resize_size: ImageNet-style resize of the short side before the crop (256).
    """

    name = "jigsaw"
    label = "Jigsaw"
    order = 3
    default_study = True
    color = "#59a14f"
    needs_labels = False
    input_channels = 3

    def __init__(self, grid: Optional[int] = None, num_permutations: Optional[int] = None,
                 permutations: Optional[str] = None, gray_prob: float = 0.3, tile_fraction: float = 0.76,
                 eval_seed: int = 0, style: Style = "cifar", mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None, crop_size: int = 255, resize_size: int = 256):
        super().__init__(style=style, mean=mean, std=std, crop_size=crop_size, resize_size=resize_size)
        grid = int(grid) if grid is not None else (2 if style == "cifar" else 3)
        if grid < 2:
            raise ValueError(f"grid must be at least 2, got {grid}")
        if not 0.0 <= gray_prob <= 1.0:
            raise ValueError(f"gray_prob must be in [0, 1], got {gray_prob}")
        if not 0.0 < tile_fraction <= 1.0:
            raise ValueError(f"tile_fraction must be in (0, 1], got {tile_fraction}")
        num_tiles = grid * grid
        if permutations is not None:
            perms = load_permutations(permutations)
            if perms.shape[1] != num_tiles:
                raise ValueError(f"{permutations}: permutations of {perms.shape[1]} tiles, but a {grid}x{grid} grid "
                                 f"has {num_tiles}")
            if num_permutations is not None and num_permutations != perms.shape[0]:
                raise ValueError(f"{permutations} holds {perms.shape[0]} permutations, "
                                 f"but num_permutations={num_permutations}")
        else:
            if num_permutations is None:
                num_permutations = 24 if grid == 2 else min(1000, math.factorial(num_tiles))
            shipped = SHIPPED_PERMUTATIONS.get((grid, int(num_permutations)))
            perms = load_permutations(shipped) if shipped else hamming_permutations(num_tiles, int(num_permutations))
        self.grid = grid
        self.num_tiles = num_tiles
        self.num_classes = int(perms.shape[0])
        self.gray_prob = float(gray_prob)
        self.tile_fraction = float(tile_fraction)
        self.eval_seed = int(eval_seed)
        self.register_buffer("perms", torch.from_numpy(perms), persistent=False)
        self.register_buffer("gray_weights", torch.tensor(GRAY_WEIGHTS), persistent=False)

    def head(self, in_channels: int) -> Head:
        return TileHead(in_channels, self.num_classes, self.num_tiles)

    def source_size(self, image_size: int) -> int:
        """Side of the image the tiles are cut from: *image_size*, or :attr:`crop_size` in ImageNet style."""
        return self.crop_size if self.style == "imagenet" else int(image_size)

    def tile_size(self, source_size: int) -> int:
        """Tile side for a square source image of side *source_size*."""
        t = int((source_size // self.grid) * self.tile_fraction)
        if t < 1:
            raise ValueError(f"images of side {source_size} are too small for a {self.grid}x{self.grid} jigsaw")
        return t

    def input_shape(self, image_size: int) -> Tuple[int, ...]:
        t = self.tile_size(self.source_size(image_size))
        return (self.num_tiles, 3, t, t)

    def sample_transform(self, train: bool):
        """CIFAR style: ``ToTensor``. ImageNet style: ``Resize(256)`` then ``RandomCrop(255)`` for
        training, ``CenterCrop(255)`` otherwise."""
        from torchvision import transforms as T

        steps = [T.Lambda(_to_rgb)]
        if self.style == "imagenet":
            crop = T.RandomCrop(self.crop_size) if train else T.CenterCrop(self.crop_size)
            steps += [T.Resize(self.resize_size), crop]
        steps.append(T.ToTensor())
        return T.Compose(steps)

    def prepare(self, images: Tensor, labels: Optional[Tensor], *, train: bool,
                generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
        """Images ``[B, 3, S, S]`` -> tiles ``[B, grid**2, 3, t, t]`` and permutation indices ``[B]``."""
        x = as_float_images(images)
        b, _, h, w = x.shape
        if h != w:
            raise ValueError(f"jigsaw needs square images, got {h}x{w}")
        if not train and generator is None:
            generator = self.eval_generator()
        device = x.device
        if train:
            x = random_hflip(x, 0.5, generator)
            gray = draw_uniform((b,), generator, device) < self.gray_prob
            gray_x = rgb_to_grayscale(x, rgb_weights=self.gray_weights).expand_as(x)
            x = torch.where(gray.view(-1, 1, 1, 1), gray_x, x)
            if self.style == "imagenet":
                x = pca_lighting(x, self.eigval, self.eigvec, LIGHTING_STD, generator)
        x = normalize(x, self.norm_mean, self.norm_std)

        targets = draw_int(self.num_classes, (b,), generator, device)
        perm = self.perms[targets]                                          # [B, T]
        psz = h // self.grid
        t = self.tile_size(h)
        offsets = draw_int(psz - t + 1, (b, self.num_tiles, 2), generator, device)
        cell = torch.arange(self.num_tiles, device=device)
        top = (cell // self.grid * psz).view(1, -1) + offsets[..., 0]      # [B, T]
        left = (cell % self.grid * psz).view(1, -1) + offsets[..., 1]
        tiles = batched_crop(x, top, left, t, t)                            # [B, T, 3, t, t], cell order

        mu = tiles.mean(dim=(2, 3, 4), keepdim=True)
        sigma = tiles.std(dim=(2, 3, 4), keepdim=True, correction=0)
        tiles = (tiles - mu) / sigma.clamp_min(1e-6)  # the clamp only matters for a constant tile

        # Cell p goes to slot perm[p]: slot s holds the tile of cell inverse[s].
        inverse = perm.argsort(dim=1)
        slots = tiles[torch.arange(b, device=device).view(-1, 1), inverse]
        return slots, targets

    def extra_repr(self) -> str:
        return (f"style={self.style!r}, grid={self.grid}, num_classes={self.num_classes}, "
                f"gray_prob={self.gray_prob}, tile_fraction={self.tile_fraction}, eval_seed={self.eval_seed}")
