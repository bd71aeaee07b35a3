"""Study configs: reading a study config (its objectives' recipes and ranker entries), merging a recipe's files the
way ``unnas fit -c base.yaml -c overlay.yaml`` does, ``--set`` overrides, and the configs frozen into a study.

A study config maps each objective to its recipe: a list of training configs merged in order, a shared base
first and the objective's overlays after it (``supervised: [nb201_cifar10_cpu/base.yaml,
../objectives/supervised.yaml, ../objectives/sample_study_cpu/supervised.yaml]``); a single file is a recipe of one (paths are relative to the study config).
An objective mapped to a mapping is a training-free ranker task (:mod:`unnas.study.ranker_tasks`)."""

from __future__ import annotations

import copy
import importlib
import os
from typing import Any, Dict, List, Optional, Sequence

import yaml

from unnas.study import config_keys as keys
from unnas.study.archs import check_config_space
from unnas.study.ranker_tasks import (RANKER_KEYS, check_ranker_defaults, is_ranker_config, ranker_config,
                                      ranker_entry)
from unnas.study.store import StudyError, check_task_name

#: the training config whose network shape a ranker task takes when the study has it (else the first one)
REFERENCE_OBJECTIVE = "supervised"
CONFIGS_DIR = "configs"


# ------------------------------------------------------------------------------------------- merging
def _class_of(class_path: Any) -> Optional[type]:
    """The class a dotted ``class_path`` names, or None when it cannot be imported here."""
    if not isinstance(class_path, str) or "." not in class_path:
        return None
    module, _, name = class_path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
    return found if isinstance(found, type) else None


def _same_class(a: Any, b: Any) -> bool:
    if a == b:
        return True
    ca, cb = _class_of(a), _class_of(b)
    return ca is not None and ca is cb


def _accepted_init_args(class_path: Any) -> Optional[set]:
    """The ``init_args`` keys jsonargparse accepts for *class_path* (from the same class parser it builds while
    parsing); None when the class cannot be imported here."""
    from jsonargparse import ArgumentParser

    cls = _class_of(class_path)
    if cls is None:
        return None
    parser = ArgumentParser(exit_on_error=False)
    try:
        parser.add_class_arguments(cls, fail_untyped=False, sub_configs=True)
    except Exception:  # noqa: BLE001 - a class jsonargparse cannot describe: nothing of the old class is kept
        return set()
    return {a.dest.split(".")[0] for a in parser._actions if isinstance(a.dest, str)} - {"help", "config"}


def merge_configs(base: Dict[str, Any], overlay: Dict[str, Any]) -> Dict[str, Any]:
    """*overlay* over *base*, as ``unnas fit -c base.yaml -c overlay.yaml`` merges them: nested mappings merge
    key by key, lists and values replace, and where a ``class_path`` changes to another class the old
    ``init_args`` are kept only where the new class accepts them (jsonargparse discards the rest)."""
    out = copy.deepcopy(base)
    if (isinstance(out.get("class_path"), str) and "class_path" in overlay
            and not _same_class(out["class_path"], overlay["class_path"])):
        accepted = _accepted_init_args(overlay["class_path"])
        old = out.get("init_args")
        if isinstance(old, dict):
            kept = {k: v for k, v in old.items() if accepted is not None and k in accepted}
            if kept:
                out["init_args"] = kept
            else:
                out.pop("init_args")
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_configs(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def merge_config_files(paths: Sequence[str], where: str) -> Dict[str, Any]:
    """The training config of a recipe: the YAML files *paths* merged in order (:func:`merge_configs`)."""
    cfg: Dict[str, Any] = {}
    for path in paths:
        if not os.path.isfile(path):
            raise StudyError(f"{where}: the config {path} does not exist; fix the path (relative to the study config)")
        with open(path, encoding="utf-8") as f:
            part = yaml.safe_load(f) or {}
        if not isinstance(part, dict):
            raise StudyError(f"{path} is not a YAML mapping; a training config maps keys to settings")
        cfg = merge_configs(cfg, part)
    return cfg


# ------------------------------------------------------------------------------------------- study configs
def read_study_spec(path: str) -> Dict[str, Any]:
    """The study config at *path* as a mapping."""
    if not os.path.isfile(path):
        raise StudyError(f"study config {path} does not exist; pass an existing file to --config")
    with open(path, encoding="utf-8") as f:
        spec = yaml.safe_load(f) or {}
    if not isinstance(spec, dict):
        raise StudyError(f"{path} is not a YAML mapping; it needs a 'tasks' mapping: objective name -> training config file(s)")
    return spec


def ranker_defaults(path: str) -> Dict[str, Any]:
    """The study config's ``rankers`` mapping: settings every ranker task of the study starts from (its own entry
    overrides them), with the keys of a ranker entry except ``ranker``; ``{}`` when there is none."""
    return check_ranker_defaults(read_study_spec(path).get("rankers"), path)


def recipe_paths(path: str, task: str, recipe: Any) -> List[str]:
    """The files of *task*'s recipe in the study config *path*, in merge order: a list of files, or one file."""
    files = [recipe] if isinstance(recipe, str) else recipe
    if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
        raise StudyError(f"{path}: no training config given for {task!r}; map it to a list of config files "
                         f"(a base recipe, then the objective's overlay)")
    folder = os.path.dirname(os.path.abspath(path))
    return [os.path.normpath(os.path.join(folder, f)) for f in files]


def load_study_config(path: str, data_root: Optional[str] = None) -> Dict[str, Dict[str, Any]]:
    """The training config of each objective of the study config *path* (:func:`merge_config_files` of its
    recipe), with the data root replaced by *data_root* if given. An objective mapped to a mapping is a
    training-free ranker (:func:`ranker_entry`): returned as that mapping over the config's ``rankers`` defaults
    (:func:`ranker_defaults`), with ``ranker`` filled in for a registered ranker's name. A config with ``rankers``
    may leave ``tasks`` empty: every registered ranker is then a task of it."""
    spec = read_study_spec(path)
    defaults = check_ranker_defaults(spec.get("rankers"), path)
    tasks = spec.get("tasks")
    if tasks is None and defaults:
        tasks = {}
    if not isinstance(tasks, dict) or (not tasks and not defaults):
        raise StudyError(f"{path} needs a 'tasks' mapping: objective name -> training config file(s)")
    out = {}
    for task, recipe in tasks.items():
        check_task_name(task, f"{path}: objective")
        if isinstance(recipe, dict):
            out[task] = ranker_entry(task, merge_configs(defaults, recipe), f"{path} ({task})")
            continue
        cfg = merge_config_files(recipe_paths(path, task, recipe), f"{path} ({task})")
        if not cfg:
            raise StudyError(f"{path}: no training config given for {task!r}; its recipe's files are empty")
        if data_root is not None:
            keys.set_data_root(cfg.setdefault("data", {}).setdefault("source", {}), data_root)
        out[task] = cfg
    return out


def study_configs(config: str, tasks: Sequence[str], space_name: str, data_root: Optional[str],
                  overrides: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """The config of each of *tasks*: a training config, checked against the space, with the overrides applied;
    or, for a ranker task (an entry with ``ranker``, or a registered ranker's name the study config leaves out),
    its frozen ranker config, whose network shape comes from the :data:`REFERENCE_OBJECTIVE`'s (else the first)
    training config."""
    from pretext_tasks.registry import is_objective

    from unnas.rankers import RANKERS

    configs = load_study_config(config, data_root)
    missing = [t for t in tasks if t not in configs and t not in RANKERS]
    if missing:
        objectives = [t for t in missing if is_objective(t)]
        hint = (f"add a recipe for {', '.join(objectives)} to the study config's tasks" if objectives
                else f"add it to the study config's tasks or use a ranker ({', '.join(RANKERS)})")
        raise StudyError(f"{config} has no training config for {', '.join(missing)} (it has {', '.join(configs)}), "
                         f"and {'it is not a ranker' if len(missing) == 1 else 'they are not rankers'}; {hint}")
    out = {}
    for task in tasks:
        if task in configs and not is_ranker_config(configs[task]):
            check_config_space(configs[task], space_name, f"{config} ({task})")
            out[task] = apply_overrides(configs[task], overrides, f"the {task} config")
    trained = [t for t in configs if not is_ranker_config(configs[t])]
    ref_task = next((t for t in (REFERENCE_OBJECTIVE, *[t for t in tasks if t in out], *trained) if t in trained), None)
    reference = out.get(ref_task) or (apply_overrides(configs[ref_task], overrides, f"the {ref_task} config")
                                      if ref_task else None)
    for task in tasks:
        if task not in out:
            entry = (configs[task] if task in configs
                     else ranker_entry(task, ranker_defaults(config), f"{config} ({task})"))
            out[task] = ranker_config(entry, reference, space_name, f"{config} ({task})", data_root)
    return {t: out[t] for t in tasks}


# ------------------------------------------------------------------------------------------- overrides
def parse_overrides(items: Sequence[str]) -> Dict[str, Any]:
    """``{"a.b.c": value}`` from ``KEY=VALUE`` strings (``--set trainer.max_epochs=2``); values are YAML scalars."""
    out: Dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip() or any(not p for p in key.strip().split(".")):
            raise StudyError(f"--set {item}: expected KEY=VALUE with a dotted KEY, e.g. --set trainer.max_epochs=2")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise StudyError(f"--set {item}: {text!r} is not a YAML value; quote it as a string") from None
        if isinstance(value, (dict, list)):
            raise StudyError(f"--set {item}: the value must be a single number, string, boolean or null")
        out[key.strip()] = value
    return out


def apply_overrides(cfg: Dict[str, Any], overrides: Dict[str, Any], where: str) -> Dict[str, Any]:
    """A copy of *cfg* with each dotted key of *overrides* set; a new key is allowed only where its parent exists."""
    cfg = copy.deepcopy(cfg)
    for key, value in overrides.items():
        parts = key.split(".")
        node: Any = cfg
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node, dict) or part not in node or not isinstance(node[part], dict):
                nearest = ".".join(parts[:i]) or "the top level"
                if isinstance(node, dict) and part in node:
                    problem = f"{'.'.join(parts[:i + 1])} is a value, not a mapping"
                else:
                    problem = f"{where} has no {'.'.join(parts[:i + 1])}"
                raise StudyError(f"--set {key}: {problem} (nearest existing key: {nearest}); set keys that exist "
                                 f"or a new key under an existing mapping")
            node = node[part]
        node[parts[-1]] = value
    return cfg


def check_data_root(path: str) -> str:
    """*path* if it is an existing folder; else :class:`StudyError`."""
    if not os.path.isdir(path):
        what = "is not a folder" if os.path.exists(path) else "does not exist"
        raise StudyError(f"--data-root {path} {what}; pass the folder that holds the dataset")
    return path


def source_takes_root(source: Any) -> bool:
    """Whether the image source *source* (``class_path``/``init_args``) reads a folder (takes ``root``); True for a
    class that cannot be imported here (the parser then names the problem)."""
    class_path = source.get("class_path") if isinstance(source, dict) else source
    accepted = _accepted_init_args(class_path)
    return accepted is None or "root" in accepted


# ------------------------------------------------------------------------------------------- frozen configs
def frozen_config_path(directory: str, task: str) -> str:
    """``DIR/configs/<task>.yaml``: the config a study froze for *task*."""
    return os.path.join(directory, CONFIGS_DIR, f"{task}.yaml")


def freeze_configs(directory: str, configs: Dict[str, Dict[str, Any]]) -> None:
    """Write each task's config into the study (:func:`frozen_config_path`)."""
    os.makedirs(os.path.join(directory, CONFIGS_DIR), exist_ok=True)
    for task, cfg in configs.items():
        with open(frozen_config_path(directory, task), "w", encoding="utf-8") as f:
            yaml.safe_dump(cfg, f, sort_keys=False)


def read_frozen_config(directory: str, task: str) -> Dict[str, Any]:
    """The config the study in *directory* froze for *task*."""
    path = frozen_config_path(directory, task)
    if not os.path.isfile(path):
        raise StudyError(f"{path} is missing: the study holds no config for {task!r}; restore it, or add the "
                         f"objective again with `unnas study add {directory} --objectives {task} --config ...`")
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def frozen_data_root(directory: str) -> Optional[str]:
    """The data root of the study's frozen configs (studies made before the meta recorded it)."""
    folder = os.path.join(directory, CONFIGS_DIR)
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            cfg = yaml.safe_load(f) or {}
        root = keys.data_root(cfg)
        if root:
            return root
    return None


__all__ = ["RANKER_KEYS", "REFERENCE_OBJECTIVE", "apply_overrides", "check_data_root", "freeze_configs",
           "frozen_data_root", "load_study_config", "merge_config_files", "merge_configs", "parse_overrides",
           "ranker_defaults", "read_frozen_config", "read_study_spec", "source_takes_root", "study_configs"]
