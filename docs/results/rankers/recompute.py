"""Recompute, from the raw records, the numbers README.md quotes for the rankers beside the NAS-Bench-201 CPU study.

    python docs/results/rankers/recompute.py docs/results/rankers/nb201-cpu-study
    python docs/results/rankers/recompute.py docs/results/rankers/nb201-cpu-study-c8

For the study folder's store (`study/study.sqlite`, opened read only) it prints, as Markdown:

- the network shape each ranker scored: the `params` of its records against the parameter count of the same cell
  built at C=8, N=1 (the trained shape) and at C=16, N=5 (NASLib's table setting); and the thread counts recorded;
- every task's Spearman rho to the true CIFAR-10 accuracy (the mean over seeds of each architecture, as the report
  ranks it), with the report's interval (percentile bootstrap over the architectures, 1000 resamples,
  numpy default_rng(0));
- the paired difference rho(ranker) - rho(trained objective) for every ranker and trained objective, its interval
  from the same resamples of the architectures for both (paired bootstrap), and whether the interval excludes 0;
- per-job wall time of each task: median and range (min-max), and the mean the report uses.
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

N_BOOT, SEED = 1000, 0
TRAINED = ("supervised", "rotation", "colorization", "jigsaw")


def load(folder):
    db = sqlite3.connect(f"file:{os.path.join(folder, 'study', 'study.sqlite')}?mode=ro", uri=True)
    rows = db.execute("SELECT arch, task, seed, result FROM jobs WHERE status = 'done'").fetchall()
    archs = dict(db.execute("SELECT id, genotype FROM archs").fetchall())
    return [(a, t, s, json.loads(r)) for a, t, s, r in rows], archs


def shapes(recs, archs):
    import torch
    from unnas.spaces import NB201Space

    torch.set_num_threads(1)
    counts = {}
    for c, n in ((8, 1), (16, 5)):
        space = NB201Space(channels=c, layers=n)
        counts[(c, n)] = {a: sum(p.numel() for p in space.network(space.load(g), num_classes=10).parameters())
                          for a, g in archs.items()}
    match = defaultdict(lambda: defaultdict(int))
    threads = defaultdict(lambda: defaultdict(int))
    for a, t, _, r in recs:
        kind = "ranker" if r.get("ranker") else "trained"
        threads[kind][r.get("threads")] += 1
        for shape, by_arch in counts.items():
            match[kind][shape] += int(r["params"]) == by_arch[a]
        match[kind]["n"] += 1
    for kind, m in match.items():
        print(f"{kind} records: {m['n']}; params equal to the cell's count at C=8, N=1: {m[(8, 1)]}, "
              f"at C=16, N=5: {m[(16, 5)]}; threads recorded: {dict(threads[kind])}")
    print()


def rank_rows(a):
    return sps.rankdata(a, axis=1)


def rowwise_rho(x, y):
    x = rank_rows(x) - rank_rows(x).mean(axis=1, keepdims=True)
    y = rank_rows(y) - rank_rows(y).mean(axis=1, keepdims=True)
    return (x * y).sum(axis=1) / np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))


def correlations(recs, archs):
    from unnas.spaces import space_class

    space = space_class("nb201")()
    gt_table = space.ground_truth("cifar10")
    ids = sorted(archs)
    gt = np.array([gt_table.query(space.load(archs[a])) for a in ids])
    per = defaultdict(lambda: defaultdict(list))
    for a, t, _, r in recs:
        per[t][a].append(float(r["best_acc"]))
    mean = {t: np.array([np.mean(per[t][a]) for a in ids]) for t in per}
    idx = np.random.default_rng(SEED).integers(0, len(ids), size=(N_BOOT, len(ids)))
    boot = {t: rowwise_rho(v[idx], gt[idx]) for t, v in mean.items()}
    rho = {t: sps.spearmanr(v, gt).statistic for t, v in mean.items()}
    order = sorted(per, key=lambda t: -rho[t])
    print("| task | rho vs true accuracy [95% CI] |")
    print("|---|---|")
    for t in order:
        lo, hi = np.nanpercentile(boot[t], [2.5, 97.5])
        print(f"| {t} | {rho[t]:.2f} [{lo:.2f}, {hi:.2f}] |")
    print()
    trained = [t for t in TRAINED if t in per]
    print("Paired differences rho(ranker) - rho(trained objective) [95% paired bootstrap CI]; * = excludes 0")
    print()
    print("| ranker | " + " | ".join(f"- {t}" for t in trained) + " |")
    print("|---|" + "---|" * len(trained))
    for t in order:
        if t in TRAINED:
            continue
        cells = []
        for o in trained:
            d = boot[t] - boot[o]
            lo, hi = np.nanpercentile(d, [2.5, 97.5])
            star = "*" if lo > 0 or hi < 0 else ""
            cells.append(f"{rho[t] - rho[o]:+.2f} [{lo:+.2f}, {hi:+.2f}]{star}")
        print(f"| {t} | " + " | ".join(cells) + " |")
    print()


def wall_times(recs):
    by_task = defaultdict(list)
    for _, t, _, r in recs:
        by_task[t].append(float(r["wall_time_s"]))
    print("| task | jobs | median s per job | range (min-max) | mean (the report's) |")
    print("|---|---|---|---|---|")
    for t, v in by_task.items():
        print(f"| {t} | {len(v)} | {statistics.median(v):.2f} | {min(v):.2f}-{max(v):.2f} | {statistics.mean(v):.2f} |")
    print()


def main(argv):
    for folder in argv or ["docs/results/rankers/nb201-cpu-study"]:
        print(f"## {folder}\n")
        recs, archs = load(folder)
        shapes(recs, archs)
        correlations(recs, archs)
        wall_times(recs)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
