"""The command line over every space: arch info/show/draw/sample/list, bench query, study init."""

import io
import json
import re

import pytest

from unnas.cli import main

TABLE_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|none~2|"


def run(argv, stdin=""):
    out = io.StringIO()
    code = main(argv, out=out, stdin=io.StringIO(stdin))
    return code, out.getvalue()


def test_arch_info_recognises_nb201_and_counts_its_params_like_the_table():
    from unnas.spaces.nb201.benchmark import NB201Table

    table = NB201Table(metric="params")
    cells = table.archs()[:5]
    code, out = run(["arch", "info", "-", "--json"], stdin="\n".join(cells))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["space"] for r in rows] == ["nb201"] * 5
    assert [round(r["params"] / 1e6, 6) for r in rows] == [table.query(c) for c in cells]
    assert {(r["channels"], r["layers"], r["num_classes"], tuple(r["input_shape"])) for r in rows} == {(16, 5, 10, (3, 32, 32))}
    _, out = run(["arch", "info", cells[0], "--dataset", "imagenet16-120", "--json"])
    row = json.loads(out)
    assert round(row["params"] / 1e6, 6) == NB201Table("imagenet16-120", metric="params").query(cells[0])
    assert row["input_shape"] == [3, 16, 16] and row["num_classes"] == 120


def test_arch_info_rejects_a_dataset_of_another_space(capsys):
    code, _ = run(["arch", "info", "nb201_resnet", "--dataset", "imagenet"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err == ("unnas: error: --dataset imagenet is not a dataset of the nb201 space; use one of cifar10, cifar100, "
                   "imagenet16-120")


@pytest.mark.parametrize("flag, value", [("--channels", "0"), ("--channels", "-3"), ("--layers", "0"),
                                         ("--num-classes", "0"), ("--input-channels", "0")])
@pytest.mark.parametrize("arch", ["darts_v2", "nb201_resnet"])
def test_arch_info_rejects_impossible_sizes(arch, flag, value, capsys):
    code, out = run(["arch", "info", arch, flag, value])
    assert code == 2 and out == ""
    assert capsys.readouterr().err.strip() == f"unnas: error: {flag} must be at least 1, got {value}"


@pytest.mark.parametrize("argv, message", [
    (["--layers", "2"], "layers=2 is too small: a DARTS network needs at least 3 cells"),
    (["--dataset", "imagenet", "--channels", "3"], "channels=3 is odd: DARTS's ImageNet network needs an even channel"),
])
def test_arch_info_rejects_shapes_the_darts_network_cannot_build(argv, message, capsys):
    code, out = run(["arch", "info", "darts_v2", *argv])
    err = capsys.readouterr().err
    assert code == 2 and out == "" and err.startswith(f"unnas: error: {message}") and err.count("\n") == 1


def test_arch_info_builds_odd_cifar_widths_and_nb201_width_one():
    code, out = run(["arch", "info", "darts_v2", "--channels", "3", "--layers", "3", "--json"])
    assert code == 0 and json.loads(out)["channels"] == 3
    code, out = run(["arch", "info", "nb201_resnet", "--channels", "1", "--layers", "1", "--json"])
    assert code == 0 and json.loads(out)["params"] > 0


def test_arch_show_sample_and_list_per_space(tmp_path):
    # NASLib's (2, 3, 0, 0, 2, 2): ops conv3, conv1, skip, skip, conv3, conv3; the arch string's slots take tuple
    # positions 0, 1, 3, 2, 4, 5
    _, shown = run(["arch", "show", "(2, 3, 0, 0, 2, 2)"])
    assert shown.strip() == "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    _, js = run(["arch", "show", "nb201_resnet", "--json"])
    assert json.loads(js)["space"] == "nb201"
    _, sampled = run(["arch", "sample", "--space", "nb201", "--n", "3", "--seed", "1"])
    lines = [json.loads(x) for x in sampled.splitlines()]
    assert [x["id"] for x in lines] == ["s1-00000", "s1-00001", "s1-00002"] and all(x["space"] == "nb201" for x in lines)
    code, out = run(["arch", "info", "-", "--json"], stdin=sampled)
    assert code == 0 and [json.loads(r)["genotype"] for r in out.splitlines()] == ["s1-00000", "s1-00001", "s1-00002"]
    _, listed = run(["arch", "list", "--space", "nb201"])
    assert listed.splitlines()[0].startswith("nb201_resnet") and "nb201/<index>" in listed
    out_png = tmp_path / "cell.png"
    code, _ = run(["arch", "draw", "nb201_resnet", "--out", str(out_png)])
    assert code == 0 and out_png.stat().st_size > 1000


def test_bench_query_prints_true_accuracies_and_names_the_table_for_missing_cells(capsys):
    from unnas.spaces.nb201.benchmark import NB201Table

    expected = NB201Table("cifar100").query(TABLE_CELL)
    code, out = run(["bench", "query", TABLE_CELL, "--dataset", "cifar100"])
    assert code == 0 and out == f"{TABLE_CELL}\t{expected:.2f}\n"
    code, out = run(["bench", "query", TABLE_CELL, "nb201_resnet"])
    assert code == 1 and out == f"{TABLE_CELL}\t{NB201Table().query(TABLE_CELL):.2f}\n"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("unnas: nb201_resnet: ") and "491" in err[0] and "--benchmark" in err[0]
    code, out = run(["bench", "query", "nb201_resnet", "--json"])
    row = json.loads(out)
    assert code == 1
    assert row["accuracy"] is None and "491" in row["source"]
    code, _ = run(["bench", "query", "darts_v2"])
    assert code == 2 and "the darts space has no ground truth; spaces with one: nb201" in capsys.readouterr().err
    code, _ = run(["bench", "query", TABLE_CELL, "--benchmark", "/nonexistent/NAS-Bench-201-v1_1-096897.pth"])
    assert code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


def test_study_init_picks_the_space_and_its_config_from_the_architecture_set(tmp_path, monkeypatch):
    import os

    from unnas.study.store import Store

    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code, out = run(["study", "init", str(tmp_path / "s"), "--archs", "nb201-table:3", "--seeds", "1,2"])
    assert code == 0 and "24 jobs" in out
    store = Store.open(str(tmp_path / "s"))
    assert store.meta()["space"] == "nb201" and store.meta()["config"].endswith("configs/study/nb201_cifar10_cpu.yaml")
    assert [a for a, _ in store.archs()][0].startswith("nb201/")
    # a DARTS config cannot train NAS-Bench-201 cells
    code, _ = run(["study", "init", str(tmp_path / "t"), "--archs", "nb201-table:3", "--config",
                   "configs/study/cifar10_cpu.yaml"])
    assert code == 2


@pytest.fixture
def toy_space():
    from unnas.spaces import NB201Space
    from unnas.spaces.base import _SPACES, DatasetSpec, register_space

    @register_space
    class ToySpace(NB201Space):
        name = "toy"
        datasets = {"toyset": DatasetSpec(num_classes=3, image_size=8)}

    yield ToySpace
    del _SPACES["toy"]


@pytest.mark.parametrize("command", [["arch", "info"], ["arch", "show"], ["arch", "sample"], ["arch", "list"],
                                     ["bench", "query"], ["rank"]])
def test_a_registered_space_is_a_choice_and_named_in_the_help(toy_space, command, capsys):
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "toy" in help_text.split("--space {", 1)[1].split("}", 1)[0].split(",")
    if command in (["arch", "info"], ["rank"]):
        assert "toyset" in help_text


def test_a_registered_space_is_used_by_name(toy_space):
    code, out = run(["arch", "info", "nb201_resnet", "--space", "toy", "--channels", "2", "--layers", "1", "--json"])
    row = json.loads(out)
    assert code == 0 and row["space"] == "toy" and row["dataset"] == "toyset" and row["num_classes"] == 3
    assert row["input_shape"] == [3, 8, 8]


def test_every_builtin_space_is_named_in_the_help_of_arch_and_bench(capsys):
    from unnas.spaces.base import DEFAULT_SPACE, space_names

    for command in (["arch", "info"], ["bench", "query"], ["arch", "show"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        help_text = " ".join(capsys.readouterr().out.split())
        prose = re.sub(r"\{[^}]*\}", "", help_text)  # the help texts, without the choices
        assert all(name in prose for name in space_names()), command
        assert f"{DEFAULT_SPACE} when nothing else claims it" in help_text or command == ["bench", "query"]
