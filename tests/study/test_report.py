"""The study report: files written, numbers consistent with the statistics, degenerate inputs, wandb logging."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as sps

from unnas.study import stats as S
from unnas.study.report import build_report, log_report_to_wandb

TASKS = {  # base accuracy, spread across archs, seed noise, sign of the dependence on arch quality
    "supervised": (0.93, 0.010, 0.001, 1),
    "rotation": (0.94, 0.010, 0.002, 1),
    "colorization": (0.305, 0.001, 0.0005, 1),
    "jigsaw": (0.75, 0.020, 0.004, -1),  # anti-correlated: the report must not assume rho > 0
}


def synthetic(n_archs=12, seeds=(1, 2), tasks=TASKS, seed=0):
    rng = np.random.default_rng(seed)
    quality = rng.normal(size=n_archs)
    records = []
    for i in range(n_archs):
        arch = f"unnas500/{i:05d}"
        for task, (base, spread, noise, sign) in tasks.items():
            for s in seeds:
                records.append({"arch": arch, "task": task, "seed": s,
                                "best_acc": base + sign * spread * quality[i] + noise * rng.normal(),
                                "params": 700_000 + i * 1000, "macs": 110_000_000 + i * 7, "wall_time_s": 60.0})
    return records


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    records = synthetic()
    return records, out, build_report(records, str(out), n_boot=50)


def test_writes_all_files(full):
    _, out, res = full
    names = set(os.listdir(out))
    assert {"report.md", "report.html", "correlations.json", "fig_vs_supervised.png", "fig_spearman_matrix.png",
            "fig_best_of_m.png"} <= names
    assert set(res["files"]["plots"].values()) <= names
    for png in res["files"]["plots"].values():
        with open(out / png, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_html_is_self_contained(full):
    _, out, res = full
    text = (out / "report.html").read_text()
    assert text.count("data:image/png;base64,") == len(res["files"]["plots"])
    assert "http://" not in text and "https://" not in text and 'src="fig' not in text
    assert "<table>" in text and "Rotation" in text


def test_markdown_links_images_and_has_tables(full):
    _, out, res = full
    md = (out / "report.md").read_text()
    for png in res["files"]["plots"].values():
        assert f"]({png})" in md
    for heading in ("Runs per objective", "Objectives vs supervised accuracy", "Pairs of objectives",
                    "Spearman ρ between all objectives", "Best of m", "How computed"):
        assert heading in md


def test_json_numbers_match_stats(full):
    records, out, res = full
    data = json.loads((out / "correlations.json").read_text())
    assert data["tasks"] == ["supervised", "rotation", "colorization", "jigsaw"]
    table = S.mean_over_seeds(records)
    vs = {r["y"]: r for r in data["correlations"] if r["kind"] == "vs_baseline"}
    assert set(vs) == {"rotation", "colorization", "jigsaw"}
    for task, row in vs.items():
        archs = sorted(table[task])
        x = [table["supervised"][a] for a in archs]
        y = [table[task][a] for a in archs]
        assert row["n"] == 12 and row["computable"]
        assert row["spearman"]["value"] == pytest.approx(sps.spearmanr(x, y).statistic, abs=1e-12)
        assert row["kendall"]["value"] == pytest.approx(sps.kendalltau(x, y).statistic, abs=1e-12)
        assert row["pearson"]["value"] == pytest.approx(sps.pearsonr(x, y).statistic, abs=1e-12)
        assert row["spearman"]["n_boot_used"] == 50
    assert vs["rotation"]["spearman"]["value"] > 0.7 and vs["jigsaw"]["spearman"]["value"] < -0.7
    assert len([r for r in data["correlations"] if r["kind"] == "pair"]) == 3
    summ = data["summary"]["colorization"]
    assert summ["n_archs"] == 12 and summ["n_runs"] == 24 and summ["seeds"] == [1, 2]
    assert summ["acc_min"] == pytest.approx(min(table["colorization"].values()))
    mat = data["spearman_matrix"]
    assert mat["tasks"] == data["tasks"] and mat["rho"][0][1] == pytest.approx(vs["rotation"]["spearman"]["value"])
    bom = data["best_of_m"]
    assert bom["target"] == "supervised" and set(bom["curves"]) == set(data["tasks"])
    assert bom["curves"]["rotation"]["ms"] == [1, 2, 4, 8]
    assert bom["curves"]["supervised"]["expected"][-1] <= bom["curves"]["supervised"]["oracle"]
    assert {r["y"] for r in data["complexity_correlations"]} == {"params", "macs"}
    assert data["accuracy"]["mean_over_seeds"]["rotation"] == pytest.approx(table["rotation"])
    assert data == {k: v for k, v in res.items()}  # the returned dict is what was written


def test_reference_in_percent(tmp_path):
    records = synthetic(n_archs=10)
    table = S.mean_over_seeds(records)
    ref = {a: 100 * (0.40 + 3 * (v - 0.93)) for a, v in table["supervised"].items()}  # percent, like ImageNet
    res = build_report(records, str(tmp_path), reference=ref, reference_name="ImageNet supervised", n_boot=20)
    assert res["reference"] == "ImageNet supervised"
    assert any("percent" in n for n in res["notes"])
    rows = {r["y"]: r for r in res["reference_correlations"]}
    assert set(rows) == set(res["tasks"]) and rows["supervised"]["spearman"]["value"] == pytest.approx(1.0)
    assert res["best_of_m"]["target"] == "ImageNet supervised"
    assert "vs_reference" in res["files"]["plots"] and os.path.exists(tmp_path / "fig_vs_reference.png")
    assert "ImageNet supervised" in res["spearman_matrix"]["tasks"]
    assert "paper Fig. 4" in (tmp_path / "report.md").read_text()


def test_missing_supervised(tmp_path):
    records = [r for r in synthetic() if r["task"] != "supervised"]
    res = build_report(records, str(tmp_path), n_boot=10)
    assert res["supervised"] is None
    assert any("No 'supervised' results" in n for n in res["notes"])
    assert all(r["kind"] == "pair" for r in res["correlations"]) and len(res["correlations"]) == 3
    assert "vs_supervised" not in res["files"]["plots"] and not res["best_of_m"]["curves"]
    md = (tmp_path / "report.md").read_text()
    assert "Not available: there are no supervised results." in md
    assert json.loads((tmp_path / "correlations.json").read_text())["best_of_m"]["reason"]


def test_tiny_and_partial(tmp_path):
    # supervised for 12 archs, rotation for 2 of them only, jigsaw for 3 with equal accuracy
    records = [r for r in synthetic() if r["task"] == "supervised"]
    records += [{"arch": f"unnas500/{i:05d}", "task": "rotation", "seed": 1, "best_acc": 0.9 + i / 100} for i in range(2)]
    records += [{"arch": f"unnas500/{i:05d}", "task": "jigsaw", "seed": 1, "best_acc": 0.7} for i in range(3)]
    records += [{"arch": "unnas500/00000", "task": "jigsaw", "seed": 2, "best_acc": float("nan")}]
    res = build_report(records, str(tmp_path), n_boot=10)
    rows = {(r["x"], r["y"]): r for r in res["correlations"]}
    assert not rows[("supervised", "rotation")]["computable"]
    assert "only 2 common" in rows[("supervised", "rotation")]["reason"]
    assert rows[("supervised", "jigsaw")]["reason"] == "all 3 values of jigsaw are equal; no ranking"
    assert res["n_dropped"] == 1
    assert "rotation" in res["best_of_m"]["skipped"]
    md = (tmp_path / "report.md").read_text()
    assert "not computable: only 2 common architecture(s)" in md
    json.loads((tmp_path / "correlations.json").read_text())


@pytest.mark.parametrize("records", [[], [{"arch": "a", "task": "rotation", "seed": 1, "best_acc": 0.5}]])
def test_degenerate_inputs_do_not_crash(tmp_path, records):
    res = build_report(records, str(tmp_path), n_boot=5)
    assert os.path.exists(tmp_path / "report.html") and res["correlations"] == []
    json.loads((tmp_path / "correlations.json").read_text())


def test_common_all(tmp_path):
    records = [r for r in synthetic() if not (r["task"] == "jigsaw" and r["arch"] >= "unnas500/00009")]
    res = build_report(records, str(tmp_path), n_boot=5, common="all", figures=False)
    assert res["files"]["plots"] == {} and not [f for f in os.listdir(tmp_path) if f.endswith(".png")]
    assert res["n_common_all"] == 9 and {r["n"] for r in res["correlations"]} == {9}


class FakeRun:
    def __init__(self):
        self.logged = []
        self.summary = {}

    def log(self, payload):
        self.logged.append(payload)


def test_log_report_to_wandb_fake_run(full):
    import wandb

    _, _, res = full
    run = FakeRun()
    payload = log_report_to_wandb(res, run)
    assert run.logged == [payload]
    assert isinstance(payload["study/correlations"], wandb.Table)
    assert len(payload["study/correlations"].data) == 6 + 2  # 3 vs supervised + 3 pairs + params, macs
    assert isinstance(payload["study/best_of_m"], wandb.Table)
    for name in res["files"]["plots"]:
        assert isinstance(payload[f"study/plots/{name}"], wandb.Image)
    kinds = [row[2] for row in payload["study/correlations"].data]
    assert kinds == ["vs_baseline"] * 3 + ["pair"] * 3 + ["complexity"] * 2
    assert run.summary["study/spearman/rotation_vs_supervised"] == res["correlations"][0]["spearman"]["value"]


def test_log_report_to_wandb_disabled_run(full):
    import wandb

    _, _, res = full
    run = wandb.init(mode="disabled")
    try:
        payload = log_report_to_wandb(res, run, prefix="rep")
        assert "rep/spearman_matrix" in payload
    finally:
        run.finish()


def test_report_imports_no_torch_or_lightning():
    code = ("import sys, unnas.study.report, unnas.study.stats, unnas.study.plots; "
            "bad = [m for m in ('torch', 'lightning', 'wandb') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------------------- ground truth


def _means(records):
    """task -> arch -> mean over seeds of best_acc, computed here without unnas.study.stats."""
    acc = {}
    for r in records:
        if r["best_acc"] is None or not np.isfinite(r["best_acc"]):
            continue
        acc.setdefault(r["task"], {}).setdefault(r["arch"], []).append(r["best_acc"])
    return {t: {a: float(np.mean(v)) for a, v in archs.items()} for t, archs in acc.items()}


def _true_acc(records, archs, seed=1):
    """Ground truth in percent, related to supervised accuracy but not a function of any one task."""
    sup = _means(records)["supervised"]
    rng = np.random.default_rng(seed)
    return {a: round(100 * (0.5 + 2 * (sup[a] - 0.93)) + rng.normal(scale=0.5), 2) for a in archs}


def _read_csv(path):
    import csv

    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def test_ground_truth_correlations_match_scipy(tmp_path):
    records = synthetic()
    archs = sorted({r["arch"] for r in records})
    gt = _true_acc(records, archs)
    res = build_report(records, str(tmp_path), ground_truth=gt, ground_truth_name="NB-201 cifar10 test",
                       n_boot=20)
    means = _means(records)
    rows = {r["y"]: r for r in res["ground_truth_correlations"]}
    assert set(rows) == set(TASKS)  # supervised included
    for task, row in rows.items():
        x = np.array([gt[a] / 100 for a in archs])  # percent -> the records' [0, 1]
        y = np.array([means[task][a] for a in archs])
        assert row["kind"] == "vs_ground_truth" and row["x"] == "NB-201 cifar10 test" and row["n"] == 12
        assert row["computable"] and row["archs"] == archs
        assert row["spearman"]["value"] == pytest.approx(sps.spearmanr(x, y).statistic, abs=1e-12)
        assert row["spearman"]["p_value"] == pytest.approx(sps.spearmanr(x, y).pvalue, rel=1e-9)
        assert row["kendall"]["value"] == pytest.approx(sps.kendalltau(x, y).statistic, abs=1e-12)
        assert row["pearson"]["value"] == pytest.approx(sps.pearsonr(x, y).statistic, abs=1e-12)
        assert row["spearman"]["n_boot_used"] == 20 and row["spearman"]["ci_low"] is not None
        top_x, top_y = set(np.argsort(-x)[:5]), set(np.argsort(-y)[:5])
        assert row["top_k"]["top-5"]["overlap"] == pytest.approx(len(top_x & top_y) / 5)
    assert rows["jigsaw"]["spearman"]["value"] < 0 < rows["rotation"]["spearman"]["value"]
    assert res["ground_truth"]["n_covered"] == 12 and res["ground_truth"]["converted_from_percent"]
    assert any("12 of the 12" in n and "percent" in n for n in res["notes"])
    # the matrix and the JSON file
    mat = res["spearman_matrix"]
    assert mat["tasks"][-1] == "NB-201 cifar10 test"
    i = mat["tasks"].index("rotation")
    assert mat["rho"][i][-1] == pytest.approx(rows["rotation"]["spearman"]["value"]) and mat["n"][i][-1] == 12
    data = json.loads((tmp_path / "correlations.json").read_text())
    assert data["ground_truth_correlations"] == res["ground_truth_correlations"] and data == res
    # figures: vs ground truth, and best of m judged on the ground truth (no reference given)
    for name, png in (("vs_ground_truth", "fig_vs_ground_truth.png"),
                      ("best_of_m_ground_truth", "fig_best_of_m_ground_truth.png")):
        assert res["files"]["plots"][name] == png
        with open(tmp_path / png, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    bom = res["best_of_m_ground_truth"]
    assert bom["target"] == "NB-201 cifar10 test" and set(bom["curves"]) == set(TASKS)
    assert bom["curves"]["rotation"]["oracle"] == pytest.approx(max(gt.values()) / 100)
    assert bom["curves"]["supervised"]["expected"][0] == pytest.approx(np.mean([gt[a] / 100 for a in archs]))
    assert res["best_of_m"]["target"] == "supervised"  # Fig. 5 target unchanged
    md = (tmp_path / "report.md").read_text()
    assert "## Objectives vs ground truth (NB-201 cifar10 test)" in md and "judged on NB-201 cifar10 test" in md
    assert "](fig_vs_ground_truth.png)" in md and "| NB-201 cifar10 test (%) |" in md
    assert all(f"| {a} |" in md for a in archs)  # the per-architecture table
    html_text = (tmp_path / "report.html").read_text()
    assert html_text.count("data:image/png;base64,") == len(res["files"]["plots"])
    assert "Objectives vs ground truth" in html_text


def test_ground_truth_subset_coverage(tmp_path):
    # ground truth for 7 of the 12 archs (+ one unknown, one arch not in the study); jigsaw only ran on 9 archs
    records = [r for r in synthetic() if not (r["task"] == "jigsaw" and r["arch"] >= "unnas500/00009")]
    archs = sorted({r["arch"] for r in records})
    gt = _true_acc(records, archs[2:9])
    gt.update({archs[0]: None, "unnas500/99999": 55.0})
    res = build_report(records, str(tmp_path), ground_truth=gt, n_boot=10, figures=False)
    means = _means(records)
    rows = {r["y"]: r for r in res["ground_truth_correlations"]}
    assert res["ground_truth"] == {"name": "ground truth", "n_given": 8, "n_study_archs": 12, "n_covered": 7,
                                   "n_outside_study": 1, "converted_from_percent": True}
    assert any("7 of the 12" in n for n in res["notes"])
    for task in TASKS:
        covered = [a for a in archs[2:9] if a in means[task]]
        assert rows[task]["n"] == len(covered) == 7 and rows[task]["archs"] == covered
        x = [gt[a] for a in covered]
        y = [means[task][a] for a in covered]
        assert rows[task]["spearman"]["value"] == pytest.approx(sps.spearmanr(x, y).statistic, abs=1e-12)
    # the other comparisons do not change because of the ground truth
    plain = build_report(records, str(tmp_path / "plain"), n_boot=10, figures=False)
    assert res["correlations"] == plain["correlations"]
    assert res["best_of_m"] == plain["best_of_m"]
    # common="all": the ground-truth rows and the matrix use the archs all tasks share and the ground truth covers
    gt[archs[10]] = 60.0  # covered, but jigsaw lacks it
    res = build_report(records, str(tmp_path / "all"), ground_truth=gt, n_boot=5, figures=False, common="all")
    assert {r["n"] for r in res["ground_truth_correlations"]} == {7}
    assert {n for row in res["spearman_matrix"]["n"] for n in row} == {7}
    assert any("common='all'" in n for n in res["notes"])


def test_ground_truth_too_few_archs(tmp_path):
    records = synthetic()
    gt = {"unnas500/00000": 91.09, "unnas500/00001": 90.5, "unnas500/00002": None}
    res = build_report(records, str(tmp_path), ground_truth=gt, ground_truth_name="NB-201", n_boot=10)
    assert [r["y"] for r in res["ground_truth_correlations"]] == list(TASKS)
    for r in res["ground_truth_correlations"]:
        assert not r["computable"] and r["n"] == 2 and r["spearman"]["value"] is None
        assert r["reason"] == "only 2 common architecture(s); at least 3 needed"
    assert any("2 of the 12" in n and "not computable" in n for n in res["notes"])
    assert not res["best_of_m_ground_truth"]["curves"] and set(res["best_of_m_ground_truth"]["skipped"]) == set(TASKS)
    assert "best_of_m_ground_truth" not in res["files"]["plots"]
    md = (tmp_path / "report.md").read_text()
    assert "Not computable: only 2 covered architecture(s); at least 3 needed." in md
    assert "not computable: only 2 common architecture(s)" in md
    json.loads((tmp_path / "correlations.json").read_text())


def test_architectures_csv(tmp_path):
    tasks = {t: TASKS[t] for t in ("supervised", "rotation")}
    records = synthetic(n_archs=8, seeds=(1, 2, 3), tasks=tasks)
    for r in records:  # the rotation runs report another size: the supervised one must be used
        if r["task"] == "rotation":
            r["params"] = 1
    # one extra arch with rotation results only (its params from them), one duplicated seed (averaged)
    records += [{"arch": "zz/extra", "task": "rotation", "seed": s, "best_acc": 0.9 + s / 1000, "params": 5}
                for s in (1, 2)]
    records.append(dict(records[0], best_acc=records[0]["best_acc"] + 0.01))
    archs = sorted({r["arch"] for r in records})
    gt = _true_acc([r for r in records if r["arch"] != "zz/extra"], archs[:5])
    gt[archs[5]] = gt[archs[0]]  # a tie in the ground truth: the smaller id first
    res = build_report(records, str(tmp_path), ground_truth=gt, n_boot=0, figures=False)
    head, rows = _read_csv(tmp_path / "architectures.csv")
    assert head == [
        "arch", "supervised s1", "supervised s2", "supervised s3", "supervised mean", "supervised rank",
        "rotation s1", "rotation s2", "rotation s3", "rotation mean", "rotation rank", "params", "macs",
        "ground truth"]
    assert len(rows) == 9 == res["architectures"]["n"]
    by = {r[0]: dict(zip(head, r)) for r in rows}
    # order: true accuracy descending (ties by id), unknown last by id
    known = sorted(gt, key=lambda a: (-gt[a], a))
    assert [r[0] for r in rows] == known + sorted(set(archs) - set(gt))
    # values
    first = records[0]
    seed_vals = [r["best_acc"] for r in records if (r["arch"], r["task"], r["seed"]) ==
                 (first["arch"], first["task"], first["seed"])]
    assert float(by[first["arch"]][f"{first['task']} s{first['seed']}"]) == pytest.approx(np.mean(seed_vals))
    for task in tasks:
        per_seed = {}
        for r in records:
            if r["task"] == task:
                per_seed.setdefault(r["arch"], {}).setdefault(r["seed"], []).append(r["best_acc"])
        mean = {a: np.mean([np.mean(v) for v in s.values()]) for a, s in per_seed.items()}
        order = sorted(mean, key=lambda a: -mean[a])
        for a in archs:
            if a not in mean:
                assert by[a][f"{task} mean"] == by[a][f"{task} rank"] == ""
                continue
            assert float(by[a][f"{task} mean"]) == pytest.approx(mean[a], abs=1e-9)
            assert int(by[a][f"{task} rank"]) == order.index(a) + 1
    assert {by[a]["params"] for a in archs if a != "zz/extra"} == {str(700_000 + i * 1000) for i in range(8)}
    assert by["zz/extra"]["params"] == "5" and by["zz/extra"]["supervised s1"] == ""
    assert {by[a]["macs"] for a in archs if a != "zz/extra"} == {str(110_000_000 + i * 7) for i in range(8)}
    assert by["zz/extra"]["macs"] == ""
    assert by["zz/extra"]["rotation s3"] == "" and float(by["zz/extra"]["rotation s2"]) == pytest.approx(0.902)
    for a in archs:
        assert (by[a]["ground truth"] == "") == (a not in gt)
        if a in gt:
            assert float(by[a]["ground truth"]) == pytest.approx(gt[a] / 100)
    # the JSON has the same table, the report the same rows
    assert res["architectures"]["columns"] == head
    assert [r[0] for r in res["architectures"]["rows"]] == [r[0] for r in rows]
    md = (tmp_path / "report.md").read_text()
    assert "## Architectures" in md and "| ground truth (%) |" in md
    assert md.index(f"| {known[0]} |") < md.index(f"| {known[1]} |") < md.index("| zz/extra |")


def test_without_ground_truth_only_the_architectures_table_is_new(full):
    records, out, res = full
    assert res["ground_truth"] is None and res["ground_truth_correlations"] == []
    assert res["best_of_m_ground_truth"] is None
    assert not [p for p in os.listdir(out) if "ground_truth" in p]
    md = (out / "report.md").read_text()
    assert "ground truth" not in md.lower() and "## Architectures" in md
    head, rows = _read_csv(out / "architectures.csv")
    assert "ground truth" not in head and head[-2:] == ["params", "macs"] and len(rows) == 12
    sup = _means(records)["supervised"]
    assert [r[0] for r in rows] == sorted(sup, key=lambda a: -sup[a])  # by supervised mean without ground truth
    assert res["architectures"]["sorted_by"] == "supervised mean"


def test_architectures_table_top_and_bottom_20_for_big_studies(tmp_path):
    tasks = {t: TASKS[t] for t in ("supervised", "rotation")}
    records = synthetic(n_archs=70, seeds=(1,), tasks=tasks)
    archs = sorted({r["arch"] for r in records})
    gt = _true_acc(records, archs[:66])
    res = build_report(records, str(tmp_path), ground_truth=gt, n_boot=0, figures=False)
    _, rows = _read_csv(tmp_path / "architectures.csv")
    assert len(rows) == 70
    md = (tmp_path / "report.md").read_text()
    order = [r[0] for r in rows]  # true accuracy descending, the 4 unknown last
    shown = [a for a in order if f"| {a} |" in md]
    assert shown == order[:20] + order[-20:]
    assert md.index(f"| {order[19]} |") < md.index("30 more architectures") < md.index(f"| {order[50]} |")
    assert "the top 20 and the bottom 20 of the 70 architectures" in md
    assert {r["n"] for r in res["ground_truth_correlations"]} == {66}


def test_ground_truth_with_reference(tmp_path):
    records = synthetic(n_archs=10)
    archs = sorted({r["arch"] for r in records})
    gt = _true_acc(records, archs)
    ref = {a: 0.4 + i / 100 for i, a in enumerate(archs)}
    res = build_report(records, str(tmp_path), reference=ref, reference_name="ImageNet", ground_truth=gt,
                       ground_truth_name="ImageNet", n_boot=5, figures=False)
    gt_name = res["ground_truth"]["name"]
    assert gt_name == "ImageNet (ground truth)" and res["reference"] == "ImageNet"
    assert res["spearman_matrix"]["tasks"][-2:] == ["ImageNet", gt_name]
    assert res["best_of_m"]["target"] == "ImageNet" and res["best_of_m_ground_truth"] is None
    assert {r["n"] for r in res["ground_truth_correlations"]} == {10}


def test_log_report_to_wandb_ground_truth(tmp_path):
    import wandb

    records = synthetic()
    archs = sorted({r["arch"] for r in records})
    res = build_report(records, str(tmp_path), ground_truth=_true_acc(records, archs), n_boot=5, figures=False)
    run = FakeRun()
    payload = log_report_to_wandb(res, run)
    kinds = [row[2] for row in payload["study/correlations"].data]
    assert kinds == ["vs_baseline"] * 3 + ["pair"] * 3 + ["complexity"] * 2 + ["vs_ground_truth"] * 4
    assert isinstance(payload["study/architectures"], wandb.Table)
    assert payload["study/architectures"].columns == res["architectures"]["columns"]
    assert len(payload["study/architectures"].data) == 12
    assert isinstance(payload["study/best_of_m_ground_truth"], wandb.Table)
    rot = next(r for r in res["ground_truth_correlations"] if r["y"] == "rotation")
    assert run.summary["study/spearman/rotation_vs_ground_truth"] == rot["spearman"]["value"]


# ---------------------------------------------------------------------------------------------------- figures


def _inside_figure(fig, text):
    fig.canvas.draw()
    box = text.get_window_extent(fig.canvas.get_renderer())
    return 0 <= box.x0 and box.x1 <= fig.bbox.width and 0 <= box.y0 and box.y1 <= fig.bbox.height


LONG_TITLE = ("NAS-Bench-201 CPU study over sixty table cells, partial: 308 of 480 jobs, "
              "supervised and three pretext objectives, two seeds each")


def test_vs_baseline_figure_title_fits_and_theil_sen_is_labelled():
    import matplotlib.pyplot as plt

    from unnas.study import plots

    table = S.mean_over_seeds([r for r in synthetic() if r["task"] in ("supervised", "rotation")])
    fig = plots.vs_baseline_figure(table, title=f"{LONG_TITLE}: objective vs supervised accuracy")
    try:
        assert _inside_figure(fig, fig._suptitle)
        assert fig._suptitle.get_text().replace("\n", " ") == f"{LONG_TITLE}: objective vs supervised accuracy"
        (ax,) = fig.axes
        entries = [t.get_text() for t in ax.get_legend().get_texts()]
        x = np.array([table["supervised"][a] for a in sorted(table["rotation"])]) * 100
        y = np.array([table["rotation"][a] for a in sorted(table["rotation"])]) * 100
        slope = sps.theilslopes(y, x)[0]
        assert f"Theil–Sen fit (slope {slope:.2f})" in entries
        line = next(h for h in ax.get_lines() if h.get_label().startswith("Theil–Sen"))
        xs, ys = line.get_data()
        assert (ys[1] - ys[0]) / (xs[1] - xs[0]) == pytest.approx(slope)
    finally:
        plt.close(fig)


def test_best_of_m_figure_integer_ticks_and_title_fits():
    import matplotlib.pyplot as plt

    from unnas.study import plots

    table = S.mean_over_seeds(synthetic(n_archs=5))  # m = 1, 2, 4: log2 m would get ticks 0.5, 1.5, ...
    curves = {t: S.best_of_m(table[t], table["supervised"]) for t in ("supervised", "rotation")}
    fig = plots.best_of_m_figure(curves, title=LONG_TITLE + " " + LONG_TITLE)
    try:
        (ax,) = fig.axes
        fig.canvas.draw()
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert labels == ["1", "2", "4"]
        assert list(ax.get_xticks()) == pytest.approx(np.log2([1, 2, 4]))
        assert _inside_figure(fig, ax.title)
    finally:
        plt.close(fig)


def test_best_of_m_band_stops_at_the_best_architecture():
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    from unnas.study import plots

    curve = {"ms": [1, 2, 4], "mean": [0.80, 0.88, 0.94], "std": [0.10, 0.08, 0.05], "expected": [0.80, 0.88, 0.94],
             "oracle": 0.95, "random": 0.80}
    fig = plots.best_of_m_figure({"rotation": curve})
    try:
        bands = [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
        top = max(p.vertices[:, 1].max() for band in bands for p in band.get_paths())
        assert len(bands) == 1 and top == pytest.approx(95.0)  # unclipped: 80 + 2 * 10 = 100
    finally:
        plt.close(fig)


def test_spearman_matrix_title_fits():
    import matplotlib.pyplot as plt

    from unnas.study import plots

    tasks, rho, n = S.spearman_matrix(S.mean_over_seeds(synthetic()))
    fig = plots.spearman_matrix_figure(tasks, rho, counts=n, title=LONG_TITLE)
    try:
        assert _inside_figure(fig, fig.axes[0].title)
    finally:
        plt.close(fig)


def test_integer_ticks():
    import matplotlib.pyplot as plt

    from unnas.study import plots

    fig, ax = plt.subplots()
    try:
        ax.plot([1, 2, 3], [1, 3, 2])
        plots.integer_ticks(ax.xaxis)
        fig.canvas.draw()
        assert all(float(v).is_integer() for v in ax.get_xticks())
    finally:
        plt.close(fig)


# ---------------------------------------------------------------------------------------------------- tables


def test_train_time_in_minutes(full):
    _, out, res = full
    # 12 archs x 2 seeds, 60 s per run
    assert res["summary"]["rotation"]["wall_time_min"] == pytest.approx(24.0)
    assert res["summary"]["rotation"]["wall_time_min_per_run"] == pytest.approx(1.0)
    md = (out / "report.md").read_text()
    head = next(line for line in md.splitlines() if line.startswith("| task |"))
    assert "train time, total (min)" in head and "per run (min)" in head and "(h)" not in head
    row = next(line for line in md.splitlines() if line.startswith("| Rotation | 12 |"))
    assert row.rstrip(" |").endswith("| 24.0 | 1.0")


def _corr_head(md, first="objective"):
    return next(line for line in md.splitlines() if line.startswith(f"| {first} | n |"))


def test_top_k_above_half_n_left_out_with_a_note(full):
    _, out, res = full
    md = (out / "report.md").read_text()
    head = _corr_head(md)
    assert "top-5" in head and "top-20%" in head and "top-10" not in head  # n = 12: 10 > 12/2
    assert "top-10 left out: k > n/2 (n = 12)." in md
    for r in res["correlations"]:
        assert r["top_k_left_out"] == {"top-10": 10} and set(r["top_k"]) == {"top-5", "top-20%"}


def test_small_n_warning(tmp_path):
    res = build_report(synthetic(n_archs=6), str(tmp_path), n_boot=20, figures=False)
    md = (tmp_path / "report.md").read_text()
    first_section = md.index("\n## ")
    assert "n = 6: intervals are not meaningful" in md[:first_section]  # a warning block at the top
    assert md.count("6 †") == len(res["correlations"]) + len(res["complexity_correlations"])
    assert "† n = 6: intervals are not meaningful" in md
    html_text = (tmp_path / "report.html").read_text()
    assert '<div class="warning">' in html_text and html_text.index('class="warning"') < html_text.index("<h2>")
    data = json.loads((tmp_path / "correlations.json").read_text())
    assert data["small_n"]["threshold"] == S.SMALL_N and data["small_n"]["any"]
    assert all(r["small_n"] for r in data["correlations"])
    assert data["small_n"]["n_values"] == [6]


def test_no_small_n_warning_for_enough_archs(full):
    _, out, res = full
    md = (out / "report.md").read_text()
    md = md[:md.index("## How computed")]  # which states the rule
    assert "not meaningful" not in md and "†" not in md
    assert not res["small_n"]["any"] and not any(r["small_n"] for r in res["correlations"])
    assert 'class="warning"' not in (out / "report.html").read_text()


def test_small_n_seed_noise_warning(tmp_path):
    # 12 archs, but only 4 of them with a second seed: the seed std rests on 4 degrees of freedom
    records = [r for r in synthetic() if r["seed"] == 1 or r["arch"] < "unnas500/00004"]
    res = build_report(records, str(tmp_path), n_boot=10, figures=False)
    assert res["summary"]["rotation"]["seed_std_df"] == 4 and res["summary"]["rotation"]["seed_std_small_n"]
    md = (tmp_path / "report.md").read_text()
    top = md[:md.index("\n## ")]
    line = next(ln for ln in top.splitlines() if "seed std rests on 4 degrees of freedom" in ln)
    assert "Rotation" in line
    assert next(ln for ln in md.splitlines() if ln.startswith("| Rotation |")).split("|")[8].strip().endswith("†")


def test_architectures_table_has_macs_and_all_rows_up_to_60(full):
    records, out, res = full
    head, rows = _read_csv(out / "architectures.csv")
    assert head[-2:] == ["params", "macs"]
    by = {r[0]: dict(zip(head, r)) for r in rows}
    for r in records:
        assert int(by[r["arch"]]["macs"]) == r["macs"]
    md = (out / "report.md").read_text()
    table_head = next(line for line in md.splitlines() if line.startswith("| arch |"))
    assert "| params | MACs (M) |" in table_head
    assert all(f"| {a} |" in md for a in by)
    assert "| 700,000 | 110 |" in md  # 110,000,000 multiply-adds
