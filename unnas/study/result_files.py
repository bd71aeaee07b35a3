"""Results as files: what a job writes where the SQLite store must not be written (array tasks on NFS or Lustre,
whose POSIX locks SQLite cannot trust), and ``ingest``, which records those files in the store; and
``with_epoch_lists``, which reads the per-epoch accuracies of older records from their run folders.

A result lands in ``DIR/results/<job id>.json`` atomically: written to a temporary name in the same folder,
flushed to disk, then renamed over the final name, so a reader sees a whole file or none.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import socket
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional

from unnas.study.store import IDENTITY, Store

RESULTS_DIR = "results"
_RESULT_NAME = re.compile(r"^(\d+)\.json$")


def result_path(directory: str, job_id: int) -> str:
    return os.path.join(directory, RESULTS_DIR, f"{int(job_id)}.json")


def write_result(directory: str, job_id: int, arch: str, task: str, seed: int, result: Dict[str, Any]) -> str:
    """Write the result of job *job_id* to ``DIR/results/<job_id>.json`` atomically; returns the path."""
    folder = os.path.join(directory, RESULTS_DIR)
    os.makedirs(folder, exist_ok=True)
    payload = {"job_id": int(job_id), "arch": arch, "task": task, "seed": int(seed), "host": socket.gethostname(),
               "result": result}
    fd, tmp = tempfile.mkstemp(prefix=f".{int(job_id)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, result_path(directory, job_id))
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_folder(folder)
    return result_path(directory, job_id)


def _fsync_folder(folder: str) -> None:
    """Make the rename durable where the file system lets a folder be synced (some network ones do not)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_result_file(path: str, job_id: int) -> Dict[str, Any]:
    """The payload of a result file; ValueError (one line) if it is not a complete result of job *job_id*."""
    try:
        with open(path, encoding="utf-8") as f:
            payload = json.load(f)
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 text ({e.reason})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"not complete JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except RecursionError:
        raise ValueError("nested too deeply to be a result") from None
    if not isinstance(payload, dict):
        raise ValueError("not a JSON object")
    missing = [k for k in ("job_id", "arch", "task", "seed", "result") if k not in payload]
    if missing:
        raise ValueError(f"lacks {', '.join(missing)}")
    if not (isinstance(payload["arch"], str) and isinstance(payload["task"], str) and type(payload["seed"]) is int):
        raise ValueError("arch and task must be strings and seed an integer")
    if payload["job_id"] != job_id:
        raise ValueError(f"holds job {payload['job_id']}, not {job_id} as its name says")
    result = payload["result"]
    acc = result.get("best_acc") if isinstance(result, dict) else None
    if not isinstance(acc, (int, float)) or isinstance(acc, bool) or not math.isfinite(acc):
        raise ValueError(f"its result has no finite best_acc (got {acc!r})")
    for key in IDENTITY:  # the job is the file's; its result may repeat it, never name another one
        if key in result and (result[key] != payload[key] or isinstance(result[key], bool)):
            raise ValueError(f"its result says {key} {result[key]!r} but the file is the result of "
                             f"{payload['arch']} {payload['task']} seed {payload['seed']}")
    return payload


@dataclass
class Ingested:
    """What :func:`ingest` did: results newly recorded, files of jobs already done, and files left in place."""

    recorded: int = 0
    already: int = 0
    problems: List[str] = field(default_factory=list)

    def lines(self, max_problems: int = 20) -> List[str]:
        out = [f"ingested {self.recorded} result files ({self.already} already recorded, "
               f"{len(self.problems)} left in place)"]
        out += self.problems[:max_problems]
        if len(self.problems) > max_problems:
            out.append(f"... and {len(self.problems) - max_problems} more files left in place")
        return out


def ingest(directory: str) -> Ingested:
    """Record every complete ``DIR/results/<job id>.json`` of a job not yet done, with ``Store.record``. A file
    that is partial, corrupt, or names a job this study does not hold is reported and left in place; running it
    again records nothing new."""
    store = Store.open(directory)
    out = Ingested()
    folder = os.path.join(directory, RESULTS_DIR)
    if not os.path.isdir(folder):
        return out
    done = {(r["arch"], r["task"], int(r["seed"])) for r in store.results()}
    names = sorted((int(m.group(1)), name) for name in os.listdir(folder) if (m := _RESULT_NAME.match(name)))
    for job_id, name in names:
        rel = os.path.join(RESULTS_DIR, name)
        try:
            payload = read_result_file(os.path.join(folder, name), job_id)
        except (OSError, ValueError) as e:
            out.problems.append(f"{rel}: {e}; left in place")
            continue
        key = (payload["arch"], payload["task"], payload["seed"])
        if key in done:
            out.already += 1
            continue
        if store.find(*key) != job_id:
            out.problems.append(f"{rel}: this study has no job {job_id} for {key[0]} {key[1]} seed {key[2]}; "
                                f"left in place")
            continue
        if store.record(job_id, payload["result"], worker=f"file:{payload.get('host', '?')}"):
            out.recorded += 1
        else:
            out.already += 1
        done.add(key)
    return out


METRICS_CSV = "metrics.csv"  # what Lightning's CSVLogger writes into a job's run folder


def _float_cell(text: Optional[str]) -> Optional[float]:
    try:
        v = float(text) if text else None
    except ValueError:
        return None
    return v if v is not None and math.isfinite(v) else None


def epoch_lists_from_metrics(path: str) -> Optional[Dict[str, List[Optional[float]]]]:
    """``{"acc_per_epoch", "train_acc_per_epoch"}`` from a CSVLogger ``metrics.csv``: per epoch 0..E-1 the last
    logged ``val/acc`` and the mean of the logged ``train/acc`` rows (steps every ``log_every_n_steps``, so an
    estimate of the epoch's training accuracy), None where an epoch logged none. None when the file is missing,
    unreadable or logs no ``val/acc``."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    val: Dict[int, float] = {}
    train: Dict[int, List[float]] = defaultdict(list)
    for row in rows:
        try:
            epoch = int(float(row.get("epoch") or "nan"))
        except ValueError:
            continue
        v_val, v_train = _float_cell(row.get("val/acc")), _float_cell(row.get("train/acc"))
        if v_val is not None:
            val[epoch] = v_val
        if v_train is not None:
            train[epoch].append(v_train)
    if not val:
        return None
    n = max(list(val) + list(train)) + 1
    return {"acc_per_epoch": [val.get(e) for e in range(n)],
            "train_acc_per_epoch": [sum(train[e]) / len(train[e]) if train.get(e) else None for e in range(n)]}


def with_epoch_lists(records: Iterable[Mapping[str, Any]], directory: str) -> List[Dict[str, Any]]:
    """The records, each trained one that lacks ``acc_per_epoch`` given the lists of its run folder's
    ``metrics.csv`` (``record["run_dir"]``, relative to the study folder *directory*); records whose folder is
    gone, and ranker scores, are returned as they are."""
    out = []
    for r in records:
        r = dict(r)
        if r.get("ranker") is None and r.get("acc_per_epoch") is None and r.get("run_dir"):
            lists = epoch_lists_from_metrics(os.path.join(directory, str(r["run_dir"]), METRICS_CSV))
            if lists is not None:
                for key, values in lists.items():
                    r.setdefault(key, values)
        out.append(r)
    return out
