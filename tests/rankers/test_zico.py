"""ZiCo: the formula on known gradients, a step-by-step reference as the official code computes it, the ranker's
sub-batches, determinism, the caller's network, the spaces and ``unnas rank``."""

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
from unnas.rankers.zico import ZiCo, layer_gradients, split_batch, zico, zico_of_gradients
from unnas.spaces import NB201Space

CE = nn.functional.cross_entropy


def _official_zico(grad_dict):
    """``caculate_zico`` of SLDGroup/ZiCo, ``ZeroShotProxy/compute_zico.py``, on {layer: [N flat gradients]}."""
    total = 0.0
    for grads in grad_dict.values():
        grads = np.array(grads)
        nsr_std = np.std(grads, axis=0)
        nonzero_idx = np.nonzero(nsr_std)[0]
        nsr_mean_abs = np.mean(np.abs(grads), axis=0)
        tmpsum = np.sum(nsr_mean_abs[nonzero_idx] / nsr_std[nonzero_idx])
        if tmpsum != 0:
            total += np.log(tmpsum)
    return float(total)


def test_formula_on_known_gradients():
    # layer a: weights with gradients (1, 3), (2, 2), (0, 0) over two batches:
    #   mean|g| = 2, 2, 0; std = 1, 0, 0 -> only the first weight counts: 2 / 1 -> log 2
    a = torch.tensor([[1.0, 2.0, 0.0], [3.0, 2.0, 0.0]])
    # layer b: gradients (1, -1) and (-1, 1): mean|g| = 1, std = 1 for both -> log 2
    b = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
    # layer c: all zero -> no weight counts, the layer adds nothing
    c = torch.zeros(2, 4)
    assert zico_of_gradients([a, b, c]) == pytest.approx(2 * math.log(2.0), rel=1e-12)
    # three batches: (1, 2, 6): mean|g| = 3, population std = sqrt(14/3)
    d = torch.tensor([[1.0], [2.0], [6.0]])
    assert zico_of_gradients([d]) == pytest.approx(math.log(3.0 / math.sqrt(14.0 / 3.0)), rel=1e-12)
    # the weight's shape does not matter: a conv gradient [N, out, in, k, k] is flattened per batch
    assert zico_of_gradients([a.view(2, 3, 1, 1, 1)]) == pytest.approx(math.log(2.0), rel=1e-12)


def test_formula_agrees_with_the_official_code_on_random_gradients():
    g = torch.Generator().manual_seed(0)
    layers = [torch.randn(2, 5, 3, generator=g, dtype=torch.float64), torch.randn(2, 7, generator=g, dtype=torch.float64),
              torch.zeros(2, 3, dtype=torch.float64)]
    layers[1][:, 2] = 0.5  # a weight whose gradient does not vary
    official = _official_zico({i: [t.flatten().numpy() for t in layer] for i, layer in enumerate(layers)})
    assert zico_of_gradients(layers) == pytest.approx(official, rel=1e-12)


def test_zico_of_a_linear_classifier_uses_hand_gradients_of_each_sub_batch():
    g = torch.Generator().manual_seed(3)
    w = torch.randn(3, 4, generator=g, dtype=torch.float64)
    x = torch.randn(6, 4, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 2, 1, 1, 0, 2])
    grads = []
    for xs, ys in ((x[:3], y[:3]), (x[3:], y[3:])):
        delta = torch.softmax(xs @ w.T, dim=1) - nn.functional.one_hot(ys, 3).double()
        grads.append((delta.T @ xs / xs.shape[0]).flatten())   # ∂ mean CE / ∂W by hand
    grads = torch.stack(grads)
    expected = math.log(float((grads.abs().mean(0) / grads.std(0, unbiased=False)).sum()))
    layer = nn.Linear(4, 3, bias=False).double()
    with torch.no_grad():
        layer.weight.copy_(w)
    assert zico(layer, [(x[:3], y[:3]), (x[3:], y[3:])], CE) == pytest.approx(expected, rel=1e-9)
    batch = RankBatch(x, y)
    assert ZiCo().score(layer, batch) == pytest.approx(expected, rel=1e-9)


def _tiny(name="nb201_resnet", head=None):
    torch.manual_seed(0)
    space = NB201Space(channels=4, layers=1)
    return space.network(space.load(name), head=head)


def test_ranker_agrees_with_a_step_by_step_reference_on_a_cell():
    """The official ``getzico`` loop: train mode, zero_grad, forward and backward per batch, collect every
    Conv2d/Linear weight gradient, then ``caculate_zico``."""
    net = _tiny("|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|")
    batch = gaussian_batch((3, 16, 16), 8, 10, seed=1)
    score = ZiCo(batches=2, seed=0).score(net, batch)

    ref = copy.deepcopy(net)
    ref.train()
    grad_dict = {}
    for images, labels in ((batch.images[:4], batch.labels[:4]), (batch.images[4:], batch.labels[4:])):
        ref.zero_grad()
        out = ref(images)
        CE(out[0] if isinstance(out, tuple) else out, labels).backward()
        for name, mod in ref.named_modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                grad_dict.setdefault(name, []).append(mod.weight.grad.detach().flatten().double().numpy().copy())
    assert score == pytest.approx(_official_zico(grad_dict), rel=1e-5)
    assert math.isfinite(score) and score != 0


def test_sub_batches_split_the_batch_and_a_too_small_batch_is_a_one_line_error():
    batch = gaussian_batch((3, 4, 4), 5, 10, seed=0)
    parts = split_batch(batch, 3)
    assert [p.images.shape[0] for p in parts] == [2, 2, 1]
    assert torch.equal(torch.cat([p.images for p in parts]), batch.images)
    assert torch.equal(torch.cat([p.labels for p in parts]), batch.labels)
    with pytest.raises(ConfigError, match="at least"):
        ZiCo().score(_tiny(), gaussian_batch((3, 16, 16), 1, 10, seed=0))
    with pytest.raises(ConfigError):
        ZiCo(batches=1).score(_tiny(), gaussian_batch((3, 16, 16), 4, 10, seed=0))


def test_more_sub_batches_change_the_score():
    net, batch = _tiny(), gaussian_batch((3, 16, 16), 6, 10, seed=0)
    two, three = ZiCo(batches=2).score(net, batch), ZiCo(batches=3).score(net, batch)
    assert math.isfinite(two) and math.isfinite(three) and two != three


def test_seeded_deterministic_and_leaves_the_callers_network_unchanged():
    net = _tiny()
    net.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    batch = gaussian_batch((3, 16, 16), 4, 10, seed=2)
    first, second = ZiCo(seed=1).score(net, batch), ZiCo(seed=1).score(net, batch)
    assert first == second
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert not net.training and all(p.grad is None for p in net.parameters())


def test_a_pretext_loss_needs_no_labels():
    rotation = pretext_tasks.Rotation()
    net = _tiny(head=rotation.head)
    batch = gaussian_batch((3, 16, 16), 4, 10, seed=0)
    shuffled = RankBatch(batch.images, torch.tensor([7, 3, 1, 0]))
    assert issubclass(ZiCo, LossRanker) and RANKERS["zico"] is ZiCo
    value = ZiCo(objective=rotation).score(net, batch)
    assert math.isfinite(value) and value == ZiCo(objective=rotation).score(net, shuffled)
    assert value != ZiCo().score(_tiny(), batch)


def test_layers_without_gradient_are_left_out():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    unused = nn.Linear(3, 3)
    net.add_module("unused", unused)  # registered but never called: no gradient
    net.forward = lambda x: net[2](net[1](net[0](x)))
    grads = layer_gradients(net, [(torch.randn(3, 3), torch.tensor([0, 1, 0])),
                                  (torch.randn(3, 3), torch.tensor([1, 1, 0]))], CE)
    assert [tuple(g.shape) for g in grads] == [(2, 4, 3), (2, 2, 4)]


def _rank(*args):
    out = io.StringIO()
    assert main(["rank", *args, "--json"], out=out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_rank_command_on_nb201_darts_and_nb101_and_with_rotation():
    small = ["--channels", "4", "--layers", "1", "--batch", "4"]
    row, = _rank("nb201_resnet", "--rankers", "zico,swap", *small)
    assert set(row) == {"genotype", "zico", "swap"} and math.isfinite(row["zico"]) and row["swap"] > 0
    row, = _rank("nb201_resnet", "--rankers", "zico", "--objective", "rotation", *small)
    assert math.isfinite(row["zico"]) and row["zico"] != 0
    row, = _rank("DARTS_V2", "--rankers", "zico", "--channels", "4", "--layers", "3", "--batch", "4")
    assert math.isfinite(row["zico"]) and row["zico"] != 0
    row, = _rank("unnas_nb101/000907", "--rankers", "zico", *small)
    assert math.isfinite(row["zico"]) and row["zico"] != 0


def test_rank_command_batch_of_one_is_a_one_line_error(capsys):
    assert main(["rank", "nb201_resnet", "--rankers", "zico", "--channels", "4", "--layers", "1", "--batch", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "zico" in err
