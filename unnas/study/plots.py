"""Figures of the sample-based study (matplotlib, Agg backend), in the style of the paper's Figs. 2, 4 and 5.

Each ``*_figure`` function takes data and returns the laid-out ``Figure``; each ``plot_*`` function takes the
same data and an output path (the format follows the suffix, PNG for the report), writes the figure, closes
it, and returns the path. Accuracies are plotted in percent: pass ``scale=100`` for accuracies in [0, 1]
(the study records) and ``scale=1`` for accuracies already in percent; training-free ranker scores (``scores``)
are plotted as they are. Titles wrap, and shrink if they must,
to fit the figure's width; axes of integer quantities have integer ticks only.
"""

from __future__ import annotations

import os
from typing import Any, Collection, List, Mapping, Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display on the training machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullLocator  # noqa: E402
from scipy import stats as sps  # noqa: E402

from pretext_tasks.registry import objective_color, objective_names, order_objectives  # noqa: E402
from unnas.study.stats import MIN_N, SUPERVISED, aligned, common_archs  # noqa: E402

# matplotlib's colour-blind-safe Tableau 10 cycle. A registered objective has its own fixed colour
# (pretext_tasks.registry.objective_color); every other task (a ranker, an unregistered name) gets these colours by
# its position, leaving out those of the registered objectives.
_PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
            "#bab0ac"]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def _free_palette() -> List[str]:
    """The palette colours no registered objective has (the whole palette if they take them all)."""
    taken = {to_hex(c) for c in map(objective_color, objective_names()) if c is not None}
    return [c for c in _PALETTE if c not in taken] or list(_PALETTE)


def _position(task: str, tasks: Sequence[str]) -> int:
    """The task's index among the tasks of ``tasks`` without a fixed colour (a stable number if it is not one)."""
    others = [t for t in tasks if objective_color(t) is None]
    return others.index(task) if task in others else sum(map(ord, task))  # str hash() varies per process


def task_color(task: str, tasks: Sequence[str] = ()) -> str:
    """A stable colour per task: a registered objective's fixed colour, other tasks the free palette colours in
    their order in ``tasks``."""
    fixed = objective_color(task)
    if fixed is not None:
        return fixed
    free = _free_palette()
    return free[_position(task, tasks) % len(free)]


def task_marker(task: str, tasks: Sequence[str] = ()) -> str:
    """A marker per task that tells apart the tasks :func:`task_color` gives the same colour (its free colours
    repeat): circles for the objectives with a fixed colour and the first round of the others, then squares,
    triangles, ..."""
    if objective_color(task) is not None:
        return _MARKERS[0]
    return _MARKERS[(_position(task, tasks) // len(_free_palette())) % len(_MARKERS)]


def integer_ticks(axis: Any) -> None:
    """Ticks of an axis (``ax.xaxis`` / ``ax.yaxis``) of integer values (ranks, counts, seeds): integers only."""
    axis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # one integer tick, never fractions
    axis.set_minor_locator(NullLocator())


def _greedy_wrap(text: Any, paragraphs: Sequence[str], width: float, renderer: Any) -> List[str]:
    """Lines of at most ``width`` pixels in ``text``'s font (a word wider than that gets a line of its own)."""
    def w(s: str) -> float:
        text.set_text(s)
        return text.get_window_extent(renderer).width

    lines: List[str] = []
    for para in paragraphs:
        line = ""
        for word in para.split():
            cand = f"{line} {word}" if line else word
            if line and w(cand) > width:
                lines.append(line)
                line = word
            else:
                line = cand
        lines.append(line)
    return lines


def fit_title(fig: "plt.Figure", text: Any, *, min_size: float = 7.0, max_lines: int = 3,
              pad_px: float = 4.0) -> None:
    """Wrap a title (``fig.suptitle`` or ``ax.set_title`` result) at word boundaries to the width it has
    around its centre, lay the figure out (``tight_layout``), and shrink the font while the title needs
    more than ``max_lines`` lines (down to ``min_size``) or still sticks out of the figure."""
    renderer = fig.canvas.get_renderer()
    paragraphs = [p for p in text.get_text().split("\n") if p.strip()]
    if not paragraphs:
        return
    fig_w, fig_h = fig.bbox.width, fig.bbox.height
    size = float(text.get_fontsize())
    for _ in range(60):
        box = text.get_window_extent(renderer)
        cx = min(max((box.x0 + box.x1) / 2, 0.0), fig_w)
        width = max(1.0, 2 * min(cx, fig_w - cx) - 2 * pad_px)
        lines = _greedy_wrap(text, paragraphs, width, renderer)
        text.set_text("\n".join(lines))
        fig.tight_layout()
        box = text.get_window_extent(renderer)
        inside = box.x0 >= 0 and box.x1 <= fig_w and box.y0 >= 0 and box.y1 <= fig_h
        if inside and (len(lines) <= max_lines or size <= min_size):
            return
        if size <= 1.0:
            return
        size = max(1.0, size - 0.5) if not inside or size > min_size else size
        text.set_fontsize(size)


def _slope(v: float) -> str:
    """2 decimals, or 2 significant digits for a slope below 0.1 in size (not a bare 0.00)."""
    return f"{v:.2f}" if abs(v) >= 0.1 or v == 0 else f"{v:.2g}"


def _save(fig: "plt.Figure", out_path: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    fig.savefig(out_path, dpi=110)  # the figure is laid out already; bbox_inches="tight" would render twice
    plt.close(fig)
    return out_path


def vs_baseline_figure(table: Mapping[str, Mapping[str, float]], *, baseline: str = SUPERVISED,
                       tasks: Optional[Sequence[str]] = None, baseline_label: Optional[str] = None,
                       labels: Optional[Mapping[str, str]] = None, title: Optional[str] = None,
                       scale: float = 100.0, scores: Collection[str] = ()) -> "plt.Figure":
    """The paper's Fig. 2 (Fig. 4 with a reference as baseline): one panel per objective, a point per
    architecture at (baseline accuracy, objective accuracy) over their common archs, a robust (Theil-Sen)
    regression line labelled with its slope, and Spearman rho in the legend (2 decimals; the paper used
    seaborn's robust regplot). A task in ``scores`` (a ranker) is plotted unscaled as a score, on a log axis
    (line fitted to log10) when its scores are positive and span more than 3 decades."""
    labels = dict(labels or {})
    tasks = [t for t in (order_objectives(table) if tasks is None else tasks) if t != baseline]
    xlabel = f"{baseline_label or labels.get(baseline, baseline)} accuracy (%)"
    ncols = max(1, len(tasks))
    fig, axes = plt.subplots(1, ncols, figsize=(4.2 * ncols, 3.8), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        name = labels.get(task, task)
        archs = common_archs(table, [baseline, task])
        _, x, y = aligned(table, baseline, task, archs) if archs else ([], np.array([]), np.array([]))
        is_score = task in scores
        x, y = x * scale, y * (1.0 if is_score else scale)
        log_y = bool(is_score and len(y) and y.min() > 0 and y.max() / y.min() > 1e3)
        color = task_color(task, tasks)
        if len(archs) >= MIN_N and np.ptp(x) > 0 and np.ptp(y) > 0:
            rho = sps.spearmanr(x, y).statistic
            ax.scatter(x, y, s=18, alpha=0.6, color=color, edgecolors="none",
                       label=f"{name}\n\u03c1 = {rho:.2f} (n = {len(archs)})")
            fy = np.log10(y) if log_y else y
            slope, intercept, _, _ = sps.theilslopes(fy, x)
            xs = np.linspace(x.min(), x.max(), 2)
            line = intercept + slope * xs
            ax.plot(xs, 10 ** line if log_y else line, color=color, lw=1.5,
                    label=f"Theil\u2013Sen fit (slope {_slope(slope)}{' in log10' if log_y else ''})")
            ax.legend(loc="best", fontsize=8, markerscale=1.5, framealpha=0.7)  # where it covers fewest points
        else:
            ax.scatter(x, y, s=18, alpha=0.6, color=color)
            ax.text(0.5, 0.5, f"{name}: not computable\n({len(archs)} common archs)", transform=ax.transAxes,
                    ha="center", va="center", fontsize=9, color="0.3")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{name} score" if is_score else f"{name} accuracy (%)")
        if log_y:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    if not tasks:
        axes[0][0].text(0.5, 0.5, "no objective to compare", ha="center", va="center", transform=axes[0][0].transAxes)
        axes[0][0].set_axis_off()
    sup = fig.suptitle(title or f"Objective accuracy vs {baseline_label or labels.get(baseline, baseline)} accuracy "
                       "(one point per architecture)", fontsize=11)
    fit_title(fig, sup)
    return fig


def plot_vs_baseline(table: Mapping[str, Mapping[str, float]], out_path: str, **kw: Any) -> str:
    """:func:`vs_baseline_figure` written to ``out_path``."""
    return _save(vs_baseline_figure(table, **kw), out_path)


def best_of_m_figure(curves: Mapping[str, Mapping[str, Any]], *, target_label: str = SUPERVISED,
                     labels: Optional[Mapping[str, str]] = None, title: Optional[str] = None,
                     scale: float = 100.0) -> "plt.Figure":
    """The paper's Fig. 5: for each proxy (a :func:`unnas.study.stats.best_of_m` result), the mean target
    accuracy of the arch the proxy picks out of m random ones (markers, line) with a +-2 std band (clipped at the
    best architecture's accuracy), against
    m on a log2 axis (ticks at the m values); dotted: the exact expectation. Grey dashed lines: the oracle
    (best target) and the mean."""
    labels = dict(labels or {})
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    tasks = list(curves)
    oracle = random = None
    all_ms: set = set()
    for task in tasks:
        c = curves[task]
        all_ms.update(int(m) for m in c["ms"])
        lx = np.log2(np.asarray(c["ms"], dtype=float))
        mu = np.asarray(c["mean"]) * scale
        sd = np.asarray(c["std"]) * scale
        color = task_color(task, tasks)
        ax.plot(lx, mu, "o-", color=color, ms=4, lw=1.2, label=labels.get(task, task))
        # no pick beats the best architecture: the band stops at the oracle instead of passing 100 %
        ax.fill_between(lx, np.maximum(mu - 2 * sd, 0.0), np.minimum(mu + 2 * sd, c["oracle"] * scale), color=color,
                        alpha=0.08)
        ax.plot(lx, np.asarray(c["expected"]) * scale, ":", color=color, lw=1)
        oracle, random = c["oracle"] * scale, c["random"] * scale
    if oracle is not None:
        ax.axhline(oracle, color="0.4", ls="--", lw=0.8)
        ax.axhline(random, color="0.6", ls="--", lw=0.8)
        ax.text(ax.get_xlim()[0], oracle, " best arch", va="bottom", fontsize=8, color="0.4")
        ax.text(ax.get_xlim()[0], random, " mean arch", va="bottom", fontsize=8, color="0.5")
        ax.legend(loc="lower right", fontsize=9, title="proxy", title_fontsize=9)
    else:
        ax.text(0.5, 0.5, "no proxy to compare", ha="center", va="center", transform=ax.transAxes)
    ms = sorted(all_ms)
    if ms:  # m is an integer: a tick at each experiment size, labelled with m itself
        ax.xaxis.set_major_locator(FixedLocator(np.log2(ms)))
        ax.set_xticklabels([str(m) for m in ms])
        ax.xaxis.set_minor_locator(NullLocator())
    else:
        integer_ticks(ax.xaxis)
    ax.set_xlabel("experiment size m (archs sampled per experiment; log2 scale)")
    ax.set_ylabel(f"{target_label} accuracy of the pick (%)")
    t = ax.set_title(title or f"Best of m random archs by each proxy, judged on {target_label}\n"
                     "(mean \u00b1 2 std over ceil(n/m) experiments; dotted: exact expectation)", fontsize=10)
    ax.grid(alpha=0.3)
    fit_title(fig, t)
    return fig


def plot_best_of_m(curves: Mapping[str, Mapping[str, Any]], out_path: str, **kw: Any) -> str:
    """:func:`best_of_m_figure` written to ``out_path``."""
    return _save(best_of_m_figure(curves, **kw), out_path)


def spearman_matrix_figure(tasks: Sequence[str], rho: np.ndarray, *, counts: Optional[np.ndarray] = None,
                           labels: Optional[Mapping[str, str]] = None,
                           title: Optional[str] = None) -> "plt.Figure":
    """Heatmap of the Spearman rho between every two tasks (colour scale -1..1, each cell annotated;
    ``n/a`` where not computable; with ``counts`` also the number of common archs)."""
    labels = dict(labels or {})
    rho = np.asarray(rho, dtype=float)
    k = len(tasks)
    off = [int(counts[i, j]) for i in range(k) for j in range(k) if i != j] if counts is not None else []
    same_n = len(set(off)) == 1  # one n for every pair: say it once in the title instead of in each cell
    size = max(3.5, 1.1 * k + 1.5)
    fig, ax = plt.subplots(figsize=(size + 0.8, size))
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="0.85")
    im = ax.imshow(np.ma.masked_invalid(rho), cmap=cmap, vmin=-1, vmax=1)
    for i in range(k):
        for j in range(k):
            v = rho[i, j]
            txt = "n/a" if not np.isfinite(v) else f"{v:.2f}"
            if counts is not None and i != j and not same_n:
                txt += f"\nn={int(counts[i, j])}"
            dark = np.isfinite(v) and abs(v) > 0.6
            ax.text(j, i, txt, ha="center", va="center", fontsize=9, color="white" if dark else "black")
    names = [labels.get(t, t) for t in tasks]
    ax.set_xticks(range(k), names, rotation=30, ha="right")
    ax.set_yticks(range(k), names)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="Spearman \u03c1")
    default = "Spearman \u03c1 between objectives (architecture rankings)"
    if same_n:
        default += f"\nn = {off[0]} common archs for every pair"
    t = ax.set_title(title or default, fontsize=10)
    fit_title(fig, t)
    return fig


def plot_spearman_matrix(tasks: Sequence[str], rho: np.ndarray, out_path: str, **kw: Any) -> str:
    """:func:`spearman_matrix_figure` written to ``out_path``."""
    return _save(spearman_matrix_figure(tasks, rho, **kw), out_path)


def budget_figure(budget: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]], targets: Sequence[str], *,
                  labels: Optional[Mapping[str, str]] = None, title: Optional[str] = None) -> "plt.Figure":
    """Budget curves: one panel per target, Spearman ρ (with its interval as a band) of each task's ranking after
    e+1 epochs against the target, one line per task. ``budget[task][target]``: a
    :func:`unnas.study.stats.budget_curve` result."""
    labels = dict(labels or {})
    tasks = list(budget)
    ncols = max(1, len(targets))
    fig, axes = plt.subplots(1, ncols, figsize=(5.0 * ncols, 3.9), squeeze=False)
    for ax, target in zip(axes[0], targets):
        drawn = False
        for task in tasks:
            pts = [p for p in budget[task].get(target, []) if p["rho"] is not None]
            if not pts:
                continue
            ex = np.array([p["epoch"] + 1 for p in pts], dtype=float)
            color = task_color(task, tasks)
            ax.plot(ex, [p["rho"] for p in pts], "o-", color=color, ms=4, lw=1.3, label=labels.get(task, task))
            band = [(e, p["ci_low"], p["ci_high"]) for e, p in zip(ex, pts) if p["ci_low"] is not None]
            if band:
                be, lo, hi = zip(*band)
                ax.fill_between(be, lo, hi, color=color, alpha=0.08)
            drawn = True
        if drawn:
            ax.legend(loc="best", fontsize=8, framealpha=0.7)
        else:
            ax.text(0.5, 0.5, "not computable", ha="center", va="center", transform=ax.transAxes, color="0.3")
        ax.axhline(0.0, color="0.6", lw=0.8)
        ax.set_ylim(-1.05, 1.05)
        integer_ticks(ax.xaxis)
        ax.set_xlabel("epochs trained (of the full schedule)")
        ax.set_ylabel(f"Spearman \u03c1 vs {labels.get(target, target)}")
        ax.grid(alpha=0.3)
    sup = fig.suptitle(title or "Ranking after each epoch vs the final target (band: bootstrap interval)", fontsize=11)
    fit_title(fig, sup)
    return fig


def plot_budget(budget: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]], out_path: str, **kw: Any) -> str:
    """:func:`budget_figure` written to ``out_path``."""
    return _save(budget_figure(budget, **kw), out_path)


def cost_frontier_figure(points: Sequence[Mapping[str, Any]], *, target_label: str,
                         labels: Optional[Mapping[str, str]] = None, title: Optional[str] = None) -> "plt.Figure":
    """Cost against ranking quality: x = seconds per architecture (log scale), y = Spearman ρ to the target; per
    task one marker at its full cost, its budget points (``epoch`` not None) joined by a line; the Pareto front
    (``on_front``) as a dashed step line with ringed points. ``points``: dicts with ``task``, ``epoch``,
    ``cost_s``, ``rho`` and ``on_front``."""
    labels = dict(labels or {})
    pts = [p for p in points if p["rho"] is not None and p["cost_s"] is not None and p["cost_s"] > 0]
    tasks = list(dict.fromkeys(p["task"] for p in pts))
    fig, ax = plt.subplots(figsize=(6.6, 4.4))
    for task in tasks:
        mine = sorted((p for p in pts if p["task"] == task), key=lambda p: p["cost_s"])
        color, marker = task_color(task, tasks), task_marker(task, tasks)
        ax.plot([p["cost_s"] for p in mine], [p["rho"] for p in mine], "-", color=color, lw=1.0, alpha=0.7)
        full = [p for p in mine if p["epoch"] is None]
        ax.scatter([p["cost_s"] for p in full], [p["rho"] for p in full], s=40, color=color, marker=marker, zorder=3,
                   label=labels.get(task, task))
        part = [p for p in mine if p["epoch"] is not None]
        ax.scatter([p["cost_s"] for p in part], [p["rho"] for p in part], s=12, color=color, marker=marker, zorder=3)
    front = sorted((p for p in pts if p["on_front"]), key=lambda p: p["cost_s"])
    if front:
        ax.step([p["cost_s"] for p in front], [p["rho"] for p in front], where="post", color="0.2", ls="--", lw=1.0,
                label="Pareto front")
        ax.scatter([p["cost_s"] for p in front], [p["rho"] for p in front], s=110, facecolors="none",
                   edgecolors="0.2", zorder=4)
        ax.legend(loc="best", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no task with both a cost and a correlation", ha="center", va="center",
                transform=ax.transAxes, color="0.3")
    if pts:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("seconds per architecture (this run's machine; log scale)")
    ax.set_ylabel(f"Spearman \u03c1 vs {target_label}")
    ax.grid(alpha=0.3)
    sup = fig.suptitle(title or "Cost and ranking quality (small points: a trained objective stopped after fewer "
                       f"epochs; judged on {target_label})", fontsize=10)
    fit_title(fig, sup)
    return fig


def plot_cost_frontier(points: Sequence[Mapping[str, Any]], out_path: str, **kw: Any) -> str:
    """:func:`cost_frontier_figure` written to ``out_path``."""
    return _save(cost_frontier_figure(points, **kw), out_path)


def pareto_panels_figure(panels: Mapping[str, Any], *, labels: Optional[Mapping[str, str]] = None,
                         title: Optional[str] = None, scale: float = 100.0) -> "plt.Figure":
    """Accuracy against multiply-adds: one panel per series, ``panels[name] = (points, marked)`` with ``points``
    the ``(macs, accuracy)`` of each architecture and ``marked`` (or None) a flag per point (e.g. on the ground
    truth's front, drawn as ×). x = MACs in millions (log scale when they span more than a decade), y = accuracy
    in percent (axis label: ``labels[name]`` and "(%)"); the series' Pareto front (:func:`unnas.pareto.pareto_front`)
    ringed and joined by a step line."""
    from unnas.pareto import pareto_front

    labels = dict(labels or {})
    names = list(panels)
    ncols = max(1, min(3, len(names)))
    nrows = max(1, -(-len(names) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 3.7 * nrows + 0.4), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.set_axis_off()
    for ax, name in zip(axes.flat, names):
        points, marked = panels[name]
        x = np.array([c for c, _ in points], dtype=float) / 1e6
        y = np.array([v for _, v in points], dtype=float) * scale
        color = task_color(name, names)
        on = np.array(pareto_front(list(zip(x, y))), dtype=bool) if len(x) else np.zeros(0, dtype=bool)
        ax.scatter(x, y, s=16, alpha=0.55, color=color, edgecolors="none",
                   label=f"{labels.get(name, name)} ({int(on.sum())} of {len(x)} on the front)")
        if on.any():
            order = np.argsort(x[on], kind="stable")
            ax.step(x[on][order], y[on][order], where="post", color=color, lw=1.2)
            ax.scatter(x[on], y[on], s=70, facecolors="none", edgecolors=color, lw=1.2, zorder=3)
        if marked is not None and any(marked):
            m = np.asarray(marked, dtype=bool)
            ax.scatter(x[m], y[m], s=30, marker="x", color="0.15", lw=1.0, zorder=4, label="on the true front")
        if len(x) and x.min() > 0 and x.max() / x.min() > 10:
            ax.set_xscale("log")
        ax.set_xlabel("multiply-adds per image (M)")
        ax.set_ylabel(f"{labels.get(name, name)} (%)")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=7, framealpha=0.7)
    sup = fig.suptitle(title or "Accuracy against multiply-adds (ringed: the Pareto front)", fontsize=11)
    fit_title(fig, sup)
    return fig


def plot_pareto_panels(panels: Mapping[str, Any], out_path: str, **kw: Any) -> str:
    """:func:`pareto_panels_figure` written to ``out_path``."""
    return _save(pareto_panels_figure(panels, **kw), out_path)
