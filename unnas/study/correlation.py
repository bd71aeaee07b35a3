"""How well one ranking of architectures agrees with another: Spearman's rho, Kendall's tau-b and Pearson's r
(scipy.stats) with percentile-bootstrap intervals over the architectures, and the overlap of their top-k sets.

Pure numpy/scipy, on two aligned sequences of values (:mod:`unnas.study.stats` aligns a study's tasks).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Dict, Sequence, Tuple, Union

import numpy as np
from scipy import stats as sps

# Top-k sizes: ints are counts, floats in (0, 1) are fractions of n (rounded to nearest, at least 1).
DEFAULT_TOP_K: Tuple[Union[int, float], ...] = (5, 10, 0.2)
METHODS = ("spearman", "kendall", "pearson")
MIN_N = 3  # fewer common architectures than this: a pair's statistics are not computable
# Fewer architectures than this: a correlation is computed, but its bootstrap interval is not meaningful
# (a resample holds at most 9 distinct architectures, most hold 5-6, and the percentile interval undercovers).
SMALL_N = 10


def statistic(method: str, x: np.ndarray, y: np.ndarray) -> Tuple[float, float]:
    """``(value, p-value)`` of ``method`` (``spearman``, ``kendall`` or ``pearson``) on x and y."""
    if method == "spearman":
        r = sps.spearmanr(x, y)
    elif method == "kendall":
        r = sps.kendalltau(x, y)  # tau-b (ties in either variable corrected)
    elif method == "pearson":
        r = sps.pearsonr(x, y)
    else:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    return float(r.statistic), float(r.pvalue)


def rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson's r of each row of ``a`` with the same row of ``b`` (NaN for a constant row)."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    return np.clip(r, -1.0, 1.0)


def bootstrap(x: np.ndarray, y: np.ndarray, n_boot: int, seed: int,
              methods: Sequence[str] = METHODS) -> Dict[str, np.ndarray]:
    """Each statistic on ``n_boot`` resamples of the pairs; NaN where a resample has a constant x or y.

    Spearman and Pearson are computed row-wise in numpy (Spearman = Pearson of average ranks, scipy's
    definition; equal to scipy up to rounding), Kendall's tau-b with scipy per resample.
    """
    n = len(x)
    boot = {m: np.full(n_boot, np.nan) for m in methods}
    if n_boot <= 0:
        return boot
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    xb, yb = x[idx], y[idx]
    ok = (np.ptp(xb, axis=1) > 0) & (np.ptp(yb, axis=1) > 0)
    if "pearson" in boot:
        boot["pearson"][ok] = rowwise_pearson(xb[ok], yb[ok])
    if "spearman" in boot:
        boot["spearman"][ok] = rowwise_pearson(sps.rankdata(xb[ok], axis=1), sps.rankdata(yb[ok], axis=1))
    if "kendall" not in boot:
        return boot
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for b in np.flatnonzero(ok):
            boot["kendall"][b] = sps.kendalltau(xb[b], yb[b]).statistic
    return boot


def _not_computable(n: int, reason: str, n_boot: int, seed: int, ci: float,
                    methods: Sequence[str] = METHODS) -> Dict[str, Any]:
    empty = {"value": None, "p_value": None, "ci_low": None, "ci_high": None, "n_boot_used": 0}
    return {"n": n, "computable": False, "reason": reason, "n_boot": n_boot, "seed": seed, "ci": ci,
            "small_n": n < SMALL_N, **{m: dict(empty) for m in methods}}


def correlations(x: Sequence[float], y: Sequence[float], n_boot: int = 1000, seed: int = 0,
                 ci: float = 0.95, methods: Sequence[str] = METHODS) -> Dict[str, Any]:
    """Spearman rho, Kendall tau-b and Pearson r of paired samples, each with a bootstrap interval.

    Point estimates and p-values are scipy's (``spearmanr``, ``kendalltau``, ``pearsonr``). Interval:
    resample the n pairs (architectures) with replacement ``n_boot`` times with
    ``numpy.random.default_rng(seed)``, recompute each statistic, and take the ``(1-ci)/2`` and
    ``(1+ci)/2`` percentiles (linear interpolation). Resamples in which x or y is constant have no
    correlation and are skipped; ``n_boot_used`` says how many were used (interval None if none).

    Returns ``{"n", "computable", "reason", "n_boot", "seed", "ci", "small_n", "spearman": {"value", "p_value",
    "ci_low", "ci_high", "n_boot_used"}, "kendall": {...}, "pearson": {...}}``. Fewer than 3 pairs or a
    constant x or y give ``computable=False``, the reason, and None values. ``small_n``: n < ``SMALL_N``, too
    few pairs for the intervals to mean anything. ``methods``: a subset of ``METHODS`` to compute (the others
    are left out of the result).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-d of equal length, got shapes {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("x and y must be finite")
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"unknown methods {unknown}; known: {', '.join(METHODS)}")
    n = len(x)
    if n < MIN_N:
        return _not_computable(n, f"only {n} common architecture(s); at least {MIN_N} needed", n_boot, seed, ci,
                               methods)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        which = "x" if np.ptp(x) == 0 else "y"
        return _not_computable(n, f"all {n} values of {which} are equal; no ranking", n_boot, seed, ci, methods)

    out: Dict[str, Any] = {"n": n, "computable": True, "reason": None, "n_boot": n_boot, "seed": seed, "ci": ci,
                           "small_n": n < SMALL_N}
    boot = bootstrap(x, y, n_boot, seed, methods)
    lo_q, hi_q = 100 * (1 - ci) / 2, 100 * (1 + ci) / 2
    for m in methods:
        value, p = statistic(m, x, y)
        vals = boot[m][np.isfinite(boot[m])]
        lo, hi = (float(v) for v in np.percentile(vals, [lo_q, hi_q])) if len(vals) else (None, None)
        out[m] = {"value": value, "p_value": p, "ci_low": lo, "ci_high": hi, "n_boot_used": int(len(vals))}
    return out


def resolve_k(k: Union[int, float], n: int) -> int:
    """Top-k size for n items: an int is a count, a float in (0, 1) a fraction (nearest int, at least 1);
    clipped to n."""
    if isinstance(k, (bool, np.bool_)):
        raise ValueError(f"k must be a count or a fraction, got {k!r}")
    if isinstance(k, (int, np.integer)):
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        return int(min(k, n))
    if 0 < k < 1:
        return int(min(n, max(1, math.floor(k * n + 0.5))))
    if float(k).is_integer() and k >= 1:
        return int(min(int(k), n))
    raise ValueError(f"k must be an int >= 1 or a fraction in (0, 1), got {k!r}")


def k_label(k: Union[int, float]) -> str:
    """``'top-5'`` for a count, ``'top-20%'`` for a fraction."""
    if isinstance(k, float) and 0 < k < 1:
        return f"top-{100 * k:g}%"
    return f"top-{int(k)}"


def top_k_indices(x: Sequence[float], k: int) -> np.ndarray:
    """Indices of the k largest values; ties go to the earlier index (stable sort of -x)."""
    return np.argsort(-np.asarray(x, dtype=float), kind="stable")[:k]


def top_k_overlap(x: Sequence[float], y: Sequence[float], k: Union[int, float]) -> float:
    """Fraction of the top-k items by x that are also in the top-k by y (k as in :func:`resolve_k`).

    Ties are broken by position (earlier first); the report passes archs in sorted-name order, so ties
    go to the lexicographically smaller arch id. A random ranking overlaps k/n in expectation.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) == 0:
        raise ValueError(f"x and y must be non-empty 1-d of equal length, got shapes {x.shape} and {y.shape}")
    kk = resolve_k(k, len(x))
    return len(set(top_k_indices(x, kk).tolist()) & set(top_k_indices(y, kk).tolist())) / kk


def split_k(ks: Sequence[Union[int, float]], n: int) -> Tuple[Dict[str, int], Dict[str, int]]:
    """``(kept, left_out)``: label -> resolved k for each k in ``ks``, kept where 2k <= n.

    Two top-k sets out of n share at least 2k - n items, so for k > n/2 the overlap cannot fall below
    (2k - n) / k whatever the rankings; only k <= n/2 lets it span 0..1.
    """
    kept: Dict[str, int] = {}
    left_out: Dict[str, int] = {}
    for k in ks:
        kk = resolve_k(k, n) if n else 0
        (kept if n and 2 * kk <= n else left_out)[k_label(k)] = kk
    return kept, left_out


def top_k_overlaps(x: Sequence[float], y: Sequence[float],
                   ks: Sequence[Union[int, float]] = DEFAULT_TOP_K) -> Dict[str, Dict[str, float]]:
    """``{label: {"k", "overlap", "chance"}}`` for each k in ``ks`` with 2k <= n (see :func:`split_k`);
    ``chance = k / n`` is the expected overlap of a random ranking."""
    n = len(x)
    kept, _ = split_k(ks, n)
    return {lb: {"k": kk, "overlap": top_k_overlap(x, y, kk), "chance": kk / n} for lb, kk in kept.items()}
