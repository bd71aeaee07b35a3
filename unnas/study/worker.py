"""Study set-up and workers: create the jobs, claim them, train each with ``ArchTraining``, record results."""

from __future__ import annotations

import copy
import math
import os
import platform
import re
import sys
import time
import traceback
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import yaml

from unnas.spaces import read_arch_lines
from unnas.spaces.base import ArchError, space_class, space_names
from unnas.study.store import Job, Store, StudyError, worker_id

TASKS = ("supervised", "rotation", "colorization", "jigsaw")

DEFAULT_LEASE_S = 900.0


# ------------------------------------------------------------------------------------------- architectures
def resolve_archs(spec: str, space: Optional[str] = None) -> List[Tuple[str, str]]:
    """``[(id, architecture JSON), ...]`` of :func:`resolve_arch_set`."""
    return resolve_arch_set(spec, space)[1]


def resolve_arch_set(spec: str, space: Optional[str] = None) -> Tuple[str, List[Tuple[str, str]]]:
    """``(space name, [(id, architecture JSON), ...])`` from a space's named set (DARTS: ``unnas500``,
    ``unnas500:N``, ``sample:N[:SEED]``; NAS-Bench-201: ``nb201-table[:N[:SEED]]``, ``nb201-sample:N[:SEED]``) or a file
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
            return name, [(a, sp.to_json(g)) for a, g in found]
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


def load_study_config(path: str, data_root: Optional[str] = None) -> Dict[str, Dict[str, Any]]:
    """A study config maps each objective to a training config, or to a list of configs merged in order (a base
    recipe and the objective's overlay); paths are relative to the study config. Returns the training configs
    themselves, with the data root replaced by *data_root* if given."""
    if not os.path.isfile(path):
        raise StudyError(f"study config {path} does not exist")
    with open(path, encoding="utf-8") as f:
        spec = yaml.safe_load(f) or {}
    tasks = spec.get("tasks")
    if not isinstance(tasks, dict) or not tasks:
        raise StudyError(f"{path} needs a 'tasks' mapping: objective name -> training config file(s)")
    out = {}
    for task, rels in tasks.items():
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
            cfg.setdefault("data", {}).setdefault("source", {}).setdefault("init_args", {})["root"] = os.path.abspath(data_root)
        out[task] = cfg
    return out


def init_study(directory: str, archs: str = "unnas500", tasks: Sequence[str] = TASKS, seeds: Sequence[int] = (1,),
               config: Optional[str] = None, data_root: Optional[str] = None, space: Optional[str] = None) -> Store:
    """Create the study: the job database and a frozen copy of each objective's training config. Without *config*,
    the space's CPU study config (its ``default_study_config``)."""
    space_name, arch_list = resolve_arch_set(archs, space)
    config = config or space_class(space_name).default_study_config
    if config is None:
        raise StudyError(f"no default study config for the {space_name} space; pass --config")
    configs = load_study_config(config, data_root)
    missing = [t for t in tasks if t not in configs]
    if missing:
        raise StudyError(f"{config} has no training config for {', '.join(missing)} (it has {', '.join(configs)})")
    for task in tasks:
        _check_config_space(configs[task], space_name, f"{config} ({task})")
    store = Store.create(directory, arch_list, list(tasks), list(seeds), meta={
        "space": space_name, "archs": archs, "tasks": list(tasks), "seeds": list(seeds),
        "config": os.path.abspath(config), "created": time.time()})
    os.makedirs(os.path.join(directory, "configs"), exist_ok=True)
    for task in tasks:
        with open(os.path.join(directory, "configs", f"{task}.yaml"), "w", encoding="utf-8") as f:
            yaml.safe_dump(configs[task], f, sort_keys=False)
    return store


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


def job_run_dir(directory: str, job: Job) -> str:
    return os.path.join(directory, "runs", job.task, f"{re.sub(r'[^A-Za-z0-9_.-]', '-', job.arch)}_seed{job.seed}")


def train_job(directory: str, job: Job, renew: Optional[Callable[[], bool]] = None, extra_loggers: Sequence = ()) -> Dict[str, Any]:
    """Train one job with the study's frozen config for its objective; returns the result record."""
    import lightning as L

    from unnas.lightning_cli import run as run_cli

    with open(os.path.join(directory, "configs", f"{job.task}.yaml"), encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
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

    class RenewLease(L.Callback):
        last = time.time()

        def on_train_batch_end(self, *args, **kwargs):
            if renew is not None and time.time() - self.last > 30:
                self.last = time.time()
                if not renew():
                    raise StudyError(f"job {job.id} lease lost to another worker; stopping this copy")

    cli.trainer.callbacks.append(RenewLease())
    for logger in extra_loggers:
        cli.trainer.loggers.append(logger)
    cli.trainer.fit(cli.model, cli.datamodule)
    result = cli.model.result()
    if result["best_acc"] is None or (isinstance(result["best_acc"], float) and math.isnan(result["best_acc"])):
        raise StudyError("training finished without a held-out evaluation (best_acc is NaN)")
    return {**result, "seed": job.seed, "attempt": job.attempts, "run_dir": os.path.relpath(run_dir, directory),
            "versions": _versions()}


def work(directory: str, max_jobs: Optional[int] = None, lease_s: float = DEFAULT_LEASE_S,
         run_job: Callable[..., Dict[str, Any]] = train_job, log: Callable[[str], None] = print,
         job_id: Optional[int] = None) -> int:
    """Claim and run jobs until none is left (or *max_jobs* ran); returns the number recorded by this worker."""
    store = Store.open(directory)
    me = worker_id()
    done = 0
    while max_jobs is None or done < max_jobs:
        job = store.claim(me, lease_s, job_id=job_id)
        if job is None:
            break
        t0 = time.time()
        log(f"[{me}] job {job.id}: {job.arch} {job.task} seed {job.seed} (attempt {job.attempts})")
        try:
            result = run_job(directory, job, renew=lambda: store.renew(job, me, lease_s))
        except Exception as e:  # noqa: BLE001 - a failed job is recorded with its error; the worker goes on
            store.fail(job, me, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}")
            log(f"[{me}] job {job.id} failed: {type(e).__name__}: {e}")
        else:
            if store.finish(job, me, result):
                done += 1
                log(f"[{me}] job {job.id} done in {time.time() - t0:.0f}s: best_acc={result.get('best_acc'):.4f}  "
                    f"{progress_line(store)}")
            else:
                log(f"[{me}] job {job.id}: result discarded, the lease was taken over")
        if job_id is not None:
            break
    return done


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


def spawn_workers(directory: str, workers: int, max_jobs: Optional[int], lease_s: float, threads: Optional[int]) -> int:
    """Run *workers* worker processes on this machine (each with its own torch threads) and wait for them."""
    import subprocess

    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "unnas", "study", "work", directory, "--workers", "1", "--lease", str(lease_s),
           "--threads", str(threads)]
    if max_jobs is not None:
        cmd += ["--max-jobs", str(max_jobs)]
    procs = [subprocess.Popen(cmd, env=env) for _ in range(workers)]
    return max(p.wait() for p in procs)
