"""Plots of a search's architecture parameters and of its derived cells' true accuracy (any space)."""

from __future__ import annotations

import os
from typing import Mapping, Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def save_figure(fig, out: str, title: Optional[str] = None, dpi: int = 110) -> None:
    """Title, lay out, write *out* (creating its folder) and close *fig*."""
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)


def draw_op_edge(ax, start, end, op: str, colour: str, rad: float, shrink: float = 14, fontsize: int = 7,
                 label_alpha: float = 0.85) -> None:
    """One labelled, curved edge of a cell drawing from *start* to *end* (``none`` dotted)."""
    from matplotlib.patches import FancyArrowPatch

    (x0, y0), (x1, y1) = start, end
    ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), connectionstyle=f"arc3,rad={rad}", arrowstyle="-|>",
                                 mutation_scale=12, color=colour, lw=1.6, shrinkA=shrink, shrinkB=shrink,
                                 linestyle=":" if op == "none" else "-"))
    # arc3 puts its control point at mid + rad * (dy, -dx); the curve passes half-way to it.
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    dx, dy = x1 - x0, y1 - y0
    ax.text(mx + 0.5 * rad * dy, my - 0.5 * rad * dx, op, fontsize=fontsize, color=colour, ha="center", va="center",
            bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=label_alpha))


def _matrix_keys(entry: Mapping) -> list:
    return [k for k, v in entry.items() if isinstance(v, list) and v and isinstance(v[0], list)]


def plot_alphas(weights: Mapping[str, np.ndarray], row_labels: Mapping[str, Sequence[str]], primitives: Sequence[str],
                out: str, title: Optional[str] = None) -> None:
    """Heatmaps of softmaxed alphas, one panel per alpha matrix (rows: edges, columns: ops), saved to *out*."""
    rows = max(len(np.asarray(w)) for w in weights.values())
    fig, axes = plt.subplots(1, len(weights), figsize=(5.5 * len(weights), 0.32 * rows + 1.8), squeeze=False)
    for ax, (name, w) in zip(axes[0], weights.items()):
        w = np.asarray(w)
        im = ax.imshow(w, cmap="viridis", aspect="auto")  # colour range = this matrix's range, to show small moves
        ax.set_xticks(range(len(primitives)), primitives, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(w)), list(row_labels[name]), fontsize=8)
        ax.set_title(f"{name} cell" if name in ("normal", "reduce") else name)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    save_figure(fig, out, title)


def plot_alpha_evolution(history: Sequence[dict], primitives: Sequence[str], out: str, title: Optional[str] = None,
                         keys: Optional[Sequence[str]] = None) -> None:
    """Per alpha matrix, each op's softmax weight averaged over the edges, against the epoch (from ``alphas.json``).

    *history* is the list of per-epoch entries (``{"epoch", "normal", "reduce"}`` for DARTS, ``{"epoch", "cell"}``
    for NAS-Bench-201) a search writes; *keys* default to the entry's matrices.
    """
    if not history:
        raise ValueError("no epochs recorded yet: the alpha history is empty")
    keys = list(keys) if keys is not None else _matrix_keys(history[0])
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, len(keys), figsize=(5.5 * len(keys), 3.8), sharey=True, squeeze=False)
    axes = axes[0]
    for ax, cell in zip(axes, keys):
        mean = np.array([np.asarray(h[cell]).mean(axis=0) for h in history])  # [epochs, ops]
        for k, p in enumerate(primitives):
            ax.plot(epochs, mean[:, k], marker="o", ms=3, label=p)
        ax.axhline(1 / len(primitives), color="grey", lw=0.6, ls=":")
        ax.set_xlabel("epoch")
        ax.set_title(f"{cell} cell: mean softmax(alpha) over edges" if cell in ("normal", "reduce")
                     else f"{cell}: mean softmax(alpha) over edges")
    axes[0].set_ylabel("weight")
    axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    save_figure(fig, out, title)


def plot_true_accuracy(history: Sequence[dict], source: str, out: str, title: Optional[str] = None) -> None:
    """The derived cell's true accuracy (``true_acc`` of each epoch entry) against the epoch; the line breaks at
    epochs whose cell the ground truth does not hold, which are marked along the x axis."""
    import textwrap

    epochs = [h["epoch"] for h in history]
    values = [np.nan if h.get("true_acc") is None else float(h["true_acc"]) for h in history]
    unknown = [e for e, v in zip(epochs, values) if np.isnan(v)]
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    if len(unknown) < len(epochs):
        ax.plot(epochs, values, marker="o", ms=4, color="#1f77b4", label="derived cell")
    if unknown:
        ax.plot(unknown, [0.03] * len(unknown), "x", color="#d62728", transform=ax.get_xaxis_transform(),
                label="not in the ground truth", clip_on=False)
    ax.set_xlabel("epoch")
    ax.set_ylabel("true accuracy (%)")
    ax.set_xlim(min(epochs, default=0) - 0.5, max(epochs, default=0) + 0.5)
    ax.set_title("\n".join(textwrap.wrap(source, 90)), fontsize=7)
    ax.legend(fontsize=8)
    save_figure(fig, out, title or "true accuracy of the derived cell per epoch")
