"""Genotypes: DARTS's ``Genotype`` record, strict parsing from every format people exchange, and the registry.

A genotype lists, for the normal and the reduction cell, pairs ``(op_name, input_state)``;
intermediate node ``k`` sums ops ``2k`` and ``2k+1``. States 0 and 1 are the outputs of the two
previous cells, state ``j >= 2`` is intermediate node ``j - 2``. The cell output concatenates the
states listed in ``*_concat``.

Accepted inputs (:func:`load_genotype`): a registered name (``darts_v2``, ``unnas500/00004``), a DARTS
repr string as papers print it, a JSON string, a path to a ``.json`` file, or a ``Genotype``.

Every accepted genotype builds (:mod:`unnas.spaces.darts.networks`): node ``k`` has exactly two inputs, each an
earlier state; ops are known names; a concat lists distinct existing states, and a reduction cell's concat lists
intermediate nodes only (its two inputs keep the previous resolution while its nodes are halved, so DARTS's
``torch.cat`` of both would fail). Text is read within fixed bounds (:data:`MAX_TEXT_CHARS`, :data:`MAX_RANGE`).
"""

from __future__ import annotations

import ast
import json
import os
from functools import lru_cache
from importlib import resources
from typing import Any, Dict, List, NamedTuple, Sequence, Tuple, Union

from unnas.spaces.base import ArchError
from unnas.spaces.darts.ops import OPS

Edge = Tuple[str, int]


class GenotypeError(ArchError):
    """A genotype that cannot be parsed or is not a valid cell description; the message is one line."""


class Genotype(NamedTuple):
    """DARTS's genotype, with DARTS's field names; sequences are stored as tuples so genotypes hash and compare."""

    normal: Tuple[Edge, ...]
    normal_concat: Tuple[int, ...]
    reduce: Tuple[Edge, ...]
    reduce_concat: Tuple[int, ...]

    def __repr__(self) -> str:  # the format papers print, which `parse_genotype` reads back
        return format_genotype(self)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "normal": [[op, j] for op, j in self.normal],
            "normal_concat": list(self.normal_concat),
            "reduce": [[op, j] for op, j in self.reduce],
            "reduce_concat": list(self.reduce_concat),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


GenotypeLike = Union[str, "os.PathLike[str]", Genotype, Dict[str, Any]]

_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")

#: longest genotype text read (DARTS's cells print in about 400 characters)
MAX_TEXT_CHARS = 65536
#: most intermediate nodes a cell may have (DARTS's cells have 4; every node adds two ops to each of the network's
#: cells, so a genotype of thousands of nodes would need gigabytes)
MAX_NODES = 16
#: most states a ``range(...)`` in genotype text may list (a concat lists at most every state of its cell once)
MAX_RANGE = 64


def _show(value: Any, limit: int = 60) -> str:
    """*value*'s repr for an error message, shortened to about *limit* characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _check_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise GenotypeError(f"{what} must be an integer, got {_show(value)}")
    return value


def _edges(value: Any, cell: str) -> Tuple[Edge, ...]:
    if not isinstance(value, (list, tuple)):
        raise GenotypeError(f"'{cell}' must be a list of (op, input) pairs, got {type(value).__name__}")
    n = len(value)
    if n == 0 or n % 2:
        raise GenotypeError(f"'{cell}' has {n} edges; a cell needs 2 edges per node (an even number, at least 2)")
    if n > 2 * MAX_NODES:
        raise GenotypeError(f"'{cell}' has {n // 2:,} nodes; a cell may have at most {MAX_NODES} (DARTS's have 4): "
                            "every node adds ops to each of the network's cells")
    edges = []
    for t, pair in enumerate(value):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise GenotypeError(f"{cell} edge {t} must be an (op, input) pair, got {_show(pair)}")
        op, j = pair
        if not isinstance(op, str) or op not in OPS:
            raise GenotypeError(f"unknown op {_show(op)} in {cell} edge {t}; known ops: {', '.join(sorted(OPS))}")
        j = _check_int(j, f"{cell} edge {t} input")
        node = t // 2
        if not 0 <= j < node + 2:
            raise GenotypeError(
                f"{cell} edge {t} (node {node}) reads state {_show(j)}; node {node} can read states 0..{node + 1}"
            )
        edges.append((op, j))
    return tuple(edges)


def _concat(value: Any, field: str, num_nodes: int, reduction: bool) -> Tuple[int, ...]:
    # a range is checked lazily: the first out-of-range or repeated state ends even a huge one
    if not isinstance(value, (list, tuple, range)) or not value:
        raise GenotypeError(f"'{field}' must be a non-empty list of state indices, got {_show(value)}")
    seen = set()
    for v in value:
        v = _check_int(v, f"{field} entry")
        if not 0 <= v < num_nodes + 2:
            raise GenotypeError(f"'{field}' lists state {_show(v)}; this cell has states 0..{num_nodes + 1}")
        if reduction and v < 2:
            raise GenotypeError(
                f"'{field}' lists state {v}, an input of the reduction cell: the inputs keep the previous resolution "
                f"while its nodes are halved, so they cannot be concatenated; list only its nodes, "
                f"states 2..{num_nodes + 1}")
        if v in seen:
            raise GenotypeError(f"'{field}' lists state {v} twice; list each state once")
        seen.add(v)
    return tuple(value)


def make_genotype(normal: Any, normal_concat: Any, reduce: Any, reduce_concat: Any) -> Genotype:
    """Validate the four parts and build a :class:`Genotype`; raises :class:`GenotypeError`."""
    n = _edges(normal, "normal")
    r = _edges(reduce, "reduce")
    return Genotype(n, _concat(normal_concat, "normal_concat", len(n) // 2, False),
                    r, _concat(reduce_concat, "reduce_concat", len(r) // 2, True))


def genotype_from_dict(d: Any) -> Genotype:
    """A genotype from a mapping with DARTS's four field names, or UnNAS's 4-element ``CUSTOM_GENOTYPE`` list."""
    if isinstance(d, dict) and "genotype" in d and "normal" not in d and isinstance(d["genotype"], (dict, list)):
        d = d["genotype"]  # {"genotype": {...}, ...}: a genotype with its run's record around it
    if isinstance(d, (list, tuple)) and len(d) == 4:
        return make_genotype(*d)
    if not isinstance(d, dict):
        raise GenotypeError(f"a genotype must be an object with keys {', '.join(_FIELDS)}, got {type(d).__name__}")
    missing = [f for f in _FIELDS if f not in d]
    if missing:
        raise GenotypeError(f"genotype is missing {', '.join(missing)}")
    return make_genotype(*(d[f] for f in _FIELDS))


def _range(args: List[Any], source: str) -> List[int]:
    """``list(range(*args))`` for at most :data:`MAX_RANGE` states; one-line :class:`GenotypeError` otherwise."""
    r = range(*args)
    try:
        n = len(r)
    except OverflowError:  # longer than sys.maxsize
        n = None
    if n is None or n > MAX_RANGE:
        count = "more than 2**63" if n is None else f"{n:,}"
        raise GenotypeError(f"{source[:60]} lists {count} states; a concat lists each state of its cell at most once, "
                            f"so a range may hold at most {MAX_RANGE}")
    return list(r)


def _literal(node: ast.AST, text: str) -> Any:
    """Evaluate the few literal forms a printed genotype uses: lists, tuples, str, int, range(a, b[, s])."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        value = _literal(node.operand, text)
        if isinstance(value, int):
            return -value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(e, text) for e in node.elts]
    source = ast.get_source_segment(text, node) or type(node).__name__
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range" and not node.keywords:
        args = [_literal(a, text) for a in node.args]
        if 1 <= len(args) <= 3 and all(isinstance(a, int) for a in args) and (len(args) < 3 or args[2] != 0):
            return _range(args, source)
    raise GenotypeError(f"unexpected expression {_show(source)} in genotype text")


def _reason(e: BaseException) -> str:
    """Why Python's parser or JSON decoder refused the text, in one line."""
    if "integer string conversion" in str(e):  # an int of more than sys.get_int_max_str_digits() digits
        return "an integer thousands of digits long (state indices are small integers)"
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _parse_repr(text: str) -> Genotype:
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as e:
        raise GenotypeError(f"genotype text is not valid Genotype(...) syntax: {_reason(e)}") from None
    call = tree.body
    if not (isinstance(call, ast.Call) and isinstance(call.func, (ast.Name, ast.Attribute))):
        raise GenotypeError("genotype text must look like Genotype(normal=[...], normal_concat=..., reduce=[...], reduce_concat=...)")
    name = call.func.id if isinstance(call.func, ast.Name) else call.func.attr
    if name != "Genotype":
        raise GenotypeError(f"expected Genotype(...), got {_show(name)}(...)")
    if len(call.args) + len(call.keywords) != 4 or len(call.args) > 4:
        raise GenotypeError("Genotype(...) needs exactly normal, normal_concat, reduce and reduce_concat")
    values: Dict[str, Any] = {}
    try:
        for field, arg in zip(_FIELDS, call.args):
            values[field] = _literal(arg, text)
        for kw in call.keywords:
            if kw.arg not in _FIELDS:
                raise GenotypeError(f"unknown Genotype field {kw.arg!r}; fields are {', '.join(_FIELDS)}")
            if kw.arg in values:
                raise GenotypeError(f"Genotype field {kw.arg!r} given twice")
            values[kw.arg] = _literal(kw.value, text)
    except RecursionError:
        raise GenotypeError("genotype text is nested too deeply; a genotype is lists of (op, input) pairs") from None
    return genotype_from_dict(values)


def parse_genotype(text: str) -> Genotype:
    """Parse genotype *text*: a DARTS repr (``Genotype(normal=[...], ...)``) or a JSON object/list, of at most
    :data:`MAX_TEXT_CHARS` characters."""
    if not isinstance(text, str):
        raise GenotypeError(f"genotype text must be a string, got {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise GenotypeError(f"genotype text is longer than {MAX_TEXT_CHARS:,} characters; a DARTS genotype prints "
                            "in about 400")
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(stripped)
        except (ValueError, RecursionError) as e:  # JSONDecodeError, an int too long to convert, deep nesting
            raise GenotypeError(f"genotype JSON is malformed: {_reason(e)}") from None
        if isinstance(data, dict) and "genotype" in data and isinstance(data["genotype"], (dict, list)):
            data = data["genotype"]
        return genotype_from_dict(data)
    return _parse_repr(stripped)


def format_genotype(g: Genotype) -> str:
    """DARTS's printed form. A concat of every intermediate node prints as ``range(2, n + 2)``, as DARTS's
    search logs print it; any other concat prints as a list, as DARTS's ``genotypes.py`` writes NASNet's."""

    def concat(c: Sequence[int], edges: Sequence[Edge]) -> str:
        n = len(edges) // 2
        if list(c) == list(range(2, n + 2)):
            return f"range(2, {n + 2})"
        return repr(list(c))

    def edges(es: Sequence[Edge]) -> str:
        return "[" + ", ".join(f"({op!r}, {j})" for op, j in es) + "]"

    return (
        f"Genotype(normal={edges(g.normal)}, normal_concat={concat(g.normal_concat, g.normal)}, "
        f"reduce={edges(g.reduce)}, reduce_concat={concat(g.reduce_concat, g.reduce)})"
    )


# --------------------------------------------------------------------------------------------- registry

SAMPLED_PREFIX = "unnas500/"


@lru_cache(maxsize=None)
def _registry() -> Dict[str, Tuple[Genotype, str]]:
    data = resources.files("unnas.spaces.darts") / "data"
    reg: Dict[str, Tuple[Genotype, str]] = {}
    named = json.loads((data / "unnas_searched_genotypes.json").read_text())
    for key, entry in named["genotypes"].items():
        if entry.get("unnas_searched"):
            about = f"UnNAS search: {entry['search_task']} on {entry['search_dataset']}"
        else:
            about = f"published {entry['python_name']} cell"
        reg[key] = (genotype_from_dict(entry), about)
    sampled = json.loads((data / "unnas_darts_archs.json").read_text())
    for entry in sampled["archs"]:
        reg[SAMPLED_PREFIX + entry["id"]] = (genotype_from_dict(entry), "UnNAS sample-based study architecture")
    return reg


def registered_names(include_sampled: bool = True) -> List[str]:
    """Registered genotype names: the published ones, then (optionally) ``unnas500/<id>`` for the 500 study archs."""
    return [k for k in _registry() if include_sampled or not k.startswith(SAMPLED_PREFIX)]


def describe(name: str) -> str:
    """One line on where a registered genotype comes from."""
    return _registry()[name][1]


def get_genotype(name: str) -> Genotype:
    """A registered genotype by name (case-insensitive; ``DARTS`` means ``darts_v2`` as in DARTS's code)."""
    key = name.strip().lower()
    key = {"darts": "darts_v2"}.get(key, key)
    reg = _registry()
    if key not in reg:
        hint = "`unnas arch list` shows the registry"
        raise GenotypeError(f"no registered genotype named {name!r}; {hint}")
    return reg[key][0]


def load_genotype(spec: GenotypeLike) -> Genotype:
    """Resolve anything that names a genotype: a Genotype, a dict, a registered name, genotype text, or a .json file."""
    if isinstance(spec, Genotype):  # a Genotype(...) built in Python has not been validated yet
        checked = make_genotype(*spec)
        return spec if checked == spec else checked
    if isinstance(spec, dict):
        return genotype_from_dict(spec)
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if not isinstance(spec, str):
        raise GenotypeError(f"cannot read a genotype from {type(spec).__name__}")
    text = spec.strip()
    if not text:
        raise GenotypeError("empty genotype; give a registered name, Genotype(...) text, JSON, or a .json file")
    if os.path.isfile(text):  # a path that exists is always a file, whatever its name looks like
        try:
            with open(text, encoding="utf-8-sig") as f:
                return parse_genotype(f.read(MAX_TEXT_CHARS + 1))
        except UnicodeDecodeError:
            raise GenotypeError(f"genotype file {text!r} is not UTF-8 text") from None
        except OSError as e:
            raise GenotypeError(f"cannot read genotype file {text!r}: {e.strerror}") from None
    if text.startswith(("{", "[", "Genotype")) or "(" in text:
        return parse_genotype(text)
    if text.endswith(".json") or os.path.sep in text and not text.startswith(SAMPLED_PREFIX):
        raise GenotypeError(f"genotype file {text!r} does not exist")
    return get_genotype(text)


def save_genotype(g: Genotype, path: Union[str, "os.PathLike[str]"]) -> None:
    """Write *g* as JSON (DARTS field names), readable by :func:`load_genotype`."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(g.to_dict(), f, indent=1)
        f.write("\n")
