"""Ranker scores and rank metrics in the report, and the benchmark table's own scores next to ours."""

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy import stats as sps

from unnas.cli.study import TABLE_FIELD_ALIASES, table_scores_from_truth
from unnas.study import plots
from unnas.study import stats as S
from unnas.study.report import build_report

ARCHS = [f"a{i:02d}" for i in range(12)]
RNG = np.random.default_rng(0)
Q = RNG.normal(size=len(ARCHS))


def mixed_records():
    """Supervised accuracies in [0, 1]; synflow scores up to 7e49 and negative jacov scores as rankers."""
    out = []
    for i, a in enumerate(ARCHS):
        for s in (1, 2):
            out.append({"arch": a, "task": "supervised", "seed": s, "best_acc": 0.6 + 0.02 * Q[i] + 0.001 * s,
                        "wall_time_s": 30.0})
        out.append({"arch": a, "task": "synflow", "seed": 1, "best_acc": 7e49 * 10.0 ** (-i), "score": 0,
                    "ranker": "synflow", "wall_time_s": 0.2})
        out.append({"arch": a, "task": "jacov", "seed": 1, "best_acc": -16.07 - 0.01 * i, "ranker": "jacov",
                    "wall_time_s": 0.3})
    return out


def test_ranker_scores_leave_accuracies_in_percent(tmp_path):
    res = build_report(mixed_records(), str(tmp_path), n_boot=20, figures=False)
    assert res["settings"]["accuracy_scale_for_display"] == 100.0
    assert not any("percent already" in n for n in res["notes"])
    assert res["ranker_tasks"] == ["jacov", "synflow"]
    assert res["summary"]["synflow"]["is_score"] and not res["summary"]["supervised"]["is_score"]
    md = (tmp_path / "report.md").read_text()
    sup = res["summary"]["supervised"]
    assert f"| Supervised | 12 | 24 | 1, 2 | 2 | {100 * sup['acc_min']:.2f} / " in md
    assert "| synflow (ranker) | 12 | 12 | 1 | 1 | 7.00e+38 / 3.85e+44 / 7.00e+49 | – | – |" in md
    assert "| jacov (ranker) | 12 | 12 | 1 | 1 | -16.18 / -16.12 / -16.07 | – | – |" in md
    assert "accuracies only" in md and "7.00e+49 (1)" in md  # the per-architecture table: score and rank
    # rankers join every comparison like an objective: ranks are what matter
    vs = {r["y"]: r for r in res["correlations"] if r["kind"] == "vs_baseline"}
    table = S.mean_over_seeds(mixed_records())
    for t in ("synflow", "jacov"):
        expect = sps.spearmanr([table["supervised"][a] for a in ARCHS], [table[t][a] for a in ARCHS]).statistic
        assert vs[t]["spearman"]["value"] == pytest.approx(expect)
    assert res["spearman_matrix"]["tasks"] == ["supervised", "jacov", "synflow"]
    assert set(res["best_of_m"]["curves"]) == {"supervised", "jacov", "synflow"}


def test_records_rank_by_their_rank_metric():
    recs = [{"arch": a, "task": "random_labels", "seed": 1, "best_acc": 0.1, "rank_metric": "train_acc",
             "train_acc": 0.2 + 0.01 * i} for i, a in enumerate(ARCHS[:4])]
    recs.append({"arch": "old", "task": "random_labels", "seed": 1, "best_acc": 0.3})  # older record: best_acc
    assert S.mean_over_seeds(recs)["random_labels"] == pytest.approx(
        {"a00": 0.2, "a01": 0.21, "a02": 0.22, "a03": 0.23, "old": 0.3})
    assert S.mean_over_seeds(recs, metric="best_acc")["random_labels"]["a00"] == 0.1
    with pytest.raises(ValueError, match="train_acc"):
        S.mean_over_seeds([{"arch": "a", "task": "t", "seed": 1, "best_acc": 0.1, "rank_metric": "train_acc"}])


def test_report_ranks_random_labels_by_training_accuracy(tmp_path):
    recs = [r for r in mixed_records() if r["task"] == "supervised"]
    for i, a in enumerate(ARCHS):
        recs.append({"arch": a, "task": "random_labels", "seed": 1, "best_acc": 0.1 + 0.001 * ((i * 7) % 5),
                     "rank_metric": "train_acc", "train_acc": 0.3 + 0.01 * Q[i]})
    res = build_report(recs, str(tmp_path), n_boot=0, figures=False)
    row = next(r for r in res["correlations"] if r["y"] == "random_labels")
    assert row["spearman"]["value"] == pytest.approx(1.0)  # train_acc follows Q as supervised does
    assert res["summary"]["random_labels"]["rank_metric"] == ["train_acc"]


def test_score_panels_are_unscaled_on_a_log_axis():
    table = S.mean_over_seeds(mixed_records())
    fig = plots.vs_baseline_figure(table, tasks=["synflow", "jacov"], scores={"synflow", "jacov"})
    syn, jac = fig.axes[:2]
    assert syn.get_yscale() == "log" and syn.get_ylabel() == "synflow score"
    assert jac.get_yscale() == "linear" and jac.get_ylabel() == "jacov score"
    ys = jac.collections[0].get_offsets()[:, 1]
    assert ys.min() == pytest.approx(-16.18) and ys.max() == pytest.approx(-16.07)  # not multiplied by 100
    plt.close(fig)


def test_table_scores_against_ours_and_the_truth(tmp_path):
    truth = {a: 90.0 + Q[i] for i, a in enumerate(ARCHS)}
    theirs = {a: float(np.log(7e49 * 10.0 ** (-i))) + 3 * RNG.normal() for i, a in enumerate(ARCHS[:10])}
    res = build_report(mixed_records(), str(tmp_path), n_boot=100, figures=False, ground_truth=truth,
                       ground_truth_name="T", table_scores={"synflow": theirs}, table_scores_name="NASLib")
    e = res["table_scores"]["tasks"]["synflow"]
    ours = S.mean_over_seeds(mixed_records())["synflow"]
    archs = ARCHS[:10]
    t = [truth[a] for a in archs]
    rho_table = sps.spearmanr([theirs[a] for a in archs], t).statistic
    rho_ours = sps.spearmanr([ours[a] for a in archs], t).statistic
    assert e["table_vs_truth"]["rho"] == pytest.approx(rho_table) and e["table_vs_truth"]["n"] == 10
    assert e["ours_vs_truth"]["rho"] == pytest.approx(rho_ours)
    assert e["difference"]["value"] == pytest.approx(rho_ours - rho_table) and e["difference"]["n"] == 10
    assert e["difference"]["ci_low"] <= e["difference"]["value"] <= e["difference"]["ci_high"]
    assert e["ours_vs_table"]["rho"] == pytest.approx(
        sps.spearmanr([ours[a] for a in archs], [theirs[a] for a in archs]).statistic)
    data = json.loads((tmp_path / "correlations.json").read_text())
    assert data["table_scores"]["name"] == "NASLib" and "synflow" in data["table_scores"]["tasks"]
    md = (tmp_path / "report.md").read_text()
    assert "## Our scores and NASLib's own" in md and "| synflow | " in md.split("## Our scores and NASLib's own")[1]
    assert build_report(mixed_records(), str(tmp_path / "none"), n_boot=0, figures=False)["table_scores"] is None


def test_spearman_difference_is_paired():
    y = np.arange(10.0)
    d = S.spearman_difference(y, -y, y, n_boot=50)
    assert d["value"] == pytest.approx(2.0) and d["ci_low"] == pytest.approx(2.0) and d["n_boot_used"] == 50
    assert not S.spearman_difference([1, 2], [1, 2], [1, 2])["computable"]


class FakeTable:
    """A tiny benchmark table: rows by arch with NASLib-style fields."""

    def __init__(self, rows):
        self.rows = rows

    def record(self, arch):
        return self.rows.get(arch)


class FakeMultiRowTable:
    def __init__(self, rows):
        self.rows = rows

    def records(self, arch):
        return self.rows.get(arch, [])


def test_table_scores_from_truth_uses_names_and_aliases():
    rows = {"x1": {"synflow": 3.0, "flops": 10.0, "val_accuracy": 90.0}, "x2": {"synflow": 1.0, "flops": 5.0},
            "x3": None}
    archs = {"a1": "x1", "a2": "x2", "a3": "x3"}
    got = table_scores_from_truth(FakeTable(rows), archs,
                                  {"synflow": ["synflow"], "macs": ["macs"], "naswot": ["naswot"],
                                   "mine": ["mine", "synflow"]})
    assert TABLE_FIELD_ALIASES["macs"] == "flops"
    assert got == {"synflow": {"a1": 3.0, "a2": 1.0}, "macs": {"a1": 10.0, "a2": 5.0},
                   "mine": {"a1": 3.0, "a2": 1.0}}  # naswot: no field; mine: by its ranker's name
    multi = FakeMultiRowTable({"x1": [{"jacov": -1.0}, {"jacov": -3.0}]})
    assert table_scores_from_truth(multi, archs, {"jacov": ["jacov"]}) == {"jacov": {"a1": -2.0}}


def test_study_report_reads_the_table_scores_of_its_rankers(tmp_path, monkeypatch):
    import io
    import os

    from unnas.cli import main
    from unnas.spaces import NB201Space
    from unnas.spaces.nb201.benchmark import NB201Table
    from unnas.study.store import Store, worker_id

    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    study = str(tmp_path / "s")
    assert main(["study", "init", study, "--archs", "nb201-table:6", "--tasks", "supervised,synflow,macs,naswot"],
                out=io.StringIO()) == 0
    store, space, table = Store.open(study), NB201Space(), NB201Table("cifar10")
    rows = {arch: table.record(space.load(text)) for arch, text in store.archs()}
    me = worker_id()
    while (job := store.claim(me, 60.0)) is not None:
        i = int(job.arch.split("/")[1])
        result = {"best_acc": 0.1 + (i % 89) / 100, "seed": job.seed}
        if job.task != "supervised":
            result.update(best_acc=float(i % 7) - 3.0, ranker=job.task)
        assert store.finish(job, me, result)
    out = tmp_path / "report"
    assert main(["study", "report", study, "--out", str(out), "--n-boot", "1"], out=io.StringIO()) == 0
    data = json.loads((out / "correlations.json").read_text())
    ts = data["table_scores"]
    assert ts["name"] == "benchmark" and set(ts["tasks"]) == {"synflow", "macs"}  # naswot: not in the table
    archs = sorted(rows)
    ours = {a: float(int(a.split("/")[1]) % 7) - 3.0 for a in archs}
    for task, field in (("synflow", "synflow"), ("macs", "flops")):
        expect = sps.spearmanr([ours[a] for a in archs], [rows[a][field] for a in archs]).statistic
        assert ts["tasks"][task]["ours_vs_table"]["rho"] == pytest.approx(expect)
        assert ts["tasks"][task]["table_vs_truth"]["n"] == 6


def test_every_task_of_a_study_gets_its_own_colour_and_marker_pair():
    tasks = ["supervised", "rotation", "colorization", "jigsaw", "random_labels", "contrastive", "synflow", "naswot",
             "jacov", "grad_norm", "snip", "grasp", "fisher", "params", "macs"] + [f"extra{i}" for i in range(20)]
    styles = [(plots.task_color(t, tasks), plots.task_marker(t, tasks)) for t in tasks]
    assert len(set(styles)) == len(tasks)
    assert plots.task_marker("supervised", tasks) == plots.task_marker("synflow", tasks) == "o"
