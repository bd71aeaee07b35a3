"""Ground truth for NAS-Bench-201 (Dong & Yang, ICLR 2020): trained accuracies of its cells.

Two sources, both :class:`~unnas.spaces.base.GroundTruth`:

- :class:`NB201Table` -- the embedded default: NASLib's zero-cost table ``data/nb201_naslib_zc.json``, 491 of the
  15,625 cells with NAS-Bench-201's accuracies on cifar10, cifar100 and ImageNet16-120 plus ``params``, ``flops``
  and NASLib's zero-cost proxy scores (provenance, license and format in ``data/README.md``). Any file in the same
  NASLib format can be read with ``path``.
- :class:`NB201API` -- every cell, for users who have a full benchmark file: NAS-Bench-201's
  ``NAS-Bench-201-v1_1-096897.pth`` through the ``nas-bench-201`` package (module ``nas_201_api``) or NATS-Bench's
  topology benchmark (``NATS-tss-v1_0-3ffb9-simple`` directory or ``.pickle.pbz2`` file) through ``nats_bench``.
  Both packages are optional (``pip install nas-bench-201 nats_bench``) and imported only when used.

Architectures are NAS-Bench-201 arch strings,
``|op(0->1)~0|+|op(0->2)~0|op(1->2)~1|+|op(0->3)~0|op(1->3)~1|op(2->3)~2|``, or any object whose ``str()`` is one.
Both classes take only ``str`` / ``Optional[str]`` / ``Literal`` arguments, so LightningCLI builds them from YAML
(``class_path: unnas.spaces.nb201.benchmark.NB201Table``).
"""

from __future__ import annotations

import copy
import math
import os
from typing import Any, ClassVar, Dict, List, Literal, Optional, Tuple

from unnas.spaces.base import ArchError, GroundTruth, load_naslib_table

#: NAS-Bench-201's op names in its own order (``cell_operations.py``, ``NAS_BENCH_201``)
NB201_OPS: Tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: the number of cells in NAS-Bench-201 (5 ops ** 6 edges)
NB201_SIZE = 5 ** 6

#: NASLib's op index k -> NAS-Bench-201 op name (NASLib: Identity, Zero, ReLUConvBN3x3, ReLUConvBN1x1, AvgPool)
_NASLIB_OPS: Tuple[str, ...] = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
#: arch-string slot s (edges 0->1, 0->2, 1->2, 0->3, 1->3, 2->3) takes NASLib tuple position _SLOT_TO_POS[s]
#: (NASLib's edges ((1,2),(1,3),(1,4),(2,3),(2,4),(3,4)), its nodes 1..4 being NAS-Bench-201's 0..3)
_SLOT_TO_POS: Tuple[int, ...] = (0, 1, 3, 2, 4, 5)

DEFAULT_TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "nb201_naslib_zc.json")
_TABLE_TOP = "nasbench201"
_TABLE_NAME = "NASLib's zero-cost table"

_UNITS = {"val_accuracy": "%", "params": "millions", "flops": "millions"}


# ------------------------------------------------------------------------------------------ notation helpers
def _arch_text(arch: Any) -> str:
    """The arch string of *arch* (a string, or an object whose ``str()`` is one), stripped."""
    return (arch if isinstance(arch, str) else str(arch)).strip()


def _parse_arch_str(text: str) -> Tuple[str, ...]:
    """The six op names of an NAS-Bench-201 arch string, in slot order; one-line :class:`ArchError` otherwise."""
    groups = text.split("+")
    if len(groups) != 3:
        raise ArchError(f"not a NAS-Bench-201 arch string (expected 3 '+'-separated node groups): {text!r}")
    ops: List[str] = []
    for node, group in enumerate(groups, start=1):
        if not (group.startswith("|") and group.endswith("|")) or len(group) < 2:
            raise ArchError(f"not a NAS-Bench-201 arch string (node {node} group must be '|op~i|...'): {text!r}")
        entries = group[1:-1].split("|")
        if len(entries) != node:
            raise ArchError(f"not a NAS-Bench-201 arch string (node {node} needs {node} inputs, got "
                            f"{len(entries)}): {text!r}")
        for src, entry in enumerate(entries):
            op, sep, idx = entry.partition("~")
            if not sep or idx != str(src):
                raise ArchError(f"not a NAS-Bench-201 arch string (node {node} entry {entry!r} should be "
                                f"'op~{src}'): {text!r}")
            if op not in NB201_OPS:
                raise ArchError(f"unknown NAS-Bench-201 op {op!r} in {text!r}; ops: {', '.join(NB201_OPS)}")
            ops.append(op)
    return tuple(ops)


def _format_arch_str(ops: Tuple[str, ...]) -> str:
    """The arch string of six op names in slot order."""
    return "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*ops)


def _naslib_key_to_arch_str(key: str) -> str:
    """NASLib's op-index key ``"(i0, ..., i5)"`` as an NAS-Bench-201 arch string."""
    body = key.strip()
    if not (body.startswith("(") and body.endswith(")")):
        raise ValueError(f"not a NASLib NAS-Bench-201 key: {key!r}")
    try:
        idx = [int(p) for p in body[1:-1].split(",")]
    except ValueError:
        raise ValueError(f"not a NASLib NAS-Bench-201 key: {key!r}") from None
    if len(idx) != 6 or not all(0 <= i < len(_NASLIB_OPS) for i in idx):
        raise ValueError(f"not a NASLib NAS-Bench-201 key: {key!r}")
    return _format_arch_str(tuple(_NASLIB_OPS[idx[pos]] for pos in _SLOT_TO_POS))


def _arch_str_to_naslib_key(text: str) -> str:
    """An NAS-Bench-201 arch string as NASLib's op-index key ``"(i0, ..., i5)"`` (Python tuple formatting)."""
    ops = _parse_arch_str(text)
    idx = [0] * 6
    for slot, pos in enumerate(_SLOT_TO_POS):
        idx[pos] = _NASLIB_OPS.index(ops[slot])
    return str(tuple(idx))


def _canonical(arch: Any) -> str:
    """*arch* as a checked arch string (one-line :class:`ArchError` when it is not one)."""
    text = _arch_text(arch)
    return _format_arch_str(_parse_arch_str(text))


def _one_line(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def _benchmark_dataset(names: Dict[str, str], dataset: str) -> str:
    """The benchmark's name for *dataset* (any case) from *names*; one-line ArchError listing the valid names."""
    name = names.get(dataset, names.get(str(dataset).lower()))
    if name is None:
        valid = [k for k in names if k == k.lower()]
        raise ArchError(f"unknown NAS-Bench-201 dataset {dataset!r}; valid: {', '.join(valid)} (or ImageNet16-120)")
    return name


# ------------------------------------------------------------------------------------------ the NASLib table
_TABLE_DATASETS: Dict[str, str] = {"cifar10": "cifar10", "cifar100": "cifar100",
                                   "imagenet16-120": "ImageNet16-120", "ImageNet16-120": "ImageNet16-120"}

#: loaded tables by (real path, mtime, size): {dataset: {arch string: record}} plus the key order
_TABLE_CACHE: Dict[Tuple[str, float, int], Tuple[Dict[str, Dict[str, Dict[str, Any]]], List[str]]] = {}


def _load_table(path: str, default: bool) -> Tuple[Dict[str, Dict[str, Dict[str, Any]]], List[str]]:
    return load_naslib_table(path, benchmark="NAS-Bench-201", naslib_file="zc_nasbench201.json", top_key=_TABLE_TOP,
                             default=default, cache=_TABLE_CACHE, build=lambda top, fix: _index_table(path, top, fix))


def _index_table(path: str, top: Any, fix: str) -> Tuple[Dict[str, Dict[str, Dict[str, Any]]], List[str]]:
    if not isinstance(top, dict) or not top:
        raise ArchError(f"{path} is not a NASLib NAS-Bench-201 table (no {_TABLE_TOP!r} object of datasets); {fix}")
    tables: Dict[str, Dict[str, Dict[str, Any]]] = {}
    for ds, cells in top.items():
        if not isinstance(cells, dict):
            raise ArchError(f"{path} is not a NASLib NAS-Bench-201 table ({_TABLE_TOP}.{ds} is not an object); {fix}")
        table: Dict[str, Dict[str, Any]] = {}
        for key, rec in cells.items():
            try:
                arch = _naslib_key_to_arch_str(key)
            except ValueError:
                raise ArchError(f"{path} is not a NASLib NAS-Bench-201 table (key {key!r} in {ds} is not an "
                                f"op-index tuple of 6 ints in 0..4); {fix}") from None
            if not isinstance(rec, dict):
                raise ArchError(f"{path} is not a NASLib NAS-Bench-201 table (entry {key} in {ds} is not an "
                                f"object); {fix}")
            table[arch] = rec
        tables[ds] = table
    # the key order: the first dataset's, then cells only other datasets hold
    order: List[str] = []
    seen: set = set()
    for table in tables.values():
        for a in table:
            if a not in seen:
                seen.add(a)
                order.append(a)
    return tables, order


class NB201Table(GroundTruth):
    """NAS-Bench-201 accuracies from a table in NASLib's format; by default the embedded 491-cell table.

    Args:
        dataset: ``cifar10``, ``cifar100`` or ``imagenet16-120`` (also spelt ``ImageNet16-120``).
        path: another file in NASLib's ``zc_nasbench201.json`` format (default: the embedded table).
        metric: the field :meth:`query` returns: ``val_accuracy`` (%, NAS-Bench-201's) or any numeric field of the
            table (``params``, ``flops``, ``synflow``, ``jacov``, ...).
        match: ``"exact"`` answers only for the table's own cells; ``"isomorphic"`` (default) also answers for a cell
            that computes the same function as table cells (NAS-Bench-201's ``to_unique_str(consider_zero=True)``:
            the same graph once ``none`` edges and unused nodes are dropped), with the mean of those cells' values.
            NAS-Bench-201 trained isomorphic cells separately, so their accuracies differ by training noise only
            (within 0.7 points in this table); this lifts the embedded table's coverage from 491 to 5,496 cells.
    """

    space: ClassVar[str] = "nb201"
    datasets: ClassVar[Tuple[str, ...]] = ("cifar10", "cifar100", "ImageNet16-120")

    def __init__(self, dataset: str = "cifar10", path: Optional[str] = None, metric: str = "val_accuracy",
                 match: Literal["exact", "isomorphic"] = "isomorphic"):
        if match not in ("exact", "isomorphic"):
            raise ArchError(f"unknown match {match!r}; use 'exact' or 'isomorphic'")
        self.match = match
        self.path = os.path.abspath(os.fspath(path)) if path is not None else DEFAULT_TABLE
        self.is_default = path is None or self.path == DEFAULT_TABLE
        self._tables, self._order = _load_table(self.path, self.is_default)
        self.dataset = self._dataset(dataset)
        fields = sorted({k for t in self._tables.values() for r in t.values() for k, v in r.items()
                         if isinstance(v, (int, float)) and not isinstance(v, bool)})
        if metric not in fields:
            raise ArchError(f"unknown metric {metric!r} for {self.path}; numeric fields: {', '.join(fields)}")
        self.metric = metric

    # ---------------------------------------------------------------------------------------- names
    def _dataset(self, dataset: Optional[str]) -> str:
        if dataset is None:
            return self.dataset
        name = _benchmark_dataset(_TABLE_DATASETS, dataset)
        if name not in self._tables:
            raise ArchError(f"{self.path} has no {name} table; it has: {', '.join(self._tables)}")
        return name

    @property
    def source(self) -> str:
        return _TABLE_NAME if self.is_default else f"NASLib-format table {self.path}"

    # ---------------------------------------------------------------------------------------- queries
    def record(self, arch: Any, dataset: Optional[str] = None) -> Optional[Dict[str, Any]]:
        """All fields of *arch*'s row (a copy), or ``None`` when the table does not hold it."""
        rec = self._tables[self._dataset(dataset)].get(_canonical(arch))
        return copy.deepcopy(rec) if rec is not None else None

    def _value(self, rec: Optional[Dict[str, Any]]) -> Optional[float]:
        value = None if rec is None else rec.get(self.metric)
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        value = float(value)
        return None if math.isnan(value) else value

    def _isomorphic(self, ds: str) -> Dict[str, List[str]]:
        """canonical form -> the table's arch strings with that form (cached per dataset)."""
        cache = self.__dict__.setdefault("_iso_cache", {})
        if ds not in cache:
            from unnas.spaces.nb201.cell import canonical, parse_cell

            groups: Dict[str, List[str]] = {}
            for text in self._tables[ds]:
                groups.setdefault(canonical(parse_cell(text)), []).append(text)
            cache[ds] = groups
        return cache[ds]

    def lookup(self, arch: Any, dataset: Optional[str] = None) -> Tuple[Optional[float], str]:
        """``(value, how)``: how is ``"exact"``, ``"isomorphic to K table cells"`` or ``"not covered"``."""
        ds = self._dataset(dataset)
        text = _canonical(arch)
        rec = self._tables[ds].get(text)
        if rec is not None:
            value = self._value(rec)
            return value, "exact" if value is not None else "not covered"
        if self.match == "isomorphic":
            from unnas.spaces.nb201.cell import canonical, parse_cell

            values = [v for v in (self._value(self._tables[ds][t])
                                  for t in self._isomorphic(ds).get(canonical(parse_cell(text)), [])) if v is not None]
            if values:
                return sum(values) / len(values), f"isomorphic to {len(values)} table cell{'s' * (len(values) > 1)}"
        return None, "not covered"

    def query(self, arch: Any, dataset: Optional[str] = None) -> Optional[float]:
        """*arch*'s ``metric`` on *dataset* (default: this table's dataset); ``None`` when not covered (see *match*)."""
        return self.lookup(arch, dataset)[0]

    def __contains__(self, arch: Any) -> bool:
        try:
            return _canonical(arch) in self._tables[self.dataset]
        except ArchError:
            return False

    def __len__(self) -> int:
        return len(self._tables[self.dataset])

    def archs(self) -> List[str]:
        """The arch strings of this dataset's rows, in the file's key order."""
        return [a for a in self._order if a in self._tables[self.dataset]]

    def covered_count(self) -> int:
        """How many of the 15,625 cells :meth:`query` answers for (the table's own, or with their isomorphs)."""
        if self.match == "exact":
            return len(self)
        if "_covered" not in self.__dict__:
            from unnas.spaces.nb201.cell import canonical, enumerate_cells

            keys = self._isomorphic(self.dataset)
            self._covered = sum(1 for c in enumerate_cells() if canonical(c) in keys)
        return self._covered

    def coverage(self) -> str:
        unit = _UNITS.get(self.metric)
        what = f"{self.metric} ({unit})" if unit else self.metric
        iso = ""
        if self.match == "isomorphic":
            iso = f"; {self.covered_count():,} with the cells isomorphic to them"
        return f"{self.source}: {len(self):,} of {NB201_SIZE:,} NAS-Bench-201 cells{iso}, {self.dataset} {what}"

    def explain_missing(self, arch: Any, dataset: Optional[str] = None) -> str:
        """One line on why :meth:`query` gives ``None`` for *arch* (or that it does not)."""
        ds = self._dataset(dataset)
        try:
            text = _canonical(arch)
        except ArchError as e:
            return str(e)
        n = len(self._tables[ds])
        rec = self._tables[ds].get(text)
        value, how = self.lookup(text, ds)
        if rec is None and value is not None:
            return f"{text} is covered by {self.source} ({ds} {self.metric} = {value:g}, {how})"
        if rec is None:
            iso = " nor isomorphic to one" if self.match == "isomorphic" else ""
            return (f"{text} is not among the {n:,} cells of {self.source}{iso} ({n:,} of {NB201_SIZE:,} NAS-Bench-201 cells, {ds}); "
                    "for every cell point --benchmark (or the ground truth's path) at NAS-Bench-201-v1_1-096897.pth "
                    "or NATS-Bench's topology file")
        if self.query(text, ds) is None:
            return f"{text} is in {self.source} but has no numeric {self.metric} for {ds}"
        return f"{text} is covered by {self.source} ({ds} {self.metric} = {self.query(text, ds):g})"

    def __repr__(self) -> str:
        return (f"NB201Table(dataset={self.dataset!r}, path={self.path!r}, metric={self.metric!r}, "
                f"match={self.match!r})")


# ------------------------------------------------------------------------------------------ the benchmark APIs
#: our dataset names -> the benchmark's (``get_more_info``'s ``dataset``)
_API_DATASETS: Dict[str, str] = {"cifar10-valid": "cifar10-valid", "cifar10": "cifar10", "cifar100": "cifar100",
                                 "imagenet16-120": "ImageNet16-120", "ImageNet16-120": "ImageNet16-120"}
#: metric -> the key of ``get_more_info``'s dict
_API_METRICS: Dict[str, str] = {"test": "test-accuracy", "valid": "valid-accuracy", "train": "train-accuracy",
                                "valtest": "valtest-accuracy"}
_API_HPS = ("12", "200")
_PIP = "pip install nas-bench-201 nats_bench  (or: pip install 'unnas[nb201]')"


def _auto_api(path: str) -> str:
    """Which package reads *path*: NATS-Bench for its directory or ``.pickle.pbz2`` files, NAS-Bench-201 otherwise."""
    base = os.path.basename(os.path.normpath(path))
    if os.path.isdir(path) or base.endswith(".pickle.pbz2") or base.startswith("NATS-"):
        return "nats_bench"
    return "nas_201_api"


def _load_api(path: str, which: str) -> Tuple[Any, str]:
    """The benchmark API object for *path* and a label ``"<module> <version>"``."""
    if which == "nats_bench":
        try:
            import nats_bench
        except ImportError:
            raise ArchError(f"reading {path} needs NATS-Bench's API: {_PIP}") from None
        label = f"nats_bench {getattr(nats_bench, 'version', lambda: '?')()}"
        try:
            # fast_mode=True reads a '-simple' archive directory lazily; a single file needs fast_mode=False
            api = nats_bench.create(path, "tss", fast_mode=os.path.isdir(path), verbose=False)
        except Exception as e:  # noqa: BLE001 - the package raises assorted types
            raise ArchError(f"cannot load {path} with {label} (topology/tss): {_one_line(e)}") from None
        return api, label
    try:
        import nas_201_api
    except ImportError:
        raise ArchError(f"reading {path} needs NAS-Bench-201's API: {_PIP}") from None
    label = f"nas_201_api {getattr(nas_201_api, 'NAS_BENCH_201_API_VERSION', '?')}"
    try:
        api = nas_201_api.NASBench201API(path, verbose=False)
    except Exception as e:  # noqa: BLE001
        raise ArchError(f"cannot load {path} with {label}: {_one_line(e)}") from None
    return api, label


class NB201API(GroundTruth):
    """NAS-Bench-201 accuracies of every cell from a full benchmark file, through the official API packages.

    Args:
        path: ``NAS-Bench-201-v1_1-096897.pth`` (package ``nas-bench-201``), or NATS-Bench's topology benchmark:
            the ``NATS-tss-v1_0-3ffb9-simple`` directory (read lazily) or ``NATS-tss-v1_0-3ffb9-full`` file
            (package ``nats_bench``).
        dataset: ``cifar10-valid`` (trained on CIFAR-10's train half), ``cifar10`` (train+valid), ``cifar100`` or
            ``imagenet16-120`` (also ``ImageNet16-120``).
        metric: ``test``, ``valid``, ``train`` or ``valtest`` accuracy (%) as ``get_more_info`` names them
            (``test-accuracy`` ...); ``cifar10`` has no ``valid`` (use ``cifar10-valid``).
        hp: training schedule, ``"200"`` (the benchmark's 200 epochs) or ``"12"``.
        api: which package reads *path*; ``auto``: ``nats_bench`` for a directory or a ``NATS-*`` /
            ``.pickle.pbz2`` file, ``nas_201_api`` otherwise.

    Values are averaged over the benchmark's trials (``is_random=False``) at the last epoch (``iepoch=None``).
    """

    space: ClassVar[str] = "nb201"
    datasets: ClassVar[Tuple[str, ...]] = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")

    def __init__(self, path: str, dataset: str = "cifar10", metric: str = "test", hp: str = "200",
                 api: Literal["auto", "nas_201_api", "nats_bench"] = "auto"):
        self._settings(path, dataset, metric, hp, api)
        if not os.path.exists(self.path):
            raise ArchError(f"NAS-Bench-201 benchmark file {self.path} does not exist; download "
                            "NAS-Bench-201-v1_1-096897.pth or NATS-Bench's NATS-tss-v1_0-3ffb9-simple and pass its path")
        which = _auto_api(self.path) if api == "auto" else api
        if which not in ("nas_201_api", "nats_bench"):
            raise ArchError(f"unknown api {api!r}; valid: auto, nas_201_api, nats_bench")
        self._api, self.api_label = _load_api(self.path, which)

    @classmethod
    def from_api(cls, api_object: Any, dataset: str = "cifar10", metric: str = "test", hp: str = "200",
                 path: str = "<in-memory>", label: str = "in-memory API") -> "NB201API":
        """An adapter around an already created benchmark API object (``NASBench201API`` or NATS-Bench's
        ``NATStopology``), e.g. one shared with other code."""
        self = cls.__new__(cls)
        self._settings(path, dataset, metric, hp, "auto")
        self._api, self.api_label = api_object, label
        return self

    def _settings(self, path: str, dataset: str, metric: str, hp: str, api: str) -> None:
        self.path = os.path.abspath(os.fspath(path)) if not str(path).startswith("<") else str(path)
        self.api = api
        hp = str(hp)
        if hp not in _API_HPS:
            raise ArchError(f"unknown NAS-Bench-201 hp {hp!r}; valid: {', '.join(_API_HPS)} (training epochs)")
        self.hp = hp
        key = _API_METRICS.get(metric, metric if metric in _API_METRICS.values() else None)
        if key is None:
            raise ArchError(f"unknown NAS-Bench-201 metric {metric!r}; valid: {', '.join(_API_METRICS)}")
        self.metric = metric
        self._metric_key = key
        self.dataset = self._dataset(dataset)

    def _dataset(self, dataset: Optional[str]) -> str:
        if dataset is None:
            return self.dataset
        name = _benchmark_dataset(_API_DATASETS, dataset)
        if name == "cifar10" and self._metric_key == "valid-accuracy":
            raise ArchError("NAS-Bench-201 trains cifar10 on train+valid, so it has no valid accuracy; "
                            "use dataset cifar10-valid")
        if name in ("cifar10", "cifar10-valid") and self._metric_key == "valtest-accuracy":
            raise ArchError("valtest accuracy exists only for cifar100 and ImageNet16-120; use test or valid")
        return name

    # ---------------------------------------------------------------------------------------- queries
    def index(self, arch: Any) -> int:
        """The benchmark's index of *arch* (``query_index_by_arch``), -1 when it does not know it."""
        return int(self._api.query_index_by_arch(_canonical(arch)))

    def info(self, arch: Any, dataset: Optional[str] = None) -> Optional[Dict[str, Any]]:
        """``get_more_info``'s dict for *arch* (trial mean, last epoch, this ``hp``), ``None`` when not covered."""
        ds = self._dataset(dataset)
        idx = self.index(arch)
        if idx < 0:
            return None
        try:
            return self._api.get_more_info(idx, ds, iepoch=None, hp=self.hp, is_random=False)
        except (KeyError, ValueError, AssertionError, IndexError):
            return None

    def query(self, arch: Any, dataset: Optional[str] = None) -> Optional[float]:
        """*arch*'s ``metric`` accuracy (%) on *dataset* (default: this object's); ``None`` when not covered."""
        info = self.info(arch, dataset)
        if info is None:
            return None
        value = info.get(self._metric_key)
        if value is None:
            raise ArchError(f"{self.api_label} gives no {self._metric_key} for {self._dataset(dataset)}; "
                            f"it gives: {', '.join(k for k in info if k.endswith('accuracy'))}")
        return float(value)

    def record(self, arch: Any, dataset: Optional[str] = None) -> Optional[Dict[str, Any]]:
        """Same as :meth:`info` (the name :class:`NB201Table` uses)."""
        return self.info(arch, dataset)

    def __len__(self) -> int:
        return len(self._api)

    def archs(self) -> List[str]:
        """The benchmark's arch strings in index order."""
        return [self._api[i] for i in range(len(self._api))]

    def coverage(self) -> str:
        return (f"NAS-Bench-201 via {self.api_label} ({os.path.basename(self.path)}): {len(self):,} of "
                f"{NB201_SIZE:,} cells, {self.dataset} {self.metric} accuracy (%), {self.hp} epochs")

    def explain_missing(self, arch: Any, dataset: Optional[str] = None) -> str:
        """One line on why :meth:`query` gives ``None`` for *arch* (or that it does not)."""
        ds = self._dataset(dataset)
        try:
            text = _canonical(arch)
        except ArchError as e:
            return str(e)
        idx = int(self._api.query_index_by_arch(text))
        if idx < 0:
            return f"{text} is not in {self.api_label}'s benchmark {os.path.basename(self.path)} ({len(self):,} cells)"
        try:
            info = self._api.get_more_info(idx, ds, iepoch=None, hp=self.hp, is_random=False)
        except Exception as e:  # noqa: BLE001
            return f"{text} (index {idx}) has no {ds} results for hp {self.hp} in {self.api_label}: {_one_line(e)}"
        return f"{text} (index {idx}) is covered: {ds} {self._metric_key} = {info.get(self._metric_key)}"

    def __repr__(self) -> str:
        return (f"NB201API(path={self.path!r}, dataset={self.dataset!r}, metric={self.metric!r}, hp={self.hp!r}, "
                f"api={self.api!r})")
