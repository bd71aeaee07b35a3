"""A study through W&B sweeps: grid sweep files over the study's jobs, and the finished runs read back as records.

W&B's ``Api().sweep(path).runs`` returned at most 500 runs (wandb/wandb#2467), so the runs are read with the
paged ``Api().runs(ENTITY/PROJECT, filters={"sweep": ID})`` instead, every page of them.
"""

from __future__ import annotations

import inspect
import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from unnas.study.store import StudyError, check_plain_text

RUN_KEYS = ("arch", "task", "seed")

#: Runs per sweep file. W&B documents no limit on a grid sweep's size; large sweeps have been reported to
#: repeat runs (wandb/wandb#5247 after 500 runs with a local controller, #7271) and to time out their agents'
#: queries above about 3,000 runs (#2183), so a study is split well below that.
DEFAULT_MAX_RUNS_PER_SWEEP = 2000

#: Runs per API request when reading a sweep back (``per_page`` of ``wandb.Api().runs``).
DEFAULT_PAGE_SIZE = 500


class WandbError(StudyError):
    """W&B could not be read, or a sweep path is malformed."""


# ------------------------------------------------------------------------------------------- sweep files
def parse_sweep_paths(spec: str) -> List[Tuple[str, str, str]]:
    """``[(entity, project, sweep id), ...]`` from ``ENTITY/PROJECT/ID[,ID2,...]`` (later items may also be full
    ``ENTITY/PROJECT/ID`` paths; bare ids share the first path's entity and project)."""
    out: List[Tuple[str, str, str]] = []
    for item in (s.strip() for s in spec.split(",")):
        parts = item.split("/")
        if len(parts) == 3 and all(parts):
            out.append((parts[0], parts[1], parts[2]))
        elif len(parts) == 1 and parts[0] and out:
            out.append((out[0][0], out[0][1], parts[0]))
        else:
            raise WandbError(f"W&B sweep {item!r} in {spec!r} is not ENTITY/PROJECT/SWEEP_ID; "
                             f"give e.g. my-team/unnas/abc123de or my-team/unnas/abc123de,fgh456ij")
    return out


def chunk_archs(archs: Sequence[str], runs_per_arch: int, max_runs: int) -> List[List[str]]:
    """Consecutive architecture chunks whose full grids (chunk x runs_per_arch) hold at most *max_runs* runs each."""
    if max_runs < runs_per_arch:
        raise WandbError(f"--max-runs-per-sweep {max_runs} is below the {runs_per_arch} runs one architecture needs "
                         f"(objectives x seeds); raise it to at least {runs_per_arch}")
    per = max_runs // runs_per_arch
    return [list(archs[i:i + per]) for i in range(0, len(archs), per)]


def sweep_file_text(directory: str, out: str, archs: Sequence[str], tasks: Sequence[str], seeds: Sequence[int],
                    part: Optional[Tuple[int, int]] = None) -> str:
    """The YAML of a W&B grid sweep over (archs x tasks x seeds); each run executes ``unnas study run DIR``."""
    where = f", part {part[0]} of {part[1]}" if part else ""
    lines = [
        f"# W&B sweep over the jobs of the study in {directory}{where} (written by `unnas study sweep`).",
        f"#   wandb sweep {out} && wandb agent ENTITY/PROJECT/SWEEP_ID   (from the repository root)",
        "# Each run trains one (arch, task, seed) job, records it in the study store and logs best_acc to W&B.",
        "program: unnas/__main__.py",
        "method: grid",
        "metric: {name: best_acc, goal: maximize}",
        "command:  # a block list: `${...}` inside a flow list is not valid YAML",
        *[f"  - {c}" for c in ("${env}", "${interpreter}", "-m", "unnas", "study", "run", json.dumps(directory), "${args}")],
        "parameters:",
        "  arch:",
        "    values: [" + ", ".join(json.dumps(a) for a in archs) + "]",
        "  task:",
        "    values: [" + ", ".join(json.dumps(t) for t in tasks) + "]",
        "  seed:",
        "    values: [" + ", ".join(str(int(s)) for s in seeds) + "]",
    ]
    return "\n".join(lines) + "\n"


def part_path(out: str, index: int, width: int = 2) -> str:
    """``sweep.yaml`` -> ``sweep_part01.yaml``."""
    stem, ext = os.path.splitext(out)
    return f"{stem}_part{index:0{width}d}{ext or '.yaml'}"


def write_sweep_files(directory: str, out: str, archs: Sequence[str], tasks: Sequence[str], seeds: Sequence[int],
                      max_runs: int = DEFAULT_MAX_RUNS_PER_SWEEP) -> List[Tuple[str, int]]:
    """Write one sweep file, or ``OUT_partNN`` files of at most *max_runs* runs each when the study is larger;
    returns ``[(path, runs), ...]``. The study folder and *out* are written into the files' comments and
    commands, so a line break in either (which would start a YAML line of its own) is refused."""
    check_plain_text(directory, "the study folder", WandbError)
    check_plain_text(out, "--out", WandbError)
    per_arch = len(tasks) * len(seeds)
    chunks = chunk_archs(archs, per_arch, max_runs)
    if len(chunks) == 1:
        targets = [(out, chunks[0], None)]
    else:
        width = max(2, len(str(len(chunks))))
        targets = [(part_path(out, i + 1, width), c, (i + 1, len(chunks))) for i, c in enumerate(chunks)]
    written = []
    for path, chunk, part in targets:
        with open(path, "w", encoding="utf-8") as f:
            f.write(sweep_file_text(directory, path, chunk, tasks, seeds, part))
        written.append((path, len(chunk) * per_arch))
    return written


# ------------------------------------------------------------------------------------------- reading runs back
@dataclass
class RunsRead:
    """The records of a sweep's finished runs and what was left out, with one line saying so."""

    records: List[Dict[str, Any]] = field(default_factory=list)
    runs: int = 0
    not_finished: int = 0
    incomplete: int = 0
    duplicates: int = 0

    def line(self, spec: str) -> str:
        skipped = self.not_finished + self.incomplete + self.duplicates
        return (f"read {self.runs} runs of W&B sweep {spec}: {len(self.records)} results; skipped {skipped} "
                f"({self.not_finished} not finished, {self.incomplete} without a valid arch/task/seed/best_acc, "
                f"{self.duplicates} repeating a job already read)")


def _runs_query(api: Any, entity: str, project: str, sweep_id: str, per_page: int):
    kwargs: Dict[str, Any] = {"filters": {"sweep": sweep_id}, "per_page": per_page}
    # Since wandb 0.21 runs load their config and summary one request per run unless lazy=False.
    if "lazy" in inspect.signature(api.runs).parameters:
        kwargs["lazy"] = False
    return api.runs(f"{entity}/{project}", **kwargs)


def read_sweep_runs(spec: str, api: Any = None, per_page: int = DEFAULT_PAGE_SIZE) -> RunsRead:
    """Every run of the W&B sweep(s) *spec* (``ENTITY/PROJECT/ID[,ID2,...]``), paged; a finished run with
    ``arch``, ``task``, ``seed`` in its config and ``best_acc`` in its summary becomes a record (the first run
    of a job wins)."""
    sweeps = parse_sweep_paths(spec)
    if api is None:
        import wandb

        api = wandb.Api()
    out = RunsRead()
    seen = set()
    for entity, project, sweep_id in sweeps:
        for run in _runs_query(api, entity, project, sweep_id, per_page):
            out.runs += 1
            if getattr(run, "state", None) != "finished":
                out.not_finished += 1
                continue
            cfg, summary = dict(run.config), run.summary
            if not set(RUN_KEYS) <= set(cfg) or "best_acc" not in summary:
                out.incomplete += 1
                continue
            try:
                key = (str(cfg["arch"]), str(cfg["task"]), int(cfg["seed"]))
                acc = float(summary["best_acc"])
            except (TypeError, ValueError):
                out.incomplete += 1
                continue
            if key in seen:
                out.duplicates += 1
                continue
            seen.add(key)
            out.records.append({"arch": key[0], "task": key[1], "seed": key[2], "best_acc": acc})
    return out


def records_from_wandb(spec: str, log: Callable[[str], None], api: Any = None,
                       per_page: int = DEFAULT_PAGE_SIZE) -> List[Dict[str, Any]]:
    """:func:`read_sweep_runs` with W&B's errors as one-line :class:`WandbError`; says how many runs were read."""
    import wandb

    try:
        read = read_sweep_runs(spec, api=api, per_page=per_page)
    except wandb.errors.Error as e:
        raise WandbError(f"cannot read W&B sweep {spec}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    log(read.line(spec))
    return read.records
