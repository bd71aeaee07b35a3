"""The study's job store: an SQLite database in the study folder (no server).

One job per (architecture, objective, seed). Workers claim jobs with a lease inside an ``IMMEDIATE``
transaction, so two workers (processes, or machines sharing the folder on a file system with working
POSIX locks) never hold the same job; a worker renews its lease while it trains, and a job whose lease
ran out (its worker died) is claimed again. A result is recorded only by the lease holder, in one
transaction: nothing finished is lost and nothing is recorded twice.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

DB_NAME = "study.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS archs (id TEXT PRIMARY KEY, genotype TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    arch TEXT NOT NULL REFERENCES archs(id),
    task TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',   -- pending | running | done | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    worker TEXT,
    lease_expires REAL,
    started REAL,
    finished REAL,
    error TEXT,
    result TEXT,
    UNIQUE (arch, task, seed)
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, lease_expires);
"""


class StudyError(ValueError):
    """A study folder that is missing, already initialised, or asked for something it does not hold."""


@dataclass
class Job:
    id: int
    arch: str
    task: str
    seed: int
    genotype: str
    attempts: int


def worker_id() -> str:
    """A name unique to this worker process (host, pid and a random suffix)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Store:
    """Access to ``DIR/study.sqlite``. Every method opens a short transaction; instances are cheap."""

    def __init__(self, directory: str):
        self.directory = directory
        self.path = os.path.join(directory, DB_NAME)

    @contextmanager
    def _connect(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        try:
            con.execute("PRAGMA busy_timeout = 60000")
            con.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    # -------------------------------------------------------------------------------- creating
    @classmethod
    def create(cls, directory: str, archs: Sequence[Tuple[str, str]], tasks: Sequence[str], seeds: Sequence[int],
               meta: Dict[str, Any]) -> "Store":
        """A new study in *directory*: *archs* are ``(id, genotype_json)``; one job per (arch, task, seed)."""
        os.makedirs(directory, exist_ok=True)
        store = cls(directory)
        if os.path.exists(store.path):
            raise StudyError(f"{directory} already holds a study ({DB_NAME}); use another folder or delete it")
        if not archs or not tasks or not seeds:
            raise StudyError("a study needs at least one architecture, one objective and one seed")
        con = sqlite3.connect(store.path)
        try:
            # The default rollback journal (not WAL): WAL needs shared memory, which folders shared between
            # machines do not have.
            con.executescript(SCHEMA)
            with con:
                con.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
                con.executemany("INSERT INTO archs VALUES (?, ?)", list(archs))
                con.executemany(
                    "INSERT INTO jobs (arch, task, seed) VALUES (?, ?, ?)",
                    [(a, t, s) for a, _ in archs for t in tasks for s in seeds],
                )
        finally:
            con.close()
        return store

    @classmethod
    def open(cls, directory: str) -> "Store":
        store = cls(directory)
        if not os.path.isfile(store.path):
            raise StudyError(f"no study in {directory} (missing {DB_NAME}); create one with `unnas study init {directory}`")
        return store

    def meta(self) -> Dict[str, Any]:
        with self._connect() as con:
            return {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM meta")}

    # -------------------------------------------------------------------------------- claiming
    def claim(self, worker: str, lease_s: float, job_id: Optional[int] = None) -> Optional[Job]:
        """Take the next pending job (or one whose lease ran out), or the job *job_id*; None when none is left."""
        now = time.time()
        with self._connect(immediate=True) as con:
            if job_id is None:
                row = con.execute(
                    "SELECT id FROM jobs WHERE status = 'pending' OR (status = 'running' AND lease_expires < ?) "
                    "ORDER BY id LIMIT 1", (now,)).fetchone()
            else:
                row = con.execute(
                    "SELECT id FROM jobs WHERE id = ? AND (status IN ('pending', 'failed') OR "
                    "(status = 'running' AND lease_expires < ?))", (job_id, now)).fetchone()
            if row is None:
                return None
            con.execute(
                "UPDATE jobs SET status = 'running', worker = ?, lease_expires = ?, started = ?, "
                "attempts = attempts + 1, error = NULL WHERE id = ?", (worker, now + lease_s, now, row[0]))
            r = con.execute("SELECT j.id, j.arch, j.task, j.seed, a.genotype, j.attempts FROM jobs j "
                            "JOIN archs a ON a.id = j.arch WHERE j.id = ?", (row[0],)).fetchone()
        return Job(*r)

    def renew(self, job: Job, worker: str, lease_s: float) -> bool:
        """Extend the lease; False if this worker no longer holds the job."""
        with self._connect(immediate=True) as con:
            cur = con.execute("UPDATE jobs SET lease_expires = ? WHERE id = ? AND worker = ? AND status = 'running'",
                              (time.time() + lease_s, job.id, worker))
            return cur.rowcount == 1

    def finish(self, job: Job, worker: str, result: Dict[str, Any]) -> bool:
        """Record *result* atomically if this worker still holds the job; returns whether it was recorded."""
        with self._connect(immediate=True) as con:
            cur = con.execute(
                "UPDATE jobs SET status = 'done', result = ?, finished = ?, lease_expires = NULL "
                "WHERE id = ? AND worker = ? AND status = 'running'",
                (json.dumps(result), time.time(), job.id, worker))
            return cur.rowcount == 1

    def record(self, job_id: int, result: Dict[str, Any], worker: str = "file") -> bool:
        """Record *result* for job *job_id* unless it is already done (results written as files by workers that
        could not reach the database); returns whether it was recorded."""
        with self._connect(immediate=True) as con:
            cur = con.execute(
                "UPDATE jobs SET status = 'done', result = ?, finished = ?, lease_expires = NULL, worker = ?, "
                "error = NULL WHERE id = ? AND status != 'done'", (json.dumps(result), time.time(), worker, job_id))
            return cur.rowcount == 1

    def fail(self, job: Job, worker: str, error: str) -> None:
        with self._connect(immediate=True) as con:
            con.execute("UPDATE jobs SET status = 'failed', error = ?, finished = ?, lease_expires = NULL "
                        "WHERE id = ? AND worker = ? AND status = 'running'", (error[:2000], time.time(), job.id, worker))

    def retry_failed(self) -> int:
        """Put failed jobs back in the queue; returns how many."""
        with self._connect(immediate=True) as con:
            return con.execute("UPDATE jobs SET status = 'pending', worker = NULL WHERE status = 'failed'").rowcount

    # -------------------------------------------------------------------------------- reading
    def find(self, arch: str, task: str, seed: int) -> Optional[int]:
        with self._connect() as con:
            row = con.execute("SELECT id FROM jobs WHERE arch = ? AND task = ? AND seed = ?", (arch, task, seed)).fetchone()
        return row[0] if row else None

    def archs(self) -> List[Tuple[str, str]]:
        """``(id, genotype_json)`` of every architecture, in insertion order."""
        with self._connect() as con:
            return con.execute("SELECT id, genotype FROM archs ORDER BY rowid").fetchall()

    def counts(self) -> Dict[str, Dict[str, int]]:
        """``{task: {status: n}}``, with running jobs whose lease ran out counted as ``stale``."""
        now = time.time()
        out: Dict[str, Dict[str, int]] = {}
        with self._connect() as con:
            for task, status, expires in con.execute("SELECT task, status, lease_expires FROM jobs"):
                if status == "running" and expires is not None and expires < now:
                    status = "stale"
                out.setdefault(task, {}).setdefault(status, 0)
                out[task][status] += 1
        return out

    def failures(self) -> List[Dict[str, Any]]:
        with self._connect() as con:
            return [dict(zip(("id", "arch", "task", "seed", "attempts", "error"), r)) for r in con.execute(
                "SELECT id, arch, task, seed, attempts, error FROM jobs WHERE status = 'failed' ORDER BY id")]

    def running(self) -> List[Dict[str, Any]]:
        with self._connect() as con:
            return [dict(zip(("id", "arch", "task", "seed", "worker", "lease_expires", "started"), r)) for r in con.execute(
                "SELECT id, arch, task, seed, worker, lease_expires, started FROM jobs WHERE status = 'running' ORDER BY id")]

    def results(self) -> List[Dict[str, Any]]:
        """Finished jobs as records ``{arch, task, seed, best_acc, ...}`` for the report."""
        with self._connect() as con:
            rows = con.execute("SELECT arch, task, seed, result FROM jobs WHERE status = 'done' ORDER BY id").fetchall()
        return [{"arch": a, "task": t, "seed": s, **json.loads(r)} for a, t, s, r in rows]

    def wall_times(self) -> List[float]:
        return [r["wall_time_s"] for r in self.results() if r.get("wall_time_s")]
