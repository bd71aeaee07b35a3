"""The picks of label-free search by ranking (run.sh beside this file), as search.md and search.json.

Per seed: the cell a trained objective picks among label_free's 10 best (jigsaw: the best held-out accuracy;
random labels: the largest weight angle, as RLNAS ranks), its true CIFAR-10 accuracy (the NAS-Bench-201 table's
validation accuracy), beside label_free's own top-1 (no training), the best of the 10, and the best table cell.
"""

from __future__ import annotations

import json
import os
import sqlite3

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    from unnas.spaces import space_class

    space = space_class("nb201")()
    gt = space.ground_truth("cifar10")
    ranked = [json.loads(line) for line in open(os.path.join(HERE, "ranked.jsonl"))]
    truth_all = {r["genotype"]: gt.query(space.load(r["genotype"])) for r in ranked}
    order = sorted(ranked, key=lambda r: -r["label_free"])
    top10 = [r["genotype"] for r in order[:10]]
    con = sqlite3.connect(os.path.join(HERE, "study", "study.sqlite"))
    rows = con.execute("SELECT arch, task, seed, result FROM jobs WHERE status='done'").fetchall()
    picks = {}
    for task, metric in (("jigsaw", "best_acc"), ("random_labels", "weight_angle")):
        for seed in sorted({s for _, t, s, _ in rows if t == task}):
            got = {a: json.loads(r).get(metric) for a, t, s, r in rows if t == task and s == seed}
            got = {a: v for a, v in got.items() if v is not None}
            if len(got) < 10:
                continue
            best = max(got, key=got.get)
            picks.setdefault(task, []).append({"seed": seed, "pick": best, "true_acc": truth_all[best]})
    out = {"label_free_top1": {"arch": top10[0], "true_acc": truth_all[top10[0]]},
           "best_of_top10": max(truth_all[a] for a in top10), "top10": {a: truth_all[a] for a in top10},
           "best_table_cell": max(truth_all.values()), "table_mean": float(np.mean(list(truth_all.values()))),
           "picks": picks}
    with open(os.path.join(HERE, "search.json"), "w") as f:
        json.dump(out, f, indent=1)
    lines = ["| how the cell is picked | true CIFAR-10 accuracy (%) |", "|---|---|",
             f"| label_free's top-1 (no training) | {out['label_free_top1']['true_acc']:.2f} |"]
    for task, ps in picks.items():
        accs = [p["true_acc"] for p in ps]
        lines.append(f"| {task} on label_free's top 10, per seed ({len(ps)} seeds) | "
                     f"{np.mean(accs):.2f} (seeds: {', '.join(f'{a:.2f}' for a in accs)}) |")
    lines += [f"| best of label_free's top 10 (an oracle pick among them) | {out['best_of_top10']:.2f} |",
              f"| best of the 491 table cells | {out['best_table_cell']:.2f} |",
              f"| mean of the 491 table cells | {out['table_mean']:.2f} |"]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(HERE, "search.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
