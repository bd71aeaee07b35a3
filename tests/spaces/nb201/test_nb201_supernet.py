"""NAS-Bench-201's DARTS supernet: the seam's interface, the official derivation rule, BN settings, agreement with
the discrete network at one-hot alphas, and the speedups computing exactly the plain formulation (float64)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import pretext_tasks
from unnas.spaces.oneshot import Supernet
from unnas.spaces.complexity import count_params
from unnas.spaces.nb201 import NB201Cell, NB201Supernet, TinyNetwork, parse_cell
from unnas.spaces.nb201.ops import PRIMITIVES, Zero
from unnas.spaces.nb201.supernet import SearchCell, derive_cell
from unnas.spaces.speedups import Speedups

LABELS = ["node 1 <- node 0", "node 2 <- node 0", "node 2 <- node 1", "node 3 <- node 0", "node 3 <- node 1",
          "node 3 <- node 2"]


def _with_alphas(net: NB201Supernet, rows) -> NB201Supernet:
    with torch.no_grad():
        net.alphas.copy_(torch.tensor(rows, dtype=net.alphas.dtype))
    return net


def test_interface():
    net = NB201Supernet(C=4, N=1)
    assert isinstance(net, Supernet) and net.primitives == PRIMITIVES
    assert net.arch_parameters() == [net.alphas] and net.alphas.shape == (6, 5)
    assert net.alphas.abs().max() < 0.01  # 1e-3 * randn
    assert net.edge_labels("cell") == LABELS
    with pytest.raises(KeyError):
        net.edge_labels("normal")
    weights = net.arch_weights()
    assert list(weights) == ["cell"] and weights["cell"].shape == (6, 5)
    assert np.allclose(weights["cell"], F.softmax(net.alphas.detach(), -1).numpy())
    assert np.allclose(weights["cell"].sum(1), 1.0)
    ids = {id(p) for p in net.weight_parameters()}
    assert id(net.alphas) not in ids and len(ids) == len(list(net.parameters())) - 1
    assert count_params(net) == sum(p.numel() for p in net.weight_parameters())
    assert isinstance(net.genotype(), NB201Cell)


def test_one_alpha_matrix_shared_by_all_cells():
    net = NB201Supernet(C=4, N=2)
    assert sum(isinstance(c, SearchCell) for c in net.cells) == 6
    assert [n for n, p in net.named_parameters() if "alpha" in n] == ["alphas"]


def test_bn_settings_follow_the_official_search_model():
    net = NB201Supernet(C=4, N=1)
    for cell in net.cells:
        if isinstance(cell, SearchCell):
            for edge in cell.edges:
                ops = list(edge._ops)
                assert len(ops) == 5 and isinstance(ops[0], Zero) and isinstance(ops[4], nn.AvgPool2d)  # pool: no BN
                for conv in ops[2:4]:
                    bn = conv[-1]
                    assert not bn.affine and bn.track_running_stats and conv[1].bias is None
        else:
            assert all(m.affine for m in cell.modules() if isinstance(m, nn.BatchNorm2d))
    assert net.stem[1].affine and net.lastact[0].affine


@pytest.mark.parametrize("rows,expected", [
    # a clear winner per edge, `none` included (edges 2 and 6)
    ([[0, 0, 0, 5, 0], [9, 0, 0, 0, 0], [0, 0, 3, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0, 0, 2], [4, 0, 0, 0, 1]],
     "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|none~2|"),
    # ties go to the lower op index: all equal -> none; skip_connect = nor_conv_3x3 -> skip_connect
    ([[1, 1, 1, 1, 1], [0, 2, 0, 2, 0], [0, 0, 1, 1, 0], [-1, -1, -2, -2, -2], [0, 0, 0, 0, 0], [0, 0, 0, 3, 3]],
     "|none~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|none~1|nor_conv_3x3~2|"),
])
def test_derivation_is_the_argmax_including_none(rows, expected):
    net = _with_alphas(NB201Supernet(C=4, N=1), rows)
    assert net.genotype() == parse_cell(expected)
    assert derive_cell(np.asarray(rows, dtype=float)) == parse_cell(expected)
    assert derive_cell(F.softmax(torch.tensor(rows, dtype=torch.float64), -1).numpy()) == parse_cell(expected)


def test_all_none_when_none_dominates():
    rows = [[2.0, 1.0, 1.0, 1.0, 1.0]] * 6
    assert _with_alphas(NB201Supernet(C=4, N=1), rows).genotype() == NB201Cell(*["none"] * 6)


def test_one_hot_alphas_give_the_discrete_network():
    """With one-hot mixing weights the supernet computes the derived cell's TinyNetwork (same weights; a fresh
    affine BN is the identity map, as the search cells' non-affine BN)."""
    torch.manual_seed(0)
    cell = parse_cell("|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|nor_conv_3x3~2|")
    sup = NB201Supernet(C=4, N=1, speedups=Speedups.off()).double()
    rows = [[1e4 if p == op else 0.0 for p in PRIMITIVES] for op in cell]
    _with_alphas(sup, rows)
    assert sup.genotype() == cell
    net = TinyNetwork(cell, C=4, N=1, speedups=Speedups.off()).double()
    source = sup.state_dict()
    target = {}
    for name, value in net.state_dict().items():
        parts = name.split(".")
        if parts[0] == "cells" and parts[2] == "layers":  # cells.k.layers.e.rest -> cells.k.edges.e._ops.op.rest
            e = int(parts[3])
            sname = ".".join(["cells", parts[1], "edges", parts[3], "_ops", str(PRIMITIVES.index(cell[e]))] + parts[4:])
            if sname not in source:  # the affine weight / bias of a cell BN: fresh values (1, 0)
                continue
            target[name] = source[sname]
        else:
            target[name] = source[name]
    net.load_state_dict(target, strict=False)
    x = torch.randn(3, 3, 16, 16, dtype=torch.float64)
    assert torch.allclose(sup(x), net(x)[0], rtol=1e-10, atol=1e-10)


def _run(net, x, targets, loss_fn):
    logits = net(x)
    loss = loss_fn(logits, targets)
    loss.backward()
    grads = {n: p.grad for n, p in net.named_parameters()}
    return loss.detach(), grads, {n: b.clone() for n, b in net.named_buffers()}


TASKS = {"supervised": lambda: pretext_tasks.Supervised(num_classes=10), "colorization": pretext_tasks.Colorization,
         "jigsaw": pretext_tasks.Jigsaw}


@pytest.mark.parametrize("task_name,size", [("supervised", 32), ("colorization", 16), ("jigsaw", 32)])
def test_speedups_equal_the_plain_formulation_in_float64(task_name, size):
    torch.manual_seed(0)
    task = TASKS[task_name]()
    x, y = task.prepare(torch.rand(3, 3, size, size), torch.randint(0, 10, (3,)), train=True)
    plain = NB201Supernet(C=4, N=1, head=task.head, input_channels=task.input_channels, speedups=Speedups.off())
    fast = NB201Supernet(C=4, N=1, head=task.head, input_channels=task.input_channels, speedups=Speedups.on())
    plain, fast = plain.double(), fast.double()
    with torch.no_grad():
        plain.alphas.normal_(0.0, 1.0)  # well-spread mixing weights, so every op's term matters
    fast.load_state_dict(plain.state_dict())
    # the fast paths are really taken: `none` is skipped, the conv ops' ReLU shared and their BN scaled by the weight
    edge = fast.cells[0].edges[0]
    assert not edge._plain and edge._skip == [True, False, False, False, False]
    assert plain.cells[0].edges[0]._plain
    x = x.double()
    results = [_run(net, x, y, task.loss) for net in (plain, fast)]
    (la, ga, ba), (lb, gb, bb) = results
    assert torch.allclose(la, lb, rtol=1e-10, atol=1e-12)
    assert ga.keys() == gb.keys() and "alphas" in ga
    for name in ga:
        assert ga[name] is not None and gb[name] is not None, name
        assert torch.allclose(ga[name], gb[name], rtol=1e-8, atol=1e-10), name
    assert ga["alphas"].abs().sum() > 0
    for name in ba:
        assert torch.allclose(ba[name].double(), bb[name].double(), rtol=1e-10, atol=1e-12), name
