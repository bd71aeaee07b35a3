"""One job of a study: train the architecture with its objective's frozen config (``ArchTraining`` through the
``unnas fit`` command line), or score it with a training-free ranker; each attempt writes its own run folder."""

from __future__ import annotations

import copy
import hashlib
import math
import os
import platform
import re
import time
from typing import Any, Callable, Dict, Optional, Sequence

from unnas.provenance import machine
from unnas.study import config_keys as keys
from unnas.study.config import read_frozen_config
from unnas.study.ranker_tasks import build_ranker, is_ranker_config
from unnas.study.store import Job, StudyError

RUNS_DIR = "runs"
#: the result key of a job's wall time from its claim to its result, as its worker measured it (the ETA's input)
JOB_TIME_KEY = "job_time_s"


class LeaseLost(Exception):
    """Another worker took the job over; this copy stopped.

    Control flow between a job and its worker, not a user error: the worker counts the job as taken over and
    records nothing, and the user has nothing to fix. It is therefore no :class:`unnas.errors.UserError`, which
    the command line would print as one line of bad input."""


def versions() -> Dict[str, str]:
    """The versions recorded with every result."""
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
    return os.path.join(directory, RUNS_DIR, job.task, f"{arch_folder(job.arch)}_seed{job.seed}", f"attempt{job.attempts}")


def _stop_when_lease_lost(job: Job, held: Callable[[], bool]):
    """A Lightning callback that polls *held* after every batch and stops training once it returns False."""
    import lightning as L

    class StopWhenLeaseLost(L.Callback):
        def _check(self, *args, **kwargs) -> None:
            if not held():
                raise LeaseLost(f"job {job.id}: another worker took over its lease; this copy stopped")

        on_train_batch_end = on_validation_batch_end = _check

    return StopWhenLeaseLost()


def _epoch_lines(job: Job, log: Callable[[str], None]):
    """A Lightning callback that logs one line per finished training epoch: the epoch, of how many, the time."""
    import lightning as L

    class EpochLines(L.Callback):
        def on_train_start(self, trainer, pl_module) -> None:
            self.t0 = time.time()

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            of = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
            log(f"job {job.id}: epoch {trainer.current_epoch + 1}{of} done, {time.time() - self.t0:.0f} s in")

    return EpochLines()


def train_job(directory: str, job: Job, renew: Optional[Callable[[], bool]] = None, extra_loggers: Sequence = (),
              log: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """Train one job with the study's frozen config for its objective (a ranker task's job is scored instead:
    :func:`rank_job`); returns the result record. *renew* is polled after every training and validation batch and
    must be cheap (``LeaseKeeper.held``: the lease itself is renewed by a thread); once it returns False training
    stops with :class:`LeaseLost`. *log* gets a line after every training epoch."""
    import torch

    from unnas.lightning_cli import run as run_cli

    cfg = read_frozen_config(directory, job.task)
    if is_ranker_config(cfg):
        return rank_job(directory, job, cfg)
    cfg = copy.deepcopy(cfg)
    cfg["seed_everything"] = int(job.seed)
    keys.set_arch(cfg, job.genotype)
    run_dir = job_run_dir(directory, job)
    trainer = cfg.setdefault("trainer", {})
    trainer["logger"] = [{"class_path": "lightning.pytorch.loggers.CSVLogger",
                          "init_args": {"save_dir": os.path.dirname(run_dir), "name": "", "version": os.path.basename(run_dir)}}]
    trainer["enable_progress_bar"] = False
    trainer["enable_model_summary"] = False
    cli = run_cli(cfg, run=False)
    if renew is not None:
        cli.trainer.callbacks.append(_stop_when_lease_lost(job, renew))
    if log is not None:
        cli.trainer.callbacks.append(_epoch_lines(job, log))
    for logger in extra_loggers:
        cli.trainer.loggers.append(logger)
    cli.trainer.fit(cli.model, cli.datamodule)
    result = cli.model.result()
    if result["best_acc"] is None or (isinstance(result["best_acc"], float) and math.isnan(result["best_acc"])):
        raise StudyError("training finished without a held-out evaluation (best_acc is NaN); check the config's "
                         "validation data and trainer.limit_val_batches")
    return {**result, "seed": job.seed, "attempt": job.attempts, "run_dir": os.path.relpath(run_dir, directory),
            "versions": versions(), "threads": torch.get_num_threads(), "machine": machine()}


def rank_job(directory: str, job: Job, cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Score one job with its task's ranker: the network of the study's space at the frozen shape, initialised
    after ``torch.manual_seed(seed)``, on the Gaussian batch of that seed, or the seeded batch of real images when
    the config has ``data`` and the ranker reads pixels (``Ranker.needs_images``; synflow, params and macs do
    not, and load no data) (the ranker's own seed is the job's too). The record's ``best_acc`` is the score, so the
    report ranks by it."""
    import torch

    from unnas.rankers import data_batch, gaussian_batch
    from unnas.rankers.aggregate import calibrate
    from unnas.spaces.complexity import count_macs, count_params

    t0 = time.time()
    ranker, space, source = build_ranker(cfg, f"{job.task} ranker config")
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
    t_ref = time.time()  # an aggregate's reference sample, scored once per setting and worker process
    calibrate(ranker, space, lambda arch: space.network(arch, head=objective.head if objective is not None else None,
                                                        num_classes=cfg["num_classes"], input_channels=channels),
              batch, build_key=(cfg["num_classes"], getattr(objective, "name", None)))
    reference_s = time.time() - t_ref
    score = ranker.score(net, batch)
    if not math.isfinite(score):
        raise StudyError(f"{ranker.name} scored {score} on {job.arch} (seed {job.seed}); a non-finite score ranks nothing")
    return {"best_acc": score, "score": score, "ranker": ranker.name, "params": count_params(net),
            "macs": count_macs(net, (channels, *cfg["input_shape"][1:])), "wall_time_s": time.time() - t0 - reference_s,
            "reference_s": reference_s,
            "seed": job.seed, "attempt": job.attempts, "versions": versions(), "threads": torch.get_num_threads(), "machine": machine()}
