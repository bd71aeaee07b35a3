"""``unnas fit | validate | test``: LightningCLI over the unnas modules, data and objectives.

The LightningModule is chosen by ``class_path`` (``unnas.modules.WeightSharingSearch`` or ``unnas.modules.ArchTraining``),
the objective by ``model.init_args.objective`` (old key ``task``; a registered objective's name such as ``rotation``, a
class name or a class path; :mod:`unnas.objective_args`) and the images by ``data.init_args.source``. W&B runs
offline unless ``WANDB_MODE=online`` is set (with an API key); metrics also go to CSV. ``threads`` (top level) sets
torch's thread count; checkpoints get a ``.sha256`` beside them, checked before ``--ckpt_path`` is loaded.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import inspect
import math
import os
import re
import sys
import warnings
from typing import Any, Dict, List, Optional, Sequence

import lightning as L
import torch
import yaml
from lightning.fabric.plugins.io.checkpoint_io import CheckpointIO
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import WandbLogger

import unnas.data  # noqa: F401
import unnas.modules  # noqa: F401
from pretext_tasks.registry import objective_names
from unnas.data.datamodule import ImageDataModule
from unnas.errors import USER_ERRORS, ConfigError
from unnas.modules.checkpoints import SPECIAL_CKPT_PATHS, ChecksumCheckpointIO
from unnas.modules.common import run_dir
from unnas.provenance import machine
from unnas.objective_args import install_loader, rewrite_argv, rewrite_config

CONFIG_NAME = "lightning_config.yaml"


class SaveConfigToRunDir(SaveConfigCallback):
    """Save the resolved config into the run's own folder as ``lightning_config.yaml``, and log the torch thread
    count as a hyperparameter (results at a fixed seed depend on it).

    Lightning's default writes ``config.yaml`` into ``trainer.log_dir``, which with a W&B logger is a folder
    shared by all runs (the second run then aborts) and clashes with W&B's own ``config.yaml``.
    """

    def save_config(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        path = os.path.join(run_dir(trainer), CONFIG_NAME)
        self.parser.save(self.config, path, overwrite=True, multifile=False)
        strategy = getattr(pl_module, "strategy_name", None)
        for logger in trainer.loggers:
            # the run folder's hparams.yaml tells a GDAS run from a DARTS one
            logger.log_hyperparams({"threads": self.config.get("threads"), "machine": machine(),
                                    **({"search_strategy": strategy()} if strategy else {})})
            if isinstance(logger, WandbLogger):
                logger.experiment.config.update({"cli": self.config.as_dict()}, allow_val_change=True)


def name_search_folders(cfg: Any) -> None:
    """Put a search's strategy into its CSV run folder's name (``runs/search_cifar10_rotation_cpu_gdas/version_0``)
    unless the name already says it, so runs of two strategies under one config land apart. DARTS first order,
    the default strategy, keeps the config's name."""
    model = cfg.get("model")
    args = getattr(model, "init_args", None)
    if args is None or not str(getattr(model, "class_path", "")).endswith(("WeightSharingSearch", "DartsSearch")):
        return
    from unnas.modules.strategies import FirstOrder
    from unnas.modules.strategies.base import strategy_name

    spec = args.get("search_strategy") or args.get("strategy")
    class_path = str(getattr(spec, "class_path", "") or "")
    if not class_path:
        return
    module, _, class_name = class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), class_name)
    except (ImportError, AttributeError, ValueError):
        return  # the parser names a strategy it cannot build when it builds the model
    if cls is FirstOrder:
        return
    short = strategy_name(cls)
    loggers = (cfg.get("trainer") or {}).get("logger")
    for entry in loggers if isinstance(loggers, list) else [loggers]:
        init = getattr(entry, "init_args", None)
        if init is None or not str(getattr(entry, "class_path", "")).endswith("CSVLogger"):
            continue
        name = str(init.get("name") or "")
        if short.replace("_", "") not in name.lower().replace("_", ""):
            init.name = f"{name}_{short}" if name else short


TRAINER_DEFAULTS = {
    "logger": [
        {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": "runs", "name": "unnas"}},
        {"class_path": "lightning.pytorch.loggers.WandbLogger", "init_args": {"save_dir": "runs", "project": "unnas"}},
    ],
}


# ----------------------------------------------------------------------------------------------- threads
def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one, else the CPU count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """Torch threads when nothing else sets them: ``OMP_NUM_THREADS`` where it is a positive integer (the
    variable the user already set for every OpenMP program), else the usable cores."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(env) if env.isascii() and env.isdigit() and int(env) >= 1 else usable_cores()


def choose_threads(setting: Optional[int], default: Optional[int]) -> int:
    """The torch thread count: *setting* (``threads:``), else *default*, else the process's current count."""
    n = setting if setting is not None else default if default is not None else torch.get_num_threads()
    if n < 1:
        raise ConfigError(f"threads={n}: torch needs at least one thread; set --threads between 1 and "
                          f"{usable_cores()} (the usable cores)")
    return n


# ----------------------------------------------------------------------------------------------- trainer checks
def _count_rule(low: int, allowed: Sequence[Any] = (None,), hint: str = ""):
    def ok(v):
        return v in allowed or (isinstance(v, int) and not isinstance(v, bool) and v >= low)
    return ok, f"must be an integer >= {low}" + hint


def _fraction_or_count(v) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return v >= 1
    # jsonargparse may hand a whole count over as a float (2.0); Lightning reads it as the count.
    return isinstance(v, float) and math.isfinite(v) and (0 < v <= 1 or (v > 1 and v.is_integer()))


TRAINER_RULES = {
    "max_epochs": _count_rule(1, (None, -1), " (or -1 to stop by max_steps), e.g. --trainer.max_epochs=10"),
    "max_steps": _count_rule(1, (None, -1), " (or -1: no limit)"),
    "min_epochs": _count_rule(0),
    "min_steps": _count_rule(0),
    "accumulate_grad_batches": _count_rule(1, ()),
    "log_every_n_steps": _count_rule(1),
    "check_val_every_n_epoch": _count_rule(1),
    "num_sanity_val_steps": _count_rule(0, (None, -1), " (or -1: the whole held-out set)"),
    "limit_train_batches": (lambda v: v is None or _fraction_or_count(v),
                            "must be a fraction in (0, 1] or a batch count >= 1 (0 would skip training)"),
}


def check_trainer_settings(trainer: Dict[str, Any]) -> None:
    """Raise :class:`ConfigError` for trainer counts that cannot train: negative, or zero where zero silently
    trains nothing (``max_epochs: 0``, ``limit_train_batches: 0``)."""
    for key, (ok, rule) in TRAINER_RULES.items():
        if key in trainer and not ok(trainer[key]):
            raise ConfigError(f"trainer.{key}={trainer[key]}: {rule}")


# ----------------------------------------------------------------------------------------------- user errors
def find_user_error(exc: BaseException) -> Optional[BaseException]:
    """The user error behind *exc* (jsonargparse and Lightning wrap errors raised while parsing and instantiating):
    the first of its chain of causes that is one of :data:`unnas.errors.USER_ERRORS` (a NaN loss too:
    :class:`~unnas.modules.common.NonFiniteLossError` names the fix), else None."""
    for e in _chain(exc):
        if isinstance(e, USER_ERRORS):
            return e
    return None


# ----------------------------------------------------------------------------------------------- parse errors
_UNKNOWN_KEY = (re.compile(r"Option '([^']+)' is not accepted"), re.compile(r"does not accept option '([^']+)'"),
                re.compile(r"unrecognized arguments: (\S+)"), re.compile(r"No action for key \"([^\"]+)\""))


def _chain(exc: BaseException) -> List[BaseException]:
    out, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return re.sub(r"<class '([\w.]+)'>", r"\1", lines[0].strip()) if lines else type(exc).__name__


def _parser_keys(parser) -> List[str]:
    return [a.dest for a in parser._actions if isinstance(a.dest, str) and a.dest not in ("help", "config")]


def _init_params(class_path: str) -> List[str]:
    try:
        module, name = class_path.rsplit(".", 1)
        cls = getattr(importlib.import_module(module), name)
        return [p for p in inspect.signature(cls).parameters if p not in ("self", "args", "kwargs")]
    except (ValueError, ImportError, AttributeError, TypeError):
        return []


def _yaml_problem(config_files: Sequence[str]) -> Optional[str]:
    for path in config_files:
        try:
            with open(path, encoding="utf-8") as f:
                yaml.safe_load(f)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            return f"config file {path} is not valid YAML: {getattr(e, 'problem', None) or e}{where}"
        except OSError:
            continue
    return None


def parse_error_message(exc: BaseException, parser, config_files: Sequence[str] = (), command: str = "fit") -> str:
    """One line for a jsonargparse error: the key it concerns, what is wrong and, for an unknown key or class, the
    nearest valid one."""
    chain = _chain(exc)
    firsts = [_first_line(e) for e in chain]
    deepest = firsts[-1]
    keys: List[str] = []
    class_path = None
    for line in firsts:
        m = re.match(r'Parser key "([^"]+)"', line)
        if m and (not keys or keys[-1] != m.group(1)):
            keys.append(m.group(1))
        m = re.match(r"Problem with given class_path '([^']+)'", line)
        if m and class_path != m.group(1):
            class_path = m.group(1)
            keys.append("init_args")
    if keys and keys[-1] == "init_args" and not any(p.search(deepest) for p in _UNKNOWN_KEY):
        keys.pop()  # the class itself failed, not one of its arguments
    where = ".".join(keys)
    help_hint = f" (all options: unnas {command} --help)"
    if any(line.startswith("Problems parsing config") for line in firsts):
        return _yaml_problem(config_files) or f"a config is not valid YAML: {deepest}"
    for pattern in _UNKNOWN_KEY:
        m = next((pattern.search(line) for line in firsts if pattern.search(line)), None)
        if m:
            bad = m.group(1).lstrip("-").split("=", 1)[0]
            in_class = class_path is not None and where.endswith("init_args")
            full = f"{where}.{bad}" if in_class else bad
            candidates = [f"{where}.{p}" for p in _init_params(class_path)] if in_class else _parser_keys(parser)
            close = difflib.get_close_matches(full, candidates, n=1, cutoff=0.6)
            guess = f"; did you mean --{close[0]}?" if close else ""
            return f"unknown option --{full}{guess}{help_hint}"
    missing = re.match(r"module '([\w.]+)' has no attribute '(\w+)'", deepest)
    if missing:
        module = importlib.import_module(missing.group(1))
        close = difflib.get_close_matches(missing.group(2), [n for n in dir(module) if not n.startswith("_")], n=1)
        guess = f"; did you mean {missing.group(1)}.{close[0]}?" if close else ""
        return f"{where}: class_path {missing.group(1)}.{missing.group(2)} does not exist{guess}"
    if where == "config":
        return f"-c/--config: {deepest}"
    return f"{where}: {deepest}{help_hint}" if where else f"{deepest}{help_hint}"


def _config_files(args: Any) -> List[str]:
    if not isinstance(args, (list, tuple)):
        return []
    files = []
    for i, a in enumerate(args):
        if a in ("-c", "--config") and i + 1 < len(args):
            files.append(args[i + 1])
        elif isinstance(a, str) and a.startswith("--config="):
            files.append(a.split("=", 1)[1])
    return files


# ----------------------------------------------------------------------------------------------- the CLI
class UnnasCLI(LightningCLI):
    """LightningCLI with ``threads``, one-line errors for bad settings, checked checkpoints and named W&B runs.

    Args:
        default_threads: torch threads when the config sets no ``threads`` (``unnas fit``: :func:`default_threads`);
            None keeps the calling process's count (study workers and tests set theirs).
    """

    def __init__(self, *args, default_threads: Optional[int] = None, **kwargs):
        self.default_threads = default_threads
        self.checkpoint_io = ChecksumCheckpointIO()
        super().__init__(*args, **kwargs)

    def init_parser(self, **kwargs: Any):
        # An abbreviated key (`--trainer.max_epoch`) is a typo to report, not a guess to act on.
        kwargs.setdefault("allow_abbrev", False)
        # YAML with objective names (`task: rotation`) resolved to their class paths
        kwargs.setdefault("parser_mode", install_loader())
        return super().init_parser(**kwargs)

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--threads", type=Optional[int], default=None,
                            help="torch threads (default for `unnas fit`: OMP_NUM_THREADS where it is a positive "
                                 "integer, else the usable cores); saved with the run, since results at a fixed "
                                 "seed depend on it")

    def parse_arguments(self, parser, args) -> None:
        if isinstance(args, dict):
            args = rewrite_config(args)
        elif args is None or isinstance(args, (list, tuple)):
            args = rewrite_argv(sys.argv[1:] if args is None else args)
        try:
            super().parse_arguments(parser, args)
        except argparse.ArgumentError as e:
            user = find_user_error(e)
            if user is not None:
                raise user from None
            command = args[0] if isinstance(args, (list, tuple)) and args and args[0] in self.subcommands() else None
            sub = getattr(self, "_subcommand_parsers", {}).get(command, parser)
            raise ConfigError(parse_error_message(e, sub, _config_files(args), command or "fit")) from e
        self._check_ckpt_path()

    def _check_ckpt_path(self) -> None:
        command = self.config.get("subcommand")
        path = command and self.config[command].get("ckpt_path")
        if not path or path in SPECIAL_CKPT_PATHS or "://" in str(path):
            return
        if not self.checkpoint_io.check(path):
            # No checksum to vouch for it: load it once with the safe loader, so that a bad file is one line here
            # rather than a traceback from Lightning's own loading.
            self.checkpoint_io.load_checkpoint(path, map_location="cpu", weights_only=True)

    def _parse_ckpt_path(self) -> None:
        # Lightning applies the hyperparameters saved in the checkpoint, its model class included: a search's
        # checkpoint would turn a training config into that search. The kinds must match.
        command = self.config.get("subcommand")
        path = command and self.config[command].get("ckpt_path")
        if path and os.path.isfile(path):
            from unnas.modules import ArchTraining, WeightSharingSearch
            from unnas.modules.checkpoints import LOAD_ERRORS
            from unnas.modules.common import check_checkpoint_kind

            model = self.config[command].get("model")
            cls = None
            try:
                module, name = str(model.get("class_path")).rsplit(".", 1)
                cls = getattr(importlib.import_module(module), name)
            except (AttributeError, ValueError, ImportError):
                pass
            kind = next((k.__name__ for k in (WeightSharingSearch, ArchTraining)
                         if isinstance(cls, type) and issubclass(cls, k)), None)
            if kind is not None:
                try:
                    checkpoint = torch.load(path, weights_only=True, map_location="cpu")
                except LOAD_ERRORS:
                    checkpoint = {}
                check_checkpoint_kind(checkpoint, kind)
        try:
            super()._parse_ckpt_path()
        except (SystemExit, argparse.ArgumentError) as e:
            raise ConfigError(f"--ckpt_path {path}: the settings saved in the checkpoint do not fit this config "
                              f"({_first_line(e)[:120]}); resume with the config that wrote it") from None

    def before_instantiate_classes(self) -> None:
        cfg = self.config.get(str(self.subcommand), self.config)
        chosen_here = cfg.get("threads") is not None or self.default_threads is not None
        cfg.threads = choose_threads(cfg.get("threads"), self.default_threads)
        torch.set_num_threads(cfg.threads)
        if rank_zero_only.rank == 0 and chosen_here:  # a caller that set the threads itself (a worker) prints them once
            print(f"unnas: torch threads: {cfg.threads} (set with --threads or OMP_NUM_THREADS)", flush=True)
        check_trainer_settings(cfg.get("trainer") or {})
        name_search_folders(cfg)

    def _run_subcommand(self, subcommand: str) -> None:
        from unnas.spaces.complexity import memory_error, out_of_memory

        try:
            super()._run_subcommand(subcommand)
        except Exception as e:  # noqa: BLE001 - only running out of memory becomes one line; the rest re-raises
            cause = next((c for c in _chain(e) if out_of_memory(c)), None)
            if cause is None:
                raise
            raise memory_error(cause, "use a smaller data.batch_size or a smaller network (the space's channels / "
                                      "layers)") from None

    def instantiate_trainer(self, **kwargs: Any) -> L.Trainer:
        self._name_wandb_runs()
        plugins = self._get(self.config_init, "trainer", default={}).get("plugins")
        plugins = [] if plugins is None else list(plugins) if isinstance(plugins, (list, tuple)) else [plugins]
        if not any(isinstance(p, CheckpointIO) for p in plugins):
            kwargs["plugins"] = [*plugins, self.checkpoint_io]
        try:
            return super().instantiate_trainer(**kwargs)
        except MisconfigurationException as e:
            raise ConfigError(f"trainer: {e}") from e

    def run_identity(self) -> Optional[Dict[str, str]]:
        """``space``, ``objective``, ``arch`` and ``seed`` of this run, from the built model (None when the model
        is not one of unnas's)."""
        model = self.model
        if not all(hasattr(model, a) for a in ("space", "objective", "arch_label")):
            return None
        seed = self._get(self.config, "seed_everything")
        identity = {"space": model.space.name, "objective": model.objective.name, "arch": model.arch_label(),
                    "seed": "none" if isinstance(seed, bool) else str(seed)}
        if hasattr(model, "strategy_name"):  # a search: GDAS and DARTS runs differ by their strategy
            identity["strategy"] = model.strategy_name()
        return identity

    def _name_wandb_runs(self) -> None:
        """Name each W&B run ``<space>-<objective>-<arch>-seed<seed>`` (a search's arch: ``search-<strategy>``) and
        tag it (``strategy:<strategy>`` too for a search), unless the config names it."""
        identity = self.run_identity()
        trainer_cfg = self._get(self.config, "trainer")
        trainer_init = self._get(self.config_init, "trainer")
        if identity is None or not trainer_cfg or not trainer_cfg.get("logger"):
            return
        name = "{space}-{objective}-{arch}-seed{seed}".format(**identity)
        tags = [f"{k}:{v}" for k, v in identity.items()]
        single = not isinstance(trainer_init["logger"], list)
        entries = [trainer_cfg.logger] if single else trainer_cfg.logger
        loggers = [trainer_init["logger"]] if single else trainer_init["logger"]
        for i, (entry, logger) in enumerate(zip(entries, loggers)):
            if not isinstance(logger, WandbLogger) or not hasattr(entry, "init_args"):
                continue
            init = entry.init_args.as_dict() if entry.init_args is not None else {}
            if init.get("name"):
                continue
            extra = dict(entry.get("dict_kwargs") or {})
            holder = init if "tags" in init else extra  # wandb.init's tags: resolved into init_args or left in **kwargs
            holder["tags"] = list(dict.fromkeys([*(holder.get("tags") or []), *tags]))
            init["name"] = entry.init_args.name = name  # recorded in the saved config too
            if holder is init:
                entry.init_args.tags = init["tags"]
            else:
                entry["dict_kwargs"] = extra
            loggers[i] = type(logger)(**init, **extra)
        if single:
            trainer_init["logger"] = loggers[0]


def run(args: Optional[List[str]] = None, run: bool = True, default_threads: Optional[int] = None) -> UnnasCLI:
    """Run the Lightning command line with *args* (``["fit", "-c", "config.yaml", ...]``); with ``run=False``
    only parse and instantiate (args then carry no subcommand). *default_threads*: torch threads when the config
    sets none (None: keep the current count)."""
    # Lightning-internal deprecation noise from its pytree helper; not actionable by users.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    # unnas passes args programmatically (study workers, tests) while sys.argv holds its own command.
    warnings.filterwarnings("ignore", message=r"LightningCLI's args parameter is intended")
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    objective_names()  # imports the built-in objectives, so that jsonargparse also knows their class names
    return UnnasCLI(
        model_class=L.LightningModule,
        subclass_mode_model=True,
        datamodule_class=ImageDataModule,
        auto_configure_optimizers=False,
        save_config_callback=SaveConfigToRunDir,
        save_config_kwargs={"overwrite": True, "save_to_log_dir": False},
        trainer_defaults=TRAINER_DEFAULTS,
        seed_everything_default=0,
        args=args,
        run=run,
        # Errors are raised, not printed with the whole usage: `unnas fit` reports them in one line.
        parser_kwargs={"description": "unnas: search or train an architecture with Lightning", "exit_on_error": False},
        default_threads=default_threads,
    )
