"""The accuracy–cost Pareto front: which of several architectures no other one beats on both accuracy and cost,
and its figure (used by searches that return several cells and by study reports)."""

from __future__ import annotations

import os
from typing import Any, List, Mapping, Optional, Sequence, Tuple


def pareto_front(points: Sequence[Tuple[float, float]]) -> List[bool]:
    """For each ``(cost, value)`` point: True when no other point is at most as costly and at least as good
    while strictly cheaper or strictly better (lower cost and higher value are better)."""
    pts = [(float(c), float(v)) for c, v in points]
    return [not any(c2 <= c and v2 >= v and (c2 < c or v2 > v) for c2, v2 in pts) for c, v in pts]


def pareto_figure(series: Mapping[str, Sequence[Tuple[float, float]]], *, xlabel: str, ylabel: str,
                  title: Optional[str] = None, log_x: bool = False):
    """One scatter per named series of ``(cost, value)`` points, each series' Pareto front joined by a line and its
    points ringed. Returns the matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for i, (name, pts) in enumerate(series.items()):
        pts = [(float(c), float(v)) for c, v in pts]
        if not pts:
            continue
        colour = f"C{i % 10}"
        on = pareto_front(pts)
        ax.scatter([c for c, _ in pts], [v for _, v in pts], s=14, alpha=0.55, color=colour,
                   label=f"{name} ({sum(on)} of {len(pts)} on the front)")
        front = sorted(p for p, keep in zip(pts, on) if keep)
        ax.plot([c for c, _ in front], [v for _, v in front], "-o", color=colour, mfc="none", ms=8, lw=1.2)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_pareto(series: Mapping[str, Sequence[Tuple[float, float]]], out_path: str, **kw: Any) -> str:
    """:func:`pareto_figure` written to *out_path* (folders made); returns the path."""
    import matplotlib.pyplot as plt

    fig = pareto_figure(series, **kw)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
    return out_path
