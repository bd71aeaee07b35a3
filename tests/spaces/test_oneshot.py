"""The shared one-shot machinery: both supernets are built from it, and the old import paths keep working."""

import pytest
import torch
from torch import nn

import unnas.spaces.base
import unnas.spaces.darts.supernet
from unnas.spaces import DartsSpace, NB201Space
from unnas.spaces.base import DEFAULT_SPACE, ArchError, detect_space
from unnas.spaces.darts import DartsSupernet, Supernet as DartsSupernetOldName
from unnas.spaces.darts.ops import FactorizedReduce, SepConv
from unnas.spaces.nb201 import NB201Supernet
from unnas.spaces.oneshot import CellWeights, MixedOp, OpWeights, Supernet
from unnas.spaces.oneshot.mixed_op import _split_op


def test_the_interface_and_the_darts_class_keep_their_old_import_paths():
    assert unnas.spaces.base.Supernet is Supernet
    assert DartsSupernetOldName is DartsSupernet and unnas.spaces.darts.supernet.Supernet is DartsSupernet
    assert DartsSupernet is not Supernet and issubclass(DartsSupernet, Supernet) and issubclass(NB201Supernet, Supernet)
    assert Supernet.OpWeights is OpWeights


@pytest.mark.parametrize("space, edges", [(DartsSpace(channels=4, layers=3), 3 * 14), (NB201Space(channels=4, layers=1),
                                                                                        3 * 6)])
def test_every_edge_of_both_supernets_is_the_shared_mixed_op(space, edges):
    net = space.supernet()
    ops = [m for m in net.modules() if isinstance(m, MixedOp)]
    assert len(ops) == edges and ops == net.mixed_ops()
    assert all(op.primitives == net.primitives for op in ops)


def test_the_mixed_op_splits_ops_by_their_shape_not_their_space():
    sep = SepConv(4, 4, 3, 1, 1, affine=False)
    relu, _, bn = _split_op(sep)
    assert relu is sep[0] and bn is sep[-1]
    fr = FactorizedReduce(4, 4, affine=False)
    relu, body, bn = _split_op(fr)
    assert relu is fr.relu and bn is fr.bn
    x = torch.randn(2, 4, 6, 6)
    assert torch.equal(bn(body(relu(x))), fr(x))
    pool = nn.AvgPool2d(3, 1, 1)
    relu, body, bn = _split_op(pool)
    assert relu is None and bn is None and torch.equal(body(x), pool(x))


def test_the_none_op_is_left_out_by_its_name():
    ops = {"none": lambda C, s, a: nn.Identity(), "conv": lambda C, s, a: nn.Conv2d(C, C, 1, bias=False)}
    from unnas.spaces.speedups import Speedups

    op = MixedOp(2, 1, ops, ("none", "conv"), Speedups(channels_last=False))
    assert op._skip == [True, False]
    x = torch.randn(1, 2, 3, 3)
    w = torch.tensor([0.5, 0.5])
    assert torch.allclose(op(x, w), 0.5 * op._ops[1](x))  # the `none` term (here an identity) is not added


def test_cell_weights_hold_op_and_edge_weights_once():
    w = torch.rand(3, 2)
    e = torch.rand(3)
    cw = CellWeights.of(OpWeights(w), e)
    assert CellWeights.of(cw) is cw
    with pytest.raises(ValueError, match="edge weights given twice"):
        CellWeights.of(cw, e)
    op = lambda x, weights, active, runs: x * weights.sum()  # noqa: E731
    assert torch.equal(cw.edge_output(op, torch.ones(1), 1), e[1] * (torch.ones(1) * w[1].sum()))


def test_an_unrecognised_architecture_names_what_each_space_expects():
    assert detect_space("").name == DEFAULT_SPACE == "darts"  # empty: the default space's parser says so
    with pytest.raises(ArchError, match="no search space recognises") as e:
        detect_space("no such architecture")
    assert all(f"{name}: " in str(e.value) for name in ("darts", "nb201", "nb101")) and "\n" not in str(e.value)
