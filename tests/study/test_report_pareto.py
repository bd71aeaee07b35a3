"""The report's accuracy-against-MACs section (Pareto fronts per objective and the true front) and the tables of
the newer sections sent to W&B."""

import json
import sys
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unnas.pareto import pareto_front
from unnas.study.report import build_report, log_report_to_wandb, section_tables

ARCHS = [f"a{i:02d}" for i in range(12)]
RNG = np.random.default_rng(3)
QUALITY = RNG.normal(size=len(ARCHS))
MACS = {a: int(20e6 + 5e6 * ((7 * i) % 12)) for i, a in enumerate(ARCHS)}  # distinct, not in arch order
TRUTH = {a: round(80.0 + 3 * QUALITY[i] + 1e-7 * MACS[a] + RNG.normal(scale=0.3), 2) for i, a in enumerate(ARCHS)}
TASKS = {"supervised": (0.90, 0.02, 1), "rotation": (0.80, 0.02, 1), "jigsaw": (0.70, 0.02, -1)}


def records(with_macs=True, epochs=False):
    out = []
    for i, a in enumerate(ARCHS):
        for task, (base, spread, sign) in TASKS.items():
            for s in (1, 2):
                acc = base + sign * spread * QUALITY[i] + 0.002 * RNG.normal()
                r = {"arch": a, "task": task, "seed": s, "best_acc": acc, "wall_time_s": 30.0, "threads": 1}
                if with_macs:
                    r["macs"] = MACS[a]
                if epochs:
                    r["acc_per_epoch"] = [acc - 0.05 + 0.001 * RNG.normal(), acc]
                out.append(r)
        out.append({"arch": a, "task": "synflow", "seed": 1, "best_acc": 10.0 ** (5 + QUALITY[i]),
                    "ranker": "synflow", "macs": MACS[a], "wall_time_s": 0.2, "threads": 1})
    return out


def means(recs, task):
    acc = {}
    for r in recs:
        if r["task"] == task:
            acc.setdefault(r["arch"], []).append(r["best_acc"])
    return {a: float(np.mean(v)) for a, v in acc.items()}


def expected_front(archs, cost, value):
    on = pareto_front([(cost[a], value[a]) for a in archs])
    return sorted((a for a, keep in zip(archs, on) if keep), key=lambda a: (cost[a], a))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("pareto")
    recs = records()
    res = build_report(recs, str(out), n_boot=20, ground_truth=TRUTH, ground_truth_name="T")
    return recs, out, res


def test_front_rows_equal_pareto_front_of_the_means_and_macs(report):
    recs, out, res = report
    par = res["pareto"]
    assert set(par["tasks"]) == set(TASKS) and par["left_out"] == {}  # the synflow ranker is not an objective
    truth = {a: v / 100 for a, v in TRUTH.items()}
    true_front = expected_front(ARCHS, MACS, truth)
    assert [p["arch"] for p in par["truth"]["front"]] == true_front and par["truth"]["n"] == 12
    assert [p["true_acc"] for p in par["truth"]["front"]] == pytest.approx([truth[a] for a in true_front])
    hits_seen = set()
    for t in TASKS:
        acc, e = means(recs, t), par["tasks"][t]
        front = expected_front(ARCHS, MACS, acc)
        assert [p["arch"] for p in e["front"]] == front and e["n_front"] == len(front)
        assert [p["macs"] for p in e["front"]] == [MACS[a] for a in front]
        assert [p["acc"] for p in e["front"]] == pytest.approx([acc[a] for a in front])
        assert [p["true_acc"] for p in e["front"]] == pytest.approx([truth[a] for a in front])
        assert [p["on_truth_front"] for p in e["front"]] == [a in true_front for a in front]
        hits = sum(a in true_front for a in front)
        assert e["n_front_on_truth_front"] == hits and e["n_truth_front"] == len(true_front)
        assert e["chance"] == pytest.approx(len(front) * len(true_front) / 12)
        hits_seen.add(hits)
    assert len(hits_seen) > 1  # jigsaw, anti-correlated with the truth, finds other cells than supervised
    assert json.loads((out / "correlations.json").read_text())["pareto"] == json.loads(json.dumps(par))
    md = (out / "report.md").read_text()
    assert "## Accuracy against multiply-adds" in md and "fig_pareto.png" in md and (out / "fig_pareto.png").exists()
    sup = par["tasks"]["supervised"]
    assert (f"| Supervised | 12 of 12 | {sup['n_front']} | {sup['n_front']} | {sup['n_front_on_truth_front']} "
            f"({sup['chance']:.2f}) | {sup['n_truth_front']} of 12 |") in md
    for p in sup["front"]:
        assert f"| Supervised | `{p['arch']}` | {p['macs'] / 1e6:.1f} | {100 * p['acc']:.2f} |" in md
    assert "Accuracy against multiply-adds" in (out / "report.html").read_text()


def test_hand_computed_front_with_a_tie(tmp_path):
    acc = {"a": 0.5, "b": 0.7, "c": 0.6, "d": 0.7, "e": 0.4}
    macs = {"a": 10, "b": 20, "c": 30, "d": 20, "e": 40}  # c is beaten by b; e by everything; b and d tie
    recs = [{"arch": a, "task": "rotation", "seed": 1, "best_acc": v, "macs": macs[a]} for a, v in acc.items()]
    res = build_report(recs, str(tmp_path), n_boot=0, figures=False)
    assert [p["arch"] for p in res["pareto"]["tasks"]["rotation"]["front"]] == ["a", "b", "d"]
    assert res["pareto"]["truth"] is None and res["pareto"]["tasks"]["rotation"]["front"][0]["on_truth_front"] is None


def test_objective_without_macs_is_left_out_in_one_line(tmp_path):
    recs = [r for r in records() if r["task"] != "jigsaw"]
    recs += [{"arch": f"b{i}", "task": "jigsaw", "seed": 1, "best_acc": 0.5 + 0.01 * i} for i in range(5)]
    res = build_report(recs, str(tmp_path), n_boot=0, ground_truth=TRUTH, figures=False)
    par = res["pareto"]
    assert "jigsaw" not in par["tasks"] and set(par["tasks"]) == {"supervised", "rotation"}
    assert "none of its 5 architecture(s) has a MACs count" in par["left_out"]["jigsaw"]
    lines = [ln for ln in (tmp_path / "report.md").read_text().splitlines() if "Jigsaw is left out" in ln]
    assert len(lines) == 1 and "`macs` ranker" in lines[0]


def test_no_macs_at_all_says_so_and_draws_nothing(tmp_path):
    res = build_report([r for r in records(with_macs=False) if "ranker" not in r], str(tmp_path), n_boot=0)
    assert res["pareto"]["tasks"] == {} and set(res["pareto"]["left_out"]) == set(TASKS)
    assert "pareto" not in res["files"]["plots"] and not (tmp_path / "fig_pareto.png").exists()
    md = (tmp_path / "report.md").read_text()
    section = md.split("## Accuracy against multiply-adds")[1].split("\n## ")[0]
    assert section.strip().startswith("Not available: no architecture has a MACs count")
    assert "is left out" not in section


def test_macs_ranker_scores_stand_in_for_missing_macs_fields(tmp_path):
    recs = [r for r in records(with_macs=False) if "ranker" not in r]
    recs += [{"arch": a, "task": "macs", "seed": 1, "best_acc": float(MACS[a]), "ranker": "macs"} for a in ARCHS]
    res = build_report(recs, str(tmp_path), n_boot=0, figures=False)
    cols = res["architectures"]["columns"]
    got = {r[0]: r[cols.index("macs")] for r in res["architectures"]["rows"]}
    assert got == {a: float(MACS[a]) for a in ARCHS}
    assert "macs" not in res["pareto"]["tasks"] and set(res["pareto"]["tasks"]) == set(TASKS)
    assert ([p["arch"] for p in res["pareto"]["tasks"]["rotation"]["front"]]
            == expected_front(ARCHS, MACS, means(recs, "rotation")))


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.integers(0, 5)), min_size=3, max_size=10))
def test_front_matches_pareto_front_on_any_points(tmp_path_factory, pts):
    out = tmp_path_factory.mktemp("p")
    recs = [{"arch": f"x{i}", "task": "rotation", "seed": 1, "best_acc": v / 10, "macs": c}
            for i, (c, v) in enumerate(pts)]
    archs = [f"x{i}" for i in range(len(pts))]
    res = build_report(recs, str(out), n_boot=0, figures=False)
    front = {p["arch"] for p in res["pareto"]["tasks"]["rotation"]["front"]}
    on = pareto_front([(c, v) for c, v in pts])
    assert front == {a for a, keep in zip(archs, on) if keep}
    # no front point is beaten; every other point is
    for a, (c, v) in zip(archs, pts):
        beaten = any(c2 <= c and v2 >= v and (c2, v2) != (c, v) for c2, v2 in pts)
        assert (a in front) == (not beaten)


# ---------------------------------------------------------------------------------------------------- W&B tables


class FakeTable:
    def __init__(self, columns, data):
        self.columns, self.data = list(columns), [list(r) for r in data]


class FakeRun:
    def __init__(self):
        self.logged, self.summary = [], {}

    def log(self, payload):
        self.logged.append(payload)


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    out = tmp_path_factory.mktemp("wandb")
    recs = records(epochs=True)
    theirs = {a: 10.0 ** (5 + QUALITY[i]) * (1 + 0.5 * (i % 3)) for i, a in enumerate(ARCHS)}
    res = build_report(recs, str(out), n_boot=10, ground_truth=TRUTH, ground_truth_name="T",
                       table_scores={"synflow": theirs}, table_scores_name="B", figures=False)
    return res


def test_wandb_tables_of_the_newer_sections(full, monkeypatch):
    fake = types.SimpleNamespace(Table=FakeTable, Image=lambda path, caption=None: ("image", path))
    monkeypatch.setitem(sys.modules, "wandb", fake)
    res, run = full, FakeRun()
    payload = log_report_to_wandb(res, run)
    assert run.logged == [payload]

    bud = payload["study/budget"]
    assert bud.columns == ["task", "target", "epoch", "n", "rho", "ci_low", "ci_high", "computable", "reason"]
    assert len(bud.data) == 3 * 2 * 2  # 3 trained tasks x 2 targets (supervised, T) x 2 epochs
    row = next(r for r in bud.data if r[:3] == ["jigsaw", "T", 1])
    assert row[4] == res["budget"]["tasks"]["jigsaw"]["curves"]["T"][1]["rho"]

    rel = payload["study/noise_reliability"]
    assert rel.columns[:4] == ["task", "n_seeds", "k", "r"] and [r[0] for r in rel.data] == res["tasks"]
    assert [r[6] for r in rel.data] == [res["noise"]["tasks"][t]["reliability"] for t in res["tasks"]]
    cor = payload["study/noise_corrected"]
    assert cor.columns == ["kind", "x", "y", "n", "rho", "r_x", "r_y", "corrected", "computable", "reason"]
    assert [r[7] for r in cor.data] == [c["corrected"] for c in res["noise"]["corrected"]]

    cost = payload["study/cost_frontier"]
    assert cost.columns == ["task", "epoch", "cost_s", "rho", "n", "on_front", "threads"]
    assert [(r[0], r[1], r[2], r[5]) for r in cost.data] == [
        (p["task"], p["epoch"], p["cost_s"], p["on_front"]) for p in res["cost"]["points"]]
    assert {r[6] for r in cost.data} == {"1"}

    ts = payload["study/table_scores"]
    assert ts.columns == ["task", "comparison", "n", "rho", "ci_low", "ci_high", "computable", "reason"]
    assert [r[1] for r in ts.data] == ["table_vs_truth", "ours_vs_truth", "difference", "ours_vs_table"]
    e = res["table_scores"]["tasks"]["synflow"]
    assert [r[3] for r in ts.data] == [e["table_vs_truth"]["rho"], e["ours_vs_truth"]["rho"],
                                       e["difference"]["value"], e["ours_vs_table"]["rho"]]

    front = payload["study/pareto_front"]
    assert front.columns == ["objective", "arch", "macs", "acc", "true_acc", "on_truth_front"]
    par = res["pareto"]
    expect = [["T", p["arch"], p["macs"], None, p["true_acc"], True] for p in par["truth"]["front"]]
    expect += [[t, p["arch"], p["macs"], p["acc"], p["true_acc"], p["on_truth_front"]]
               for t, en in par["tasks"].items() for p in en["front"]]
    assert front.data == expect and {r[0] for r in front.data} == {"T"} | set(TASKS)
    summ = payload["study/pareto_summary"]
    assert summ.columns[0] == "objective" and [r[0] for r in summ.data] == list(par["tasks"])
    col = summ.columns.index("n_front_on_truth_front")
    assert [r[col] for r in summ.data] == [par["tasks"][t]["n_front_on_truth_front"] for t in par["tasks"]]


def test_section_tables_leave_out_what_the_report_lacks(tmp_path):
    recs = [{"arch": a, "task": "rotation", "seed": 1, "best_acc": 0.5 + 0.01 * i} for i, a in enumerate(ARCHS)]
    res = build_report(recs, str(tmp_path), n_boot=0, figures=False)
    assert set(section_tables(res)) == {"noise_reliability"}  # no epochs, costs, table scores or MACs


def test_real_wandb_tables_accept_the_rows(full):
    import wandb

    payload = log_report_to_wandb(full, FakeRun())
    for key in ("budget", "noise_reliability", "noise_corrected", "cost_frontier", "table_scores", "pareto_front",
                "pareto_summary"):
        assert isinstance(payload[f"study/{key}"], wandb.Table) and payload[f"study/{key}"].data
