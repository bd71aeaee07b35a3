"""Small pure helpers for named architecture sets (``NAME:N[:SEED]``), shared by the spaces."""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, TypeVar

from unnas.spaces.base import ArchError

T = TypeVar("T")


def _int(text: str, spec: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ArchError(f"{spec!r}: {text!r} is not an integer") from None
    if value < minimum:
        raise ArchError(f"{spec!r}: {value} is out of range (at least {minimum})")
    return value


def parse_count_seed(spec: str) -> Tuple[int, Optional[int]]:
    """``NAME:N`` -> ``(N, None)``; ``NAME:N:SEED`` -> ``(N, SEED)``; one-line ArchError otherwise."""
    parts = spec.split(":")
    if len(parts) not in (2, 3):
        raise ArchError(f"{spec!r}: expected NAME:N or NAME:N:SEED")
    n = _int(parts[1], spec, 1)
    seed = _int(parts[2], spec, 0) if len(parts) == 3 else None
    return n, seed


def evenly_spaced(items: Sequence[T], n: int) -> List[T]:
    """Every ``len/n``-th item, starting with the first (all items when ``n >= len``)."""
    step = len(items) / n
    return [items[int(i * step)] for i in range(min(n, len(items)))]
