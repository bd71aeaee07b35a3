"""Objective names wherever ``unnas fit`` takes an objective: ``--model.init_args.objective=rotation``,
``--model.objective=jigsaw``, YAML ``task: rotation`` or ``task: {class_path: rotation, init_args: {...}}``.

jsonargparse resolves a class by its class path or its class name (``Rotation``); a registered objective's name
(``rotation``, :mod:`pretext_tasks.registry`) is rewritten to its class path before jsonargparse sees it: in the
command line (:func:`rewrite_argv`), in configs given as objects (:func:`rewrite_config`) and in every YAML text the
parser loads, config files included (:data:`PARSER_MODE`, the YAML loader with the rewrite). The module argument
is ``task`` or ``objective`` (:data:`OBJECTIVE_KEYS`). A bare name that is neither a registered objective nor a
class name is one line naming the known objectives (:class:`pretext_tasks.ObjectiveError`).
"""

from __future__ import annotations

import re
from typing import Any, List, Sequence

from pretext_tasks.registry import ObjectiveError, is_objective, objective_class, objective_names

#: the module arguments that take an objective
OBJECTIVE_KEYS = ("task", "objective")
#: jsonargparse parser mode: YAML with objective names resolved (see :func:`install_loader`)
PARSER_MODE = "unnas_yaml"

# `--model.init_args.objective=rotation`, `--model.objective rotation`, `--model.objective.class_path=rotation`
_OPTION = re.compile(r"^--((?:[\w-]+\.)*(?:%s))(\.class_path)?(?:=(.*))?$" % "|".join(OBJECTIVE_KEYS), re.S)
# a value that can only be a bare name (no class path, file, mapping or list)
_BARE_NAME = re.compile(r"^[A-Za-z_]\w*$")


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _subclass_names() -> set:
    """Class names of every imported :class:`~pretext_tasks.PretextTask` subclass (jsonargparse's short names)."""
    from pretext_tasks.base import PretextTask

    names, todo = set(), list(PretextTask.__subclasses__())
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo += cls.__subclasses__()
    return names


def resolve_name(value: Any, where: str) -> Any:
    """*value* of the objective option *where*, with a registered objective's name replaced by its class path.

    Anything that is not a bare name (a class path, a file, a mapping, ``None``) and a PretextTask class name
    (``Rotation``) is returned unchanged; another bare name raises :class:`ObjectiveError`."""
    if not isinstance(value, str) or not _BARE_NAME.match(value.strip()):
        return value
    name = value.strip()
    if is_objective(name):
        return _class_path(objective_class(name))
    if name in _subclass_names() or name.lower() in ("null", "none"):
        return value
    raise ObjectiveError(f"{where}: unknown objective {name!r}; known objectives: {', '.join(objective_names())}, "
                         f"or the class path of a PretextTask subclass (e.g. pretext_tasks.Rotation)")


def rewrite_config(obj: Any, where: str = "") -> Any:
    """A copy of the config object *obj* (dicts and lists) with objective names resolved under
    :data:`OBJECTIVE_KEYS` and in every ``class_path`` (``{class_path: rotation}``)."""
    if isinstance(obj, list):
        return [rewrite_config(v, where) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out = {}
    for key, value in obj.items():
        path = f"{where}.{key}" if where else str(key)
        if key in OBJECTIVE_KEYS and isinstance(value, str):
            value = resolve_name(value, path)
        elif key == "class_path" and isinstance(value, str) and is_objective(value.strip()):
            value = resolve_name(value, path)
        else:
            value = rewrite_config(value, path)
        out[key] = value
    return out


def rewrite_argv(args: Sequence[Any]) -> List[Any]:
    """*args* (a command line) with the value of every objective option (``--model.init_args.objective=NAME``,
    ``--model.objective NAME``, ``...task.class_path=NAME``) resolved by :func:`resolve_name`."""
    out: List[Any] = list(args)
    i = 0
    while i < len(out):
        m = _OPTION.match(out[i]) if isinstance(out[i], str) else None
        if m:
            key = m.group(1) + (m.group(2) or "")
            if m.group(3) is not None:
                out[i] = f"--{key}={resolve_name(m.group(3), key)}"
            elif i + 1 < len(out) and isinstance(out[i + 1], str) and not out[i + 1].startswith("-"):
                out[i + 1] = resolve_name(out[i + 1], key)
                i += 1
        i += 1
    return out


def load_yaml(stream: str) -> Any:
    """jsonargparse's YAML loader, then :func:`rewrite_config` on what it loaded."""
    from jsonargparse import get_loader

    return rewrite_config(get_loader("yaml")(stream))


def install_loader() -> str:
    """Register :data:`PARSER_MODE` with jsonargparse (once) and return it: pass it as a parser's ``parser_mode``."""
    import yaml
    from jsonargparse import set_loader

    set_loader(PARSER_MODE, load_yaml, exceptions=(yaml.YAMLError,))
    return PARSER_MODE
