"""Creating and growing a study: the job database and the frozen config of each objective or ranker task."""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import re
import shutil
import time
import warnings
from typing import Any, Dict, Iterator, Optional, Sequence, Union

from unnas.spaces.base import space_class
from unnas.study import config_keys as keys
from unnas.study.archs import resolve_arch_set
from unnas.study.config import (CONFIGS_DIR, check_data_root, freeze_configs, frozen_data_root, study_configs,
                                 source_takes_root)
from unnas.study.store import Store, StudyError, check_task_name

#: the default set of ``unnas study init --archs``
DEFAULT_ARCHS = "unnas500"


def default_tasks() -> list:
    """The objectives a study trains when none are named: the registry's default ones."""
    from pretext_tasks.registry import default_objectives

    return default_objectives()


def init_study(directory: str, archs: str = DEFAULT_ARCHS, tasks: Optional[Sequence[str]] = None,
               seeds: Sequence[int] = (1,), config: Optional[str] = None, data_root: Optional[str] = None,
               space: Optional[str] = None, overrides: Optional[Dict[str, Any]] = None, top: Optional[int] = None,
               by: Optional[str] = None) -> Store:
    """Create the study: the job database and a frozen copy of each task's config. *tasks* are objectives and
    training-free rankers (default: :func:`default_tasks`). Without *config*, the space's CPU study config (its
    ``default_study_config``). *overrides* (``{"trainer.max_epochs": 2}``) are set in every frozen training config.
    *top* and *by* take the best architectures of a ranked file (``unnas rank --json --out``) as the set.
    Everything is checked before anything is written, and the database comes last: a failed init leaves no study
    behind."""
    tasks = list(default_tasks() if tasks is None else tasks)
    Store(directory).check_new()
    for t in tasks:
        check_task_name(t)
    if data_root is not None:
        check_data_root(data_root)
    overrides = dict(overrides or {})
    space_name, arch_list = resolve_arch_set(archs, space, top, by)
    config = config or space_class(space_name).default_study_config
    if config is None:
        raise StudyError(f"no default study config for the {space_name} space; pass --config")
    configs = study_configs(config, tasks, space_name, data_root, overrides)
    meta = {"space": space_name, "archs": archs if top is None else f"{archs} (top {top} by {by or 'its score'})",
            "tasks": tasks, "seeds": list(seeds),
            "config": os.path.abspath(config), "data_root": os.path.abspath(data_root) if data_root else None,
            "overrides": overrides, "created": time.time()}
    Store.check_jobs(arch_list, tasks, list(seeds))
    check_configs(configs, arch_list[0][1] if arch_list else None, config, data_root, overrides)
    existed = os.path.isdir(directory)
    try:
        freeze_configs(directory, configs)
        return Store.create(directory, arch_list, tasks, list(seeds), meta=meta)
    except BaseException:
        shutil.rmtree(directory if not existed else os.path.join(directory, CONFIGS_DIR), ignore_errors=True)
        raise


def add_to_study(study: Union[Store, str], archs: Optional[str] = None, tasks: Sequence[str] = (),
                 seeds: Sequence[int] = (), config: Optional[str] = None, top: Optional[int] = None,
                 by: Optional[str] = None) -> int:
    """Grow a study (an opened :class:`Store`, or its folder) with architectures (a set or file, as at init),
    objectives or rankers, and seeds; only the missing jobs are created. A new task's config is frozen from
    *config*, else the study config given at init, with the init's data root and overrides. Returns the number
    of new jobs."""
    store = Store.of(study)
    directory = store.directory
    meta = store.meta()
    space_name = store.space(meta)
    arch_list = resolve_arch_set(archs, space_name, top, by)[1] if archs else []
    for t in tasks:
        check_task_name(t)
    new_tasks = [t for t in dict.fromkeys(tasks) if t not in meta["tasks"]]
    configs: Dict[str, Dict[str, Any]] = {}
    if new_tasks:
        config = config or meta.get("config")
        if not config:
            raise StudyError(f"{directory} does not record its study config; pass --config")
        data_root = meta.get("data_root", frozen_data_root(directory))
        configs = study_configs(config, new_tasks, space_name, data_root, meta.get("overrides") or {})
        check_configs(configs, next(iter(store.archs()), (None, None))[1], config, data_root,
                      meta.get("overrides") or {})
    new_seeds = [int(s) for s in dict.fromkeys(seeds) if int(s) not in meta["seeds"]]
    freeze_configs(directory, configs)
    added = {"archs": archs, "tasks": new_tasks, "seeds": new_seeds, "config": os.path.abspath(config) if configs else None,
             "time": time.time()}
    return store.add(arch_list, new_tasks, new_seeds, meta={
        "tasks": meta["tasks"] + new_tasks, "seeds": meta["seeds"] + new_seeds,
        "added": list(meta.get("added", [])) + [added]})


# ------------------------------------------------------------------------------------------- checking the configs
#: Lightning's loggers, quiet while a config is only built to be checked ("Seed set to 1", "GPU available: ...")
LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning")


@contextlib.contextmanager
def _quietly() -> Iterator[None]:
    """Lightning's banners, warnings and prints held back while a config is built only to be checked."""
    loggers = [logging.getLogger(n) for n in LIGHTNING_LOGGERS]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.WARNING + 1)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _blame(error: BaseException, task: str, config: str, data_root: Optional[str], overrides: Dict[str, Any]) -> str:
    """One line for a config that ``unnas fit`` would refuse: the ``--set`` key or ``--data-root`` folder it comes
    from when it is one of them, else the objective's recipe in the study config."""
    from unnas.data.sources import DataError

    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    said = first.split("did you mean")[0]  # the key it names, not the one it suggests
    for key in sorted(overrides, key=len, reverse=True):
        if (re.search(rf"(?<![\w.]){re.escape(key)}(?!\w)", said)
                or re.search(rf"--{re.escape(key.rsplit('.', 1)[-1])}(?!\w)", said)):
            return (f"--set {key}={overrides[key]}: {first} (in the {task} config); set a key and value that "
                    f"`unnas fit` accepts. Nothing was created")
    if data_root is not None and isinstance(error, DataError):
        return (f"--data-root {data_root}: the {task} config finds no data there: {first}; pass the folder that "
                f"holds the data set. Nothing was created")
    return f"the {task} config of {config}: {first}; fix its recipe. Nothing was created"


def check_training_config(cfg: Dict[str, Any], task: str, arch: Optional[str], config: str,
                          data_root: Optional[str] = None, overrides: Optional[Dict[str, Any]] = None) -> None:
    """Build *cfg* as a job would (``unnas fit``'s parser and classes, :func:`unnas.lightning_cli.run` with
    ``run=False``: no training), with the study's first architecture *arch*; with *data_root*, also open its data
    (both splits, as a job does). :class:`StudyError` (one line naming the ``--set`` key, the ``--data-root`` folder
    or the recipe) when it would fail."""
    from unnas.lightning_cli import run

    cfg = copy.deepcopy(cfg)
    if arch is not None:
        keys.set_arch(cfg, arch)
    trainer = cfg.setdefault("trainer", {})
    trainer.update(logger=False, enable_progress_bar=False, enable_model_summary=False)
    try:
        with _quietly():
            cli = run(cfg, run=False)
            if data_root is not None:
                cli.datamodule.attach_task(cli.model.task)
                cli.datamodule.setup("fit")
    except Exception as e:  # noqa: BLE001 - a job would fail the same way: refused here, in one line
        raise StudyError(_blame(e, task, config, data_root, overrides or {})) from None


def check_ranker_data(cfg: Dict[str, Any], task: str, data_root: str) -> None:
    """Open the training split of a ranker task's image source (when its ranker reads images) at *data_root*."""
    from unnas.study.ranker_tasks import build_ranker

    ranker, _, source = build_ranker(cfg, f"{task} ranker config")
    if source is None or not ranker.needs_images:
        return
    try:
        found = len(source.dataset("train", lambda image: image))
    except Exception as e:  # noqa: BLE001 - a job would fail the same way
        raise StudyError(_blame(e, task, "the study config", data_root, {})) from None
    if not found:
        raise StudyError(f"--data-root {data_root}: the {task} ranker finds no images in {source.describe()}; pass "
                         f"the folder that holds the data set. Nothing was created")


def check_configs(configs: Dict[str, Dict[str, Any]], arch: Optional[str], config: str, data_root: Optional[str],
                  overrides: Dict[str, Any]) -> None:
    """Check every config a study is about to freeze: each training config is built as a job builds it
    (:func:`check_training_config`) and, with *data_root*, opens its data; each ranker task that reads images
    opens them. Nothing is trained and nothing is written."""
    from unnas.study.ranker_tasks import is_ranker_config

    for task, cfg in configs.items():
        source = cfg.get("data") if is_ranker_config(cfg) else keys.source(cfg)
        if data_root is not None and source and not source_takes_root(source):
            path = source.get("class_path") if isinstance(source, dict) else source
            raise StudyError(f"--data-root {data_root}: the image source of the {task} config ({path}) reads no "
                             f"folder; leave --data-root out, or use a config whose source has a root")
        if is_ranker_config(cfg):
            if data_root is not None and cfg.get("data"):
                check_ranker_data(cfg, task, data_root)
        else:
            check_training_config(cfg, task, arch, config, data_root, overrides)
