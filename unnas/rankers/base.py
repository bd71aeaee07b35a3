"""The ranker interface: a training-free score of an untrained network from one fixed batch.

A :class:`Ranker` scores a network (``forward`` returning logits or ``(logits, aux)``) on a :class:`RankBatch`;
higher means predicted better. Every ranker works on a deep copy, so the caller's network (weights, BatchNorm
statistics, mode, dtype) is never changed, and runs under ``torch.random.fork_rng`` seeded with its ``seed``, so the
same seed and the same network and batch give the same score. It runs on the device the network and batch are on.
"""

from __future__ import annotations

import copy
import hashlib
from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import Callable, ClassVar, Iterable, Iterator, NamedTuple, Optional, Sequence, Tuple, TypeVar

import torch
from torch import Tensor, nn

from unnas.errors import ConfigError

T = TypeVar("T")


class RankBatch(NamedTuple):
    """One batch for the rankers: ``images [B, C, H, W]`` and integer ``labels [B]``."""

    images: Tensor
    labels: Tensor

    def to(self, device) -> "RankBatch":
        return RankBatch(self.images.to(device), self.labels.to(device))


def gaussian_batch(input_shape: Sequence[int], batch_size: int, num_classes: int, seed: int = 0) -> RankBatch:
    """A seeded standard-normal batch of *input_shape* (``(C, H, W)``) with seeded uniform labels in
    ``[0, num_classes)``; drawn on the CPU, so the same seed gives the same batch on every device."""
    if batch_size < 1 or num_classes < 1 or any(s < 1 for s in input_shape):
        raise ConfigError(f"batch size, classes and input shape must be positive, got {batch_size}, {num_classes}, "
                          f"{tuple(input_shape)}")
    g = torch.Generator().manual_seed(seed)
    images = torch.randn((batch_size, *input_shape), generator=g)
    labels = torch.randint(0, num_classes, (batch_size,), generator=g)
    return RankBatch(images, labels)


def image_batch(dataset, batch_size: int, seed: int = 0) -> RankBatch:
    """*batch_size* samples of *dataset* (items ``(image tensor, label)``) at seeded distinct indices."""
    n = len(dataset)
    if batch_size < 1 or batch_size > n:
        raise ConfigError(f"batch size must be between 1 and the data set's {n} samples, got {batch_size}")
    g = torch.Generator().manual_seed(seed)
    items = [dataset[int(i)] for i in torch.randperm(n, generator=g)[:batch_size]]
    return RankBatch(torch.stack([x for x, _ in items]), torch.as_tensor([int(y) for _, y in items]))


def data_batch(source, input_shape: Sequence[int], batch_size: int, seed: int = 0, normalize: bool = True,
               split: str = "train") -> RankBatch:
    """A seeded batch of real images of an :class:`~unnas.data.sources.ImageSource` (*split*), resized and
    centre-cropped to *input_shape*'s side, as ``[0, 1]`` tensors, standardised with the CIFAR statistics (as the
    training objectives do) when *normalize*; the labels are the source's. Pass ``normalize=False`` when a pretext
    objective's ``prepare`` standardises the images itself."""
    from torchvision import transforms as T

    from unnas.data.stats import default_stats

    if len(input_shape) != 3 or input_shape[0] != 3 or input_shape[1] != input_shape[2]:
        raise ConfigError(f"a batch of real images needs a square RGB input shape [3, S, S], got {list(input_shape)}")
    side = int(input_shape[1])
    batch = image_batch(source.dataset(split, T.Compose([T.Resize(side), T.CenterCrop(side), T.ToTensor()])),
                        batch_size, seed)
    if not normalize:
        return batch
    mean, std = default_stats("cifar", None, None)
    images = (batch.images - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    return RankBatch(images, batch.labels)


def isolated(net: nn.Module, seed: int, fn: Callable[[nn.Module], T]) -> T:
    """``fn`` of a deep copy of *net*, under ``torch.random.fork_rng`` seeded with *seed* (the caller's network and
    random state are left as they were): the contract every ranker scores under."""
    work = copy.deepcopy(net)
    param = next(net.parameters(), None)
    devices = [param.device] if param is not None and param.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return fn(work)


def batch_digest(batch: RankBatch) -> str:
    """A SHA-256 of the batch's images and targets (of any shape and dtype: a pretext objective's targets may be
    maps): equal digests, equal batches."""
    digest = hashlib.sha256()
    for t in (batch.images, batch.labels):
        a = t.detach().cpu()
        a = a.to(torch.float64) if a.is_floating_point() else a.to(torch.int64)
        digest.update(repr(tuple(a.shape)).encode())
        digest.update(a.contiguous().numpy().tobytes())
    return digest.hexdigest()


@contextmanager
def forward_hooks(modules: Iterable[nn.Module], hook: Callable) -> Iterator[None]:
    """*hook* registered as a forward hook on every module of *modules* for the ``with`` block, removed after it
    however the block ends."""
    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def logits_of(net: nn.Module, x: Tensor) -> Tensor:
    """The main logits of *net* on *x* (the first element when ``forward`` returns ``(logits, aux)``)."""
    out = net(x)
    return out[0] if isinstance(out, (tuple, list)) else out


def relus(net: nn.Module) -> Tuple[nn.Module, ...]:
    """The ``nn.ReLU`` modules of *net* (the activations naswot and swap read)."""
    return tuple(m for m in net.modules() if isinstance(m, nn.ReLU))


def weight_layers(net: nn.Module) -> Tuple[nn.Module, ...]:
    """The ``Conv2d`` and ``Linear`` layers, whose weights the per-parameter proxies sum over (zero-cost-nas)."""
    return tuple(m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


class Ranker(ABC):
    """A training-free ranker. Subclasses set ``name`` and implement :meth:`_score` on a private copy."""

    #: registry key and ``--rankers`` value
    name: ClassVar[str]
    #: whether the score depends on the batch's pixel values (``False``: only on its shape, or not on it at all),
    #: so a study scores a data-free ranker without loading images
    needs_images: ClassVar[bool] = True

    def __init__(self, seed: int = 0):
        self.seed = seed

    def score(self, net: nn.Module, batch: RankBatch) -> float:
        """The score of *net* on *batch* (higher = predicted better); *net* is left as it was."""
        return float(isolated(net, self.seed, lambda work: self._score(work, batch)))

    @abstractmethod
    def _score(self, net: nn.Module, batch: RankBatch) -> float:
        """The score on *net*, a copy this call may change."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seed={self.seed})"


class LossRanker(Ranker):
    """A ranker that needs a loss: cross-entropy on the batch's labels, or a pretext objective's loss.

    Args:
        objective: ``None`` for cross-entropy of the network's logits on the batch's labels (the network must have
            one output per class); else a :class:`~pretext_tasks.PretextTask` (e.g. ``pretext_tasks.Rotation``,
            label-free) whose ``prepare(images, labels, train=False)`` makes inputs and targets and whose ``loss``
            is used; the network must then carry that objective's head.
        seed: seeds torch's random numbers while scoring.
    """

    def __init__(self, objective: Optional[nn.Module] = None, seed: int = 0):
        super().__init__(seed)
        self.objective = objective

    def inputs_targets(self, batch: RankBatch) -> Tuple[Tensor, Tensor]:
        if self.objective is None:
            return batch.images, batch.labels
        objective = self.objective.to(batch.images.device)
        return objective.prepare(batch.images, batch.labels, train=False, generator=objective.eval_generator())

    def loss_fn(self, logits: Tensor, targets: Tensor) -> Tensor:
        if self.objective is None:
            return nn.functional.cross_entropy(logits, targets)
        return self.objective.loss(logits, targets)

    def __repr__(self) -> str:
        what = "labels" if self.objective is None else getattr(self.objective, "name", type(self.objective).__name__)
        return f"{type(self).__name__}(objective={what}, seed={self.seed})"
