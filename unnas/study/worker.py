"""Study workers: claim jobs, run each (:func:`unnas.study.jobs.train_job`) under a lease renewed by a thread,
record results, give the job back on SIGINT/SIGTERM, and run several worker processes on one machine.

The study is split along its seams: :mod:`unnas.study.archs` (architecture sets), :mod:`unnas.study.config`
(study configs, merging, overrides, frozen configs), :mod:`unnas.study.ranker_tasks` (training-free ranker
tasks), :mod:`unnas.study.create` (init and add) and :mod:`unnas.study.jobs` (one job). Their public names are
importable from here as well."""

from __future__ import annotations

import inspect
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

from unnas.study.archs import resolve_arch_set, resolve_archs  # noqa: F401 - re-exported
from unnas.study.config import (RANKER_KEYS, apply_overrides, check_data_root, load_study_config,  # noqa: F401
                                merge_configs, parse_overrides, ranker_defaults)
from unnas.study.create import add_to_study, default_tasks, init_study  # noqa: F401 - re-exported
from unnas.study.jobs import JOB_TIME_KEY, LeaseLost, arch_folder, job_run_dir, rank_job, train_job  # noqa: F401
from unnas.study.ranker_tasks import DEFAULT_RANK_BATCH, is_ranker_config, ranker_entry  # noqa: F401
from unnas.study.store import Store, StudyError, worker_id

DEFAULT_LEASE_S = 900.0
# A lease is renewed every lease / RENEWALS_PER_LEASE seconds by a thread of the worker, so three renewals in a row
# may be late before another worker can claim the job. A renewal waits up to one period for the database lock,
# which on a busy or shared folder can take seconds: hence the shortest lease.
RENEWALS_PER_LEASE = 4
MIN_RENEWAL_S = 5.0
MIN_LEASE_S = RENEWALS_PER_LEASE * MIN_RENEWAL_S
# A lease outlives a worker killed with SIGKILL (or a lost machine): its job waits this long at most for another.
MAX_LEASE_S = 7 * 24 * 3600.0
# `study work` without --workers and --threads on a machine without a GPU: one single-thread worker per core, up
# to this many (docs/study.md, "Threads and reproducibility").
MAX_DEFAULT_WORKERS = 8
# A worker whose jobs keep failing with the same error stops instead of failing the whole queue.
SAME_FAILURES_TO_STOP = 3
# The command a worker process of `study work --workers K` runs (followed by `study work DIR ...`).
WORKER_COMMAND: Tuple[str, ...] = (sys.executable, "-m", "unnas")


# ------------------------------------------------------------------------------------------- workers
def default_threads(workers: int, cores: Optional[int] = None) -> int:
    """Torch threads per worker when none are asked for: this process's cores shared among *workers*."""
    return max(1, (cores or usable_cores()) // max(1, workers))


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one, else the CPU count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_layout(workers: Optional[int] = None, threads: Optional[int] = None, cores: Optional[int] = None,
                   gpu: Optional[bool] = None) -> Tuple[int, int]:
    """``(workers, torch threads per worker)`` of ``study work`` for the flags given (None: not given).

    Without either flag: on a machine without a GPU, one single-thread worker per usable core, at most
    :data:`MAX_DEFAULT_WORKERS` (more cores are shared as threads): the CPU recipe's networks are too small for
    threads to pay, and two one-thread workers ran a study 8.2x faster than one two-thread worker on this
    project's busy 2-core machine (docs/benchmarks.md); with a GPU, one worker (each worker holds its own CUDA
    context and memory) with every core as a thread. ``--threads T`` alone keeps one worker with T threads;
    ``--workers K`` alone shares the cores among K workers."""
    cores = cores or usable_cores()
    if workers is None:
        if threads is not None:
            workers = 1
        else:
            if gpu is None:
                import torch

                gpu = torch.cuda.is_available()
            workers = 1 if gpu else max(1, min(cores, MAX_DEFAULT_WORKERS))
    return workers, threads or default_threads(workers, cores)


def check_lease(lease_s: float) -> float:
    """*lease_s* if a worker can keep such a lease and a killed worker's job comes back within
    :data:`MAX_LEASE_S`; else :class:`StudyError`."""
    if not lease_s >= MIN_LEASE_S:  # also refuses NaN
        raise StudyError(f"--lease must be at least {MIN_LEASE_S:g} s (it is renewed every lease/{RENEWALS_PER_LEASE}, "
                         f"and a renewal may wait up to {MIN_RENEWAL_S:g} s for the database); got {lease_s:g}")
    if not lease_s <= MAX_LEASE_S:  # also refuses inf
        raise StudyError(f"--lease must be at most {MAX_LEASE_S:g} s (7 days: the job of a worker killed without "
                         f"giving it back waits for its lease to run out before another worker takes it); "
                         f"got {lease_s:g}")
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


def work(study: Union[Store, str], max_jobs: Optional[int] = None, lease_s: float = DEFAULT_LEASE_S,
         run_job: Optional[Callable[..., Dict[str, Any]]] = None, log: Callable[[str], None] = print,
         job_id: Optional[int] = None, threads: Optional[int] = None) -> WorkSummary:
    """Claim and run jobs of *study* (an opened :class:`Store`, or its folder) with *run_job* (default
    :func:`train_job`, called with the study's folder and the job) until none is left or *max_jobs* ran.

    *threads* sets torch's thread count (printed once; recorded with every result as ``threads``). The lease is
    renewed every ``lease_s / RENEWALS_PER_LEASE`` by a :class:`LeaseKeeper` thread; *run_job* gets its ``held``
    as ``renew`` and should stop once it returns False. SIGINT/SIGTERM put the job in hand back to ``pending`` and
    raise :class:`Interrupted`. :class:`StudyError` when ``SAME_FAILURES_TO_STOP`` jobs in a row fail the same way.
    """
    import torch

    run_job = run_job or train_job
    store = Store.of(study)
    directory = store.directory
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
                log(f"[{me}] job {job.id} started: {job.arch} {job.task} seed {job.seed} (attempt {job.attempts})")
                keeper = LeaseKeeper(lambda: store.renew(job, me, lease_s, wait_s=min(period, MIN_RENEWAL_S)), period)
                error = None
                extra = {"log": lambda m: log(f"[{me}] {m}")} if _takes(run_job, "log") else {}
                try:
                    with keeper:
                        result = run_job(directory, job, renew=keeper.held, **extra)
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
                    log(f"[{me}] job {job.id} failed after {duration(time.time() - t0)}: {line}")
                    same_error = same_error + [line] if same_error and same_error[-1] == line else [line]
                    if len(same_error) >= SAME_FAILURES_TO_STOP:
                        raise StudyError(f"{len(same_error)} jobs in a row failed with the same error ({line}); this "
                                         f"worker stops: fix the cause, then `unnas study work {directory} --retry-failed`")
                else:
                    same_error = []
                    # a ranker's score is no accuracy in [0, 1]
                    what = f"score={result.get('best_acc'):.6g}" if "ranker" in result else f"best_acc={result.get('best_acc'):.4f}"
                    took = time.time() - t0
                    if store.finish(job, me, {"threads": torch.get_num_threads(), **result, JOB_TIME_KEY: took}):
                        summary.recorded += 1
                        log(f"[{me}] job {job.id} done in {duration(took)}: {what}  {progress_line(store, me)}")
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


def _takes(function: Callable[..., Any], name: str) -> bool:
    """Whether *function* takes the keyword argument *name* (a job runner given by a test or a caller may not)."""
    try:
        params = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def duration(seconds: float) -> str:
    """*seconds* for a person: ``42 s``, ``7.5 min``, ``3.2 h``, ``2.1 days``."""
    if seconds < 100:
        return f"{seconds:.0f} s"
    if seconds < 6000:
        return f"{seconds / 60:.1f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def job_times(store: Store) -> List[float]:
    """The wall time of each finished job: from its claim to its result (:data:`JOB_TIME_KEY`, which counts the
    config, the data and the evaluation too), else the training time its module recorded (older results)."""
    times = [r.get(JOB_TIME_KEY) or r.get("wall_time_s") for r in store.results()]
    return [float(t) for t in times if isinstance(t, (int, float)) and t > 0]


def progress_line(store: Store, me: Optional[str] = None) -> str:
    """``done/total, running, failed, left, ETA at W workers``: the ETA is the mean wall time of the finished jobs
    times the jobs left, over the workers running now (those holding a job, and *me*, the worker asking, which
    is about to claim its next one)."""
    counts = store.counts()
    total = sum(sum(c.values()) for c in counts.values())
    get = lambda s: sum(c.get(s, 0) for c in counts.values())  # noqa: E731
    done, running, failed = get("done"), get("running"), get("failed")
    left = total - done - failed
    workers = len({r["worker"] for r in store.running()} | ({me} if me else set()))
    times = job_times(store)
    eta = ""
    if times and left and workers:
        eta = f", ETA {duration(sum(times) / len(times) * left / workers)} at {workers} worker(s)"
    return f"[{done}/{total} done, {running} running, {failed} failed, {left} left{eta}]"


def describe_status(status: int) -> str:
    """A child process's return code in words."""
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return "exit 0" if status == 0 else f"exit {status}"


def visible_gpus() -> List[str]:
    """The CUDA devices this process may use, as ``CUDA_VISIBLE_DEVICES`` names them (its entries when set, else
    ``0..n-1``); empty without CUDA."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip() and d.strip() != "-1"]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    except Exception:  # a broken driver: the workers find out themselves
        return []


def worker_env(env: Dict[str, str], i: int, gpus: List[str]) -> Dict[str, str]:
    """Worker *i*'s environment: with several GPUs it sees one, round robin (workers / GPUs jobs per device, each
    trains on "its" ``cuda:0`` with the configs' ``trainer.devices: 1``); with one GPU every worker shares it."""
    if len(gpus) < 2:
        return env
    return {**env, "CUDA_VISIBLE_DEVICES": gpus[i % len(gpus)]}


def spawn_workers(directory: str, workers: int, max_jobs: Optional[int], lease_s: float, threads: Optional[int],
                  log: Callable[[str], None] = print) -> int:
    """Run *workers* worker processes on this machine (each with *threads* torch threads, default cores / workers)
    and wait for all of them, passing SIGINT and SIGTERM on to them; prints each one's status. Returns 128 + the
    signal when this process was interrupted, else 1 if a worker failed or was killed, else 0."""
    threads = threads or default_threads(workers)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    gpus = visible_gpus()
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
        for i in range(workers):
            if not received:
                procs.append(subprocess.Popen(cmd, env=worker_env(env, i, gpus)))
        statuses = [p.wait() for p in procs]
    finally:
        for sig, h in old.items():
            signal.signal(sig, h if h is not None else signal.SIG_DFL)
    for i, (p, status) in enumerate(zip(procs, statuses), 1):
        log(f"worker {i} of {workers} (pid {p.pid}): {describe_status(status)}")
    if received:
        return 128 + received[0]
    return 1 if any(statuses) else 0
