"""Search spaces: one folder per space, each behind the :class:`~unnas.spaces.base.SearchSpace` seam.

``unnas.spaces.darts`` (the DARTS cell space), ``unnas.spaces.nb201`` (NAS-Bench-201) and ``unnas.spaces.nb101``
(NAS-Bench-101, for training and ranking: no supernet); the pieces every space
shares are here: the one-shot machinery of the supernets (:mod:`~unnas.spaces.oneshot`: the supernet interface, the
mixed op, op weights, partial channels and edge betas), complexity counting (:mod:`~unnas.spaces.complexity`) and
the exact performance switches (:mod:`~unnas.spaces.speedups`); output heads live with the objectives
(:mod:`~pretext_tasks.heads`).
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Optional, Tuple

from unnas.spaces.base import (ArchError, DatasetSpec, GroundTruth, SearchSpace, Supernet, detect_space, json_value,
                               register_space, space_class, space_names)
from unnas.spaces.darts.space import DartsSpace
from unnas.spaces.nb201.space import NB201Space
from unnas.spaces.nb101.space import NB101Space
from unnas.spaces.speedups import Speedups


def resolve_space(spec: Any, space: Optional[SearchSpace] = None) -> SearchSpace:
    """*space* if given, else a default-shaped instance of the space *spec* belongs to."""
    return space if space is not None else detect_space(spec)()


def read_arch_lines(lines: Iterable[str], source: str, space: Optional[SearchSpace] = None
                    ) -> Iterator[Tuple[str, SearchSpace, Any]]:
    """``(label, space, arch)`` for each non-empty, non-comment line: a JSON object (labelled by its ``id`` or
    ``name``; as ``unnas arch sample`` writes) or any architecture spec (labelled by itself when short). Without
    *space* each line's space is recognised from the line. Errors name the line, in one line."""
    spaces = {}
    for lineno, line in enumerate(lines, 1):
        text = line.strip().lstrip("\ufeff")
        if not text or text.startswith("#"):
            continue
        try:
            label = text if len(text) < 80 else f"{source}:{lineno}"
            spec: Any = text
            if text.startswith("{"):
                data = json_value(text, "invalid JSON")
                if not isinstance(data, dict):
                    raise ArchError("a JSON line must be an object")
                label = str(data.get("id") or data.get("name") or f"{source}:{lineno}")
                spec = data
            if space is not None:
                sp = space
            else:
                cls = detect_space(spec)
                sp = spaces.setdefault(cls.name, cls())
            yield label, sp, sp.load(spec)
        except ArchError as e:
            raise ArchError(f"{source} line {lineno}: {e}") from None


__all__ = ["ArchError", "DatasetSpec", "GroundTruth", "SearchSpace", "Supernet", "DartsSpace", "NB201Space", "NB101Space",
           "Speedups", "detect_space", "register_space", "space_class", "space_names", "resolve_space",
           "read_arch_lines"]
