"""Interface checks that hold for every pretext task."""

import numpy as np
import pytest
import torch
from PIL import Image

import pretext_tasks
from pretext_tasks import Colorization, Jigsaw, PretextTask, Rotation, Supervised
from unnas.spaces.darts import Head, NetworkCIFAR


def test_exports():
    for name in ["PretextTask", "Supervised", "Rotation", "Colorization", "Jigsaw"]:
        assert name in pretext_tasks.__all__
        assert isinstance(getattr(pretext_tasks, name), type)
    assert all(issubclass(c, PretextTask) for c in (Supervised, Rotation, Colorization, Jigsaw))


def test_attributes(task):
    assert task.name in {"supervised", "rotation", "colorization", "jigsaw"}
    assert task.needs_labels == (task.name == "supervised")
    assert task.input_channels == (1 if task.name == "colorization" else 3)
    expected_classes = {"supervised": 4, "rotation": 4, "colorization": 313, "jigsaw": 24}[task.name]
    assert task.num_classes == expected_classes
    assert isinstance(task, torch.nn.Module)


def test_input_shape(task):
    expected = {"supervised": (3, 32, 32), "rotation": (3, 32, 32), "colorization": (1, 32, 32),
                "jigsaw": (4, 3, 12, 12)}[task.name]
    assert task.input_shape(32) == expected


def test_imagenet_input_shapes():
    assert Supervised(1000, style="imagenet").input_shape(224) == (3, 224, 224)
    assert Rotation(style="imagenet").input_shape(224) == (3, 224, 224)
    assert Colorization(style="imagenet").input_shape(224) == (1, 224, 224)
    assert Jigsaw(style="imagenet").input_shape(224) == (9, 3, 64, 64)


def test_prepare_shapes_match_input_shape(task, images, labels):
    for train in (True, False):
        inputs, targets = task.prepare(images, labels, train=train, generator=torch.Generator().manual_seed(0))
        assert inputs.dtype == torch.float32 and targets.dtype == torch.int64
        assert tuple(inputs.shape[1:]) == task.input_shape(32)
        assert int(targets.min()) >= 0 and int(targets.max()) < task.num_classes
        assert torch.isfinite(inputs).all()


def test_prepare_uses_only_the_given_generator(task, images, labels):
    state = torch.get_rng_state()
    a = task.prepare(images, labels, train=True, generator=torch.Generator().manual_seed(7))
    assert torch.equal(torch.get_rng_state(), state), "prepare drew from the global RNG although a generator was given"
    b = task.prepare(images, labels, train=True, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_training_augmentation_is_random(task, images, labels):
    if task.name == "colorization":
        images = images.repeat(4, 1, 1, 1)  # flip is its only randomness: make a no-flip-anywhere draw unlikely
        labels = labels.repeat(4)
    outs = [task.prepare(images, labels, train=True, generator=torch.Generator().manual_seed(s))[0] for s in (1, 2)]
    assert not torch.equal(outs[0], outs[1])


def test_uint8_input_is_scaled(task, labels):
    raw = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    a = task.prepare(raw, labels, train=False, generator=torch.Generator().manual_seed(0))
    b = task.prepare(raw.float() / 255, labels, train=False, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(a[0], b[0]) and torch.equal(a[1], b[1])


def test_bad_image_batch_is_rejected(task, labels):
    with pytest.raises(ValueError, match="images"):
        task.prepare(torch.rand(3, 32, 32), labels, train=False)
    with pytest.raises(ValueError, match="images"):
        task.prepare(torch.rand(6, 4, 32, 32), labels, train=False)


def test_head_network_loss_accuracy(task, images, labels):
    net = NetworkCIFAR("darts_v2", C=4, layers=3, input_channels=task.input_channels, head=task.head)
    head = task.head(32)
    assert isinstance(head, Head) and head.num_classes == task.num_classes
    inputs, targets = task.prepare(images, labels, train=True, generator=torch.Generator().manual_seed(0))
    logits, _ = net(inputs)
    assert logits.shape[0] == targets.shape[0] and logits.shape[1] == task.num_classes
    assert logits.shape[2:] == targets.shape[1:]
    loss = task.loss(logits, targets)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    correct, counted = task.accuracy(logits, targets)
    assert isinstance(correct, torch.Tensor) and isinstance(counted, int)
    assert counted == targets.numel() and 0 <= int(correct) <= counted
    # counted is per pixel for colorization, per sample otherwise
    per = {"supervised": 6, "rotation": 24, "colorization": 6 * 32 * 32, "jigsaw": 6}[task.name]
    assert counted == per


def test_accuracy_counts_exactly(task):
    if task.name == "colorization":
        logits = torch.zeros(2, 313, 2, 2)
        logits[:, 5] = 1.0
        targets = torch.tensor([[[5, 5], [1, 5]], [[5, 0], [0, 0]]])
        assert task.accuracy(logits, targets)[0].item() == 4 and task.accuracy(logits, targets)[1] == 8
    else:
        logits = torch.eye(task.num_classes)[:3] * 3
        targets = torch.tensor([0, 1, 0])
        correct, counted = task.accuracy(logits, targets)
        assert correct.item() == 2 and counted == 3


def test_loss_is_mean_cross_entropy(task):
    logits = torch.randn(3, task.num_classes)
    targets = torch.tensor([0, 1, 2])
    expected = -torch.log_softmax(logits, 1)[torch.arange(3), targets].mean()
    assert torch.allclose(task.loss(logits, targets), expected)


def test_constant_tables_are_buffers_outside_checkpoints(task):
    assert task.state_dict() == {}
    names = {n for n, _ in task.named_buffers()}
    assert {"norm_mean", "norm_std"} <= names
    moved = task.to(torch.float64)
    assert moved.norm_mean.dtype == torch.float64


@pytest.mark.parametrize("style", ["cifar", "imagenet"])
def test_sample_transform(task, style):
    task = type(task)(style=style) if task.name != "supervised" else Supervised(4, style=style)
    rng = np.random.default_rng(0)
    size = (32, 32) if style == "cifar" else (300, 400)
    pil = Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8))
    side = 32 if style == "cifar" else (255 if task.name == "jigsaw" else 224)
    for train in (True, False):
        out = task.sample_transform(train)(pil)
        assert out.dtype == torch.float32 and tuple(out.shape) == (3, side, side)
        assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0
    gray = Image.fromarray(rng.integers(0, 256, size, dtype=np.uint8))  # 1-channel files become RGB
    assert task.sample_transform(False)(gray).shape[0] == 3


def test_sample_transform_then_prepare(task):
    pil = Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    batch = torch.stack([task.sample_transform(True)(pil)] * 2)
    inputs, _ = task.prepare(batch, torch.tensor([0, 1]), train=True)
    assert tuple(inputs.shape[1:]) == task.input_shape(32)


def test_bad_style_and_stats():
    with pytest.raises(ValueError, match="style"):
        Rotation(style="mnist")
    with pytest.raises(ValueError, match="3 values"):
        Rotation(mean=[0.5])
    with pytest.raises(ValueError, match="positive"):
        Rotation(std=[0.2, 0.0, 0.2])


def test_lightning_cli_style_selection():
    """jsonargparse (LightningCLI's parser) resolves the tasks by short name and by class_path."""
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--task", type=PretextTask)
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes
    for args, cls in [(["--task=Rotation"], Rotation), (["--task=Colorization"], Colorization),
                      (["--task=Supervised", "--task.num_classes=100"], Supervised),
                      (["--task=pretext_tasks.Jigsaw", "--task.gray_prob=0.0", "--task.eval_seed=3"], Jigsaw),
                      (['--task={"class_path": "pretext_tasks.Jigsaw", "init_args": {"grid": 2}}'], Jigsaw)]:
        task = instantiate(parser.parse_args(args)).task
        assert type(task) is cls
    sup = instantiate(parser.parse_args(["--task=Supervised", "--task.num_classes=100"])).task
    assert sup.num_classes == 100
    jig = instantiate(parser.parse_args(["--task=Jigsaw", "--task.gray_prob=0.0", "--task.eval_seed=3"])).task
    assert jig.gray_prob == 0.0 and jig.eval_seed == 3
    col = instantiate(parser.parse_args(["--task=Colorization", "--task.style=imagenet",
                                         "--task.mean=[0.5, 0.5, 0.5]", "--task.std=[0.25, 0.25, 0.25]"])).task
    assert col.style == "imagenet" and col.l_mean == 0.5 and col.l_std == 0.25
    with pytest.raises(Exception):
        parser.parse_args(["--task=Rotation", "--task.style=mnist"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(task, images, labels):
    cuda_task = type(task)() if task.name != "supervised" else Supervised(4)
    cuda_task = cuda_task.to("cuda")
    for train in (True, False):
        a = task.prepare(images, labels, train=train, generator=torch.Generator().manual_seed(5))
        b = cuda_task.prepare(images.cuda(), labels.cuda(), train=train, generator=torch.Generator().manual_seed(5))
        assert b[0].device.type == "cuda" and b[1].device.type == "cuda"
        assert torch.allclose(a[0], b[0].cpu(), atol=1e-4)
        if task.name == "colorization":  # float differences may move a pixel across a bin edge
            assert (a[1] == b[1].cpu()).float().mean() > 0.999
        else:
            assert torch.equal(a[1], b[1].cpu())
