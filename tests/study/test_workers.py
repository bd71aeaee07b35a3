"""Workers: threads, leases renewed by a thread, signals, repeated failures and many-process runs (fake jobs)."""

import json
import logging
import os
import signal
import sqlite3
import sys
import time

import pytest

from unnas.study import worker
from unnas.study.store import Job, Store, StudyError
from unnas.study.worker import Interrupted, LeaseKeeper, arch_folder, default_threads, job_run_dir, work

ARCHS = [(f"a{i}", json.dumps({"i": i})) for i in range(6)]


def make(tmp_path, n=2, tasks=("rotation",)):
    return Store.create(str(tmp_path / "study"), ARCHS[:n], list(tasks), [1], meta={"tasks": list(tasks), "seeds": [1]})


def quiet(message):
    pass


def ok_job(directory, job, renew=None):
    return {"best_acc": 0.5, "wall_time_s": 0.01}


# ------------------------------------------------------------------------------------------- threads
def test_the_thread_count_is_set_printed_once_and_recorded_with_every_result(tmp_path):
    import torch

    store = make(tmp_path, n=3)
    lines = []
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert work(store.directory, run_job=ok_job, log=lines.append, threads=1).recorded == 3
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert [r["threads"] for r in store.results()] == [1, 1, 1]
    assert sum("torch thread" in line for line in lines) == 1


def test_default_threads_share_the_cores_among_the_workers():
    assert default_threads(1, cores=8) == 8
    assert default_threads(3, cores=8) == 2
    assert default_threads(4, cores=2) == 1


# ------------------------------------------------------------------------------------------- leases
def test_the_lease_is_renewed_while_a_job_neither_renews_nor_returns(tmp_path):
    """A job busy for three leases (no batches, no calls back) keeps its lease: no other worker can claim it."""
    store = make(tmp_path, n=1)
    claims = []

    def busy(directory, job, renew=None):
        end = time.time() + 0.9
        while time.time() < end:
            claims.append(store.claim("other", lease_s=60))
            time.sleep(0.05)
        return {"best_acc": 0.5}

    assert work(store.directory, lease_s=0.3, run_job=busy, log=quiet).recorded == 1
    assert claims and all(c is None for c in claims)
    assert store.counts()["rotation"] == {"done": 1}


def test_a_lost_lease_stops_the_job_promptly_and_records_nothing(tmp_path):
    store = make(tmp_path, n=1)
    seen = {}

    def taken_over(directory, job, renew=None):
        con = sqlite3.connect(os.path.join(directory, "study.sqlite"))
        with con:  # another worker claims the job (as after an expired lease)
            con.execute("UPDATE jobs SET worker = 'thief', lease_expires = ? WHERE id = ?", (time.time() + 60, job.id))
        con.close()
        t0 = time.time()
        while renew() and time.time() - t0 < 5:
            time.sleep(0.01)
        seen["stopped_after"] = time.time() - t0
        raise worker.LeaseLost("stopped")

    summary = work(store.directory, lease_s=0.4, run_job=taken_over, log=quiet)
    assert (summary.recorded, summary.failed, summary.lost) == (0, 0, 1)
    assert seen["stopped_after"] < 0.5  # renewals every lease/4 = 0.1 s
    assert store.running()[0]["worker"] == "thief" and store.failures() == []


def test_a_keeper_retries_a_renewal_that_found_the_database_locked():
    calls = []

    def renew():
        calls.append(1)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        return True

    with LeaseKeeper(renew, 0.02) as keeper:
        time.sleep(0.15)
        assert keeper.held()
    assert len(calls) >= 3 and keeper.error is None


def test_short_leases_are_refused():
    with pytest.raises(StudyError, match=r"--lease must be at least 20 s"):
        worker.check_lease(8)
    with pytest.raises(StudyError, match=r"--lease must be at least"):
        worker.check_lease(float("nan"))
    assert worker.check_lease(20) == 20


def test_each_attempt_has_its_own_run_folder_and_distinct_ids_never_share_one(tmp_path):
    job = Job(1, "a/b", "rotation", 2, "{}", 1)
    first, second = job_run_dir("D", job), job_run_dir("D", Job(1, "a/b", "rotation", 2, "{}", 2))
    assert first != second and first.endswith("attempt1") and second.endswith("attempt2")
    ids = ["a/b", "a-b", "a b", "a~b", "a-b~0", "unnas500/00004", "nb201/12", "nb201-12", "x"]
    folders = [arch_folder(i) for i in ids]
    assert len(set(folders)) == len(ids)
    assert arch_folder("a-b") == "a-b" and arch_folder("a/b").startswith("a-b~")
    assert all(os.sep not in f and f not in (".", "..") for f in folders)


# ------------------------------------------------------------------------------------------- signals
@pytest.fixture
def outer_handlers():
    """SIGINT and SIGTERM handlers of this test process that only record: a signal the worker leaves unhandled
    shows up here instead of ending pytest."""
    got = []
    record = lambda s, f: got.append(s)  # noqa: E731
    old = {sig: signal.signal(sig, record) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield record, got
    for sig, h in old.items():
        signal.signal(sig, h)


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_gives_the_job_back_and_ends_the_worker(tmp_path, signum, status, outer_handlers):
    store = make(tmp_path, n=2)
    record, got = outer_handlers

    def interrupted(directory, job, renew=None):
        os.kill(os.getpid(), signum)
        time.sleep(3)  # the worker's handler raises before this ends
        return {"best_acc": 0.5}

    t0 = time.time()
    with pytest.raises(Interrupted) as info:
        work(store.directory, lease_s=60, run_job=interrupted, log=quiet)
    assert time.time() - t0 < 2.5 and info.value.exit_status == status and got == []
    assert store.counts()["rotation"] == {"pending": 2}  # back in the queue, not failed, not leased
    job = store.claim("next", lease_s=60)
    assert job is not None and job.id == 1
    assert signal.getsignal(signal.SIGTERM) is record and signal.getsignal(signal.SIGINT) is record  # restored


def test_study_work_exits_143_on_sigterm_with_the_job_released(tmp_path, monkeypatch, capsys, outer_handlers):
    from unnas.cli import main

    store = make(tmp_path, n=1)

    def interrupted(directory, job, renew=None):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(3)
        return {"best_acc": 0.5}

    monkeypatch.setattr(worker, "train_job", interrupted)
    assert main(["study", "work", store.directory, "--threads", "1"]) == 143
    assert "interrupted by SIGTERM" in capsys.readouterr().err
    assert store.counts()["rotation"] == {"pending": 1} and outer_handlers[1] == []


CHILD = """
import os, signal, sys, time
if os.path.exists(sys.argv[1]):  # the second worker: ends on SIGTERM, and signals its parent
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(143))
    os.kill(os.getppid(), signal.SIGTERM)
    time.sleep(10)
    sys.exit(0)
open(sys.argv[1], "w").close()  # the first worker is killed with -9
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_spawned_workers_get_the_signal_and_every_status_is_reported(tmp_path, monkeypatch):
    """The parent forwards SIGTERM to its workers, waits for all, prints each status and exits non-zero."""
    child = tmp_path / "child.py"
    child.write_text(CHILD)
    marker = tmp_path / "first"
    # The children ignore the `study work ...` arguments that follow the marker.
    monkeypatch.setattr(worker, "WORKER_COMMAND", (sys.executable, str(child), str(marker)))
    got = []
    old = signal.signal(signal.SIGTERM, lambda s, f: got.append(s))  # this test process stays up whatever happens
    lines = []
    try:
        t0 = time.time()
        procs = []
        real_popen = worker.subprocess.Popen

        def popen(*a, **k):
            p = real_popen(*a, **k)
            procs.append(p)
            if len(procs) == 1:
                while not marker.exists() and time.time() - t0 < 10:
                    time.sleep(0.02)
            return p

        monkeypatch.setattr(worker.subprocess, "Popen", popen)
        status = worker.spawn_workers(str(tmp_path), 2, None, 60.0, 1, log=lines.append)
    finally:
        signal.signal(signal.SIGTERM, old)
    assert time.time() - t0 < 8  # the second worker did not sleep its 10 s out
    assert status == 143 and got == []
    assert [p.returncode for p in procs] == [-signal.SIGKILL, 143]
    assert "killed by SIGKILL" in lines[0] and "exit 143" in lines[1]


def test_a_killed_worker_makes_the_parent_fail(tmp_path, monkeypatch):
    child = tmp_path / "child.py"
    child.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    monkeypatch.setattr(worker, "WORKER_COMMAND", (sys.executable, str(child)))
    lines = []
    assert worker.spawn_workers(str(tmp_path), 2, None, 60.0, 1, log=lines.append) == 1
    assert len(lines) == 2 and all("killed by SIGKILL" in line for line in lines)


# ------------------------------------------------------------------------------------------- failures
def test_a_worker_stops_when_every_job_fails_the_same_way(tmp_path):
    store = make(tmp_path, n=6)

    def no_data(directory, job, renew=None):
        raise FileNotFoundError("data/cifar10 does not exist")

    with pytest.raises(StudyError, match=r"3 jobs in a row failed with the same error \(FileNotFoundError: data/cifar10"):
        work(store.directory, lease_s=60, run_job=no_data, log=quiet)
    assert store.counts()["rotation"] == {"failed": 3, "pending": 3}


def test_different_failures_do_not_stop_a_worker_and_max_jobs_counts_failed_jobs(tmp_path):
    store = make(tmp_path, n=6)

    def varied(directory, job, renew=None):
        if job.id % 2:
            raise RuntimeError(f"bad cell {job.id}")
        return {"best_acc": 0.5}

    summary = work(store.directory, lease_s=60, run_job=varied, log=quiet, max_jobs=4)
    assert (summary.recorded, summary.failed) == (2, 2)
    assert store.counts()["rotation"] == {"failed": 2, "done": 2, "pending": 2}


def test_study_work_exits_non_zero_when_a_job_failed(tmp_path, monkeypatch, capsys):
    from unnas.cli import main

    store = make(tmp_path, n=2)

    def one_fails(directory, job, renew=None):
        if job.id == 1:
            raise RuntimeError("diverged")
        return {"best_acc": 0.5}

    monkeypatch.setattr(worker, "train_job", one_fails)
    assert main(["study", "work", store.directory, "--threads", "1"]) == 1
    assert "1 failed" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------- noise
def test_lightning_banners_are_shown_once_per_worker(tmp_path, monkeypatch):
    from lightning.pytorch.utilities.rank_zero import rank_zero_info

    from unnas.study.worker import REPEATING_LOGGERS

    store = make(tmp_path, n=3)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    # a worker that ran earlier in this process has already seen these messages: start as a fresh process would
    for name in REPEATING_LOGGERS:
        monkeypatch.setattr(logging.getLogger(name), "filters", [])
    logger.addHandler(handler)

    def chatty(directory, job, renew=None):
        rank_zero_info("GPU available: False, used: False")
        rank_zero_info("💡 Tip: For seamless cloud logging and experiment tracking, try installing litlogger")
        return {"best_acc": 0.5}

    try:
        assert work(store.directory, lease_s=60, run_job=chatty, log=quiet).recorded == 3
    finally:
        logger.removeHandler(handler)
    messages = [r.getMessage() for r in records]
    assert messages.count("GPU available: False, used: False") == 1
    assert sum(m.startswith("💡 Tip") for m in messages) == 1
