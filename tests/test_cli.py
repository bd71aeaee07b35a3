import io
import json
import subprocess
import sys

import pytest

from unnas.cli import main
from unnas.space import get_genotype, parse_genotype


def run(argv, stdin=""):
    out = io.StringIO()
    code = main(argv, out=out, stdin=io.StringIO(stdin))
    return code, out.getvalue()


def test_arch_info_json_matches_dartss_counts():
    code, out = run(["arch", "info", "darts_v2", "--json"])
    assert code == 0
    row = json.loads(out)
    assert row == {**row, "genotype": "darts_v2", "params": 3_349_342, "params_with_aux": 3_349_342,
                   "macs": 528_359_040, "dataset": "cifar10", "channels": 36, "layers": 20}


def test_arch_info_imagenet_with_auxiliary():
    code, out = run(["arch", "info", "darts_v2", "--dataset", "imagenet", "--auxiliary", "--json"])
    row = json.loads(out)
    assert (row["params"], row["params_with_aux"], row["macs"]) == (4_718_752, 5_979_528, 529_911_552)
    assert (row["channels"], row["layers"]) == (48, 14)


def test_arch_info_reads_many_genotypes_from_stdin():
    sample = "\n".join(get_genotype(n).to_json() for n in ("darts_v1", "darts_v2")) + "\nunnas500/00004\n"
    code, out = run(["arch", "info", "-", "--channels", "16", "--layers", "20", "--json"], stdin=sample)
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["genotype"] for r in rows] == ["stdin:1", "stdin:2", "unnas500/00004"]
    assert round(rows[2]["macs"] / 1e6, 1) == 114.8


def test_arch_info_text_table(capsys):
    code, out = run(["arch", "info", "darts_v2", "--channels", "16", "--layers", "8"])
    assert code == 0
    assert "246,106" in out  # official NetworkCIFAR(16, 10, 8, DARTS_V2)


def test_arch_info_input_channels_and_classes():
    _, out = run(["arch", "info", "darts_v2", "--input-channels", "1", "--num-classes", "4", "--json"])
    assert json.loads(out)["params"] == 3_349_342 - 2 * 108 * 9 - 6 * 577  # stem loses 2 input channels, classifier Linear(576, 10) -> (576, 4)


def test_bad_genotype_is_one_line_with_exit_2(capsys):
    code, out = run(["arch", "info", "Genotype(normal=[('sep_conv_9x9', 0), ('skip_connect', 1)], normal_concat=[2], reduce=[('skip_connect', 0), ('skip_connect', 1)], reduce_concat=[2])"])
    err = capsys.readouterr().err
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "unknown op 'sep_conv_9x9'" in err


def test_bad_stdin_line_names_its_line(capsys):
    code, _ = run(["arch", "info", "-", "--json"], stdin="darts_v2\nnot_a_genotype\n")
    assert code == 2
    assert "stdin line 2" in capsys.readouterr().err


def test_arch_sample_is_reproducible_and_parseable(tmp_path):
    _, a = run(["arch", "sample", "--n", "3", "--seed", "7"])
    _, b = run(["arch", "sample", "--n", "3", "--seed", "7"])
    assert a == b
    lines = a.splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["id"] == "s7-00000"
    assert parse_genotype(lines[1]).normal_concat == (2, 3, 4, 5)
    out = tmp_path / "s.jsonl"
    run(["arch", "sample", "--n", "3", "--seed", "7", "--out", str(out)])
    assert out.read_text().splitlines() == lines


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml")])
def test_arch_draw_writes_an_image(tmp_path, suffix, magic):
    out = tmp_path / f"cell{suffix}"
    code, _ = run(["arch", "draw", "nas", "--out", str(out)])
    assert code == 0 and out.read_bytes().startswith(magic)
    if suffix == ".svg":
        assert "sep_conv_7x7" in out.read_text()


def test_arch_draw_rejects_unknown_format(tmp_path, capsys):
    code, _ = run(["arch", "draw", "darts_v2", "--out", str(tmp_path / "x.gif")])
    assert code == 2 and ".png, .svg or .pdf" in capsys.readouterr().err


def test_arch_list_and_show():
    _, out = run(["arch", "list"])
    assert out.splitlines()[0].startswith("nas") and "unnas500/<id>" in out and "darts_v2" in out
    _, full = run(["arch", "list", "--all"])
    assert len(full.splitlines()) == 520
    _, shown = run(["arch", "show", "darts_v2"])
    assert parse_genotype(shown) == get_genotype("darts_v2") and "range(2, 6)" in shown


def test_console_script_entry_point():
    proc = subprocess.run([sys.executable, "-m", "unnas", "arch", "show", "DARTS", "--json"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert parse_genotype(proc.stdout) == get_genotype("darts_v2")
