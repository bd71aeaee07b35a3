"""The NAS-Bench-101 space behind the seam: registry, detection, sets, ground truth by hash, drawing."""

import io
import json

import numpy as np
import pytest

from unnas.cli import main
from unnas.spaces.base import ArchError, detect_space, space_class
from unnas.spaces.nb101 import NB101Space, cell_hash, make_cell, unnas_cells
from unnas.spaces.nb101.benchmark import NB101Table
from unnas.study.worker import resolve_arch_set

# id 000907 of the paper's 500: configs/sample_based/nas_bench/cifar10/cls/000907.yaml of facebookresearch/unnas
C907 = {"matrix": [[0, 1, 0, 1, 0, 0, 0], [0, 0, 1, 0, 1, 0, 0], [0, 0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0],
                   [0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
        "ops": ["input", "conv3x3-bn-relu", "conv1x1-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "conv1x1-bn-relu",
                "output"]}


def test_registered_space_and_the_paper_500():
    assert space_class("nb101") is NB101Space
    space = NB101Space()
    assert len(unnas_cells()) == 500 and min(unnas_cells()) == "000907" and max(unnas_cells()) == "423150"
    assert space.load("unnas_nb101/000907") == make_cell(C907["matrix"], C907["ops"])
    assert detect_space("unnas_nb101/000907") is NB101Space
    assert detect_space(json.dumps(C907)) is NB101Space
    assert detect_space({"space": "nb101", **C907}) is NB101Space
    assert space.load(space.to_json(space.load("unnas_nb101/000907"))) == space.load("unnas_nb101/000907")
    with pytest.raises(ArchError, match="unnas_nb101/<6-digit id>"):
        space.load("unnas_nb101/12")


def test_study_sets():
    space = NB101Space()
    full = space.arch_set("unnas_nb101")
    assert len(full) == 500 and full[0][0] == "unnas_nb101/000907"
    four = space.arch_set("unnas_nb101:4")
    assert [a for a, _ in four] == [full[i][0] for i in (0, 125, 250, 375)]
    assert space.arch_set("nb101-table:3:1") == space.arch_set("nb101-table:3:1")
    assert len(space.arch_set("nb101-table")) == 292
    sampled = space.arch_set("nb101-sample:5:2")
    assert [a for a, _ in sampled] == [f"nb101-s2-{i:05d}" for i in range(5)]
    assert space.arch_set("unnas500:4") is None and space.arch_set("nb201-table:3") is None
    with pytest.raises(ArchError, match="holds 500"):
        space.arch_set("unnas_nb101:501")
    name, archs = resolve_arch_set("unnas_nb101:24")
    assert name == "nb101" and len(archs) == 24


def test_ground_truth_answers_by_hash_for_isomorphic_and_unpruned_specs():
    truth = NB101Space().ground_truth()
    cell = NB101Space().load("nb101_table/000")
    value = truth.query(cell)
    # the first row of NASLib's table (automl/NASLib zc_nasbench101.json) is this cell alone: 92.578125 %
    assert value == pytest.approx(92.578125)
    # renumber the inner vertices (kept upper-triangular by reversing two independent ones when possible)
    m, ops = cell.array(), list(cell.ops)
    n, renumbered = len(ops), 0
    for a in range(1, n - 1):
        for b in range(a + 1, n - 1):
            order = list(range(n))
            order[a], order[b] = b, a
            pm = m[np.ix_(order, order)]
            if not np.tril(pm).any() and [ops[i] for i in order] != ops:
                other = make_cell(pm, [ops[i] for i in order])
                assert other != cell and cell_hash(other) == cell_hash(cell)
                assert truth.query(other) == value
                renumbered += 1
    assert renumbered > 0
    # a spec with a dead vertex added finds the same row
    big = np.zeros((n + 1, n + 1), dtype=int)
    big[:n - 1, :n - 1] = m[:n - 1, :n - 1]
    big[:n - 1, n] = m[:n - 1, n - 1]
    assert truth.query(make_cell(big, ops[:-1] + ["maxpool3x3", "output"])) == value
    assert truth.query(NB101Space().load("unnas_nb101/000907")) is None
    with pytest.raises(ArchError, match="CIFAR-10 accuracies only"):
        NB101Table("imagenet")
    assert NB101Table(metric="params").query(cell) == pytest.approx(4.095778)


def test_a_cell_measured_many_times_answers_the_mean_of_its_rows():
    truth = NB101Table()
    counts = {cell_hash(c): len(truth.records(c)) for c in truth.archs()}
    cell = next(c for c in truth.archs() if counts[cell_hash(c)] > 1)
    rows = truth.records(cell)
    assert truth.query(cell) == pytest.approx(sum(r["val_accuracy"] for r in rows) / len(rows))
    assert sum(counts.values()) == 500 and len(counts) == 292


def test_bench_query_and_draw_from_the_cli(tmp_path):
    out = io.StringIO()
    assert main(["bench", "query", "nb101_table/000", "--json"], out=out) == 0
    assert json.loads(out.getvalue())["accuracy"] == pytest.approx(92.578125)
    png = tmp_path / "c.png"
    assert main(["arch", "draw", "unnas_nb101/000907", "--space", "nb101", "--out", str(png)], out=io.StringIO()) == 0
    assert png.stat().st_size > 1000
