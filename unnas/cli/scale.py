"""Scaling a study out: ``unnas study sweep`` (W&B sweep files over the study's jobs) and reading results back."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from unnas.cli.common import UsageError


def records_from_wandb(path: str) -> list:
    """Result records from the runs of a W&B sweep ``ENTITY/PROJECT/SWEEP`` (needs W&B online)."""
    import wandb

    try:
        sweep = wandb.Api().sweep(path)
    except Exception as e:  # noqa: BLE001 - any API failure is a one-line user error here
        raise UsageError(f"cannot read W&B sweep {path}: {e}") from None
    records = []
    for run in sweep.runs:
        cfg, summary = run.config, run.summary
        if "best_acc" in summary and {"arch", "task", "seed"} <= set(cfg):
            records.append({"arch": cfg["arch"], "task": cfg["task"], "seed": int(cfg["seed"]),
                            "best_acc": float(summary["best_acc"])})
    return records


def study_sweep(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    """Write a W&B sweep file whose grid is this study's jobs; each agent run executes one `unnas study run`."""
    from unnas.study.store import Store

    store = Store.open(args.dir)
    meta = store.meta()
    archs = [a for a, _ in store.archs()]
    lines = [
        f"# W&B sweep over the jobs of the study in {args.dir} (written by `unnas study sweep`).",
        f"#   wandb sweep {args.out} && wandb agent ENTITY/PROJECT/SWEEP_ID   (from the repository root)",
        "# Each run trains one (arch, task, seed) job, records it in the study store and logs best_acc to W&B.",
        "program: unnas/__main__.py",
        "method: grid",
        "metric: {name: best_acc, goal: maximize}",
        "command:  # a block list: `${...}` inside a flow list is not valid YAML",
        *[f"  - {c}" for c in ("${env}", "${interpreter}", "-m", "unnas", "study", "run", json.dumps(args.dir), "${args}")],
        "parameters:",
        "  arch:",
        "    values: [" + ", ".join(json.dumps(a) for a in archs) + "]",
        "  task:",
        "    values: [" + ", ".join(json.dumps(t) for t in meta["tasks"]) + "]",
        "  seed:",
        "    values: [" + ", ".join(str(s) for s in meta["seeds"]) + "]",
    ]
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {args.out}: {len(archs) * len(meta['tasks']) * len(meta['seeds'])} runs", file=out)


def add_parsers(ssub) -> None:
    sw = ssub.add_parser("sweep", help="write a W&B sweep file whose grid is this study's jobs")
    sw.add_argument("dir")
    sw.add_argument("--out", required=True)
    sw.set_defaults(func=study_sweep)
