"""The synthetic structured images used by the learning tests."""

import pytest
import torch

from pretext_tasks import Colorization
from unnas.data import GeneratedImages, make_structured_dataset
from unnas.data.generated import SHAPES


def test_shapes_dtypes_and_determinism():
    x, y = make_structured_dataset(100, size=32, num_classes=4, seed=0)
    assert x.shape == (100, 3, 32, 32) and x.dtype == torch.uint8
    assert y.shape == (100,) and y.dtype == torch.int64
    assert set(y.tolist()) == {0, 1, 2, 3}
    x2, y2 = make_structured_dataset(100, size=32, num_classes=4, seed=0)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    x3, _ = make_structured_dataset(100, size=32, num_classes=4, seed=1)
    assert not torch.equal(x, x3)


def test_prefix_stable():
    small, small_y = make_structured_dataset(70, 16, 6, seed=3)
    big, big_y = make_structured_dataset(200, 16, 6, seed=3)
    assert torch.equal(small, big[:70]) and torch.equal(small_y, big_y[:70])
    assert make_structured_dataset(0, 16)[0].shape == (0, 3, 16, 16)


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_classes"):
        make_structured_dataset(4, num_classes=len(SHAPES) + 1)
    with pytest.raises(ValueError, match="size"):
        make_structured_dataset(4, size=4)


def test_structure_supports_the_tasks():
    x, _ = make_structured_dataset(256, 32, 4, seed=0)
    x = x.float() / 255
    top, bottom = x[:, :, :8].mean(dim=(0, 2, 3)), x[:, :, -8:].mean(dim=(0, 2, 3))
    assert top[0] > bottom[0] + 0.2 and bottom[2] > top[2] + 0.1   # warm top, cool bottom (hue follows position)
    assert x[:, :, :8].mean() > x[:, :, -8:].mean()                # brighter top: rotation is not symmetric
    task = Colorization()
    _, bins = task.prepare(x, None, train=False)
    assert len(torch.unique(bins)) > 30                             # many colour classes


def test_dataset_class():
    ds = GeneratedImages(10, size=16, num_classes=3, seed=0)
    image, label = ds[3]
    assert len(ds) == 10 and image.shape == (3, 16, 16) and image.dtype == torch.float32
    assert 0 <= float(image.min()) and float(image.max()) <= 1 and isinstance(label, int)
    x, y = make_structured_dataset(10, 16, 3, seed=0)
    assert torch.allclose(image, x[3].float() / 255) and label == int(y[3])
    unlabelled = GeneratedImages(10, size=16, num_classes=3, seed=0, labelled=False)
    assert torch.equal(unlabelled[3], image)
    transformed = GeneratedImages(4, size=32, transform=Colorization().sample_transform(train=False))
    image, _ = transformed[0]
    assert image.shape == (3, 32, 32) and torch.allclose(image, transformed.images[0].float() / 255)
    loader = torch.utils.data.DataLoader(ds, batch_size=4)
    images, labels = next(iter(loader))
    assert images.shape == (4, 3, 16, 16) and labels.shape == (4,)
