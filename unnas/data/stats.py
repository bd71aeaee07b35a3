"""Dataset statistics for the data side (normalising images outside an objective, e.g. a ranker's batch of real
images). The objectives own normalisation, so the numbers live in :mod:`pretext_tasks.stats`; this module
re-exports them."""

from pretext_tasks.stats import (CIFAR_MEAN, CIFAR_STD, IMAGENET_EIGVAL, IMAGENET_EIGVEC, IMAGENET_MEAN, IMAGENET_STD,
                                 LIGHTING_STD, STYLE_STATS, default_stats)

__all__ = ["CIFAR_MEAN", "CIFAR_STD", "IMAGENET_MEAN", "IMAGENET_STD", "IMAGENET_EIGVAL", "IMAGENET_EIGVEC",
           "LIGHTING_STD", "STYLE_STATS", "default_stats"]
