"""A NAS-Bench-201 study's report sets every objective against the true accuracies of its cells."""

import io
import json
import os

import pytest
from scipy import stats

from unnas.cli import main
from unnas.spaces import NB201Space
from unnas.spaces.nb201.benchmark import NB201Table
from unnas.study.store import Store, worker_id

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(argv):
    out = io.StringIO()
    return main(argv, out=out), out.getvalue()


def test_report_correlates_each_objective_with_the_true_accuracy(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    study = str(tmp_path / "s")
    code, _ = run(["study", "init", study, "--archs", "nb201-table:8", "--tasks", "supervised,rotation", "--seeds", "1"])
    assert code == 0
    store, space, truth = Store.open(study), NB201Space(), NB201Table("cifar10")
    true = {arch: truth.query(space.load(text)) for arch, text in store.archs()}
    assert all(v is not None for v in true.values())
    me = worker_id()
    fake = {}
    while (job := store.claim(me, 60.0)) is not None:  # results made up from the arch id: a known ranking
        acc = (int(job.arch.split("/")[1]) % 97) / 100 if job.task == "rotation" else true[job.arch] / 100
        fake[(job.arch, job.task)] = acc
        assert store.finish(job, me, {"best_acc": acc, "params": 1000, "seed": job.seed})
    out = tmp_path / "report"
    code, _ = run(["study", "report", study, "--out", str(out), "--n-boot", "50"])
    assert code == 0
    with open(out / "correlations.json") as f:
        result = json.load(f)
    rows = {r["y"] if r["x"] == result["ground_truth"]["name"] else r["x"]: r for r in result["ground_truth_correlations"]}
    archs = sorted(true)
    rho_rot = stats.spearmanr([fake[(a, "rotation")] for a in archs], [true[a] for a in archs]).statistic
    assert rows["rotation"]["spearman"]["value"] == pytest.approx(rho_rot)
    assert rows["supervised"]["spearman"]["value"] == pytest.approx(1.0)
    assert rows["rotation"]["n"] == 8 and result["ground_truth"]["name"] == "true cifar10"
    csv_lines = (out / "architectures.csv").read_text().splitlines()
    assert len(csv_lines) == 9 and csv_lines[0].split(",")[-3:] == ["params", "macs", "ground truth"]
    # 8 architectures: every interval is flagged, in the JSON and at the top of the report
    assert result["small_n"]["any"] and result["small_n"]["n_values"] == [8]
    assert all(r["small_n"] for r in result["ground_truth_correlations"])
    md = (out / "report.md").read_text()
    assert "n = 8: intervals are not meaningful" in md[:md.index("\n## ")]
    code, _ = run(["study", "report", study, "--out", str(tmp_path / "plain"), "--n-boot", "20", "--no-ground-truth"])
    with open(tmp_path / "plain" / "correlations.json") as f:
        assert json.load(f)["ground_truth_correlations"] == []
