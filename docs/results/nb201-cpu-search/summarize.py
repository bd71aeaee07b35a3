"""Summary of the NAS-Bench-201 CPU searches (run.sh): per objective and seed, the derived cell of every epoch, its
true CIFAR-10 accuracy from the embedded NAS-Bench-201 table (isomorphic cells included), and how many of its six
edges are skip_connect or parameter-free; random cells of the space as the baseline. Writes results.json and
summary.md beside this file."""

from __future__ import annotations

import glob
import json
import os
import statistics

from unnas.spaces import NB201Space
from unnas.spaces.nb201.benchmark import NB201Table

HERE = os.path.dirname(os.path.abspath(__file__))
TASKS = ("supervised", "rotation", "colorization", "jigsaw")
PARAM_FREE = ("none", "skip_connect", "avg_pool_3x3")


def _mean_std(values):
    if not values:
        return None, None
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _fmt(mean, std, n=None, of=None):
    if mean is None:
        return "–"
    cov = f" ({n} of {of} known)" if n is not None and n != of else ""
    return f"{mean:.2f} ± {std:.2f}{cov}"


def main() -> None:
    space, truth = NB201Space(), NB201Table("cifar10")
    runs = {}
    for path in sorted(glob.glob(os.path.join(HERE, "searches", "*_seed*", "version_0", "alphas.json"))):
        name = path.split(os.sep)[-3]
        task, seed = name.rsplit("_seed", 1)
        with open(path) as f:
            history = json.load(f)["epochs"]
        epochs = []
        for e in history:
            cell = space.from_dict(e["genotype"])
            acc, how = truth.lookup(cell)
            epochs.append({"epoch": e["epoch"], "cell": str(cell), "true_acc": acc, "match": how,
                           "skip_connect": sum(op == "skip_connect" for op in cell),
                           "param_free": sum(op in PARAM_FREE for op in cell)})
        runs[name] = {"task": task, "seed": int(seed), "epochs": epochs, "steps_per_epoch": 20}
    rng_cells = space.sample(2000, seed=0)
    random_accs = [a for a in (truth.query(c) for c in rng_cells) if a is not None]
    r_mean, r_std = _mean_std(random_accs)
    rows = []
    for task in TASKS:
        finals = [r["epochs"][-1] for r in runs.values() if r["task"] == task]
        accs = [f["true_acc"] for f in finals if f["true_acc"] is not None]
        m, s = _mean_std(accs)
        rows.append({"task": task, "runs": len(finals), "final_true_acc_mean": m, "final_true_acc_std": s,
                     "known": len(accs), "final_skip_connect": [f["skip_connect"] for f in finals],
                     "final_param_free": [f["param_free"] for f in finals],
                     "final_cells": [f["cell"] for f in finals]})
    out = {"dataset": "cifar10", "source": truth.coverage(), "runs": runs, "by_objective": rows,
           "random": {"n_sampled": len(rng_cells), "n_known": len(random_accs), "mean": r_mean, "std": r_std}}
    with open(os.path.join(HERE, "results.json"), "w") as f:
        json.dump(out, f, indent=1)
    lines = ["# NAS-Bench-201 CPU searches: found cells and their true CIFAR-10 accuracy", "",
             f"Ground truth: {truth.coverage()}.", "",
             "| objective | runs | final cell's true accuracy (%) | skip_connect edges of the final cells | "
             "parameter-free edges |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['task']} | {r['runs']} | {_fmt(r['final_true_acc_mean'], r['final_true_acc_std'], r['known'], r['runs'])} "
                     f"| {r['final_skip_connect']} | {r['final_param_free']} |")
    lines.append(f"| random cells (uniform over the space) | {len(rng_cells)} | "
                 f"{_fmt(r_mean, r_std, len(random_accs), len(rng_cells))} | | |")
    lines += ["", "Per run, per epoch (20 search steps an epoch): derived cell, true accuracy, skip_connect edges.", ""]
    for name, r in runs.items():
        lines.append(f"**{name}**: " + "; ".join(
            f"e{e['epoch']} {('%.2f' % e['true_acc']) if e['true_acc'] is not None else '?'} ({e['skip_connect']} skip)"
            for e in r["epochs"]))
        lines.append(f"final `{r['epochs'][-1]['cell']}`")
        lines.append("")
    with open(os.path.join(HERE, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines[:12]))


if __name__ == "__main__":
    main()
