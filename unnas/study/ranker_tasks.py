"""Training-free ranker tasks of a study: their entries in a study config, their frozen configs, and the ranker,
space and image source built from one."""

from __future__ import annotations

import copy
from typing import Any, Dict, Optional

from unnas.errors import UserError
from unnas.spaces.base import space_class
from unnas.study import config_keys as keys
from unnas.study.archs import check_config_space
from unnas.study.store import StudyError

# Keys of a ranker task's entry in a study config and of its frozen config; the default batch is `unnas rank`'s.
RANKER_KEYS = ("ranker", "space", "input_shape", "num_classes", "batch_size", "data")
DEFAULT_RANK_BATCH = 64


def is_ranker_config(cfg: Any) -> bool:
    """Whether a study config entry or frozen config is a ranker task's (it has a ``ranker`` key)."""
    return isinstance(cfg, dict) and "ranker" in cfg


def check_ranker_defaults(defaults: Any, where: str) -> Dict[str, Any]:
    """A study config's ``rankers`` mapping, checked: the keys of a ranker entry except ``ranker``."""
    defaults = defaults or {}
    if not isinstance(defaults, dict):
        raise StudyError(f"{where}: 'rankers' must be a mapping of ranker settings ({', '.join(RANKER_KEYS[1:])})")
    unknown = [str(k) for k in defaults if k not in RANKER_KEYS[1:]]
    if unknown:
        raise StudyError(f"{where}: unknown key(s) {', '.join(unknown)} under 'rankers'; use {', '.join(RANKER_KEYS[1:])}")
    return defaults


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


def ranker_config(entry: Dict[str, Any], reference: Optional[Dict[str, Any]], space_name: str,
                  where: str, data_root: Optional[str] = None) -> Dict[str, Any]:
    """The frozen config of a ranker task: its entry, with the space, input shape and classes it leaves out taken
    from *reference* (a training config of the study), else the space's default shape and first dataset. An entry
    with ``data`` (an image source: ``class_path``/``init_args``, or ``true`` for the reference config's source)
    scores on real images of that source, its root replaced by *data_root* when given."""
    ref = reference or {}
    model_args = keys.model_args(ref)
    source_args = keys.source_args(ref)
    task_args = keys.objective_args(ref)
    spec = next(iter(space_class(space_name).datasets.values()))
    default_space = space_class(space_name)
    space = (entry.get("space") or model_args.get(keys.SPACE_KEY)
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
        data = keys.source(ref)
        if not data:
            raise StudyError(f"{where}: data: true takes the image source of the study's training configs, and it "
                             f"has none; give the source itself (data: {{class_path: unnas.data.CIFAR10, init_args: "
                             f"{{root: ...}}}})")
    if data:
        data = {"class_path": data} if isinstance(data, str) else copy.deepcopy(data)
        if data_root is not None and isinstance(data, dict):
            keys.set_data_root(data, data_root)
        cfg["data"] = data
    check_config_space({"model": {"init_args": {keys.SPACE_KEY: cfg["space"]}}}, space_name, where)
    build_ranker(cfg, where)
    return cfg


def build_ranker(cfg: Dict[str, Any], where: str):
    """``(ranker, space, image source or None)`` instantiated from a ranker task's frozen config; one-line
    :class:`StudyError` else."""
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
    except StudyError:
        raise
    except UserError as e:  # a bad size, architecture or data setting: the place, then the message
        raise StudyError(f"{where}: {e}") from None
    return built.ranker, built.space, built.data
