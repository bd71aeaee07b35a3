"""Rankers: closed forms on tiny networks, determinism, and orderings a broken ranker would get wrong."""

import gc
import math
import weakref

import pytest
import torch
from torch import nn

import pretext_tasks
from unnas.rankers import RANKERS, LossRanker, RankBatch, gaussian_batch, ranker_class
from hypothesis import given, settings
from hypothesis import strategies as st

from unnas.rankers.activations import jacobian_score, jacov, naswot, relu_kernel, relu_kernel_of
from unnas.rankers.gradients import fisher, grad_norm, grasp, snip
from unnas.rankers.synflow import synflow
from unnas.errors import ConfigError
from unnas.spaces import NB201Space

CE = nn.functional.cross_entropy


def _linear(weight):
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=False).double()
    with torch.no_grad():
        layer.weight.copy_(weight)
    return layer


def _data():
    g = torch.Generator().manual_seed(3)
    w = torch.randn(3, 4, generator=g, dtype=torch.float64)
    x = torch.randn(5, 4, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 2, 1, 1, 0])
    return w, x, y


def _ce_weight_grad(w, x, y):
    """∂ mean CE / ∂W of logits x Wᵀ, by hand: (softmax − onehot)ᵀ x / B."""
    delta = torch.softmax(x @ w.T, dim=1) - nn.functional.one_hot(y, 3).double()
    return delta.T @ x / x.shape[0], delta / x.shape[0]


def test_synflow_of_a_two_layer_chain_is_twice_the_path_sum_and_ignores_batchnorm():
    g = torch.Generator().manual_seed(0)
    w1, w2 = torch.randn(6, 4, generator=g), torch.randn(3, 6, generator=g)
    net = nn.Sequential(nn.Linear(4, 6, bias=False), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(w1)
        net[3].weight.copy_(w2)
    path_sum = float(torch.ones(3).double() @ w2.abs().double() @ w1.abs().double() @ torch.ones(4).double())
    assert synflow(net, (4,)) == pytest.approx(2 * path_sum, rel=1e-12)


def test_synflow_runs_in_float64_past_float32_range():
    net = nn.Sequential(*[nn.Linear(8, 8, bias=False) for _ in range(12)])
    for layer in net:
        nn.init.constant_(layer.weight, 1000.0)
    # each layer multiplies every unit by 8 * 1000: R = 8 * 8000**12, and a chain of L layers scores L * R
    value = synflow(net, (8,))
    assert value == pytest.approx(12 * 8 * 8000.0 ** 12, rel=1e-12) and value > torch.finfo(torch.float32).max


def test_grad_norm_snip_fisher_match_hand_gradients_of_a_linear_classifier():
    w, x, y = _data()
    grad, delta = _ce_weight_grad(w, x, y)
    assert grad_norm(_linear(w), x, y, CE) == pytest.approx(float(grad.norm()), rel=1e-9)
    assert snip(_linear(w), x, y, CE) == pytest.approx(float((w * grad).abs().sum()), rel=1e-9)
    g_nk = (x @ w.T) * delta
    # every one of a channel's 4 weights carries the channel's value, as in zero-cost-nas and NASLib
    assert fisher(_linear(w), x, y, CE) == pytest.approx(4 * float(0.5 * g_nk.pow(2).mean(0).sum()), rel=1e-9)


class _SpatialMean(nn.Module):
    def forward(self, x):
        return x.flatten(2).mean(-1)


def test_fisher_weights_each_channel_by_its_in_channels_times_kernel_area():
    g = torch.Generator().manual_seed(5)
    conv = nn.Conv2d(2, 3, 3, padding=1, bias=False).double()
    head = nn.Linear(3, 4, bias=False).double()
    with torch.no_grad():
        conv.weight.copy_(torch.randn(3, 2, 3, 3, generator=g, dtype=torch.float64))
        head.weight.copy_(torch.randn(4, 3, generator=g, dtype=torch.float64))
    x = torch.randn(6, 2, 5, 5, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 3, 1, 2, 2, 0])
    a = conv(x)
    logits = head(a.flatten(2).mean(-1))
    ga, gl = torch.autograd.grad(CE(logits, y), (a, logits))
    per_channel_conv = 0.5 * (a * ga).flatten(2).sum(-1).pow(2).mean(0)   # one value per output channel
    per_channel_head = 0.5 * (logits * gl).pow(2).mean(0)
    expected = float(per_channel_conv.sum() * (2 * 9) + per_channel_head.sum() * 3)
    assert fisher(nn.Sequential(conv, _SpatialMean(), head), x, y, CE) == pytest.approx(expected, rel=1e-9)


def test_grasp_is_minus_weight_times_hessian_gradient_product():
    w, x, y = _data()

    def loss(flat):
        return CE(x @ flat.view(3, 4).T, y)

    flat = w.flatten()
    hessian = torch.autograd.functional.hessian(loss, flat)
    gradient = torch.autograd.functional.jacobian(loss, flat)
    expected = float(-(flat * (hessian @ gradient)).sum())
    assert grasp(_linear(w), x, y, CE) == pytest.approx(expected, rel=1e-9)


def test_naswot_is_the_log_determinant_of_the_code_agreement_kernel():
    net = nn.Sequential(_linear(torch.eye(2, dtype=torch.float64)), nn.ReLU())
    distinct = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)
    # codes [[1,1],[0,1],[1,0]] -> K = [[2,1,1],[1,2,0],[1,0,2]], det 4
    assert naswot(net, distinct) == pytest.approx(math.log(4.0), rel=1e-12)
    identical = torch.tensor([[1.0, 2.0], [3.0, 1.0], [2.0, 2.0]], dtype=torch.float64)
    assert naswot(net, identical) < naswot(net, distinct)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(0, 40), st.integers(0, 2 ** 31 - 1))
def test_relu_kernel_is_the_agreement_count_of_the_codes(batch, units, seed):
    codes = torch.rand(batch, units, generator=torch.Generator().manual_seed(seed)) > 0.5
    c = codes.double()
    assert torch.equal(relu_kernel(codes), c @ c.T + (1 - c) @ (1 - c).T)


def test_kernel_accumulated_over_relus_equals_the_kernel_of_all_codes():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 5, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(3),
                        nn.ReLU())
    x = torch.randn(6, 3, 9, 9)
    net(x)
    codes = []
    handles = [m.register_forward_hook(lambda m, i, o: codes.append((i[0] > 0).flatten(1)))
               for m in net if isinstance(m, nn.ReLU)]
    net(x)
    for h in handles:
        h.remove()
    c = torch.cat(codes, dim=1).double()
    assert len(codes) == 3 and torch.equal(relu_kernel_of(net, x), c @ c.T + (1 - c) @ (1 - c).T)


def test_jacov_of_a_linear_net_sees_identical_jacobians():
    w = torch.tensor([[1.0, -2.0, 0.5], [0.0, 1.0, 3.0]], dtype=torch.float64)
    x = torch.randn(4, 3, dtype=torch.float64)
    # every sample's Jacobian is Wᵀ1: the correlation matrix is all ones, eigenvalues (4, 0, 0, 0)
    k = 1e-5
    expected = -((math.log(4 + k) + 1 / (4 + k)) + 3 * (math.log(k) + 1 / k))
    assert jacov(_linear(w), x) == pytest.approx(expected, rel=1e-6)
    assert jacobian_score(torch.eye(4, dtype=torch.float64)) > expected


def test_a_cell_cut_off_from_its_input_scores_the_degenerate_value_as_in_naslib():
    """NAS-Bench-201 cells whose output does not depend on the input: the Jacobian is zero (its correlations are
    undefined) and every sample has the same ReLU codes (a singular kernel); NASLib's table holds -1e8 for their
    jacov. Both rankers give that finite value, so the cells rank last."""
    from unnas.rankers.activations import DEGENERATE_SCORE

    batch = gaussian_batch((3, 32, 32), 6, 10, seed=0)
    assert DEGENERATE_SCORE == -1e8
    # nb201/09379 (a 3x3 conv whose node feeds nothing): the Jacobian is zero
    assert RANKERS["jacov"]().score(_tiny("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|avg_pool_3x3~2|"),
                                    batch) == DEGENERATE_SCORE
    # nb201/01130 (no conv; no ReLU sees the input): every sample has the same codes
    assert RANKERS["naswot"]().score(_tiny("|none~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|skip_connect~1|none~2|"),
                                     batch) == DEGENERATE_SCORE
    assert jacobian_score(torch.zeros(4, 5, dtype=torch.float64)) == DEGENERATE_SCORE
    connected = _tiny("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|nor_conv_3x3~2|")
    assert RANKERS["jacov"]().score(connected, batch) > DEGENERATE_SCORE
    assert RANKERS["naswot"]().score(connected, batch) > DEGENERATE_SCORE


def test_params_and_macs_of_a_linear_layer():
    batch = RankBatch(torch.zeros(2, 4), torch.zeros(2, dtype=torch.long))
    net = nn.Linear(4, 3)
    assert ranker_class("params")().score(net, batch) == 15
    assert ranker_class("macs")().score(net, batch) == 12


def _tiny(name, head=None):
    torch.manual_seed(0)
    space = NB201Space(channels=4, layers=1)
    return space.network(space.load(name), head=head)


def _ranker(name, batch, seed=0):
    """The registered ranker *name*; an aggregate with a reference of 3 tiny networks scored on *batch*."""
    from unnas.rankers import Aggregate
    from unnas.rankers.aggregate import calibrate

    cls = RANKERS[name]
    if not issubclass(cls, Aggregate):
        return cls(seed=seed)
    ranker = cls(seed=seed, reference=3)
    space = NB201Space(channels=4, layers=1)
    calibrate(ranker, space, space.network, batch)
    return ranker


@pytest.mark.parametrize("name", list(RANKERS))
def test_each_ranker_is_deterministic_and_leaves_the_network_unchanged(name):
    net = _tiny("nb201_resnet")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    batch = gaussian_batch((3, 32, 32), 4, 10, seed=1)
    first, second = _ranker(name, batch, seed=2).score(net, batch), _ranker(name, batch, seed=2).score(net, batch)
    assert first == second and math.isfinite(first)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert net.training


@pytest.mark.parametrize("name", list(RANKERS))
def test_needs_images_says_whether_the_pixels_change_the_score(name):
    """A ranker that says it needs no images scores two batches of the same shape alike; one that needs them
    does not."""
    net = _tiny("|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|")
    # 16 samples: fewer would cap swap's count of distinct sign patterns (at most 2^samples) on any images
    a, b = gaussian_batch((3, 32, 32), 16, 10, seed=1), gaussian_batch((3, 32, 32), 16, 10, seed=2)
    b = RankBatch(b.images * 3 + 1, a.labels)
    same = _ranker(name, a).score(net, a) == _ranker(name, b).score(net, b)
    assert same == (not RANKERS[name].needs_images)


def test_gaussian_batch_is_seeded():
    a, b, c = gaussian_batch((3, 8, 8), 4, 10, 0), gaussian_batch((3, 8, 8), 4, 10, 0), gaussian_batch((3, 8, 8), 4, 10, 1)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)
    with pytest.raises(ConfigError):
        gaussian_batch((3, 8, 8), 0, 10)


def test_synflow_and_naswot_prefer_the_all_conv_cell_to_the_all_skip_cell():
    batch = gaussian_batch((3, 16, 16), 8, 10, seed=0)
    conv, skip = _tiny("nb201_all_conv3x3"), _tiny("nb201_all_skip")
    assert RANKERS["synflow"]().score(conv, batch) > RANKERS["synflow"]().score(skip, batch)
    assert RANKERS["naswot"]().score(conv, batch) > RANKERS["naswot"]().score(skip, batch)


def test_loss_rankers_take_a_label_free_pretext_loss():
    rotation = pretext_tasks.Rotation()
    net = _tiny("nb201_resnet", head=rotation.head)
    batch = gaussian_batch((3, 16, 16), 2, 10, seed=0)
    shuffled = RankBatch(batch.images, torch.tensor([7, 3]))
    for name in ("grad_norm", "snip", "grasp", "fisher"):
        cls = RANKERS[name]
        assert issubclass(cls, LossRanker)
        value = cls(objective=rotation).score(net, batch)
        assert math.isfinite(value) and value == cls(objective=rotation).score(net, shuffled)  # labels unused


def test_unknown_ranker_names_the_known_ones():
    with pytest.raises(ConfigError, match="known rankers: synflow, naswot"):
        ranker_class("synflo")


class _RememberOutput(nn.Module):
    """A linear classifier that keeps a weak reference to its last output."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 3)
        self.last = None

    def forward(self, x):
        out = self.layer(x)
        self.last = weakref.ref(out)
        return out


@pytest.mark.parametrize("proxy", [fisher, grad_norm, snip, grasp])
def test_loss_proxies_free_the_batch_graph_when_they_return(proxy):
    net = _RememberOutput()
    proxy(net, torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2]), CE)
    gc.collect()
    assert net.last() is None  # a reference cycle through autograd would keep every scored batch's graph alive
