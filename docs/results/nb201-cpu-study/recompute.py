"""Recompute the numbers README.md quotes beyond report.md, from the raw records (`study/study.sqlite`, read only).

    python docs/results/nb201-cpu-study/recompute.py            # from the repository root; prints Markdown

- per-job wall time of each objective: median and range (min-max) over its 120 jobs, and the mean the report uses;
- which records carry a thread count (`threads`) and whether the run folders (`run_dir`, the per-epoch records the
  report's budget section reads) are on disk;
- the noise-corrected rho to the truth (report, "Seed noise"): rho(mean over the 2 seeds, truth) / sqrt(reliability),
  reliability = Spearman-Brown 2r/(1+r) of the seed-to-seed rho r, with a percentile-bootstrap interval over the 60
  architectures (2,000 resamples, numpy default_rng(0)): each resample recomputes rho, r and the reliability on the
  same resampled architectures; the ratio is bounded to [-1, 1] (a correlation cannot leave it; a resample whose
  reliability is <= 0, where the ratio is undefined or unbounded, counts as +-1 with the sign of its rho, the limit
  of the bounded ratio as the reliability falls to 0). The unbounded ratio's interval (those resamples dropped) is
  printed beside it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import sys
from collections import defaultdict

import numpy as np
from scipy import stats as sps

HERE = os.path.dirname(os.path.abspath(__file__))
STUDY = os.path.join(HERE, "study")
N_BOOT, SEED = 2000, 0


def records(study=STUDY):
    db = sqlite3.connect(f"file:{os.path.join(study, 'study.sqlite')}?mode=ro", uri=True)
    rows = db.execute("SELECT arch, task, seed, result FROM jobs WHERE status = 'done'").fetchall()
    archs = dict(db.execute("SELECT id, genotype FROM archs").fetchall())
    return [(a, t, s, json.loads(r)) for a, t, s, r in rows], archs


def truth(archs):
    from unnas.spaces import space_class

    space = space_class("nb201")()
    gt = space.ground_truth("cifar10")
    return {a: gt.query(space.load(g)) for a, g in archs.items()}


def wall_times(recs):
    by_task = defaultdict(list)
    for _, t, _, r in recs:
        by_task[t].append(float(r["wall_time_s"]))
    print("| task | jobs | median s per job | range (min-max) | mean (the report's) |")
    print("|---|---|---|---|---|")
    for t, v in by_task.items():
        print(f"| {t} | {len(v)} | {statistics.median(v):.1f} | {min(v):.1f}-{max(v):.1f} | {statistics.mean(v):.1f} |")
    print()


def threads_and_folders(recs, study=STUDY):
    with_threads = defaultdict(lambda: [0, 0])
    folders = 0
    for _, t, _, r in recs:
        with_threads[t][0] += "threads" in r
        with_threads[t][1] += 1
        folders += bool(r.get("run_dir")) and os.path.isdir(os.path.join(study, r["run_dir"]))
    print("records with a thread count:", {t: f"{a}/{n}" for t, (a, n) in with_threads.items()})
    print(f"run folders on disk: {folders} of {len(recs)}")
    print()


def _rho(x, y):
    return sps.spearmanr(x, y).statistic


def corrected(recs, gt):
    vals = defaultdict(dict)
    for a, t, s, r in recs:
        vals[t][(a, s)] = float(r["best_acc"])
    archs = sorted(gt)
    g = np.array([gt[a] for a in archs])
    rng = np.random.default_rng(SEED)
    idx = rng.integers(0, len(archs), size=(N_BOOT, len(archs)))
    print(f"| task | rho(mean, truth) | seed-to-seed r | reliability 2r/(1+r) | corrected rho | 95% interval, "
          f"bounded to [-1, 1] | resamples with reliability <= 0 | unbounded ratio's 95% interval (those dropped) |")
    print("|---|---|---|---|---|---|---|---|")
    for t in vals:
        s1 = np.array([vals[t][(a, 1)] for a in archs])
        s2 = np.array([vals[t][(a, 2)] for a in archs])
        m = (s1 + s2) / 2

        def parts(i):
            rho, r = _rho(m[i], g[i]), _rho(s1[i], s2[i])
            return rho, r, 2 * r / (1 + r)

        rho, r, rel = parts(np.arange(len(archs)))
        point = rho / np.sqrt(rel) if rel > 0 else float("nan")
        bounded, raw, bad = [], [], 0
        for i in idx:
            b_rho, _, b_rel = parts(i)
            if not (np.isfinite(b_rho) and np.isfinite(b_rel)):
                continue
            if b_rel > 0:
                q = b_rho / np.sqrt(b_rel)
                raw.append(q)
                bounded.append(float(np.clip(q, -1, 1)))
            else:
                bad += 1
                bounded.append(float(np.sign(b_rho)))
        lo, hi = np.percentile(bounded, [2.5, 97.5])
        rlo, rhi = np.percentile(raw, [2.5, 97.5]) if raw else (float("nan"),) * 2
        print(f"| {t} | {rho:.2f} | {r:.2f} | {rel:.2f} | {point:.2f} | [{lo:.2f}, {hi:.2f}] | {bad} of "
              f"{len(bounded)} | [{rlo:.2f}, {rhi:.2f}] |")
    print()


def main():
    recs, archs = records()
    wall_times(recs)
    threads_and_folders(recs)
    corrected(recs, truth(archs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
