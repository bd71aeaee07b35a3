"""Scaling a study out: ``unnas study sweep`` (W&B sweep files over the study's jobs), ``unnas study launch``
(SLURM job arrays through submitit), ``unnas study ingest`` (result files into the store), and reading a W&B
sweep's runs back for ``unnas study report --wandb``."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Optional, TextIO

from unnas.cli.common import UsageError


def records_from_wandb(path: str, log: Optional[Callable[[str], None]] = None) -> list:
    """Result records from every run of the W&B sweep(s) ``ENTITY/PROJECT/SWEEP[,SWEEP2,...]`` (needs W&B
    online); says on *log* (default: stderr) how many runs were read and skipped."""
    from unnas.study.wandb_runs import records_from_wandb as read

    return read(path, log=log or (lambda m: print(m, file=sys.stderr)))


def study_sweep(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    """Write W&B sweep files whose grids cover this study's jobs; each agent run executes one `unnas study run`."""
    from unnas.study.store import Store
    from unnas.study.wandb_runs import write_sweep_files

    store = Store.open(args.dir)
    meta = store.meta()
    archs = [a for a, _ in store.archs()]
    written = write_sweep_files(args.dir, args.out, archs, meta["tasks"], meta["seeds"], args.max_runs_per_sweep)
    for path, runs in written:
        print(f"wrote {path}: {runs} runs", file=out)
    if len(written) > 1:
        print(f"{sum(r for _, r in written)} runs in {len(written)} sweeps of at most {args.max_runs_per_sweep} runs: "
              f"`wandb sweep` each file, run agents on each sweep id, and report over all of them with "
              f"`unnas study report --wandb ENTITY/PROJECT/ID1,ID2,...`", file=out)


def study_launch(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    """Submit the study's open jobs as SLURM job arrays (submitit), one job per array task."""
    from unnas.study.slurm import LaunchOptions, launch

    if not args.slurm:
        raise UsageError(f"`unnas study launch` submits to SLURM: add --slurm (on one machine run "
                         f"`unnas study work {args.dir}` instead)")
    extra = {}
    for item in args.slurm_arg or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--slurm-arg {item!r} is not KEY=VALUE (e.g. --slurm-arg account=my-project)")
        extra[key] = value
    options = LaunchOptions(executor=args.executor, partition=args.partition, time_min=args.time, gpus=args.gpus,
                            cpus=args.cpus, mem_gb=args.mem, array_limit=args.array_limit, parallel=args.parallel,
                            max_tasks=args.max_tasks, tasks_per_gpu=args.tasks_per_gpu,
                            retry_failed=args.retry_failed, resubmit=args.resubmit,
                            slurm_extra=extra)
    launch(args.dir, options, log=lambda m: print(m, file=out, flush=True))


def study_ingest(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    """Record the result files written by array tasks (``DIR/results/<job id>.json``) in the study store."""
    from unnas.study.result_files import ingest

    for line in ingest(args.dir).lines(max_problems=args.show):
        print(line, file=out)


def add_parsers(ssub) -> None:
    from unnas.study.slurm import LaunchOptions
    from unnas.study.wandb_runs import DEFAULT_MAX_RUNS_PER_SWEEP

    sw = ssub.add_parser("sweep", help="write W&B sweep files whose grids cover this study's jobs")
    sw.add_argument("dir")
    sw.add_argument("--out", required=True, help="the sweep file; OUT_part01.yaml, ... when the study is split")
    sw.add_argument("--max-runs-per-sweep", type=int, default=DEFAULT_MAX_RUNS_PER_SWEEP,
                    help="split larger studies into several sweeps, by architecture (default: %(default)s)")
    sw.set_defaults(func=study_sweep)

    d = LaunchOptions()
    la = ssub.add_parser("launch", help="submit the open jobs as SLURM job arrays (submitit; pip install 'unnas[slurm]')")
    la.add_argument("dir")
    la.add_argument("--slurm", action="store_true", help="submit to SLURM through submitit (the cluster path)")
    la.add_argument("--executor", choices=("slurm", "local"), default=d.executor,
                    help="submitit's executor: slurm, or local to try a launch on this machine")
    la.add_argument("--partition", help="SLURM partition")
    la.add_argument("--time", type=int, default=d.time_min, help="minutes per job (default: %(default)s)")
    la.add_argument("--gpus", type=int, default=d.gpus, help="GPUs per job (default: %(default)s)")
    la.add_argument("--cpus", type=int, default=d.cpus, help="CPUs (and torch threads) per job (default: %(default)s)")
    la.add_argument("--mem", type=float, help="memory per job in GB")
    la.add_argument("--array-limit", type=int, default=d.array_limit,
                    help="tasks per job array (default: %(default)s; lowered to the cluster's MaxArraySize)")
    la.add_argument("--parallel", type=int, help="tasks of one array running at once (default: submitit's 256)")
    la.add_argument("--max-tasks", type=int, help="submit at most this many jobs now (e.g. under MaxSubmitJobs)")
    la.add_argument("--tasks-per-gpu", type=int, default=d.tasks_per_gpu, metavar="K",
                    help="pack K study jobs into each array task, run at once on its --gpus, one process each, "
                         "--cpus split among them (default: %(default)s)")
    la.add_argument("--retry-failed", action="store_true", help="also submit jobs that failed under `study work`")
    la.add_argument("--resubmit", action="store_true",
                    help="submit every open job, even those submitted earlier and still queued or running")
    la.add_argument("--slurm-arg", action="append", metavar="KEY=VALUE",
                    help="another sbatch option (e.g. account=my-project, qos=long); repeatable")
    la.set_defaults(func=study_launch)

    ig = ssub.add_parser("ingest", help="record the result files of array tasks in the study store")
    ig.add_argument("dir")
    ig.add_argument("--show", type=int, default=20, help="files left in place to list (default: %(default)s)")
    ig.set_defaults(func=study_ingest)
