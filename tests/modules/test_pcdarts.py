"""PC-DARTS through the seam: the channel shuffle and per-node softmax, partial channel mixed ops against the official
formula, k=1 without edge normalisation equal to DARTS first order, edge normalisation in the forward pass and the
derivation, the betas as architecture parameters, one-line errors, the search module and the configs."""

import copy

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from pretext_tasks import Supervised
from unnas.data import Generated, ImageDataModule
from unnas.errors import ConfigError
from unnas.modules import WeightSharingSearch, FirstOrder
from unnas.modules.strategies import PCDARTS
from unnas.spaces import DartsSpace, NB201Space
from unnas.spaces.darts import PRIMITIVES
from unnas.spaces.darts.supernet import darts_mixed_op, derive_genotype
from unnas.spaces.oneshot import Supernet, channel_shuffle
from unnas.spaces.speedups import Speedups
from conftest import strategy_overlay, one_config_error



def _supernet(space: str, speedups: Speedups = Speedups.off(), channels: int = 8):
    torch.manual_seed(3)
    if space == "darts":
        net = DartsSpace(channels=channels, layers=3, speedups=speedups).supernet(num_classes=3)
    else:
        net = NB201Space(channels=channels, layers=1, speedups=speedups).supernet(num_classes=3)
    net = net.double()
    with torch.no_grad():
        for a in net.arch_parameters():
            a.normal_(0.0, 1.0)
    return net


def _pcdarts(space: str, speedups: Speedups = Speedups.off(), **kwargs):
    net = _supernet(space, speedups)
    PCDARTS(**kwargs).configure_supernet(net)
    torch.manual_seed(4)
    with torch.no_grad():
        for a in net.arch_parameters():
            a.normal_(0.0, 1.0)
    return net


def _official_shuffle(x, groups):
    b, c, h, w = x.size()
    return torch.transpose(x.view(b, groups, c // groups, h, w), 1, 2).contiguous().view(b, -1, h, w)


# ------------------------------------------------------------------------------------------- pure functions
@settings(max_examples=40, deadline=None)
@given(groups=st.integers(1, 6), per_group=st.integers(1, 5), batch=st.integers(1, 3), size=st.integers(1, 4))
def test_channel_shuffle_is_the_official_permutation(groups, per_group, batch, size):
    """Output channel j * groups + g is input channel g * (C / groups) + j, exactly the official view-transpose-view."""
    c = groups * per_group
    x = torch.randn(batch, c, size, size, dtype=torch.float64)
    out = channel_shuffle(x, groups)
    assert torch.equal(out, _official_shuffle(x, groups))
    perm = [g * per_group + j for j in range(per_group) for g in range(groups)]
    assert sorted(perm) == list(range(c))
    assert torch.equal(out, x[:, perm])
    channels_last = x.contiguous(memory_format=torch.channels_last)
    assert torch.equal(channel_shuffle(channels_last, groups), out)


@settings(max_examples=40, deadline=None)
@given(degrees=st.lists(st.integers(1, 5), min_size=1, max_size=5), seed=st.integers(0, 2**31 - 1))
def test_node_softmax_normalises_each_nodes_incoming_edges(degrees, seed):
    betas = torch.randn(sum(degrees), generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 3
    out = Supernet.node_softmax(betas, degrees)
    start = 0
    for d in degrees:
        assert torch.allclose(out[start:start + d], F.softmax(betas[start:start + d], -1), rtol=0, atol=1e-15)
        assert float(out[start:start + d].sum()) == pytest.approx(1.0, abs=1e-12)
        start += d
    # invariant to a shift of one node's betas, and only that node's weights move
    shifted = betas.clone()
    shifted[:degrees[0]] += 7.0
    assert torch.allclose(Supernet.node_softmax(shifted, degrees), out, rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------------- one mixed op
@pytest.mark.parametrize("speedups", [Speedups.off(), Speedups.on()], ids=["plain", "fused"])
@pytest.mark.parametrize("stride", [1, 2])
def test_a_partial_channel_mixed_op_is_the_official_formula(stride, speedups):
    """ops on x[:, :C/k], the rest max-pooled 2x2 on a stride-2 edge, concatenated, shuffled with k groups."""
    torch.manual_seed(0)
    op = darts_mixed_op(8, stride, speedups=speedups).double()
    op.set_partial_channels(4)
    assert all(sub.in_channels == 2 for sub in op.modules() if isinstance(sub, torch.nn.Conv2d))
    op.eval()  # the reference below runs the same ops a second time: keep the BN statistics fixed
    x = torch.randn(3, 8, 8, 8, dtype=torch.float64)
    w = F.softmax(torch.randn(len(PRIMITIVES), dtype=torch.float64), -1)
    out = op(x, w)
    with torch.no_grad():
        temp1 = sum(wk * o(x[:, :2]) for wk, o in zip(w, op._ops))
        rest = x[:, 2:] if stride == 1 else torch.nn.MaxPool2d(2, 2)(x[:, 2:])
        expected = _official_shuffle(torch.cat([temp1, rest], dim=1), 4)
    assert out.shape == (3, 8, 8 // stride, 8 // stride)
    assert torch.allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_only_c_over_k_channels_enter_the_ops(space):
    """Hooks on every candidate op: each sees C/k channels of its edge's C; the edge's output keeps all C."""
    net = _pcdarts(space, k=4)
    seen, edges = [], []
    for m in net.mixed_ops():
        m.register_forward_hook(lambda mod, inp, out: edges.append((mod.C, inp[0].shape[1], out.shape[1])))
        for op in m._ops:
            op.register_forward_pre_hook(lambda mod, inp, C=m.C: seen.append((C, inp[0].shape[1])))
    net(torch.randn(2, 3, 8, 8, dtype=torch.float64))
    assert len(edges) == len(net.mixed_ops()) == (14 * 3 if space == "darts" else 6 * 3)
    assert len(seen) == len(edges) * len(net.primitives)
    assert all(c_in == C // 4 for C, c_in in seen)
    assert all(c_in == c_out == C for C, c_in, c_out in edges)
    assert {C for C, _, _ in edges} == ({8, 16, 32} if space == "darts" else {8, 16, 32})


def test_partial_channels_shrink_the_ops_and_keep_everything_else():
    net = _supernet("darts")
    before = {n: p.shape for n, p in net.named_parameters()}
    PCDARTS(k=2, edge_normalization=False).configure_supernet(net)
    after = {n: p.shape for n, p in net.named_parameters()}
    assert before.keys() == after.keys()
    changed = {n for n in before if before[n] != after[n]}
    assert changed and all("._ops." in n and n.startswith("cells.") for n in changed)
    assert all(p.dtype == torch.float64 for p in net.parameters())  # rebuilt ops follow the network's dtype
    sep = net.cells[0]._ops[0]._ops[PRIMITIVES.index("sep_conv_3x3")]
    assert sep[1].weight.shape == (4, 1, 3, 3)  # C=8, k=2: the depthwise conv has 4 channels


# ------------------------------------------------------------------------------------------- k=1 is DARTS
@pytest.mark.parametrize("speedups", [Speedups.off(), Speedups.on()], ids=["plain", "fused"])
@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_k1_without_edge_normalisation_is_darts_first_order(space, speedups):
    """Same parameters, same forward values, arch and weight gradients, BN statistics and genotype."""
    darts = _supernet(space, speedups)
    pc = copy.deepcopy(darts)
    strategy = PCDARTS(k=1, edge_normalization=False)
    strategy.configure_supernet(pc)
    assert [n for n, _ in pc.named_parameters()] == [n for n, _ in darts.named_parameters()]
    x, y = torch.randn(3, 3, 8, 8, dtype=torch.float64), torch.tensor([0, 2, 1])
    xa, ya = torch.randn(3, 3, 8, 8, dtype=torch.float64), torch.tensor([1, 1, 0])
    results = []
    for net, strat in ((darts, FirstOrder()), (pc, strategy)):
        net.set_op_weights(strat.op_weights)
        arch_loss = strat.arch_gradients(net, F.cross_entropy, (x, y), (xa, ya), None)
        arch_grads = [a.grad.clone() for a in net.arch_parameters()]
        net.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        results.append((arch_loss, arch_grads, loss.detach(), {n: p.grad for n, p in net.named_parameters()},
                        dict(net.named_buffers()), net.genotype()))
    (al0, ag0, l0, g0, b0, geno0), (al1, ag1, l1, g1, b1, geno1) = results
    assert torch.equal(al0, al1) and torch.equal(l0, l1)
    assert len(ag0) == len(ag1) and all(torch.equal(a, b) for a, b in zip(ag0, ag1))
    assert all(torch.equal(g0[n], g1[n]) for n in g0 if g0[n] is not None)
    assert all(torch.equal(b0[n], b1[n]) for n in b0)
    assert geno0 == geno1


# ------------------------------------------------------------------------------------------- plain and fused paths
@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_plain_and_fused_paths_agree_under_pcdarts(space):
    """k=4 with edge normalisation: loss, every gradient (alphas and betas included) and BN statistics, float64."""
    x, y = torch.randn(3, 3, 8, 8, dtype=torch.float64), torch.tensor([0, 2, 1])
    results = []
    for sp in (Speedups.off(), Speedups.on()):
        net = _pcdarts(space, sp, k=4)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        results.append((loss.detach(), {n: p.grad for n, p in net.named_parameters()},
                        {n: b.double() for n, b in net.named_buffers()}))
    (l0, g0, b0), (l1, g1, b1) = results
    assert torch.allclose(l0, l1, rtol=1e-10, atol=1e-12)
    assert g0.keys() == g1.keys() and any("betas" in n for n in g0)
    for n in g0:
        assert torch.allclose(g0[n], g1[n], rtol=1e-8, atol=1e-10), n
    assert all(g0[n].abs().sum() > 0 for n in g0 if "alphas" in n or "betas" in n)
    for n in b0:
        assert torch.allclose(b0[n], b1[n], rtol=1e-10, atol=1e-12), n


# ------------------------------------------------------------------------------------------- edge normalisation
def _record_edges(net):
    """Per mixed op (in order) its last input and output."""
    record = {}
    for e, m in enumerate(net.mixed_ops()):
        m.register_forward_hook(lambda mod, inp, out, e=e: record.__setitem__(e, (inp[0], out)))
    return record


def test_darts_nodes_sum_their_edges_times_the_nodes_softmaxed_betas():
    net = _pcdarts("darts", k=2)
    record = _record_edges(net)
    outputs = []
    net.cells[0].register_forward_hook(lambda mod, inp, out: outputs.append(out))
    net.eval()
    net(torch.randn(2, 3, 8, 8, dtype=torch.float64))
    e = net.edge_weights("normal")
    assert torch.allclose(e, Supernet.node_softmax(net.betas_normal, [2, 3, 4, 5]), rtol=0, atol=0)
    nodes = outputs[0].split(8, dim=1)  # cell 0 (normal, C=8) concatenates its 4 nodes
    offset = 0
    for i, node in enumerate(nodes):
        expected = sum(e[offset + j] * record[offset + j][1] for j in range(i + 2))
        assert torch.allclose(node, expected, rtol=1e-12, atol=1e-12)
        offset += i + 2


def test_nb201_nodes_sum_their_edges_times_the_nodes_softmaxed_betas():
    net = _pcdarts("nb201", k=2)
    record = _record_edges(net)
    outputs = []
    net.cells[0].register_forward_hook(lambda mod, inp, out: outputs.append(out))
    net.eval()
    net(torch.randn(2, 3, 8, 8, dtype=torch.float64))
    e = net.edge_weights("cell")
    # edges 1<-0 | 2<-0, 2<-1 | 3<-0, 3<-1, 3<-2: node 1's only edge has weight exactly 1
    assert torch.equal(e[0], torch.tensor(1.0, dtype=torch.float64))
    assert torch.allclose(e, Supernet.node_softmax(net.betas, [1, 2, 3]), rtol=0, atol=0)
    out = {k: v[1] for k, v in record.items() if k < 6}
    node1, node2 = record[2][0], record[5][0]  # the inputs of edges 2<-1 and 3<-2
    assert torch.allclose(node1, e[0] * out[0], rtol=1e-12, atol=1e-12)
    assert torch.allclose(node2, e[1] * out[1] + e[2] * out[2], rtol=1e-12, atol=1e-12)
    assert torch.allclose(outputs[0], e[3] * out[3] + e[4] * out[4] + e[5] * out[5], rtol=1e-12, atol=1e-12)


def test_betas_change_the_darts_cell_as_the_official_genotype_does():
    net = _supernet("darts")
    PCDARTS(k=1).configure_supernet(net)
    with torch.no_grad():
        for a in net.arch_parameters():
            a.zero_()
    # all ties: DARTS picks inputs 0 and 1 of every node (max_pool_3x3, the first non-none op)
    plain = net.genotype()
    assert plain.normal[2:4] == (("max_pool_3x3", 0), ("max_pool_3x3", 1))
    with torch.no_grad():
        net.betas_normal[2:5] = torch.tensor([0.0, 0.0, 5.0])  # node 1's edge from node 0 dominates
    geno = net.genotype()
    assert geno.normal[2:4] == (("max_pool_3x3", 2), ("max_pool_3x3", 0))
    assert geno.normal[:2] == plain.normal[:2] and geno.normal[4:] == plain.normal[4:] and geno.reduce == plain.reduce
    # the official _parse: W[j, :] *= softmax(betas of the node)[j], then DARTS's rule
    w = F.softmax(net.alphas_normal.float(), -1) * Supernet.node_softmax(net.betas_normal.float(), [2, 3, 4, 5])[:, None]
    assert geno == derive_genotype(w.detach().numpy(), F.softmax(net.alphas_reduce.float(), -1).detach().numpy())


def test_betas_do_not_change_the_nb201_cell():
    """Per-edge argmax: a positive factor per edge leaves every row's argmax where it is."""
    net = _pcdarts("nb201", k=2)
    geno = net.genotype()
    with torch.no_grad():
        net.betas.copy_(torch.tensor([0.0, -9.0, 9.0, 9.0, -9.0, 0.0]))
    assert net.genotype() == geno


# ------------------------------------------------------------------------------------------- parameters and state
@pytest.mark.parametrize("space, names", [("darts", ["betas_normal", "betas_reduce"]), ("nb201", ["betas"])])
def test_betas_are_architecture_parameters_and_configuring_twice_changes_nothing(space, names):
    net = _supernet(space)
    strategy = PCDARTS(k=2)
    strategy.configure_supernet(net)
    betas = [getattr(net, n) for n in names]
    assert all(b.shape == (14 if space == "darts" else 6,) and b.dtype == torch.float64 for b in betas)
    assert net.arch_parameters()[-len(names):] == betas
    arch = {id(p) for p in net.arch_parameters()}
    assert all(id(b) in arch for b in betas) and not any(id(p) in arch for p in net.weight_parameters())
    assert set(names) <= set(net.state_dict())
    assert set(net.arch_edge_weights()) == ({"normal", "reduce"} if space == "darts" else {"cell"})
    ops = [id(m._ops) for m in net.mixed_ops()]
    strategy.configure_supernet(net)
    assert [getattr(net, n) for n in names] == betas and [id(m._ops) for m in net.mixed_ops()] == ops
    net.set_edge_normalization(False)
    assert not any(n in net.state_dict() for n in names) and net.arch_edge_weights() == {}
    assert len(net.arch_parameters()) == (2 if space == "darts" else 1)


@pytest.mark.parametrize("make, message", [
    (lambda: PCDARTS(k=0), "PCDARTS search_strategy.init_args.k=0: must be a positive integer; set "
                           "model.init_args.search_strategy.init_args.k, e.g. 4"),
    (lambda: PCDARTS(k=3).configure_supernet(_supernet("nb201")),
     "partial channels k=3 must divide every edge's channels, and an edge has C=8; choose a k that divides the "
     "supernet's channels (space.init_args.channels)"),
    (lambda: darts_mixed_op(4, 2).set_partial_channels(4),
     "partial channels k=4 leaves a reduction edge 1 channel(s), and its factorized-reduce skip needs an even "
     "number; choose a smaller k or more channels"),
])
def test_impossible_pcdarts_settings_are_one_config_error_line(make, message):
    assert one_config_error(make) == message


def test_a_rejected_k_leaves_the_supernet_unchanged():
    net = _supernet("darts", channels=4)  # edges of C=4, 8 and 16
    ops = [id(m._ops) for m in net.mixed_ops()]
    with pytest.raises(ConfigError, match="k=8 must divide"):
        net.set_partial_channels(8)
    assert [id(m._ops) for m in net.mixed_ops()] == ops and all(m.k == 1 for m in net.mixed_ops())


# ------------------------------------------------------------------------------------------- the search module
def _search(**kwargs):
    return WeightSharingSearch(Supervised(num_classes=4), space=NB201Space(channels=4, layers=1), search_strategy=PCDARTS(**kwargs),
                       arch_lr=0.01)


def _fit(root, model, epochs=1, ckpt=None):
    data = ImageDataModule(Generated(train_size=32, test_size=8, size=8), batch_size=8, train_portion=0.5)
    Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
            num_sanity_val_steps=0, default_root_dir=str(root),
            callbacks=[ModelCheckpoint(dirpath=str(root / "ckpt"), save_last=True)]).fit(model, data, ckpt_path=ckpt)
    return model


def test_the_search_module_configures_the_supernet_for_pcdarts():
    model = WeightSharingSearch(Supervised(num_classes=4), space=NB201Space(channels=4, layers=1), search_strategy=PCDARTS(k=2))
    assert all(m.k == 2 for m in model.supernet.mixed_ops())
    assert model.supernet.betas is model.supernet.arch_parameters()[-1]


def test_a_pcdarts_search_optimises_the_betas_and_resumes_them(tmp_path):
    seed_everything(0)
    model = _search(k=2)
    start = model.supernet.betas.detach().clone()
    _fit(tmp_path, model)
    a_opt = model.optimizers()[1]
    assert any(p is model.supernet.betas for g in a_opt.param_groups for p in g["params"])
    assert not torch.equal(model.supernet.betas.detach(), start)  # 2 Adam steps at lr 0.01 move every beta
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)
    assert torch.equal(saved["state_dict"]["supernet.betas"], model.supernet.betas.detach())
    seed_everything(1)
    resumed = _search(k=2)
    resumed.load_state_dict(saved["state_dict"])
    assert torch.equal(resumed.supernet.betas, model.supernet.betas)
    assert resumed.genotype() == model.genotype()


# ------------------------------------------------------------------------------------------- configs
@pytest.mark.parametrize("base, pc", [("nb201_cifar10_cpu", "pcdarts"),
                                      ("cifar10_rotation_cpu", "pcdarts")])
def test_pcdarts_configs_are_their_darts_recipe_with_one_strategy_line(base, pc, monkeypatch):
    cli = strategy_overlay(base, pc, {"class_path": "unnas.modules.strategies.PCDARTS"}, monkeypatch)
    strategy = cli.model.search_strategy
    assert type(strategy) is PCDARTS and (strategy.k, strategy.edge_normalization) == (4, True)
    assert all(m.k == 4 for m in cli.model.supernet.mixed_ops())