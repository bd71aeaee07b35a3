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


def test_rank_with_two_worker_processes_prints_the_same_lines_in_the_same_order():
    genotypes = "nb201_all_conv3x3\nnb201_all_skip\nnb201_resnet\n|nor_conv_1x1~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|\n"
    outputs = []
    for workers in ("1", "2"):
        out = io.StringIO()
        assert main(["rank", "-", "--space", "nb201", "--rankers", "synflow,jacov,snip,fisher", "--seed", "4",
                     "--workers", workers, *SMALL], out=out, stdin=io.StringIO(genotypes)) == 0
        outputs.append(out.getvalue())
    assert outputs[0] == outputs[1] and len(outputs[0].splitlines()) == 4


def test_rank_bad_input_is_one_line(capsys):
    assert main(["rank", "nb201_resnet", "--rankers", "synflo"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [err.strip()] and "known rankers: synflow" in err
    assert main(["rank", "nb201_resnet", "--batch", "0"]) == 2
    assert "--batch must be at least 1" in capsys.readouterr().err
    assert main(["rank", "nb201_resnet", "--rankers", "jacov", "--batch", "1"]) == 2
    assert "at least 2" in capsys.readouterr().err
    assert main(["rank", "-", "--space", "nb201"], stdin=io.StringIO("")) == 2
    assert "no architectures" in capsys.readouterr().err
    assert main(["rank", "-", "--space", "nb201", "--workers", "2"], stdin=io.StringIO("")) == 2
    assert "no architectures" in capsys.readouterr().err
    assert main(["rank", "-", "--space", "nb201", "--workers", "2"], stdin=io.StringIO("nb201_resnet\n|bogus~0|\n")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "stdin line 2" in err, err
    assert main(["rank", "nb201_resnet", "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err


def test_rank_progress_off_a_terminal_is_one_stderr_line_per_genotype(capsys):
    out = io.StringIO()
    assert main(["rank", "nb201_resnet", "nb201_all_skip", "--rankers", "params", *SMALL], out=out) == 0
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in lines] == ["rank: 1/2 scored", "rank: 2/2 scored"]
    assert "nb201_all_skip" in lines[1] and len(out.getvalue().splitlines()) == 2
    assert "ETA" in lines[0]  # a known count: the time left
    main(["rank", "-", "--rankers", "params", *SMALL], out=io.StringIO(), stdin=io.StringIO("nb201_resnet\n"))
    line = capsys.readouterr().err.splitlines()[0]
    assert line.startswith("rank: 1 scored") and "ETA" not in line  # stdin: no count, no ETA


def _bench():
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "bench_rankers.py")
    spec = importlib.util.spec_from_file_location("bench_rankers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_rankers_times_every_registered_ranker_per_architecture(tmp_path, capsys):
    from unnas.rankers import RANKERS
    from unnas.spaces import DartsSpace

    out = tmp_path / "t.json"
    _bench().main(["--archs", "2", "--batch", "2", "--channels", "4", "--layers", "3", "--threads", "1",
                   "--warmup", "0", "--quiet", "--reference", "2", "--out", str(out)])
    record = json.loads(out.read_text())
    assert record["archs"] == [a for a, _ in DartsSpace().arch_set("unnas500:2")]
    assert record["space"] == {"network": "cifar", "channels": 4, "layers": 3} and record["batch"] == 2
    assert list(record["rankers"]) == list(RANKERS)
    for name, row in record["rankers"].items():
        assert len(row["per_arch_s"]) == 2 and all(t > 0 for t in row["per_arch_s"]), name
        assert abs(row["total_s"] - sum(row["per_arch_s"])) < 1e-9
    assert abs(record["total_s"] - sum(r["total_s"] for r in record["rankers"].values())) < 1e-9
    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in printed[1:]] == [*RANKERS, "build", "total", "wrote"]


def test_bench_rankers_reads_the_cpu_study_shape():
    assert _bench().space_arguments(_bench().DEFAULT_CONFIG) == {"network": "cifar", "channels": 8, "layers": 5}


def test_bench_rankers_end_to_end_times_unnas_rank_over_the_architectures(tmp_path, capsys):
    from unnas.spaces import DartsSpace

    out = tmp_path / "e2e.json"
    _bench().main(["--archs", "2", "--batch", "2", "--channels", "4", "--layers", "3", "--threads", "1",
                   "--workers", "1", "--rankers", "synflow,params", "--out", str(out)])
    record = json.loads(out.read_text())
    archs = DartsSpace().arch_set("unnas500:2")
    assert [r["genotype"] for r in record["rows"]] == [a for a, _ in archs]
    assert all(set(r) == {"genotype", "synflow", "params"} for r in record["rows"]) and record["wall_s"] > 0
    params = [DartsSpace(channels=4, layers=3).network(g, num_classes=10) for _, g in archs]
    assert [r["params"] for r in record["rows"]] == [float(sum(p.numel() for n, p in net.named_parameters()
                                                               if "auxiliary" not in n)) for net in params]
    assert "wall" in capsys.readouterr().out


def test_tab_separated_scores_come_under_a_header_naming_the_columns():
    import io

    from unnas.cli import main

    out = io.StringIO()
    assert main(["rank", "nb201_resnet", "nb201/14067", "--channels", "4", "--layers", "1", "--rankers",
                 "params,synflow", "--batch", "2"], out=out, stdin=io.StringIO("")) == 0
    lines = [line.split("\t") for line in out.getvalue().splitlines()]
    assert lines[0] == ["genotype", "params", "synflow"]
    assert [row[0] for row in lines[1:]] == ["nb201_resnet", "nb201/14067"] and all(len(r) == 3 for r in lines)
