"""MeCo and MeCo_opt: closed forms, a hand-built network, the official formula step by step, seeding, every space."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from unnas.errors import ConfigError
from unnas.rankers import RANKERS, RankBatch, gaussian_batch, ranker_class
from unnas.rankers.meco import (MeCo, MeCoOpt, correlation, feature_maps, gaussian_input, meco, meco_opt,
                                min_eig_correlation, min_eig_sampled)
from unnas.spaces import space_class


def test_min_eigenvalue_closed_forms():
    t = torch.linspace(0, 1, 16)
    a, b = torch.sin(6.3 * t), torch.cos(3.1 * t) + t
    # two identical (or proportional) channels: the correlation matrix is [[1, 1], [1, 1]], eigenvalues 0 and 2
    assert min_eig_correlation(torch.stack([a, a])) == pytest.approx(0, abs=1e-12)
    assert min_eig_correlation(torch.stack([a, 3 * a + 1, b])) == pytest.approx(0, abs=1e-12)
    # orthogonal zero-mean channels: the identity, every eigenvalue 1
    rows = torch.tensor([[1., -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]])
    assert min_eig_correlation(rows) == pytest.approx(1, abs=1e-12)
    # two channels of correlation r: eigenvalues 1 ± |r|
    r = float(np.corrcoef(a.numpy(), b.numpy())[0, 1])
    assert min_eig_correlation(torch.stack([a, b])) == pytest.approx(1 - abs(r), abs=1e-9)
    # a constant channel: its row and column are undefined, set to 0 as the official code does, so the minimum is 0
    corr = correlation(torch.stack([a, torch.full_like(a, 2.0), b]))
    assert corr[1].abs().sum() == 0 and corr[:, 1].abs().sum() == 0 and corr.dtype == torch.float64
    assert min_eig_correlation(torch.stack([a, torch.zeros_like(a), b])) == pytest.approx(0, abs=1e-12)
    # one channel: a 1x1 correlation of 1
    assert min_eig_correlation(a[None]) == pytest.approx(1)


def test_sampled_term_scales_by_width_and_takes_all_channels_of_a_narrow_layer():
    rows = torch.eye(16)  # 16 uncorrelated channels (the unit vectors, centred, have correlation -1/15)
    full = min_eig_correlation(rows)
    g = torch.Generator().manual_seed(0)
    # any 8 of them: eigenvalues of the 8x8 block of the equicorrelated matrix, the smallest 1 - 1/15 ... times 16/8
    expected = float(np.linalg.eigvalsh(np.corrcoef(np.eye(16)[:8]))[0]) * 2
    assert min_eig_sampled(rows, 8, g) == pytest.approx(expected, rel=1e-9)
    narrow = torch.randn(5, 20, generator=g)
    assert min_eig_sampled(narrow, 8, g) == pytest.approx(min_eig_correlation(narrow), rel=1e-12)
    assert full == pytest.approx(0, abs=1e-9)  # the 16 centred unit vectors sum to 0: singular


class _OneConv(nn.Module):
    """A single 1x1 convolution with known weights mixing two input channels into three."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([[1., 0], [0, 1], [1, 1]]).view(3, 2, 1, 1))

    def forward(self, x):
        return self.conv(x)


def test_a_one_convolution_network_scores_its_hand_computed_value():
    x = torch.randn(1, 2, 5, 5, generator=torch.Generator().manual_seed(0))
    a, b = x[0, 0].flatten().double(), x[0, 1].flatten().double()
    # the conv's channels are a, b, a + b; the container (hooked too, as the official named_modules loop) outputs
    # the same map, so it counts twice. a + b lies in the span of a and b, so the correlation matrix is singular.
    assert meco(_OneConv(), x) == pytest.approx(0, abs=1e-9)
    net = _OneConv()
    with torch.no_grad():
        net.conv.weight[2] = torch.tensor([1., -1]).view(2, 1, 1)  # channels a, b, a - b: still singular
    assert meco(net, x) == pytest.approx(0, abs=1e-9)
    net = nn.Sequential(nn.Conv2d(2, 2, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(2).view(2, 2, 1, 1))
    r = float(torch.corrcoef(torch.stack([a, b]))[0, 1])
    # identity conv: the conv and the Sequential both output (a, b): 2 (1 - |r|)
    assert meco(net, x) == pytest.approx(2 * (1 - abs(r)), rel=1e-9)


def _official_meco(net, x, opt=False, seed=0):
    """The official get_score (HamsterMimi/MeCo correlation/NAS_Bench_201.py) step by step, in numpy: every module's
    output, the first sample reshaped [C, -1], np.corrcoef, NaN and inf set to 0, the smallest real eigenvalue
    (meco_opt: of 8 sampled channels, times C / 8), non-finite terms dropped, summed."""
    terms = []
    rng = torch.Generator().manual_seed(seed)

    def hook(module, inputs, output):
        if not (isinstance(output, torch.Tensor) and output.dim() >= 3):
            return
        fea = output[0].detach().double().numpy()
        n = fea.shape[0]
        fea = fea.reshape(n, -1)
        scale = 1.0
        if opt and n > 8:
            fea = fea[torch.randperm(n, generator=rng)[:8].numpy()]
            scale = n / 8
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.corrcoef(fea)
        corr = np.atleast_2d(corr)
        corr[~np.isfinite(corr)] = 0
        terms.append(float(np.min(np.real(np.linalg.eig(corr)[0]))) * scale)

    handles = [m.register_forward_hook(hook) for m in net.modules()]
    net.train()
    with torch.no_grad():
        net(x)
    for h in handles:
        h.remove()
    return float(sum(t for t in terms if math.isfinite(t)))


def _tiny(space, arch, channels=4, layers=1):
    torch.manual_seed(0)
    s = space_class(space)(channels=channels, layers=layers)
    return s, s.network(s.load(arch))


def test_agreement_with_the_official_formula_on_a_tiny_network():
    _, net = _tiny("nb201", "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
                   "avg_pool_3x3~2|", channels=16)
    batch = gaussian_batch((3, 16, 16), 4, 10, seed=0)
    x = gaussian_input(batch, 1, seed=3)
    expected = _official_meco(net, x)
    assert expected != 0 and MeCo(seed=3).score(net, batch) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    # meco_opt draws its channels from the global generator seeded with the ranker's seed, module by module
    # (the official code draws them with Python's random.sample; here a CPU generator seeded like torch's)
    expected_opt = _official_meco(net, x, opt=True, seed=3)
    assert MeCoOpt(seed=3).score(net, batch) == pytest.approx(expected_opt, rel=1e-9, abs=1e-9)
    assert expected_opt != pytest.approx(expected)  # 16-channel layers are sampled and scaled


def test_seeded_and_leaves_the_network_unchanged():
    _, net = _tiny("nb201", "nb201_resnet", channels=8)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.eval()
    batch = gaussian_batch((3, 16, 16), 2, 10, seed=0)
    for cls in (MeCo, MeCoOpt):
        a, b, c = cls(seed=1).score(net, batch), cls(seed=1).score(net, batch), cls(seed=2).score(net, batch)
        assert a == b and a != c and math.isfinite(a)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items()) and not net.training
    # data-free: the pixels do not matter, only the shape
    other = RankBatch(batch.images * 5 + 2, batch.labels)
    assert MeCo().score(net, other) == MeCo().score(net, batch)
    assert not MeCo.needs_images and not MeCoOpt.needs_images


def test_batch_size_changes_only_the_batchnorm_statistics():
    _, net = _tiny("nb201", "nb201_resnet")
    batch = gaussian_batch((3, 16, 16), 2, 10, seed=0)
    assert MeCo(batch_size=1).score(net, batch) != MeCo(batch_size=4).score(net, batch)
    assert math.isfinite(MeCo(batch_size=4).score(net, batch))
    with pytest.raises(ConfigError):
        MeCo(batch_size=0)
    with pytest.raises(ConfigError):
        MeCoOpt(channels=1)


def test_registered_and_class_path_constructible():
    assert ranker_class("meco") is MeCo and RANKERS["meco_opt"] is MeCoOpt
    assert repr(MeCoOpt(seed=2)) == "MeCoOpt(batch_size=1, channels=8, seed=2)"


@pytest.mark.parametrize("space,arch,layers", [
    ("nb201", "nb201_resnet", 1),
    ("nb201", "|none~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|skip_connect~1|none~2|", 1),
    ("darts", "unnas500:1", 3),
    ("nb101", "unnas_nb101/000907", 1),
])
def test_every_space(space, arch, layers):
    s = space_class(space)(channels=4, layers=layers)
    genotype = s.arch_set(arch)[0][1] if ":" in arch else s.load(arch)
    torch.manual_seed(0)
    net = s.network(genotype, num_classes=10)
    batch = gaussian_batch((3, 16, 16), 2, 10, seed=0)
    maps = feature_maps(net, gaussian_input(batch, 1, 0))
    assert maps and all(m.dim() == 2 for m in maps)
    for cls in (MeCo, MeCoOpt):
        value = cls().score(net, batch)
        assert math.isfinite(value) and value >= -1e-9  # every term is a minimum eigenvalue of a PSD matrix


def test_meco_opt_on_wide_layers_differs_from_meco_and_is_width_scaled():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU())
    x = torch.randn(1, 3, 12, 12)
    torch.manual_seed(0)
    value = meco_opt(net, x)
    assert value != pytest.approx(meco(net, x)) and value > 0


def test_unnas_rank_cli():
    out = subprocess.run([sys.executable, "-m", "unnas", "rank", "nb201_resnet", "--channels", "4", "--layers", "1",
                          "--rankers", "meco,meco_opt", "--batch", "2", "--json"],
                         capture_output=True, text=True, check=True).stdout
    row = json.loads(out.splitlines()[0])
    assert row["genotype"] == "nb201_resnet" and math.isfinite(row["meco"]) and math.isfinite(row["meco_opt"])
