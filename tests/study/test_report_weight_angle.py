"""RLNAS's weight angle in the report: its ρ with the ground truth beside each objective's held-out accuracy,
random labels ranked by it, and older records without it."""

import json

import numpy as np
import pytest
from scipy import stats as sps

from pretext_tasks.registry import objective_rank_metric
from unnas.study.report import build_report

ARCHS = [f"a{i:02d}" for i in range(12)]
Q = np.random.default_rng(1).normal(size=len(ARCHS))
TRUTH = {a: 90.0 + Q[i] for i, a in enumerate(ARCHS)}  # percent, as benchmark tables give it
NOISE = np.random.default_rng(2).permutation(len(ARCHS))


def records(with_angle=True):
    """Supervised accuracies that follow the truth; rotation accuracies in an unrelated order, its angle against
    the truth; random labels at chance held-out accuracy, their angle (above 1 rad) following the truth."""
    out = []
    for i, a in enumerate(ARCHS):
        for s in (1, 2):
            sup = {"arch": a, "task": "supervised", "seed": s, "best_acc": 0.6 + 0.02 * Q[i] + 0.001 * s,
                   "rank_metric": "best_acc"}
            rot = {"arch": a, "task": "rotation", "seed": s, "best_acc": 0.5 + 0.01 * NOISE[i], "rank_metric": "best_acc"}
            rl = {"arch": a, "task": "random_labels", "seed": s, "best_acc": 0.25 + 0.001 * NOISE[(i + s) % 12],
                  "train_acc": 0.3 + 0.01 * NOISE[i]}
            if with_angle:
                sup["weight_angle"] = 0.9 + 0.01 * Q[i]
                rot["weight_angle"] = 0.8 - 0.01 * Q[i]
                rl.update(weight_angle=1.3 + 0.05 * Q[i] + 0.001 * s, rank_metric="weight_angle")
            else:  # a store recorded before the angle: random labels ranked by their training accuracy
                rl["rank_metric"] = "train_acc"
            out += [sup, rot, rl]
    return out


def test_random_labels_declare_the_angle_as_their_ranking_metric():
    assert objective_rank_metric("random_labels") == "weight_angle"
    assert objective_rank_metric("supervised") == "best_acc" and objective_rank_metric("synflow") is None


def test_report_shows_the_angle_rho_and_ranks_random_labels_by_the_angle(tmp_path):
    res = build_report(records(), str(tmp_path), n_boot=50, ground_truth=TRUTH)
    ang = res["weight_angle"]
    assert ang["field"] == "weight_angle" and ang["not_recorded"] == []
    rl, rot, sup = (ang["tasks"][t] for t in ("random_labels", "rotation", "supervised"))
    # random labels: ranked by the angle, which follows the truth; their held-out accuracy does not
    assert rl["ranked_by_angle"] and rl["rank_metric"] == ["weight_angle"]
    assert rl["angle"]["spearman"]["value"] == pytest.approx(1.0)
    lo, hi = rl["angle"]["spearman"]["ci_low"], rl["angle"]["spearman"]["ci_high"]
    assert lo is not None and hi is not None and lo <= 1.0 <= hi + 1e-12
    held = [np.mean([0.25 + 0.001 * NOISE[(i + s) % 12] for s in (1, 2)]) for i in range(12)]
    expect = sps.spearmanr([TRUTH[a] for a in ARCHS], held).statistic
    assert rl["held_out"]["spearman"]["value"] == pytest.approx(expect)
    # the other objectives: ranked by their held-out accuracy, the angle's ρ beside it
    assert not rot["ranked_by_angle"] and rot["angle"]["spearman"]["value"] == pytest.approx(-1.0)
    assert sup["held_out"]["spearman"]["value"] == pytest.approx(1.0)
    assert sup["angle"]["spearman"]["value"] == pytest.approx(1.0)
    # every ground-truth comparison ranks random labels by the angle, which is a score (radians), not a percentage
    gt_row = next(r for r in res["ground_truth_correlations"] if r["y"] == "random_labels")
    assert gt_row["spearman"]["value"] == pytest.approx(1.0)
    assert res["summary"]["random_labels"]["is_score"] and res["score_tasks"] == ["random_labels"]
    assert res["settings"]["accuracy_scale_for_display"] == 100.0  # angles above 1 leave the accuracies in [0, 1]
    assert "random_labels" not in res["pareto"]["tasks"]
    md = (tmp_path / "report.md").read_text()
    assert "## Weight angle (RLNAS) vs ground truth" in md
    assert "| Random labels | weight angle (RLNAS) | 24 of 24 |" in md
    assert "| Rotation | held-out accuracy | 24 of 24 |" in md
    assert json.loads((tmp_path / "correlations.json").read_text())["weight_angle"]["tasks"]["random_labels"][
        "ranked_by_angle"]


def test_report_on_records_without_an_angle(tmp_path):
    res = build_report(records(with_angle=False), str(tmp_path), n_boot=20, figures=False, ground_truth=TRUTH)
    ang = res["weight_angle"]
    assert ang["recorded"] == [] and set(ang["not_recorded"]) == {"supervised", "rotation", "random_labels"}
    for e in ang["tasks"].values():
        assert e["angle"] is None and e["angle_mean"] is None and e["n_runs_with_angle"] == 0
        assert e["held_out"]["computable"]
    assert ang["tasks"]["random_labels"]["rank_metric"] == ["train_acc"]  # as the old records say
    assert not res["summary"]["random_labels"]["is_score"]
    md = (tmp_path / "report.md").read_text()
    assert "| Random labels | training accuracy | 0 of 24 | not recorded |" in md
    assert "Not recorded for Supervised, Rotation, Random labels" in md
    assert "though the objective now declares weight angle (RLNAS)" in md


def test_report_without_ground_truth_keeps_the_angle_section_out_of_the_text(tmp_path):
    res = build_report(records(), str(tmp_path), n_boot=0, figures=False)
    assert res["weight_angle"]["target"] is None and "no ground truth" in res["weight_angle"]["reason"]
    assert res["weight_angle"]["tasks"]["random_labels"]["angle"] is None
    vs = next(r for r in res["correlations"] if r["kind"] == "vs_baseline" and r["y"] == "random_labels")
    assert vs["spearman"]["value"] == pytest.approx(1.0)  # ranked by the angle against supervised as well
    assert "Weight angle (RLNAS) vs ground truth" not in (tmp_path / "report.md").read_text()
