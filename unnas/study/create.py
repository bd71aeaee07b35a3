"""Creating and growing a study: the job database and the frozen config of each objective or ranker task."""

from __future__ import annotations

import os
import time
from typing import Any, Dict, Optional, Sequence, Union

from unnas.spaces.base import space_class
from unnas.study.archs import resolve_arch_set
from unnas.study.config import check_data_root, freeze_configs, frozen_data_root, study_configs
from unnas.study.store import Store, StudyError, check_task_name

#: the default set of ``unnas study init --archs``
DEFAULT_ARCHS = "unnas500"


def default_tasks() -> list:
    """The objectives a study trains when none are named: the registry's default ones."""
    from pretext_tasks.registry import default_objectives

    return default_objectives()


def init_study(directory: str, archs: str = DEFAULT_ARCHS, tasks: Optional[Sequence[str]] = None,
               seeds: Sequence[int] = (1,), config: Optional[str] = None, data_root: Optional[str] = None,
               space: Optional[str] = None, overrides: Optional[Dict[str, Any]] = None) -> Store:
    """Create the study: the job database and a frozen copy of each task's config. *tasks* are objectives and
    training-free rankers (default: :func:`default_tasks`). Without *config*, the space's CPU study config (its
    ``default_study_config``). *overrides* (``{"trainer.max_epochs": 2}``) are set in every frozen training config.
    Everything is checked before anything is written, and the database comes last: a failed init leaves no study
    behind."""
    tasks = list(default_tasks() if tasks is None else tasks)
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
    configs = study_configs(config, tasks, space_name, data_root, overrides)
    meta = {"space": space_name, "archs": archs, "tasks": tasks, "seeds": list(seeds),
            "config": os.path.abspath(config), "data_root": os.path.abspath(data_root) if data_root else None,
            "overrides": overrides, "created": time.time()}
    Store.check_jobs(arch_list, tasks, list(seeds))
    freeze_configs(directory, configs)
    return Store.create(directory, arch_list, tasks, list(seeds), meta=meta)


def add_to_study(study: Union[Store, str], archs: Optional[str] = None, tasks: Sequence[str] = (),
                 seeds: Sequence[int] = (), config: Optional[str] = None) -> int:
    """Grow a study (an opened :class:`Store`, or its folder) with architectures (a set or file, as at init),
    objectives or rankers, and seeds; only the missing jobs are created. A new task's config is frozen from
    *config*, else the study config given at init, with the init's data root and overrides. Returns the number
    of new jobs."""
    store = Store.of(study)
    directory = store.directory
    meta = store.meta()
    space_name = store.space(meta)
    arch_list = resolve_arch_set(archs, space_name)[1] if archs else []
    for t in tasks:
        check_task_name(t)
    new_tasks = [t for t in dict.fromkeys(tasks) if t not in meta["tasks"]]
    configs: Dict[str, Dict[str, Any]] = {}
    if new_tasks:
        config = config or meta.get("config")
        if not config:
            raise StudyError(f"{directory} does not record its study config; pass --config")
        configs = study_configs(config, new_tasks, space_name, meta.get("data_root", frozen_data_root(directory)),
                                meta.get("overrides") or {})
    new_seeds = [int(s) for s in dict.fromkeys(seeds) if int(s) not in meta["seeds"]]
    freeze_configs(directory, configs)
    added = {"archs": archs, "tasks": new_tasks, "seeds": new_seeds, "config": os.path.abspath(config) if configs else None,
             "time": time.time()}
    return store.add(arch_list, new_tasks, new_seeds, meta={
        "tasks": meta["tasks"] + new_tasks, "seeds": meta["seeds"] + new_seeds,
        "added": list(meta.get("added", [])) + [added]})
