"""The label-free frontier's tables, from ``records/`` (written by ``run.py``): ``summary.md`` and ``summary.json``.

    python docs/results/rankers/frontier/summarize.py [--boot 1000]

Per ranker and part: Spearman ρ and Kendall τ against the true accuracy, their mean over seeds with the seed
standard deviation (``ddof=1``), a 95% bootstrap interval over architectures of the seed-mean ρ (cells resampled
with replacement, the same resample for every seed), the overlap of the top-k by score with the true top-k, nDCG@k
(gain: the architecture's true-accuracy percentile in the part, 0 to 1; discount ``log2(1 + position)``), and the
search by ranking: the true accuracy of the top-1 and of the best of the top 10 by score, against the best in the
part. ``label_free`` and ``az_nas`` are computed from their components' records two ways: against the reference
sample of the part (``*-reference`` records, :meth:`unnas.rankers.aggregate.Aggregate.combine`, what the rankers
print) and over the part's own set (:func:`unnas.rankers.aggregate.log_rank_sum`, what the AZ-NAS paper does).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sqlite3
from typing import Dict, List, Optional

import numpy as np
from scipy.stats import kendalltau, rankdata, spearmanr

HERE = os.path.dirname(os.path.abspath(__file__))
RECORDS = os.path.join(HERE, "records")
CPU_STUDY = os.path.join(HERE, "..", "..", "cifar10-cpu-study", "study", "study.sqlite")
#: the selection set of label_free's components: the first 113 cells of the NB201 table, seed 0
SELECTION = os.path.join(HERE, "selection_cells.txt")

AZ = ("az_expressivity", "az_progressivity", "az_trainability", "az_complexity")
AZ16 = ("az16_expressivity", "az16_progressivity", "az16_trainability", "az_complexity")
AGGREGATES = {"az_nas": AZ, "label_free": AZ16 + ("meco_opt", "synflow")}
#: every score of the data-free parts (the names of the rankers; AZ-NAS's at the default batch of 64)
SINGLE = ("meco", "meco_opt", "synflow", "params", "macs") + AZ
#: published Spearman ρ on NAS-Bench-201 CIFAR-10 (the source in README.md)
PUBLISHED = {"meco": "0.89", "swap": "0.90 (CIFAR-100, with its size regulariser)", "te_ntk": "(not found)", "te_lr": "(not found)", "az_nas": "0.913 (AZ-NAS paper); 0.892 (VKDNW paper's table)",
             "vkdnw_single": "0.815", "vkdnw": "(entropy alone: not published)", "synflow": "0.74", "macs": "0.80", "params": "0.75",
             "zico": "0.80", "label_free": "(this project's)", "meco_opt": "-"}


def read(part: str) -> Dict[int, List[dict]]:
    out = {}
    for path in sorted(glob.glob(os.path.join(RECORDS, f"{part}-seed*.jsonl"))):
        seed = int(re.search(r"-seed(\d+)\.jsonl$", path).group(1))
        with open(path) as f:
            out[seed] = [json.loads(line) for line in f if line.strip()]
    return out


def truth_of(part: str, archs: List[str], dataset: str = "cifar10") -> np.ndarray:
    """True accuracy of each architecture: the NAS-Bench-201 / NAS-Bench-101 table (validation accuracy), or for
    the DARTS space the CPU study's supervised accuracy (mean over its seeds)."""
    if part.startswith("darts"):
        con = sqlite3.connect(CPU_STUDY)
        acc: Dict[str, list] = {}
        for arch, result in con.execute("SELECT arch, result FROM jobs WHERE task='supervised' AND status='done'"):
            acc.setdefault(arch, []).append(json.loads(result)["best_acc"])
        return np.array([np.mean(acc[a]) for a in archs], dtype=float)
    from unnas.spaces import space_class

    space = space_class("nb101" if part.startswith("nb101") else "nb201")()
    gt = space.ground_truth(dataset)
    return np.array([gt.query(space.load(a)) for a in archs], dtype=float)


def trainable_tensors(archs: List[str]) -> np.ndarray:
    """VKDNW's ℵ of each NB201 cell at C=16, N=5: the number of parameter tensors (the official ``vkdnw_dim``)."""
    from unnas.spaces import space_class

    space = space_class("nb201")(channels=16, layers=5)
    return np.array([sum(1 for p in space.network(space.load(a)).parameters() if p.requires_grad) for a in archs],
                    dtype=float)


def with_aggregates(rows: List[dict], reference: Optional[List[dict]]) -> Dict[str, np.ndarray]:
    """Every score column of *rows*, plus ``label_free``/``az_nas`` against *reference* and over the set."""
    from unnas.rankers.aggregate import combine, log_rank_sum, reference_rank

    cols = {k: np.array([r[k] for r in rows], dtype=float) for k in rows[0]
            if k not in ("arch", "seed") and not k.startswith("t_")}
    for name, parts in AGGREGATES.items():
        if not all(p in cols for p in parts):
            continue
        cols[f"{name} (set)"] = log_rank_sum({p: cols[p] for p in parts})
        if reference:  # as Aggregate.combine: each component ranked against the reference sample's scores
            ref = {p: np.sort([r[p] for r in reference]) for p in parts}
            cols[name] = np.array([combine([reference_rank(ref[p], r[p]) for p in parts], "log_rank_sum")
                                   for r in rows])
    if "vkdnw" in cols:  # VKDNW_single: ℵ first, the entropy (at most log 9 < 10) within equal ℵ
        cols["vkdnw_single"] = 10 * trainable_tensors([r["arch"] for r in rows]) + cols["vkdnw"]
    return cols


def top_overlap(score: np.ndarray, truth: np.ndarray, k: int) -> float:
    """The share of the true top *k* among the *k* best by score; NaN when the part has no more than *k*."""
    if k >= len(truth):
        return float("nan")
    return len(set(np.argsort(-score, kind="stable")[:k]) & set(np.argsort(-truth, kind="stable")[:k])) / k


def ndcg(score: np.ndarray, truth: np.ndarray, k: int) -> float:
    gain = (rankdata(truth) - 1) / (len(truth) - 1)
    disc = 1 / np.log2(np.arange(2, k + 2))
    got = gain[np.argsort(-score, kind="stable")[:k]]
    best = np.sort(gain)[::-1][:k]
    return float((got * disc).sum() / (best * disc).sum())


def metrics(cols: Dict[str, np.ndarray], truth: np.ndarray) -> Dict[str, dict]:
    out = {}
    for name, score in cols.items():
        order = np.argsort(-score, kind="stable")
        out[name] = {"rho": float(spearmanr(score, truth)[0]), "tau": float(kendalltau(score, truth)[0]),
                     "top10": top_overlap(score, truth, 10), "top50": top_overlap(score, truth, 50),
                     "ndcg10": ndcg(score, truth, 10), "top1_acc": float(truth[order[0]]),
                     "best_of_top10_acc": float(truth[order[:10]].max())}
    return out


def boot_rho(cols_by_seed: List[Dict[str, np.ndarray]], truth: np.ndarray, n_boot: int, seed: int = 0
             ) -> Dict[str, List[float]]:
    """95% interval of the seed-mean ρ, resampling architectures (one resample for every seed and score)."""
    rng = np.random.default_rng(seed)
    n = len(truth)
    draws: Dict[str, list] = {k: [] for k in cols_by_seed[0]}
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        rt = rankdata(truth[idx])
        for k in draws:
            draws[k].append(np.mean([np.corrcoef(rankdata(c[k][idx]), rt)[0, 1] for c in cols_by_seed if k in c]))
    return {k: [float(np.nanpercentile(v, 2.5)), float(np.nanpercentile(v, 97.5))] for k, v in draws.items()}


def summarize_part(part: str, n_boot: int, dataset: str = "cifar10", only: Optional[List[str]] = None) -> dict:
    seeds = read(part)
    if not seeds:
        return {}
    refs = read(f"{part}-reference")
    first = seeds[min(seeds)]
    archs = [r["arch"] for r in first]
    truth = truth_of(part, archs, dataset)
    keep = ~np.isnan(truth)
    per_seed, cols_by_seed = {}, []
    for seed, rows in sorted(seeds.items()):
        by_arch = {r["arch"]: r for r in rows}
        if any(a not in by_arch for a in archs):
            continue  # a seed still being scored
        rows = [by_arch[a] for a in archs]
        cols = with_aggregates(rows, refs.get(seed) if refs.get(seed) and len(refs[seed]) >= 128 else None)
        cols = {k: v[keep] for k, v in cols.items() if only is None or k in only}
        cols_by_seed.append(cols)
        per_seed[seed] = metrics(cols, truth[keep])
    if not per_seed:
        return {}
    names = list(cols_by_seed[0])
    ci = boot_rho(cols_by_seed, truth[keep], n_boot) if n_boot else {}
    table = {}
    for name in names:
        vals = {m: [per_seed[s][name][m] for s in per_seed if name in per_seed[s]] for m in per_seed[min(per_seed)][name]}
        table[name] = {m: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else None}
                       for m, v in vals.items()}
        table[name]["rho_ci95"] = ci.get(name)
    costs = {}
    for rows in seeds.values():
        for r in rows:
            for k, v in r.items():
                if k.startswith("t_"):
                    costs.setdefault(k[2:], []).append(v)
    return {"part": part, "dataset": dataset, "n_archs": int(keep.sum()), "seeds": sorted(per_seed),
            "best_acc_in_part": float(truth[keep].max()), "table": table, "per_seed": per_seed,
            "seconds": {k: float(np.mean(v)) for k, v in costs.items()}}


def held_out(part_summary_rows: List[dict], n_boot: int) -> dict:
    """label_free on the NB201 cells outside its selection set (the cells its components were chosen on)."""
    if not os.path.exists(SELECTION):
        return {}
    chosen = set(open(SELECTION).read().split())
    seeds, refs = read("nb201"), read("nb201-reference")
    out = {}
    for seed, rows in sorted(seeds.items()):
        if len(rows) < 491 or not refs.get(seed) or len(refs[seed]) < 128:
            continue
        rows = [r for r in rows if r["arch"] not in chosen]
        truth = truth_of("nb201", [r["arch"] for r in rows])
        cols = with_aggregates(rows, refs[seed])
        out[seed] = {k: float(spearmanr(cols[k], truth)[0]) for k in ("label_free", "label_free (set)", "az_nas",
                                                                        "meco_opt", "synflow")}
    return out


def fmt(cell: dict, digits: int = 3) -> str:
    if not np.isfinite(cell["mean"]):
        return "-"
    if cell["std"] is None:
        return f"{cell['mean']:.{digits}f}"
    return f"{cell['mean']:.{digits}f} ± {cell['std']:.{digits}f}"


def markdown(summary: dict) -> str:
    lines = []
    for key, part in summary["parts"].items():
        if not part:
            continue
        lines += [f"### {key}: {part['n_archs']} architectures, seeds {', '.join(map(str, part['seeds']))}, "
                  f"truth {part['dataset']} (best in the part {part['best_acc_in_part']:.2f})", "",
                  "| ranker | ρ (mean ± seed std) | ρ 95% CI | τ | top-10 overlap | top-50 overlap | nDCG@10 | "
                  "top-1 true acc. | best of top-10 | published ρ |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        rows = sorted(part["table"].items(), key=lambda kv: -kv[1]["rho"]["mean"])
        for name, t in rows:
            ci = t["rho_ci95"]
            lines.append(f"| {name} | {fmt(t['rho'])} | {f'[{ci[0]:.3f}, {ci[1]:.3f}]' if ci else ''} | "
                         f"{fmt(t['tau'])} | {fmt(t['top10'], 2)} | {fmt(t['top50'], 2)} | {fmt(t['ndcg10'])} | "
                         f"{fmt(t['top1_acc'], 2)} | {fmt(t['best_of_top10_acc'], 2)} | "
                         f"{PUBLISHED.get(name, '') if key in ('nb201', 'nb201-costly', 'nb201-swap', 'nb201-swap-cifar10') else ''} |")
        if part["seconds"]:
            lines += ["", "Seconds per architecture and score (one worker, one torch thread, mean over the records): "
                      + ", ".join(f"{k} {v:.3f}" for k, v in sorted(part["seconds"].items()))]
        lines.append("")
    if summary.get("held_out"):
        lines += ["### label_free outside its selection set (NB201, 378 cells)", "",
                  "| seed | label_free | label_free (set) | az_nas | meco_opt | synflow |", "|---|---|---|---|---|---|"]
        for seed, r in summary["held_out"].items():
            lines.append(f"| {seed} | " + " | ".join(f"{r[k]:.3f}" for k in ("label_free", "label_free (set)",
                                                                              "az_nas", "meco_opt", "synflow")) + " |")
        lines.append("")
    return "\n".join(lines)


def losses_table() -> str:
    """ρ of every loss-based ranker with labels and with each pretext objective's loss (the nb201-losses parts)."""
    from docs_run import LOSS_RANKERS, OBJECTIVES  # noqa: E402  (run.py beside this file)

    grid, scores, n, archs = {}, {}, None, None
    for objective in OBJECTIVES:
        seeds = read(f"nb201-losses-{objective}")
        if 0 not in seeds or (archs is not None and len(seeds[0]) != len(archs)):
            continue  # not scored yet, or still being scored
        by_arch = {r["arch"]: r for r in seeds[0]}
        archs = archs or sorted(by_arch)
        if set(by_arch) != set(archs):
            continue
        rows = [by_arch[a] for a in archs]
        truth = truth_of("nb201", archs)
        n = len(rows)
        for ranker in LOSS_RANKERS:
            if ranker in rows[0]:
                scores[(ranker, objective)] = np.array([r[ranker] for r in rows], dtype=float)
                grid[(ranker, objective)] = float(spearmanr(scores[(ranker, objective)], truth)[0])
    if not grid:
        return ""
    # paired bootstrap of ρ(pretext loss) − ρ(labels) over the cells, the same resample for both
    rng = np.random.default_rng(0)
    draws = [rng.integers(0, n, n) for _ in range(1000)]
    delta = {}
    for (ranker, objective), score in scores.items():
        if objective == "labels" or (ranker, "labels") not in scores:
            continue
        base = scores[(ranker, "labels")]
        d = [spearmanr(score[i], truth[i])[0] - spearmanr(base[i], truth[i])[0] for i in draws]
        delta[(ranker, objective)] = (grid[(ranker, objective)] - grid[(ranker, "labels")],
                                      float(np.nanpercentile(d, 2.5)), float(np.nanpercentile(d, 97.5)))
    lines = [f"### Loss-based rankers with labels and with each pretext objective's loss ({n} NB201 table cells, "
             "seed 0, a batch of 32 real CIFAR-10 images; Spearman ρ against true CIFAR-10 accuracy)", "",
             "| ranker | " + " | ".join(OBJECTIVES) + " |", "|---|" + "---|" * len(OBJECTIVES)]
    for ranker in LOSS_RANKERS:
        lines.append(f"| {ranker} | " + " | ".join(f"{grid[(ranker, o)]:.3f}" if (ranker, o) in grid else "-"
                                                   for o in OBJECTIVES) + " |")
    lines += ["", "ρ(pretext loss) − ρ(labels), with its 95% paired bootstrap interval over the cells (1,000 "
              "resamples, the same for both):", "", "| ranker | " + " | ".join(OBJECTIVES[1:]) + " |",
              "|---|" + "---|" * (len(OBJECTIVES) - 1)]
    for ranker in LOSS_RANKERS:
        lines.append(f"| {ranker} | " + " | ".join(
            f"{delta[(ranker, o)][0]:+.3f} [{delta[(ranker, o)][1]:+.3f}, {delta[(ranker, o)][2]:+.3f}]"
            if (ranker, o) in delta else "-" for o in OBJECTIVES[1:]) + " |")
    return "\n".join(lines) + "\n"


#: seconds of each score from the records' timings: the scores a ranker needs (one AZ-NAS pass serves its four)
COST_PARTS = {"label_free": ("az16", "meco_opt", "synflow", "build"), "az_nas": ("az", "build"),
              **{n: ("az", "build") for n in AZ[:3]}, "az_complexity": ("macs", "build")}


def cost_of(name: str, seconds: Dict[str, float]) -> Optional[float]:
    """Seconds per architecture of ranker *name* (network build included) from a part's mean timings."""
    base = name.replace(" (set)", "")
    parts = COST_PARTS.get(base, (base, "build"))
    return sum(seconds[p] for p in parts) if all(p in seconds for p in parts) else None


def cost_frontier(summary: dict, path: str) -> List[dict]:
    """Seconds per architecture against ρ (NB201, CIFAR-10) for every ranker with recorded timings, the Pareto
    front marked; the figure at *path*. Returns the points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = []
    for key in ("nb201", "nb201-costly", "nb201-swap"):
        part = summary["parts"].get(key) or {}
        for name, t in (part.get("table") or {}).items():
            if name.startswith("az16_") or name.endswith("(set)"):
                continue
            cost = cost_of(name, part["seconds"])
            if cost is not None:
                points.append({"ranker": name, "part": key, "s_per_arch": cost, "rho": t["rho"]["mean"]})
    if not points:
        return points
    points.sort(key=lambda p: p["s_per_arch"])
    best = -np.inf
    for p in points:  # on the front: no cheaper ranker ranks as well
        p["front"] = p["rho"] > best
        best = max(best, p["rho"])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for p in points:
        ax.scatter(p["s_per_arch"], p["rho"], color="C3" if p["front"] else "C0", marker="o" if p["part"] == "nb201"
                   else "s")
        ax.annotate(p["ranker"], (p["s_per_arch"], p["rho"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    front = [p for p in points if p["front"]]
    ax.plot([p["s_per_arch"] for p in front], [p["rho"] for p in front], color="C3", lw=1, ls="--", label="front")
    ax.set_xscale("log")
    ax.set_xlabel("seconds per architecture (one worker, one torch thread)")
    ax.set_ylabel("Spearman ρ vs true CIFAR-10 accuracy")
    ax.set_title("NAS-Bench-201: cost and ρ of the training-free rankers")
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return points


def streamed_check() -> Optional[dict]:
    """``unnas rank --rankers label_free`` (search/ranked.jsonl, seed 0) against label_free computed here from the
    nb201 and nb201-reference records of seed 0: the largest absolute difference over the cells both hold."""
    path = os.path.join(HERE, "search", "ranked.jsonl")
    rows, refs = read("nb201").get(0), read("nb201-reference").get(0)
    if not os.path.exists(path) or not rows or not refs:
        return None
    here = dict(zip([r["arch"] for r in rows], with_aggregates(rows, refs)["label_free"]))
    with open(path) as f:
        streamed = {r["genotype"]: r["label_free"] for r in map(json.loads, f)}
    common = sorted(set(here) & set(streamed))
    return {"cells": len(common), "max_abs_difference": float(max(abs(here[a] - streamed[a]) for a in common))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--boot", type=int, default=1000, help="bootstrap resamples for the intervals of ρ")
    args = ap.parse_args()
    parts = {"nb201": summarize_part("nb201", args.boot),
             "nb201-cifar100": summarize_part("nb201-cifar100", args.boot, "cifar100"),
             "nb201-imagenet16-120": summarize_part("nb201-imagenet16-120", args.boot, "imagenet16-120"),
             "nb201-costly": summarize_part("nb201-costly", args.boot),
             "nb201-swap": summarize_part("nb201-swap", args.boot),
             "nb201-swap-cifar10": summarize_part("nb201-swap-cifar10", args.boot),
             "nb101": summarize_part("nb101", args.boot),
             "darts": summarize_part("darts", args.boot)}
    summary = {"parts": parts, "held_out": held_out([], args.boot)}
    summary["cost_frontier"] = cost_frontier(summary, os.path.join(HERE, "fig_cost_frontier.png"))
    summary["streamed_check"] = streamed_check()
    with open(os.path.join(HERE, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    text = markdown(summary) + "\n" + losses_table()
    if summary["streamed_check"]:
        c = summary["streamed_check"]
        text += (f"\n`unnas rank nb201-table --rankers label_free --seed 0` (search/ranked.jsonl) against label_free "
                 f"computed from the records: {c['cells']} cells, largest absolute difference {c['max_abs_difference']:g}.\n")
    if summary["cost_frontier"]:
        text += ("\n### Cost frontier (NB201, CIFAR-10; [fig_cost_frontier.png](fig_cost_frontier.png))\n\n"
                 "| ranker | s per architecture | ρ | on the front |\n|---|---|---|---|\n"
                 + "".join(f"| {p['ranker']} | {p['s_per_arch']:.3f} | {p['rho']:.3f} | {'yes' if p['front'] else ''} |\n"
                           for p in summary["cost_frontier"]))
    with open(os.path.join(HERE, "summary.md"), "w") as f:
        f.write("# The label-free frontier: every table (written by summarize.py from records/)\n\n" + text)
    print(text)


if __name__ == "__main__":
    import sys

    sys.path.insert(0, HERE)
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_run", os.path.join(HERE, "run.py"))
    sys.modules["docs_run"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sys.modules["docs_run"])
    main()
