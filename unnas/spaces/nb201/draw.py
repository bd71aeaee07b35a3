"""Draw a NAS-Bench-201 cell: nodes 0 (input) to 3 (output) left to right, the 6 edges labelled with their ops
(``none`` dotted), with matplotlib only."""

from __future__ import annotations

import os
from typing import Any, Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from unnas.spaces.plots import draw_op_edge, save_figure  # noqa: E402

from unnas.spaces.nb201.cell import parse_cell  # noqa: E402

OP_COLOURS = {
    "none": "#999999", "skip_connect": "#555555", "nor_conv_1x1": "#2ca02c", "nor_conv_3x3": "#d62728",
    "avg_pool_3x3": "#1f77b4",
}
SUFFIXES = (".png", ".svg", ".pdf")
_DX = 2.2  # horizontal spacing of the nodes
#: bend of an edge by how many nodes it skips (sign = side); arc3's curve peaks at 0.5 * rad * length
_RAD = {(1, 0): 0.0, (2, 1): 0.0, (3, 2): 0.0, (2, 0): -0.45, (3, 1): 0.45, (3, 0): -0.55}


def check_suffix(out: str) -> None:
    """ValueError unless *out* ends in .png, .svg or .pdf."""
    if os.path.splitext(out)[1].lower() not in SUFFIXES:
        raise ValueError(f"cannot draw to {out!r}: use a .png, .svg or .pdf file name")


def draw_cell(cell: Any, out: Optional[str] = None, title: Optional[str] = None):
    """Draw *cell* (an :class:`~unnas.spaces.nb201.cell.NB201Cell` or any text ``parse_cell`` reads); save to *out*
    (format from its suffix: .png, .svg, .pdf) and close the figure, or return it open when *out* is None."""
    if out is not None:
        check_suffix(out)
    cell = parse_cell(cell)
    pos = {k: (_DX * k, 0.0) for k in range(4)}
    fig, ax = plt.subplots(figsize=(8.0, 3.2))
    for op, j, i in cell.edges:
        rad = _RAD[(i, j)]
        draw_op_edge(ax, pos[j], pos[i], op, OP_COLOURS.get(op, "black"), rad, shrink=16, fontsize=8, label_alpha=0.9)
    labels = {0: "0 (in)", 1: "1", 2: "2", 3: "3 (out)"}
    for k, (x, y) in pos.items():
        face = "#cfe2f3" if k == 0 else "#d9ead3" if k == 3 else "#fff2cc"
        ax.text(x, y, labels[k], ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.4", fc=face, ec="#333333"))
    ax.set_xlim(-0.9, _DX * 3 + 0.9)
    ax.set_ylim(-1.5, 2.1)
    ax.set_aspect("equal")  # arc3 bends in display space; equal axes keep the labels on their arcs
    ax.axis("off")
    ax.set_title(title if title else str(cell), fontsize=8 if not title else None)
    if out is None:
        fig.tight_layout()
    else:
        save_figure(fig, out, dpi=130)
    return fig


__all__ = ["draw_cell", "OP_COLOURS"]
