"""NAS-Bench-201 cells: the architecture type, its notations, enumeration and sampling.

A cell has 4 nodes (0 = input, 3 = output) and one edge ``i -> j`` for every ``i < j``; node ``j`` sums its
incoming edges. :class:`NB201Cell` holds the 6 edge ops in the order of NAS-Bench-201's arch string,
``(1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2)``::

    |op(0->1)~0|+|op(0->2)~0|op(1->2)~1|+|op(0->3)~0|op(1->3)~1|op(2->3)~2|

Notations read by :func:`parse_cell` (surrounding whitespace is ignored, nothing else is):

- the arch string above, exactly: 3 node groups joined by ``+``, group ``j`` lists ``op~i`` for ``i = 0..j-1`` in
  that order, every op one of :data:`~unnas.spaces.nb201.ops.PRIMITIVES` (write ``none~i`` for a missing edge);
- NASLib's op-index tuple ``(i0, i1, i2, i3, i4, i5)`` (the keys of NASLib's NAS-Bench-201 tables): index ``k``
  names ``NASLIB_OPS[k]`` and tuple position ``p`` is NASLib edge ``((1,2),(1,3),(1,4),(2,3),(2,4),(3,4))[p]``
  (NASLib's nodes 1..4 are NAS-Bench-201's nodes 0..3), so the arch-string slots take the tuple positions
  ``0, 1, 3, 2, 4, 5`` (NASLib's ``convert_op_indices_to_str``); a JSON list of the 6 indices is read the same way;
- JSON: ``{"space": "nb201", "arch": "<arch string>"}`` (what :func:`cell_to_dict` writes) or
  ``{"space": "nb201", "naslib": [6 ints]}``; other keys (``id``, ``name``) are ignored.

Every rejection is a one-line :class:`~unnas.spaces.base.ArchError` that names the problem and the fix.

Enumeration: :func:`enumerate_cells` lists all 5^6 = 15,625 cells by :func:`cell_index`, the base-5 number whose
digits are the slots' op positions in ``PRIMITIVES`` with the first slot (``1<-0``) most significant. This is the
order of the official ``Structure.gen_all(NAS_BENCH_201, 4)``; it is not the benchmark API's architecture index.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, NamedTuple, Tuple

import numpy as np

from unnas.spaces.base import ArchError, json_value, small_int
from unnas.spaces.nb201.ops import PRIMITIVES

#: ``(to, from)`` node pairs of the 6 edges in arch-string order.
EDGES: Tuple[Tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NUM_EDGES = len(EDGES)
NUM_CELLS = len(PRIMITIVES) ** NUM_EDGES  # 15,625
#: NASLib's op indices (``Identity, Zero, ReLUConvBN3x3, ReLUConvBN1x1, AvgPool``).
NASLIB_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
#: arch-string slot s holds NASLib tuple position ``NASLIB_POSITIONS[s]`` (a swap of 2 and 3: its own inverse).
NASLIB_POSITIONS = (0, 1, 3, 2, 4, 5)

_KNOWN = ", ".join(PRIMITIVES)
_TEMPLATE = "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|"
_NASLIB_CODES = ", ".join(f"{k} {op}" for k, op in enumerate(NASLIB_OPS))
_DIGITS = re.compile(r"[0-9]+")


class NB201Cell(NamedTuple):
    """A NAS-Bench-201 cell: the ops of edges ``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2``.

    ``str(cell)`` and ``repr(cell)`` give the arch string; build one from text with :func:`parse_cell`.
    """

    op_1_0: str
    op_2_0: str
    op_2_1: str
    op_3_0: str
    op_3_1: str
    op_3_2: str

    def __str__(self) -> str:
        return "+".join("|" + "|".join(f"{self[s]}~{j}" for s, (i, j) in enumerate(EDGES) if i == node) + "|"
                        for node in (1, 2, 3))

    __repr__ = __str__

    @property
    def edges(self) -> List[Tuple[str, int, int]]:
        """``(op, from, to)`` of the 6 edges in arch-string order."""
        return [(op, j, i) for op, (i, j) in zip(self, EDGES)]

    @property
    def nodes(self) -> Tuple[Tuple[Tuple[str, int], ...], ...]:
        """Per node 1..3 its ``(op, from)`` pairs, as the official ``Structure.nodes``."""
        return tuple(tuple((op, j) for op, (i, j) in zip(self, EDGES) if i == node) for node in (1, 2, 3))


def _show(text: Any, limit: int = 60) -> str:
    """A user-supplied fragment for an error message: quoted and escaped (never a line break), shortened."""
    text = str(text)
    return repr(text if len(text) <= limit else text[:limit] + "...")


def check_cell(cell: Any) -> NB201Cell:
    """*cell* as an :class:`NB201Cell` after checking its ops; one-line :class:`ArchError` otherwise."""
    if not isinstance(cell, tuple) or len(cell) != NUM_EDGES:
        raise ArchError(f"a NAS-Bench-201 cell needs 6 edge ops, got {type(cell).__name__}")
    for s, op in enumerate(cell):
        if not isinstance(op, str) or op not in PRIMITIVES:
            i, j = EDGES[s]
            raise ArchError(f"unknown op {_show(op)} on edge {j}->{i}; known ops: {_KNOWN}")
    return cell if type(cell) is NB201Cell else NB201Cell(*cell)


def format_cell(cell: Any) -> str:
    """The arch string of *cell* (``parse_cell(format_cell(c)) == c``)."""
    return str(check_cell(cell))


# ------------------------------------------------------------------------------------------------ parsing
def _parse_arch_string(text: str) -> NB201Cell:
    groups = text.split("+")
    if len(groups) != 3:
        raise ArchError(f"a NAS-Bench-201 arch string has 3 node groups joined by '+', got {len(groups)}; "
                        f"write {_TEMPLATE}")
    ops: List[str] = []
    for node, group in enumerate(groups, 1):
        if len(group) < 2 or not (group.startswith("|") and group.endswith("|")):
            raise ArchError(f"malformed group {_show(group)} for node {node}: write each group as |op~0|...| with a "
                            f"'|' before and after every edge, e.g. {_TEMPLATE}")
        entries = group[1:-1].split("|")
        if any(not e for e in entries):
            raise ArchError(f"malformed group {_show(group)} for node {node}: empty edge between '|' separators "
                            f"(write {_TEMPLATE})")
        if len(entries) != node:
            raise ArchError(f"node {node} has {len(entries)} edge(s) in {_show(group)} but needs {node}, one from each "
                            f"of nodes 0..{node - 1} in order (write none~i for a missing edge)")
        for k, entry in enumerate(entries):
            parts = entry.split("~")
            if len(parts) != 2 or not parts[0]:
                raise ArchError(f"malformed edge {_show(entry)} in node {node}'s group: write op~i (e.g. nor_conv_3x3~{k})")
            op, src = parts
            if not _DIGITS.fullmatch(src):
                raise ArchError(f"edge {_show(entry)} of node {node}: the source {_show(src)} is not a node number "
                                f"(write {op if op in PRIMITIVES else 'op'}~{k})")
            if op not in PRIMITIVES:
                raise ArchError(f"unknown op {_show(op)} in edge {_show(entry)} of node {node}; known ops: {_KNOWN}")
            if small_int(src, f"the source of edge {_show(entry)} of node {node}") != k:
                where = (f"node {node} can only read nodes 0..{node - 1}" if int(src) >= node
                         else f"node {node}'s edges must come in source order 0..{node - 1}")
                raise ArchError(f"edge {_show(entry)} is at position {k} of node {node} and must read node {k}, not "
                                f"{int(src)} ({where}; write {op}~{k})")
            ops.append(op)
    return NB201Cell(*ops)


def _naslib_index(value: Any, position: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= int(value) < len(NASLIB_OPS):
        raise ArchError(f"NASLib op index {_show(value)} at position {position} is not one of 0..4 ({_NASLIB_CODES})")
    return int(value)


def from_naslib(seq: Any) -> NB201Cell:
    """A cell from NASLib's op-index tuple: a sequence of 6 ints or its text ``(i0, ..., i5)``."""
    if isinstance(seq, str):
        return _parse_naslib_text(seq.strip())
    if isinstance(seq, np.ndarray):
        seq = seq.tolist()
    if not isinstance(seq, (list, tuple)):
        raise ArchError(f"NASLib op indices must be a list of 6 ints, got {type(seq).__name__}")
    if len(seq) != NUM_EDGES:
        raise ArchError(f"NASLib op indices need 6 entries (i0, ..., i5), got {len(seq)}")
    idx = [_naslib_index(v, p) for p, v in enumerate(seq)]
    return NB201Cell(*(NASLIB_OPS[idx[NASLIB_POSITIONS[s]]] for s in range(NUM_EDGES)))


def to_naslib(cell: Any) -> Tuple[int, ...]:
    """NASLib's op-index tuple of *cell* (``str()`` of it is NASLib's table key)."""
    cell = check_cell(cell)
    return tuple(NASLIB_OPS.index(cell[NASLIB_POSITIONS[p]]) for p in range(NUM_EDGES))


def _parse_naslib_text(text: str) -> NB201Cell:
    if not (text.startswith("(") and text.endswith(")")):
        raise ArchError(f"a NASLib op-index tuple is written (i0, i1, i2, i3, i4, i5), got {_show(text)}")
    items = text[1:-1].split(",")
    if len(items) != NUM_EDGES:
        raise ArchError(f"a NASLib op-index tuple needs 6 comma-separated entries (i0, ..., i5), got {len(items)}")
    values = []
    for p, item in enumerate(items):
        item = item.strip()
        if not _DIGITS.fullmatch(item) or len(item) > 3:
            raise ArchError(f"NASLib op index {_show(item)} at position {p} is not one of 0..4 ({_NASLIB_CODES})")
        values.append(int(item))
    return from_naslib(values)


def cell_to_dict(cell: Any) -> Dict[str, Any]:
    """``{"space": "nb201", "arch": "<arch string>"}``."""
    return {"space": "nb201", "arch": format_cell(cell)}


def cell_from_dict(obj: Any) -> NB201Cell:
    """A cell from a decoded JSON value: the object :func:`cell_to_dict` writes or ``{"naslib": [...]}`` (with an
    optional ``"space": "nb201"``), an arch string, or a list of 6 NASLib op indices."""
    if isinstance(obj, NB201Cell):
        return check_cell(obj)
    if isinstance(obj, str):
        return _parse_arch_string(obj.strip())
    if isinstance(obj, (list, tuple)):
        return from_naslib(list(obj))
    if not isinstance(obj, dict):
        raise ArchError(f"a NAS-Bench-201 JSON architecture is an object {{\"space\": \"nb201\", \"arch\": ...}}, "
                        f"got {type(obj).__name__}")
    space = obj.get("space", "nb201")
    if space != "nb201":
        raise ArchError(f"this JSON architecture is for space {_show(space)}, not 'nb201'")
    has_arch, has_naslib = "arch" in obj, "naslib" in obj
    if has_arch == has_naslib:
        raise ArchError("a NAS-Bench-201 JSON architecture needs exactly one of 'arch' (the arch string) or 'naslib' "
                        "(6 NASLib op indices)" + ("; it has both" if has_arch else ""))
    if has_arch:
        if not isinstance(obj["arch"], str):
            raise ArchError(f"'arch' must be an arch string like {_TEMPLATE}, got {type(obj['arch']).__name__}")
        return _parse_arch_string(obj["arch"].strip())
    if not isinstance(obj["naslib"], list):
        raise ArchError(f"'naslib' must be a list of 6 ints, got {type(obj['naslib']).__name__}")
    return from_naslib(obj["naslib"])


def parse_cell(text: Any) -> NB201Cell:
    """A cell from an arch string, NASLib's op-index tuple text, or JSON text (see the module docstring)."""
    if isinstance(text, NB201Cell):
        return check_cell(text)
    if not isinstance(text, str):
        raise ArchError(f"cannot read a NAS-Bench-201 cell from a {type(text).__name__}")
    t = text.strip()
    if not t:
        raise ArchError(f"empty NAS-Bench-201 architecture; write an arch string like {_TEMPLATE}")
    if t.startswith("{") or t.startswith("["):
        return cell_from_dict(json_value(t, "invalid JSON"))
    if t.startswith("("):
        return _parse_naslib_text(t)
    if not t.startswith("|"):
        raise ArchError(f"not a NAS-Bench-201 architecture: {_show(t)}; write an arch string like {_TEMPLATE}, a "
                        f"NASLib tuple (i0, ..., i5) or JSON")
    return _parse_arch_string(t)


# ------------------------------------------------------------------------------------------------ the whole space
def cell_index(cell: Any) -> int:
    """Position of *cell* in :func:`enumerate_cells` (base 5, op digit = position in PRIMITIVES, slot 1<-0 first)."""
    index = 0
    for op in check_cell(cell):
        index = index * len(PRIMITIVES) + PRIMITIVES.index(op)
    return index


def cell_from_index(index: int) -> NB201Cell:
    """The cell at *index* of :func:`enumerate_cells`."""
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= int(index) < NUM_CELLS:
        raise ArchError(f"a NAS-Bench-201 cell index is 0..{NUM_CELLS - 1}, got {_show(index)}")
    index, digits = int(index), []
    for _ in range(NUM_EDGES):
        index, d = divmod(index, len(PRIMITIVES))
        digits.append(d)
    return NB201Cell(*(PRIMITIVES[d] for d in reversed(digits)))


def enumerate_cells() -> List[NB201Cell]:
    """All 15,625 cells in index order (see :func:`cell_index`)."""
    return [cell_from_index(i) for i in range(NUM_CELLS)]


def sample_cells(n: int, seed: int = 0) -> List[NB201Cell]:
    """*n* distinct cells, uniformly at random without replacement: the first *n* entries of
    ``numpy.random.default_rng(seed).permutation(15625)`` as cell indices. Every cell is equally likely at every
    position, and the first ``k`` cells of a draw of ``n`` equal the draw of ``k`` with the same seed."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= int(n) <= NUM_CELLS:
        raise ArchError(f"can sample 0..{NUM_CELLS} distinct NAS-Bench-201 cells, asked for {_show(n)}")
    order = np.random.default_rng(seed).permutation(NUM_CELLS)
    return [cell_from_index(int(i)) for i in order[: int(n)]]


def canonical(cell: Any) -> str:
    """A key equal for exactly the cells that NAS-Bench-201 counts as one architecture (6,466 keys over the 15,625).

    The official ``Structure.to_unique_str(consider_zero=True)``: node 0 is ``0``; an edge contributes ``#`` (zero)
    when its op is ``none`` or its source is zero, its source's key for ``skip_connect``, and ``(source)@op``
    otherwise; a node's key is its edges' keys sorted and joined by ``+``; the cell's key is node 3's.
    """
    keys = {0: "0"}
    for node, inputs in enumerate(check_cell(cell).nodes, 1):
        terms = []
        for op, src in inputs:
            if op == "none" or keys[src] == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(keys[src])
            else:
                terms.append(f"({keys[src]})@{op}")
        keys[node] = "+".join(sorted(terms))
    return keys[3]


__all__ = ["NB201Cell", "EDGES", "NUM_CELLS", "NASLIB_OPS", "NASLIB_POSITIONS", "check_cell", "format_cell",
           "parse_cell", "from_naslib", "to_naslib", "cell_to_dict", "cell_from_dict", "cell_index",
           "cell_from_index", "enumerate_cells", "sample_cells", "canonical"]
