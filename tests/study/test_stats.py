"""Statistics of the sample-based study: scipy equality, invariances, top-k, the Fig. 5 experiment."""

import math
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from unnas.study import stats as S

X = [0.912, 0.925, 0.918, 0.931, 0.905, 0.927, 0.921, 0.909, 0.934, 0.915]
Y = [0.941, 0.947, 0.949, 0.952, 0.936, 0.944, 0.950, 0.938, 0.955, 0.940]

distinct_ints = st.lists(st.integers(-500, 500), min_size=3, max_size=25, unique=True)
FAST = settings(max_examples=25, deadline=None)


def rec(arch, task, seed, acc, **kw):
    return {"arch": arch, "task": task, "seed": seed, "best_acc": acc, **kw}


# ------------------------------------------------------------------------------------------ aggregation


def test_mean_over_seeds_math():
    records = [
        rec("a", "supervised", 1, 0.90), rec("a", "supervised", 2, 0.92), rec("a", "supervised", 3, 0.97),
        rec("b", "supervised", 1, 0.80),
        rec("a", "rotation", 1, 0.50), rec("a", "rotation", 1, 0.70),  # same seed twice: averaged first
        rec("a", "rotation", 2, 0.90),
        rec("b", "rotation", 1, float("nan")), rec("c", "rotation", 1, None),  # dropped
    ]
    table = S.mean_over_seeds(records)
    assert table["supervised"] == {"a": pytest.approx(0.93), "b": pytest.approx(0.80)}
    assert table["rotation"] == {"a": pytest.approx((0.6 + 0.9) / 2)}
    counts = S.seed_counts(records)
    assert counts == {"supervised": {"a": 3, "b": 1}, "rotation": {"a": 2}}
    std = S.seed_std(records)
    assert std["supervised"] == {"a": pytest.approx(np.std([0.90, 0.92, 0.97], ddof=1))}
    assert std["rotation"]["a"] == pytest.approx(np.std([0.6, 0.9], ddof=1))


def test_mean_over_seeds_rejects_malformed_record():
    with pytest.raises(ValueError, match="best_acc"):
        S.mean_over_seeds([{"arch": "a", "task": "t", "seed": 1}])


def test_common_archs_and_task_order():
    table = {"supervised": {"a": 1, "b": 2, "c": 3}, "rotation": {"c": 1, "a": 2}, "jigsaw": {"a": 0, "d": 1}}
    assert S.common_archs(table, ["supervised", "rotation"]) == ["a", "c"]
    assert S.common_archs(table, ["supervised", "rotation", "jigsaw"]) == ["a"]
    assert S.common_archs(table, ["supervised", "missing"]) == []
    # the default task order is the objective registry's: registered objectives by their order, then the rest
    table = {t: {"a": 1.0, "b": 2.0, "c": 3.0} for t in ["zeta", "jigsaw", "alpha", "supervised", "rotation",
                                                           "contrastive", "random_labels"]}
    order = ["supervised", "rotation", "jigsaw", "random_labels", "contrastive", "alpha", "zeta"]
    assert S.spearman_matrix(table)[0] == order
    assert [r["y"] for r in S.pairwise_table(table, n_boot=0) if r["kind"] == "vs_baseline"] == order[1:]


# ------------------------------------------------------------------------------------------ correlations


def test_correlations_equal_scipy_exactly():
    r = S.correlations(X, Y, n_boot=200, seed=0)
    assert r["computable"] and r["n"] == len(X)
    for name, fn in (("spearman", sps.spearmanr), ("kendall", sps.kendalltau), ("pearson", sps.pearsonr)):
        ref = fn(X, Y)
        assert r[name]["value"] == float(ref.statistic)
        assert r[name]["p_value"] == float(ref.pvalue)
        assert r[name]["n_boot_used"] == 200
        assert r[name]["ci_low"] <= r[name]["value"] <= r[name]["ci_high"]


def test_bootstrap_matches_scipy_per_resample():
    # the vectorised Spearman/Pearson of the bootstrap are scipy's definitions, resample by resample
    x, y = np.array(X), np.array(Y)
    boot = S.bootstrap(x, y, 30, seed=5)
    idx = np.random.default_rng(5).integers(0, len(x), size=(30, len(x)))
    for b in range(30):
        xb, yb = x[idx[b]], y[idx[b]]
        assert boot["spearman"][b] == pytest.approx(sps.spearmanr(xb, yb).statistic, abs=1e-12)
        assert boot["pearson"][b] == pytest.approx(sps.pearsonr(xb, yb).statistic, abs=1e-12)
        assert boot["kendall"][b] == sps.kendalltau(xb, yb).statistic


def test_bootstrap_deterministic_and_seeded():
    a = S.correlations(X, Y, n_boot=100, seed=3)
    b = S.correlations(X, Y, n_boot=100, seed=3)
    c = S.correlations(X, Y, n_boot=100, seed=4)
    assert a == b
    assert a["spearman"]["ci_low"] != c["spearman"]["ci_low"] or a["spearman"]["ci_high"] != c["spearman"]["ci_high"]


def test_bootstrap_skips_constant_resamples():
    x = [0.0, 0.0, 0.0, 0.0, 1.0]  # many resamples miss the single 1.0: x constant there
    y = [0.1, 0.2, 0.3, 0.4, 0.5]
    r = S.correlations(x, y, n_boot=300, seed=0)
    used = r["spearman"]["n_boot_used"]
    assert 0 < used < 300
    assert r["kendall"]["n_boot_used"] == r["pearson"]["n_boot_used"] == used
    assert all(np.isfinite([r[m]["ci_low"] for m in S.METHODS]))


def test_no_bootstrap():
    r = S.correlations(X, Y, n_boot=0)
    assert r["spearman"]["ci_low"] is None and r["spearman"]["n_boot_used"] == 0
    assert r["spearman"]["value"] == sps.spearmanr(X, Y).statistic


@pytest.mark.parametrize("x,y,why", [([0.1, 0.2], [0.3, 0.4], "at least 3"), ([], [], "at least 3"),
                                     ([0.5, 0.5, 0.5], [0.1, 0.2, 0.3], "equal"),
                                     ([0.1, 0.2, 0.3], [0.9, 0.9, 0.9], "equal")])
def test_correlations_not_computable(x, y, why):
    r = S.correlations(x, y, n_boot=10)
    assert not r["computable"] and why in r["reason"]
    assert all(r[m]["value"] is None for m in S.METHODS)


def test_correlations_rejects_bad_input():
    with pytest.raises(ValueError):
        S.correlations([0.1, 0.2, 0.3], [0.1, 0.2])
    with pytest.raises(ValueError):
        S.correlations([0.1, float("nan"), 0.3], [0.1, 0.2, 0.3])


@FAST
@given(distinct_ints, st.data())
def test_spearman_invariant_under_monotone_transforms(xs, data):
    x = np.array(xs, dtype=float)
    y = np.array(data.draw(st.lists(st.integers(-500, 500), min_size=len(xs), max_size=len(xs))), dtype=float)
    if np.ptp(y) == 0:
        return
    base = S.correlations(x, y, n_boot=0)["spearman"]["value"]
    for f in (lambda v: 3 * v + 7, lambda v: v ** 3, lambda v: np.exp(v / 1000.0)):
        assert S.correlations(f(x), y, n_boot=0)["spearman"]["value"] == pytest.approx(base, abs=1e-12)
        assert S.correlations(x, f(y), n_boot=0)["spearman"]["value"] == pytest.approx(base, abs=1e-12)
    # a decreasing transform flips the sign
    assert S.correlations(-x, y, n_boot=0)["spearman"]["value"] == pytest.approx(-base, abs=1e-12)


@FAST
@given(distinct_ints)
def test_self_correlation_is_one(xs):
    r = S.correlations(xs, xs, n_boot=20, seed=1)
    for m in S.METHODS:
        assert r[m]["value"] == pytest.approx(1.0)
        assert r[m]["ci_low"] == pytest.approx(1.0) and r[m]["ci_high"] == pytest.approx(1.0)


@FAST
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=3, max_size=25))
def test_kendall_and_spearman_symmetric(pairs):
    x = np.array([p[0] for p in pairs], float)
    y = np.array([p[1] for p in pairs], float)
    a = S.correlations(x, y, n_boot=0)
    b = S.correlations(y, x, n_boot=0)
    assert a["computable"] == b["computable"]
    if a["computable"]:
        for m in S.METHODS:
            assert a[m]["value"] == pytest.approx(b[m]["value"], abs=1e-12)
            assert -1.0 <= a[m]["value"] <= 1.0


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 10_000))
def test_interval_contains_estimate_for_correlated_data(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=40)
    y = x + 0.5 * rng.normal(size=40)
    r = S.correlations(x, y, n_boot=100, seed=seed)
    for m in S.METHODS:
        assert r[m]["ci_low"] <= r[m]["value"] <= r[m]["ci_high"]


def test_small_n_flag():
    for n, small in ((6, True), (9, True), (10, False), (25, False)):
        x = np.arange(float(n))
        r = S.correlations(x, x ** 2, n_boot=10)
        assert r["computable"] and r["small_n"] is small
    assert S.correlations([1.0, 2.0], [2.0, 1.0], n_boot=0)["small_n"] is True


# ------------------------------------------------------------------------------------------ top-k


def test_resolve_k():
    assert S.resolve_k(5, 100) == 5
    assert S.resolve_k(5, 3) == 3
    assert S.resolve_k(0.2, 12) == 2  # 2.4 -> 2
    assert S.resolve_k(0.2, 13) == 3  # 2.6 -> 3
    assert S.resolve_k(0.2, 2) == 1  # at least 1
    assert S.resolve_k(0.1, 30) == 3
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            S.resolve_k(bad, 10)
    assert S.k_label(5) == "top-5" and S.k_label(0.2) == "top-20%"


def test_top_k_overlap_fixed_and_ties():
    x = [5, 4, 3, 2, 1, 0]
    y = [0, 1, 2, 3, 4, 5]
    assert S.top_k_overlap(x, y, 3) == 0.0
    assert S.top_k_overlap(x, y, 4) == pytest.approx(2 / 4)
    assert S.top_k_overlap(x, [5, 4, 0, 3, 1, 2], 2) == 1.0
    # ties: the earlier index wins, deterministically
    assert list(S.top_k_indices([1, 3, 3, 3, 0], 2)) == [1, 2]
    assert S.top_k_overlap([1, 3, 3, 3, 0], [0, 0, 9, 9, 0], 2) == 0.5


@FAST
@given(st.lists(st.integers(-50, 50), min_size=1, max_size=40), st.integers(1, 50))
def test_top_k_overlap_with_itself_is_one(xs, k):
    assert S.top_k_overlap(xs, xs, k) == 1.0


@FAST
@given(st.lists(st.integers(0, 9), min_size=2, max_size=30), st.data())
def test_top_k_overlap_bounds(xs, data):
    ys = data.draw(st.lists(st.integers(0, 9), min_size=len(xs), max_size=len(xs)))
    for k in (1, 3, 0.2):
        v = S.top_k_overlap(xs, ys, k)
        kk = S.resolve_k(k, len(xs))
        assert 0.0 <= v <= 1.0 and (v * kk) == pytest.approx(round(v * kk))


def test_top_k_overlaps_keeps_only_k_up_to_half_n():
    x = np.arange(8.0)
    out = S.top_k_overlaps(x, x[::-1], ks=(5, 10, 0.2, 4))
    assert set(out) == {"top-20%", "top-4"}  # k=5 > 8/2: two top-5 sets of 8 always share 2 or more
    assert out["top-20%"]["k"] == 2 and out["top-4"]["chance"] == 4 / 8
    assert out["top-4"]["overlap"] == 0.0  # at k = n/2 the overlap still reaches 0 for reversed rankings


@FAST
@given(st.integers(1, 60), st.sampled_from([1, 3, 5, 10, 20, 0.1, 0.2, 0.5, 0.6]))
def test_split_k_rule(n, k):
    kept, left_out = S.split_k([k], n)
    kk = S.resolve_k(k, n)
    label = S.k_label(k)
    assert (label in kept) == (2 * kk <= n) and (label in left_out) == (2 * kk > n)
    assert {**kept, **left_out} == {label: kk}


def test_split_k_forced_overlap_above_half_n():
    n = 12
    x = np.arange(float(n))
    for k in range(1, n + 1):
        floor = S.top_k_overlap(x, x[::-1], k)  # the reversed ranking: the lowest overlap there is
        assert (floor == 0.0) == (k in S.split_k([k], n)[0].values())


# ------------------------------------------------------------------------------------------ best of m


def _paper_fig5(d_task, d_ref, n):
    """figs/fig5.py's inner loop, verbatim in substance (global numpy RNG, seed 2)."""
    np.random.seed(2)
    m, mus, stds = 1, [], []
    while m < n:
        s = []
        for _ in range(int(np.ceil(n / m))):
            archs = np.random.choice(sorted(d_task.keys()), m, replace=False)
            best_arch, best_perf = None, 0
            for arch in archs:
                if d_task[arch] > best_perf:
                    best_perf, best_arch = d_task[arch], arch
            s.append(d_ref[best_arch])
        mus.append(np.mean(s))
        stds.append(np.std(s))
        m *= 2
    return mus, stds


def test_best_of_m_reproduces_paper_procedure():
    rng = np.random.default_rng(11)
    n = 37
    names = [f"unnas500/{i:05d}" for i in rng.permutation(3000)[:n]]
    proxy = {a: float(v) for a, v in zip(names, rng.integers(1, 60, n) / 100 + 0.3)}  # with ties
    target = {a: float(v) for a, v in zip(names, rng.uniform(0.3, 0.5, n))}
    mus, stds = _paper_fig5(proxy, target, n)
    state = np.random.get_state()
    r = S.best_of_m(proxy, target)
    assert np.random.get_state()[1].tolist() == state[1].tolist()  # the global RNG is left alone
    assert r["ms"] == [1, 2, 4, 8, 16, 32] and r["n_draws"] == [37, 19, 10, 5, 3, 2]
    assert r["mean"] == [float(v) for v in mus]
    assert r["std"] == [float(v) for v in stds]
    assert r["oracle"] == max(target.values()) and r["random"] == pytest.approx(np.mean(list(target.values())))


def test_best_of_m_arrays_and_mappings_agree():
    rng = np.random.default_rng(0)
    p, t = rng.uniform(size=20), rng.uniform(size=20)
    names = [f"a{i:02d}" for i in range(20)]  # sorted order == index order
    a = S.best_of_m(p, t)
    b = S.best_of_m(dict(zip(names, p)), dict(zip(names, t)))
    assert a == b


def test_best_of_m_full_set_picks_proxy_best():
    rng = np.random.default_rng(1)
    p, t = rng.permutation(15).astype(float), rng.uniform(size=15)
    r = S.best_of_m(p, t, ms=[15])
    assert r["mean"] == [t[np.argmax(p)]] and r["std"] == [0.0] and r["n_draws"] == [1]
    with pytest.raises(ValueError):
        S.best_of_m(p, t, ms=[16])
    assert S.default_ms(1) == [] and S.default_ms(2) == [1] and S.default_ms(9) == [1, 2, 4, 8]


def _brute_expected(p, t, m):
    vals = []
    for sub in combinations(range(len(p)), m):
        best = max(p[i] for i in sub)
        vals.append(np.mean([t[i] for i in sub if p[i] == best]))  # tied picks are uniform among the drawn
    return float(np.mean(vals))


@FAST
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 100)), min_size=1, max_size=8))
def test_expected_best_of_m_equals_brute_force(pairs):
    p = np.array([a for a, _ in pairs], float)
    t = np.array([b for _, b in pairs], float)
    for m in range(1, len(p) + 1):
        assert S.expected_best_of_m(p, t, m) == pytest.approx(_brute_expected(p, t, m), abs=1e-9)


@FAST
@given(st.lists(st.integers(0, 30), min_size=2, max_size=60))
def test_expected_best_of_m_is_monotone_with_a_perfect_proxy(xs):
    x = np.array(xs, float)
    e = [S.expected_best_of_m(x, x, m) for m in range(1, len(x) + 1)]
    assert e[0] == pytest.approx(x.mean())
    assert e[-1] == pytest.approx(x.max())
    assert all(b >= a - 1e-9 for a, b in zip(e, e[1:]))


@FAST
@given(st.lists(st.integers(0, 30), min_size=2, max_size=60))
def test_best_of_m_with_perfect_proxy_stays_in_range(xs):
    x = np.array(xs, float)
    r = S.best_of_m(x, x)
    assert all(x.min() <= mu <= x.max() for mu in r["mean"])
    assert all(sd >= 0 for sd in r["std"])


def test_best_of_m_monte_carlo_tracks_expectation():
    rng = np.random.default_rng(3)
    x = rng.normal(size=400)
    r = S.best_of_m(x, x)
    checked = 0
    for mu, sd, ex, k in zip(r["mean"], r["std"], r["expected"], r["n_draws"]):
        if k >= 20:  # fewer draws: the sample std is too unreliable for a bound
            assert abs(mu - ex) <= 5 * sd / math.sqrt(k)
            checked += 1
    assert checked == 5
    assert all(b >= a - 1e-12 for a, b in zip(r["expected"], r["expected"][1:]))


# ------------------------------------------------------------------------------------------ tables


def _table(n=12, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=n)
    archs = [f"unnas500/{i:05d}" for i in range(n)]
    return {
        "supervised": dict(zip(archs, 0.93 + 0.01 * q)),
        "rotation": dict(zip(archs, 0.94 + 0.01 * q + 0.003 * rng.normal(size=n))),
        "colorization": dict(zip(archs, 0.30 + 0.001 * rng.normal(size=n))),
        "jigsaw": dict(zip(archs[:8], 0.75 - 0.02 * q[:8])),
    }


def test_pairwise_table_rows():
    table = _table()
    rows = S.pairwise_table(table, n_boot=20)
    assert [(r["kind"], r["x"], r["y"]) for r in rows] == [
        ("vs_baseline", "supervised", "rotation"), ("vs_baseline", "supervised", "colorization"),
        ("vs_baseline", "supervised", "jigsaw"), ("pair", "rotation", "colorization"),
        ("pair", "rotation", "jigsaw"), ("pair", "colorization", "jigsaw")]
    r = rows[0]
    x = [table["supervised"][a] for a in r["archs"]]
    y = [table["rotation"][a] for a in r["archs"]]
    assert r["n"] == 12 and r["spearman"]["value"] == sps.spearmanr(x, y).statistic
    assert rows[2]["n"] == 8 and rows[2]["spearman"]["value"] == pytest.approx(-1.0)
    assert set(rows[0]["top_k"]) == {"top-5", "top-20%"}  # n = 12: k = 10 > n/2
    assert rows[0]["top_k_left_out"] == {"top-10": 10}
    assert rows[2]["n"] == 8 and set(rows[2]["top_k"]) == {"top-20%"} and rows[2]["top_k_left_out"] == {
        "top-5": 5, "top-10": 8}
    # common="all": every row over the 8 archs all tasks share
    assert {r["n"] for r in S.pairwise_table(table, n_boot=0, common="all")} == {8}


def test_pairwise_table_without_supervised_and_tiny():
    table = _table()
    del table["supervised"]
    table["tiny"] = {"unnas500/00000": 0.1, "unnas500/00001": 0.2}
    rows = S.pairwise_table(table, n_boot=10)
    assert all(r["kind"] == "pair" for r in rows) and len(rows) == 6
    tiny = [r for r in rows if "tiny" in (r["x"], r["y"])]
    assert all(not r["computable"] and "at least 3" in r["reason"] and r["top_k"] == {} for r in tiny)
    row = S.compare(table, "rotation", "nothing", n_boot=10)
    assert not row["computable"] and "no results for nothing" in row["reason"]


def test_spearman_matrix():
    table = _table()
    table["tiny"] = {"unnas500/00000": 0.1}
    tasks, rho, n = S.spearman_matrix(table)
    assert tasks[:4] == ["supervised", "rotation", "colorization", "jigsaw"]
    assert np.allclose(rho, rho.T, equal_nan=True)
    i = tasks.index("tiny")
    assert np.isnan(rho[i]).all() and n[i, i] == 1
    assert np.allclose(np.diag(rho)[:4], 1.0)
    assert rho[0, 1] == sps.spearmanr([table["supervised"][a] for a in sorted(table["rotation"])],
                                      [table["rotation"][a] for a in sorted(table["rotation"])]).statistic
    assert n[0, 3] == 8


def test_correlations_of_chosen_methods_only():
    full = S.correlations(X, Y, n_boot=100, seed=4)
    only = S.correlations(X, Y, n_boot=100, seed=4, methods=("spearman",))
    assert only["spearman"] == full["spearman"] and "kendall" not in only and "pearson" not in only
    assert "kendall" not in S.correlations(X[:2], Y[:2], methods=("spearman",))
    with pytest.raises(ValueError, match="unknown methods"):
        S.correlations(X, Y, methods=("spearmen",))
