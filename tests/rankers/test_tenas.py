"""TE-NAS's te_ntk and te_lr: closed forms, step-by-step references on hand-built networks, seeding, every space,
the CLI."""

import copy
import io
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from unnas.cli import main
from unnas.errors import ConfigError
from unnas.rankers import RANKERS, RankBatch, TELinearRegions, TENTK, gaussian_batch, ranker_class
from unnas.rankers.tenas import (DEGENERATE_COND, condition_number, count_regions, kaiming_init_, linear_regions,
                                 ntk_jacobian, ntk_weights, pack_codes, random_crops, relu_patterns)
from unnas.spaces import space_class

CONV = "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"
CUT_OFF = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def test_condition_number_closed_forms():
    assert condition_number(torch.diag(torch.tensor([4.0, 1.0, 2.0]))) == pytest.approx(4.0, rel=1e-12)
    # J = [[1, 0], [1, 1]]: J Jᵀ = [[1, 1], [1, 2]], eigenvalues (3 ± √5) / 2
    jac = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    expected = (3 + math.sqrt(5)) / (3 - math.sqrt(5))
    assert condition_number(jac @ jac.T) == pytest.approx(expected, rel=1e-12)
    assert condition_number(torch.eye(5) * 7) == pytest.approx(1.0)
    # singular, zero, indefinite (rounding below zero) and non-finite Gram matrices are degenerate
    assert condition_number(torch.ones(3, 3)) == math.inf
    assert condition_number(torch.zeros(2, 2)) == math.inf
    assert condition_number(torch.tensor([[1.0, 0.0], [0.0, -1e-9]])) == math.inf
    assert condition_number(torch.tensor([[1.0, float("nan")], [float("nan"), 1.0]])) == math.inf


def _one_d_net(biases=(0.0, -1.0, -2.0)):
    """x -> ReLU(x - b_k) for kinks b_k = 0, 1, 2, summed: a 1-d piecewise linear function with 4 regions. A 1x1
    convolution on 1x1 images, so the ReLU sees a 4-d input as the official hook requires."""
    conv = nn.Conv2d(1, len(biases), 1)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.copy_(torch.tensor(biases))
    head = nn.Linear(len(biases), 1)
    return nn.Sequential(conv, nn.ReLU(), nn.Flatten(), head)


def test_regions_of_a_one_dimensional_relu_network_are_counted_by_hand():
    net = _one_d_net()
    x = torch.linspace(-1.05, 3.05, 83).view(-1, 1, 1, 1)  # no sample on a kink
    assert count_regions(relu_patterns(net, x)) == 4
    assert count_regions(relu_patterns(net, torch.linspace(0.5, 1.5, 11).view(-1, 1, 1, 1))) == 2
    assert count_regions(relu_patterns(net, torch.full((5, 1, 1, 1), 7.0))) == 1
    # the ranker's path: crops of 1x1 images are the images; the network's own weights kept
    assert linear_regions(net, x, side=1, batch_size=83, batches=1, init="none") == 4
    # two pooled forwards of the same samples: still 4 distinct patterns
    assert linear_regions(net, x, side=1, batch_size=200, batches=2, init="none") == 4
    # a linear network (no ReLU) is one linear region
    linear = nn.Sequential(nn.Conv2d(1, 3, 1), nn.Flatten(), nn.Linear(3, 1))
    assert count_regions(relu_patterns(linear, x)) == 1
    assert linear_regions(linear, x, side=1, batch_size=10, batches=1, init="none") == 1


def test_packed_patterns_separate_units_past_one_word():
    codes = torch.zeros(4, 70, dtype=torch.bool)
    codes[1, 40] = True   # differs from sample 0 only in the second word
    codes[2, 69] = True   # only in the third word
    codes[3, 40] = True   # the same as sample 1
    packed = pack_codes(codes)
    assert packed.shape == (4, 3) and count_regions(packed) == 3
    assert int(packed[1, 1]) == 1 << (40 - 32) and int(packed[2, 2]) == 1 << (69 - 64)


def _hand_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1),
                         nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))


def _reference_cond(net, x):
    """The official ``get_ntk_n`` step by step: training mode, one forward of the batch, per sample
    ``logit[i:i+1].backward(ones)``, the gradients of the parameters named ``weight``, ``J Jᵀ``, eigenvalues."""
    net.train()
    logit = net(x)
    rows = []
    for i in range(len(x)):
        net.zero_grad()
        logit[i:i + 1].backward(torch.ones_like(logit[i:i + 1]), retain_graph=True)
        rows.append(torch.cat([w.grad.flatten() for name, w in net.named_parameters()
                               if "weight" in name and w.grad is not None]))
    jac = torch.stack(rows).double().numpy()
    eig = np.linalg.eigvalsh(jac @ jac.T)
    return eig[-1] / eig[0]


def test_te_ntk_agrees_with_the_official_loop_on_a_hand_built_network():
    net = _hand_net()
    batch = gaussian_batch((3, 6, 6), 6, 3, seed=1)
    expected = _reference_cond(copy.deepcopy(net), batch.images)
    assert expected > 1
    assert TENTK(init="none").score(net, batch) == pytest.approx(-expected, rel=1e-6)
    # the default re-initialisation (Kaiming fan_out, zero biases) drawn after seeding with the ranker's seed
    reinit = copy.deepcopy(net)
    torch.manual_seed(5)
    kaiming_init_(reinit, "fan_out")
    expected = _reference_cond(reinit, batch.images)
    assert TENTK(seed=5).score(net, batch) == pytest.approx(-expected, rel=1e-6)
    # biases are not differentiated: the Jacobian has one column per weight entry
    width = sum(p.numel() for n, p in net.named_parameters() if "weight" in n)
    assert ntk_jacobian(copy.deepcopy(net).train(), batch.images).shape == (6, width)
    assert len(ntk_weights(net)) == 5


def test_te_lr_agrees_with_the_official_counter_on_a_hand_built_network():
    net = _hand_net()
    images = gaussian_batch((3, 8, 8), 4, 3, seed=2).images
    # the official calc_LR on the sign codes of the same crops: Σ_samples 1 / #samples sharing the pattern
    work = copy.deepcopy(net).train()
    crops = random_crops(images, 40, 3, torch.Generator().manual_seed(0))
    feats = []
    hooks = [m.register_forward_hook(lambda m, i, o: feats.append(o.detach().flatten(1)))
             for m in work.modules() if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        work(crops)
    for h in hooks:
        h.remove()
    act = torch.sign(torch.cat(feats, 1)).double()
    diff = act @ (1 - act).T
    diff = diff + diff.T
    expected = (1.0 / (1 - torch.sign(diff)).sum(1)).sum().item()
    assert 1 < expected < 40
    assert count_regions(relu_patterns(work, crops)) == round(expected)
    # crops are windows of the images
    assert torch.equal(random_crops(images, 1, 8, torch.Generator().manual_seed(0))[0],
                       images[int(torch.randint(0, 4, (1,), generator=torch.Generator().manual_seed(0)))])


def _net(space, arch, layers=1, channels=4):
    s = space_class(space)(channels=channels, layers=layers)
    genotype = s.arch_set(arch)[0][1] if ":" in arch else s.load(arch)
    torch.manual_seed(0)
    return s.network(genotype, num_classes=10)


def test_seeded_deterministic_and_leaves_the_network_unchanged():
    net = _net("nb201", CONV)
    net.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    batch = gaussian_batch((3, 16, 16), 8, 10, seed=0)
    for cls, kwargs in ((TENTK, {}), (TELinearRegions, {"batch_size": 200})):
        a, b, c = cls(seed=1, **kwargs).score(net, batch), cls(seed=1, **kwargs).score(net, batch), \
            cls(seed=2, **kwargs).score(net, batch)
        assert a == b and a != c and math.isfinite(a)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items()) and not net.training
    # both read the pixels (the official code scores real images)
    other = RankBatch(batch.images * 3 + 1, batch.labels)
    assert TENTK().score(net, other) != TENTK().score(net, batch)
    assert TELinearRegions().score(net, other) != TELinearRegions().score(net, batch)
    assert TENTK.needs_images and TELinearRegions.needs_images


@pytest.mark.parametrize("space,arch,layers", [
    ("nb201", "nb201_resnet", 1),
    ("nb201", CUT_OFF, 1),
    ("darts", "unnas500:1", 3),
    ("nb101", "unnas_nb101/000907", 1),
])
def test_every_space_is_finite(space, arch, layers):
    net = _net(space, arch, layers)
    batch = gaussian_batch((3, 16, 16), 8, 10, seed=0)
    ntk, lr = TENTK().score(net, batch), TELinearRegions(batch_size=300, batches=2).score(net, batch)
    assert math.isfinite(ntk) and math.isfinite(lr)
    assert -DEGENERATE_COND <= ntk <= -1 and 1 <= lr <= 600
    if arch == CUT_OFF:  # the output does not depend on the input or on any weight: the worst scores
        assert ntk == -DEGENERATE_COND and lr == 1
    else:
        assert ntk > -DEGENERATE_COND and lr > 10


def test_registered_constructible_and_checked():
    assert ranker_class("te_ntk") is TENTK and RANKERS["te_lr"] is TELinearRegions
    assert repr(TENTK(seed=2)) == "TENTK(repeats=1, init='fan_out', seed=2)"
    assert repr(TELinearRegions()) == ("TELinearRegions(side=3, batch_size=1000, batches=3, repeats=1, "
                                       "init='fan_in', seed=0)")
    for bad in ({"repeats": 0}, {"init": "xavier"}):
        with pytest.raises(ConfigError):
            TENTK(**bad)
    for bad in ({"side": 0}, {"batch_size": 1}, {"batches": 0}, {"init": "normal"}):
        with pytest.raises(ConfigError):
            TELinearRegions(**bad)
    with pytest.raises(ConfigError):
        TENTK().score(_net("nb201", "nb201_resnet"), gaussian_batch((3, 8, 8), 1, 10, seed=0))
    # repeats average re-initialisations
    net, batch = _net("nb201", CONV), gaussian_batch((3, 8, 8), 4, 10, seed=0)
    assert TENTK(repeats=2).score(net, batch) != TENTK().score(net, batch)


def test_unnas_rank_cli():
    out = io.StringIO()
    assert main(["rank", CONV, "--space", "nb201", "--rankers", "te_ntk,te_lr", "--channels", "4", "--layers", "1",
                 "--batch", "8", "--json"], out=out) == 0
    row, = [json.loads(line) for line in out.getvalue().splitlines()]
    assert set(row) == {"genotype", "te_ntk", "te_lr"}
    assert math.isfinite(row["te_ntk"]) and row["te_ntk"] < -1 and row["te_lr"] > 1
