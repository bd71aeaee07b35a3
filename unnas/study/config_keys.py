"""Where a study finds things in a training config (the YAML of ``unnas fit``): the model's arguments, its
objective, space and architecture, and the image source. Every key name the study reads or writes is here."""

from __future__ import annotations

import os
from typing import Any, Dict

#: ``model.init_args.<key>`` of the objective, the space and the architecture a job trains
OBJECTIVE_KEY = "objective"
SPACE_KEY = "space"
ARCH_KEY = "arch"
#: their older names, which configs frozen into existing studies still carry (the modules accept both)
OLD_OBJECTIVE_KEY = "task"
OLD_ARCH_KEY = "genotype"


def model_args(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """``model.init_args`` of a training config (``{}`` when it has none)."""
    return ((cfg.get("model") or {}).get("init_args") or {}) if isinstance(cfg, dict) else {}


def objective_args(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """The objective's ``init_args`` of a training config (``{}`` when it names it by class path alone)."""
    args = model_args(cfg)
    objective = args.get(OBJECTIVE_KEY, args.get(OLD_OBJECTIVE_KEY))
    return (objective.get("init_args") or {}) if isinstance(objective, dict) else {}


def source(cfg: Dict[str, Any]) -> Any:
    """``data.source`` of a training config: the image source (None when it has none)."""
    return (cfg.get("data") or {}).get("source")


def source_args(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """``data.source.init_args`` of a training config (``{}`` when it has none)."""
    found = source(cfg)
    return (found.get("init_args") or {}) if isinstance(found, dict) else {}


def set_arch(cfg: Dict[str, Any], arch_json: str) -> None:
    """Set the architecture a training config trains (under its current key, dropping the older one)."""
    args = cfg["model"]["init_args"]
    args.pop(OLD_ARCH_KEY, None)
    args[ARCH_KEY] = arch_json


def set_data_root(source_spec: Dict[str, Any], data_root: str) -> None:
    """Point an image source (``class_path``/``init_args``) at the folder *data_root*."""
    source_spec.setdefault("init_args", {})["root"] = os.path.abspath(data_root)


def data_root(cfg: Dict[str, Any]) -> Any:
    """The data root of a training config's image source (None when it sets none)."""
    return source_args(cfg).get("root")
