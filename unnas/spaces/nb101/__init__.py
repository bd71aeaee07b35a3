"""The NAS-Bench-101 cell space (Ying et al., ICML 2019) with UnNAS's networks: cells, the network and
:class:`NB101Space`. Ground truth lives in :mod:`unnas.spaces.nb101.benchmark` (imported on use)."""

from unnas.spaces.nb101.cell import (MAX_EDGES, MAX_VERTICES, NASLIB_OPS, OPS, NB101Cell, cell_from_dict, cell_hash,
                                     cell_to_dict, check_cell, format_cell, from_naslib, make_cell, parse_cell,
                                     sample_cells, to_naslib)
from unnas.spaces.nb101.networks import NB101Module, NB101Network, compute_vertex_channels
from unnas.spaces.nb101.space import NB101Space, unnas_cells

__all__ = ["NB101Cell", "NB101Space", "NB101Network", "NB101Module", "OPS", "NASLIB_OPS", "MAX_EDGES",
           "MAX_VERTICES", "cell_from_dict", "cell_hash", "cell_to_dict", "check_cell", "compute_vertex_channels",
           "format_cell", "from_naslib", "make_cell", "parse_cell", "sample_cells", "to_naslib", "unnas_cells"]
