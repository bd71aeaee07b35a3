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
    rc = data.draw(st.lists(st.integers(2, n2 + 1), min_size=1, unique=True))
    g = make_genotype(normal, nc, reduce, rc)
    assert parse_genotype(format_genotype(g)) == g
    assert parse_genotype(g.to_json()) == g


def test_primitives_are_dartss_eight_ops_in_order():
    assert PRIMITIVES == ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                          "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")


_CELL = "[('skip_connect', 0), ('sep_conv_3x3', 1)]"


def _text(normal_concat="[2]", reduce_concat="[2]", normal=_CELL, reduce=_CELL):
    return f"Genotype(normal={normal}, normal_concat={normal_concat}, reduce={reduce}, reduce_concat={reduce_concat})"


@pytest.mark.parametrize("reduce_concat, state", [("[0, 2]", 0), ("[2, 1]", 1), ("range(0, 3)", 0)])
def test_a_reduction_cell_cannot_concatenate_its_inputs(reduce_concat, state):
    # the inputs of a reduction cell keep the previous resolution while its nodes are halved
    with pytest.raises(GenotypeError) as info:
        parse_genotype(_text(reduce_concat=reduce_concat))
    assert str(info.value) == (f"'reduce_concat' lists state {state}, an input of the reduction cell: the inputs keep "
                               "the previous resolution while its nodes are halved, so they cannot be concatenated; "
                               "list only its nodes, states 2..2")
    with pytest.raises(GenotypeError, match="an input of the reduction cell"):
        load_genotype(Genotype((("skip_connect", 0),) * 2, (2,), (("skip_connect", 0),) * 2, (state, 2)))


def test_a_normal_cell_may_concatenate_its_inputs_and_cells_may_differ_in_size():
    g = parse_genotype(_text(normal_concat="[0, 1, 2]", reduce=_CELL[:-1] + ", ('max_pool_3x3', 2), ('none', 0)]",
                             reduce_concat="range(2, 4)"))
    assert g.normal_concat == (0, 1, 2) and g.reduce_concat == (2, 3) and len(g.reduce) == 4


@pytest.mark.parametrize("text, message", [
    (_text(normal_concat="[2, 2]"), "'normal_concat' lists state 2 twice; list each state once"),
    (_text(normal_concat="[]"), "'normal_concat' must be a non-empty list of state indices, got []"),
    (_text(reduce_concat="range(2, 2)"), "'reduce_concat' must be a non-empty list of state indices, got []"),
    (_text(normal="[('skip_connect', 0), ('skip_connect', 2)]"),
     "normal edge 1 (node 0) reads state 2; node 0 can read states 0..1"),
    (_text(normal="[('skip_connect', 0), ('skip_connect', 1), ('skip_connect', 0)]"),
     "'normal' has 3 edges; a cell needs 2 edges per node (an even number, at least 2)"),
    (_text(normal="[('skip_connect', 0, 1), ('skip_connect', 1)]"), "normal edge 0 must be an (op, input) pair"),
])
def test_every_unbuildable_form_is_rejected_in_one_line(text, message):
    with pytest.raises(GenotypeError) as info:
        parse_genotype(text)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("concat, count", [
    ("range(2, 100000000)", "99,999,998"),
    ("range(2, 10000000000000000000000000000000)", "more than 2**63"),
    ("range(-10000000000000000000000000000000, 3)", "more than 2**63"),
    ("range(0, 100000000000, 1000)", "100,000,000"),
])
def test_a_range_is_bounded_before_it_is_expanded(concat, count):
    with pytest.raises(GenotypeError) as info:
        parse_genotype(_text(normal_concat=concat))
    assert str(info.value) == (f"{concat[:60]} lists {count} states; a concat lists each state of its cell at most "
                               f"once, so a range may hold at most 64")


def test_a_huge_range_built_in_python_is_checked_lazily():
    with pytest.raises(GenotypeError, match="'normal_concat' lists state 3; this cell has states 0..2"):
        make_genotype([("none", 0), ("none", 1)], range(2, 10 ** 30), [("none", 0), ("none", 1)], [2])


@pytest.mark.parametrize("text, fragment", [
    (_text(normal_concat="[" + "2, " * 40000 + "]"), "genotype text is longer than 65,536 characters"),
    (_text(normal_concat="-" * 900 + "2"), "unexpected expression '------"),
    (_text(normal_concat="-" * 5000 + "2"), "not valid Genotype(...) syntax"),
    (_text(normal_concat="[" * 300 + "]" * 300), "not valid Genotype(...) syntax: too many nested parentheses"),
    (_text(normal_concat="range(2, " + "9" * 5000 + ")"), "an integer thousands of digits long"),
    ('{"normal": [["skip_connect", ' + "9" * 5000 + ']]}', "an integer thousands of digits long"),
    ('{"normal": ' + "[" * 30000 + "]" * 30000 + "}", "genotype JSON is malformed: maximum recursion depth"),
])
def test_hostile_text_gives_one_short_line_quickly(text, fragment):
    with pytest.raises(GenotypeError) as info:
        parse_genotype(text)
    message = str(info.value)
    assert fragment in message and "\n" not in message and len(message) < 300


def test_error_messages_shorten_long_values():
    with pytest.raises(GenotypeError) as info:
        parse_genotype(_text(normal="[('" + "x" * 20000 + "', 0), ('skip_connect', 1)]"))
    assert str(info.value).startswith("unknown op 'xxxx") and len(str(info.value)) < 300


def test_a_long_genotype_file_is_refused_without_reading_it_whole(tmp_path):
    path = tmp_path / "big.json"
    path.write_text('{"normal": [' + '["none", 0], ' * 200000 + "]}")
    with pytest.raises(GenotypeError, match="longer than 65,536 characters"):
        load_genotype(str(path))
