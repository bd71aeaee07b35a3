"""The rankers' reference results in one page: reads the ``correlations.json`` of each study report under this folder
(``<study>/report/``, written by ``unnas study report``) and writes summary.md: per study and ranker (and trained
objective), Spearman rho against the ground truth and against supervised accuracy, seconds per architecture, and
on the NAS-Bench-201 table the benchmark's own scores beside ours (the check that ours are within 0.05 of the
table's rho). Run after run.sh and the reports:

    python docs/results/rankers/summarize.py
"""

from __future__ import annotations

import csv
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
#: (folder, what it is), in the order of the page
STUDIES = (
    ("nb201-cifar10", "NAS-Bench-201, the 491 table cells, CIFAR-10 (C=16, N=5, a batch of 64 real CIFAR-10 images)"),
    ("nb201-cifar10-seeds", "NAS-Bench-201, 80 table cells, CIFAR-10: grasp and jacov with seeds 1, 2 and 3 (each "
                            "seed a new initialisation and a new batch)"),
    ("nb201-cifar100", "NAS-Bench-201, the 491 table cells, CIFAR-100 networks (data-free rankers only)"),
    ("nb201-imagenet16", "NAS-Bench-201, the 491 table cells, ImageNet16-120 networks (data-free rankers only)"),
    ("nb201-cpu-study", "NAS-Bench-201 CPU study: 60 table cells, rankers beside the objectives trained with the "
                        "CPU recipe (TinyNetwork C=8, N=1), seeds 1 and 2; the rankers scored at NASLib's table "
                        "setting, C=16, N=5 (configs/study/nb201_rankers_cifar10.yaml), not at the trained shape"),
    ("nb201-cpu-study-c8", "The same 60 cells, seeds and trained objectives, the rankers scored at the trained "
                           "shape, C=8, N=1 (nb201_rankers_cifar10_c8.yaml), one torch thread"),
    ("darts-cifar10-cpu-study", "DARTS space: 24 of the paper's 500 architectures, rankers beside the objectives "
                                "trained with the CPU recipe"),
)


def _rho(entry):
    if not entry or not entry.get("computable"):
        return "–"
    s = entry["spearman"]
    return f"{s['value']:.2f} [{s['ci_low']:.2f}, {s['ci_high']:.2f}]"


def _simple(entry):
    if not entry or not entry.get("computable") or entry.get("rho") is None:
        return "–"
    return f"{entry['rho']:.2f}"


def study_table(corr):
    """Markdown rows: every task with its rho to the ground truth, to supervised, and seconds per architecture."""
    truth = {c["y"]: c for c in corr.get("ground_truth_correlations") or []}
    sup = {c["y"]: c for c in corr.get("correlations") or [] if c.get("kind") == "vs_baseline"}
    cost = (corr.get("cost") or {}).get("tasks") or {}
    rankers = set(corr.get("ranker_tasks") or [])
    rows = ["| task | kind | ρ vs ground truth [95% CI] | ρ vs supervised [95% CI] | mean s per architecture and "
            "seed (the report's cost; medians and ranges: recompute.py) |",
            "|---|---|---|---|---|"]
    order = sorted(corr.get("tasks") or [], key=lambda t: (t in rankers, t))
    for task in order:
        c = cost.get(task, {}).get("cost_s")
        rows.append(f"| {task} | {'ranker' if task in rankers else 'trained'} | {_rho(truth.get(task))} | "
                    f"{_rho(sup.get(task)) if task != 'supervised' else '–'} | {'–' if c is None else f'{c:.2f}'} |")
    return rows


def table_check(corr):
    """Markdown rows of the benchmark-score comparison: rho(table, truth), rho(ours, truth), their difference and
    whether it is within 0.05, rho(ours, table)."""
    ts = (corr.get("table_scores") or {}).get("tasks") or {}
    if not ts:
        return []
    rows = ["| ranker | ρ(table's score, truth) | ρ(ours, truth) | ours − table [95% CI] | within 0.05 | "
            "ρ(ours, table's) | n |", "|---|---|---|---|---|---|---|"]
    for task, t in sorted(ts.items()):
        d = t.get("difference") or {}
        if d.get("computable"):
            diff = f"{d['value']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"
            within = "yes" if abs(d["value"]) <= 0.05 else "no"
        else:
            diff, within = "–", "–"
        rows.append(f"| {task} | {_simple(t.get('table_vs_truth'))} | {_simple(t.get('ours_vs_truth'))} | {diff} | "
                    f"{within} | {_simple(t.get('ours_vs_table'))} | {(t.get('ours_vs_truth') or {}).get('n', '–')} |")
    return rows


def per_seed_rows(folder, corr):
    """Markdown rows for a study with several seeds of its rankers: each seed's rho to the true accuracy and to the
    benchmark table's own score (NAS-Bench-201 CIFAR-10), and the report's seed-to-seed rho."""
    from scipy.stats import spearmanr

    from unnas.spaces import NB201Space
    from unnas.spaces.nb201.benchmark import NB201Table

    noise = (corr.get("noise") or {}).get("tasks") or {}
    tasks = [t for t in corr.get("ranker_tasks") or [] if (noise.get(t) or {}).get("n_seeds", 0) > 1]
    if not tasks:
        return []
    with open(os.path.join(HERE, folder, "report", "architectures.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    space, table = NB201Space(), NB201Table(dataset="cifar10")
    records = {r["arch"]: table.record(space.load(r["arch"])) or {} for r in rows}
    out = ["Per seed (each seed: a new initialisation and a new batch):", "",
           "| ranker | seed | ρ(ours, truth) | ρ(ours, table's) | ρ(table's, truth) | seed-to-seed ρ (pairs) |",
           "|---|---|---|---|---|---|"]
    for task in tasks:
        n = noise[task]
        if not n.get("computable"):
            seed_rho = "–"
        elif n.get("ci_low") is not None:
            seed_rho = f"{n['r']:.2f} [{n['ci_low']:.2f}, {n['ci_high']:.2f}]"
        else:  # the report gives an interval for two seeds only; with more, the mean and every pair
            seed_rho = f"{n['r']:.2f} (" + ", ".join(f"{p['seeds'][0]}–{p['seeds'][1]}: {p['rho']:.2f}"
                                                     for p in n["pairs"] if p.get("computable")) + ")"
        for col in sorted(c for c in rows[0] if c.startswith(f"{task} s")):
            keep = [r for r in rows if r[col] not in ("", None) and task in records[r["arch"]]]
            ours = [float(r[col]) for r in keep]
            truth = [float(r["ground truth"]) for r in keep]
            theirs = [records[r["arch"]][task] for r in keep]
            out.append(f"| {task} | {col.split(' s')[-1]} | {spearmanr(ours, truth)[0]:.2f} | "
                       f"{spearmanr(ours, theirs)[0]:.2f} | {spearmanr(theirs, truth)[0]:.2f} | {seed_rho} |")
    return out + [""]


def main() -> None:
    out = ["# Training-free rankers: summary of the reference results", "",
           "Written by `python docs/results/rankers/summarize.py` from each study's `report/correlations.json`; "
           "the reports hold every number with its interval, the plots and the per-architecture tables.", ""]
    for folder, what in STUDIES:
        path = os.path.join(HERE, folder, "report", "correlations.json")
        out += [f"## {folder}", "", what + ".", ""]
        if not os.path.exists(path):
            out += ["Not run yet (`bash docs/results/rankers/run.sh`, then `unnas study report`).", ""]
            continue
        with open(path, encoding="utf-8") as f:
            corr = json.load(f)
        gt = corr.get("ground_truth") or {}
        out += [f"{corr.get('n_records')} records; ground truth: {gt.get('name', 'none')} "
                f"({gt.get('n_covered', 0)} of {gt.get('n_study_archs', 0)} architectures covered). "
                f"[report]({folder}/report/report.md)", ""]
        out += study_table(corr) + [""]
        check = table_check(corr)
        if check:
            out += ["The benchmark table's own scores on the same cells:", ""] + check + [""]
        if folder.startswith("nb201-cifar10"):
            out += per_seed_rows(folder, corr)
    with open(os.path.join(HERE, "summary.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(out))
    print(f"wrote {os.path.join(HERE, 'summary.md')}")


if __name__ == "__main__":
    main()
