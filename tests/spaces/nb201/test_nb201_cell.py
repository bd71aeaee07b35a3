"""NAS-Bench-201 cells: notation (arch string, NASLib tuple, JSON), strict one-line errors, enumeration, sampling
and the isomorphism key."""

import itertools
import json
import os
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unnas.spaces.base import ArchError
from unnas.spaces.nb201.cell import (EDGES, NASLIB_OPS, NUM_CELLS, NB201Cell, canonical, cell_from_dict,
                                     cell_from_index, cell_index, cell_to_dict, check_cell, enumerate_cells,
                                     format_cell, from_naslib, parse_cell, sample_cells, to_naslib)
from unnas.spaces.nb201.networks import InferCell
from unnas.spaces.nb201.ops import PRIMITIVES

TABLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "unnas", "spaces", "nb201", "data",
                     "nb201_naslib_zc.json")
EXAMPLE = "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|none~2|"
DOCS = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


@pytest.fixture(scope="module")
def table():
    with open(TABLE, encoding="utf-8") as f:
        return json.load(f)["nasbench201"]


@pytest.fixture(scope="module")
def all_cells():
    return enumerate_cells()


def _one_line_error(fn, *args) -> str:
    with pytest.raises(ArchError) as info:
        fn(*args)
    msg = str(info.value)
    assert msg and len(msg.splitlines()) == 1 and "\n" not in msg and "\r" not in msg, repr(msg)
    return msg


# --------------------------------------------------------------------------------------- the arch string
def test_example_parses_to_the_right_edges():
    cell = parse_cell(DOCS)
    assert cell == NB201Cell("nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_3x3",
                             "skip_connect")
    assert cell.edges == [("nor_conv_3x3", 0, 1), ("nor_conv_3x3", 0, 2), ("avg_pool_3x3", 1, 2),
                          ("skip_connect", 0, 3), ("nor_conv_3x3", 1, 3), ("skip_connect", 2, 3)]
    assert cell.nodes == ((("nor_conv_3x3", 0),), (("nor_conv_3x3", 0), ("avg_pool_3x3", 1)),
                          (("skip_connect", 0), ("nor_conv_3x3", 1), ("skip_connect", 2)))
    assert str(cell) == repr(cell) == format_cell(cell) == DOCS
    assert parse_cell(f"  \t{DOCS}\n ") == cell  # whitespace at the ends only


def test_exact_round_trip_of_all_15625(all_cells):
    for cell in all_cells:
        text = format_cell(cell)
        back = parse_cell(text)
        assert back == cell and type(back) is NB201Cell and format_cell(back) == text
        assert from_naslib(to_naslib(cell)) == cell
        assert parse_cell(str(to_naslib(cell))) == cell
        assert cell_from_dict(json.loads(json.dumps(cell_to_dict(cell)))) == cell


@pytest.mark.parametrize("text,needle", [
    ("|conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv_3x3'"),
    ("|nor_conv_3x3~0|+|none~0|none~1|", "3 node groups"),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+|none~0|", "3 node groups"),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 has 1 edge(s)"),
    ("|none~0|+|none~0|none~1|+|none~0|none~2|none~1|", "must read node 1, not 2"),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~3|", "node 3 can only read nodes 0..2"),
    ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "must read node 0, not 1"),
    ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "not a NAS-Bench-201 architecture"),
    ("|none~0+|none~0|none~1|+|none~0|none~1|none~2|", "malformed group"),
    ("|none~0|+|none~0||none~1|+|none~0|none~1|none~2|", "empty edge"),
    ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "malformed edge"),
    ("|none~0~0|+|none~0|none~1|+|none~0|none~1|none~2|", "malformed edge"),
    ("|none~a|+|none~0|none~1|+|none~0|none~1|none~2|", "not a node number"),
    ("|none~0|+| none~0|none~1|+|none~0|none~1|none~2|", "unknown op ' none'"),
    ("", "empty"),
    ("   ", "empty"),
])
def test_one_line_errors_name_the_problem_and_the_fix(text, needle):
    msg = _one_line_error(parse_cell, text)
    assert needle in msg, msg
    if "unknown op" in needle:
        assert ", ".join(PRIMITIVES) in msg  # the list of known ops is the fix


def test_errors_escape_line_breaks():
    msg = _one_line_error(parse_cell, "|no\nne~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert "'no\\nne'" in msg


# --------------------------------------------------------------------------------------- NASLib's tuple
def _naslib_reference(indices) -> str:
    """NASLib's own conversion (``convert_op_indices_to_str``), written the way NASLib does it: edges
    ``(1,2),(1,3),(1,4),(2,3),(2,4),(3,4)`` of nodes 1..4, stably sorted by their destination, source ``i - 1``."""
    edges = ((1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4))
    op_of = {edge: NASLIB_OPS[k] for edge, k in zip(edges, indices)}
    parts = [f"{op_of[(i, j)]}~{i - 1}" for i, j in sorted(op_of, key=lambda e: e[1])]
    return "|{}|+|{}|{}|+|{}|{}|{}|".format(*parts)


def test_naslib_tuple_matches_the_table_keys(table):
    keys = list(table["cifar10"])
    assert len(keys) == 491 and keys == list(table["cifar100"]) == list(table["ImageNet16-120"])
    cells = [parse_cell(k) for k in keys]
    assert [str(to_naslib(c)) for c in cells] == keys  # exact text of NASLib's keys
    assert [str(c) for c in cells] == [_naslib_reference(json.loads("[" + k[1:-1] + "]")) for k in keys]
    assert len(set(cells)) == 491


def test_naslib_mapping_by_hand(table):
    # arch-string slots (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2) take tuple positions 0, 1, 3, 2, 4, 5; op index k is
    # NASLIB_OPS[k] = skip_connect, none, nor_conv_3x3, nor_conv_1x1, avg_pool_3x3
    assert NASLIB_OPS == ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
    cell = parse_cell(EXAMPLE)
    assert to_naslib(cell) == (4, 4, 1, 4, 3, 1)
    assert from_naslib([0, 1, 2, 3, 4, 1]) == NB201Cell("skip_connect", "none", "nor_conv_1x1", "nor_conv_3x3",
                                                        "avg_pool_3x3", "none")
    # spaces.md's example cell has 101,306 parameters on CIFAR-10: the table agrees under this mapping
    assert table["cifar10"][str(to_naslib(cell))]["params"] == 0.101306


@pytest.mark.parametrize("bad,needle", [
    ("(0, 1, 2, 3, 4)", "6 comma-separated"),
    ("(0, 1, 2, 3, 4, 5)", "not one of 0..4"),
    ("(0, 1, 2, 3, 4, x)", "not one of 0..4"),
    ("(0, 1, 2, 3, 4, 1", "(i0, i1, i2, i3, i4, i5)"),
    ("(0, 1, 2, 3, 4, -1)", "not one of 0..4"),
])
def test_naslib_text_errors(bad, needle):
    assert needle in _one_line_error(parse_cell, bad)


@pytest.mark.parametrize("bad", [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 5], [0, 1, 2, 3, True, 1], [0, 1, 2, 3, 4, 1.0],
                                 "(1,2)", 7])
def test_naslib_sequence_errors(bad):
    _one_line_error(from_naslib, bad)


# --------------------------------------------------------------------------------------- JSON
def test_json_forms():
    cell = parse_cell(DOCS)
    assert cell_to_dict(cell) == {"space": "nb201", "arch": DOCS}
    assert parse_cell(json.dumps(cell_to_dict(cell))) == cell
    naslib = list(to_naslib(cell))
    assert parse_cell(json.dumps({"space": "nb201", "naslib": naslib})) == cell
    assert cell_from_dict({"naslib": naslib}) == cell
    assert cell_from_dict({"id": "s0-00001", "space": "nb201", "arch": DOCS}) == cell  # as `unnas arch sample` writes
    assert parse_cell(json.dumps(naslib)) == cell
    assert cell_from_dict(DOCS) == cell


@pytest.mark.parametrize("obj,needle", [
    ({"space": "darts", "arch": DOCS}, "for space 'darts'"),
    ({"space": "nb201"}, "exactly one of"),
    ({"space": "nb201", "arch": DOCS, "naslib": [0] * 6}, "both"),
    ({"space": "nb201", "arch": 5}, "'arch' must be an arch string"),
    ({"space": "nb201", "arch": "(0, 0, 0, 0, 0, 0)"}, "3 node groups"),
    ({"space": "nb201", "naslib": "(0, 0, 0, 0, 0, 0)"}, "'naslib' must be a list"),
    ({"space": "nb201", "naslib": [0, 0, 0, 0, 0, False]}, "not one of 0..4"),
    (3.5, "got float"),
])
def test_json_errors(obj, needle):
    assert needle in _one_line_error(cell_from_dict, obj)


def test_invalid_json_text_is_one_line():
    assert "invalid JSON" in _one_line_error(parse_cell, '{"space": "nb201",\n "arch": ')


# --------------------------------------------------------------------------------------- fuzz
_ALPHABET = "|+~0123456789_ nonecskiptvrl13x()[]{},\":a\n"


@st.composite
def _mutated(draw):
    """A valid arch string, NASLib tuple or JSON text with a few random edits."""
    cell = cell_from_index(draw(st.integers(0, NUM_CELLS - 1)))
    base = draw(st.sampled_from([format_cell(cell), str(to_naslib(cell)), json.dumps(cell_to_dict(cell)),
                                 json.dumps({"space": "nb201", "naslib": list(to_naslib(cell))})]))
    chars = list(base)
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        pos = draw(st.integers(0, len(chars)))
        c = draw(st.sampled_from(_ALPHABET))
        if kind == "insert":
            chars.insert(pos, c)
        elif chars and pos < len(chars):
            if kind == "delete":
                del chars[pos]
            else:
                chars[pos] = c
    return "".join(chars)


def _accepts_or_one_line_error(text):
    try:
        cell = parse_cell(text)
    except ArchError as e:
        msg = str(e)
        assert msg and len(msg.splitlines()) == 1, repr(msg)
        return
    # accepted: a real cell that formats, re-parses to itself and builds
    assert type(cell) is NB201Cell and check_cell(cell) == cell
    assert parse_cell(format_cell(cell)) == cell
    assert len(InferCell(cell, 2).layers) == 6


@settings(max_examples=400, deadline=None)
@given(_mutated())
def test_fuzz_mutations(text):
    _accepts_or_one_line_error(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_fuzz_any_text(text):
    _accepts_or_one_line_error(text)


@settings(max_examples=40, deadline=None)
@given(_mutated(), st.integers(1, 4), st.integers(1, 2), st.sampled_from([8, 16]), st.integers(1, 2))
def test_every_accepted_cell_builds_a_network_that_runs_forward(text, channels, layers, size, batch):
    import torch

    from unnas.spaces.nb201.networks import TinyNetwork

    try:
        cell = parse_cell(text)
    except ArchError:
        return
    net = TinyNetwork(cell, C=channels, N=layers, num_classes=3).eval()
    with torch.no_grad():
        logits, aux = net(torch.randn(batch, 3, size, size))
    assert logits.shape == (batch, 3) and aux is None and torch.isfinite(logits).all()


def test_non_string_input_is_an_arch_error():
    _one_line_error(parse_cell, 12)
    _one_line_error(check_cell, ("none",) * 5)
    _one_line_error(check_cell, NB201Cell("none", "none", "none", "none", "none", "conv"))


# --------------------------------------------------------------------------------------- enumeration
def test_enumeration_count_order_and_uniqueness(all_cells):
    assert len(all_cells) == NUM_CELLS == 15625
    assert len(set(all_cells)) == 15625
    # the order of itertools.product over PRIMITIVES, i.e. the official Structure.gen_all order
    assert all_cells == [NB201Cell(*ops) for ops in itertools.product(PRIMITIVES, repeat=6)]
    assert all(cell_index(c) == i for i, c in enumerate(all_cells))
    assert all_cells[0] == NB201Cell(*["none"] * 6) and all_cells[-1] == NB201Cell(*["avg_pool_3x3"] * 6)
    # base 5 by hand: skip_connect (digit 1) on the first slot is 1 * 5**5; nor_conv_3x3 (3) on the last is 3
    assert cell_index(parse_cell("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|")) == 3125
    assert cell_index(parse_cell("|none~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|")) == 3
    assert cell_index(parse_cell(EXAMPLE)) == 4 * 3125 + 4 * 625 + 4 * 125 + 0 * 25 + 2 * 5 + 0
    for bad in (-1, 15625, True, "3"):
        _one_line_error(cell_from_index, bad)


# --------------------------------------------------------------------------------------- sampling
def test_sampling_is_reproducible_distinct_and_prefix_stable():
    a = sample_cells(40, seed=3)
    assert a == sample_cells(40, seed=3)
    assert len(set(a)) == 40
    assert sample_cells(7, seed=3) == a[:7]
    assert sample_cells(40, seed=4) != a
    assert sample_cells(0, seed=1) == []
    everything = sample_cells(15625, seed=0)
    assert len(set(everything)) == 15625
    for bad in (15626, -1):
        _one_line_error(sample_cells, bad, 0)


def test_sampling_is_uniform():
    # the first draw over 1000 seeds: each of the 5 ops on each edge ~ Binomial(1000, 1/5) = 200 +- 12.6
    firsts = [sample_cells(1, seed=s)[0] for s in range(1000)]
    for slot in range(len(EDGES)):
        counts = Counter(c[slot] for c in firsts)
        assert set(counts) == set(PRIMITIVES)
        assert all(140 < n < 260 for n in counts.values()), counts


# --------------------------------------------------------------------------------------- isomorphism
def test_canonical_gives_the_papers_6466_architectures(all_cells):
    assert len({canonical(c) for c in all_cells}) == 6466


def test_canonical_examples():
    # node 1 is dead (its only reader is a `none` edge and node 2 is zero): the op on 1<-0 does not matter
    a = parse_cell("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    b = parse_cell("|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    assert canonical(a) == canonical(b) == "#+#+0"
    # node 1 = x (skip), so node 3 = conv3x3(x) + conv1x1(x) either way round
    c = parse_cell("|skip_connect~0|+|none~0|none~1|+|nor_conv_3x3~0|nor_conv_1x1~1|none~2|")
    d = parse_cell("|skip_connect~0|+|none~0|none~1|+|nor_conv_1x1~0|nor_conv_3x3~1|none~2|")
    assert canonical(c) == canonical(d) == "#+(0)@nor_conv_1x1+(0)@nor_conv_3x3"
    # but a different op is a different network
    e = parse_cell("|skip_connect~0|+|none~0|none~1|+|nor_conv_3x3~0|nor_conv_3x3~1|none~2|")
    assert canonical(e) != canonical(c)
