"""RandomLabels: a fixed random class per image, derived from the image's pixels and a seed."""

import numpy as np
import pytest
import torch
from PIL import Image

import pretext_tasks
from pretext_tasks import PretextTask, RandomLabels
from pretext_tasks.random_labels import image_hash_labels
from unnas.spaces.darts import NetworkCIFAR


def _images(n, seed=0, side=32):
    return torch.randint(0, 256, (n, 3, side, side), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed)).float() / 255


def test_label_is_a_fixed_function_of_the_image():
    task = RandomLabels()
    x = _images(8)
    _, first = task.prepare(x, None, train=True, generator=torch.Generator().manual_seed(1))
    # another epoch: other augmentation, another batch order and composition, evaluation mode
    perm = torch.tensor([5, 2, 7, 0])
    _, again = task.prepare(x[perm], None, train=True, generator=torch.Generator().manual_seed(2))
    _, held = task.prepare(x[perm], None, train=False)
    assert torch.equal(again, first[perm]) and torch.equal(held, first[perm])
    _, alone = task.prepare(x[3:4], None, train=True)
    assert alone.item() == first[3].item()


def test_labels_ignore_dataset_labels_and_uint8_matches_float():
    task = RandomLabels(num_classes=4)
    x = _images(6)
    none = task.prepare(x, None, train=False)[1]
    assert torch.equal(task.prepare(x, torch.zeros(6, dtype=torch.long), train=False)[1], none)
    assert torch.equal(task.prepare(x, torch.arange(6), train=False)[1], none)
    assert torch.equal(task.prepare((x * 255).round().to(torch.uint8), None, train=False)[1], none)


def test_labels_are_uniform_across_images():
    labels = image_hash_labels(_images(5000, side=8), 10, seed=0)
    counts = torch.bincount(labels, minlength=10).double()
    chi2 = float(((counts - 500) ** 2 / 500).sum())
    assert chi2 < 27.9  # chi-square, 9 degrees of freedom, p = 0.001


def test_seed_gives_another_labelling():
    x = _images(1000, side=8)
    a, b = image_hash_labels(x, 10, seed=0), image_hash_labels(x, 10, seed=1)
    assert torch.equal(a, image_hash_labels(x, 10, seed=0))
    assert 0.05 < float((a == b).double().mean()) < 0.15  # independent labellings agree 1 time in 10


def test_labels_do_not_follow_the_true_classes():
    # images that share a true class (same colour, slightly different noise) get spread over the classes
    base = torch.full((200, 3, 8, 8), 0.5)
    noisy = (base + torch.rand(200, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.05)
    assert torch.bincount(image_hash_labels(noisy, 10, seed=0), minlength=10).min() > 5


def test_shapes_head_and_network():
    task = RandomLabels(num_classes=5)
    assert task.name == "random_labels" and not task.needs_labels and task.num_classes == 5
    assert task.input_shape(32) == (3, 32, 32) and task.state_dict() == {}
    net = NetworkCIFAR("darts_v2", C=4, layers=3, input_channels=3, head=task.head)
    x, y = task.prepare(_images(6), None, train=True, generator=torch.Generator().manual_seed(0))
    assert x.shape == (6, 3, 32, 32) and y.dtype == torch.int64 and int(y.max()) < 5
    logits, _ = net(x)
    assert logits.shape == (6, 5)
    loss = task.loss(logits, y)
    loss.backward()
    assert task.accuracy(logits, y)[1] == 6


def test_prepare_uses_only_the_given_generator():
    task, x = RandomLabels(), _images(4)
    state = torch.get_rng_state()
    a = task.prepare(x, None, train=True, generator=torch.Generator().manual_seed(3))
    assert torch.equal(torch.get_rng_state(), state)
    b = task.prepare(x, None, train=True, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0])


def test_imagenet_training_transform_is_deterministic():
    task = RandomLabels(style="imagenet")
    pil = Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8))
    a, b = task.sample_transform(True)(pil), task.sample_transform(True)(pil)
    assert a.shape == (3, 224, 224) and torch.equal(a, b)
    assert task.input_shape(224) == (3, 224, 224)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="num_classes"):
        RandomLabels(num_classes=1)
    with pytest.raises(ValueError, match="images"):
        RandomLabels().prepare(torch.rand(3, 32, 32), None, train=False)


def test_selected_by_class_path():
    from jsonargparse import ArgumentParser

    assert "RandomLabels" in pretext_tasks.__all__
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--task", type=PretextTask)
    cfg = parser.parse_args(["--task=pretext_tasks.RandomLabels", "--task.seed=4", "--task.num_classes=100"])
    task = (getattr(parser, "instantiate", None) or parser.instantiate_classes)(cfg).task
    assert type(task) is RandomLabels and task.seed == 4 and task.num_classes == 100
