"""Noise ceilings: seed-to-seed agreement, Spearman–Brown reliability and the correction for attenuation."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from unnas.study import stats as S
from unnas.study.report import build_report

FAST = settings(max_examples=40, deadline=None)
rel = st.floats(0.01, 1.0)


@FAST
@given(r=rel, k1=st.floats(1.0, 10.0), dk=st.floats(0.01, 10.0))
def test_spearman_brown_grows_with_the_seeds_averaged(r, k1, dk):
    assert S.spearman_brown(r, k1 + dk) >= S.spearman_brown(r, k1) - 1e-12
    assert S.spearman_brown(r, k1) <= 1.0 + 1e-12


@FAST
@given(r1=rel, dr=st.floats(0.0, 1.0), k=st.floats(1.0, 10.0))
def test_spearman_brown_grows_with_the_single_seed_reliability(r1, dr, k):
    r2 = min(1.0, r1 + dr)
    assert S.spearman_brown(r2, k) >= S.spearman_brown(r1, k) - 1e-12


def test_spearman_brown_values():
    assert S.spearman_brown(0.5, 1) == pytest.approx(0.5)  # one seed: its own reliability
    assert S.spearman_brown(0.5, 2) == pytest.approx(2 / 3)
    assert S.spearman_brown(1.0, 3) == pytest.approx(1.0)
    assert math.isnan(S.spearman_brown(-0.5, 3))  # 1 + 2 * (-0.5) = 0: undefined
    with pytest.raises(ValueError):
        S.spearman_brown(0.5, 0.5)


@FAST
@given(rho=st.floats(-1.0, 1.0), rx=rel, ry=rel)
def test_correction_is_at_least_the_observed_correlation(rho, rx, ry):
    c = S.corrected_correlation(rho, rx, ry)
    assert abs(c) >= abs(rho) - 1e-12 and math.copysign(1, c) == math.copysign(1, rho)
    assert S.corrected_correlation(rho, 1.0, 1.0) == pytest.approx(rho)


def test_no_correction_without_positive_reliability():
    assert S.corrected_correlation(0.5, 0.0, 1.0) is None and S.corrected_correlation(0.5, 0.8, -0.2) is None
    row = S.noise_corrected(0.4, "supervised", "colorization", {"supervised": 0.9, "colorization": -0.1})
    assert not row["computable"] and row["corrected"] is None
    assert row["reason"] == "the reliability of colorization is -0.10, not positive: its seeds do not agree"
    row = S.noise_corrected(0.4, "supervised", "jigsaw", {"supervised": 0.9, "jigsaw": None})
    assert "no seed reliability for jigsaw" in row["reason"]


@FAST
@given(st.lists(st.floats(-100, 100), min_size=3, max_size=20, unique=True), st.integers(2, 4))
def test_identical_seeds_are_fully_reliable(values, n_seeds):
    per = {f"a{i}": {s: v for s in range(n_seeds)} for i, v in enumerate(values)}
    r = S.seed_reliability(per, n_boot=0)
    assert r["computable"] and r["r"] == pytest.approx(1.0) and r["reliability"] == pytest.approx(1.0)
    assert r["k"] == n_seeds and len(r["pairs"]) == n_seeds * (n_seeds - 1) // 2


def test_two_seeds_give_scipy_rho_an_interval_and_spearman_brown():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=15), rng.normal(size=15)
    per = {f"x{i:02d}": {1: a[i], 2: b[i]} for i in range(15)}  # sorted ids keep the order of a and b
    r = S.seed_reliability(per, n_boot=200, seed=3)
    rho = sps.spearmanr(a, b).statistic
    assert r["r"] == pytest.approx(rho) and r["k"] == 2
    assert r["reliability"] == pytest.approx(2 * rho / (1 + rho))
    direct = S.correlations(a, b, n_boot=200, seed=3)["spearman"]
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((direct["ci_low"], direct["ci_high"]))
    assert r["reliability_ci_low"] == pytest.approx(S.spearman_brown(direct["ci_low"], 2))


def test_three_seeds_average_the_pairs_on_their_common_archs():
    rng = np.random.default_rng(1)
    v = rng.normal(size=(3, 8))
    per = {f"x{i}": {s: v[s, i] for s in range(3)} for i in range(8)}
    del per["x0"][2]  # seed 2 lacks x0: the pairs with seed 2 use 7 archs
    r = S.seed_reliability(per, n_boot=50)
    pairs = {tuple(p["seeds"]): p for p in r["pairs"]}
    assert pairs[(0, 1)]["n"] == 8 and pairs[(0, 2)]["n"] == 7
    expect = np.mean([sps.spearmanr(v[0], v[1]).statistic, sps.spearmanr(v[0, 1:], v[2, 1:]).statistic,
                      sps.spearmanr(v[1, 1:], v[2, 1:]).statistic])
    assert r["r"] == pytest.approx(expect) and r["ci_low"] is None  # no interval past 2 seeds
    assert r["k"] == pytest.approx((3 * 7 + 2) / 8)
    assert r["reliability"] == pytest.approx(S.spearman_brown(expect, r["k"]))


def test_one_seed_is_not_computable():
    r = S.seed_reliability({"a": {1: 0.5}, "b": {1: 0.6}, "c": {1: 0.7}})
    assert not r["computable"] and r["reason"] == "1 seed; at least 2 needed" and r["reliability"] is None


def test_report_noise_section_corrects_with_the_reliabilities(tmp_path):
    rng = np.random.default_rng(2)
    q = rng.normal(size=12)
    truth = {f"a{i:02d}": 80 + q[i] for i in range(12)}
    records = []
    for i in range(12):
        for s in (1, 2):
            records.append({"arch": f"a{i:02d}", "task": "supervised", "seed": s, "best_acc": 0.5 + 0.05 * q[i]
                            + 0.03 * rng.normal()})
            records.append({"arch": f"a{i:02d}", "task": "rotation", "seed": s, "best_acc": 0.7 + 0.05 * q[i]
                            + 0.05 * rng.normal()})
    records.append({"arch": "a00", "task": "jigsaw", "seed": 1, "best_acc": 0.4})  # 1 seed, 1 arch
    res = build_report(records, str(tmp_path), n_boot=50, figures=False, ground_truth=truth, ground_truth_name="T")
    tasks = res["noise"]["tasks"]
    rel = {t: tasks[t]["reliability"] for t in ("supervised", "rotation")}
    for t in rel:
        vals = S.seed_values(records)[t]
        rho = sps.spearmanr([vals[a][1] for a in sorted(vals)], [vals[a][2] for a in sorted(vals)]).statistic
        assert rel[t] == pytest.approx(2 * rho / (1 + rho))
    assert not tasks["jigsaw"]["computable"]
    rows = {(c["kind"], c["y"]): c for c in res["noise"]["corrected"]}
    vs = next(r for r in res["correlations"] if r["y"] == "rotation" and r["kind"] == "vs_baseline")
    c = rows[("vs_supervised", "rotation")]
    assert c["corrected"] == pytest.approx(vs["spearman"]["value"] / math.sqrt(rel["supervised"] * rel["rotation"]))
    g = rows[("vs_ground_truth", "supervised")]
    assert g["r_x"] == 1.0 and g["corrected"] == pytest.approx(g["rho"] / math.sqrt(rel["supervised"]))
    assert not rows[("vs_ground_truth", "jigsaw")]["computable"]
    data = json.loads((tmp_path / "correlations.json").read_text())
    assert data["noise"]["tasks"]["rotation"]["reliability"] == pytest.approx(rel["rotation"])
    md = (tmp_path / "report.md").read_text()
    assert "## Seed noise: reliability and corrected correlations" in md and "| Rotation vs Supervised | 12 |" in md
