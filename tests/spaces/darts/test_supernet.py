import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from unnas.spaces.darts import PRIMITIVES, Supernet, count_macs, count_params, make_genotype
from unnas.spaces.darts.supernet import derive_cell, derive_genotype, num_edges


def test_supernet_has_dartss_search_model_size():
    # quark0/darts model_search.Network(16, 10, 8) logs `param size = 1.930618MB` (alphas not included).
    net = Supernet(C=16, num_classes=10, layers=8)
    assert count_params(net) == 1_930_618
    assert [count_params(c) for c in net.cells] == [45888, 46144, 144000, 137856, 139904, 484608, 460032, 468224]
    assert count_macs(net, (3, 32, 32)) == 300_255_744
    assert net.alphas_normal.shape == net.alphas_reduce.shape == (14, 8)
    assert sum(p.numel() for p in net.weight_parameters()) == 1_930_618


def test_supernet_shapes_and_alpha_gradients():
    net = Supernet(C=4, num_classes=5, layers=5)
    shapes = []
    for c in net.cells:
        c.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape)))
    out = net(torch.randn(2, 3, 16, 16))
    assert out.shape == (2, 5)
    assert shapes == [(2, 16, 16, 16), (2, 32, 8, 8), (2, 32, 8, 8), (2, 64, 4, 4), (2, 64, 4, 4)]
    out.sum().backward()
    assert net.alphas_normal.grad.abs().sum() > 0 and net.alphas_reduce.grad.abs().sum() > 0


def test_pooling_edges_have_non_affine_bn_and_all_cell_bns_are_non_affine():
    net = Supernet(C=4, layers=3)
    mixed = net.cells[0]._ops[0]
    assert isinstance(mixed._ops[1][1], torch.nn.BatchNorm2d) and not mixed._ops[1][1].affine
    bns = [m for c in net.cells for m in c.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(b.affine for b in bns)
    assert net.stem[1].affine


def test_all_zero_alphas_follow_dartss_tie_rules():
    w = F.softmax(torch.zeros(14, 8), dim=-1).numpy()
    g = derive_genotype(w, w)
    assert g.normal == g.reduce == (("max_pool_3x3", 0), ("max_pool_3x3", 1)) * 4
    assert g.normal_concat == (2, 3, 4, 5)


def test_trigonometric_alphas_give_the_official_genotype():
    r = np.arange(14)[:, None]
    k = np.arange(8)[None, :]
    normal = torch.tensor(np.sin(1 + 3 * r + 7 * k), dtype=torch.float32)
    reduce = torch.tensor(np.cos(2 + 5 * r + 3 * k), dtype=torch.float32)
    g = derive_genotype(F.softmax(normal, -1).numpy(), F.softmax(reduce, -1).numpy())
    assert list(g.normal) == [("max_pool_3x3", 0), ("sep_conv_5x5", 1), ("max_pool_3x3", 0), ("dil_conv_3x3", 1),
                              ("dil_conv_3x3", 0), ("dil_conv_5x5", 2), ("dil_conv_5x5", 0), ("dil_conv_5x5", 2)]
    assert list(g.reduce) == [("dil_conv_3x3", 1), ("dil_conv_3x3", 0), ("max_pool_3x3", 2), ("dil_conv_5x5", 1),
                              ("dil_conv_5x5", 3), ("sep_conv_3x3", 1), ("max_pool_3x3", 0), ("dil_conv_5x5", 4)]


def test_none_is_ignored_even_when_it_dominates():
    normal = torch.zeros(14, 8)
    reduce = torch.zeros(14, 8)
    for row in range(14):
        normal[row, 0] = 5
        normal[row, 3] = 1 + 0.01 * row
        for col in range(1, 8):
            if col != 3:
                normal[row, col] = 0.1 * col
        reduce[row, 0] = 5
        for col in range(1, 8):
            reduce[row, col] = 0.01 * (row + 1) * col
    g = derive_genotype(F.softmax(normal, -1).numpy(), F.softmax(reduce, -1).numpy())
    assert list(g.normal) == [("skip_connect", 1), ("skip_connect", 0), ("skip_connect", 2), ("skip_connect", 1),
                              ("skip_connect", 3), ("skip_connect", 2), ("skip_connect", 4), ("skip_connect", 3)]
    assert [j for _, j in g.reduce] == [1, 0, 2, 1, 3, 2, 4, 3] and {op for op, _ in g.reduce} == {"dil_conv_5x5"}


def test_hand_set_alphas_of_a_supernet_derive_the_intended_cell():
    net = Supernet(C=4, layers=3)
    target = make_genotype(
        [("sep_conv_3x3", 1), ("skip_connect", 0), ("dil_conv_5x5", 2), ("max_pool_3x3", 0),
         ("avg_pool_3x3", 3), ("sep_conv_5x5", 1), ("dil_conv_3x3", 4), ("skip_connect", 2)], [2, 3, 4, 5],
        [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("sep_conv_3x3", 1),
         ("sep_conv_5x5", 0), ("dil_conv_3x3", 3), ("avg_pool_3x3", 4), ("sep_conv_3x3", 2)], [2, 3, 4, 5])
    with torch.no_grad():
        for alphas, cell in ((net.alphas_normal, target.normal), (net.alphas_reduce, target.reduce)):
            alphas.zero_()
            alphas[:, 0] = 3.0  # `none` strongest everywhere must not matter
            starts = [0, 2, 5, 9]
            for t, (op, j) in enumerate(cell):
                strength = 2.0 if t % 2 == 0 else 1.5  # the first edge of each node is the strongest
                alphas[starts[t // 2] + j, PRIMITIVES.index(op)] = strength
    assert net.genotype() == target


def test_num_edges():
    assert num_edges(4) == 14 and num_edges(5) == 20


def test_imagenet_stem_supernet():
    net = Supernet(C=8, layers=3, stem="imagenet", num_classes=4)
    assert net(torch.randn(2, 3, 64, 64)).shape == (2, 4)
    with pytest.raises(ValueError, match="unknown stem"):
        Supernet(stem="resnet")
