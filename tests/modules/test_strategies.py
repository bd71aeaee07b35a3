"""Search strategies through the seam: GDAS's straight-through weights and their exact gradient, one op run per edge,
the plain and fused mixed-op paths equal under sampled weights, tau annealing, resume, and the GDAS configs."""


import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from conftest import CrashAtSecondEpoch, strategy_overlay, one_config_error
from pretext_tasks import Supervised
from unnas.data import Generated, ImageDataModule
from unnas.errors import ConfigError
from unnas.modules import WeightSharingSearch, FirstOrder
from unnas.modules.strategies import GDAS, linear_tau, straight_through
from unnas.spaces import DartsSpace, NB201Space
from unnas.spaces.darts import PRIMITIVES
from unnas.spaces.darts.supernet import darts_mixed_op
from unnas.spaces.oneshot import MixedOp, Supernet
from unnas.spaces.speedups import Speedups



class RecordingGDAS(GDAS):
    """GDAS that keeps every draw: ``(tau, key, sampled ops, weights)``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.draws = []

    def op_weights(self, alpha, key):
        out = super().op_weights(alpha, key)
        self.draws.append((self.tau, key, out.active, out.weights.detach().clone()))
        return out


def _supernet(space: str, speedups: Speedups):
    torch.manual_seed(3)
    if space == "darts":
        net = DartsSpace(channels=4, layers=3, speedups=speedups).supernet(num_classes=3)
    else:
        net = NB201Space(channels=4, layers=1, speedups=speedups).supernet(num_classes=3)
    net = net.double()
    with torch.no_grad():
        for a in net.arch_parameters():
            a.normal_(0.0, 1.0)
    return net


def _keys(net):
    return ["cell"] if len(net.arch_parameters()) == 1 else ["normal", "reduce"]


# ------------------------------------------------------------------------------------------- the weights themselves
@settings(max_examples=40, deadline=None)
@given(edges=st.integers(1, 6), ops=st.integers(2, 8), tau=st.floats(0.05, 20.0), seed=st.integers(0, 2**31 - 1))
def test_straight_through_weights_are_one_hot_in_value_and_carry_the_soft_gradient(edges, ops, tau, seed):
    """Value: exactly 0 off the sampled op, 1 (to rounding) on it; the sample is argmax(log_softmax(alpha) + g).
    Gradient: with upstream c = dL/dw, dL/dalpha = s * (c - <s, c>) / tau per edge, s the tau-softmax (the
    log-softmax's own Jacobian cancels, since the rows of ds/dz sum to zero)."""
    g = torch.Generator().manual_seed(seed)
    alpha = torch.randn(edges, ops, generator=g, dtype=torch.float64).requires_grad_(True)
    gumbels = -torch.empty(edges, ops, dtype=torch.float64).exponential_(generator=g).log()
    weights, soft = straight_through(alpha, gumbels, tau)
    index = torch.tensor(weights.active)
    one_hot = F.one_hot(index, ops).double()
    assert torch.equal(weights.weights.detach() * (1 - one_hot), torch.zeros(edges, ops, dtype=torch.float64))
    assert torch.allclose(weights.weights.detach(), one_hot, rtol=0, atol=1e-12)
    assert torch.equal(index, soft.argmax(-1))
    scores = alpha.detach().log_softmax(-1) + gumbels
    clear = (scores.topk(2, -1).values[:, 0] - scores.topk(2, -1).values[:, 1]) > 1e-9
    assert torch.equal(index[clear], scores.argmax(-1)[clear])
    c = torch.randn(edges, ops, generator=g, dtype=torch.float64)
    (grad,) = torch.autograd.grad((weights.weights * c).sum(), alpha)
    s = soft.detach()
    expected = s * (c - (s * c).sum(-1, keepdim=True)) / tau
    assert torch.allclose(grad, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("speedups", [Speedups.off(), Speedups.on()], ids=["plain", "fused"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("sampled", [0, 1, 3, 6], ids=lambda k: PRIMITIVES[k])
def test_a_sampled_mixed_op_passes_dl_dout_sum_to_the_unsampled_weights(speedups, stride, sampled):
    """Only the sampled op runs: its weight gets <dL/dout, op(x)>, every other weight sum(dL/dout) (the official
    code adds them as scalars); through the straight-through weights alpha gets s * (c - <s, c>) / tau."""
    torch.manual_seed(0)
    op = darts_mixed_op(4, stride, speedups=speedups).double()
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    alpha = torch.randn(1, len(op._ops), dtype=torch.float64).requires_grad_(True)
    gumbels = torch.zeros(1, len(op._ops), dtype=torch.float64)
    gumbels[0, sampled] = 8.0
    tau = 0.7
    weights, soft = straight_through(alpha, gumbels, tau)
    k = weights.active[0]
    assert k == sampled
    out = op(x, weights.weights[0], k)
    R = torch.randn_like(out)
    (grad,) = torch.autograd.grad((out * R).sum(), alpha)
    with torch.no_grad():
        c = torch.full((len(op._ops),), float(R.sum()), dtype=torch.float64)
        c[k] = (R * op._ops[k](x)).sum()
        s = soft[0]
        expected = s * (c - (s * c).sum()) / tau
    assert torch.allclose(grad[0], expected, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------------------------------- supernet forward passes
@pytest.mark.parametrize("speedups", [Speedups.off(), Speedups.on()], ids=["plain", "fused"])
@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_a_gdas_forward_equals_the_dense_forward_with_its_weights(space, speedups):
    """The sampled forward (one op per edge) gives the plain weighted sum over all ops at the same straight-through
    weights, and (to rounding of 1 - s + s) the supernet at the one-hot weights."""
    net = _supernet(space, speedups)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    gdas = RecordingGDAS(tau_max=2.0)
    net.set_op_weights(gdas.op_weights)
    torch.manual_seed(11)
    sampled = net(x)
    weights = {key: w for _, key, _, w in gdas.draws}
    assert sorted(weights) == sorted(_keys(net))
    net.set_op_weights(lambda alpha, key: weights[key])  # a plain tensor: every op runs
    dense = net(x)
    assert torch.allclose(sampled, dense, rtol=1e-12, atol=1e-12)
    one_hot = {key: F.one_hot(w.argmax(-1), w.shape[-1]).double() for key, w in weights.items()}
    net.set_op_weights(lambda alpha, key: one_hot[key])
    assert torch.allclose(sampled, net(x), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("speedups", [Speedups.off(), Speedups.on()], ids=["plain", "fused"])
@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_only_the_sampled_op_of_each_edge_runs(space, speedups):
    net = _supernet(space, speedups)
    gdas = RecordingGDAS()
    net.set_op_weights(gdas.op_weights)
    touched = {}
    edges = []
    for cell in net.cells:
        mixed = [m for m in cell.modules() if isinstance(m, MixedOp)]
        key = "cell" if space == "nb201" else ("reduce" if cell.reduction else "normal")
        for e, m in enumerate(mixed):
            edges.append((m, key, e))
            for k, op in enumerate(m._ops):
                for sub in op.modules():
                    sub.register_forward_pre_hook(lambda mod, inp, m=m, k=k: touched.setdefault(id(m), set()).add(k))
    if space == "nb201":
        edges = [(m, key, e % 6) for m, key, e in edges]
    net(torch.randn(2, 3, 8, 8, dtype=torch.float64))
    active = {key: a for _, key, a, _ in gdas.draws}
    assert len(edges) == (6 * 3 if space == "nb201" else 14 * 3)
    for m, key, e in edges:
        assert touched[id(m)] == {active[key][e]}


@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_plain_and_fused_paths_agree_under_gdas_weights(space):
    """Loss, every gradient (alphas included) and the BN statistics, in float64, for the same sample."""
    x, y = torch.randn(3, 3, 8, 8, dtype=torch.float64), torch.tensor([0, 2, 1])
    results = []
    for sp in (Speedups.off(), Speedups.on()):
        net = _supernet(space, sp)
        net.set_op_weights(GDAS(tau_max=1.5).op_weights)
        torch.manual_seed(5)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        results.append((loss.detach(), {n: p.grad for n, p in net.named_parameters()},
                        {n: b.double() for n, b in net.named_buffers()}))
    (l0, g0, b0), (l1, g1, b1) = results
    assert torch.allclose(l0, l1, rtol=1e-10, atol=1e-12)
    assert g0.keys() == g1.keys()
    for n in g0:
        if g0[n] is None:  # an op that was not sampled has no gradient on either path
            assert g1[n] is None, n
            continue
        assert torch.allclose(g0[n], g1[n], rtol=1e-8, atol=1e-10), n
    assert all(g0[n].abs().sum() > 0 for n in g0 if "alphas" in n)
    for n in b0:
        assert torch.allclose(b0[n], b1[n], rtol=1e-10, atol=1e-12), n


def test_the_default_op_weights_are_dartss_softmax():
    net = _supernet("darts", Speedups.off())
    weights = net.op_weights(net.alphas_normal, "normal")
    assert weights.active is None and torch.equal(weights.weights, F.softmax(net.alphas_normal, -1))
    assert torch.equal(FirstOrder().op_weights(net.alphas_reduce, "reduce"), F.softmax(net.alphas_reduce, -1))
    model = WeightSharingSearch(Supervised(num_classes=4), space=NB201Space(channels=2, layers=1))
    assert model.supernet._op_weights_rule == model.search_strategy.op_weights


# ------------------------------------------------------------------------------------------- tau, errors, state
def test_tau_falls_linearly_from_tau_max_to_tau_min():
    gdas = GDAS()
    assert gdas.tau == 10.0
    taus = []
    for epoch in range(5):
        gdas.on_epoch_start(epoch, 5)
        taus.append(gdas.tau)
    assert taus == pytest.approx([10.0, 7.525, 5.05, 2.575, 0.1], abs=1e-12)
    assert linear_tau(4.0, 1.0, 0, 1) == 4.0  # a one-epoch search stays at tau_max
    gdas.load_state_dict({})
    assert gdas.state_dict() == {"tau": pytest.approx(0.1)}
    other = GDAS()
    other.load_state_dict(gdas.state_dict())
    assert other.tau == gdas.tau


@pytest.mark.parametrize("make, message", [
    (lambda: GDAS(tau_max=0.0), "GDAS search_strategy.init_args.tau_max=0.0: must be a finite number in (0, inf); "
                                "set model.init_args.search_strategy.init_args.tau_max, e.g. 10.0"),
    (lambda: GDAS(tau_min=-1.0), "GDAS search_strategy.init_args.tau_min=-1.0: must be a finite number in (0, inf); "
                                 "set model.init_args.search_strategy.init_args.tau_min, e.g. 0.1"),
    (lambda: GDAS().on_epoch_start(0, -1), "GDAS anneals tau over trainer.max_epochs, which is -1; set "
                                           "trainer.max_epochs (e.g. 250, NAS-Bench-201's GDAS runs)"),
])
def test_impossible_gdas_settings_are_one_config_error_line(make, message):
    assert one_config_error(make) == message


def test_non_finite_alphas_stop_the_search_instead_of_resampling_forever():
    from unnas.modules.common import NonFiniteLossError

    with pytest.raises(NonFiniteLossError, match="GDAS: the cell alphas are not finite; lower arch_lr"):
        GDAS().op_weights(torch.tensor([[0.0, float("nan")]]), "cell")


def test_draws_follow_the_seed():
    alpha = torch.randn(6, 5)
    draws = []
    for _ in range(2):
        torch.manual_seed(4)
        draws.append(GDAS().op_weights(alpha, "cell").active)
    assert draws[0] == draws[1]
    torch.manual_seed(5)
    assert any(GDAS().op_weights(alpha, "cell").active != draws[0] for _ in range(3))


# ------------------------------------------------------------------------------------------- the search module
def _gdas_search(strategy):
    return WeightSharingSearch(Supervised(num_classes=4), space=NB201Space(channels=2, layers=1), search_strategy=strategy,
                       arch_lr=0.01)


def _data():
    return ImageDataModule(Generated(train_size=32, test_size=8, size=8), batch_size=8, train_portion=0.5)


def _fit(root, strategy, epochs=2, callbacks=(), ckpt=None):
    model = _gdas_search(strategy)
    Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
            num_sanity_val_steps=0, default_root_dir=str(root),
            callbacks=[ModelCheckpoint(dirpath=str(root / "ckpt"), save_last=True), *callbacks]).fit(
        model, _data(), ckpt_path=ckpt)
    return model


def test_gdas_search_anneals_tau_and_resumes_with_the_same_tau_and_samples(tmp_path):
    seed_everything(0)
    full = _fit(tmp_path / "full", RecordingGDAS(tau_max=4.0, tau_min=0.5), epochs=3)
    assert [e["strategy"]["tau"] for e in full.alpha_history] == pytest.approx([4.0, 2.25, 0.5])
    # per step: one draw for the architecture step, one for the weight step; one per held-out batch
    taus = [t for t, _, _, _ in full.search_strategy.draws]
    assert taus == pytest.approx([4.0] * 5 + [2.25] * 5 + [0.5] * 5)
    seed_everything(0)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _fit(tmp_path / "part", RecordingGDAS(tau_max=4.0, tau_min=0.5), epochs=3, callbacks=[CrashAtSecondEpoch()])
    saved = torch.load(tmp_path / "part" / "ckpt" / "last.ckpt", weights_only=False)
    assert saved["unnas_search"]["strategy"] == {"tau": 4.0}
    seed_everything(123)  # a different process state: everything must come from the checkpoint
    resumed = _fit(tmp_path / "part", RecordingGDAS(tau_max=4.0, tau_min=0.5), epochs=3,
                   ckpt=str(tmp_path / "part" / "ckpt" / "last.ckpt"))
    tail = full.search_strategy.draws[-len(resumed.search_strategy.draws):]
    assert len(resumed.search_strategy.draws) == 10
    for (t0, k0, a0, w0), (t1, k1, a1, w1) in zip(tail, resumed.search_strategy.draws):
        assert (t0, k0, a0) == (t1, k1, a1) and torch.equal(w0, w1)
    for a, b in zip(resumed.supernet.parameters(), full.supernet.parameters()):
        assert torch.equal(a, b)
    assert [e["strategy"]["tau"] for e in resumed.alpha_history] == pytest.approx([4.0, 2.25, 0.5])


def test_the_checkpointed_strategy_state_is_restored():
    model = _gdas_search(GDAS())
    model.on_load_checkpoint({"unnas_search": {"strategy": {"tau": 3.25}}})
    assert model.search_strategy.tau == 3.25
    model.on_load_checkpoint({"unnas_search": {}})  # a checkpoint written before strategies had state
    assert model.search_strategy.tau == 3.25


# ------------------------------------------------------------------------------------------- configs
@pytest.mark.parametrize("base, gdas", [("nb201_cifar10_cpu", "gdas"),
                                        ("cifar10_rotation_cpu", "gdas")])
def test_gdas_configs_are_their_darts_recipe_with_one_strategy_line(base, gdas, monkeypatch):
    cli = strategy_overlay(base, gdas, {"class_path": "unnas.modules.strategies.GDAS"}, monkeypatch)
    strategy = cli.model.search_strategy
    assert type(strategy) is GDAS and (strategy.tau_max, strategy.tau_min) == (10.0, 0.1)
    assert cli.model.supernet._op_weights_rule == strategy.op_weights
    assert isinstance(cli.model.supernet, Supernet)


def test_gdas_under_ddp_needs_unused_parameter_detection():
    model = _gdas_search(GDAS())
    model.trainer = Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False)
    with pytest.raises(ConfigError, match="^GDAS runs one op per edge, so DDP must allow unused parameters; set "
                                          "trainer.strategy: ddp_find_unused_parameters_true$"):
        model.setup("fit")
    model.trainer = Trainer(accelerator="cpu", devices=2, strategy="ddp_find_unused_parameters_true", logger=False)
    model.setup("fit")
    darts = WeightSharingSearch(Supervised(num_classes=4), space=NB201Space(channels=2, layers=1))
    darts.trainer = Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False)
    darts.setup("fit")
