"""Data: image sources (CIFAR, ImageNet-style folders, unlabelled folders, generated images) and the
LightningDataModule that serves them to the search and training modules."""

from unnas.data.datamodule import ImageDataModule
from unnas.data.generated import GeneratedImages, make_structured_dataset
from unnas.data.sources import (
    CIFAR10,
    CIFAR100,
    DataError,
    Generated,
    ImageFolder,
    ImageSource,
    UnlabeledFolder,
)

__all__ = ["ImageDataModule", "GeneratedImages", "make_structured_dataset", "CIFAR10", "CIFAR100", "DataError",
           "Generated", "ImageFolder", "ImageSource", "UnlabeledFolder"]
