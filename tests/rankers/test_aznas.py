"""AZ-NAS's four scores and the rank aggregation: closed forms, a step-by-step reference, every space, the CLI."""

import io
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from unnas.cli import main
from unnas.errors import ConfigError
from unnas.rankers import RANKERS, RankBatch, gaussian_batch
from unnas.rankers.aggregate import log_rank_sum, mean_rank
from unnas.rankers.aznas import (AZScores, az_nas_table, feature_entropy, gradient_map, kaiming_fanin_init,
                                 progressivity_of, seeded_scores, stage_modules, trainability_term)
from unnas.spaces import space_class

AZ = ["az_expressivity", "az_progressivity", "az_trainability", "az_complexity"]


# --- closed forms ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("C", [1, 3, 8])
def test_isotropic_features_have_the_maximal_entropy_log_c(C):
    # points ±s·e_k, k < C: zero mean, covariance (s²/C)·I, whatever the scale s
    eye = torch.eye(C)
    points = torch.cat([2.5 * eye, -2.5 * eye])                      # [2C, C]
    feature = points.view(2 * C, C, 1, 1).repeat(1, 1, 1, 1)          # B=2C samples of one pixel
    assert feature_entropy(feature) == pytest.approx(math.log(C), abs=1e-6)
    # the same points spread over pixels of one sample: positions, not samples, are the points
    assert feature_entropy(points.T.reshape(1, C, 2, C)) == pytest.approx(math.log(C), abs=1e-6)


def test_a_rank_one_feature_map_has_zero_entropy_and_a_skewed_spectrum_its_own():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4, 1, 5, 5, generator=g)
    v = torch.tensor([1.0, -2.0, 0.5, 3.0]).view(1, 4, 1, 1)
    assert feature_entropy(a * v) == pytest.approx(0.0, abs=1e-6)
    # two independent directions with variances 3:1 along orthogonal axes: entropy of p = (3/4, 1/4)
    x, y = torch.randn(2, 20000, generator=g)
    x, y = (x - x.mean()) / x.std(unbiased=False), (y - y.mean()) / y.std(unbiased=False)
    y = y - (x * y).mean() * x
    y = y / y.std(unbiased=False)
    feat = torch.stack([math.sqrt(3) * x, y], dim=1).view(20000, 2, 1, 1)
    expected = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert feature_entropy(feat) == pytest.approx(expected, abs=1e-6)


def test_progressivity_is_the_smallest_gain_between_consecutive_stages():
    assert progressivity_of([1.0, 3.0, 3.5, 5.0]) == pytest.approx(0.5)
    assert progressivity_of([2.0, 1.0, 4.0]) == pytest.approx(-1.0)
    with pytest.raises(ConfigError):
        progressivity_of([1.0])


def test_trainability_term_is_zero_at_unit_gain_and_penalises_both_directions():
    q, _ = torch.linalg.qr(torch.randn(5, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    assert trainability_term(q) == pytest.approx(0.0, abs=1e-5)
    assert trainability_term(2 * q) == pytest.approx(-0.5, abs=1e-5)
    assert trainability_term(0.5 * q) == pytest.approx(-0.5, abs=1e-5)


def test_gradient_map_unshuffles_a_downsampled_stage_and_matches_the_outer_product_mean():
    g = torch.Generator().manual_seed(2)
    g_in, g_out = torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 5, 2, 2, generator=g)
    un = nn.functional.pixel_unshuffle(g_in, 2)                                     # [2, 12, 2, 2]
    outer = torch.einsum("bihw,bohw->io", un.double(), g_out.double()) / (2 * 2 * 2)
    assert torch.allclose(gradient_map(g_in, g_out), outer)


# --- aggregation --------------------------------------------------------------------------------------------------

def test_log_rank_sum_and_mean_rank_of_a_hand_made_table():
    table = {"a": [3.0, 1.0, 2.0], "b": [10.0, 20.0, 30.0]}         # ranks a: 3 1 2, b: 1 2 3
    expected = [math.log(1) + math.log(1 / 3), math.log(1 / 3) + math.log(2 / 3), math.log(2 / 3) + math.log(1)]
    assert np.allclose(log_rank_sum(table), expected)
    assert np.allclose(mean_rank(table), [2.0, 1.5, 2.5])
    # ties share their mean rank; one proxy alone keeps its order
    assert np.allclose(log_rank_sum({"t": [5, 5, 7]}), np.log([1.5 / 3, 1.5 / 3, 1.0]))
    # non-linear: an architecture one proxy ranks last loses to a balanced one with the same mean rank
    table = {"a": [1, 3, 2, 4], "b": [4, 2, 3, 1]}       # ranks (1, 4) vs (3, 2): same mean
    agg = log_rank_sum(table)
    assert mean_rank(table)[0] == mean_rank(table)[1] and agg[1] > agg[0]


def test_aggregation_refuses_bad_tables():
    for bad in ({}, {"a": [1, 2], "b": [1]}, {"a": []}, {"a": [1.0, float("nan")]}):
        with pytest.raises(ConfigError):
            log_rank_sum(bad)


# --- the network side ---------------------------------------------------------------------------------------------

class _Cell(nn.Module):
    def __init__(self, C_in, C_out, stride):
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(), nn.Conv2d(C_in, C_out, 3, stride, 1, bias=False), nn.BatchNorm2d(C_out))

    def forward(self, x):
        return self.op(x)


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4))
        self.cells = nn.ModuleList([_Cell(4, 4, 1), _Cell(4, 8, 2), _Cell(8, 8, 1)])
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        return self.fc(x.mean((2, 3))), None


def _reference(net, x, seed):
    """The official computation written out: Kaiming fan-in init, stage features, per-stage entropies, the random
    ±1 gradients drawn last stage first, 2 − σ − 1/σ, and the multiply-adds by hand."""
    torch.manual_seed(seed)
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    net.train()
    feats = [net.stem(x)]
    for cell in net.cells:
        feats.append(cell(feats[-1]))
    ent = []
    for f in feats:
        b, c, h, w = f.shape
        p = f.detach().double().permute(0, 2, 3, 1).reshape(b * h * w, c)
        p = p - p.mean(0, keepdim=True)
        s = torch.linalg.eigvalsh(p.T @ p / p.shape[0]).clamp_min(0)
        s = s / s.sum()
        ent.append(float(-(s * torch.log(s + 1e-8)).sum()))
    terms = []
    for i in reversed(range(1, len(feats))):
        g_out = (torch.bernoulli(torch.ones_like(feats[i]) * 0.5) - 0.5) * 2
        g_in = torch.autograd.grad(feats[i], feats[i - 1], g_out, retain_graph=True)[0]
        if g_in.shape[2] != g_out.shape[2]:
            g_in = nn.PixelUnshuffle(g_in.shape[2] // g_out.shape[2])(g_in)
        bo, co, ho, wo = g_out.shape
        mat = (g_in.permute(0, 2, 3, 1).reshape(-1, g_in.shape[1]).double().T
               @ g_out.permute(0, 2, 3, 1).reshape(-1, co).double()) / (bo * ho * wo)
        smax = float(torch.linalg.svdvals(mat).max())
        terms.append(-smax - 1 / (smax + 1e-6) + 2)
    side = x.shape[-1]
    macs = 3 * 4 * 9 * side ** 2 + 4 * 4 * 9 * side ** 2 + 4 * 8 * 9 * (side // 2) ** 2 + 8 * 8 * 9 * (side // 2) ** 2 + 80
    return AZScores(sum(ent), min(b - a for a, b in zip(ent[:-1], ent[1:])), float(np.mean(terms)), float(macs))


def test_the_rankers_agree_with_a_step_by_step_reference():
    torch.manual_seed(0)
    net = _Tiny()
    batch = gaussian_batch((3, 8, 8), 6, 10, seed=4)
    ref = _reference(_Tiny(), batch.images, seed=5)
    for name, expected in zip(AZ, ref):
        assert RANKERS[name](seed=5).score(net, batch) == pytest.approx(expected, rel=1e-6, abs=1e-9), name
    assert tuple(seeded_scores(net, batch, seed=5)) == pytest.approx(tuple(ref), rel=1e-6)
    # the score does not depend on the caller's weights (they are re-drawn), but on the seed
    other = seeded_scores(net, batch, seed=6)
    assert other.trainability != pytest.approx(ref.trainability, rel=1e-6)


def test_kaiming_init_sets_the_reference_statistics():
    torch.manual_seed(0)
    conv = nn.Conv2d(64, 128, 3)
    kaiming_fanin_init(conv)
    assert float(conv.weight.detach().std()) == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.05)
    assert float(conv.bias.detach().abs().sum()) == 0


def _net(space, arch, **shape):
    torch.manual_seed(0)
    s = space_class(space)(**shape)
    return s.network(s.load(arch))


NETS = [("nb201", "nb201_resnet", dict(channels=4, layers=1), 1 + 3 + 2),
        ("darts", "DARTS_V2", dict(channels=4, layers=3), 1 + 3),
        ("nb101", "unnas_nb101/000907", dict(channels=4, layers=1), None)]


@pytest.mark.parametrize("space,arch,shape,stages", NETS)
def test_every_space_scores_finitely_deterministically_and_leaves_the_network_unchanged(space, arch, shape, stages):
    net = _net(space, arch, **shape)
    if stages is not None:
        assert len(stage_modules(net)) == stages
    before = {k: v.clone() for k, v in net.state_dict().items()}
    batch = gaussian_batch((3, 16, 16), 4, 10, seed=1)
    for name in AZ:
        first, second = RANKERS[name](seed=2).score(net, batch), RANKERS[name](seed=2).score(net, batch)
        assert first == second and math.isfinite(first), name
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert net.training
    shared = seeded_scores(net, batch, seed=2)
    assert [RANKERS[n](seed=2).score(net, batch) for n in AZ] == list(shared)


def test_an_identity_cell_is_degenerate_on_trainability_and_ranks_last_there():
    batch = gaussian_batch((3, 16, 16), 4, 10, seed=0)
    identity = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"   # out = x + 0: gradients pass unchanged
    nets = [_net("nb201", a, channels=4, layers=1) for a in (identity, "nb201_resnet", "nb201_all_conv3x3")]
    table = az_nas_table(nets, batch)
    assert table["trainability"][0] == -1e8 and table["trainability"][1] > -1e8
    assert table["complexity"][0] < table["complexity"][1] < table["complexity"][2]
    assert log_rank_sum({"t": table["trainability"]})[0] == pytest.approx(math.log(1 / 3))  # last on trainability


def test_a_network_without_cells_is_refused():
    with pytest.raises(ConfigError, match="cells"):
        RANKERS["az_expressivity"]().score(nn.Linear(4, 3), RankBatch(torch.zeros(2, 4), torch.zeros(2).long()))


def test_unnas_rank_prints_the_four_scores():
    out = io.StringIO()
    assert main(["rank", "nb201_resnet", "--channels", "4", "--layers", "1", "--batch", "4", "--rankers", ",".join(AZ),
                 "--json"], out=out) == 0
    row = json.loads(out.getvalue())
    assert set(row) == {"genotype", *AZ} and all(math.isfinite(row[n]) for n in AZ)
    assert row["az_complexity"] > 0 and 0 < row["az_expressivity"]
