"""Each task is learnable: a tiny DARTS network trained briefly on generated images beats chance and its
own untrained accuracy by a wide margin on held-out generated images.

Measured on one CPU thread (seeded, so repeatable): see the numbers next to each threshold.
"""

import pytest
import torch

from pretext_tasks import Colorization, Jigsaw, Rotation, Supervised
from unnas.data import make_structured_dataset
from unnas.spaces.darts import NetworkCIFAR

pytestmark = pytest.mark.slow


def recalibrate_batchnorm(net, task, images, generator, batches=4, batch_size=64):
    """Re-estimate BatchNorm statistics with the current weights (a few dozen steps are too few for
    the running averages to settle)."""
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    net.train()
    with torch.no_grad():
        for _ in range(batches):
            idx = torch.randint(0, images.shape[0], (batch_size,), generator=generator)
            net(task.prepare(images[idx], None if not task.needs_labels else torch.zeros(batch_size, dtype=torch.long),
                             train=True, generator=generator)[0])
    for m in bns:
        m.momentum = 0.1


def accuracy(net, task, images, labels):
    net.eval()
    correct, counted = 0, 0
    generator = task.eval_generator()
    with torch.no_grad():
        for i in range(0, images.shape[0], 64):
            inputs, targets = task.prepare(images[i:i + 64], labels[i:i + 64], train=False, generator=generator)
            c, n = task.accuracy(net(inputs)[0], targets)
            correct, counted = correct + int(c), counted + n
    return correct / counted


def train_and_evaluate(task, size, steps, batch_size, lr):
    """(untrained accuracy, trained accuracy) on 128 held-out images after *steps* Adam steps."""
    torch.manual_seed(0)
    train_x, train_y = make_structured_dataset(1024, size, num_classes=4, seed=1)
    test_x, test_y = make_structured_dataset(128, size, num_classes=4, seed=2)
    net = NetworkCIFAR("darts_v2", C=8, layers=3, input_channels=task.input_channels, head=task.head)
    generator = torch.Generator().manual_seed(0)
    recalibrate_batchnorm(net, task, train_x, generator)
    before = accuracy(net, task, test_x, test_y)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    net.train()
    for _ in range(steps):
        idx = torch.randint(0, train_x.shape[0], (batch_size,), generator=generator)
        inputs, targets = task.prepare(train_x[idx], train_y[idx], train=True, generator=generator)
        loss = task.loss(net(inputs)[0], targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    recalibrate_batchnorm(net, task, train_x, generator)
    return before, accuracy(net, task, test_x, test_y)


def test_supervised_learns():
    before, after = train_and_evaluate(Supervised(num_classes=4), size=16, steps=50, batch_size=32, lr=0.003)
    print(f"supervised: untrained {before:.3f}, trained {after:.3f} (chance 0.25)")
    assert before < 0.4
    assert after > 0.6 and after > before + 0.25


def test_rotation_learns():
    before, after = train_and_evaluate(Rotation(), size=16, steps=20, batch_size=16, lr=0.01)
    print(f"rotation: untrained {before:.3f}, trained {after:.3f} (chance 0.25)")
    assert before < 0.4
    assert after > 0.7 and after > before + 0.3


def test_jigsaw_learns():
    before, after = train_and_evaluate(Jigsaw(), size=32, steps=50, batch_size=32, lr=0.003)
    print(f"jigsaw: untrained {before:.3f}, trained {after:.3f} (chance 1/24 = 0.042)")
    assert before < 0.15
    assert after > 0.4 and after > before + 0.3


def test_colorization_learns():
    task = Colorization()
    _, train_bins = task.prepare(make_structured_dataset(1024, 16, 4, seed=1)[0], None, train=False)
    _, test_bins = task.prepare(make_structured_dataset(128, 16, 4, seed=2)[0], None, train=False)
    majority = (test_bins == torch.bincount(train_bins.flatten()).argmax()).float().mean().item()
    before, after = train_and_evaluate(task, size=16, steps=50, batch_size=32, lr=0.01)
    print(f"colorization: untrained {before:.3f}, trained {after:.3f}, most frequent bin {majority:.3f} (per pixel)")
    assert before < majority + 0.03
    assert after > majority + 0.1 and after > before + 0.1
