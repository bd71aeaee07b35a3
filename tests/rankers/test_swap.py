"""SWAP: distinct sign patterns on hand-built layers, the official computation step by step, the Gaussian
re-initialisations, the size regulariser, determinism, the caller's network, the spaces and ``unnas rank``."""

import io
import json
import math

import pytest
import torch
from torch import nn

from unnas.cli import main
from unnas.rankers import RANKERS, RankBatch, gaussian_batch
from unnas.rankers.swap import SWAP, gaussian_init_, pack_patterns, size_factor, swap, swap_count, swap_of
from unnas.spaces import NB201Space
from unnas.spaces.complexity import count_params


def _official_swap(net, x):
    """``SWAP.forward`` of pym1024/SWAP: the outputs of the ReLUs whose input is 4-d, flattened per sample and
    concatenated (``reshape``: the official ``view`` fails on a non-contiguous ReLU output), ``torch.sign``, transposed to (neurons, samples), ``torch.unique(dim=0)``."""
    features = []
    handles = [m.register_forward_hook(lambda m, i, o: features.append(o.detach()) if i[0].dim() == 4 else None)
               for m in net.modules() if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        net(x)
    for h in handles:
        h.remove()
    activations = torch.sign(torch.cat([f.reshape(x.size(0), -1) for f in features], 1))
    return torch.unique(activations.T, dim=0).size(0)


def _two_neurons(w1, w2):
    """A 1x1 conv of one input channel to two channels, then a ReLU: neuron k's sign on sample x is [w_k x > 0]."""
    conv = nn.Conv2d(1, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([w1, w2]).view(2, 1, 1, 1))
    return nn.Sequential(conv, nn.ReLU())


X3 = torch.tensor([1.0, -2.0, 3.0]).view(3, 1, 1, 1)


def test_two_neuron_layer_with_known_sign_patterns():
    # weights of opposite signs: patterns (1, 0, 1) and (0, 1, 0) -> 2 distinct
    assert swap_of(_two_neurons(1.0, -1.0), X3) == 2
    # weights of the same sign: both (1, 0, 1) -> 1
    assert swap_of(_two_neurons(2.0, 0.5), X3) == 1
    # a ReLU after a fully connected layer (2-d input) is not counted, as in the official hook
    assert swap_of(nn.Sequential(nn.Flatten(), nn.Linear(1, 2), nn.ReLU()), X3) == 0


def test_count_of_binary_codes():
    codes = torch.tensor([[1, 1, 0, 1, 0],
                          [0, 0, 0, 1, 1],
                          [1, 1, 0, 1, 0]], dtype=torch.bool)   # columns: 101, 101, 000, 111, 010
    assert swap_count(codes) == 4
    assert swap_count(torch.zeros(3, 0, dtype=torch.bool)) == 0


@pytest.mark.parametrize("samples", [1, 5, 31, 32, 33, 70])
def test_packed_count_equals_unique_rows_for_any_batch_size(samples):
    g = torch.Generator().manual_seed(samples)
    codes = torch.rand(samples, 300, generator=g) > 0.5
    codes[:, 100:150] = codes[:, :50]          # repeated patterns
    assert swap_count(codes) == torch.unique(codes.T.to(torch.int64), dim=0).shape[0]
    packed = pack_patterns(codes)
    assert packed.shape == (300, math.ceil(samples / 32)) and bool((packed >= 0).all())


def test_count_is_bounded_by_two_to_the_samples():
    codes = torch.rand(3, 1000, generator=torch.Generator().manual_seed(0)) > 0.5
    assert swap_count(codes) == 8


def _tiny(name="|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"):
    torch.manual_seed(0)
    space = NB201Space(channels=4, layers=1)
    return space.network(space.load(name))


def test_agrees_with_the_official_computation_on_a_cell():
    net = _tiny()
    net.train()
    x = gaussian_batch((3, 16, 16), 12, 10, seed=0).images
    count = swap_of(net, x)
    assert count == _official_swap(net, x) and 1 < count <= 2 ** 12


def test_mean_over_gaussian_reinitialisations_step_by_step():
    """Each repeat draws the two weights from N(0, 1) in module order; the count is 2 when their signs differ."""
    repeats = 7
    torch.manual_seed(5)
    expected = []
    for _ in range(repeats):
        w = torch.randn(2)
        expected.append(2 if (w[0] > 0) != (w[1] > 0) else 1)
    torch.manual_seed(5)
    assert swap(_two_neurons(1.0, 1.0), X3, repeats=repeats) == pytest.approx(sum(expected) / repeats)
    assert 1 < sum(expected) / repeats < 2   # the seed mixes both cases
    net = _two_neurons(1.0, 1.0)
    batch = RankBatch(X3, torch.zeros(3, dtype=torch.long))
    assert SWAP(repeats=repeats, seed=5).score(net, batch) == pytest.approx(sum(expected) / repeats)


def test_gaussian_init_is_the_official_one():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.GroupNorm(1, 3), nn.Flatten(), nn.Linear(3, 2))
    for p in net.parameters():
        nn.init.constant_(p, 7.0)
    torch.manual_seed(1)
    gaussian_init_(net)
    torch.manual_seed(1)
    assert torch.equal(net[0].weight, torch.randn(3, 2, 3, 3)) and torch.equal(net[4].weight, torch.randn(2, 3))
    assert not net[0].bias.any() and not net[4].bias.any()
    for norm in (net[1], net[2]):
        assert bool((norm.weight == 1).all()) and not norm.bias.any()


def test_size_regulariser():
    net, batch = _tiny(), gaussian_batch((3, 16, 16), 6, 10, seed=0)
    plain = SWAP(repeats=2).score(net, batch)
    p = count_params(net)
    mu, sigma = p / 1e3 + 3.0, 20.0
    assert size_factor(p, mu, sigma) == pytest.approx(math.exp(-9.0 / 20.0), rel=1e-12)
    assert SWAP(repeats=2, mu=mu, sigma=sigma).score(net, batch) == pytest.approx(plain * math.exp(-9.0 / 20.0))
    assert SWAP(repeats=2, mu=mu).score(net, batch) == plain   # on only with both


def test_seeded_deterministic_and_leaves_the_callers_network_unchanged():
    net = _tiny()
    net.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    batch = gaussian_batch((3, 16, 16), 16, 10, seed=1)   # 2^16 patterns possible: the count does not saturate
    a, b = SWAP(repeats=3, seed=1).score(net, batch), SWAP(repeats=3, seed=1).score(net, batch)
    assert a == b and a > 1 and a != SWAP(repeats=3, seed=2).score(net, batch)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items()) and not net.training
    assert RANKERS["swap"] is SWAP and SWAP().repeats == 32


def test_a_richer_cell_has_more_patterns_than_an_all_skip_cell():
    batch = gaussian_batch((3, 16, 16), 10, 10, seed=0)
    conv = SWAP(repeats=2).score(_tiny("nb201_all_conv3x3"), batch)
    skip = SWAP(repeats=2).score(_tiny("nb201_all_skip"), batch)
    assert conv > skip


def _rank(*args):
    out = io.StringIO()
    assert main(["rank", *args, "--json"], out=out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_rank_command_on_nb201_darts_and_nb101():
    small = ["--channels", "4", "--layers", "1", "--batch", "4"]
    row, = _rank("nb201_resnet", "--rankers", "zico,swap", *small)
    assert set(row) == {"genotype", "zico", "swap"} and 1 < row["swap"] <= 16
    row, = _rank("DARTS_V2", "--rankers", "swap", "--channels", "4", "--layers", "3", "--batch", "4")
    assert 1 < row["swap"] <= 16
    row, = _rank("unnas_nb101/000907", "--rankers", "swap", *small)
    assert 1 < row["swap"] <= 16
