"""Ground truth for NAS-Bench-101 (Ying et al., ICML 2019): CIFAR-10 accuracies of its cells, queried by hash.

:class:`NB101Table` reads NASLib's zero-cost table ``data/nb101_naslib_zc.json`` (provenance, license and format in
``data/README.md``) or another file in its format. Its 500 rows are 292 distinct cells: NASLib drew specs at random,
and many prune to the same cell. A row's ``val_accuracy`` is one of the cell's three NAS-Bench-101 training runs
(the benchmark's query returns one at random), so the rows of one cell differ by training noise (up to 1.4 points in
the embedded table). The table answers for a cell by its canonical hash (:func:`~unnas.spaces.nb101.cell.cell_hash`),
so any spec isomorphic to a table cell, or pruning to one, finds it; the answer is the mean over the cell's rows.
"""

from __future__ import annotations

import math
import os
from typing import Any, ClassVar, Dict, List, Optional, Tuple

from unnas.spaces.base import ArchError, GroundTruth, load_naslib_table

DEFAULT_TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "nb101_naslib_zc.json")
_TOP = "nasbench101"
_CACHE: Dict[Tuple[str, float, int], Tuple[Dict[str, List[Dict[str, Any]]], List[Any]]] = {}


def _load(path: str, default: bool) -> Tuple[Dict[str, List[Dict[str, Any]]], List[Any]]:
    """``({hash: [rows]}, [cells in first-appearance order])`` of the table's cifar10 entries (cached)."""
    return load_naslib_table(path, benchmark="NAS-Bench-101", naslib_file="zc_nasbench101.json", top_key=_TOP,
                             default=default, cache=_CACHE, build=lambda top, fix: _group(path, top, fix))


def _group(path: str, top: Any, fix: str) -> Tuple[Dict[str, List[Dict[str, Any]]], List[Any]]:
    from unnas.spaces.nb101.cell import cell_hash, parse_cell

    rows = top.get("cifar10") if isinstance(top, dict) else None
    if not isinstance(rows, dict) or not rows:
        raise ArchError(f"{path} is not a NASLib NAS-Bench-101 table (no {_TOP}.cifar10 object); {fix}")
    groups: Dict[str, List[Dict[str, Any]]] = {}
    cells: List[Any] = []
    for text, rec in rows.items():
        try:
            cell = parse_cell(text)
        except ArchError as e:
            raise ArchError(f"{path}: key {text[:40]!r}... is not a NAS-Bench-101 cell ({e}); {fix}") from None
        if not isinstance(rec, dict):
            raise ArchError(f"{path}: the entry of key {text[:40]!r}... is not an object; {fix}")
        h = cell_hash(cell)
        if h not in groups:
            groups[h] = []
            cells.append(cell)
        groups[h].append(rec)
    return groups, cells


class NB101Table(GroundTruth):
    """NAS-Bench-101 CIFAR-10 numbers from a table in NASLib's format; by default the embedded one.

    Args:
        dataset: ``cifar10`` (NAS-Bench-101 trained on CIFAR-10 only).
        path: another file in NASLib's ``zc_nasbench101.json`` format (default: the embedded table).
        metric: the field :meth:`query` returns: ``val_accuracy`` (%, NAS-Bench-101's, 108 epochs) or any numeric
            field (``params`` and ``flops`` in millions, the zero-cost scores ``synflow``, ``jacov``, ...).
    """

    space: ClassVar[str] = "nb101"
    datasets: ClassVar[Tuple[str, ...]] = ("cifar10",)

    def __init__(self, dataset: str = "cifar10", path: Optional[str] = None, metric: str = "val_accuracy"):
        self.path = os.path.abspath(os.fspath(path)) if path is not None else DEFAULT_TABLE
        self.is_default = self.path == DEFAULT_TABLE
        self._groups, self._cells = _load(self.path, self.is_default)
        self.dataset = self._dataset(dataset)
        fields = sorted({k for rs in self._groups.values() for r in rs for k, v in r.items()
                         if isinstance(v, (int, float)) and not isinstance(v, bool)})
        if metric not in fields:
            raise ArchError(f"unknown metric {metric!r} for {self.path}; numeric fields: {', '.join(fields)}")
        self.metric = metric

    @staticmethod
    def _dataset(dataset: Optional[str]) -> str:
        if dataset is None or str(dataset).lower() == "cifar10":
            return "cifar10"
        raise ArchError(f"NAS-Bench-101 has CIFAR-10 accuracies only, not {dataset!r}; use --dataset cifar10")

    def records(self, arch: Any) -> List[Dict[str, Any]]:
        """The table's rows of *arch*'s cell (copies; empty when the table does not hold it)."""
        from unnas.spaces.nb101.cell import cell_hash, parse_cell

        return [dict(r) for r in self._groups.get(cell_hash(parse_cell(arch)), [])]

    def query(self, arch: Any, dataset: Optional[str] = None) -> Optional[float]:
        self._dataset(dataset)
        values = []
        for rec in self.records(arch):
            v = rec.get(self.metric)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(float(v)):
                values.append(float(v))
        return sum(values) / len(values) if values else None

    def coverage(self) -> str:
        name = "NASLib's NAS-Bench-101 table" if self.is_default else f"NASLib-format table {self.path}"
        return (f"{name} ({len(self._cells)} cells in {sum(map(len, self._groups.values()))} rows, "
                f"{self.metric} on cifar10)")

    def explain_missing(self, arch: Any, dataset: Optional[str] = None) -> str:
        return (f"this cell is not in {self.coverage()}; the full benchmark holds all 423,624 cells "
                f"(google-research/nasbench)")

    def archs(self) -> List[Any]:
        """The table's distinct cells, in the order they first appear in the file."""
        return list(self._cells)


__all__ = ["NB101Table", "DEFAULT_TABLE"]
