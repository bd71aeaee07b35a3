"""The study's job store: an SQLite database in the study folder (no server).

One job per (architecture, objective, seed). Workers claim jobs with a lease inside an ``IMMEDIATE``
transaction, so two workers (processes, or machines sharing the folder on a file system with working
POSIX locks) never hold the same job; a worker renews its lease while it trains, and a job whose lease
ran out (its worker died) is claimed again. A result is recorded only by the lease holder, in one
transaction: nothing finished is lost and nothing is recorded twice.

Each result is stored as JSON with its SHA-256 checksum (``result_sha256``, over the job's arch, task, seed and
the JSON text), checked whenever results are read: a result changed outside unnas (one digit of the file, which
SQLite's own integrity check does not notice) stops the reading with one line naming the job. Stores made before
the checksum gain the column with their next recorded result; their older results stay readable without one.
"""

from __future__ import annotations

import hashlib
import json
import operator
import os
import re
import socket
import sqlite3
import time
import unicodedata
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from unnas.errors import UserError

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
    result_sha256 TEXT,                       -- result_checksum(arch, task, seed, result); NULL in older stores
    UNIQUE (arch, task, seed)
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, lease_expires);
"""


class StudyError(UserError, ValueError):
    """A study folder that is missing, already initialised, or asked for something it does not hold."""


TASK_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
TABLES = {"meta", "archs", "jobs"}
CHECKSUM = "result_sha256"
#: the keys of a job's identity; a result may repeat them (``seed``) but never contradict its job
IDENTITY = ("arch", "task", "seed")
#: the seeds a study takes: what training's ``seed_everything`` accepts (numpy's range), far inside SQLite's integers
SEED_MIN, SEED_MAX = 0, 2**32 - 1


def check_seed(seed: Any) -> int:
    """*seed* as an int if a job can train with it, else :class:`StudyError` (one beyond SQLite's 64-bit integers
    could not even be stored)."""
    try:
        value = None if isinstance(seed, bool) else operator.index(seed)
    except TypeError:
        value = None
    if value is None or not SEED_MIN <= value <= SEED_MAX:
        raise StudyError(f"seed {seed!r} is out of range; a seed is an integer from {SEED_MIN} to {SEED_MAX} "
                         f"(e.g. --seeds 1,2,3)")
    return value


def result_checksum(arch: str, task: str, seed: int, text: str) -> str:
    """The SHA-256 (hex) of a job's identity and its result's JSON text, as stored in ``result_sha256``."""
    return hashlib.sha256(json.dumps([arch, task, seed, text]).encode("utf-8")).hexdigest()


def check_identity(result: Dict[str, Any], arch: str, task: str, seed: int, where: str,
                   fix: Optional[str] = None) -> None:
    """:class:`StudyError` if *result* carries an ``arch``, ``task`` or ``seed`` other than its job's: a job's
    identity is its row's, and a result that names another job belongs to that one."""
    for key, value in zip(IDENTITY, (arch, task, seed)):
        if key in result and (result[key] != value or isinstance(result[key], bool)):
            raise StudyError(f"{where}: its result says {key} {result[key]!r} but the job is {arch} {task} seed "
                             f"{seed}; " + (fix or f"record each result under its own job (drop or correct its "
                                                   f"{key!r} key)"))


def check_task_name(task: str, where: str = "objective") -> str:
    """*task* if it is a simple name (it names files and folders in the study); else :class:`StudyError`."""
    if not isinstance(task, str) or not TASK_NAME.fullmatch(task):
        raise StudyError(f"{where} name {task!r} is not a simple name; use letters, digits, '_' and '-' "
                         f"(e.g. rotation, my_task)")
    return task


def check_plain_text(text: str, what: str, error: Optional[type] = None) -> str:
    """*text* unless it holds a control character (a newline, a tab, ...) or a Unicode line or paragraph
    separator; else :class:`StudyError` (or *error*). Text that ends up in a script or a YAML file (a SLURM
    option, a folder name) must stay on its line."""
    bad = next((c for c in str(text) if unicodedata.category(c) in ("Cc", "Zl", "Zp")), None)
    if bad is not None:
        raise (error or StudyError)(f"{what} {text!r} holds {bad!r}, a line break or control character; remove it "
                                    f"(plain text on one line)")
    return text


def _check_unique(kind: str, values: Sequence[Any]) -> None:
    seen = set()
    for v in values:
        if v in seen:
            raise StudyError(f"{kind} {v!r} is listed twice; list each once")
        seen.add(v)


def _has_checksum(con: sqlite3.Connection) -> bool:
    """Whether the jobs table has the checksum column (stores made before it lack it until they record a result)."""
    return any(r[1] == CHECKSUM for r in con.execute("PRAGMA table_info(jobs)"))


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
    def _connect(self, immediate: bool = False, wait_s: float = 60.0) -> Iterator[sqlite3.Connection]:
        """A transaction that waits up to *wait_s* for the database lock."""
        con = sqlite3.connect(self.path, timeout=wait_s, isolation_level=None)
        try:
            con.execute(f"PRAGMA busy_timeout = {int(wait_s * 1000)}")
            con.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield con
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            # sqlite3 raises the base class itself for a file that is not a database or is damaged; its subclasses
            # (a lock held too long, a constraint) are not about the file and pass through.
            if type(e) is sqlite3.DatabaseError:
                raise StudyError(f"{self.path} is not a study database ({e}); restore it or create a new study "
                                 f"with `unnas study init`") from None
            raise
        finally:
            con.close()

    # -------------------------------------------------------------------------------- creating
    @classmethod
    def create(cls, directory: str, archs: Sequence[Tuple[str, str]], tasks: Sequence[str], seeds: Sequence[int],
               meta: Dict[str, Any]) -> "Store":
        """A new study in *directory*: *archs* are ``(id, genotype_json)``; one job per (arch, task, seed). Everything
        is checked first and the database is built beside its final name, then renamed: a failure leaves no
        ``study.sqlite`` behind."""
        store = cls(directory)
        store.check_new()
        cls.check_jobs(archs, tasks, seeds)
        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, f".{DB_NAME}.{os.getpid()}.{uuid.uuid4().hex[:6]}.tmp")
        try:
            con = sqlite3.connect(tmp)
            try:
                # The default rollback journal (not WAL): WAL needs shared memory, which folders shared between
                # machines do not have.
                con.executescript(SCHEMA)
                with con:
                    con.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
                    con.executemany("INSERT INTO archs VALUES (?, ?)", list(archs))
                    con.executemany(
                        "INSERT INTO jobs (arch, task, seed) VALUES (?, ?, ?)",
                        [(a, t, int(s)) for a, _ in archs for t in tasks for s in seeds],
                    )
            finally:
                con.close()
            store.check_new()
            os.replace(tmp, store.path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return store

    @staticmethod
    def check_jobs(archs: Sequence[Tuple[str, str]], tasks: Sequence[str], seeds: Sequence[int]) -> None:
        """Raise :class:`StudyError` unless the lists make a study: none empty, nothing twice, simple task names."""
        if not archs or not tasks or not seeds:
            raise StudyError("a study needs at least one architecture, one objective and one seed")
        _check_unique("architecture", [a for a, _ in archs])
        _check_unique("objective", list(tasks))
        _check_unique("seed", list(seeds))
        for t in tasks:
            check_task_name(t)
        for s in seeds:
            check_seed(s)

    def check_new(self) -> None:
        """Raise :class:`StudyError` unless a new study can be created in this folder."""
        if os.path.exists(self.directory) and not os.path.isdir(self.directory):
            raise StudyError(f"{self.directory} is a file, not a folder; pass a new or empty folder for the study")
        if os.path.exists(self.path):
            raise StudyError(f"{self.directory} already holds a study ({DB_NAME}); use another folder or delete it")

    @classmethod
    def open(cls, directory: str) -> "Store":
        """The study in *directory*; :class:`StudyError` if there is none or its database is not a study's."""
        store = cls(directory)
        if not os.path.isfile(store.path):
            raise StudyError(f"no study in {directory} (missing {DB_NAME}); create one with `unnas study init {directory}`")
        with store._connect() as con:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if TABLES <= tables:
                con.execute("SELECT count(*) FROM jobs").fetchone()
        if not TABLES <= tables:
            raise StudyError(f"{store.path} is not a study database (it lacks the tables "
                             f"{', '.join(sorted(TABLES - tables))}); create a study with `unnas study init`")
        return store

    @classmethod
    def of(cls, study: Union["Store", str]) -> "Store":
        """*study* itself when it is an opened store, else the study in that folder (:meth:`open`)."""
        return study if isinstance(study, Store) else cls.open(study)

    def add(self, archs: Sequence[Tuple[str, str]], tasks: Sequence[str], seeds: Sequence[int],
            meta: Dict[str, Any]) -> int:
        """Grow the study to every (arch, task, seed) of the study's and the given ones, creating only the missing
        jobs, and update *meta*; returns how many jobs were created. An id already in the study must name the
        same architecture."""
        for t in tasks:
            check_task_name(t)
        for s in seeds:
            check_seed(s)
        with self._connect(immediate=True) as con:
            known = dict(con.execute("SELECT id, genotype FROM archs"))
            for a, g in archs:
                if a in known and json.loads(known[a]) != json.loads(g):
                    raise StudyError(f"architecture id {a!r} is already in the study with another architecture; "
                                     f"give the new one another id")
            con.executemany("INSERT OR IGNORE INTO archs VALUES (?, ?)", list(archs))
            all_archs = [r[0] for r in con.execute("SELECT id FROM archs ORDER BY rowid")]
            all_tasks = list(dict.fromkeys([r[0] for r in con.execute("SELECT task FROM jobs ORDER BY id")] + list(tasks)))
            all_seeds = list(dict.fromkeys([r[0] for r in con.execute("SELECT seed FROM jobs ORDER BY id")]
                                           + [int(s) for s in seeds]))
            before = con.execute("SELECT count(*) FROM jobs").fetchone()[0]
            con.executemany("INSERT OR IGNORE INTO jobs (arch, task, seed) VALUES (?, ?, ?)",
                            [(a, t, s) for a in all_archs for t in all_tasks for s in all_seeds])
            con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
            return con.execute("SELECT count(*) FROM jobs").fetchone()[0] - before

    def meta(self) -> Dict[str, Any]:
        with self._connect() as con:
            rows = con.execute("SELECT key, value FROM meta").fetchall()
        out = {}
        for k, v in rows:
            try:
                out[k] = json.loads(v)
            except (TypeError, ValueError, RecursionError):
                raise StudyError(f"{self.path}: the study setting {k!r} is not valid JSON (the file was changed "
                                 f"outside unnas); restore study.sqlite from a backup") from None
        return out

    def space(self, meta: Optional[Dict[str, Any]] = None) -> str:
        """The name of the study's space (from *meta*, else read): studies made before the meta recorded it hold
        the default space's architectures."""
        from unnas.spaces.base import DEFAULT_SPACE

        return (self.meta() if meta is None else meta).get("space", DEFAULT_SPACE)

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

    def renew(self, job: Job, worker: str, lease_s: float, wait_s: float = 60.0) -> bool:
        """Extend the lease; False if this worker no longer holds the job. Waits up to *wait_s* for the lock
        (``sqlite3.OperationalError`` after that)."""
        with self._connect(immediate=True, wait_s=wait_s) as con:
            cur = con.execute("UPDATE jobs SET lease_expires = ? WHERE id = ? AND worker = ? AND status = 'running'",
                              (time.time() + lease_s, job.id, worker))
            return cur.rowcount == 1

    def _result_text(self, con: sqlite3.Connection, result: Dict[str, Any], arch: str, task: str, seed: int,
                     job_id: int) -> Tuple[str, str]:
        """``(json text, checksum)`` of *result* for its job, after checking that it names no other job; gives an
        older store the checksum column first (inside the caller's transaction)."""
        check_identity(result, arch, task, seed, f"job {job_id} ({arch} {task} seed {seed}) of {self.directory}")
        if not _has_checksum(con):
            con.execute(f"ALTER TABLE jobs ADD COLUMN {CHECKSUM} TEXT")
        text = json.dumps(result)
        return text, result_checksum(arch, task, seed, text)

    def finish(self, job: Job, worker: str, result: Dict[str, Any]) -> bool:
        """Record *result* atomically if this worker still holds the job; returns whether it was recorded."""
        with self._connect(immediate=True) as con:
            text, digest = self._result_text(con, result, job.arch, job.task, job.seed, job.id)
            cur = con.execute(
                f"UPDATE jobs SET status = 'done', result = ?, {CHECKSUM} = ?, finished = ?, lease_expires = NULL "
                "WHERE id = ? AND worker = ? AND status = 'running'",
                (text, digest, time.time(), job.id, worker))
            return cur.rowcount == 1

    def record(self, job_id: int, result: Dict[str, Any], worker: str = "file") -> bool:
        """Record *result* for job *job_id* unless it is already done (results written as files by workers that
        could not reach the database); returns whether it was recorded."""
        with self._connect(immediate=True) as con:
            row = con.execute("SELECT arch, task, seed FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return False
            text, digest = self._result_text(con, result, *row, job_id)
            cur = con.execute(
                f"UPDATE jobs SET status = 'done', result = ?, {CHECKSUM} = ?, finished = ?, lease_expires = NULL, "
                "worker = ?, error = NULL WHERE id = ? AND status != 'done'",
                (text, digest, time.time(), worker, job_id))
            return cur.rowcount == 1

    def fail(self, job: Job, worker: str, error: str) -> None:
        with self._connect(immediate=True) as con:
            con.execute("UPDATE jobs SET status = 'failed', error = ?, finished = ?, lease_expires = NULL "
                        "WHERE id = ? AND worker = ? AND status = 'running'", (error[:2000], time.time(), job.id, worker))

    def release(self, job: Job, worker: str) -> bool:
        """Give a held job back to the queue (``pending``, not a failure); returns whether this worker held it."""
        with self._connect(immediate=True) as con:
            return con.execute(
                "UPDATE jobs SET status = 'pending', worker = NULL, lease_expires = NULL, error = NULL "
                "WHERE id = ? AND worker = ? AND status = 'running'", (job.id, worker)).rowcount == 1

    def retry_failed(self) -> int:
        """Put failed jobs back in the queue; returns how many."""
        with self._connect(immediate=True) as con:
            return con.execute("UPDATE jobs SET status = 'pending', worker = NULL WHERE status = 'failed'").rowcount

    def reset(self, tasks: Sequence[str], seeds: Sequence[int] = ()) -> int:
        """Put the finished and failed jobs of *tasks* (of *seeds* only, when given) back in the queue and discard
        their results, e.g. after a fix to an objective or ranker; a running job is left to its worker. Returns how
        many jobs were reset. A task or seed the study does not hold is a :class:`StudyError`."""
        with self._connect(immediate=True) as con:
            known_tasks = {r[0] for r in con.execute("SELECT DISTINCT task FROM jobs")}
            known_seeds = {r[0] for r in con.execute("SELECT DISTINCT seed FROM jobs")}
            for kind, given, known in (("objective", tasks, known_tasks), ("seed", seeds, known_seeds)):
                missing = [str(v) for v in given if v not in known]
                if missing:
                    raise StudyError(f"the study has no {kind} {', '.join(missing)}; it has "
                                     f"{', '.join(str(v) for v in sorted(known))}")
            where = f"status IN ('done', 'failed') AND task IN ({', '.join('?' * len(tasks))})"
            args: List[Any] = list(tasks)
            if seeds:
                where += f" AND seed IN ({', '.join('?' * len(seeds))})"
                args += [int(v) for v in seeds]
            checksum = f", {CHECKSUM} = NULL" if _has_checksum(con) else ""
            return con.execute("UPDATE jobs SET status = 'pending', worker = NULL, lease_expires = NULL, "
                               f"error = NULL, result = NULL, finished = NULL{checksum} WHERE " + where, args).rowcount

    # -------------------------------------------------------------------------------- reading
    def find(self, arch: str, task: str, seed: int) -> Optional[int]:
        if isinstance(seed, int) and not -2**63 <= seed < 2**63:  # no SQLite integer: no such job
            return None
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
        """Finished jobs as records ``{arch, task, seed, best_acc, ...}`` for the report: the identity is the job's,
        each result checked against its checksum where it has one (:class:`StudyError` naming a damaged job)."""
        with self._connect() as con:
            checksum = CHECKSUM if _has_checksum(con) else "NULL"
            rows = con.execute(f"SELECT id, arch, task, seed, result, {checksum} FROM jobs WHERE status = 'done' "
                               "ORDER BY id").fetchall()
        return [self._record(*row) for row in rows]

    def _record(self, job_id: int, arch: str, task: str, seed: int, text: Optional[str],
                digest: Optional[str]) -> Dict[str, Any]:
        where = f"{self.path}: job {job_id} ({arch} {task} seed {seed})"
        fix = (f"restore study.sqlite from a backup, or run the jobs of {task} seed {seed} again with "
               f"`unnas study reset {self.directory} --objectives {task} --seeds {seed}`")
        if digest is not None and (not isinstance(text, str) or result_checksum(arch, task, seed, text) != digest):
            raise StudyError(f"{where} does not match its checksum: the file was changed outside unnas; {fix}")
        try:
            result = json.loads(text)
        except (TypeError, ValueError, RecursionError):
            result = None
        if not isinstance(result, dict):
            raise StudyError(f"{where} is done but its stored result is not a valid JSON object; {fix}")
        check_identity(result, arch, task, seed, where, fix)
        return {"arch": arch, "task": task, "seed": seed, **{k: v for k, v in result.items() if k not in IDENTITY}}

    def wall_times(self) -> List[float]:
        return [r["wall_time_s"] for r in self.results() if r.get("wall_time_s")]
