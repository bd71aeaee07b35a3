"""VKDNW: closed forms, a step-by-step autograd reference, seeding, every space, the CLI and the study's class_path."""

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
from unnas.rankers import RANKERS, VKDNW, RankBatch, gaussian_batch, ranker_class
from unnas.rankers.aznas import kaiming_fanin_init
from unnas.rankers.meco import gaussian_input
from unnas.rankers.vkdnw import (ALPHA, decile_entropy, fisher_matrix, logit_jacobians, selected_entries,
                                 smoothed_probabilities, spectrum, vkdnw_score)
from unnas.spaces import space_class


def _entropy(values):
    t = np.asarray(values, dtype=np.float64)
    t = t / (t.sum() + 1e-10)
    return float(-(t * np.log(t + 1e-10)).sum())


def test_decile_entropy_closed_forms():
    # equal eigenvalues: nine equal deciles, the maximum log 9
    assert decile_entropy(torch.full((20,), 3.0)) == pytest.approx(math.log(9), abs=1e-9)
    # 0, 1, ..., 10: the deciles are 1, ..., 9
    assert decile_entropy(torch.arange(11.0)) == pytest.approx(_entropy(range(1, 10)), abs=1e-12)
    # a zero spectrum (no gradient at all): 0, not nan
    assert decile_entropy(torch.zeros(7)) == 0.0
    # nine zeros and two fives: only the top decile (the 10th of 11 values) is positive, so one bin has all mass
    assert decile_entropy(torch.tensor([0.0] * 9 + [5.0, 5.0])) == pytest.approx(0.0, abs=1e-8)
    # scale invariant, and order of the eigenvalues irrelevant
    lam = torch.rand(30, generator=torch.Generator().manual_seed(0))
    assert decile_entropy(lam * 1e3) == pytest.approx(decile_entropy(lam.flip(0)), abs=1e-7)
    # linear interpolation as numpy's default percentile
    expected = _entropy(np.quantile(lam.double().numpy(), np.arange(1, 10) / 10))
    assert decile_entropy(lam) == pytest.approx(expected, abs=1e-12)
    # a more even spectrum scores higher
    assert decile_entropy(torch.linspace(1, 2, 50)) > decile_entropy(torch.logspace(0, 6, 50))


def test_fisher_matrix_closed_forms():
    # identity Jacobian, K = P = 2, p = (a, 1 - a): F = a(1 - a) [[1, -1], [-1, 1]]
    a = 0.3
    f = fisher_matrix(torch.eye(2)[None], torch.tensor([[a, 1 - a]]))
    assert torch.allclose(f, a * (1 - a) * torch.tensor([[1.0, -1], [-1, 1]], dtype=torch.float64))
    # identity Jacobian and uniform p over K: I/K - 11ᵀ/K², eigenvalues 0 and 1/K (K - 1 times)
    k = 5
    lam = spectrum(fisher_matrix(torch.eye(k)[None], torch.full((1, k), 1 / k, dtype=torch.float64)))
    assert torch.allclose(lam, torch.tensor([0.0] + [1 / k] * (k - 1), dtype=torch.float64), atol=1e-12)
    # a mean over samples; the same logit shift on every class (J's rows equal) carries no information
    j = torch.randn(3, 4, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    p = torch.softmax(torch.randn(3, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64), -1)
    per = [fisher_matrix(j[b:b + 1], p[b:b + 1]) for b in range(3)]
    assert torch.allclose(fisher_matrix(j, p), sum(per) / 3)
    assert torch.allclose(fisher_matrix(torch.ones(1, 4, 6, dtype=torch.float64), p[:1]), torch.zeros(6, 6, dtype=torch.float64),
                          atol=1e-12)
    # the official Cholesky form: L Lᵀ = diag(p) - ppᵀ, F = mean Jᵀ L Lᵀ J; equal to E_y~p[s_y s_yᵀ], s_y = Jᵀ(e_y - p)
    e = torch.eye(4, dtype=torch.float64)
    ref = sum(sum(p[b, y] * torch.outer(j[b].T @ (e[y] - p[b]), j[b].T @ (e[y] - p[b])) for y in range(4))
              for b in range(3)) / 3
    assert torch.allclose(fisher_matrix(j, p), ref, atol=1e-12)


def test_smoothed_probabilities():
    assert torch.allclose(smoothed_probabilities(torch.zeros(2, 4)), torch.full((2, 4), 0.25))
    p = smoothed_probabilities(torch.tensor([[100.0, 0, 0, 0]]))
    assert p[0, 0] == pytest.approx(1 - ALPHA + ALPHA / 4) and p[0, 1] == pytest.approx(ALPHA / 4)
    assert torch.allclose(p.sum(-1), torch.ones(1))


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3)))


def _reference(net, x, max_tensors=128, per_tensor=1):
    """Step by step with plain autograd: per sample (alone, eval mode) and class, the gradient of the logit w.r.t.
    every parameter, the chosen entries picked; the Fisher information E_{y~p}[s_y s_yᵀ] with s_y = Jᵀ(e_y − p)
    and p the smoothed softmax; numpy's eigenvalues, deciles and entropy."""
    net.eval()
    named = list(net.named_parameters())[:max_tensors]
    fisher = 0
    for b in range(x.shape[0]):
        z = net(x[b:b + 1])[0]
        k = z.shape[0]
        rows = []
        for c in range(k):
            grads = torch.autograd.grad(z[c], [p for _, p in named], retain_graph=True, allow_unused=True)
            row = []
            for (_, p), g in zip(named, grads):
                g = torch.zeros_like(p) if g is None else g
                idx = sorted({int(i) for i in np.linspace(0, p.numel() - 1, per_tensor)})
                row += [float(g.flatten()[i]) for i in idx]
            rows.append(row)
        jac = np.array(rows)  # [K, P]
        prob = torch.softmax(z.detach().double(), 0).numpy() * (1 - 0.05) + 0.05 / k
        for y in range(k):
            s = jac.T @ (np.eye(k)[y] - prob)
            fisher = fisher + prob[y] * np.outer(s, s)
    fisher = fisher / x.shape[0]
    lam = np.abs(np.linalg.eigvalsh(fisher))
    return _entropy(np.quantile(lam, np.arange(1, 10) / 10))


def test_agreement_with_a_step_by_step_autograd_reference():
    torch.manual_seed(0)
    net = _Tiny()
    x = torch.randn(6, 3, 5, 5, generator=torch.Generator().manual_seed(3))
    for max_tensors, per_tensor in ((128, 1), (3, 4), (6, 2)):
        expected = _reference(copy.deepcopy(net), x, max_tensors, per_tensor)
        value = vkdnw_score(copy.deepcopy(net), x, max_tensors, per_tensor, init=False)
        assert 0 < expected < math.log(9) and value == pytest.approx(expected, abs=1e-6), (max_tensors, per_tensor)
    # the ranker: a seeded copy re-initialised with Kaiming fan-in, on its own seeded Gaussian input
    batch = gaussian_batch((3, 5, 5), 6, 5, seed=9)
    work = copy.deepcopy(net)
    torch.manual_seed(4)
    kaiming_fanin_init(work)
    expected = _reference(work, gaussian_input(batch, 6, 4))
    assert VKDNW(seed=4).score(net, batch) == pytest.approx(expected, abs=1e-6)


def test_selected_entries_and_jacobian_shapes():
    net = _Tiny()  # conv.weight 108, conv.bias 4, bn.weight 4, bn.bias 4, fc.weight 20, fc.bias 5
    assert {k: v.tolist() for k, v in selected_entries(net, 2, 1).items()} == {"conv.weight": [0], "conv.bias": [0]}
    chosen = selected_entries(net, 128, 3)
    assert chosen["conv.weight"].tolist() == [0, 53, 107] and chosen["fc.bias"].tolist() == [0, 2, 4]
    assert selected_entries(net, 128, 200)["bn.bias"].tolist() == [0, 1, 2, 3]  # no repeats
    net.eval()
    x = torch.randn(3, 3, 4, 4)
    jac, logits = logit_jacobians(net, x, chosen)
    assert jac.shape == (3, 5, 18) and torch.allclose(logits, net(x), atol=1e-6)
    # the fc.bias entries: ∂z_c/∂b_i = δ_ci
    assert torch.allclose(jac[:, :, -3:], torch.eye(5)[:, [0, 2, 4]].expand(3, 5, 3))


def _tiny(space, arch, channels=4, layers=1):
    s = space_class(space)(channels=channels, layers=layers)
    genotype = s.arch_set(arch)[0][1] if ":" in arch else s.load(arch)
    torch.manual_seed(0)
    return s.network(genotype, num_classes=10)


def test_seeded_data_free_and_leaves_the_network_unchanged():
    net = _tiny("nb201", "nb201_resnet", channels=8)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    speedups = net.speedups
    batch = gaussian_batch((3, 16, 16), 8, 10, seed=0)
    a, b, c = VKDNW(seed=1).score(net, batch), VKDNW(seed=1).score(net, batch), VKDNW(seed=2).score(net, batch)
    assert a == b and a != c and 0 < a < math.log(9)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert net.training and net.speedups is speedups
    # the pixels and labels are not read, the batch's size is
    assert VKDNW().score(net, RankBatch(batch.images * 5 + 2, batch.labels.flip(0))) == VKDNW().score(net, batch)
    assert VKDNW().score(net, gaussian_batch((3, 16, 16), 4, 10, seed=0)) != VKDNW().score(net, batch)
    assert not VKDNW.needs_images
    # without re-initialisation the network's own weights are scored
    assert VKDNW(init=False).score(net, batch) != VKDNW().score(net, batch)
    assert VKDNW(max_tensors=8).score(net, batch) != VKDNW().score(net, batch)


@pytest.mark.parametrize("space,arch,layers", [
    ("nb201", "nb201_resnet", 1),
    ("nb201", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", 1),
    ("darts", "unnas500:1", 3),
    ("nb101", "unnas_nb101/000907", 1),
])
def test_every_space(space, arch, layers):
    net = _tiny(space, arch, layers=layers)
    value = VKDNW(seed=3).score(net, gaussian_batch((3, 16, 16), 4, 10, seed=0))
    assert math.isfinite(value) and 0 <= value <= math.log(9) + 1e-9
    if "none~0|+" in arch:  # all-none cells: the logits hardly depend on the weights, still finite
        assert value >= 0


def test_registered_constructible_and_bad_arguments():
    assert ranker_class("vkdnw") is VKDNW and RANKERS["vkdnw"] is VKDNW
    assert repr(VKDNW(seed=2)) == "VKDNW(max_tensors=128, per_tensor=1, seed=2, init=True, single=False)"
    for kwargs in ({"max_tensors": 0}, {"per_tensor": 0}):
        with pytest.raises(ConfigError):
            VKDNW(**kwargs)


def test_unnas_rank_cli():
    out = io.StringIO()
    arch = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"
    assert main(["rank", arch, "--space", "nb201", "--rankers", "vkdnw", "--channels", "4", "--layers", "1",
                 "--batch", "8", "--json"], out=out) == 0
    row, = [json.loads(line) for line in out.getvalue().splitlines()]
    assert set(row) == {"genotype", "vkdnw"} and math.isfinite(row["vkdnw"]) and row["vkdnw"] > 0


def test_study_builds_it_from_class_path():
    from unnas.study.ranker_tasks import build_ranker

    cfg = {"ranker": {"class_path": "unnas.rankers.VKDNW", "init_args": {"max_tensors": 16, "seed": 1}},
           "space": {"class_path": "unnas.spaces.NB201Space", "init_args": {"channels": 4, "layers": 1}},
           "input_shape": [3, 16, 16], "num_classes": 4, "batch_size": 8}
    ranker, space, data = build_ranker(cfg, "vkdnw")
    assert isinstance(ranker, VKDNW) and (ranker.max_tensors, ranker.seed, ranker.per_tensor) == (16, 1, 1)
    torch.manual_seed(0)
    net = space.network(space.load("nb201_resnet"), num_classes=4)
    assert math.isfinite(ranker.score(net, gaussian_batch((3, 16, 16), 8, 4, seed=0))) and data is None


def test_single_orders_by_the_number_of_trainable_tensors_first():
    from unnas.spaces import NB201Space

    space = NB201Space(channels=4, layers=1)
    batch = gaussian_batch((3, 16, 16), 4, 10, seed=0)
    scores = {}
    for cell in ("nb201_all_skip", "nb201_resnet", "nb201_all_conv3x3"):
        torch.manual_seed(0)
        net = space.network(space.load(cell))
        aleph = sum(1 for p in net.parameters() if p.requires_grad)
        entropy = VKDNW(seed=0).score(net, batch)
        single = VKDNW(seed=0, single=True).score(net, batch)
        assert single == pytest.approx(10 * aleph + entropy) and 0 <= entropy < 10
        scores[cell] = single
    assert scores["nb201_all_skip"] < scores["nb201_resnet"] < scores["nb201_all_conv3x3"]
