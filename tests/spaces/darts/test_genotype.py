import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unnas.spaces.darts.genotype import (
    Genotype,
    GenotypeError,
    format_genotype,
    get_genotype,
    load_genotype,
    make_genotype,
    parse_genotype,
    registered_names,
    save_genotype,
)
from unnas.spaces.darts.ops import OPS, PRIMITIVES

# DARTS_V2 exactly as quark0/darts cnn/genotypes.py prints it.
DARTS_V2_TEXT = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=range(2, 6), "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))"
)

ALL_NAMES = registered_names()
NAMED = registered_names(include_sampled=False)


def test_registry_holds_every_published_and_sampled_genotype():
    assert len(NAMED) == 20
    for key in ("darts_v1", "darts_v2", "nas", "pnas", "amoeba", "pdarts", "pcdarts_c10", "pcdarts_in1k"):
        assert key in NAMED
    assert sum(k.startswith("unnas_") for k in NAMED) == 12
    sampled = [k for k in ALL_NAMES if k.startswith("unnas500/")]
    assert len(sampled) == 500
    assert sampled[0] == "unnas500/00004" and sampled[-1] == "unnas500/02771"
    assert len({get_genotype(k) for k in sampled}) == 500


def test_darts_repr_text_parses_to_the_registered_genotype():
    g = parse_genotype(DARTS_V2_TEXT)
    assert g == get_genotype("darts_v2") == get_genotype("DARTS")
    assert g.normal[7] == ("dil_conv_3x3", 2)
    assert g.normal_concat == (2, 3, 4, 5)


def test_sampled_arch_00004_matches_the_unnas_config():
    g = get_genotype("unnas500/00004")
    assert g.normal[4] == ("none", 0)
    assert g.reduce[6:] == (("dil_conv_3x3", 4), ("skip_connect", 4))  # both inputs of a node from one state


@pytest.mark.parametrize("name", ALL_NAMES)
def test_every_registered_genotype_round_trips_through_every_format(name, tmp_path):
    g = get_genotype(name)
    assert parse_genotype(format_genotype(g)) == g
    assert parse_genotype(repr(g)) == g
    assert parse_genotype(g.to_json()) == g
    assert load_genotype(json.dumps(g.to_dict())) == g
    path = tmp_path / "g.json"
    save_genotype(g, path)
    assert load_genotype(str(path)) == g
    assert load_genotype(path) == g
    # UnNAS's CUSTOM_GENOTYPE list form
    assert parse_genotype(json.dumps([g.to_dict()[k] for k in Genotype._fields])) == g


def test_nasnet_and_amoeba_keep_their_own_concat_and_extra_ops():
    nas, amoeba = get_genotype("nas"), get_genotype("amoeba")
    assert nas.normal_concat == (2, 3, 4, 5, 6) and nas.reduce_concat == (4, 5, 6)
    assert ("sep_conv_7x7", 0) in nas.reduce
    assert ("conv_7x1_1x7", 0) in amoeba.reduce and amoeba.reduce_concat == (3, 4, 6)
    assert "reduce_concat=[4, 5, 6]" in format_genotype(nas)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("Genotype(normal=[('sep_conv_9x9', 0), ('skip_connect', 1)], normal_concat=[2], reduce=[('skip_connect', 0), ('skip_connect', 1)], reduce_concat=[2])", "unknown op 'sep_conv_9x9'"),
        ("Genotype(normal=[('skip_connect', 0), ('skip_connect', 2)], normal_concat=[2], reduce=[('skip_connect', 0), ('skip_connect', 1)], reduce_concat=[2])", "normal edge 1 (node 0) reads state 2"),
        ("Genotype(normal=[('skip_connect', 0)], normal_concat=[2], reduce=[('skip_connect', 0), ('skip_connect', 1)], reduce_concat=[2])", "'normal' has 1 edges"),
        ("Genotype(normal=[('skip_connect', 0), ('skip_connect', 1)], normal_concat=[5], reduce=[('skip_connect', 0), ('skip_connect', 1)], reduce_concat=[2])", "'normal_concat' lists state 5"),
        ("Genotype(normal=[('skip_connect', 0), ('skip_connect', 1)], normal_concat=[2])", "exactly normal"),
        ("Genotype(normal=[('skip_connect', 0), ('skip_connect', 1)], normal_concat=[2], reduce=[('skip_connect', 0), ('skip_connect', -1)], reduce_concat=[2])", "reads state -1"),
        ("Genotype(normal=__import__('os'), normal_concat=[2], reduce=[], reduce_concat=[2])", "unexpected expression"),
        ('{"normal": [["skip_connect", 0], ["skip_connect", 1]], "normal_concat": [2]}', "missing reduce, reduce_concat"),
        ('{"normal": [["skip_connect", 0], ["skip_connect", true]], "normal_concat": [2], "reduce": [["skip_connect", 0], ["skip_connect", 1]], "reduce_concat": [2]}', "must be an integer"),
        ("Genotype(normal=[('skip_connect', 0)", "not valid Genotype(...) syntax"),
        ("{not json", "JSON is malformed"),
        ("darts_v9", "no registered genotype named 'darts_v9'"),
        ("missing/file.json", "does not exist"),
    ],
)
def test_malformed_genotypes_give_one_line_naming_the_problem(text, fragment):
    with pytest.raises(GenotypeError) as info:
        load_genotype(text)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_cells_may_reuse_a_state_and_use_none():
    g = make_genotype([("none", 1), ("none", 1)], [2], [("sep_conv_3x3", 0), ("sep_conv_3x3", 0)], [2])
    assert g.normal == (("none", 1), ("none", 1))


_op = st.sampled_from(sorted(OPS) + ["sep_conv_9x9", ""])
_idx = st.one_of(st.integers(-2, 7), st.booleans(), st.text(max_size=2))
_pairs = st.lists(st.tuples(_op, _idx), max_size=12)
_concat = st.one_of(st.lists(st.integers(-1, 8), max_size=6), st.just("range(2, 6)"), st.text(max_size=5))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises_anything_but_genotype_error(text):
    try:
        g = load_genotype(text)
    except GenotypeError as e:
        assert "\n" not in str(e)
    else:
        assert isinstance(g, Genotype)


@settings(max_examples=300, deadline=None)
@given(_pairs, _concat, _pairs, _concat, st.booleans())
def test_structured_but_invalid_genotypes_raise_only_genotype_error(normal, nconcat, reduce, rconcat, as_json):
    if as_json:
        text = json.dumps({"normal": normal, "normal_concat": nconcat, "reduce": reduce, "reduce_concat": rconcat})
    else:
        text = f"Genotype(normal={normal!r}, normal_concat={nconcat if isinstance(nconcat, str) else repr(nconcat)}, reduce={reduce!r}, reduce_concat={rconcat!r})"
    try:
        g = parse_genotype(text)
    except GenotypeError as e:
        assert "\n" not in str(e)
    else:  # whatever parses is valid and round-trips
        assert all(op in OPS for op, _ in g.normal + g.reduce)
        assert parse_genotype(format_genotype(g)) == g


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_valid_random_genotypes_round_trip(data):
    def cell():
        nodes = data.draw(st.integers(1, 6))
        return [(data.draw(st.sampled_from(sorted(OPS))), data.draw(st.integers(0, t // 2 + 1))) for t in range(2 * nodes)], nodes

    normal, n1 = cell()
    reduce, n2 = cell()
    nc = data.draw(st.lists(st.integers(0, n1 + 1), min_size=1, unique=True))
    rc = data.draw(st.lists(st.integers(0, n2 + 1), min_size=1, unique=True))
    g = make_genotype(normal, nc, reduce, rc)
    assert parse_genotype(format_genotype(g)) == g
    assert parse_genotype(g.to_json()) == g


def test_primitives_are_dartss_eight_ops_in_order():
    assert PRIMITIVES == ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                          "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
