"""Workers x threads of `unnas study work` on this machine: the same tiny study (8 short jobs of the CPU recipe)
run as each layout, wall time from the first claim to the last result.

    python benchmarks/bench_workers.py [--layouts 1x2,2x1] [--data-root ../shared/data/cifar10] [--train-size 200]

Each layout WxT runs `python -m unnas study work DIR --workers W --threads T` on a fresh copy of the study (the
same jobs, configs and data) and prints its wall time and the ratio to the first layout. Run it on an otherwise
idle machine; docs/benchmarks.md records the figures and docs/study.md the default they chose."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from unnas.provenance import cpu_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layouts", default="1x2,2x1", help="comma-separated WORKERSxTHREADS (default: %(default)s)")
    p.add_argument("--data-root", default=os.path.join(ROOT, "..", "shared", "data", "cifar10"))
    p.add_argument("--archs", default="unnas500:4", help="architectures (x 2 objectives = the jobs)")
    p.add_argument("--objectives", default="supervised,rotation")
    p.add_argument("--train-size", type=int, default=200)
    p.add_argument("--test-size", type=int, default=100)
    args = p.parse_args()
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": ROOT}
    work_dir = tempfile.mkdtemp(prefix="bench_workers_")
    base = os.path.join(work_dir, "study")
    init = [sys.executable, "-m", "unnas", "study", "init", base, "--archs", args.archs, "--objectives",
            args.objectives, "--set", "trainer.max_epochs=1", "--set", f"data.train_size={args.train_size}",
            "--set", f"data.test_size={args.test_size}", "--data-root", os.path.abspath(args.data_root)]
    subprocess.run(init, env=env, check=True, cwd=ROOT)
    print(f"cpu: {cpu_model()}, usable cores: {len(os.sched_getaffinity(0))}, load before: {os.getloadavg()}")
    first = None
    try:
        for layout in args.layouts.split(","):
            workers, threads = (int(x) for x in layout.split("x"))
            study = os.path.join(work_dir, f"study_{layout}")
            shutil.copytree(base, study)
            t0 = time.time()
            proc = subprocess.run([sys.executable, "-m", "unnas", "study", "work", study, "--workers", str(workers),
                                   "--threads", str(threads)], env=env, cwd=ROOT, capture_output=True, text=True)
            wall = time.time() - t0
            if proc.returncode != 0:
                sys.exit(f"{layout}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
            first = first or wall
            print(f"{workers} worker(s) x {threads} thread(s): {wall:.1f} s for the study "
                  f"({first / wall:.2f}x the speed of {args.layouts.split(',')[0]})", flush=True)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
