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
