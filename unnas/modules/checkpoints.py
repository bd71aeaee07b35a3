"""Checkpoint integrity: a SHA-256 file beside every checkpoint, checked before the checkpoint is loaded.

``ChecksumCheckpointIO`` is the trainer's checkpoint I/O (``unnas fit`` installs it): after Lightning has written
``last.ckpt`` (atomically), it writes ``last.ckpt.sha256`` in ``sha256sum`` format (also atomically), and before a
checkpoint is loaded it checks the file against it (a checkpoint without one: the CRCs of its zip records). A
damaged, truncated, empty or missing checkpoint is a :class:`CheckpointError` naming the file and what is wrong,
reported as one line.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import sys
import zipfile
from typing import Any, Callable, Dict, Optional, Set, Tuple

from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from unnas.errors import ConfigError

SUFFIX = ".sha256"
# Lightning's names for checkpoints it resolves itself (``--ckpt_path last``); checked when they are loaded.
SPECIAL_CKPT_PATHS = ("last", "best", "hpc")


class CheckpointError(ConfigError):
    """A checkpoint that cannot be used: missing, empty, damaged or unreadable."""


def sha256_of(path: str) -> str:
    """Hex SHA-256 of the file at *path*."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checksum_path(path: str) -> str:
    return os.fspath(path) + SUFFIX


def write_checksum(path: str) -> None:
    """Write ``PATH.sha256`` (``<hex>  <file name>``, as ``sha256sum``) through a temporary file and a rename, so
    it is either absent or complete."""
    line = f"{sha256_of(path)}  {os.path.basename(path)}\n"
    target = checksum_path(path)
    tmp = f"{target}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)


def check_checkpoint_file(path: str) -> bool:
    """Raise :class:`CheckpointError` when *path* is missing, a folder, empty, or differs from its ``.sha256``.
    Returns whether a ``.sha256`` vouched for it (False: none beside it, a checkpoint from elsewhere)."""
    if os.path.isdir(path):
        raise CheckpointError(f"checkpoint {path} is a folder, not a checkpoint file; point --ckpt_path at a .ckpt "
                              f"file in it (e.g. {os.path.join(path, 'last.ckpt')})")
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path} does not exist; check --ckpt_path "
                              "(runs keep theirs in runs/<name>/version_N/checkpoints/)")
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes); use another checkpoint or start over "
                              "without --ckpt_path")
    sums = checksum_path(path)
    name = os.path.basename(sums)
    if not os.path.exists(sums):
        check_zip_records(path)
        return False
    with open(sums, encoding="utf-8") as f:
        expected = f.read().split()[:1]
    if expected != [sha256_of(path)]:
        raise CheckpointError(f"checkpoint {path} is damaged: its SHA-256 does not match {name}; delete it to start "
                              "over or restore it")
    return True


def check_zip_records(path: str) -> None:
    """Raise :class:`CheckpointError` when *path*, a zip archive (torch's checkpoint format), holds a record whose
    CRC does not match its bytes (a flipped bit) or cannot be read. Files in torch's legacy format are left to
    ``torch.load``."""
    try:
        if not zipfile.is_zipfile(path):
            return
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:100]
        raise CheckpointError(f"checkpoint {path} cannot be read ({reason}): it is damaged or truncated; use another "
                              "checkpoint or start over without --ckpt_path") from None
    if bad is not None:
        raise CheckpointError(f"checkpoint {path} is damaged: the CRC of its record {bad[:80]} does not match its "
                              "bytes; use another checkpoint or start over without --ckpt_path")


def _load_error(path: str, e: BaseException) -> CheckpointError:
    blocked = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
    if blocked:
        return CheckpointError(f"checkpoint {path} holds {blocked.group(1)}, which the safe loader (weights_only=True) "
                               "refuses; load only checkpoints written by unnas/Lightning")
    detail = re.search(r"WeightsUnpickler error:\s*(.+)", str(e))
    first = detail.group(1) if detail else (str(e).strip().splitlines() or [type(e).__name__])[0]
    reason = first.split(". ")[0][:100]
    return CheckpointError(f"checkpoint {path} cannot be read ({reason}): it is truncated or not a PyTorch checkpoint; "
                           "use another checkpoint or start over")


# What torch.load raises on a file that is not a whole, safe checkpoint (a bad zip archive is a RuntimeError).
LOAD_ERRORS = (pickle.UnpicklingError, EOFError, RuntimeError, OSError, zipfile.BadZipFile)


class ChecksumCheckpointIO(TorchCheckpointIO):
    """Torch checkpoint I/O that writes ``<checkpoint>.sha256`` after each save, removes it with the checkpoint, and
    checks it before each load (local paths; a readable checkpoint without one loads with one warning line)."""

    def __init__(self, warn: Optional[Callable[[str], None]] = None):
        super().__init__()
        self.warn = warn or (lambda line: print(line, file=sys.stderr))
        self._checked: Dict[Tuple[str, int, int], bool] = {}
        self._warned: Set[str] = set()

    @staticmethod
    def _is_local(path: Any) -> bool:
        return "://" not in str(path)

    def save_checkpoint(self, checkpoint: Dict[str, Any], path, storage_options: Optional[Any] = None) -> None:
        if not self._is_local(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        path = os.fspath(path)
        # A crash between the two writes must leave no stale checksum beside a new checkpoint.
        if os.path.exists(checksum_path(path)):
            os.remove(checksum_path(path))
        super().save_checkpoint(checkpoint, path, storage_options)
        write_checksum(path)

    def remove_checkpoint(self, path) -> None:
        super().remove_checkpoint(path)
        if self._is_local(path) and os.path.exists(checksum_path(path)):
            os.remove(checksum_path(path))

    def check(self, path) -> bool:
        """Check *path* once per file version (see :func:`check_checkpoint_file`); whether its checksum vouched
        for it."""
        if not self._is_local(path):
            return False
        path = os.fspath(path)
        key = None
        if os.path.isfile(path):
            st = os.stat(path)
            key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
            if key in self._checked:
                return self._checked[key]
        vouched = check_checkpoint_file(path)
        if key is not None:
            self._checked[key] = vouched
        return vouched

    def load_checkpoint(self, path, map_location: Optional[Any] = lambda storage, loc: storage,
                        weights_only: Optional[bool] = None) -> Dict[str, Any]:
        vouched = self.check(path)
        try:
            checkpoint = super().load_checkpoint(path, map_location=map_location, weights_only=weights_only)
        except LOAD_ERRORS as e:
            raise _load_error(os.fspath(path), e) from e
        if not vouched and self._is_local(path) and os.path.realpath(path) not in self._warned:
            self._warned.add(os.path.realpath(path))
            self.warn(f"unnas: warning: checkpoint {path} has no {os.path.basename(checksum_path(path))} beside it; "
                      "loaded it unchecked")
        return checkpoint
