"""Collect the CPU searches and trainings of run.sh into this folder: per objective the found genotype, its cell
drawing and the alpha plots; results.json and summary.md with the held-out accuracies side by side.

    python docs/results/cifar10-cpu-search/summarize.py WORK_DIR OUT_DIR
"""

import csv
import glob
import json
import os
import shutil
import statistics
import sys

from unnas.spaces.darts import format_genotype, load_genotype
from unnas.spaces.darts.draw import draw_genotype

OBJECTIVES = ("supervised", "rotation", "colorization", "jigsaw")


def last_metric(metrics_csv: str, key: str):
    value = None
    with open(metrics_csv) as f:
        for row in csv.DictReader(f):
            if row.get(key):
                value = float(row[key])
    return value


def main(work: str, out: str) -> None:
    rows = []
    for arch in OBJECTIVES + ("random",):
        if arch == "random":
            geno_path = os.path.join(work, "random.json")
        else:
            run = os.path.join(work, "search", arch, "version_0")
            geno_path = os.path.join(run, "genotype.json")
            dest = os.path.join(out, arch)
            os.makedirs(dest, exist_ok=True)
            cells = sorted(glob.glob(os.path.join(run, "cells", "epoch_*.png")))
            alphas = sorted(glob.glob(os.path.join(run, "alphas", "epoch_*.png")))
            shutil.copy(cells[-1], os.path.join(dest, "cell.png"))
            shutil.copy(alphas[-1], os.path.join(dest, "alphas_last_epoch.png"))
            for name in ("genotype.json", "alphas.json", "alphas_evolution.png"):
                shutil.copy(os.path.join(run, name), os.path.join(dest, name))
        genotype = load_genotype(geno_path)
        if arch == "random":
            os.makedirs(os.path.join(out, "random"), exist_ok=True)
            shutil.copy(geno_path, os.path.join(out, "random", "genotype.json"))
            draw_genotype(genotype, os.path.join(out, "random", "cell.png"), title="random (unnas arch sample --seed 0)")
        results = []
        for path in sorted(glob.glob(os.path.join(work, "train", f"{arch}-seed*", "version_0", "result.json"))):
            with open(path) as f:
                results.append(json.load(f))
        accs = [r["best_acc"] for r in results]
        row = {
            "architecture": arch,
            "genotype": format_genotype(genotype),
            "search_pretext_val_acc": None if arch == "random" else last_metric(
                os.path.join(work, "search", arch, "version_0", "metrics.csv"), "val/acc"),
            "params": results[0]["params"] if results else None,
            "supervised_acc_per_seed": accs,
            "supervised_acc_mean": statistics.mean(accs) if accs else None,
            "train_wall_s": [round(r["wall_time_s"], 1) for r in results],
        }
        rows.append(row)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(rows, f, indent=1)
    lines = ["| architecture | search objective's held-out acc. (last epoch) | params (C=8, 8 cells) | "
             "supervised held-out acc., seeds 0 / 1 | mean |", "|---|---|---|---|---|"]
    for r in rows:
        search = "—" if r["search_pretext_val_acc"] is None else f"{r['search_pretext_val_acc']:.3f}"
        per_seed = " / ".join(f"{a:.3f}" for a in r["supervised_acc_per_seed"])
        mean = "—" if r["supervised_acc_mean"] is None else f"{r['supervised_acc_mean']:.3f}"
        lines.append(f"| {r['architecture']} | {search} | {r['params']:,} | {per_seed} | {mean} |")
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
