"""How the numbers of a study report read in its text, and the blocks the text is made of.

A block is a tuple whose first item names its kind: ``("h", level, text)``, ``("p", text)``, ``("ul", items)``,
``("table", head, rows)``, ``("img", file name, alt text)`` and ``("warn", title, items)``. Text may use
Markdown's ``code``, **strong** and *emphasis*; :mod:`unnas.study.report.render` writes blocks as Markdown or
HTML.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Tuple

Block = Tuple[Any, ...]
NONE = "–"  # what a missing number reads as


def pct(v: Optional[float], scale: float, digits: int = 2) -> str:
    """An accuracy in percent (``scale``: 100 for fractions, 1 for percent already)."""
    return NONE if v is None else f"{v * scale:.{digits}f}"


def score(v: Optional[float]) -> str:
    """A training-free ranker's score, compact: ``7.00e+49``, ``-16.07``."""
    if v is None or not math.isfinite(v):
        return NONE
    return f"{v:.2e}" if v != 0 and not 1e-2 <= abs(v) < 1e4 else f"{v:.2f}"


def value(v: Optional[float], scale: float, is_score: bool) -> str:
    """An accuracy in percent, or a ranker's score as it is."""
    return score(v) if is_score else pct(v, scale)


def minutes(v: Optional[float]) -> str:
    """A duration in minutes: one decimal, none (with thousands separators) from 1000 on."""
    return NONE if v is None or not math.isfinite(v) else f"{v:,.0f}" if v >= 1000 else f"{v:.1f}"


def num(v: Optional[float], digits: int = 2) -> str:
    """A number with ``digits`` decimals."""
    return NONE if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def with_ci(s: Mapping[str, Any]) -> str:
    """``0.53 [0.21, 0.78]`` from a statistic with ``value``, ``ci_low``, ``ci_high``."""
    if s["value"] is None:
        return NONE
    if s["ci_low"] is None:
        return num(s["value"])
    return f"{num(s['value'])} [{num(s['ci_low'])}, {num(s['ci_high'])}]"


def size(v: Optional[float], div: float) -> str:
    """A model size divided by ``div`` (1e6: millions), with 3 significant digits below 100."""
    if v is None:
        return NONE
    v = v / div
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"


def rho_ci(p: Optional[Mapping[str, Any]]) -> str:
    """``0.53 [0.21, 0.78]`` from a dict with ``rho`` (or ``value``), ``ci_low``, ``ci_high``."""
    if p is None:
        return NONE
    v = p.get("rho", p.get("value"))
    if v is None:
        return f"not computable: {p['reason']}" if p.get("reason") else NONE
    return num(v) if p.get("ci_low") is None else f"{num(v)} [{num(p['ci_low'])}, {num(p['ci_high'])}]"
