"""Image sources: where the images (and labels, if any) come from.

A source builds a ``torch.utils.data.Dataset`` of ``(image, label)`` for a split, applying a per-image
transform (PIL image -> tensor) that the objective chooses. Unlabelled sources yield label ``-1``.
Select one in YAML with ``class_path`` (``unnas.data.CIFAR10``, ``unnas.data.ImageFolder``,
``unnas.data.UnlabeledFolder``, ``unnas.data.Generated``).
"""

from __future__ import annotations

import os
import re
import struct
import warnings
from typing import Callable, List, Literal, Optional, Sequence, Tuple

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from unnas.errors import ConfigError, UserError

Split = Literal["train", "test"]
Transform = Callable[[Image.Image], torch.Tensor]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

# torch re-raises an exception from a DataLoader worker as ``type(msg)`` with
# msg = "Caught <Name> in DataLoader worker process N.\nOriginal Traceback ...\n<module>.<Name>: <message>\n".
_WORKER_WRAPPED = re.compile(r"Caught (\w+) (.+?)\.\nOriginal Traceback", re.S)


def _unwrap_worker_message(message: str) -> str:
    """The original one-line message of an exception that torch re-raised from a loader worker, with the worker."""
    m = _WORKER_WRAPPED.match(message)
    if m is None:
        return message
    name, where = m.groups()
    for line in reversed(message.splitlines()):
        head, sep, rest = line.partition(": ")
        if sep and head.rsplit(".", 1)[-1] == name:
            return f"{rest} ({where})"
    return message


class DataError(UserError, ValueError):
    """A dataset that cannot be found or read; the one-line message names the path and the fix.

    Raised in a DataLoader worker, it reaches the main process as the same type with the same line (and the
    worker named), not with the worker's traceback.
    """

    def __init__(self, message: str = ""):
        super().__init__(_unwrap_worker_message(str(message)))


def load_rgb(path: str) -> Image.Image:
    """Open an image as RGB; a file that is not a readable image raises :class:`DataError` naming it.

    Images above PIL's ``Image.MAX_IMAGE_PIXELS`` (decompression bombs) are refused too, not only warned about.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with open(path, "rb") as f:
                return Image.open(f).convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError(f"image {path} is too large to decode ({e}); shrink or remove the file") from None
    except UnidentifiedImageError:
        raise DataError(f"cannot read image {path}: not an image format PIL recognises; "
                        f"remove or replace the file") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as e:
        raise DataError(f"cannot read image {path}: {e}; remove or replace the file") from None


def _check_image_size(image_size: Optional[int]) -> None:
    if image_size is not None and image_size < 1:
        raise ConfigError(f"image_size must be a positive number of pixels (or unset), got {image_size}")


def _resized(transform: Transform, image_size: Optional[int]) -> Transform:
    """*transform* preceded, when *image_size* is set, by a resize of the short side and a centre crop to it."""
    if image_size is None:
        return transform
    from torchvision import transforms as T

    return T.Compose([T.Resize(image_size), T.CenterCrop(image_size), transform])


class ImageSource:
    """Base class of the image sources."""

    labelled: bool = True
    num_classes: Optional[int] = None

    def dataset(self, split: Split, transform: Transform) -> Dataset:  # pragma: no cover
        raise NotImplementedError

    def describe(self) -> str:
        return type(self).__name__


def _hw(shape: Tuple[int, ...]) -> str:
    return "x".join(str(s) for s in shape[-2:])


class _Files(Dataset):
    """(path, label) pairs read lazily with :func:`load_rgb`.

    Every transformed image must have the size of the first one read (in this process): images of different
    sizes cannot share a batch, and the error names both files instead of failing later in collation.
    """

    def __init__(self, samples: Sequence[Tuple[str, int]], transform: Transform):
        self.samples = list(samples)
        self.transform = transform
        self._first: Optional[Tuple[str, Tuple[int, ...]]] = None

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        path, label = self.samples[i]
        image = self.transform(load_rgb(path))
        shape = tuple(getattr(image, "shape", ()))
        if self._first is None:
            self._first = (path, shape)
        elif shape != self._first[1]:
            first, first_shape = self._first
            raise DataError(
                f"images of different sizes: {first} is {_hw(first_shape)} and {path} is {_hw(shape)} (height x width) "
                f"after the objective's per-image transform, so they cannot share a batch; set the source's image_size "
                f"(data.source.init_args.image_size) to resize and centre-crop every image, or use the objective's "
                f"style: imagenet, which crops")
        return image, label


def _has_image(folder: str) -> bool:
    return any(f.lower().endswith(IMAGE_EXTENSIONS) for _, _, fs in os.walk(folder, followlinks=True) for f in fs)


def _class_folders(split_dir: str) -> List[str]:
    """Sorted class folder names of *split_dir* (hidden folders skipped); each must hold an image."""
    classes = sorted(e.name for e in os.scandir(split_dir) if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise DataError(f"no class folders in {split_dir}; an ImageFolder split holds one folder per class")
    for name in classes:
        folder = os.path.join(split_dir, name)
        if not _has_image(folder):
            raise DataError(f"class folder {folder} holds no images (looked for {', '.join(IMAGE_EXTENSIONS)}); "
                            f"add its images or remove the folder")
    return classes


def _class_folder_samples(split_dir: str, classes: Sequence[str], train_dir: str) -> List[Tuple[str, int]]:
    """(path, label) of every image of *split_dir*, labelled by the position of its folder in *classes*
    (the training split's class folders, so that a class has one label in every split)."""
    label = {name: i for i, name in enumerate(classes)}
    samples = []
    for name in _class_folders(split_dir):
        if name not in label:
            raise DataError(f"class folder {name} of {split_dir} is not a class of the training split {train_dir}; "
                            f"add {os.path.join(train_dir, name)} or remove {os.path.join(split_dir, name)}")
        for dirpath, _, files in sorted(os.walk(os.path.join(split_dir, name), followlinks=True)):
            for fn in sorted(files):
                if fn.lower().endswith(IMAGE_EXTENSIONS):
                    samples.append((os.path.join(dirpath, fn), label[name]))
    return samples


class ImageFolder(ImageSource):
    """A labelled folder tree, ImageNet style: ``root/<train_dir>/<class>/*.jpg`` and ``root/<test_dir>/<class>/...``.

    The training split's class folders, sorted by name, give the labels of every split; the test split may
    lack classes but not add any. Hidden folders are skipped; a class folder without images is an error.

    Args:
        root: the dataset folder.
        train_dir / test_dir: names of the split folders (ImageNet: ``train`` and ``val``).
        image_size: if set, resize the short side of every image to this many pixels and centre-crop a
            square, before the objective's transform (for images of varied sizes under a CIFAR-style objective).
    """

    def __init__(self, root: str, train_dir: str = "train", test_dir: str = "val", image_size: Optional[int] = None):
        _check_image_size(image_size)
        self.root = os.path.expanduser(root)
        self.train_dir, self.test_dir, self.image_size = train_dir, test_dir, image_size
        self._classes: Optional[List[str]] = None

    def _split_dir(self, split: Split) -> str:
        path = os.path.join(self.root, self.train_dir if split == "train" else self.test_dir)
        if not os.path.isdir(path):
            raise DataError(f"dataset folder {path} does not exist; point root at a folder with "
                            f"{self.train_dir}/<class>/ and {self.test_dir}/<class>/ image folders")
        return path

    @property
    def classes(self) -> List[str]:
        """Class names in label order: the training split's class folders, sorted."""
        if self._classes is None:
            self._classes = _class_folders(self._split_dir("train"))
        return self._classes

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def dataset(self, split: Split, transform: Transform) -> Dataset:
        samples = _class_folder_samples(self._split_dir(split), self.classes, self._split_dir("train"))
        return _Files(samples, _resized(transform, self.image_size))

    def describe(self) -> str:
        return f"ImageFolder({self.root})"


class CIFAR10(ImageSource):
    """CIFAR-10 through torchvision, or an ImageFolder copy (``root/train/<class>/``, ``root/test/<class>/``).

    In the ImageFolder copy the training split's class folders, sorted, give the labels of both splits
    (CIFAR's class names sort into the standard label order).

    Args:
        root: folder holding torchvision's ``cifar-10-batches-py`` or an ImageFolder copy.
        download: let torchvision download the data into *root* when it is missing (needs internet).
        image_size: if set, resize and centre-crop every image to this side before the objective's transform.
    """

    num_classes = 10
    _tv_name = "CIFAR10"
    _tv_folder = "cifar-10-batches-py"

    def __init__(self, root: str = "data/cifar10", download: bool = False, image_size: Optional[int] = None):
        _check_image_size(image_size)
        self.root = os.path.expanduser(root)
        self.download, self.image_size = download, image_size

    def _is_image_folder(self) -> bool:
        return os.path.isdir(os.path.join(self.root, "train")) and os.path.isdir(os.path.join(self.root, "test"))

    def dataset(self, split: Split, transform: Transform) -> Dataset:
        transform = _resized(transform, self.image_size)
        if self._is_image_folder():
            train_dir = os.path.join(self.root, "train")
            classes = _class_folders(train_dir)
            if len(classes) != self.num_classes:
                raise DataError(f"{train_dir} has {len(classes)} class folders; "
                                f"{self._tv_name} needs {self.num_classes}")
            return _Files(_class_folder_samples(os.path.join(self.root, split), classes, train_dir), transform)
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
        except OSError as e:  # urllib's URLError, a refused connection, DNS: no network, or no room on the disk
            if not self.download:
                raise
            reason = getattr(e, "reason", None) or e.strerror or e
            raise DataError(f"could not download {self._tv_name} into {self.root} ({str(reason).splitlines()[0][:100]}); "
                            f"download it on a machine with network access and copy it there, or point "
                            f"data.source.init_args.root at a local copy ({self._tv_folder}/ or train/ and test/ class "
                            f"folders) with download: false") from None

    def describe(self) -> str:
        return f"{self._tv_name}({self.root})"


class CIFAR100(CIFAR10):
    """CIFAR-100; arguments as :class:`CIFAR10`."""

    num_classes = 100
    _tv_name = "CIFAR100"
    _tv_folder = "cifar-100-python"

    def __init__(self, root: str = "data/cifar100", download: bool = False, image_size: Optional[int] = None):
        super().__init__(root, download, image_size)


class UnlabeledFolder(ImageSource):
    """Any tree of images, no labels: only pretext objectives accept it.

    The held-out split is a fixed fraction of the files chosen by *seed* (or a folder given by *test_root*).

    Args:
        root: folder searched recursively for images.
        test_fraction: share of the images held out for evaluation, in (0, 1).
        test_root: a separate folder of held-out images (overrides test_fraction).
        seed: seed of the train/test assignment.
        image_size: if set, resize and centre-crop every image to this side before the objective's transform
            (images of varied sizes under a CIFAR-style objective).
    """

    labelled = False

    def __init__(self, root: str, test_fraction: float = 0.1, test_root: Optional[str] = None, seed: int = 0,
                 image_size: Optional[int] = None):
        if not 0.0 < test_fraction < 1.0:
            raise ConfigError(f"UnlabeledFolder test_fraction (the share of the images held out for evaluation) "
                              f"must be between 0 and 1, both excluded, got {test_fraction}")
        _check_image_size(image_size)
        self.root = os.path.expanduser(root)
        self.test_fraction, self.test_root, self.seed, self.image_size = test_fraction, test_root, seed, image_size

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
            if n_test >= len(files):
                raise ConfigError(f"test_fraction={self.test_fraction} holds out {n_test} of the {len(files)} images "
                                  f"under {self.root} and leaves none for training; add images, lower test_fraction "
                                  f"or give a separate test_root")
            chosen = sorted(order[:n_test]) if split == "test" else sorted(order[n_test:])
            files = [files[i] for i in chosen]
        return _Files([(f, -1) for f in files], _resized(transform, self.image_size))

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
        train_size / test_size: number of images per split (at least 1).
        size: image side in pixels (at least 8).
        num_classes: number of shape classes (the labels), 2 to 6.
        labelled: False makes it behave like an unlabelled folder.
        seed: generation seed (the test split uses ``seed + 1``).
    """

    def __init__(self, train_size: int = 256, test_size: int = 64, size: int = 32, num_classes: int = 4,
                 labelled: bool = True, seed: int = 0):
        from unnas.data.generated import SHAPES

        for name, value, low in (("train_size", train_size, 1), ("test_size", test_size, 1), ("size", size, 8)):
            if value < low:
                raise ConfigError(f"Generated {name} must be at least {low}, got {value}")
        if not 2 <= num_classes <= len(SHAPES):
            raise ConfigError(f"Generated num_classes must be between 2 and {len(SHAPES)}, got {num_classes}")
        self.train_size, self.test_size, self.size = train_size, test_size, size
        self.num_classes, self.labelled, self.seed = num_classes, labelled, seed

    def dataset(self, split: Split, transform: Transform) -> Dataset:
        from unnas.data.generated import make_structured_dataset

        n = self.train_size if split == "train" else self.test_size
        images, labels = make_structured_dataset(n, self.size, self.num_classes, self.seed + (split == "test"))
        return _Tensors(images, labels, transform, self.labelled)

    def describe(self) -> str:
        return f"Generated({self.train_size} training, {self.test_size} test images)"
