"""The NAS-Bench-201 cell space (Dong & Yang, ICLR 2020): cells, ops, the evaluation network, the DARTS supernet,
drawing and :class:`NB201Space`. Ground truth lives in :mod:`unnas.spaces.nb201.benchmark` (imported on use)."""

from unnas.spaces.nb201.cell import (EDGES, NASLIB_OPS, NUM_CELLS, NB201Cell, canonical, cell_from_dict,
                                     cell_from_index, cell_index, cell_to_dict, check_cell, enumerate_cells,
                                     format_cell, from_naslib, parse_cell, sample_cells, to_naslib)
from unnas.spaces.nb201.networks import InferCell, TinyNetwork
from unnas.spaces.nb201.ops import OPS, PRIMITIVES, ResNetBasicblock
from unnas.spaces.nb201.space import NAMED_CELLS, NB201Space, cell_name
from unnas.spaces.nb201.supernet import NB201Supernet, derive_cell


def draw_cell(cell, out=None, title=None):
    """:func:`unnas.spaces.nb201.draw.draw_cell` (imported on first use: it loads matplotlib)."""
    from unnas.spaces.nb201.draw import draw_cell as draw

    return draw(cell, out, title)


__all__ = ["NB201Cell", "EDGES", "NASLIB_OPS", "NUM_CELLS", "PRIMITIVES", "OPS", "ResNetBasicblock", "InferCell",
           "TinyNetwork", "NB201Supernet", "NB201Space", "NAMED_CELLS", "canonical", "cell_from_dict",
           "cell_from_index", "cell_index", "cell_name", "cell_to_dict", "check_cell", "derive_cell", "draw_cell",
           "enumerate_cells", "format_cell", "from_naslib", "parse_cell", "sample_cells", "to_naslib"]
