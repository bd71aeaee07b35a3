"""GradSign: the sign-sum on known gradients, hand per-sample gradients of a linear classifier, a step-by-step
reference as the official code computes it, pretext objectives, determinism, the caller's network, the spaces and
``unnas rank``."""

import copy
import io
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

import pretext_tasks
from unnas.cli import main
from unnas.errors import ConfigError
from unnas.rankers import RANKERS, LossRanker, RankBatch, gaussian_batch
from unnas.rankers.gradsign import GradSign, gradsign, sign_sum
from unnas.spaces import NB201Space, space_class

CE = nn.functional.cross_entropy


def test_sign_sum_closed_forms():
    # all 3 samples agree on every one of 4 weights (whatever the magnitudes): 3 per weight
    agree = torch.tensor([[1.0, -2.0, 0.5, -1e-9], [3.0, -0.1, 2.0, -4.0], [0.2, -7.0, 1.0, -1.0]])
    assert sign_sum(agree) == 3 * 4
    # opposing signs cancel: two samples with opposite gradients score 0
    assert sign_sum(torch.stack([agree[0], -agree[0]])) == 0
    # zero gradients have sign 0
    assert sign_sum(torch.zeros(5, 7)) == 0
    # mixed: per weight |+1+1-1| = 1, |+1+0+0| = 1, |-1-1-1| = 3, |0| = 0
    mixed = torch.tensor([[1.0, 2.0, -1.0, 0.0], [1.0, 0.0, -1.0, 0.0], [-1.0, 0.0, -1.0, 0.0]])
    assert sign_sum(mixed) == 1 + 1 + 3 + 0
    # one sample: the number of non-zero gradients; the trailing shape does not matter
    assert sign_sum(mixed[:1].view(1, 2, 2)) == 3
    # a weight with a NaN gradient in any sample is left out (np.nansum of the official code)
    with_nan = mixed.clone()
    with_nan[1, 2] = float("nan")
    assert sign_sum(with_nan) == 1 + 1 + 0
    assert sign_sum(with_nan) == int(np.nansum(np.abs(np.sign(with_nan.numpy()).sum(axis=0))))


def test_per_sample_gradients_of_a_linear_classifier_by_hand():
    g = torch.Generator().manual_seed(3)
    w = torch.randn(3, 4, generator=g, dtype=torch.float64)
    x = torch.randn(6, 4, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 2, 1, 1, 0, 2])
    delta = torch.softmax(x @ w.T, dim=1) - nn.functional.one_hot(y, 3).double()
    per_sample = delta[:, :, None] * x[:, None, :]          # ∂CE(x_i)/∂W = (softmax − onehot)_i x_iᵀ: [6, 3, 4]
    expected = int(per_sample.sign().sum(0).abs().sum())
    batch_gradient = per_sample.mean(0)                      # what a single batch backward would give
    assert expected != int(batch_gradient.sign().abs().sum()) * 6  # the samples do disagree somewhere
    layer = nn.Linear(4, 3, bias=False).double()
    with torch.no_grad():
        layer.weight.copy_(w)
    assert sign_sum(per_sample) == expected
    assert gradsign(layer, x, y, CE) == expected
    assert GradSign().score(layer, RankBatch(x, y)) == expected


def _official_gradsign(net, x, y, loss_fn=CE):
    """``get_grad_conflict`` of cmu-catalyst/GradSign, step by step: a batch of one per sample, zero_grad,
    forward, backward, every Conv2d/Linear weight gradient flattened (zeros where none), ``np.sign``, the absolute
    column sums, ``np.nansum``."""
    rows = []
    for i in range(x.shape[0]):
        net.zero_grad()
        out = net.forward(x[[i]])
        loss_fn(out[0] if isinstance(out, tuple) else out, y[[i]]).backward()
        rows.append(np.concatenate([(m.weight.grad if m.weight.grad is not None else torch.zeros_like(m.weight))
                                    .detach().numpy().flatten() for m in net.modules()
                                    if isinstance(m, (nn.Conv2d, nn.Linear))]))
    return float(np.nansum(np.abs(np.sign(np.stack(rows)).sum(axis=0))))


def _tiny_conv_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 6, 3, stride=2),
                         nn.BatchNorm2d(6), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 5))


def test_agrees_with_a_step_by_step_reference_on_a_hand_built_network():
    net = _tiny_conv_net()
    batch = gaussian_batch((3, 7, 7), 9, 5, seed=4)
    ref = copy.deepcopy(net).train()  # the official code scores the network in training mode
    expected = _official_gradsign(ref, batch.images, batch.labels)
    score = GradSign().score(net, batch)
    assert score == expected and 0 < score < 9 * sum(m.weight.numel() for m in (net[0], net[3], net[8]))
    # BatchNorm on each sample's own statistics: scoring in eval mode (running statistics) gives another number
    assert score != _official_gradsign(copy.deepcopy(net).eval(), batch.images, batch.labels)


def test_agrees_with_the_reference_on_a_cell():
    net = _tiny("|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|")
    batch = gaussian_batch((3, 16, 16), 6, 10, seed=1)
    expected = _official_gradsign(copy.deepcopy(net).train(), batch.images, batch.labels)
    assert GradSign().score(net, batch) == expected and expected > 0


def _tiny(name="nb201_resnet", head=None):
    torch.manual_seed(0)
    space = NB201Space(channels=4, layers=1)
    return space.network(space.load(name), head=head)


def test_a_rotation_loss_needs_no_labels_and_counts_each_rotated_copy_as_a_sample():
    rotation = pretext_tasks.Rotation()
    net = _tiny(head=rotation.head)
    batch = gaussian_batch((3, 16, 16), 3, 10, seed=0)
    shuffled = RankBatch(batch.images, torch.tensor([7, 3, 1]))
    assert issubclass(GradSign, LossRanker) and RANKERS["gradsign"] is GradSign
    value = GradSign(objective=rotation).score(net, batch)
    assert math.isfinite(value) and value > 0 and value == GradSign(objective=rotation).score(net, shuffled)
    assert value != GradSign().score(_tiny(), batch)
    # every prepared row (4 rotations x 3 images) is one sample with its own target and the objective's loss
    x, y = rotation.prepare(batch.images, batch.labels, train=False, generator=rotation.eval_generator())
    assert x.shape[0] == 12
    assert value == _official_gradsign(copy.deepcopy(net).train(), x, y, rotation.loss)


def test_a_dense_colorization_loss_is_per_image():
    colorization = pretext_tasks.Colorization()
    torch.manual_seed(0)
    space = NB201Space(channels=4, layers=1)
    net = space.network(space.load("nb201_resnet"), head=colorization.head, input_channels=1)
    batch = RankBatch(torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)), torch.zeros(2).long())
    x, y = colorization.prepare(batch.images, batch.labels, train=False)
    expected = _official_gradsign(copy.deepcopy(net).train(), x, y, colorization.loss)
    assert GradSign(objective=colorization).score(net, batch) == expected and expected > 0


def test_a_contrastive_loss_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="per-sample loss") as e:
        GradSign(objective=pretext_tasks.Contrastive())
    assert "\n" not in str(e.value) and "rotation" in str(e.value)


def test_a_batchnorm_on_a_single_value_per_channel_is_a_one_line_error():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    with pytest.raises(ConfigError, match="larger input images"):
        GradSign().score(net, gaussian_batch((3, 3, 3), 2, 2, seed=0))


def test_seeded_deterministic_and_leaves_the_callers_network_unchanged():
    net = _tiny()
    net.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    batch = gaussian_batch((3, 16, 16), 4, 10, seed=2)
    first, second = GradSign(seed=1).score(net, batch), GradSign(seed=1).score(net, batch)
    assert first == second and first > 0
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert not net.training and all(p.grad is None for p in net.parameters())


@pytest.mark.parametrize("space,arch,shape", [
    ("nb201", "nb201_resnet", dict(channels=4, layers=1)),
    ("nb201", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", dict(channels=4, layers=1)),  # zero cell gradients
    ("darts", "DARTS_V2", dict(channels=4, layers=3)),
    ("nb101", "unnas_nb101/000907", dict(channels=4, layers=1)),
])
def test_every_space_scores_finitely(space, arch, shape):
    torch.manual_seed(0)
    s = space_class(space)(**shape)
    net = s.network(s.load(arch))
    batch = gaussian_batch((3, 16, 16), 3, 10, seed=1)
    value = GradSign().score(net, batch)
    assert math.isfinite(value) and value >= 0 and value == int(value)
    if "none" not in arch:
        assert value > 0


def _rank(*args):
    out = io.StringIO()
    assert main(["rank", *args, "--json"], out=out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_rank_command_with_labels_and_with_rotation():
    small = ["--space", "nb201", "--rankers", "gradsign", "--channels", "4", "--layers", "1", "--batch", "8"]
    arch = "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"
    row, = _rank(arch, *small)
    assert set(row) == {"genotype", "gradsign"} and math.isfinite(row["gradsign"]) and row["gradsign"] > 0
    rotated, = _rank(arch, *small, "--objective", "rotation")
    assert math.isfinite(rotated["gradsign"]) and rotated["gradsign"] > 0 and rotated["gradsign"] != row["gradsign"]


def test_rank_command_with_contrastive_is_a_one_line_error(capsys):
    assert main(["rank", "nb201_resnet", "--rankers", "gradsign", "--objective", "contrastive", "--channels", "4",
                 "--layers", "1", "--batch", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "gradsign" in err
