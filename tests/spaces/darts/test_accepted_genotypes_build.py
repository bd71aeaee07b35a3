"""Whatever the genotype parser and the space accept builds a network that runs forward."""

import json

import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st

from unnas.errors import ConfigError
from unnas.spaces import DartsSpace
from unnas.spaces.darts import NetworkCIFAR, NetworkImageNet, parse_genotype
from unnas.spaces.darts.genotype import GenotypeError
from unnas.spaces.darts.ops import OPS

_BAD_OPS = ["sep_conv_9x9", "", "Skip_Connect", "skip_connect "]


@st.composite
def genotype_text(draw):
    """Genotype text near the valid set: 1-4 nodes per cell (the two cells may differ), concat of any existing states
    (the cell inputs included); in one cell of four an unknown op, an input out of range, a missing edge, or a concat
    of entries 0..7 (repeats and states that do not exist included)."""

    def cell(reduction):
        nodes = draw(st.integers(1, 4))
        edges = [(draw(st.sampled_from(sorted(OPS))), draw(st.integers(0, t // 2 + 1))) for t in range(2 * nodes)]
        lowest = 2 if reduction and draw(st.integers(0, 3)) else 0  # a reduction cell's inputs: one cell in four
        concat = draw(st.lists(st.integers(lowest, nodes + 1), min_size=1, max_size=nodes + 2, unique=True))
        fault = draw(st.sampled_from([None] * 12 + ["op", "input", "edge", "concat"]))
        t = draw(st.integers(0, 2 * nodes - 1))
        if fault == "op":
            edges[t] = (draw(st.sampled_from(_BAD_OPS)), edges[t][1])
        elif fault == "input":
            edges[t] = (edges[t][0], draw(st.integers(-1, 7)))
        elif fault == "edge":
            del edges[t]
        elif fault == "concat":
            concat = draw(st.lists(st.integers(0, 7), max_size=5))
        return edges, concat

    (normal, nc), (reduce, rc) = cell(False), cell(True)
    if draw(st.booleans()):
        return json.dumps({"normal": normal, "normal_concat": nc, "reduce": reduce, "reduce_concat": rc})
    return f"Genotype(normal={normal!r}, normal_concat={nc!r}, reduce={reduce!r}, reduce_concat={rc!r})"


@settings(max_examples=60, deadline=None)
@given(genotype_text(), st.sampled_from(["cifar", "imagenet"]), st.integers(1, 8), st.integers(3, 4),
       st.sampled_from([8, 16]), st.integers(1, 2))
def test_every_accepted_genotype_and_shape_builds_and_runs_forward(text, network, channels, layers, size, batch):
    try:
        genotype = parse_genotype(text)
    except GenotypeError as e:
        assert "\n" not in str(e)
        event("genotype rejected")
        return
    try:
        space = DartsSpace(network=network, channels=channels, layers=layers)
    except ConfigError as e:
        assert "\n" not in str(e)
        event("shape rejected")
        return
    net = space.network(genotype, num_classes=3).eval()
    with torch.no_grad():
        logits, aux = net(torch.randn(batch, 3, size, size))
    assert logits.shape == (batch, 3) and aux is None and torch.isfinite(logits).all()
    event("built")


@pytest.mark.parametrize("network", [NetworkCIFAR, NetworkImageNet])
def test_a_normal_cell_concatenating_its_inputs_builds_like_dartss(network):
    # the normal cell's inputs are preprocessed to its nodes' resolution and channels, so DARTS's cat works
    g = parse_genotype("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1)], normal_concat=[0, 1, 2], "
                       "reduce=[('max_pool_3x3', 0), ('skip_connect', 1), ('sep_conv_3x3', 2), ('none', 0)], "
                       "reduce_concat=[2, 3])")
    net = network(g, C=4, num_classes=3, layers=4).eval()
    assert net.out_channels == 3 * (4 * 2 * 2)  # the last cell is a normal one after two reductions
    with torch.no_grad():
        assert net(torch.randn(1, 3, 16, 16))[0].shape == (1, 3)
