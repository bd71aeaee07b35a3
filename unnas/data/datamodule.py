"""The LightningDataModule: one image source, the objective's per-image transform, and the splits.

Batches are ``(images, labels)`` with images as float tensors in [0, 1] at a fixed size (the objective's
``sample_transform``) and ``-1`` labels for unlabelled sources; the objective's ``prepare`` does the
batched augmentation on the training device. With ``train_portion`` set (DARTS search), the training set
is split once, by ``split_seed``, into a weight half and an architecture half, and
``train_dataloader`` returns ``{"weights": ..., "arch": ...}``.
"""

from __future__ import annotations

from typing import Dict, Iterator, List, Optional, Union

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, Subset

from unnas.data.sources import DataError, ImageSource
from unnas.errors import ConfigError


class EpochShuffleSampler(Sampler[int]):
    """A permutation that depends only on ``(seed, epoch)``, so a resumed run sees the same order."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


def _seeded_subset(dataset: Dataset, size: Optional[int], seed: int, option: str, what: str) -> Dataset:
    """A seeded random subset of *size* images (all of them when *size* is None); *option* and *what* (the
    split and its source) name the setting in the error when the dataset has fewer images."""
    if size is None or size == len(dataset):
        return dataset
    if size > len(dataset):
        raise ConfigError(f"data.{option} {size} is larger than the {len(dataset)} images of {what}; lower it, "
                          f"or leave it unset to use them all")
    g = torch.Generator().manual_seed(seed)
    return Subset(dataset, sorted(torch.randperm(len(dataset), generator=g)[:size].tolist()))


def _check_sizes(batch_size: int, test_batch_size: Optional[int], num_workers: int, train_portion: Optional[float],
                train_size: Optional[int], test_size: Optional[int]) -> None:
    """Raise :class:`ConfigError` naming the first ``data.*`` option outside its range."""
    for option, value, low in (("batch_size", batch_size, 1), ("test_batch_size", test_batch_size, 1),
                               ("train_size", train_size, 1), ("test_size", test_size, 1),
                               ("num_workers", num_workers, 0)):
        if value is not None and value < low:
            raise ConfigError(f"data.{option} must be at least {low}, got {value}")
    if train_portion is not None and not 0.0 < train_portion < 1.0:
        raise ConfigError(f"data.train_portion (the share of the training images that trains the weights; the rest "
                          f"trains the architecture) must be between 0 and 1, both excluded, got {train_portion}; "
                          f"DARTS uses 0.5")


class ImageDataModule(L.LightningDataModule):
    """Data for search and training.

    Args:
        source: where the images come from (``unnas.data.CIFAR10``, ``ImageFolder``, ``UnlabeledFolder``, ``Generated``).
        batch_size: images per training batch (a rotation batch of B images holds 4B network samples).
        test_batch_size: images per evaluation batch (default: batch_size).
        num_workers: DataLoader worker processes (0 loads in the main process).
        train_portion: if set, in (0, 1): split the training set: this share trains the weights and the rest the
            architecture (DARTS: 0.5).
        split_seed: seed of the weight/architecture split and of the subsets.
        train_size / test_size: use a seeded random subset of this many images (CPU-sized runs); at most the
            split's size.
        shuffle_seed: seed of the per-epoch shuffling.
    """

    def __init__(self, source: ImageSource, batch_size: int = 64, test_batch_size: Optional[int] = None,
                 num_workers: int = 0, train_portion: Optional[float] = None, split_seed: int = 0,
                 train_size: Optional[int] = None, test_size: Optional[int] = None, shuffle_seed: int = 0):
        super().__init__()
        _check_sizes(batch_size, test_batch_size, num_workers, train_portion, train_size, test_size)
        self.source = source
        self.batch_size = batch_size
        self.test_batch_size = batch_size if test_batch_size is None else test_batch_size
        self.num_workers = num_workers
        self.train_portion = train_portion
        self.split_seed, self.shuffle_seed = split_seed, shuffle_seed
        self.train_size, self.test_size = train_size, test_size
        self.task = None
        self.split_indices: Optional[Dict[str, List[int]]] = None
        self._train: Optional[Dataset] = None
        self._test: Optional[Dataset] = None

    def attach_task(self, task) -> None:
        """Use *task*'s per-image transforms (done automatically from the trainer's LightningModule)."""
        self.task = task

    def _resolve_task(self):
        if self.task is None and self.trainer is not None:
            self.task = getattr(self.trainer.lightning_module, "task", None)
        if self.task is None:
            raise RuntimeError("ImageDataModule needs an objective: call attach_task(task) or use it with a module that has .task")
        if getattr(self.task, "needs_labels", False) and not self.source.labelled:
            raise DataError(f"the {self.task.name} objective needs labels, but {self.source.describe()} is unlabelled; "
                            f"use a pretext objective (rotation, colorization, jigsaw) or a labelled dataset")
        n_task, n_data = getattr(self.task, "num_classes", None), self.source.num_classes
        if getattr(self.task, "needs_labels", False) and n_data is not None and n_task != n_data:
            raise DataError(f"the {self.task.name} objective predicts {n_task} classes but {self.source.describe()} has "
                            f"{n_data}; set the objective's num_classes to {n_data}")
        return self.task

    def setup(self, stage: Optional[str] = None) -> None:
        task = self._resolve_task()
        if stage in (None, "fit") and self._train is None:
            self._train = _seeded_subset(self.source.dataset("train", task.sample_transform(train=True)),
                                         self.train_size, self.split_seed, "train_size",
                                         f"the training split of {self.source.describe()}")
            if self.train_portion is not None and self.split_indices is None:
                n = len(self._train)
                order = torch.randperm(n, generator=torch.Generator().manual_seed(self.split_seed + 1)).tolist()
                cut = int(n * self.train_portion)
                if cut < 1 or cut >= n:
                    raise ConfigError(f"data.train_portion={self.train_portion} splits the {n} training images into "
                                      f"{cut} for the weights and {n - cut} for the architecture; each part needs at "
                                      f"least one: use more training images or a train_portion nearer 0.5")
                self.split_indices = {"weights": sorted(order[:cut]), "arch": sorted(order[cut:])}
        if self._test is None:
            self._test = _seeded_subset(self.source.dataset("test", task.sample_transform(train=False)),
                                        self.test_size, self.split_seed, "test_size",
                                        f"the test split of {self.source.describe()}")

    def _loader(self, dataset: Dataset, train: bool, seed_offset: int = 0) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size if train else self.test_batch_size,
            sampler=EpochShuffleSampler(len(dataset), self.shuffle_seed + seed_offset) if train else None,
            drop_last=train and len(dataset) >= self.batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> Union[DataLoader, Dict[str, DataLoader]]:
        if self._train is None:
            self.setup("fit")
        if self.split_indices is None:
            return self._loader(self._train, train=True)
        return {
            "weights": self._loader(Subset(self._train, self.split_indices["weights"]), train=True),
            "arch": self._loader(Subset(self._train, self.split_indices["arch"]), train=True, seed_offset=1),
        }

    def val_dataloader(self) -> DataLoader:
        if self._test is None:
            self.setup("validate")
        return self._loader(self._test, train=False)

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()

    def precise_bn_loader(self) -> DataLoader:
        """Training images (the weight half during a search) in a fixed order, for recomputing BN statistics."""
        if self._train is None:
            self.setup("fit")
        data = self._train if self.split_indices is None else Subset(self._train, self.split_indices["weights"])
        return self._loader(data, train=False)

    def state_dict(self) -> dict:
        return {"split_indices": self.split_indices}

    def load_state_dict(self, state: dict) -> None:
        self.split_indices = state.get("split_indices")
