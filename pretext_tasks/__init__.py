"""Interchangeable training objectives: Supervised, Rotation, Colorization, Jigsaw (UnNAS), RandomLabels
(RLNAS) and Contrastive (SimCLR).

Each is a registered :class:`PretextTask` (:mod:`pretext_tasks.registry`) with a typed constructor, so
LightningCLI selects one by class path (``--model.objective=Rotation``, or YAML ``class_path:
pretext_tasks.Jigsaw``) and every command by its name (``rotation``). See ``docs/pretext_tasks.md``.

The package imports nothing of ``unnas`` (``unnas`` imports it), and its names load on first use, so that the
registry and its error class can be imported without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from pretext_tasks.registry import (ObjectiveError, build_objective, default_objectives, is_objective,
                                    objective_class, objective_color, objective_label, objective_names, objectives,
                                    order_objectives, register)

# name -> module of the names this package exports besides the registry's
_LAZY = {
    "PretextTask": "pretext_tasks.base",
    "Supervised": "pretext_tasks.supervised",
    "Rotation": "pretext_tasks.rotation",
    "Colorization": "pretext_tasks.colorization",
    "Jigsaw": "pretext_tasks.jigsaw",
    "hamming_permutations": "pretext_tasks.jigsaw",
    "RandomLabels": "pretext_tasks.random_labels",
    "Contrastive": "pretext_tasks.contrastive",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pretext_tasks' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [*_LAZY, "register", "objective_names", "objectives", "objective_class", "objective_label",
           "objective_color", "order_objectives", "default_objectives", "is_objective", "build_objective",
           "ObjectiveError"]
