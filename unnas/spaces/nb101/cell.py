"""NAS-Bench-101 cells: the architecture type, validation and pruning, notations, the canonical hash and sampling.

A cell (Ying et al., "NAS-Bench-101", ICML 2019; google-research/nasbench ``model_spec.py``) is a DAG of at most 7
vertices given as an upper-triangular 0/1 adjacency matrix (``matrix[i][j] = 1``: an edge ``i -> j``) and one op
per vertex: vertex 0 is ``input``, the last is ``output`` and every other one is ``conv3x3-bn-relu``,
``conv1x1-bn-relu`` or ``maxpool3x3``. A cell has at most 9 edges and a path from input to output.

:func:`make_cell` checks a spec as the official API's ``is_valid`` does and prunes it as the official
``ModelSpec._prune`` does: vertices that are not on an input -> output path are deleted (their rows and columns, and
their ops), the others keep their order. The 9-edge limit applies to the pruned cell, where ``is_valid`` counts
the matrix as given: edges of deleted vertices change nothing in the network, the pruned cell is a NAS-Bench-101
cell, and NASLib's NAS-Bench-101 table lists specs with up to 16 edges whose pruned cells have at most 9. An :class:`NB101Cell` always holds the pruned spec, so
two specs that differ only in dead vertices are the same cell, and the network is built from it.

Notations read by :func:`parse_cell` (surrounding whitespace is ignored):

- JSON ``{"matrix": [[0, 1, ...], ...], "ops": ["input", ..., "output"]}`` -- the form of NAS-Bench-101's
  ``ModelSpec(matrix, ops)`` and of the UnNAS configs' ``NAS.MATRIX`` / ``NAS.OPS``; ``"space": "nb101"`` is allowed
  and other keys (``id``, ``name``) are ignored. :func:`format_cell` writes this (without ``space``).
- NASLib's key ``(a0, ..., a48, o0, ..., o6)``: the ``V x V`` matrix row by row, then ``V`` op codes
  (:data:`NASLIB_OPS`: 0 input, 1 output, 2 maxpool3x3, 3 conv1x1-bn-relu, 4 conv3x3-bn-relu).

Every rejection is a one-line :class:`~unnas.spaces.base.ArchError` naming the problem and the fix.

The canonical hash (:func:`cell_hash`) is the official ``graph_util.hash_module`` on the pruned spec with the op
labels of ``ModelSpec.hash_spec`` (input -1, output -2, an inner op its index in :data:`OPS`): the MD5 string
NAS-Bench-101's API indexes its cells by. Isomorphic cells (the same graph with the inner vertices renumbered)
get the same hash.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from unnas.spaces.base import ArchError, json_value

INPUT, OUTPUT = "input", "output"
#: the inner ops in NAS-Bench-101's order (``config['available_ops']``); the hash labels an op by its index here
OPS: Tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
MAX_VERTICES = 7
MAX_EDGES = 9
#: NASLib's op codes (the last 7 numbers of its NAS-Bench-101 keys)
NASLIB_OPS: Tuple[str, ...] = (INPUT, OUTPUT, "maxpool3x3", "conv1x1-bn-relu", "conv3x3-bn-relu")

_KNOWN = ", ".join(OPS)
_EXAMPLE = '{"matrix": [[0, 1, 0], [0, 0, 1], [0, 0, 0]], "ops": ["input", "conv3x3-bn-relu", "output"]}'
_NASLIB_CODES = ", ".join(f"{k} {op}" for k, op in enumerate(NASLIB_OPS))
_INT = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class NB101Cell:
    """A pruned NAS-Bench-101 cell: ``matrix`` (rows of 0/1 ints) and ``ops`` (``input``, inner ops, ``output``).

    Build one with :func:`make_cell` (checks and prunes) or :func:`parse_cell`; ``str(cell)`` is its JSON.
    """

    matrix: Tuple[Tuple[int, ...], ...]
    ops: Tuple[str, ...]

    @property
    def num_vertices(self) -> int:
        return len(self.ops)

    @property
    def num_edges(self) -> int:
        return sum(map(sum, self.matrix))

    def array(self) -> np.ndarray:
        """The adjacency matrix as an ``int`` array."""
        return np.array(self.matrix, dtype=np.int64).reshape(self.num_vertices, self.num_vertices)

    def __str__(self) -> str:
        return json.dumps({"matrix": [list(r) for r in self.matrix], "ops": list(self.ops)})

    __repr__ = __str__


def _show(text: Any, limit: int = 60) -> str:
    """A user-supplied fragment for an error message: quoted, escaped, shortened."""
    text = str(text)
    return repr(text if len(text) <= limit else text[:limit] + "...")


# ------------------------------------------------------------------------------------------ checking and pruning
def _as_matrix(matrix: Any) -> List[List[int]]:
    if isinstance(matrix, np.ndarray):
        matrix = matrix.tolist()
    if not isinstance(matrix, (list, tuple)) or not matrix:
        raise ArchError(f"a NAS-Bench-101 matrix is a non-empty list of rows, got {_show(type(matrix).__name__)}; "
                        f"write e.g. {_EXAMPLE}")
    n = len(matrix)
    if n > MAX_VERTICES:
        raise ArchError(f"the matrix has {n} vertices but NAS-Bench-101 cells have at most {MAX_VERTICES} "
                        f"(input, up to 5 ops, output)")
    rows = []
    for i, row in enumerate(matrix):
        if isinstance(row, np.ndarray):
            row = row.tolist()
        if not isinstance(row, (list, tuple)) or len(row) != n:
            got = len(row) if isinstance(row, (list, tuple)) else type(row).__name__
            raise ArchError(f"the matrix must be square: row {i} has {got} entries, expected {n}")
        out = []
        for j, v in enumerate(row):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) not in (0, 1):
                raise ArchError(f"matrix entry [{i}][{j}] is {_show(v)}; entries are 0 or 1")
            out.append(int(v))
        rows.append(out)
    for i in range(n):
        for j in range(i + 1):
            if rows[i][j]:
                raise ArchError(f"the matrix must be upper-triangular (edges go from a lower to a higher vertex), "
                                f"but entry [{i}][{j}] is 1")
    return rows


def _check_ops(ops: Any, n: int) -> List[str]:
    if isinstance(ops, np.ndarray):
        ops = ops.tolist()
    if not isinstance(ops, (list, tuple)):
        raise ArchError(f"NAS-Bench-101 ops are a list of op names, got {type(ops).__name__}")
    if len(ops) != n:
        raise ArchError(f"the cell has {n} vertices but {len(ops)} ops; give one op per vertex")
    for k, op in enumerate(ops):
        if not isinstance(op, str):
            raise ArchError(f"op {k} is {_show(op)}, not an op name; inner ops: {_KNOWN}")
    if ops[0] != INPUT:
        raise ArchError(f"the first op must be 'input', got {_show(ops[0])}")
    if ops[-1] != OUTPUT:
        raise ArchError(f"the last op must be 'output', got {_show(ops[-1])}")
    for k, op in enumerate(ops[1:-1], 1):
        if op not in OPS:
            raise ArchError(f"unknown op {_show(op)} at vertex {k}; inner ops: {_KNOWN}")
    return list(ops)


def _live_vertices(rows: List[List[int]]) -> List[int]:
    """The vertices on an input -> output path (``ModelSpec._prune``: reachable from 0 and reaching the last)."""
    n = len(rows)
    forward, frontier = {0}, [0]
    while frontier:
        top = frontier.pop()
        for v in range(top + 1, n):
            if rows[top][v] and v not in forward:
                forward.add(v)
                frontier.append(v)
    backward, frontier = {n - 1}, [n - 1]
    while frontier:
        top = frontier.pop()
        for v in range(top):
            if rows[v][top] and v not in backward:
                backward.add(v)
                frontier.append(v)
    return sorted(forward & backward)


def make_cell(matrix: Any, ops: Any) -> NB101Cell:
    """The pruned cell of the spec ``(matrix, ops)``, checked as NAS-Bench-101's API does; one-line ArchError."""
    rows = _as_matrix(matrix)
    n = len(rows)
    if n < 2:
        raise ArchError("a NAS-Bench-101 cell needs at least the input and the output vertex")
    names = _check_ops(ops, n)
    live = _live_vertices(rows)
    if 0 not in live:
        raise ArchError("no path from the input to the output: the output does not depend on the input; "
                        "connect them through the matrix")
    cell = NB101Cell(tuple(tuple(rows[i][j] for j in live) for i in live), tuple(names[i] for i in live))
    if cell.num_edges > MAX_EDGES:
        raise ArchError(f"the cell has {cell.num_edges} edges on its input -> output paths but NAS-Bench-101 allows "
                        f"at most {MAX_EDGES}; remove {cell.num_edges - MAX_EDGES}")
    return cell


def check_cell(cell: Any) -> NB101Cell:
    """*cell* checked and pruned (an :class:`NB101Cell` made by hand is checked again)."""
    if not isinstance(cell, NB101Cell):
        raise ArchError(f"not a NAS-Bench-101 cell: {type(cell).__name__}")
    checked = make_cell(cell.matrix, cell.ops)
    if checked != cell:
        raise ArchError("this NAS-Bench-101 cell is not pruned; build it with make_cell")
    return cell


# ------------------------------------------------------------------------------------------ notations
def cell_to_dict(cell: Any) -> Dict[str, Any]:
    """``{"space": "nb101", "matrix": [...], "ops": [...]}``."""
    cell = check_cell(cell)
    return {"space": "nb101", "matrix": [list(r) for r in cell.matrix], "ops": list(cell.ops)}


def format_cell(cell: Any) -> str:
    """The JSON text ``{"matrix": ..., "ops": ...}`` of *cell* (``parse_cell(format_cell(c)) == c``)."""
    return str(check_cell(cell))


def from_naslib(values: Sequence[int]) -> NB101Cell:
    """A cell from NASLib's key numbers: ``V*V`` matrix entries row by row, then ``V`` op codes."""
    values = list(values)
    n = next((v for v in range(1, MAX_VERTICES + 2) if v * v + v == len(values)), None)
    if n is None:
        raise ArchError(f"a NASLib NAS-Bench-101 key holds V*V matrix entries and V op codes (56 for 7 vertices), "
                        f"got {len(values)} numbers")
    codes = values[n * n:]
    for k, c in enumerate(codes):
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= int(c) < len(NASLIB_OPS):
            raise ArchError(f"NASLib op code {_show(c)} at vertex {k} is not one of 0..4 ({_NASLIB_CODES})")
    matrix = [values[i * n:(i + 1) * n] for i in range(n)]
    return make_cell(matrix, [NASLIB_OPS[int(c)] for c in codes])


def to_naslib(cell: Any) -> Tuple[int, ...]:
    """NASLib's key numbers of *cell* (its pruned matrix and ops)."""
    cell = check_cell(cell)
    return tuple(v for row in cell.matrix for v in row) + tuple(NASLIB_OPS.index(op) for op in cell.ops)


def _parse_naslib_text(text: str) -> NB101Cell:
    if not (text.startswith("(") and text.endswith(")")):
        raise ArchError(f"a NASLib key is written (a0, ..., a48, o0, ..., o6), got {_show(text)}")
    items = [s.strip() for s in text[1:-1].split(",")]
    if items and items[-1] == "":
        items.pop()
    for k, item in enumerate(items):
        if not _INT.fullmatch(item) or len(item) > 3:
            raise ArchError(f"entry {k} of the NASLib key, {_show(item)}, is not a small non-negative integer")
    return from_naslib([int(s) for s in items])


def cell_from_dict(obj: Any) -> NB101Cell:
    """A cell from a decoded JSON value: ``{"matrix": ..., "ops": ...}`` (``"space": "nb101"`` allowed)."""
    if isinstance(obj, NB101Cell):
        return check_cell(obj)
    if not isinstance(obj, dict):
        raise ArchError(f"a NAS-Bench-101 JSON architecture is an object {_EXAMPLE}, got {type(obj).__name__}")
    space = obj.get("space", "nb101")
    if space != "nb101":
        raise ArchError(f"this JSON architecture is for space {_show(space)}, not 'nb101'")
    missing = [k for k in ("matrix", "ops") if k not in obj]
    if missing:
        raise ArchError(f"a NAS-Bench-101 JSON architecture needs 'matrix' and 'ops'; it lacks {' and '.join(missing)} "
                        f"(write {_EXAMPLE})")
    return make_cell(obj["matrix"], obj["ops"])


def parse_cell(text: Any) -> NB101Cell:
    """A cell from JSON text or a NASLib key (see the module docstring)."""
    if isinstance(text, NB101Cell):
        return check_cell(text)
    if isinstance(text, dict):
        return cell_from_dict(text)
    if not isinstance(text, str):
        raise ArchError(f"cannot read a NAS-Bench-101 cell from a {type(text).__name__}")
    t = text.strip()
    if not t:
        raise ArchError(f"empty NAS-Bench-101 architecture; write JSON like {_EXAMPLE}")
    if t.startswith("{"):
        return cell_from_dict(json_value(t, "invalid JSON"))
    if t.startswith("("):
        return _parse_naslib_text(t)
    raise ArchError(f"not a NAS-Bench-101 architecture: {_show(t)}; write JSON like {_EXAMPLE}, a NASLib key "
                    f"(a0, ..., o6) or a registered name (unnas arch list --space nb101)")


# ------------------------------------------------------------------------------------------ hash and sampling
def hash_module(matrix: np.ndarray, labeling: Sequence[int]) -> str:
    """NAS-Bench-101's graph hash (``graph_util.hash_module``): MD5 of the sorted vertex hashes after ``V`` rounds
    of hashing each vertex with its sorted in- and out-neighbours' hashes, starting from (out-degree, in-degree,
    label). Equal for isomorphic labelled graphs."""
    matrix = np.asarray(matrix)
    n = matrix.shape[0]
    in_edges = np.sum(matrix, axis=0).tolist()
    out_edges = np.sum(matrix, axis=1).tolist()
    hashes = [hashlib.md5(str(h).encode("utf-8")).hexdigest() for h in zip(out_edges, in_edges, labeling)]
    for _ in range(n):
        hashes = [hashlib.md5(("".join(sorted(hashes[w] for w in range(n) if matrix[w, v])) + "|"
                               + "".join(sorted(hashes[w] for w in range(n) if matrix[v, w])) + "|"
                               + hashes[v]).encode("utf-8")).hexdigest() for v in range(n)]
    return hashlib.md5(str(sorted(hashes)).encode("utf-8")).hexdigest()


def cell_hash(cell: Any) -> str:
    """The canonical hash of *cell*: NAS-Bench-101's ``ModelSpec.hash_spec(available_ops)`` (the benchmark's key)."""
    cell = check_cell(cell)
    labeling = [-1] + [OPS.index(op) for op in cell.ops[1:-1]] + [-2]
    return hash_module(cell.array(), labeling)


def sample_cells(n: int, seed: int = 0) -> List[NB101Cell]:
    """*n* cells, distinct up to isomorphism (by :func:`cell_hash`), drawn from ``numpy.random.default_rng(seed)``.

    Each draw is the NAS-Bench-101 paper's random spec (the official ``random_spec``): a 7x7 matrix of fair coin
    flips kept above the diagonal, and each of the 5 inner vertices' ops uniform over :data:`OPS`; a draw with more
    than 9 edges or no input -> output path is rejected and drawn again, and a valid one is pruned. Draws isomorphic
    to an earlier one are skipped, so the first ``k`` cells of a draw of ``n`` are the draw of ``k``.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= int(n) <= 100_000:
        raise ArchError(f"can sample 0..100000 NAS-Bench-101 cells at a time, asked for {_show(n)}")
    rng = np.random.default_rng(seed)
    cells: List[NB101Cell] = []
    seen = set()
    while len(cells) < int(n):
        matrix = np.triu(rng.integers(0, 2, size=(MAX_VERTICES, MAX_VERTICES)), 1)
        ops = [INPUT] + [OPS[int(k)] for k in rng.integers(0, len(OPS), size=MAX_VERTICES - 2)] + [OUTPUT]
        if int(matrix.sum()) > MAX_EDGES or 0 not in _live_vertices(matrix.tolist()):
            continue
        cell = make_cell(matrix, ops)
        key = cell_hash(cell)
        if key not in seen:
            seen.add(key)
            cells.append(cell)
    return cells


__all__ = ["NB101Cell", "INPUT", "OUTPUT", "OPS", "MAX_VERTICES", "MAX_EDGES", "NASLIB_OPS", "make_cell",
           "check_cell", "cell_to_dict", "cell_from_dict", "format_cell", "parse_cell", "from_naslib", "to_naslib",
           "hash_module", "cell_hash", "sample_cells"]
