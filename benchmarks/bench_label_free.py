"""Time ``unnas rank --rankers label_free`` end to end over NAS-Bench-201 cells, and project all 15,625.

Runs, as a user would (workers' start-up and each worker's reference sample included):

    unnas rank nb201-sample:N --space nb201 --rankers label_free --json --workers W --threads 1 --out OUT

then prints the wall time, the seconds per architecture after the reference sample (from the progress lines'
clock), and the projected wall time of all 15,625 cells (the measured start-up and reference time plus 15,625 x
the measured time per architecture). ``--n 15625`` ranks the whole space (the goal: within 60 minutes on a 2-core
CPU); a smaller ``--n`` measures the rate on the first N cells of the same seeded order.

    python benchmarks/bench_label_free.py --n 15625 --workers 2 --out nb201_label_free.jsonl
    python benchmarks/bench_label_free.py --n 600 --workers 2          # a projection from 600 cells
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ALL = 15625


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=ALL, help="cells (the first N of nb201-sample's seeded order)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="the ranked lines (default: a temporary file, removed); resumes like unnas rank")
    ap.add_argument("--json-out", help="write the figures as JSON here")
    args = ap.parse_args()
    out = args.out or tempfile.mktemp(suffix=".jsonl")
    cmd = [sys.executable, "-m", "unnas", "rank", f"nb201-sample:{args.n}", "--space", "nb201", "--rankers",
           "label_free", "--json", "--workers", str(args.workers), "--threads", str(args.threads), "--seed",
           str(args.seed), "--out", out]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    start = time.time()
    stamps = []  # (seconds since start, architectures scored) of each progress line
    reference_done = None
    with subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env) as proc:
        for line in proc.stderr:
            now = time.time() - start
            m = re.match(r"rank: (\d+)(/\d+)? scored", line)
            if m:
                stamps.append((now, int(m.group(1))))
            elif "reference sample" in line and "128/128" in line:
                reference_done = now
            elif line.strip() and not line.startswith("rank:"):
                sys.stderr.write(line)
    wall = time.time() - start
    if proc.returncode != 0 or not stamps:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {proc.returncode})")
    with open(out) as f:
        n_lines = sum(1 for line in f if line.strip())
    # the rate once every worker is past its reference sample: from the first tenth of the cells to the last
    first = stamps[len(stamps) // 10]
    last = stamps[-1]
    per_arch = (last[0] - first[0]) / max(1, last[1] - first[1])
    overhead = first[0] - per_arch * first[1]
    result = {"command": " ".join(cmd[1:]), "n": args.n, "lines": n_lines, "workers": args.workers,
              "threads": args.threads, "wall_s": wall, "reference_done_s": reference_done,
              "s_per_arch": per_arch, "startup_and_reference_s": overhead,
              "projected_all_min": (overhead + per_arch * ALL) / 60}
    print(json.dumps(result, indent=1))
    if args.json_out:
        from unnas.provenance import machine
        from unnas.study.jobs import versions

        with open(args.json_out, "w") as f:
            json.dump({**result, "machine": machine(), "versions": versions()}, f, indent=1)
    if not args.out:
        os.remove(out)


if __name__ == "__main__":
    main()
