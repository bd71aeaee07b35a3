"""One recogniser for every architecture argument: each space's ``recognises`` claims its own notations (the
``"space"`` key optional), nothing falls to another space's parser, text no space recognises is one line naming
what each space expects, and numbers thousands of digits long are one line in every notation."""

import io
import json

import pytest

from unnas.cli import main
from unnas.spaces import ArchError, detect_space, read_arch_lines
from unnas.spaces.darts.genotype import MAX_NODES, GenotypeError, get_genotype, parse_genotype

NB201 = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
DARTS = get_genotype("darts_v1").to_dict()
NB101 = {"matrix": [[0, 1, 1], [0, 0, 1], [0, 0, 0]], "ops": ["input", "conv3x3-bn-relu", "output"]}
HUGE = "1" + "0" * 4400  # more digits than Python converts to an int (4,300)


@pytest.mark.parametrize("text, space", [
    (json.dumps({"arch": NB201}), "nb201"), (json.dumps({"naslib": [2, 3, 0, 0, 2, 2]}), "nb201"),
    ("[2, 3, 0, 0, 2, 2]", "nb201"), (json.dumps(DARTS), "darts"), (json.dumps({"genotype": DARTS}), "darts"),
    (json.dumps({"space": "darts", **DARTS}), "darts"), (json.dumps(list(DARTS.values())), "darts"),
    ("genotypes." + repr(get_genotype("darts_v2")), "darts"),
    (json.dumps(NB101), "nb101"), ("(0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 4, 1)", "nb101"),
    ("(2, 3, 0, 0, 2, 2)", "nb201"),
])
def test_every_accepted_notation_is_recognised_without_space(text, space):
    cls = detect_space(text)
    assert cls.name == space
    cls().load(text)  # and its space reads it


@pytest.mark.parametrize("text", ["no such thing", "darts_v9", "conv3x3", json.dumps({"foo": 1}), "[1, 2]"])
def test_text_no_space_recognises_is_one_line_naming_every_space(text):
    with pytest.raises(ArchError, match="no search space recognises") as e:
        detect_space(text)
    msg = str(e.value)
    assert "\n" not in msg and "darts: " in msg and "nb201: " in msg and "nb101: " in msg


def test_nb201_errors_no_longer_talk_about_darts_genotypes(capsys):
    assert main(["arch", "info", json.dumps({"arch": NB201.replace("none~1", "bad~1")})]) == 2
    err = capsys.readouterr().err
    assert err.startswith("unnas: error: unknown op 'bad'") and "genotype" not in err


@pytest.mark.parametrize("spec", [
    f"(2, 3, 0, 0, 2, {HUGE})", NB201.replace("none~1", f"none~{HUGE}"), f"[2, 3, 0, 0, 2, {HUGE}]",
    json.dumps({"space": "nb201"})[:-1] + f', "naslib": [2, 3, 0, 0, 2, {HUGE}]}}',
    json.dumps(NB101)[:-1] + f', "space": "nb101", "x": {HUGE}}}',
])
@pytest.mark.parametrize("command", [["arch", "info"], ["rank", "--rankers", "params"], ["bench", "query"]])
def test_numbers_thousands_of_digits_long_are_one_line(spec, command, capsys):
    assert main([*command, spec]) == 2
    err = capsys.readouterr().err
    assert err.startswith("unnas: error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_darts_json_with_a_genotype_key_reads_everywhere(tmp_path, capsys):
    line = json.dumps({"id": "mine", "genotype": DARTS})
    rows = list(read_arch_lines([line], "archs.txt"))
    assert [(label, sp.name) for label, sp, _ in rows] == [("mine", "darts")] and rows[0][2] == get_genotype("darts_v1")
    assert main(["arch", "info", "-"], stdin=io.StringIO(line + "\n")) == 0
    assert "mine" in capsys.readouterr().out


def test_darts_cells_are_capped_in_nodes():
    edges = [("skip_connect", 0), ("skip_connect", 1)] * (MAX_NODES + 1)
    text = (f"Genotype(normal={edges}, normal_concat=[2], reduce=[('skip_connect', 0), ('skip_connect', 1)], "
            "reduce_concat=[2])")
    with pytest.raises(GenotypeError, match=f"at most {MAX_NODES}"):
        parse_genotype(text)
    edges = [("skip_connect", 0), ("skip_connect", 1)] * MAX_NODES  # the limit itself is accepted
    parse_genotype(text.replace(str([("skip_connect", 0), ("skip_connect", 1)] * (MAX_NODES + 1)), str(edges)))
