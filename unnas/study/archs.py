"""The architectures of a study and the space they belong to: named sets and files resolved to ``(id, JSON)``, and
the check that a training config builds networks of the study's space."""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

from unnas.errors import UserError
from unnas.spaces import read_arch_lines
from unnas.spaces.base import DEFAULT_SPACE, ArchError, space_class, space_names
from unnas.study.config_keys import SPACE_KEY, model_args
from unnas.study.store import StudyError


def resolve_archs(spec: str, space: Optional[str] = None) -> List[Tuple[str, str]]:
    """``[(id, architecture JSON), ...]`` of :func:`resolve_arch_set`."""
    return resolve_arch_set(spec, space)[1]


def arch_sets_help() -> str:
    """Every space's named architecture sets, for help texts and errors: ``name: sets; ...``."""
    return "; ".join(f"{n}: {space_class(n)().arch_set_help()}" for n in space_names())


def top_ranked(path: str, k: int, by: Optional[str] = None) -> List[str]:
    """The *k* architectures of a ``unnas rank --json`` output file (``--out``) with the highest score *by* (the
    file's only score column when ``None``), best first; ties keep the file's order."""
    import json
    import math

    if k < 1:
        raise StudyError(f"--top must be at least 1, got {k}")
    try:
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        raise StudyError(f"--top reads the JSON lines of `unnas rank --json`; {path}: {e}") from None
    if not rows or not all(isinstance(r, dict) and "genotype" in r for r in rows):
        raise StudyError(f"--top reads the JSON lines of `unnas rank --json`; {path} holds none")
    scores = [c for c in rows[0] if c != "genotype"]
    if by is None:
        if len(scores) != 1:
            raise StudyError(f"{path} holds the scores {', '.join(scores)}; choose one with --by")
        by = scores[0]
    if by not in scores:
        raise StudyError(f"{path} has no {by!r} scores; it has {', '.join(scores)}")
    valued = [(r[by], i, r["genotype"]) for i, r in enumerate(rows)
              if isinstance(r.get(by), (int, float)) and math.isfinite(r[by])]
    valued.sort(key=lambda t: (-t[0], t[1]))
    return [str(label) for _, _, label in valued[:k]]


def resolve_arch_set(spec: str, space: Optional[str] = None, top: Optional[int] = None,
                     by: Optional[str] = None) -> Tuple[str, List[Tuple[str, str]]]:
    """``(space name, [(id, architecture JSON), ...])`` from a space's named set (each space's ``arch_set``, listed
    by :func:`arch_sets_help`) or a file (JSON lines from ``unnas arch sample``, or one architecture per line).
    *space* fixes the space; otherwise the set or the file's lines tell it. With *top*, *spec* is the output of
    ``unnas rank --json`` and the set is its *top* best architectures by the score *by* (:func:`top_ranked`)."""
    if top is not None:
        labels = top_ranked(spec, top, by)
        fixed = space_class(space)() if space else None
        try:
            rows = [(label, sp, g) for label, sp, g in read_arch_lines(labels, spec, fixed)]
        except UserError as e:
            raise StudyError(str(e)) from None
        kinds = {sp.name for _, sp, _ in rows}
        if len(kinds) > 1:
            raise StudyError(f"{spec} mixes architectures of the spaces {', '.join(sorted(kinds))}; one study holds one space")
        return kinds.pop(), [(label, sp.to_json(g)) for label, sp, g in rows]
    names = [space] if space else space_names()
    for name in names:
        sp = space_class(name)()
        try:
            found = sp.arch_set(spec)
        except ArchError as e:
            raise StudyError(str(e)) from None
        if found is not None:
            out = [(a, sp.to_json(g)) for a, g in found]
            ids = [a for a, _ in out]
            if len(set(ids)) != len(ids):
                twice = next(a for a in ids if ids.count(a) > 1)
                raise StudyError(f"the set {spec} names {twice} more than once (it asks for more architectures than "
                                 f"the set holds); ask for fewer")
            return name, out
    if os.path.isfile(spec):
        fixed = space_class(space)() if space else None
        try:
            with open(spec, encoding="utf-8-sig") as f:
                rows = [(label, sp, g) for label, sp, g in read_arch_lines(f, spec, fixed)]
        except (UserError, UnicodeDecodeError) as e:  # a bad line, or a file that is not text
            raise StudyError(str(e)) from None
        kinds = {sp.name for _, sp, _ in rows}
        if len(kinds) > 1:
            raise StudyError(f"{spec} mixes architectures of the spaces {', '.join(sorted(kinds))}; one study holds one space")
        out = [(label, sp.to_json(g)) for label, sp, g in rows]
        if len({a for a, _ in out}) != len(out):
            raise StudyError(f"{spec} lists an architecture id twice")
        if not out:
            raise StudyError(f"{spec} holds no architectures")
        return (kinds.pop() if kinds else (space or DEFAULT_SPACE)), out
    sets = "; ".join(f"{n}: {space_class(n)().arch_set_help()}" for n in names)
    raise StudyError(f"unknown architecture set {spec!r}; use a file or one of the sets ({sets})")


def config_space(cfg: Dict[str, Any]) -> str:
    """The name of the space a training config builds (its ``model.init_args.space``; the class path itself when
    no registered space has that class). A config that names none trains the default space."""
    spec = model_args(cfg).get(SPACE_KEY)
    path = spec.get("class_path") if isinstance(spec, dict) else spec
    if path is None:
        return DEFAULT_SPACE
    return next((n for n in space_names() if space_class(n).__name__ == str(path).rsplit(".", 1)[-1]), str(path))


def check_config_space(cfg: Dict[str, Any], space: str, where: str) -> None:
    """The training config must build networks of the study's space (its ``model.init_args.space``)."""
    found = config_space(cfg)
    if found != space:
        raise StudyError(f"{where} trains {found} networks but the architectures are {space} cells; "
                         f"use a config whose model.init_args.space is the {space} space")
