"""Study set-up and workers: create the jobs, claim them, train each with ``ArchTraining`` (or score it with a
training-free ranker), record results."""

from __future__ import annotations

import copy
import hashlib
import logging
import math
import os
import platform
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import yaml

from unnas.spaces import read_arch_lines
from unnas.spaces.base import ArchError, space_class, space_names
from unnas.study.store import Job, Store, StudyError, check_task_name, worker_id

TASKS = ("supervised", "rotation", "colorization", "jigsaw")

DEFAULT_LEASE_S = 900.0
# A lease is renewed every lease / RENEWALS_PER_LEASE seconds by a thread of the worker, so three renewals in a row
# may be late before another worker can claim the job. A renewal waits up to one period for the database lock,
# which on a busy or shared folder can take seconds: hence the shortest lease.
RENEWALS_PER_LEASE = 4
MIN_RENEWAL_S = 5.0
MIN_LEASE_S = RENEWALS_PER_LEASE * MIN_RENEWAL_S
# A worker whose jobs keep failing with the same error stops instead of failing the whole queue.
SAME_FAILURES_TO_STOP = 3
# Keys of a ranker task's entry in a study config and of its frozen config; the default batch is `unnas rank`'s.
RANKER_KEYS = ("ranker", "space", "input_shape", "num_classes", "batch_size", "data")
DEFAULT_RANK_BATCH = 64
# The command a worker process of `study work --workers K` runs (followed by `study work DIR ...`).
WORKER_COMMAND: Tuple[str, ...] = (sys.executable, "-m", "unnas")


# ------------------------------------------------------------------------------------------- architectures
def resolve_archs(spec: str, space: Optional[str] = None) -> List[Tuple[str, str]]:
    """``[(id, architecture JSON), ...]`` of :func:`resolve_arch_set`."""
    return resolve_arch_set(spec, space)[1]


def resolve_arch_set(spec: str, space: Optional[str] = None) -> Tuple[str, List[Tuple[str, str]]]:
    """``(space name, [(id, architecture JSON), ...])`` from a space's named set (each space's ``arch_set``; e.g.
    DARTS ``unnas500:N``, NAS-Bench-201 ``nb201-table:N``, NAS-Bench-101 ``unnas_nb101:N``) or a file
    (JSON lines from ``unnas arch sample``, or one architecture per line). *space* fixes the space; otherwise the
    set or the file's lines tell it."""
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
        except (ArchError, UnicodeDecodeError) as e:
            raise StudyError(str(e)) from None
        kinds = {sp.name for _, sp, _ in rows}
        if len(kinds) > 1:
            raise StudyError(f"{spec} mixes architectures of the spaces {', '.join(sorted(kinds))}; one study holds one space")
        out = [(label, sp.to_json(g)) for label, sp, g in rows]
        if len({a for a, _ in out}) != len(out):
            raise StudyError(f"{spec} lists an architecture id twice")
        if not out:
            raise StudyError(f"{spec} holds no architectures")
        return (kinds.pop() if kinds else (space or "darts")), out
    sets = "; ".join(f"{n}: {space_class(n)().arch_set_help()}" for n in names)
    raise StudyError(f"unknown architecture set {spec!r}; use a file or one of the sets ({sets})")


# ------------------------------------------------------------------------------------------- study configs
def _deep_merge(base: Dict[str, Any], overlay: Dict[str, Any]) -> Dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read_study_spec(path: str) -> Dict[str, Any]:
    if not os.path.isfile(path):
        raise StudyError(f"study config {path} does not exist")
    with open(path, encoding="utf-8") as f:
        spec = yaml.safe_load(f) or {}
    if not isinstance(spec, dict):
        raise StudyError(f"{path} is not a YAML mapping; it needs a 'tasks' mapping: objective name -> training config file(s)")
    return spec


def ranker_defaults(path: str) -> Dict[str, Any]:
    """The study config's ``rankers`` mapping: settings every ranker task of the study starts from (its own entry
    overrides them), with the keys of a ranker entry except ``ranker``; ``{}`` when there is none."""
    defaults = _read_study_spec(path).get("rankers") or {}
    if not isinstance(defaults, dict):
        raise StudyError(f"{path}: 'rankers' must be a mapping of ranker settings ({', '.join(RANKER_KEYS[1:])})")
    unknown = [str(k) for k in defaults if k not in RANKER_KEYS[1:]]
    if unknown:
        raise StudyError(f"{path}: unknown key(s) {', '.join(unknown)} under 'rankers'; use {', '.join(RANKER_KEYS[1:])}")
    return defaults


def load_study_config(path: str, data_root: Optional[str] = None) -> Dict[str, Dict[str, Any]]:
    """A study config maps each objective to a training config, or to a list of configs merged in order (a base
    recipe and the objective's overlay); paths are relative to the study config. Returns the training configs
    themselves, with the data root replaced by *data_root* if given. An objective mapped to a mapping is a
    training-free ranker (:func:`ranker_entry`): returned as that mapping over the config's ``rankers`` defaults
    (:func:`ranker_defaults`), with ``ranker`` filled in for a registered ranker's name. A config with ``rankers``
    may leave ``tasks`` empty: every registered ranker is then a task of it."""
    spec = _read_study_spec(path)
    defaults = ranker_defaults(path)
    tasks = spec.get("tasks")
    if tasks is None and defaults:
        tasks = {}
    if not isinstance(tasks, dict) or (not tasks and not defaults):
        raise StudyError(f"{path} needs a 'tasks' mapping: objective name -> training config file(s)")
    out = {}
    for task, rels in tasks.items():
        check_task_name(task, f"{path}: objective")
        if isinstance(rels, dict):
            out[task] = ranker_entry(task, _deep_merge(defaults, rels), f"{path} ({task})")
            continue
        cfg: Dict[str, Any] = {}
        for rel in ([rels] if isinstance(rels, str) else rels or []):
            cfg_path = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), str(rel)))
            if not os.path.isfile(cfg_path):
                raise StudyError(f"{path}: the config for {task!r}, {cfg_path}, does not exist")
            with open(cfg_path, encoding="utf-8") as f:
                part = yaml.safe_load(f) or {}
            if not isinstance(part, dict):
                raise StudyError(f"{cfg_path} is not a YAML mapping")
            cfg = _deep_merge(cfg, part)
        if not cfg:
            raise StudyError(f"{path}: no training config given for {task!r}")
        if data_root is not None:
            _set_data_root(cfg.setdefault("data", {}).setdefault("source", {}), data_root)
        out[task] = cfg
    return out


def _set_data_root(source: Dict[str, Any], data_root: str) -> None:
    source.setdefault("init_args", {})["root"] = os.path.abspath(data_root)


# ------------------------------------------------------------------------------------------- ranker tasks
def is_ranker_config(cfg: Any) -> bool:
    """Whether a study config entry or frozen config is a ranker task's (it has a ``ranker`` key)."""
    return isinstance(cfg, dict) and "ranker" in cfg


def ranker_entry(task: str, entry: Optional[Dict[str, Any]], where: str) -> Dict[str, Any]:
    """A ranker task's study config entry, checked: a mapping with some of :data:`RANKER_KEYS`; ``ranker`` (a
    ``class_path``/``init_args`` mapping or a class path) may be left out when *task* is a registered ranker."""
    from unnas.rankers import RANKERS

    entry = dict(entry or {})
    unknown = [k for k in entry if k not in RANKER_KEYS]
    if unknown:
        raise StudyError(f"{where}: unknown key(s) {', '.join(map(str, unknown))} of a ranker task; use "
                         f"{', '.join(RANKER_KEYS)} (or map the objective to its training config file(s))")
    if "ranker" not in entry:
        if task not in RANKERS:
            raise StudyError(f"{where}: {task!r} is not a registered ranker ({', '.join(RANKERS)}); give its "
                             f"'ranker: {{class_path: ...}}' or map it to a training config file")
        entry["ranker"] = {"class_path": f"unnas.rankers.{RANKERS[task].__name__}"}  # each is exported there
    if isinstance(entry["ranker"], str):
        entry["ranker"] = {"class_path": entry["ranker"]}
    return entry


def _ranker_config(entry: Dict[str, Any], reference: Optional[Dict[str, Any]], space_name: str,
                   where: str, data_root: Optional[str] = None) -> Dict[str, Any]:
    """The frozen config of a ranker task: its entry, with the space, input shape and classes it leaves out taken
    from *reference* (a training config of the study), else the space's default shape and first dataset. An entry
    with ``data`` (an image source: ``class_path``/``init_args``, or ``true`` for the reference config's source)
    scores on real images of that source, its root replaced by *data_root* when given."""
    ref = reference or {}
    model_args = (ref.get("model") or {}).get("init_args") or {}
    source_args = ((ref.get("data") or {}).get("source") or {}).get("init_args") or {}
    task_args = (model_args["task"].get("init_args") or {}) if isinstance(model_args.get("task"), dict) else {}
    spec = next(iter(space_class(space_name).datasets.values()))
    default_space = space_class(space_name)
    space = (entry.get("space") or model_args.get("space")
             or {"class_path": f"{default_space.__module__}.{default_space.__name__}"})
    side = source_args.get("image_size") or source_args.get("size") or spec.image_size
    cfg = {"ranker": entry["ranker"],
           "space": {"class_path": space} if isinstance(space, str) else space,
           "input_shape": list(entry.get("input_shape") or [3, side, side]),
           "num_classes": entry.get("num_classes") or task_args.get("num_classes") or source_args.get("num_classes")
           or spec.num_classes,
           "batch_size": entry.get("batch_size") or DEFAULT_RANK_BATCH}
    data = entry.get("data")
    if data is True:
        data = ((ref.get("data") or {}).get("source"))
        if not data:
            raise StudyError(f"{where}: data: true takes the image source of the study's training configs, and it "
                             f"has none; give the source itself (data: {{class_path: unnas.data.CIFAR10, init_args: "
                             f"{{root: ...}}}})")
    if data:
        data = {"class_path": data} if isinstance(data, str) else copy.deepcopy(data)
        if data_root is not None and isinstance(data, dict):
            _set_data_root(data, data_root)
        cfg["data"] = data
    _check_config_space({"model": {"init_args": {"space": cfg["space"]}}}, space_name, where)
    _build_ranker(cfg, where)
    return cfg


def _build_ranker(cfg: Dict[str, Any], where: str):
    """``(ranker, space)`` instantiated from a ranker task's frozen config; one-line :class:`StudyError` else."""
    from jsonargparse import ArgumentError, ArgumentParser

    from unnas.data.sources import ImageSource
    from unnas.errors import ConfigError
    from unnas.rankers import Ranker
    from unnas.spaces.base import SearchSpace, check_positive

    try:
        check_positive(f"{where}:", batch_size=cfg["batch_size"], num_classes=cfg["num_classes"])
        if not isinstance(cfg["input_shape"], (list, tuple)) or len(cfg["input_shape"]) != 3:
            raise ConfigError(f"{where}: input_shape must be [channels, height, width], got {cfg['input_shape']}")
        check_positive(f"{where}: input_shape", **dict(zip(("channels", "height", "width"), cfg["input_shape"])))
        parser = ArgumentParser(exit_on_error=False)
        parser.add_argument("--ranker", type=Ranker)
        parser.add_argument("--space", type=SearchSpace)
        parser.add_argument("--data", type=Optional[ImageSource], default=None)
        parsed = parser.parse_object({"ranker": cfg["ranker"], "space": cfg["space"], "data": cfg.get("data")})
        built = parser.instantiate(parsed) if hasattr(parser, "instantiate") else parser.instantiate_classes(parsed)
    except ArgumentError as e:
        raise StudyError(f"{where}: {' '.join(str(e).split())}") from None
    except (ConfigError, ArchError) as e:
        raise StudyError(f"{where}: {e}") from None
    return built.ranker, built.space, built.data


def rank_job(directory: str, job: Job, cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Score one job with its task's ranker: the network of the study's space at the frozen shape, initialised
    after ``torch.manual_seed(seed)``, on the Gaussian batch of that seed, or the seeded batch of real images when
    the config has ``data`` and the ranker reads pixels (``Ranker.needs_images``; synflow, params and macs do
    not, and load no data) (the ranker's own seed is the job's too). The record's ``best_acc`` is the score, so the
    report ranks by it."""
    import torch

    from unnas.rankers import data_batch, gaussian_batch
    from unnas.spaces.complexity import count_macs, count_params

    t0 = time.time()
    ranker, space, source = _build_ranker(cfg, f"{job.task} ranker config")
    ranker.seed = int(job.seed)
    objective = getattr(ranker, "objective", None)
    channels = objective.input_channels if objective is not None else cfg["input_shape"][0]
    torch.manual_seed(int(job.seed))
    net = space.network(space.load(job.genotype), head=objective.head if objective is not None else None,
                        num_classes=cfg["num_classes"], input_channels=channels)
    if source is None or not ranker.needs_images:  # a data-free ranker reads only the batch's shape
        batch = gaussian_batch(cfg["input_shape"], cfg["batch_size"], cfg["num_classes"], seed=int(job.seed))
    else:  # a pretext objective standardises the images in its own prepare
        batch = data_batch(source, cfg["input_shape"], cfg["batch_size"], seed=int(job.seed),
                           normalize=objective is None)
    score = ranker.score(net, batch)
    if not math.isfinite(score):
        raise StudyError(f"{ranker.name} scored {score} on {job.arch} (seed {job.seed}); a non-finite score ranks nothing")
    return {"best_acc": score, "score": score, "ranker": ranker.name, "params": count_params(net),
            "macs": count_macs(net, (channels, *cfg["input_shape"][1:])), "wall_time_s": time.time() - t0,
            "seed": job.seed, "attempt": job.attempts, "versions": _versions(), "threads": torch.get_num_threads()}


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


def _study_configs(config: str, tasks: Sequence[str], space_name: str, data_root: Optional[str],
                   overrides: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """The config of each of *tasks*: a training config, checked against the space, with the overrides applied;
    or, for a ranker task (an entry with ``ranker``, or a registered ranker's name the study config leaves out),
    its frozen ranker config, whose network shape comes from the supervised (else the first) training config."""
    from unnas.rankers import RANKERS

    configs = load_study_config(config, data_root)
    missing = [t for t in tasks if t not in configs and t not in RANKERS]
    if missing:
        raise StudyError(f"{config} has no training config for {', '.join(missing)} (it has {', '.join(configs)}), "
                         f"and {'it is not a ranker' if len(missing) == 1 else 'they are not rankers'}; add it to "
                         f"the study config's tasks or use a ranker ({', '.join(RANKERS)})")
    out = {}
    for task in tasks:
        if task in configs and not is_ranker_config(configs[task]):
            _check_config_space(configs[task], space_name, f"{config} ({task})")
            out[task] = apply_overrides(configs[task], overrides, f"the {task} config")
    trained = [t for t in configs if not is_ranker_config(configs[t])]
    ref_task = next((t for t in ("supervised", *[t for t in tasks if t in out], *trained) if t in trained), None)
    reference = out.get(ref_task) or (apply_overrides(configs[ref_task], overrides, f"the {ref_task} config")
                                      if ref_task else None)
    for task in tasks:
        if task not in out:
            entry = (configs[task] if task in configs
                     else ranker_entry(task, ranker_defaults(config), f"{config} ({task})"))
            out[task] = _ranker_config(entry, reference, space_name, f"{config} ({task})", data_root)
    return {t: out[t] for t in tasks}


def _freeze_configs(directory: str, configs: Dict[str, Dict[str, Any]]) -> None:
    os.makedirs(os.path.join(directory, "configs"), exist_ok=True)
    for task, cfg in configs.items():
        with open(os.path.join(directory, "configs", f"{task}.yaml"), "w", encoding="utf-8") as f:
            yaml.safe_dump(cfg, f, sort_keys=False)


def init_study(directory: str, archs: str = "unnas500", tasks: Sequence[str] = TASKS, seeds: Sequence[int] = (1,),
               config: Optional[str] = None, data_root: Optional[str] = None, space: Optional[str] = None,
               overrides: Optional[Dict[str, Any]] = None) -> Store:
    """Create the study: the job database and a frozen copy of each objective's training config. Without *config*,
    the space's CPU study config (its ``default_study_config``). *overrides* (``{"trainer.max_epochs": 2}``) are
    set in every frozen config. Everything is checked before anything is written, and the database comes last:
    a failed init leaves no study behind."""
    Store(directory).check_new()
    for t in tasks:
        check_task_name(t)
    if data_root is not None:
        check_data_root(data_root)
    overrides = dict(overrides or {})
    space_name, arch_list = resolve_arch_set(archs, space)
    config = config or space_class(space_name).default_study_config
    if config is None:
        raise StudyError(f"no default study config for the {space_name} space; pass --config")
    configs = _study_configs(config, tasks, space_name, data_root, overrides)
    meta = {"space": space_name, "archs": archs, "tasks": list(tasks), "seeds": list(seeds),
            "config": os.path.abspath(config), "data_root": os.path.abspath(data_root) if data_root else None,
            "overrides": overrides, "created": time.time()}
    Store.check_jobs(arch_list, list(tasks), list(seeds))
    _freeze_configs(directory, configs)
    return Store.create(directory, arch_list, list(tasks), list(seeds), meta=meta)


def add_to_study(directory: str, archs: Optional[str] = None, tasks: Sequence[str] = (), seeds: Sequence[int] = (),
                 config: Optional[str] = None) -> int:
    """Grow a study with architectures (a set or file, as at init), objectives and seeds; only the missing jobs are
    created. A new objective's training config is frozen from *config*, else the study config given at init, with
    the init's data root and overrides. Returns the number of new jobs."""
    store = Store.open(directory)
    meta = store.meta()
    space_name = meta.get("space", "darts")
    arch_list = resolve_arch_set(archs, space_name)[1] if archs else []
    for t in tasks:
        check_task_name(t)
    new_tasks = [t for t in dict.fromkeys(tasks) if t not in meta["tasks"]]
    configs: Dict[str, Dict[str, Any]] = {}
    if new_tasks:
        config = config or meta.get("config")
        if not config:
            raise StudyError(f"{directory} does not record its study config; pass --config")
        configs = _study_configs(config, new_tasks, space_name, meta.get("data_root", _frozen_data_root(directory)),
                                 meta.get("overrides") or {})
    new_seeds = [int(s) for s in dict.fromkeys(seeds) if int(s) not in meta["seeds"]]
    _freeze_configs(directory, configs)
    added = {"archs": archs, "tasks": new_tasks, "seeds": new_seeds, "config": os.path.abspath(config) if configs else None,
             "time": time.time()}
    return store.add(arch_list, new_tasks, new_seeds, meta={
        "tasks": meta["tasks"] + new_tasks, "seeds": meta["seeds"] + new_seeds,
        "added": list(meta.get("added", [])) + [added]})


def _frozen_data_root(directory: str) -> Optional[str]:
    """The data root of the study's frozen configs (studies made before the meta recorded it)."""
    folder = os.path.join(directory, "configs")
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            cfg = yaml.safe_load(f) or {}
        root = (((cfg.get("data") or {}).get("source") or {}).get("init_args") or {}).get("root")
        if root:
            return root
    return None


def _check_config_space(cfg: Dict[str, Any], space: str, where: str) -> None:
    """The training config must build networks of the study's space (its ``model.init_args.space``)."""
    spec = ((cfg.get("model") or {}).get("init_args") or {}).get("space")
    path = spec.get("class_path") if isinstance(spec, dict) else spec
    if path is None:
        found = "darts"
    else:
        found = next((n for n in space_names() if space_class(n).__name__ == str(path).rsplit(".", 1)[-1]), str(path))
    if found != space:
        raise StudyError(f"{where} trains {found} networks but the architectures are {space} cells; "
                         f"use a config whose model.init_args.space is the {space} space")


# ------------------------------------------------------------------------------------------- running a job
def _versions() -> Dict[str, str]:
    import lightning
    import torch

    import unnas

    return {"python": platform.python_version(), "torch": torch.__version__, "lightning": lightning.__version__,
            "unnas": unnas.__version__}


def arch_folder(arch: str) -> str:
    """A folder name for the architecture id *arch*: characters outside ``[A-Za-z0-9_.-]`` become ``-`` and, when
    that changed the id, ``~`` and a hash of the id follow. An unchanged id never holds ``~``, so distinct ids never
    share a folder."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "-", arch)
    if safe == arch:
        return safe
    return f"{safe}~{hashlib.sha1(arch.encode('utf-8')).hexdigest()[:8]}"


def job_run_dir(directory: str, job: Job) -> str:
    """``DIR/runs/<task>/<arch folder>_seed<seed>/attempt<k>``: every attempt at a job writes its own folder."""
    return os.path.join(directory, "runs", job.task, f"{arch_folder(job.arch)}_seed{job.seed}", f"attempt{job.attempts}")


class LeaseLost(StudyError):
    """Another worker took the job over; this copy stopped."""


def _stop_when_lease_lost(job: Job, held: Callable[[], bool]):
    """A Lightning callback that polls *held* after every batch and stops training once it returns False."""
    import lightning as L

    class StopWhenLeaseLost(L.Callback):
        def _check(self, *args, **kwargs) -> None:
            if not held():
                raise LeaseLost(f"job {job.id}: another worker took over its lease; this copy stopped")

        on_train_batch_end = on_validation_batch_end = _check

    return StopWhenLeaseLost()


def train_job(directory: str, job: Job, renew: Optional[Callable[[], bool]] = None, extra_loggers: Sequence = ()) -> Dict[str, Any]:
    """Train one job with the study's frozen config for its objective (a ranker task's job is scored instead:
    :func:`rank_job`); returns the result record. *renew* is polled after every training and validation batch and
    must be cheap (``LeaseKeeper.held``: the lease itself is renewed by a thread); once it returns False training
    stops with :class:`LeaseLost`."""
    import torch

    from unnas.lightning_cli import run as run_cli

    with open(os.path.join(directory, "configs", f"{job.task}.yaml"), encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    if is_ranker_config(cfg):
        return rank_job(directory, job, cfg)
    cfg = copy.deepcopy(cfg)
    cfg["seed_everything"] = int(job.seed)
    cfg["model"]["init_args"]["genotype"] = job.genotype
    run_dir = job_run_dir(directory, job)
    trainer = cfg.setdefault("trainer", {})
    trainer["logger"] = [{"class_path": "lightning.pytorch.loggers.CSVLogger",
                          "init_args": {"save_dir": os.path.dirname(run_dir), "name": "", "version": os.path.basename(run_dir)}}]
    trainer["enable_progress_bar"] = False
    trainer["enable_model_summary"] = False
    cli = run_cli(cfg, run=False)
    if renew is not None:
        cli.trainer.callbacks.append(_stop_when_lease_lost(job, renew))
    for logger in extra_loggers:
        cli.trainer.loggers.append(logger)
    cli.trainer.fit(cli.model, cli.datamodule)
    result = cli.model.result()
    if result["best_acc"] is None or (isinstance(result["best_acc"], float) and math.isnan(result["best_acc"])):
        raise StudyError("training finished without a held-out evaluation (best_acc is NaN)")
    return {**result, "seed": job.seed, "attempt": job.attempts, "run_dir": os.path.relpath(run_dir, directory),
            "versions": _versions(), "threads": torch.get_num_threads()}


# ------------------------------------------------------------------------------------------- workers
def default_threads(workers: int, cores: Optional[int] = None) -> int:
    """Torch threads per worker when none are asked for: this process's cores shared among *workers*."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, workers))


def check_lease(lease_s: float) -> float:
    """*lease_s* if a worker can keep such a lease; else :class:`StudyError`."""
    if not lease_s >= MIN_LEASE_S:  # also refuses NaN
        raise StudyError(f"--lease must be at least {MIN_LEASE_S:g} s (it is renewed every lease/{RENEWALS_PER_LEASE}, "
                         f"and a renewal may wait up to {MIN_RENEWAL_S:g} s for the database); got {lease_s:g}")
    return lease_s


class LeaseKeeper:
    """Renews a lease from a thread every *period* seconds, whatever the job is doing. :meth:`held` turns False
    once a renewal finds the job taken over (or the store failing: :attr:`error`); a renewal that cannot get the
    database lock within a period is retried at the next one."""

    def __init__(self, renew: Callable[[], bool], period: float):
        self._renew, self.period = renew, period
        self._stop, self._lost = threading.Event(), threading.Event()
        self.error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def held(self) -> bool:
        return not self._lost.is_set()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                still_held = self._renew()
            except sqlite3.OperationalError:  # the lock stayed busy for a whole period
                continue
            except Exception as e:  # noqa: BLE001 - re-raised by the worker once the job has stopped
                self.error = e
                still_held = False
            if not still_held:
                self._lost.set()
                return

    def __enter__(self) -> "LeaseKeeper":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class Interrupted(BaseException):
    """SIGINT or SIGTERM reached a worker. A ``BaseException``, like ``KeyboardInterrupt``, so that no
    ``except Exception`` (a job's, Lightning's) takes it for a failed job."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        """The shell's status for a process ended by the signal: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


@contextmanager
def _signals_raise_interrupted() -> Iterator[None]:
    """In the main thread, SIGINT and SIGTERM raise :class:`Interrupted` (the first one; later ones are ignored
    while the worker gives its job back). Lightning calls this handler from its own SIGTERM handler during fit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: List[int] = []

    def handler(signum, frame):
        if not fired:
            fired.append(signum)
            raise Interrupted(signum)

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h if h is not None else signal.SIG_DFL)


class _OncePerProcess(logging.Filter):
    """Lets each distinct message through once: Lightning repeats its tips and device banners for every Trainer."""

    def __init__(self):
        super().__init__()
        self.seen: set = set()

    def filter(self, record: logging.LogRecord) -> bool:
        key = record.getMessage()
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


REPEATING_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero",
                     "lightning.pytorch.accelerators.cuda")


def quiet_repeated_lightning_messages() -> None:
    """Show Lightning's per-Trainer tips and banners ("💡 Tip: ...", "GPU available: ...") once in this process."""
    for name in REPEATING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _OncePerProcess) for f in logger.filters):
            logger.addFilter(_OncePerProcess())


@dataclass
class WorkSummary:
    """What one worker did: jobs recorded, failed, and stopped because another worker took them over."""

    recorded: int = 0
    failed: int = 0
    lost: int = 0

    @property
    def ran(self) -> int:
        return self.recorded + self.failed + self.lost


def work(directory: str, max_jobs: Optional[int] = None, lease_s: float = DEFAULT_LEASE_S,
         run_job: Optional[Callable[..., Dict[str, Any]]] = None, log: Callable[[str], None] = print,
         job_id: Optional[int] = None, threads: Optional[int] = None) -> WorkSummary:
    """Claim and run jobs (with *run_job*, default :func:`train_job`) until none is left or *max_jobs* ran.

    *threads* sets torch's thread count (printed once; recorded with every result as ``threads``). The lease is
    renewed every ``lease_s / RENEWALS_PER_LEASE`` by a :class:`LeaseKeeper` thread; *run_job* gets its ``held``
    as ``renew`` and should stop once it returns False. SIGINT/SIGTERM put the job in hand back to ``pending`` and
    raise :class:`Interrupted`. :class:`StudyError` when ``SAME_FAILURES_TO_STOP`` jobs in a row fail the same way.
    """
    import torch

    run_job = run_job or train_job
    store = Store.open(directory)
    me = worker_id()
    if threads is not None:
        torch.set_num_threads(threads)
    log(f"[{me}] {torch.get_num_threads()} torch thread(s)")
    quiet_repeated_lightning_messages()
    period = lease_s / RENEWALS_PER_LEASE
    summary = WorkSummary()
    same_error: List[str] = []
    with _signals_raise_interrupted():
        while max_jobs is None or summary.ran < max_jobs:
            job = store.claim(me, lease_s, job_id=job_id)
            if job is None:
                break
            try:
                t0 = time.time()
                log(f"[{me}] job {job.id}: {job.arch} {job.task} seed {job.seed} (attempt {job.attempts})")
                keeper = LeaseKeeper(lambda: store.renew(job, me, lease_s, wait_s=min(period, MIN_RENEWAL_S)), period)
                error = None
                try:
                    with keeper:
                        result = run_job(directory, job, renew=keeper.held)
                except Exception as e:  # noqa: BLE001 - a failed job is recorded with its error; the worker goes on
                    error = e
                if keeper.error is not None:
                    raise keeper.error
                if not keeper.held():
                    summary.lost += 1
                    log(f"[{me}] job {job.id}: another worker took over its lease; this copy stopped, nothing recorded")
                elif error is not None:
                    summary.failed += 1
                    line = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
                    tb = "".join(traceback.format_exception(type(error), error, error.__traceback__, limit=3))
                    store.fail(job, me, f"{line}\n{tb}")
                    log(f"[{me}] job {job.id} failed: {line}")
                    same_error = same_error + [line] if same_error and same_error[-1] == line else [line]
                    if len(same_error) >= SAME_FAILURES_TO_STOP:
                        raise StudyError(f"{len(same_error)} jobs in a row failed with the same error ({line}); this "
                                         f"worker stops: fix the cause, then `unnas study work {directory} --retry-failed`")
                else:
                    same_error = []
                    # a ranker's score is no accuracy in [0, 1]
                    what = f"score={result.get('best_acc'):.6g}" if "ranker" in result else f"best_acc={result.get('best_acc'):.4f}"
                    if store.finish(job, me, {"threads": torch.get_num_threads(), **result}):
                        summary.recorded += 1
                        log(f"[{me}] job {job.id} done in {time.time() - t0:.0f}s: {what}  "
                            f"{progress_line(store)}")
                    else:
                        summary.lost += 1
                        log(f"[{me}] job {job.id}: result discarded, the lease was taken over")
            except Interrupted:
                if store.release(job, me):
                    log(f"[{me}] job {job.id} given back to the queue")
                raise
            if job_id is not None:
                break
    return summary


def progress_line(store: Store) -> str:
    """``done/total, running, failed, left, ETA`` from the store."""
    counts = store.counts()
    total = sum(sum(c.values()) for c in counts.values())
    get = lambda s: sum(c.get(s, 0) for c in counts.values())  # noqa: E731
    done, running, failed = get("done"), get("running"), get("failed")
    left = total - done - failed
    times = store.wall_times()
    eta = ""
    if times and left:
        eta = f", ETA {sum(times) / len(times) * left / max(1, running) / 3600:.1f} h at {max(1, running)} worker(s)"
    return f"[{done}/{total} done, {running} running, {failed} failed, {left} left{eta}]"


def describe_status(status: int) -> str:
    """A child process's return code in words."""
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return "exit 0" if status == 0 else f"exit {status}"


def spawn_workers(directory: str, workers: int, max_jobs: Optional[int], lease_s: float, threads: Optional[int],
                  log: Callable[[str], None] = print) -> int:
    """Run *workers* worker processes on this machine (each with *threads* torch threads, default cores / workers)
    and wait for all of them, passing SIGINT and SIGTERM on to them; prints each one's status. Returns 128 + the
    signal when this process was interrupted, else 1 if a worker failed or was killed, else 0."""
    threads = threads or default_threads(workers)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [*WORKER_COMMAND, "study", "work", directory, "--workers", "1", "--lease", str(lease_s),
           "--threads", str(threads)]
    if max_jobs is not None:
        cmd += ["--max-jobs", str(max_jobs)]
    procs: List[subprocess.Popen] = []
    received: List[int] = []

    def forward(signum, frame):
        received.append(signum)
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    main = threading.current_thread() is threading.main_thread()
    old = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)} if main else {}
    try:
        for _ in range(workers):
            if not received:
                procs.append(subprocess.Popen(cmd, env=env))
        statuses = [p.wait() for p in procs]
    finally:
        for sig, h in old.items():
            signal.signal(sig, h if h is not None else signal.SIG_DFL)
    for i, (p, status) in enumerate(zip(procs, statuses), 1):
        log(f"worker {i} of {workers} (pid {p.pid}): {describe_status(status)}")
    if received:
        return 128 + received[0]
    return 1 if any(statuses) else 0
