"""``unnas rank``: one JSON line per genotype with the requested rankers, and one-line errors."""

import io
import json

from unnas.cli import main

SMALL = ["--channels", "4", "--layers", "1", "--batch", "2", "--json"]


def test_rank_prints_one_json_line_per_genotype_from_arguments_and_stdin():
    out = io.StringIO()
    stdin = io.StringIO("nb201_all_skip\n# a comment\n\n|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|\n")
    status = main(["rank", "nb201_all_conv3x3", "-", "--space", "nb201", "--rankers", "synflow,naswot,snip,params",
                   *SMALL], out=out, stdin=stdin)
    assert status == 0
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["genotype"] for r in rows] == ["nb201_all_conv3x3", "nb201_all_skip",
                                            "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"]
    assert all(set(r) == {"genotype", "synflow", "naswot", "snip", "params"} for r in rows)
    assert rows[0]["synflow"] > rows[1]["synflow"] and rows[0]["params"] > rows[1]["params"]


def test_rank_is_reproducible_under_a_seed():
    runs = []
    for _ in range(2):
        out = io.StringIO()
        main(["rank", "nb201_resnet", "--rankers", "jacov,grad_norm", "--seed", "3", *SMALL], out=out)
        runs.append(out.getvalue())
    assert runs[0] == runs[1]


def test_rank_rotation_objective_and_other_spaces():
    out = io.StringIO()
    assert main(["rank", "nb201_resnet", "--objective", "rotation", "--rankers", "fisher", *SMALL], out=out) == 0
    assert json.loads(out.getvalue())["fisher"] > 0
    out = io.StringIO()
    assert main(["rank", "DARTS_V2", "--rankers", "synflow,macs", "--channels", "4", "--layers", "3", "--batch", "2",
                 "--json"], out=out) == 0
    assert set(json.loads(out.getvalue())) == {"genotype", "synflow", "macs"}
    out = io.StringIO()
    assert main(["rank", "unnas_nb101/000907", "--rankers", "naswot,params", "--channels", "4", "--layers", "1",
                 "--batch", "2", "--json"], out=out) == 0
    assert set(json.loads(out.getvalue())) == {"genotype", "naswot", "params"}


def test_rank_bad_input_is_one_line(capsys):
    assert main(["rank", "nb201_resnet", "--rankers", "synflo"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [err.strip()] and "known rankers: synflow" in err
    assert main(["rank", "nb201_resnet", "--batch", "0"]) == 2
    assert "--batch must be at least 1" in capsys.readouterr().err
    assert main(["rank", "nb201_resnet", "--rankers", "jacov", "--batch", "1"]) == 2
    assert "at least 2" in capsys.readouterr().err
    assert main(["rank", "-", "--space", "nb201"], stdin=io.StringIO("")) == 2
    assert "no genotypes" in capsys.readouterr().err
