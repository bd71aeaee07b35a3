"""The one place objectives are named: register a :class:`~pretext_tasks.base.PretextTask` subclass once and
every part of unnas finds it by its ``name`` (``unnas arch info --objective``, ``unnas rank --objective``,
``unnas study init --objectives``, ``--model.init_args.objective=NAME`` in ``unnas fit``, the report's labels and
order, the plots' colours).

Each objective's metadata lives on its class (see :class:`~pretext_tasks.base.PretextTask`): ``name``,
``label`` (display name), ``order`` (display and iteration order; ties by name), ``default_study`` (one of the
objectives ``unnas study init`` trains when none are named) and ``color`` (a matplotlib colour, or ``None`` for
one picked from the palette by position).

A new objective is one file::

    from pretext_tasks import PretextTask, register

    @register
    class Inpainting(PretextTask):
        name = "inpainting"
        label = "Inpainting"
        ...

The built-in objectives register themselves when :mod:`pretext_tasks` is imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Dict, Iterable, List, Optional, Type, Union

if TYPE_CHECKING:  # pragma: no cover
    from pretext_tasks.base import PretextTask


class ObjectiveError(ValueError):
    """An objective name or class path that names no registered objective (one line naming the known ones)."""


_OBJECTIVES: Dict[str, Type["PretextTask"]] = {}


def register(cls: Type["PretextTask"]) -> Type["PretextTask"]:
    """Class decorator: make the objective *cls* known under ``cls.name``.

    Registering the same class twice is harmless; a second class under a taken name is refused.
    """
    from pretext_tasks.base import PretextTask

    if not (isinstance(cls, type) and issubclass(cls, PretextTask)) or cls is PretextTask:
        raise TypeError(f"register takes a PretextTask subclass, got {cls!r}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name or name == PretextTask.name:
        raise ValueError(f"{cls.__qualname__} needs a class attribute `name` (a short identifier) to be registered")
    known = _OBJECTIVES.get(name)
    if known is not None and known is not cls and _qualified(known) != _qualified(cls):
        raise ValueError(f"two objectives are named {name!r}: {_qualified(known)} and {_qualified(cls)}")
    _OBJECTIVES[name] = cls
    return cls


def unregister(name: str) -> None:
    """Forget the objective registered as *name* (for tests and plugins that replace one)."""
    _OBJECTIVES.pop(name, None)


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# modules of the package that hold no objective
_NOT_OBJECTIVES = {"base", "registry", "heads", "stats"}
_loaded = False


def _load_builtins() -> None:
    """Import every module of the ``pretext_tasks`` package once: each built-in objective registers itself."""
    global _loaded
    if _loaded:
        return
    _loaded = True  # before the imports: a module that asks the registry while it loads sees no recursion
    import os
    import pkgutil

    try:
        for info in sorted(pkgutil.iter_modules([os.path.dirname(os.path.abspath(__file__))]), key=lambda m: m.name):
            if info.name not in _NOT_OBJECTIVES and not info.name.startswith("_"):
                importlib.import_module(f"pretext_tasks.{info.name}")
    except BaseException:
        _loaded = False  # a failed import is raised again on the next use, never hidden behind a partial registry
        raise


def _sort_key(cls: Type["PretextTask"]):
    return (float(getattr(cls, "order", 100)), cls.name)


def objective_names() -> List[str]:
    """Every registered objective's name, in display order."""
    _load_builtins()
    return [cls.name for cls in sorted(_OBJECTIVES.values(), key=_sort_key)]


def objectives() -> Dict[str, Type["PretextTask"]]:
    """``name -> class`` of every registered objective, in display order."""
    return {name: _OBJECTIVES[name] for name in objective_names()}


def default_objectives() -> List[str]:
    """The objectives a study trains when none are named (the paper's four), in display order."""
    return [name for name, cls in objectives().items() if getattr(cls, "default_study", False)]


def is_objective(name: str) -> bool:
    _load_builtins()
    return name in _OBJECTIVES


def objective_class(spec: Union[str, type]) -> Type["PretextTask"]:
    """The objective class of *spec*: a registered name (``"rotation"``), a class path
    (``"pretext_tasks.Rotation"``, ``"my_pkg.objectives.Inpainting"``) or a class itself.

    Anything else raises one line (:class:`ObjectiveError`) naming the registered objectives.
    """
    from pretext_tasks.base import PretextTask

    _load_builtins()
    if isinstance(spec, type) and issubclass(spec, PretextTask) and spec is not PretextTask:
        return spec
    text = str(spec).strip()
    if text in _OBJECTIVES:
        return _OBJECTIVES[text]
    for cls in _OBJECTIVES.values():  # a registered class by its (short) class name
        if text in (cls.__qualname__, _qualified(cls), f"pretext_tasks.{cls.__qualname__}"):
            return cls
    known = f"known objectives: {', '.join(objective_names())}, or the class path of a PretextTask subclass"
    if "." not in text:
        raise ObjectiveError(f"unknown objective {text!r}; {known}")
    module, _, attr = text.rpartition(".")
    try:
        found = getattr(importlib.import_module(module), attr)
    except (ImportError, ValueError, AttributeError) as e:  # ValueError: no module name at all (".Rotation")
        raise ObjectiveError(f"objective {text!r}: cannot import it ({e}); {known}") from None
    if not (isinstance(found, type) and issubclass(found, PretextTask)) or found is PretextTask:
        raise ObjectiveError(f"objective {text!r} is not a subclass of pretext_tasks.PretextTask; {known}")
    return found


def objective_label(name: str) -> str:
    """The display label of objective *name* (the name itself for anything unregistered, such as a ranker)."""
    _load_builtins()
    cls = _OBJECTIVES.get(name)
    return (getattr(cls, "label", None) or name) if cls is not None else name


def objective_rank_metric(name: str) -> Optional[str]:
    """The result field a study ranks registered objective *name* by (its class's ``rank_metric``: ``best_acc``,
    ``train_acc`` or ``weight_angle``); None for anything unregistered, such as a ranker."""
    _load_builtins()
    cls = _OBJECTIVES.get(name)
    return getattr(cls, "rank_metric", None) if cls is not None else None


def order_objectives(names: Iterable[str]) -> List[str]:
    """*names* (objectives, and other study tasks such as rankers) in display order: registered objectives by
    their ``order``, then everything else sorted by name. Duplicates are dropped."""
    _load_builtins()
    names = list(dict.fromkeys(str(n) for n in names))
    known = sorted((n for n in names if n in _OBJECTIVES), key=lambda n: _sort_key(_OBJECTIVES[n]))
    return known + sorted(n for n in names if n not in _OBJECTIVES)


def objective_color(name: str) -> Optional[str]:
    """The fixed colour of objective *name*, or ``None`` when it has none (unregistered, or no ``color``)."""
    _load_builtins()
    cls = _OBJECTIVES.get(name)
    return getattr(cls, "color", None) if cls is not None else None


def build_objective(spec: Union[str, type], **kwargs) -> "PretextTask":
    """An instance of objective *spec* from the keyword arguments its constructor takes (others are dropped,
    so one call can pass ``num_classes`` and ``style`` to every objective)."""
    import inspect

    cls = objective_class(spec)
    params = inspect.signature(cls.__init__).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in params}
    return cls(**kwargs)
