"""Image sources: where the images (and labels, if any) come from.

A source builds a ``torch.utils.data.Dataset`` of ``(image, label)`` for a split, applying a per-image
transform (PIL image -> tensor) that the objective chooses. Unlabelled sources yield label ``-1``.
Select one in YAML with ``class_path`` (``unnas.data.CIFAR10``, ``unnas.data.ImageFolder``,
``unnas.data.UnlabeledFolder``, ``unnas.data.Generated``).
"""

from __future__ import annotations

import os
from typing import Callable, List, Literal, Optional, Sequence, Tuple

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

Split = Literal["train", "test"]
Transform = Callable[[Image.Image], torch.Tensor]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


class DataError(ValueError):
    """A dataset that cannot be found or read; the message names the path and the fix."""


def load_rgb(path: str) -> Image.Image:
    """Open an image as RGB; a file that is not a readable image raises :class:`DataError` naming it."""
    try:
        with open(path, "rb") as f:
            img = Image.open(f)
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"cannot read image {path}: {e}; remove or replace the file") from None


class ImageSource:
    """Base class of the image sources."""

    labelled: bool = True
    num_classes: Optional[int] = None

    def dataset(self, split: Split, transform: Transform) -> Dataset:  # pragma: no cover
        raise NotImplementedError

    def describe(self) -> str:
        return type(self).__name__


class _Files(Dataset):
    """(path, label) pairs read lazily with :func:`load_rgb`."""

    def __init__(self, samples: Sequence[Tuple[str, int]], transform: Transform):
        self.samples = list(samples)
        self.transform = transform

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        path, label = self.samples[i]
        return self.transform(load_rgb(path)), label


def _class_folder_samples(root: str) -> Tuple[List[Tuple[str, int]], List[str]]:
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
    if not classes:
        raise DataError(f"no class folders in {root}; an ImageFolder split holds one folder per class")
    samples = []
    for idx, name in enumerate(classes):
        for dirpath, _, files in sorted(os.walk(os.path.join(root, name), followlinks=True)):
            for fn in sorted(files):
                if fn.lower().endswith(IMAGE_EXTENSIONS):
                    samples.append((os.path.join(dirpath, fn), idx))
    if not samples:
        raise DataError(f"no images under {root} (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return samples, classes


class ImageFolder(ImageSource):
    """A labelled folder tree, ImageNet style: ``root/<train_dir>/<class>/*.jpg`` and ``root/<test_dir>/<class>/...``.

    Args:
        root: the dataset folder.
        train_dir / test_dir: names of the split folders (ImageNet: ``train`` and ``val``).
    """

    def __init__(self, root: str, train_dir: str = "train", test_dir: str = "val"):
        self.root = os.path.expanduser(root)
        self.train_dir, self.test_dir = train_dir, test_dir
        self._classes: Optional[List[str]] = None

    def _split_dir(self, split: Split) -> str:
        path = os.path.join(self.root, self.train_dir if split == "train" else self.test_dir)
        if not os.path.isdir(path):
            raise DataError(f"dataset folder {path} does not exist; point root at a folder with "
                            f"{self.train_dir}/<class>/ and {self.test_dir}/<class>/ image folders")
        return path

    @property
    def num_classes(self) -> int:
        if self._classes is None:
            self._classes = sorted(e.name for e in os.scandir(self._split_dir("train")) if e.is_dir())
        return len(self._classes)

    def dataset(self, split: Split, transform: Transform) -> Dataset:
        samples, classes = _class_folder_samples(self._split_dir(split))
        self._classes = self._classes or classes
        return _Files(samples, transform)

    def describe(self) -> str:
        return f"ImageFolder({self.root})"


class CIFAR10(ImageSource):
    """CIFAR-10 through torchvision, or an ImageFolder copy (``root/train/<class>/``, ``root/test/<class>/``).

    Args:
        root: folder holding torchvision's ``cifar-10-batches-py`` or an ImageFolder copy.
        download: let torchvision download the data into *root* when it is missing (needs internet).
    """

    num_classes = 10
    _tv_name = "CIFAR10"
    _tv_folder = "cifar-10-batches-py"

    def __init__(self, root: str = "data/cifar10", download: bool = False):
        self.root = os.path.expanduser(root)
        self.download = download

    def _is_image_folder(self) -> bool:
        return os.path.isdir(os.path.join(self.root, "train")) and os.path.isdir(os.path.join(self.root, "test"))

    def dataset(self, split: Split, transform: Transform) -> Dataset:
        if self._is_image_folder():
            samples, classes = _class_folder_samples(os.path.join(self.root, split))
            if len(classes) != self.num_classes:
                raise DataError(f"{os.path.join(self.root, split)} has {len(classes)} class folders; "
                                f"{self._tv_name} needs {self.num_classes}")
            return _Files(samples, transform)
        import torchvision

        if not self.download and not os.path.isdir(os.path.join(self.root, self._tv_folder)):
            raise DataError(
                f"{self._tv_name} not found in {self.root} (neither {self._tv_folder}/ nor train/ and test/ "
                f"class folders); set download: true to fetch it, or point root at a local copy")
        cls = getattr(torchvision.datasets, self._tv_name)
        try:
            return cls(self.root, train=split == "train", transform=transform, download=self.download)
        except RuntimeError as e:
            raise DataError(f"{self._tv_name} in {self.root}: {e}") from None

    def describe(self) -> str:
        return f"{self._tv_name}({self.root})"


class CIFAR100(CIFAR10):
    """CIFAR-100; arguments as :class:`CIFAR10`."""

    num_classes = 100
    _tv_name = "CIFAR100"
    _tv_folder = "cifar-100-python"

    def __init__(self, root: str = "data/cifar100", download: bool = False):
        super().__init__(root, download)


class UnlabeledFolder(ImageSource):
    """Any tree of images, no labels: only pretext objectives accept it.

    The held-out split is a fixed fraction of the files chosen by *seed* (or a folder given by *test_root*).

    Args:
        root: folder searched recursively for images.
        test_fraction: share of the images held out for evaluation.
        test_root: a separate folder of held-out images (overrides test_fraction).
        seed: seed of the train/test assignment.
    """

    labelled = False

    def __init__(self, root: str, test_fraction: float = 0.1, test_root: Optional[str] = None, seed: int = 0):
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        self.root = os.path.expanduser(root)
        self.test_fraction, self.test_root, self.seed = test_fraction, test_root, seed

    @staticmethod
    def _files(root: str) -> List[str]:
        if not os.path.isdir(root):
            raise DataError(f"image folder {root} does not exist; point root at a folder of images")
        files = sorted(
            os.path.join(d, f) for d, _, fs in os.walk(root, followlinks=True) for f in fs
            if f.lower().endswith(IMAGE_EXTENSIONS)
        )
        if not files:
            raise DataError(f"no images under {root} (looked for {', '.join(IMAGE_EXTENSIONS)})")
        return files

    def dataset(self, split: Split, transform: Transform) -> Dataset:
        if self.test_root is not None:
            files = self._files(self.root if split == "train" else os.path.expanduser(self.test_root))
        else:
            files = self._files(self.root)
            g = torch.Generator().manual_seed(self.seed)
            order = torch.randperm(len(files), generator=g).tolist()
            n_test = max(1, int(round(len(files) * self.test_fraction)))
            chosen = sorted(order[:n_test]) if split == "test" else sorted(order[n_test:])
            files = [files[i] for i in chosen]
        return _Files([(f, -1) for f in files], transform)

    def describe(self) -> str:
        return f"UnlabeledFolder({self.root})"


class _Tensors(Dataset):
    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform: Transform, labelled: bool):
        self.images, self.labels, self.transform, self.labelled = images, labels, transform, labelled

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        from torchvision.transforms.functional import to_pil_image

        return self.transform(to_pil_image(self.images[i])), int(self.labels[i]) if self.labelled else -1


class Generated(ImageSource):
    """Synthetic images with learnable structure (for tests and smoke runs; no files needed).

    Args:
        train_size / test_size: number of images per split.
        size: image side in pixels.
        num_classes: number of shape classes (the labels).
        labelled: False makes it behave like an unlabelled folder.
        seed: generation seed (the test split uses ``seed + 1``).
    """

    def __init__(self, train_size: int = 256, test_size: int = 64, size: int = 32, num_classes: int = 4,
                 labelled: bool = True, seed: int = 0):
        self.train_size, self.test_size, self.size = train_size, test_size, size
        self.num_classes, self.labelled, self.seed = num_classes, labelled, seed

    def dataset(self, split: Split, transform: Transform) -> Dataset:
        from unnas.data.generated import make_structured_dataset

        n = self.train_size if split == "train" else self.test_size
        images, labels = make_structured_dataset(n, self.size, self.num_classes, self.seed + (split == "test"))
        return _Tensors(images, labels, transform, self.labelled)
