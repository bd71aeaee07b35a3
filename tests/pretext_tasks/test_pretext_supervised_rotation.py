"""Supervised and Rotation: the UnNAS augmentation and the four rotations."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pretext_tasks import Rotation, Supervised
from pretext_tasks.base import CIFAR_MEAN, CIFAR_STD, IMAGENET_MEAN, IMAGENET_STD


def normalized(x, mean=CIFAR_MEAN, std=CIFAR_STD):
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def test_supervised_needs_labels(images):
    with pytest.raises(ValueError, match="needs labels.*labelled dataset"):
        Supervised().prepare(images, None, train=True)


def test_supervised_label_count_checked(images):
    with pytest.raises(ValueError, match="one label per image"):
        Supervised().prepare(images, torch.tensor([1, 2]), train=False)


def test_supervised_eval_is_normalisation_only(images, labels):
    inputs, targets = Supervised(4).prepare(images, labels, train=False)
    assert torch.allclose(inputs, normalized(images), atol=1e-6)
    assert torch.equal(targets, labels)


def find_flip_and_shift(out, src, pad=4):
    """All (flip, dy, dx) such that out == crop of zero-padded (maybe flipped) src at offset (dy, dx)."""
    found = []
    for flip in (False, True):
        padded = F.pad(src.flip(-1) if flip else src, (pad, pad, pad, pad))
        for dy in range(2 * pad + 1):
            for dx in range(2 * pad + 1):
                if torch.allclose(padded[:, dy:dy + src.shape[1], dx:dx + src.shape[2]], out, atol=1e-6):
                    found.append((flip, dy, dx))
    return found


def test_supervised_cifar_train_is_flip_and_padded_crop():
    images = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    inputs, _ = Supervised().prepare(images, torch.zeros(64, dtype=torch.long), train=True,
                                     generator=torch.Generator().manual_seed(1))
    src = normalized(images)  # padding comes after normalisation: zeros in normalised units
    seen = []
    for i in range(64):
        found = find_flip_and_shift(inputs[i], src[i])
        assert len(found) == 1, f"image {i}: {found}"
        seen.append(found[0])
    flips = [f for f, _, _ in seen]
    offsets = {o for _, dy, dx in seen for o in (dy, dx)}
    assert 10 < sum(flips) < 54
    # pycls draws the crop offset with randint(0, 8): 0..7, never 8
    assert offsets <= set(range(8)) and len(offsets) >= 6


def test_supervised_imagenet_style():
    task = Supervised(1000, style="imagenet")
    images = torch.rand(16, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    inputs, _ = task.prepare(images, torch.zeros(16, dtype=torch.long), train=False)
    assert torch.allclose(inputs, normalized(images, IMAGENET_MEAN, IMAGENET_STD), atol=1e-6)
    zeros = torch.zeros(16, dtype=torch.long)
    inputs, _ = task.prepare(images, zeros, train=True, generator=torch.Generator().manual_seed(0))
    back = inputs * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    n_flipped = 0
    for i in range(16):
        # PCA lighting adds one small constant per image and channel; flip may mirror the image
        deltas = [back[i] - images[i], back[i] - images[i].flip(-1)]
        consts = [d.flatten(1).std(1).max() < 1e-5 for d in deltas]
        assert any(consts)
        n_flipped += int(not consts[0])
        shift = deltas[0 if consts[0] else 1].mean(dim=(1, 2))
        assert shift.abs().max() < 0.5 and shift.abs().max() > 0
    assert 0 < n_flipped < 16


def test_rotation_batch_layout(images):
    inputs, targets = Rotation().prepare(images, None, train=True, generator=torch.Generator().manual_seed(0))
    b = images.shape[0]
    assert inputs.shape == (4 * b, 3, 32, 32)
    assert torch.equal(targets, torch.tensor([0, 1, 2, 3] * b))
    assert torch.equal(torch.bincount(targets), torch.full((4,), b))


def test_rotation_eval_inputs_are_rot90_of_source(images):
    inputs, targets = Rotation().prepare(images, None, train=False)
    src = normalized(images)
    for j in range(inputs.shape[0]):
        i, k = divmod(j, 4)
        assert targets[j] == k
        assert torch.equal(inputs[j], torch.rot90(src[i], k, dims=(-2, -1)))
        # np.rot90(im, k, (1, 2)) on CHW, as UnNAS
        assert np.allclose(inputs[j].numpy(), np.rot90(src[i].numpy(), k, (1, 2)))


def test_rotation_rotates_the_augmented_image(images):
    """With training augmentation, the four copies are rotations of one augmented image."""
    inputs, targets = Rotation().prepare(images, None, train=True, generator=torch.Generator().manual_seed(3))
    src = normalized(images)
    for i in range(images.shape[0]):
        base = inputs[4 * i]
        assert len(find_flip_and_shift(base, src[i])) == 1
        for k in range(1, 4):
            assert torch.equal(inputs[4 * i + k], torch.rot90(base, k, dims=(-2, -1)))


def test_rotation_counter_clockwise():
    x = torch.zeros(1, 3, 4, 4)
    x[..., 0, :] = 1.0  # a bright top row
    inputs, _ = Rotation(mean=[0, 0, 0], std=[1, 1, 1]).prepare(x, None, train=False)
    assert inputs[1, 0, :, 0].eq(1).all()   # 90 degrees: top row -> left column
    assert inputs[2, 0, -1, :].eq(1).all()  # 180: bottom row
    assert inputs[3, 0, :, -1].eq(1).all()  # 270: right column


def test_rotation_rejects_non_square():
    with pytest.raises(ValueError, match="square"):
        Rotation().prepare(torch.rand(2, 3, 32, 24), None, train=False)
