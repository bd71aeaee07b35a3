"""Rank aggregation of several proxies over a set of architectures (AZ-NAS's non-linear aggregation).

A per-architecture ranker cannot compute these: they need the scores of the whole set. ``unnas rank`` prints each
proxy's score per architecture; feed its columns (one sequence per proxy, in the same architecture order) here.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from scipy.stats import rankdata

from unnas.errors import ConfigError


def _ranks(scores: Mapping[str, Sequence[float]]) -> np.ndarray:
    """``[proxies, N]`` average ranks (1 = lowest score, ties share their mean rank, as ``scipy.stats.rankdata``)."""
    if not scores:
        raise ConfigError("rank aggregation needs at least one proxy's scores")
    columns = [np.asarray(v, dtype=float) for v in scores.values()]
    n = len(columns[0])
    if n == 0 or any(c.ndim != 1 or len(c) != n for c in columns):
        raise ConfigError(f"every proxy needs one score per architecture, got lengths {[len(c) for c in columns]}")
    if any(np.isnan(c).any() for c in columns):
        raise ConfigError("rank aggregation got a NaN score; score degenerate networks with a finite value")
    return np.stack([rankdata(c) for c in columns])


def log_rank_sum(scores: Mapping[str, Sequence[float]]) -> np.ndarray:
    """AZ-NAS's aggregate (Lee & Ham, CVPR 2024, Eq. 12):
    ``Σ_proxies log(rank / N)`` per architecture, ranks ascending (the best score of a proxy has rank N, log 0).
    Higher is better; an architecture ranked last by one proxy is pulled down hard (``log(1/N)``), which is the
    point: it rewards architectures no proxy considers poor."""
    ranks = _ranks(scores)
    return np.log(ranks / ranks.shape[1]).sum(axis=0)


def mean_rank(scores: Mapping[str, Sequence[float]]) -> np.ndarray:
    """The linear baseline the paper compares with: the mean over proxies of each architecture's rank (higher is
    better)."""
    return _ranks(scores).mean(axis=0)


__all__ = ["log_rank_sum", "mean_rank"]
