"""Statistics of the sample-based study: how well one objective's ranking of architectures predicts another's.

Follows the paper's analysis code (``figs/fig234.py``, ``figs/fig5.py``; see unnas.md §3.4): per task, the
accuracy of an architecture is the mean over seeds of its best-epoch held-out accuracy; only architectures
present for all compared tasks are used; the headline number is ``scipy.stats.spearmanr(x, y)`` with x the
supervised accuracy. Added: Kendall's tau and Pearson's r, bootstrap confidence intervals and top-k overlaps
(:mod:`unnas.study.correlation`, whose names this module re-exports), the exact expectation of the Fig. 5 "best of
m" experiment, budget curves, seed noise and costs.

Pure numpy/scipy; tasks are ordered as :func:`pretext_tasks.registry.order_objectives` orders them (its first
call imports the registered objectives). Accuracies are used in whatever unit the records carry (the study
records use [0, 1]).
"""

from __future__ import annotations

import math
from collections import defaultdict
from itertools import combinations
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from scipy import stats as sps
from scipy.special import gammaln

from pretext_tasks.registry import order_objectives
from unnas.study.correlation import (  # noqa: F401 (re-exported: the study's statistics in one place)
    DEFAULT_TOP_K,
    METHODS,
    MIN_N,
    SMALL_N,
    bootstrap,
    correlations,
    k_label,
    resolve_k,
    rowwise_pearson,
    split_k,
    statistic,
    top_k_indices,
    top_k_overlap,
    top_k_overlaps,
)

SUPERVISED = "supervised"  # the baseline objective (x of the paper's Fig. 2)

Table = Dict[str, Dict[str, float]]


RANK_METRIC = "best_acc"  # the field a record without ``rank_metric`` ranks by


def rank_field(record: Mapping[str, Any]) -> str:
    """The record field the study ranks this record's objective by: its ``rank_metric``, else ``best_acc``."""
    return str(record.get("rank_metric") or RANK_METRIC)


#: the record fields that are accuracies (in [0, 1] or percent); any other rank field is a score
ACCURACY_FIELDS = ("best_acc", "train_acc")
#: RLNAS's angle between a run's initial and trained weights (radians), recorded with every trained job
ANGLE_FIELD = "weight_angle"
#: how the report names each field a record can rank by
METRIC_LABELS = {"best_acc": "held-out accuracy", "train_acc": "training accuracy",
                 ANGLE_FIELD: "weight angle (RLNAS)"}


def is_score_record(record: Mapping[str, Any]) -> bool:
    """Whether the record's rank value is a score rather than an accuracy: a training-free ranker's score, or a
    trained run ranked by a field that is no accuracy (random labels: ``weight_angle``, radians)."""
    return is_ranker_record(record) or rank_field(record) not in ACCURACY_FIELDS


def score_tasks(records: Iterable[Mapping[str, Any]]) -> List[str]:
    """The tasks whose rank values are scores (:func:`is_score_record`): shown as they are, never as percentages."""
    return sorted({str(r["task"]) for r in records if is_score_record(r)})


def is_ranker_record(record: Mapping[str, Any]) -> bool:
    """Whether the record is a training-free ranker's score (it names its ``ranker``), not a trained run."""
    return record.get("ranker") is not None


def ranker_tasks(records: Iterable[Mapping[str, Any]]) -> List[str]:
    """The tasks whose records are training-free ranker scores (any real number, never a percentage)."""
    return sorted({str(r["task"]) for r in records if is_ranker_record(r)})


def _grouped(records: Iterable[Mapping[str, Any]],
             metric: Optional[str]) -> Dict[str, Dict[str, Dict[Any, List[float]]]]:
    """task -> arch -> seed -> finite metric values (duplicates of a seed kept as a list); ``metric=None`` takes
    each record's :func:`rank_field`."""
    out: Dict[str, Dict[str, Dict[Any, List[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for i, r in enumerate(records):
        field = rank_field(r) if metric is None else metric
        try:
            task, arch, seed, value = r["task"], r["arch"], r["seed"], r[field]
        except KeyError as e:
            raise ValueError(f"record {i} lacks the field {e.args[0]!r}: {dict(r)!r}") from None
        if value is None or not math.isfinite(float(value)):
            continue
        out[str(task)][str(arch)][seed].append(float(value))
    return out


def mean_over_seeds(records: Iterable[Mapping[str, Any]], metric: Optional[str] = None) -> Table:
    """``table[task][arch]`` = mean over seeds of ``metric`` (the paper averages the seeds of each arch); the
    default ``None`` takes each record's rank value (its ``rank_metric`` field, else ``best_acc``).

    Records whose metric is missing-valued (None / NaN / inf) are skipped. Several records for the same
    (task, arch, seed) are first averaged, so a repeated run does not weigh more than its seed.
    """
    g = _grouped(records, metric)
    return {
        task: {arch: float(np.mean([np.mean(v) for v in seeds.values()])) for arch, seeds in archs.items()}
        for task, archs in g.items()
    }


def seed_values(records: Iterable[Mapping[str, Any]],
                metric: Optional[str] = None) -> Dict[str, Dict[str, Dict[Any, float]]]:
    """``values[task][arch][seed]`` = ``metric`` of that run (several records of one seed averaged; missing
    values skipped; ``None`` = the rank value): what :func:`mean_over_seeds` averages."""
    g = _grouped(records, metric)
    return {task: {arch: {s: float(np.mean(v)) for s, v in seeds.items()} for arch, seeds in archs.items()}
            for task, archs in g.items()}


def seed_counts(records: Iterable[Mapping[str, Any]], metric: Optional[str] = None) -> Dict[str, Dict[str, int]]:
    """``counts[task][arch]`` = number of distinct seeds with a finite ``metric`` (what each mean averages)."""
    g = _grouped(records, metric)
    return {task: {arch: len(seeds) for arch, seeds in archs.items()} for task, archs in g.items()}


def seed_std(records: Iterable[Mapping[str, Any]], metric: Optional[str] = None) -> Dict[str, Dict[str, float]]:
    """``std[task][arch]`` = sample std (ddof=1) across seeds, for archs with at least 2 seeds: seed noise."""
    g = _grouped(records, metric)
    out: Dict[str, Dict[str, float]] = {}
    for task, archs in g.items():
        per = {a: [np.mean(v) for v in s.values()] for a, s in archs.items()}
        out[task] = {a: float(np.std(v, ddof=1)) for a, v in per.items() if len(v) >= 2}
    return out


def common_archs(table: Mapping[str, Mapping[str, float]], tasks: Sequence[str]) -> List[str]:
    """Sorted archs present in ``table[t]`` for every t in ``tasks`` (a missing task gives none)."""
    if not tasks:
        return []
    sets = [set(table.get(t, {})) for t in tasks]
    return sorted(set.intersection(*sets))


def aligned(table: Mapping[str, Mapping[str, float]], x_task: str, y_task: str,
            archs: Optional[Sequence[str]] = None) -> Tuple[List[str], np.ndarray, np.ndarray]:
    """``(archs, x, y)``: the two tasks' accuracies over their common archs (or ``archs``), in sorted-arch order."""
    if archs is None:
        archs = common_archs(table, [x_task, y_task])
    x = np.array([table[x_task][a] for a in archs], dtype=float)
    y = np.array([table[y_task][a] for a in archs], dtype=float)
    return list(archs), x, y



def _as_arrays(proxy: Union[Mapping[str, float], Sequence[float]],
               target: Union[Mapping[str, float], Sequence[float]]) -> Tuple[np.ndarray, np.ndarray]:
    if isinstance(proxy, Mapping) != isinstance(target, Mapping):
        raise ValueError("proxy and target must both be mappings (arch -> acc) or both sequences")
    if isinstance(proxy, Mapping):
        archs = sorted(set(proxy) & set(target))  # the paper draws from sorted(arch ids)
        p = np.array([proxy[a] for a in archs], dtype=float)
        t = np.array([target[a] for a in archs], dtype=float)
    else:
        p, t = np.asarray(proxy, dtype=float), np.asarray(target, dtype=float)
        if p.shape != t.shape or p.ndim != 1:
            raise ValueError(f"proxy and target must be 1-d of equal length, got {p.shape} and {t.shape}")
    return p, t


def default_ms(n: int) -> List[int]:
    """The paper's experiment sizes: 1, 2, 4, ... while m < n."""
    ms, m = [], 1
    while m < n:
        ms.append(m)
        m *= 2
    return ms


def best_of_m(proxy: Union[Mapping[str, float], Sequence[float]],
              target: Union[Mapping[str, float], Sequence[float]],
              ms: Optional[Sequence[int]] = None, seed: int = 2) -> Dict[str, Any]:
    """The paper's Fig. 5 "random experiment": how good is the arch a proxy picks out of m random ones?

    Procedure (``figs/fig5.py``): n = number of archs (with mappings: the archs in both, in sorted-id
    order). A ``numpy.random.RandomState(seed)`` is created once per call (the paper calls
    ``np.random.seed(2)`` once per proxy, so every proxy sees the same subsets). For each m in ``ms``
    (default 1, 2, 4, ... while m < n), in that order, ceil(n / m) times: draw m distinct archs with
    ``choice(n, m, replace=False)``, take the one with the highest proxy accuracy (ties: the first drawn,
    as the paper's strict ``>``), and record its target accuracy. ``mean`` and ``std`` (population,
    ddof=0, as ``np.std``) summarise the recorded values; the paper plots mean +- 2 std against log2 m.
    ``expected`` is the exact expectation over all m-subsets (:func:`expected_best_of_m`), free of
    sampling noise.

    Returns ``{"n", "seed", "ms", "n_draws", "mean", "std", "expected", "oracle", "random"}`` with
    ``oracle`` = best target accuracy, ``random`` = mean target accuracy (the m = 1 expectation).
    """
    p, t = _as_arrays(proxy, target)
    n = len(p)
    if n == 0:
        raise ValueError("best_of_m needs at least one architecture")
    ms = default_ms(n) if ms is None else [int(m) for m in ms]
    for m in ms:
        if not 1 <= m <= n:
            raise ValueError(f"experiment size m={m} outside [1, n={n}]")
    rng = np.random.RandomState(seed)
    means, stds, draws, expected = [], [], [], []
    for m in ms:
        picks = []
        for _ in range(math.ceil(n / m)):
            idx = rng.choice(n, m, replace=False)
            picks.append(t[idx[int(np.argmax(p[idx]))]])
        means.append(float(np.mean(picks)))
        stds.append(float(np.std(picks)))
        draws.append(len(picks))
        expected.append(expected_best_of_m(p, t, m))
    return {"n": n, "seed": seed, "ms": ms, "n_draws": draws, "mean": means, "std": stds,
            "expected": expected, "oracle": float(np.max(t)), "random": float(np.mean(t))}


def expected_best_of_m(proxy: Sequence[float], target: Sequence[float], m: int) -> float:
    """Exact E[target of the proxy-best arch in a uniformly random m-subset] (the limit of :func:`best_of_m`).

    Sort by proxy, best first; the arch at position i (0-based) is the subset's best with probability
    C(n-1-i, m-1) / C(n, m). Archs tied in proxy are picked uniformly among those drawn, so each tie
    group's target is replaced by the group mean.
    """
    p, t = _as_arrays(proxy, target)
    n = len(p)
    if not 1 <= m <= n:
        raise ValueError(f"experiment size m={m} outside [1, n={n}]")
    order = np.argsort(-p, kind="stable")
    ps, ts = p[order], t[order].copy()
    _, start = np.unique(-ps, return_index=True)  # -ps is sorted ascending: groups are contiguous
    bounds = list(start) + [n]
    for a, b in zip(bounds[:-1], bounds[1:]):
        ts[a:b] = ts[a:b].mean()
    i = np.arange(n - m + 1)  # positions that can be the best (at least m-1 archs below them)
    log_w = (gammaln(n - i) - gammaln(m) - gammaln(n - i - m + 1)
             - (gammaln(n + 1) - gammaln(m + 1) - gammaln(n - m + 1)))
    w = np.exp(log_w)
    return float(np.dot(w, ts[: n - m + 1]) / w.sum())  # w sums to 1 up to rounding


def compare(table: Mapping[str, Mapping[str, float]], x_task: str, y_task: str, *,
            archs: Optional[Sequence[str]] = None, n_boot: int = 1000, seed: int = 0, ci: float = 0.95,
            ks: Sequence[Union[int, float]] = DEFAULT_TOP_K) -> Dict[str, Any]:
    """One row: :func:`correlations` and :func:`top_k_overlaps` (top-k by ``x_task`` vs by ``y_task``) over
    the common archs of the two tasks (or the given ``archs``), plus ``x``, ``y``, ``archs`` and
    ``top_k_left_out`` (label -> k for the ks above n/2, see :func:`split_k`)."""
    if archs is None:
        archs = common_archs(table, [x_task, y_task])
    missing = [t for t in (x_task, y_task) if t not in table]
    archs, x, y = aligned(table, x_task, y_task, archs) if not missing else ([], np.array([]), np.array([]))
    row: Dict[str, Any] = {"x": x_task, "y": y_task}
    row.update(correlations(x, y, n_boot=n_boot, seed=seed, ci=ci))
    if missing:
        row["reason"] = f"no results for {' and '.join(missing)}"
    elif not row["computable"] and len(archs) >= MIN_N:  # name the constant side by its task
        flat = y_task if np.ptp(y) == 0 else x_task
        row["reason"] = f"all {len(archs)} values of {flat} are equal; no ranking"
    row["top_k"] = top_k_overlaps(x, y, ks) if row["computable"] else {}
    row["top_k_left_out"] = split_k(ks, len(archs))[1] if row["computable"] else {}
    row["archs"] = archs
    return row


def pairwise_table(table: Mapping[str, Mapping[str, float]], *, baseline: str = SUPERVISED,
                   tasks: Optional[Sequence[str]] = None, common: str = "pair", n_boot: int = 1000,
                   seed: int = 0, ci: float = 0.95,
                   ks: Sequence[Union[int, float]] = DEFAULT_TOP_K) -> List[Dict[str, Any]]:
    """Every objective against ``baseline`` (x = baseline, as the paper's Fig. 2), then every pair of the
    other objectives, as :func:`compare` rows with ``kind`` = ``"vs_baseline"`` or ``"pair"``.

    ``common="pair"``: each row uses the archs both of its tasks have; ``common="all"``: every row uses the
    archs all ``tasks`` have (the paper's "common archs" of a figure). A missing baseline just drops its
    rows. Each row's bootstrap uses the same ``seed``.
    """
    if common not in ("pair", "all"):
        raise ValueError(f"common must be 'pair' or 'all', got {common!r}")
    tasks = order_objectives(table) if tasks is None else list(tasks)
    others = [t for t in tasks if t != baseline]
    shared = common_archs(table, tasks) if common == "all" else None
    kw = dict(archs=shared, n_boot=n_boot, seed=seed, ci=ci, ks=ks)
    rows = []
    if baseline in table:
        for t in others:
            rows.append({"kind": "vs_baseline", **compare(table, baseline, t, **kw)})
    for a, b in combinations(others, 2):
        rows.append({"kind": "pair", **compare(table, a, b, **kw)})
    return rows


def spearman_matrix(table: Mapping[str, Mapping[str, float]], tasks: Optional[Sequence[str]] = None,
                    common: str = "pair") -> Tuple[List[str], np.ndarray, np.ndarray]:
    """``(tasks, rho, n)``: Spearman rho between every two tasks (NaN where not computable: fewer than 3
    common archs or constant accuracies) and the number of common archs behind each entry. The diagonal is
    1 where the task has at least 3 archs with distinct accuracies."""
    tasks = order_objectives(table) if tasks is None else list(tasks)
    shared = common_archs(table, tasks) if common == "all" else None
    k = len(tasks)
    rho = np.full((k, k), np.nan)
    counts = np.zeros((k, k), dtype=int)
    for i in range(k):
        for j in range(i, k):
            archs = shared if shared is not None else common_archs(table, [tasks[i], tasks[j]])
            _, x, y = aligned(table, tasks[i], tasks[j], archs)
            counts[i, j] = counts[j, i] = len(archs)
            if len(archs) >= MIN_N and np.ptp(x) > 0 and np.ptp(y) > 0:
                rho[i, j] = rho[j, i] = 1.0 if i == j else statistic("spearman", x, y)[0]
    return tasks, rho, counts


# ---------------------------------------------------------------------------------------------------- budget


def epoch_list_field(record: Mapping[str, Any]) -> str:
    """The per-epoch list behind a record's rank value: ``acc_per_epoch`` for ``best_acc``, else
    ``<rank_metric>_per_epoch`` (e.g. ``train_acc_per_epoch``)."""
    field = rank_field(record)
    return "acc_per_epoch" if field == RANK_METRIC else f"{field}_per_epoch"


def epoch_count(record: Mapping[str, Any]) -> int:
    """Epochs in the record's per-epoch list (0 when it has none, e.g. a ranker score or an older record)."""
    values = record.get(epoch_list_field(record))
    return len(values) if isinstance(values, (list, tuple)) else 0


def _finite_or_none(v: Any) -> Optional[float]:
    return float(v) if v is not None and not isinstance(v, bool) and math.isfinite(float(v)) else None


def epoch_value(record: Mapping[str, Any], epoch: int) -> Optional[float]:
    """The record's rank value had the study read it after epoch ``epoch`` (0-based) of the same run: the best
    held-out accuracy so far (running max of ``acc_per_epoch[:epoch+1]``, None entries ignored) when it ranks by
    ``best_acc``, else ``<rank_metric>_per_epoch[epoch]``. None when the list does not reach that epoch."""
    values = record.get(epoch_list_field(record))
    if not isinstance(values, (list, tuple)) or epoch >= len(values):
        return None
    if rank_field(record) != RANK_METRIC:
        return _finite_or_none(values[epoch])
    seen = [v for v in (_finite_or_none(x) for x in values[: epoch + 1]) if v is not None]
    return max(seen) if seen else None


def budget_curve(records: Iterable[Mapping[str, Any]], task: str, target: Mapping[str, Optional[float]], *,
                 n_boot: int = 1000, seed: int = 0, ci: float = 0.95) -> List[Dict[str, Any]]:
    """How well ``task``'s ranking after each epoch predicts ``target`` (arch -> value, e.g. supervised's final
    accuracy or the ground truth): one ``{"epoch", "n", "rho", "ci_low", "ci_high", "computable", "reason"}`` per
    epoch 0..E-1 of the task's longest per-epoch list. At epoch e an arch's value is the mean over seeds of
    :func:`epoch_value`; ρ is Spearman's over the archs with both values, interval as in :func:`correlations`.
    Empty when no trained record of the task carries a per-epoch list."""
    runs = [r for r in records if str(r["task"]) == task and not is_ranker_record(r) and epoch_count(r)]
    goal = {str(a): float(v) for a, v in target.items() if _finite_or_none(v) is not None}
    out = []
    for e in range(max((epoch_count(r) for r in runs), default=0)):
        at_e = [{"task": task, "arch": r["arch"], "seed": r["seed"], "value": epoch_value(r, e)} for r in runs]
        table = mean_over_seeds(at_e, metric="value").get(task, {})
        archs = sorted(set(table) & set(goal))
        c = correlations([table[a] for a in archs], [goal[a] for a in archs], n_boot=n_boot, seed=seed, ci=ci,
                         methods=("spearman",))
        sp = c["spearman"]
        out.append({"epoch": e, "n": c["n"], "rho": sp["value"], "ci_low": sp["ci_low"], "ci_high": sp["ci_high"],
                    "computable": c["computable"], "reason": c["reason"]})
    return out


# ---------------------------------------------------------------------------------------------------- noise


def spearman_brown(r: float, k: float) -> float:
    """Reliability of the mean of ``k`` measurements that each have reliability ``r`` (Spearman–Brown):
    ``k r / (1 + (k - 1) r)``; NaN where the denominator is not positive (r at or below -1/(k-1))."""
    if not k >= 1:
        raise ValueError(f"k (measurements averaged) must be at least 1, got {k}")
    den = 1.0 + (k - 1.0) * r
    return k * r / den if den > 0 else float("nan")


def corrected_correlation(rho: float, r_x: float, r_y: float) -> Optional[float]:
    """Spearman's correction for attenuation, ``rho / sqrt(r_x r_y)``: the correlation the two rankings would
    have without their seed noise. None unless both reliabilities are positive. It can exceed 1 in size where
    the reliabilities are underestimated."""
    if not (r_x > 0 and r_y > 0):
        return None
    return float(rho / math.sqrt(r_x * r_y))


def sorted_seeds(seeds: Iterable[Any]) -> List[Any]:
    """*seeds* in order (as strings when their types do not compare)."""
    seeds = list(seeds)
    try:
        return sorted(seeds)
    except TypeError:  # mixed seed types
        return sorted(seeds, key=str)


def seed_reliability(values: Mapping[str, Mapping[Any, float]], *, n_boot: int = 1000, seed: int = 0,
                     ci: float = 0.95) -> Dict[str, Any]:
    """Seed-to-seed agreement of one task's ranking, from ``values[arch][seed]`` (:func:`seed_values` of the task).

    ``r``: Spearman ρ between the rankings of two seeds, each pair of seeds on the archs both have, averaged over
    the computable pairs; with one pair (2 seeds) its bootstrap interval (as :func:`correlations`). ``k``: the
    mean number of seeds behind an arch's mean. ``reliability``: :func:`spearman_brown` of ``r`` and ``k``, the
    reliability of the seed mean the study ranks by (its interval: the bounds of ``r`` mapped the same way).
    Not computable, with the reason, without 2 seeds sharing at least 3 archs with distinct values."""
    by_seed: Dict[Any, Dict[str, float]] = defaultdict(dict)
    for arch, per in values.items():
        for s, v in per.items():
            if _finite_or_none(v) is not None:
                by_seed[s][str(arch)] = float(v)
    seeds = sorted_seeds(by_seed)
    counts = [sum(1 for s in per if _finite_or_none(per[s]) is not None) for per in values.values()]
    k = float(np.mean([c for c in counts if c])) if any(counts) else 0.0
    out: Dict[str, Any] = {"seeds": seeds, "n_seeds": len(seeds), "pairs": [], "r": None, "ci_low": None,
                           "ci_high": None, "k": k, "reliability": None, "reliability_ci_low": None,
                           "reliability_ci_high": None, "computable": False, "reason": None}
    if len(seeds) < 2:
        out["reason"] = f"{len(seeds)} seed; at least 2 needed"
        return out
    single = None
    for s1, s2 in combinations(seeds, 2):
        archs = sorted(set(by_seed[s1]) & set(by_seed[s2]))
        c = correlations([by_seed[s1][a] for a in archs], [by_seed[s2][a] for a in archs], n_boot=n_boot,
                         seed=seed, ci=ci, methods=("spearman",))
        out["pairs"].append({"seeds": [s1, s2], "n": c["n"], "rho": c["spearman"]["value"],
                             "computable": c["computable"], "reason": c["reason"]})
        single = c
    ok = [p["rho"] for p in out["pairs"] if p["computable"]]
    if not ok:
        out["reason"] = "no two seeds share at least 3 architectures with distinct values"
        return out
    r = float(np.mean(ok))
    out.update(r=r, computable=True, reliability=spearman_brown(r, max(k, 1.0)))
    if len(seeds) == 2 and single is not None and single["spearman"]["ci_low"] is not None:
        lo, hi = single["spearman"]["ci_low"], single["spearman"]["ci_high"]
        out.update(ci_low=lo, ci_high=hi, reliability_ci_low=spearman_brown(lo, max(k, 1.0)),
                   reliability_ci_high=spearman_brown(hi, max(k, 1.0)))
    return out


def noise_corrected(rho: Optional[float], x: str, y: str, rel: Mapping[str, Optional[float]]) -> Dict[str, Any]:
    """One comparison corrected for attenuation: ``{"x", "y", "rho", "r_x", "r_y", "corrected", "computable",
    "reason"}`` with ``rel[task]`` the reliability of each side's seed mean (None: unknown)."""
    r_x, r_y = rel.get(x), rel.get(y)
    row: Dict[str, Any] = {"x": x, "y": y, "rho": rho, "r_x": r_x, "r_y": r_y, "corrected": None,
                           "computable": False, "reason": None}
    if rho is None:
        row["reason"] = "the correlation itself is not computable"
        return row
    for name, r in ((x, r_x), (y, r_y)):
        if r is None or not math.isfinite(r):
            row["reason"] = f"no seed reliability for {name} (it needs 2 seeds on 3 common architectures)"
            return row
        if r <= 0:
            row["reason"] = f"the reliability of {name} is {r:.2f}, not positive: its seeds do not agree"
            return row
    row.update(corrected=corrected_correlation(rho, r_x, r_y), computable=True)
    return row


# ---------------------------------------------------------------------------------------------------- cost


def task_costs(records: Iterable[Mapping[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """``{task: {"cost_s", "n_jobs", "threads"}}``: the mean ``wall_time_s`` of the task's records (one record
    = one architecture-seed job) and the torch thread counts the records name; tasks without times left out."""
    times: Dict[str, List[float]] = defaultdict(list)
    threads: Dict[str, set] = defaultdict(set)
    for r in records:
        t = _finite_or_none(r.get("wall_time_s"))
        if t is None:
            continue
        times[str(r["task"])].append(t)
        if r.get("threads") is not None:
            threads[str(r["task"])].add(int(r["threads"]))
    return {task: {"cost_s": float(np.mean(v)), "n_jobs": len(v), "threads": sorted(threads[task])}
            for task, v in times.items()}


# ---------------------------------------------------------------------------------------------------- table scores


def spearman_difference(a: Sequence[float], b: Sequence[float], y: Sequence[float], *, n_boot: int = 1000,
                        seed: int = 0, ci: float = 0.95) -> Dict[str, Any]:
    """``rho(a, y) - rho(b, y)`` (Spearman) on the same n items, with a paired percentile bootstrap interval
    (the items resampled once for both; resamples with a constant side skipped). ``{"n", "value", "ci_low",
    "ci_high", "n_boot_used", "computable", "reason"}``."""
    a, b, y = (np.asarray(v, dtype=float) for v in (a, b, y))
    n = len(y)
    out: Dict[str, Any] = {"n": n, "value": None, "ci_low": None, "ci_high": None, "n_boot_used": 0,
                           "computable": False, "reason": None}
    if n < MIN_N:
        out["reason"] = f"only {n} common architecture(s); at least {MIN_N} needed"
        return out
    if min(np.ptp(a), np.ptp(b), np.ptp(y)) == 0:
        out["reason"] = f"all {n} values of one side are equal; no ranking"
        return out
    out["value"] = float(sps.spearmanr(a, y).statistic - sps.spearmanr(b, y).statistic)
    out["computable"] = True
    if n_boot > 0:
        idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
        ab, bb, yb = a[idx], b[idx], y[idx]
        ok = (np.ptp(ab, axis=1) > 0) & (np.ptp(bb, axis=1) > 0) & (np.ptp(yb, axis=1) > 0)
        ry = sps.rankdata(yb[ok], axis=1)
        d = (rowwise_pearson(sps.rankdata(ab[ok], axis=1), ry) - rowwise_pearson(sps.rankdata(bb[ok], axis=1), ry))
        if len(d):
            lo, hi = np.percentile(d, [100 * (1 - ci) / 2, 100 * (1 + ci) / 2])
            out.update(ci_low=float(lo), ci_high=float(hi))
        out["n_boot_used"] = int(len(d))
    return out
