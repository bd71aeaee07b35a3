"""``unnas study launch --slurm``: a study's jobs as SLURM job arrays through submitit, one study job per array task.

Array tasks never open the SQLite store (network file systems often lack the POSIX locks it relies on): each
task receives its job, genotype included, from the launcher and writes its result as a file
(:mod:`unnas.study.result_files`), which ``unnas study ingest`` records. Every submitted task is appended to
``DIR/launch/submissions.jsonl``; launching again submits only the jobs that are neither done nor submitted and
still alive in the scheduler. Each launch keeps its manifest and submitit's logs in ``DIR/launch/<time>/``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set

from unnas.study import slurm_queue
from unnas.study.result_files import ingest, write_result
from unnas.study.store import Job, Store, StudyError, check_plain_text

LAUNCH_DIR = "launch"
SUBMISSIONS = "submissions.jsonl"
INSTALL_HINT = "pip install 'unnas[slurm]'"
#: an sbatch option's name (``--slurm-arg KEY=VALUE``): it becomes ``#SBATCH --KEY=...`` in the job script
SLURM_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


class LaunchError(StudyError):
    """Impossible launch settings, or submitit missing."""


def require_submitit():
    """The submitit module, or a one-line :class:`LaunchError` saying how to install it."""
    try:
        import submitit
    except ImportError:
        raise LaunchError(f"launching on SLURM needs submitit, which is not installed: {INSTALL_HINT}") from None
    return submitit


# ------------------------------------------------------------------------------------------- executors
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a finished child not yet reaped by its parent still has a pid
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


class SlurmBackend:
    """submitit's SLURM executor. A task is alive while ``sacct`` reports it unfinished; a task sacct does not
    know (``UNKNOWN``: accounting disabled, or not recorded yet) is alive while ``squeue`` still lists it, and
    counts as alive where squeue cannot answer either (submitit's own, cautious, default)."""

    cluster = "slurm"

    @staticmethod
    def alive(cluster_ids: Iterable[str]) -> Set[str]:
        import submitit

        ids = sorted(set(cluster_ids))
        if not ids:
            return set()
        watcher = submitit.SlurmJob.watcher
        for jid in ids:
            watcher.register_job(jid)
        quiet = logging.getLogger("submitit")  # a failing sacct is answered by squeue below, not a warning
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            watcher.update()
        finally:
            quiet.setLevel(level)
        alive = {jid for jid in ids if not watcher.is_done(jid, mode="cache")}
        unknown = {jid for jid in alive if watcher.get_state(jid, mode="cache") == "UNKNOWN"}
        if unknown:
            listed = slurm_queue.queued()
            if listed is not None:
                alive -= unknown - listed
        return alive


class LocalBackend:
    """submitit's local executor (one process per task on this machine, all started at once): for trying a
    launch without a cluster. A task is alive while its process runs."""

    cluster = "local"

    @staticmethod
    def alive(cluster_ids: Iterable[str]) -> Set[str]:
        return {jid for jid in set(cluster_ids) if jid.isdigit() and _pid_alive(int(jid))}


BACKENDS = {"slurm": SlurmBackend, "local": LocalBackend}


# ------------------------------------------------------------------------------------------- options
@dataclass
class LaunchOptions:
    """What ``unnas study launch`` asks of the scheduler."""

    executor: str = "slurm"
    partition: Optional[str] = None
    time_min: int = 60
    gpus: int = 0
    cpus: int = 1
    mem_gb: Optional[float] = None
    array_limit: int = 1000
    parallel: Optional[int] = None
    max_tasks: Optional[int] = None
    #: study jobs packed into one array task and run at once on its GPU(s) (one process each, --cpus split)
    tasks_per_gpu: int = 1
    retry_failed: bool = False
    resubmit: bool = False
    slurm_extra: Dict[str, str] = field(default_factory=dict)

    def check(self) -> None:
        if self.executor not in BACKENDS:
            raise LaunchError(f"unknown executor {self.executor!r}; use one of {', '.join(BACKENDS)}")
        for name in ("time_min", "cpus", "array_limit", "parallel", "max_tasks", "tasks_per_gpu"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise LaunchError(f"--{name.replace('_min', '').replace('_', '-')} must be at least 1, got {value}")
        if self.gpus < 0:
            raise LaunchError(f"--gpus must be 0 or more, got {self.gpus}")
        if self.mem_gb is not None and self.mem_gb <= 0:
            raise LaunchError(f"--mem must be positive (GB), got {self.mem_gb}")
        # Each option is one `#SBATCH` line of a shell script that runs on the compute node: a line break in it
        # would add a shell line there.
        if self.partition is not None:
            check_plain_text(self.partition, "--partition", LaunchError)
        for key, value in self.slurm_extra.items():
            if not isinstance(key, str) or not SLURM_KEY.fullmatch(key):
                raise LaunchError(f"--slurm-arg key {key!r} is not an sbatch option name; use letters, digits, '_' "
                                  f"and '-', starting with a letter (e.g. --slurm-arg account=my-project)")
            check_plain_text(str(value), f"--slurm-arg {key} value", LaunchError)

    def executor_parameters(self) -> Dict[str, Any]:
        """submitit ``update_parameters`` keywords (the ``slurm_`` ones are ignored by the local executor)."""
        params: Dict[str, Any] = {"name": "unnas-study", "timeout_min": self.time_min, "cpus_per_task": self.cpus,
                                  "gpus_per_node": self.gpus}
        if self.mem_gb is not None:
            params["mem_gb"] = self.mem_gb
        if self.partition:
            params["slurm_partition"] = self.partition
        if self.parallel is not None:
            params["slurm_array_parallelism"] = self.parallel
        if self.slurm_extra:
            params["slurm_additional_parameters"] = dict(self.slurm_extra)
        return params


# ------------------------------------------------------------------------------------------- the array task
def run_task(directory: str, job: Dict[str, Any], threads: Optional[int] = None) -> Dict[str, Any]:
    """One array task: train *job* with the study's frozen config and write its result file (never the store)."""
    from unnas.study import worker  # the worker's name: what tests and the loop replace

    if threads:
        import torch

        torch.set_num_threads(threads)
    j = Job(**job)
    result = worker.train_job(directory, j)
    write_result(directory, j.id, j.arch, j.task, j.seed, result)
    return {"job": j.id, "best_acc": result.get("best_acc")}


def run_packed(directory: str, jobs: List[Dict[str, Any]], threads: Optional[int] = None,
               task_fn: Callable[..., Any] = run_task) -> List[Any]:
    """One array task holding several study jobs (``--tasks-per-gpu K``): each runs at once in its own process on
    the task's device(s), with the task's threads split among them; a job that fails leaves the others running
    and no result file (it is launched again)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    per = max(1, (threads or len(jobs)) // len(jobs))
    context = multiprocessing.get_context("spawn")  # no CUDA state or torch thread pool shared with the jobs
    with ProcessPoolExecutor(max_workers=len(jobs), mp_context=context) as pool:
        futures = [pool.submit(task_fn, directory, job, per) for job in jobs]
    out = []
    for job, future in zip(jobs, futures):
        error = future.exception()
        out.append(future.result() if error is None else
                   {"job": job["id"], "error": f"{type(error).__name__}: {_first_line(error)}"})
    return out


# ------------------------------------------------------------------------------------------- submissions
def submissions_path(directory: str) -> str:
    return os.path.join(directory, LAUNCH_DIR, SUBMISSIONS)


def read_submissions(directory: str) -> List[Dict[str, Any]]:
    """Every submission record, oldest first (a line cut short by a crash is skipped)."""
    path = submissions_path(directory)
    if not os.path.isfile(path):
        return []
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and {"job", "executor", "cluster_id"} <= set(rec):
                out.append(rec)
    return out


def _append_submissions(directory: str, records: Sequence[Dict[str, Any]]) -> None:
    with open(submissions_path(directory), "a", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
        f.flush()
        os.fsync(f.fileno())


def open_jobs(store: Store, retry_failed: bool) -> List[Job]:
    """The study's jobs that are not done, not held by a live ``study work`` worker, and not failed (unless
    *retry_failed*), in the store's order."""
    meta = store.meta()
    done = {(r["arch"], r["task"], int(r["seed"])) for r in store.results()}
    now = time.time()
    held = {(r["arch"], r["task"], int(r["seed"])) for r in store.running() if (r["lease_expires"] or 0) > now}
    failed = set() if retry_failed else {(f["arch"], f["task"], int(f["seed"])) for f in store.failures()}
    skip = done | held | failed
    jobs = []
    for arch, genotype in store.archs():
        for task in meta["tasks"]:
            for seed in meta["seeds"]:
                if (arch, task, int(seed)) not in skip:
                    job_id = store.find(arch, task, seed)
                    if job_id is not None:
                        jobs.append(Job(job_id, arch, task, int(seed), genotype, 0))
    return jobs


def _first_line(error: BaseException) -> str:
    """The error's text on one line (its lines joined by ' | ', at most 300 characters)."""
    text = " | ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return (text[:297] + "..." if len(text) > 300 else text) or type(error).__name__


@dataclass
class Launched:
    """What :func:`launch` submitted: the study jobs, and submitit's job objects (one per array task)."""

    jobs: List[Job] = field(default_factory=list)
    submitted: List[Any] = field(default_factory=list)
    alive_skipped: int = 0


def launch(directory: str, options: LaunchOptions, task_fn: Callable[..., Any] = run_task,
           log: Callable[[str], None] = print) -> Launched:
    """Ingest result files, then submit the open jobs not already submitted and alive as job arrays of at most
    ``options.array_limit`` tasks, one study job per task, and record the submissions."""
    options.check()
    check_plain_text(os.path.abspath(directory), "the study folder", LaunchError)  # it is in the job scripts
    submitit = require_submitit()
    backend = BACKENDS[options.executor]
    for line in ingest(directory).lines():
        log(line)
    store = Store.open(directory)
    jobs = open_jobs(store, options.retry_failed)
    history = read_submissions(directory)
    attempts: Dict[int, int] = {}
    latest: Dict[int, Dict[str, Any]] = {}
    for rec in history:
        attempts[rec["job"]] = attempts.get(rec["job"], 0) + 1
        latest[rec["job"]] = rec
    out = Launched()
    if not options.resubmit:
        ours = [latest[j.id]["cluster_id"] for j in jobs if j.id in latest and latest[j.id]["executor"] == options.executor]
        alive = backend.alive(ours)
        keep = [j for j in jobs if not (j.id in latest and latest[j.id]["executor"] == options.executor
                                        and latest[j.id]["cluster_id"] in alive)]
        out.alive_skipped = len(jobs) - len(keep)
        jobs = keep
    if options.max_tasks is not None:
        jobs = jobs[:options.max_tasks]
    if not jobs:
        log(f"nothing to launch: every open job is submitted and alive ({out.alive_skipped}) or none is open; "
            f"see `unnas study status {directory}`")
        return out
    jobs = [dataclasses.replace(j, attempts=attempts.get(j.id, 0) + 1) for j in jobs]
    stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
    launch_dir = os.path.join(directory, LAUNCH_DIR, stamp)
    os.makedirs(launch_dir, exist_ok=True)
    with open(os.path.join(launch_dir, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump({"executor": options.executor, "options": dataclasses.asdict(options),
                   "jobs": [dataclasses.asdict(j) for j in jobs]}, f)
    try:
        executor = submitit.AutoExecutor(folder=os.path.join(launch_dir, "logs"), cluster=backend.cluster)
    except RuntimeError as e:  # submitit finds no `srun`: this machine is not part of a SLURM cluster
        raise LaunchError(f"cannot submit to {options.executor}: {_first_line(e)}; launch from the cluster's login "
                          f"node (where sbatch and srun are on PATH), or try it here with --executor local") from None
    executor.update_parameters(**options.executor_parameters())
    array_limit = options.array_limit
    cluster_max = slurm_queue.max_array_size() if options.executor == "slurm" else None
    if cluster_max is not None and 1 <= cluster_max < array_limit:
        array_limit = cluster_max
        if len(jobs) > cluster_max:
            log(f"arrays of at most {cluster_max} tasks: the cluster's MaxArraySize ({cluster_max}) is below "
                f"--array-limit {options.array_limit}")
    absdir = os.path.abspath(directory)
    k = options.tasks_per_gpu
    for start in range(0, len(jobs), array_limit * k):
        chunk = jobs[start:start + array_limit * k]
        packs = [chunk[i:i + k] for i in range(0, len(chunk), k)]
        n = len(packs)
        said = io.StringIO()  # submitit prints a refusing sbatch's stderr before raising: it joins the one line
        try:
            with contextlib.redirect_stderr(said):
                if k == 1:
                    handles = executor.map_array(task_fn, [absdir] * n, [dataclasses.asdict(j) for j in chunk],
                                                 [options.cpus] * n)
                else:
                    handles = executor.map_array(run_packed, [absdir] * n,
                                                 [[dataclasses.asdict(j) for j in pack] for pack in packs],
                                                 [options.cpus] * n, [task_fn] * n)
        except (RuntimeError, OSError) as e:  # no sbatch on PATH, or sbatch refused the array
            before = (f"; the {len(out.jobs)} jobs submitted before it are recorded in {submissions_path(directory)}"
                      if out.jobs else "")
            raise LaunchError(f"submitting jobs {chunk[0].id}..{chunk[-1].id} to {options.executor} failed: "
                              f"{_first_line(e)}{before}; fix the cause (sbatch on PATH, --partition, --slurm-arg) "
                              f"and launch again") from None
        except BaseException:
            sys.stderr.write(said.getvalue())
            raise
        sys.stderr.write(said.getvalue())
        now = time.time()
        _append_submissions(directory, [
            {"job": j.id, "arch": j.arch, "task": j.task, "seed": j.seed, "attempt": j.attempts,
             "executor": options.executor, "cluster_id": str(h.job_id), "launch": stamp, "submitted": now}
            for pack, h in zip(packs, handles) for j in pack])
        out.jobs += chunk
        out.submitted += handles
        first = str(handles[0].job_id).split("_")[0]
        per = f", {k} jobs per task" if k > 1 else ""
        log(f"submitted jobs {chunk[0].id}..{chunk[-1].id} ({n} tasks{per}) as {options.executor} array {first}")
    log(f"launched {len(out.jobs)} jobs ({out.alive_skipped} already submitted and alive); manifest and logs in "
        f"{launch_dir}; record results with `unnas study ingest {directory}`")
    return out
