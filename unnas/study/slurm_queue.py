"""What ``unnas study launch --slurm`` asks the SLURM controller directly: the user's queued and running tasks
(``squeue``) and the cluster's ``MaxArraySize`` (``scontrol show config``).

``sacct`` reads the accounting database, which many small clusters do not run (``AccountingStorageType=
accounting_storage/none``: sacct then only says "Slurm accounting storage is disabled"), and which can lag behind
the controller. ``squeue`` asks the controller itself, which knows every pending and running task at once. Each
query answers ``None`` where the command is missing, fails or hangs, so callers keep their cautious default.
"""

from __future__ import annotations

import getpass
import re
import subprocess
from typing import List, Optional, Set

TIMEOUT_S = 60
MAX_ARRAY_SIZE = re.compile(r"^\s*MaxArraySize\s*=\s*(\d+)\s*$", re.MULTILINE)


def _output(argv: List[str]) -> Optional[str]:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def queued(user: Optional[str] = None) -> Optional[Set[str]]:
    """The ids of *user*'s (default: this user's) jobs and array tasks the controller still holds pending,
    running, suspended or completing (``squeue -r``: one line per array task, ``4242_17``; a job alone is
    ``4243``); ``None`` where squeue cannot answer."""
    text = _output(["squeue", "--noheader", "--array", "--user", user or getpass.getuser(), "--format", "%i"])
    if text is None:
        return None
    return {line.strip() for line in text.splitlines() if line.strip()}


def max_array_size() -> Optional[int]:
    """The cluster's ``MaxArraySize`` (an array may hold the indices 0 to MaxArraySize - 1, so at most that many
    tasks), or ``None`` where ``scontrol show config`` cannot answer."""
    text = _output(["scontrol", "show", "config"])
    match = MAX_ARRAY_SIZE.search(text or "")
    return int(match.group(1)) if match else None
