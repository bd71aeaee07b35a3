"""Budget curves (the ranking after each epoch), per-epoch lists from run folders, and the cost frontier."""

import json
import os

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from unnas.study import plots
from unnas.study import stats as S
from unnas.pareto import pareto_front
from unnas.study.report import build_report
from unnas.study.result_files import epoch_lists_from_metrics, with_epoch_lists

FAST = settings(max_examples=40, deadline=None)
ARCHS = [f"a{i:02d}" for i in range(8)]
TRUTH = {a: 90.0 - i for i, a in enumerate(ARCHS)}  # a00 best


def trained(task, arch, seed, accs, wall=40.0, **kw):
    finite = [v for v in accs if v is not None]
    return {"arch": arch, "task": task, "seed": seed, "best_acc": max(finite), "acc_per_epoch": accs,
            "wall_time_s": wall, "threads": 1, **kw}


def budget_records():
    """Supervised and rotation: reversed after epoch 1, true order from epoch 2 on (rotation's epoch 2 unevaluated)."""
    out = []
    for i, a in enumerate(ARCHS):
        for s in (1, 2):
            out.append(trained("supervised", a, s, [0.10 + 0.01 * i, 0.5 - 0.01 * i, 0.6 - 0.01 * i, 0.7 - 0.01 * i]))
            out.append(trained("rotation", a, s, [0.20 + 0.01 * i, 0.1, None, 0.9 - 0.01 * i], wall=80.0))
        out.append({"arch": a, "task": "synflow", "seed": 1, "best_acc": 10.0 ** (40 - i), "ranker": "synflow",
                    "wall_time_s": 0.5, "threads": 1})
    return out


def test_epoch_value_running_max_or_the_rank_metric_list():
    r = {"acc_per_epoch": [0.3, None, 0.2, 0.5]}
    assert [S.epoch_value(r, e) for e in range(5)] == [0.3, 0.3, 0.3, 0.5, None]
    assert S.epoch_value({"acc_per_epoch": [None, 0.4]}, 0) is None and S.epoch_count(r) == 4
    rl = {"rank_metric": "train_acc", "acc_per_epoch": [0.9, 0.9], "train_acc_per_epoch": [0.4, 0.2]}
    assert [S.epoch_value(rl, e) for e in range(2)] == [0.4, 0.2]  # not a running max: that epoch's value
    assert S.epoch_count({"best_acc": 0.5}) == 0 and S.epoch_value({"best_acc": 0.5}, 0) is None


def test_budget_curve_per_epoch_against_a_target():
    recs = budget_records()
    curve = S.budget_curve(recs, "supervised", TRUTH, n_boot=50)
    assert [p["epoch"] for p in curve] == [0, 1, 2, 3] and all(p["n"] == 8 for p in curve)
    assert curve[0]["rho"] == pytest.approx(-1.0) and curve[1]["rho"] == pytest.approx(1.0)
    rot = S.budget_curve(recs, "rotation", TRUTH, n_boot=50)
    # epoch 1: running max still the epoch-0 values (0.1 < 0.2 + ...); epoch 3: the true order
    assert rot[1]["rho"] == pytest.approx(-1.0) and rot[2]["rho"] == pytest.approx(-1.0)
    assert rot[3]["rho"] == pytest.approx(1.0)
    assert S.budget_curve(recs, "synflow", TRUTH) == []  # a ranker has no epochs


def test_budget_curve_averages_seeds_and_matches_scipy():
    rng = np.random.default_rng(0)
    recs = [trained("jigsaw", a, s, list(rng.uniform(0.1, 0.9, size=3))) for a in ARCHS for s in (1, 2, 3)]
    curve = S.budget_curve(recs, "jigsaw", TRUTH, n_boot=100, seed=1)
    for e in range(3):
        at_e = {a: np.mean([S.epoch_value(r, e) for r in recs if r["arch"] == a]) for a in ARCHS}
        x = [at_e[a] for a in ARCHS]
        assert curve[e]["rho"] == pytest.approx(sps.spearmanr(x, [TRUTH[a] for a in ARCHS]).statistic)
        ci = S.correlations(x, [TRUTH[a] for a in ARCHS], n_boot=100, seed=1)["spearman"]
        assert (curve[e]["ci_low"], curve[e]["ci_high"]) == pytest.approx((ci["ci_low"], ci["ci_high"]))


def test_random_labels_curve_follows_its_training_accuracy():
    recs = [{"arch": a, "task": "random_labels", "seed": 1, "best_acc": 0.1, "rank_metric": "train_acc",
             "acc_per_epoch": [0.1, 0.1], "train_acc_per_epoch": [0.2 + 0.01 * i, 0.9 - 0.01 * i],
             "train_acc": 0.9 - 0.01 * i} for i, a in enumerate(ARCHS)]
    curve = S.budget_curve(recs, "random_labels", TRUTH, n_boot=0)
    assert [p["rho"] for p in curve] == pytest.approx([-1.0, 1.0])


def test_report_budget_section_json_and_figure(tmp_path):
    res = build_report(budget_records(), str(tmp_path), n_boot=30, ground_truth=TRUTH, ground_truth_name="T")
    bud = res["budget"]
    assert set(bud["tasks"]) == {"supervised", "rotation"} and bud["targets"] == ["supervised", "T"]
    sup_vs_sup = [p["rho"] for p in bud["tasks"]["supervised"]["curves"]["supervised"]]
    assert sup_vs_sup == pytest.approx([-1.0, 1.0, 1.0, 1.0])
    assert [p["rho"] for p in bud["tasks"]["rotation"]["curves"]["T"]] == pytest.approx([-1.0, -1.0, -1.0, 1.0])
    data = json.loads((tmp_path / "correlations.json").read_text())
    assert data["budget"]["tasks"]["rotation"]["n_epochs"] == 4
    md = (tmp_path / "report.md").read_text()
    assert "## Budget: the ranking after each epoch" in md and "not the same as a shorter run" in md
    assert "| Rotation (n ≤ 8) | -1.00" in md and "![Spearman rho after each epoch](fig_budget.png)" in md
    for name in ("fig_budget.png", "fig_cost_frontier.png"):
        with open(tmp_path / name, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    plain = build_report(budget_records(), str(tmp_path / "plain"), n_boot=0, figures=False)
    assert "budget" not in plain["files"]["plots"] and not os.path.exists(tmp_path / "plain" / "fig_budget.png")
    assert plain["budget"]["targets"] == ["supervised"]


def test_older_records_without_lists_have_no_curve(tmp_path):
    recs = [{k: v for k, v in r.items() if k != "acc_per_epoch"} for r in budget_records()]
    res = build_report(recs, str(tmp_path), n_boot=0, figures=False)
    assert res["budget"]["tasks"] == {} and "## Budget" not in (tmp_path / "report.md").read_text()


METRICS = """epoch,step,train/acc,train/loss,val/acc,val/best_acc,val/loss
0,9,0.25,2.2,,,
0,11,,,0.3,0.3,2.1
1,19,0.5,2.0,,,
1,21,0.7,1.9,,,
1,23,,,0.2,0.3,2.0
2,29,0.75,1.8,,,
"""


def test_epoch_lists_from_a_csv_logger_file(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(METRICS)
    assert epoch_lists_from_metrics(str(path)) == {"acc_per_epoch": [0.3, 0.2, None],
                                                   "train_acc_per_epoch": [0.25, 0.6, 0.75]}
    assert epoch_lists_from_metrics(str(tmp_path / "missing.csv")) is None
    (tmp_path / "noval.csv").write_text("epoch,step,train/acc\n0,1,0.5\n")
    assert epoch_lists_from_metrics(str(tmp_path / "noval.csv")) is None


def test_with_epoch_lists_reads_each_record_run_folder(tmp_path):
    run = tmp_path / "runs" / "supervised" / "a00_seed1"
    run.mkdir(parents=True)
    (run / "metrics.csv").write_text(METRICS)
    old = {"arch": "a00", "task": "supervised", "seed": 1, "best_acc": 0.3, "run_dir": "runs/supervised/a00_seed1"}
    gone = {**old, "arch": "a01", "run_dir": "runs/supervised/a01_seed1"}
    new = {**old, "arch": "a02", "acc_per_epoch": [0.1], "train_acc_per_epoch": [0.1]}
    ranker = {"arch": "a00", "task": "synflow", "seed": 1, "best_acc": 5.0, "ranker": "synflow", "run_dir": "x"}
    out = with_epoch_lists([old, gone, new, ranker], str(tmp_path))
    assert out[0]["acc_per_epoch"] == [0.3, 0.2, None] and out[0]["train_acc_per_epoch"] == [0.25, 0.6, 0.75]
    assert out[1] == gone and out[2] == new and out[3] == ranker and "acc_per_epoch" not in old
    curve = S.budget_curve(out, "supervised", TRUTH, n_boot=0)  # a00 from its folder, a02 from its record
    assert [p["n"] for p in curve] == [2, 1, 1] and not curve[0]["computable"]


@FAST
@given(st.lists(st.tuples(st.floats(0.01, 1e4), st.floats(-1, 1)), min_size=1, max_size=25))
def test_pareto_front_keeps_exactly_the_undominated_points(points):
    on = pareto_front(points)

    def dominates(p, q):
        return p[0] <= q[0] and p[1] >= q[1] and (p[0] < q[0] or p[1] > q[1])

    for i, p in enumerate(points):
        assert on[i] == (not any(dominates(q, p) for q in points))
    assert any(on)  # the cheapest of the best is always on it
    front = [p for p, f in zip(points, on) if f]
    assert all(not dominates(p, q) for p in front for q in front)


def test_pareto_front_example():
    assert pareto_front([(1, 0.1), (2, 0.5), (3, 0.4), (2, 0.5), (0.5, 0.1)]) == [False, True, False, True, True]


def test_cost_frontier_points_and_figure(tmp_path):
    res = build_report(budget_records(), str(tmp_path), n_boot=0, ground_truth=TRUTH, ground_truth_name="T",
                       figures=False)
    cost = res["cost"]
    assert cost["target"] == "T"
    assert cost["tasks"]["rotation"] == {"cost_s": 80.0, "n_jobs": 16, "threads": [1]}
    pts = {(p["task"], p["epoch"]): p for p in cost["points"]}
    assert pts[("rotation", None)]["cost_s"] == 80.0 and pts[("rotation", 0)]["cost_s"] == pytest.approx(20.0)
    assert ("rotation", 3) not in pts  # the last epoch is the full run
    assert pts[("synflow", None)]["cost_s"] == 0.5 and pts[("synflow", None)]["rho"] == pytest.approx(1.0)
    usable = [p for p in cost["points"] if p["rho"] is not None]
    assert [p["on_front"] for p in usable] == pareto_front([(p["cost_s"], p["rho"]) for p in usable])
    # synflow ranks perfectly at 0.5 s: the only point on the front
    assert [(p["task"], p["epoch"]) for p in cost["points"] if p["on_front"]] == [("synflow", None)]
    md = (tmp_path / "report.md").read_text()
    assert "## Cost and ranking quality" in md and "seconds per architecture on this run's machine" in md
    assert "| synflow | all | 0.5 | 1 | 1.00 | 8 | yes |" in md
    fig = plots.cost_frontier_figure(cost["points"], target_label="T")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and "Pareto front" in [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close(fig)
    no_truth = build_report(budget_records(), str(tmp_path / "sup"), n_boot=0, figures=False)
    assert no_truth["cost"]["target"] == "supervised"
    assert "supervised" not in {p["task"] for p in no_truth["cost"]["points"] if p["epoch"] is None}
