"""Draw the normal and reduction cells of a genotype as graphs (matplotlib only, no graphviz)."""

from __future__ import annotations

import os
from typing import Dict, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

from unnas.spaces.darts.genotype import Edge, Genotype  # noqa: E402
from unnas.spaces.plots import draw_op_edge  # noqa: E402

_OP_COLOURS = {
    "none": "#bbbbbb", "max_pool_3x3": "#1f77b4", "avg_pool_3x3": "#17becf", "skip_connect": "#7f7f7f",
    "sep_conv_3x3": "#d62728", "sep_conv_5x5": "#ff7f0e", "sep_conv_7x7": "#8c564b",
    "dil_conv_3x3": "#2ca02c", "dil_conv_5x5": "#9467bd", "conv_7x1_1x7": "#e377c2",
}


_DX = 1.9  # horizontal spacing of the nodes


def _positions(num_nodes: int) -> Dict[int, Tuple[float, float]]:
    pos = {0: (0.0, 1.2), 1: (0.0, -1.2)}
    for k in range(num_nodes):
        pos[k + 2] = (_DX * (1 + k), 1.7 if k % 2 == 0 else -1.7)
    pos[-1] = (_DX * (num_nodes + 1), 0.0)
    return pos


def draw_cell(ax, edges: Sequence[Edge], concat: Sequence[int], title: str) -> None:
    """Draw one cell on a matplotlib axis: inputs left, intermediate nodes in order, output right."""
    n = len(edges) // 2
    pos = _positions(n)
    labels = {0: "$c_{k-2}$", 1: "$c_{k-1}$", -1: "$c_{k}$"}  # mathtext: subscripts, not literal braces
    labels.update({k + 2: str(k) for k in range(n)})
    for t, (op, j) in enumerate(edges):
        dst = t // 2 + 2
        same_source = edges[t ^ 1][1] == j  # the node's other edge reads the same state
        rad = (0.25 if t % 2 == 0 else -0.25) if same_source else 0.12
        draw_op_edge(ax, pos[j], pos[dst], op, _OP_COLOURS.get(op, "black"), rad)
    for s in concat:
        ax.add_patch(FancyArrowPatch(pos[s], pos[-1], arrowstyle="-|>", mutation_scale=10, color="#444444",
                                     lw=0.8, shrinkA=14, shrinkB=14, alpha=0.5))
    for key, (x, y) in pos.items():
        face = "#cfe2f3" if key in (0, 1) else "#d9ead3" if key == -1 else "#fff2cc"
        ax.text(x, y, labels[key], ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.4", fc=face, ec="#333333"))
    ax.set_xlim(-0.8, _DX * (n + 1) + 0.8)
    ax.set_ylim(-2.4, 2.4)
    ax.set_aspect("equal")  # arc3 bends in display space; equal axes keep the labels on their arcs
    ax.set_title(title)
    ax.axis("off")


def draw_genotype(genotype: Genotype, out: Optional[str] = None, title: Optional[str] = None):
    """Draw both cells of *genotype*; save to *out* (format from its suffix: .png, .svg, .pdf) and return the figure."""
    nodes = max(len(genotype.normal), len(genotype.reduce)) // 2
    width = (_DX * (nodes + 1) + 1.6) / 4.8 * 4.2  # keep the axes' aspect ratio at 4.2 inches high
    fig, axes = plt.subplots(2, 1, figsize=(width, 8.6))
    draw_cell(axes[0], genotype.normal, genotype.normal_concat, "normal cell")
    draw_cell(axes[1], genotype.reduce, genotype.reduce_concat, "reduction cell")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if out is not None:
        ext = os.path.splitext(out)[1].lower()
        if ext not in (".png", ".svg", ".pdf"):
            plt.close(fig)
            raise ValueError(f"cannot draw to {out!r}: use a .png, .svg or .pdf file name")
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        fig.savefig(out, dpi=130)
        plt.close(fig)
    return fig
