"""Draw a NAS-Bench-101 cell: its vertices left to right in matrix order (ops as labels), edges arcing over the
vertices they skip, with matplotlib only."""

from __future__ import annotations

import os
from typing import Any, Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

from unnas.spaces.nb101.cell import parse_cell  # noqa: E402
from unnas.spaces.plots import save_figure  # noqa: E402

OP_COLOURS = {"input": "#cfe2f3", "output": "#d9ead3", "conv3x3-bn-relu": "#f4cccc", "conv1x1-bn-relu": "#d9f2d0",
              "maxpool3x3": "#dae8fc"}
SUFFIXES = (".png", ".svg", ".pdf")
_DX = 1.8


def draw_cell(cell: Any, out: Optional[str] = None, title: Optional[str] = None):
    """Draw *cell* (an :class:`~unnas.spaces.nb101.cell.NB101Cell` or any text ``parse_cell`` reads); save to *out*
    (.png, .svg or .pdf) and close the figure, or return it open when *out* is None."""
    if out is not None and os.path.splitext(out)[1].lower() not in SUFFIXES:
        raise ValueError(f"cannot draw to {out!r}: use a .png, .svg or .pdf file name")
    cell = parse_cell(cell)
    n = cell.num_vertices
    fig, ax = plt.subplots(figsize=(1.6 * n + 1.0, 3.4))
    for i in range(n):
        for j in range(i + 1, n):
            if cell.matrix[i][j]:
                rad = 0.0 if j == i + 1 else -0.35 - 0.05 * (j - i)
                ax.add_patch(FancyArrowPatch((_DX * i, 0.0), (_DX * j, 0.0), connectionstyle=f"arc3,rad={rad}",
                                             arrowstyle="-|>", mutation_scale=12, color="#444444", lw=1.4,
                                             shrinkA=22, shrinkB=22))
    for k, op in enumerate(cell.ops):
        label = op.replace("-bn-relu", "").replace("3x3", " 3x3").replace("1x1", " 1x1").strip()
        ax.text(_DX * k, 0.0, f"{k}\n{label}", ha="center", va="center", fontsize=8,
                bbox=dict(boxstyle="round,pad=0.4", fc=OP_COLOURS.get(op, "white"), ec="#333333"))
    ax.set_xlim(-1.0, _DX * (n - 1) + 1.0)
    ax.set_ylim(-0.8, 0.3 * _DX * n)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title if title else f"NAS-Bench-101 cell, {n} vertices, {cell.num_edges} edges", fontsize=9)
    if out is None:
        fig.tight_layout()
    else:
        save_figure(fig, out, dpi=130)
    return fig


__all__ = ["draw_cell", "OP_COLOURS"]
