"""Summary of the NAS-Bench-201 strategy searches (run.sh): per strategy and objective, the final cell's true CIFAR-10
accuracy from the embedded NAS-Bench-201 table (isomorphic cells included; mean ± std and a 95% t-interval over the
seeds whose cell the table covers, with the coverage "k of n"; one covered run: its value and "n=1", no spread), the
CPU seconds per run, the published full-scale figures where they exist, and random cells of the space (and of the
table, the pool of the smbo runs) as the baselines; pooled by strategy and by objective, with a Kruskal-Wallis test
of the covered runs' accuracies across the strategies and across the objectives; the final cells' skip_connect
edges and the cells without a convolution; and where each smbo run's pick ranks, by true accuracy, among the cells
it trained. Writes results.json and summary.md into the folder given (default: beside this file):

    python docs/results/nb201-strategies/summarize.py [FOLDER]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import statistics

from scipy import stats as sps

from unnas.spaces import NB201Space
from unnas.spaces.nb201.benchmark import NB201Table
from unnas.spaces.nb201.ops import PRIMITIVES

HERE = os.path.dirname(os.path.abspath(__file__))
RUN_NAME = re.compile(r"^(?P<strategy>[a-z0-9]+)_(?P<objective>[a-z0-9_]+)_seed(?P<seed>\d+)$")
#: display order (strategies or objectives not listed follow, alphabetically)
ORDER = ("darts", "gdas", "pcdarts", "rsws", "ddpnas", "tndnas", "smbo",
         "supervised", "rotation", "jigsaw", "random_labels")
PUBLISHED_SOURCE = ("Dong & Yang, \"NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture Search\", "
                    "ICLR 2020, Table 5: CIFAR-10 test accuracy (%) of the cell found by each method's full-scale "
                    "search (supernet C=16, N=5, CIFAR-10 training set), mean ± std over its runs")
#: the paper's rows for the strategies run here (DARTS-V1 is first-order DARTS, the config nb201_cifar10_cpu.yaml)
PUBLISHED = {"darts": {"method": "DARTS-V1", "mean": 54.30, "std": 0.00},
             "gdas": {"method": "GDAS", "mean": 93.61, "std": 0.09}}
#: rows of the same table without a configuration here
PUBLISHED_OTHER = [{"method": "DARTS-V2 (second order)", "mean": 54.30, "std": 0.00}]


_PARAMS: dict = {}


def cell_params_m(space, cell) -> float:
    """Parameters (millions) of *cell*'s network at *space*'s size (``NB201Space()``: the benchmark's, C=16, N=5,
    10 classes): the all-``none`` network's plus, per edge, what its op adds, measured once per op (parameters add up
    over modules, and every edge maps C channels to C, so an op adds the same wherever it sits)."""
    counts = _PARAMS.setdefault((space.channels, space.layers), {})
    if not counts:
        from unnas.spaces.complexity import count_params

        def params(text):
            return count_params(space.network(space.parse(text)))

        none = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
        counts["base"] = params(none)
        for op in PRIMITIVES:
            counts[op] = params(none.replace("none~0", f"{op}~0", 1)) - counts["base"]
    edges = [e.split("~")[0] for e in str(cell).replace("+", "").split("|") if e]
    return (counts["base"] + sum(counts[op] for op in edges)) / 1e6


def _key(name: str):
    return (ORDER.index(name), "") if name in ORDER else (len(ORDER), name)


def mean_std(values):
    """``(mean, sample std)`` of *values*; the std is None for one value (undefined, not 0) and both are None for
    none."""
    if not values:
        return None, None
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else None)


def t_interval(values, level=0.95):
    """``(low, high)``: Student's t-interval for the mean of *values* (mean ± t(n-1) s/√n); None for fewer than 2."""
    if len(values) < 2:
        return None
    m, s = statistics.mean(values), statistics.stdev(values)
    half = float(sps.t.ppf((1 + level) / 2, len(values) - 1)) * s / len(values) ** 0.5
    return m - half, m + half


def fmt(mean, std, known=None, runs=None, digits=2):
    """``mean ± std`` with the coverage ``(k of n)`` when some runs are not covered; a single value (std None) as
    ``value (n=1)``, since one run has no spread."""
    if mean is None:
        return "–" if not runs else f"– (0 of {runs})"
    cov = f" ({known} of {runs})" if known is not None and known != runs else ""
    if std is None:
        return f"{mean:.{digits}f} (n=1{', ' + cov.strip(' ()') if cov else ''})"
    return f"{mean:.{digits}f} ± {std:.{digits}f}{cov}"


def fmt_ci(ci, digits=1):
    """``[low, high]`` of a t-interval; "–" where none is defined (fewer than 2 values)."""
    return "–" if ci is None else f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def edges(cell) -> list:
    """The six edge ops of a NAS-Bench-201 cell's text."""
    return [e.split("~")[0] for e in str(cell).replace("+", "").split("|") if e]


def kruskal(runs: dict, by: str) -> dict:
    """Kruskal-Wallis H test of the covered runs' true accuracies across the groups of *by* (strategy or
    objective), scipy.stats.kruskal: H, degrees of freedom, p and the group sizes."""
    groups = {}
    for r in runs.values():
        if r["true_acc"] is not None:
            groups.setdefault(r[by], []).append(r["true_acc"])
    if len(groups) < 2:
        return {"by": by, "groups": {k: len(v) for k, v in groups.items()}, "H": None, "df": None, "p": None}
    res = sps.kruskal(*groups.values())
    return {"by": by, "groups": {k: len(v) for k, v in sorted(groups.items(), key=lambda kv: _key(kv[0]))},
            "H": float(res.statistic), "df": len(groups) - 1, "p": float(res.pvalue)}


def _supernet_run(path: str, space, truth) -> dict:
    """A supernet search (alphas.json): the last epoch's cell, and every epoch's cell's true accuracy."""
    with open(path) as f:
        history = json.load(f)["epochs"]
    cell = space.from_dict(history[-1]["genotype"])
    acc, how = truth.lookup(cell)
    return {"epochs": len(history), "final_cell": str(cell), "true_acc": acc, "match": how,
            "per_epoch_true_acc": [e.get("true_acc") for e in history],
            "per_epoch_skip_edges": [edges(space.from_dict(e["genotype"])).count("skip_connect") for e in history]}


def _smbo_run(path: str, space, truth) -> dict:
    """A study run as a search (search_rounds.json): the best-scored cell after the last round, and the best-scored
    cell's true accuracy among the initial random cells and after every round."""
    from unnas.study.smbo import objective_scores
    from unnas.study.store import Store

    with open(path) as f:
        record = json.load(f)
    rounds = record["rounds"]
    store = Store.open(os.path.dirname(path))
    archs = dict(store.archs())
    proposed = {p["id"] for r in rounds for p in r["proposals"]}
    initial = {a: v for a, v in objective_scores(store, record["objective"]).items() if a not in proposed}
    first = [max(initial, key=initial.get)] if initial else []  # none when no initial cell was scored
    cells = [space.load(archs[a]) for a in first + [r["best"]["id"] for r in rounds]]
    acc, how = truth.lookup(cells[-1])
    trained = [truth.lookup(space.load(text))[0] for text in archs.values()]
    known = [a for a in trained if a is not None]
    # the pick's rank by true accuracy among the cells the run trained (1 = best; ties share the mean rank)
    rank = None if acc is None else 1 + sum(a > acc for a in known) + (sum(a == acc for a in known) - 1) / 2
    return {"rounds": len(rounds), "trained": len(archs), "final_cell": str(cells[-1]), "true_acc": acc,
            "match": how, "per_round_true_acc": [None] * (not initial) + [truth.lookup(c)[0] for c in cells],
            "trained_true_accs": trained, "pick_true_rank": rank}


def load_runs(folder: str, space, truth) -> dict:
    """Every finished run under *folder*/searches (``genotype.json`` and ``cpu_seconds.json`` written, as run.sh
    counts them; a run stopped part-way is left out): its final cell, true accuracy and CPU seconds."""
    readers = (("alphas.json", _supernet_run), (os.path.join("study", "search_rounds.json"), _smbo_run))
    runs = {}
    for run_dir in sorted(glob.glob(os.path.join(folder, "searches", "*", "version_0"))):
        name = os.path.basename(os.path.dirname(run_dir))
        match = RUN_NAME.match(name)
        done = all(os.path.exists(os.path.join(run_dir, f)) for f in ("genotype.json", "cpu_seconds.json"))
        found = [(os.path.join(run_dir, f), read) for f, read in readers if os.path.exists(os.path.join(run_dir, f))]
        if match is None or not done or not found:
            continue
        path, read = found[0]
        run = read(path, space, truth)
        with open(os.path.join(run_dir, "cpu_seconds.json")) as f:
            seconds = json.load(f)
        ops = edges(run["final_cell"])
        runs[name] = {"strategy": match["strategy"], "objective": match["objective"], "seed": int(match["seed"]),
                      **run, "params_m": cell_params_m(space, run["final_cell"]), "seconds": seconds,
                      "skip_edges": ops.count("skip_connect"), "has_conv": any(o.startswith("nor_conv") for o in ops)}
    return runs


def _accuracy_and_params(group: list) -> dict:
    """Of a group of runs: how many the table covers, their true accuracy mean ± std and 95% t-interval, the final
    cells' parameters (all runs) mean ± std, their skip_connect edges and how many hold no convolution."""
    accs = [r["true_acc"] for r in group if r["true_acc"] is not None]
    m, s = mean_std(accs)
    pm, ps = mean_std([r["params_m"] for r in group])
    return {"known": len(accs), "true_acc_mean": m, "true_acc_std": s, "true_acc_ci95": t_interval(accs),
            "params_m_mean": pm, "params_m_std": ps, "skip_edges": [r.get("skip_edges") for r in group],
            "no_conv": sum(not r.get("has_conv", True) for r in group)}


def summarize(runs: dict) -> list:
    """Per strategy and objective: runs, seeds, true accuracy mean ± std over the covered runs, CPU seconds."""
    rows = []
    pairs = sorted({(r["strategy"], r["objective"]) for r in runs.values()},
                   key=lambda p: (_key(p[0]), _key(p[1])))
    for strategy, objective in pairs:
        group = sorted((r for r in runs.values() if (r["strategy"], r["objective"]) == (strategy, objective)),
                       key=lambda r: r["seed"])
        timed = [r["seconds"] for r in group if r["seconds"]]
        cpu_m, cpu_s = mean_std([t["cpu_s"] for t in timed])
        wall_m, wall_s = mean_std([t["wall_s"] for t in timed])
        rows.append({"strategy": strategy, "objective": objective, "runs": len(group),
                     "seeds": [r["seed"] for r in group], **_accuracy_and_params(group),
                     "true_accs": [r["true_acc"] for r in group], "final_cells": [r["final_cell"] for r in group],
                     "cpu_s_mean": cpu_m, "cpu_s_std": cpu_s, "wall_s_mean": wall_m, "wall_s_std": wall_s,
                     "timed_runs": len(timed), "published": PUBLISHED.get(strategy)})
    return rows


def pooled(runs: dict, by: str) -> list:
    """Per strategy (``by="strategy"``) or objective: runs, covered runs, their true accuracy mean ± std and the
    final cells' parameters (all runs), pooled over the other factor and the seeds."""
    out = []
    for value in sorted({r[by] for r in runs.values()}, key=_key):
        group = [r for r in runs.values() if r[by] == value]
        out.append({by: value, "runs": len(group), **_accuracy_and_params(group)})
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", nargs="?", default=HERE, help="the folder run.sh wrote (its searches/ holds the runs)")
    folder = p.parse_args(argv).folder
    space, truth = NB201Space(), NB201Table("cifar10")
    runs = load_runs(folder, space, truth)
    rows = summarize(runs)
    rng_cells = space.sample(2000, seed=0)
    random_accs = [a for a in (truth.query(c) for c in rng_cells) if a is not None]
    r_mean, r_std = mean_std(random_accs)
    table_accs = [a for a in (truth.query(c) for c in truth.archs()) if a is not None]
    t_mean, t_std = mean_std(table_accs)
    rp_mean, rp_std = mean_std([cell_params_m(space, c) for c in rng_cells])
    tp_mean, tp_std = mean_std([cell_params_m(space, c) for c in truth.archs()])
    by_strategy, by_objective = pooled(runs, "strategy"), pooled(runs, "objective")
    tests = {by: kruskal(runs, by) for by in ("strategy", "objective")}
    smbo_ranks = [r["pick_true_rank"] for r in runs.values() if r.get("pick_true_rank") is not None]
    smbo_sizes = sorted({len(r["trained_true_accs"]) for r in runs.values() if "trained_true_accs" in r})
    smbo_pick = {"runs": len(smbo_ranks), "mean_rank": statistics.mean(smbo_ranks) if smbo_ranks else None,
                 "ci95": t_interval(smbo_ranks), "cells": smbo_sizes,
                 "random_pick_mean_rank": [(k + 1) / 2 for k in smbo_sizes]}
    no_conv = sorted((n for n, r in runs.items() if not r["has_conv"]),
                     key=lambda n: (_key(runs[n]["strategy"]), _key(runs[n]["objective"]), runs[n]["seed"]))
    smbo_cells = "/".join(str(n) for n in sorted({r["trained"] for r in runs.values() if "trained" in r})) or "no"
    out = {"dataset": "cifar10", "source": truth.coverage(), "runs": runs, "by_strategy_objective": rows,
           "by_strategy": by_strategy, "by_objective": by_objective, "kruskal_wallis": tests,
           "smbo_pick_true_rank": smbo_pick, "no_conv_runs": no_conv,
           "random": {"n_sampled": len(rng_cells), "n_known": len(random_accs), "mean": r_mean, "std": r_std,
                      "params_m_mean": rp_mean, "params_m_std": rp_std},
           "random_table": {"n": len(table_accs), "mean": t_mean, "std": t_std, "params_m_mean": tp_mean,
                            "params_m_std": tp_std},
           "published": {"source": PUBLISHED_SOURCE, "rows": PUBLISHED, "other": PUBLISHED_OTHER}}
    with open(os.path.join(folder, "results.json"), "w") as f:
        json.dump(out, f, indent=1)
    lines = ["# NAS-Bench-201 CPU searches by strategy and objective: the final cell's true CIFAR-10 accuracy", "",
             f"Ground truth: {truth.coverage()}. Accuracy: mean ± std over the runs whose final cell the table "
             "covers; \"(k of n)\": k of the n runs covered; \"(n=1)\": one covered run, its value (no spread). "
             "95% CI: Student's t-interval for the mean of the covered runs (mean ± t(k-1) s/√k; none for one run; not "
             "bounded to 0-100: with 2 runs t(1) = 12.71 and the interval spans most of the scale). "
             "Skip edges: the skip_connect edges (of 6) of each seed's final cell. Params: the final cell's network "
             "at the benchmark's size (C=16, N=5, 10 classes), millions, mean ± std over all runs, covered or not. "
             "CPU seconds: user + system of the whole run (`time`), mean ± std over the runs.", "",
             "| strategy | objective | seeds | final cell's true accuracy (%) | 95% CI | skip edges | params (M) | "
             "CPU s per run | wall s per run | published (full scale) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        pub = r["published"]
        pub_text = f"{pub['method']} {pub['mean']:.2f} ± {pub['std']:.2f}" if pub else "–"
        lines.append(f"| {r['strategy']} | {r['objective']} | {','.join(map(str, r['seeds']))} | "
                     f"{fmt(r['true_acc_mean'], r['true_acc_std'], r['known'], r['runs'])} | "
                     f"{fmt_ci(r['true_acc_ci95'])} | {','.join(map(str, r['skip_edges']))} | "
                     f"{fmt(r['params_m_mean'], r['params_m_std'], digits=3)} | "
                     f"{fmt(r['cpu_s_mean'], r['cpu_s_std'], digits=0)} | "
                     f"{fmt(r['wall_s_mean'], r['wall_s_std'], digits=0)} | {pub_text} |")
    lines.append(f"| random cells (uniform over the space) | | {len(rng_cells)} cells | "
                 f"{fmt(r_mean, r_std, len(random_accs), len(rng_cells))} | {fmt_ci(t_interval(random_accs))} | | "
                 f"{fmt(rp_mean, rp_std, digits=3)} | | | |")
    lines.append(f"| all table cells (the pool of smbo) | | {len(table_accs)} cells | {fmt(t_mean, t_std)} | "
                 f"{fmt_ci(t_interval(table_accs))} | | {fmt(tp_mean, tp_std, digits=3)} | | | |")
    for by, table in (("strategy", by_strategy), ("objective", by_objective)):
        other = "objectives" if by == "strategy" else "strategies"
        test = tests[by]
        lines += ["", f"Pooled by {by} (over the {other} and seeds):", "",
                  f"| {by} | runs | final cell's true accuracy (%) | 95% CI | params (M) | skip edges (mean) | "
                  "final cells without a convolution |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {r[by]} | {r['runs']} | {fmt(r['true_acc_mean'], r['true_acc_std'], r['known'], r['runs'])} | "
                  f"{fmt_ci(r['true_acc_ci95'])} | {fmt(r['params_m_mean'], r['params_m_std'], digits=3)} | "
                  f"{statistics.mean(r['skip_edges']):.1f} | {r['no_conv']} of {r['runs']} |" for r in table]
        if test["p"] is not None:
            sizes = ", ".join(f"{k} {n}" for k, n in test["groups"].items())
            lines += ["", f"Kruskal-Wallis test of the covered runs' true accuracies across the {by} groups "
                      f"(scipy.stats.kruskal; covered runs: {sizes}): H = {test['H']:.2f}, df = {test['df']}, "
                      f"p = {test['p']:.3f}."]
    if no_conv:
        lines += ["", "Final cells without a convolution (only skip_connect, avg_pool_3x3 and none): "
                  f"{len(no_conv)} of {len(runs)} runs: " + ", ".join(no_conv) + "."]
    if smbo_pick["runs"]:
        lines += ["", f"smbo's pick among the cells it trained ({'/'.join(map(str, smbo_sizes))} per run, all in the "
                  f"table): its rank by true accuracy (1 = best, ties share the mean rank), mean over "
                  f"{smbo_pick['runs']} runs {smbo_pick['mean_rank']:.2f}, 95% CI {fmt_ci(smbo_pick['ci95'], 2)}; "
                  f"a random pick among them ranks {'/'.join(f'{v:g}' for v in smbo_pick['random_pick_mean_rank'])}"
                  " on average."]
    lines += ["", f"Published: {PUBLISHED_SOURCE}. Other rows of that table: "
              + "; ".join(f"{o['method']} {o['mean']:.2f} ± {o['std']:.2f}" for o in PUBLISHED_OTHER)
              + ". They are not comparable one to one: the searches here are CPU-sized (supernet C=8, N=1, 640 images, "
              f"8 epochs; smbo: {smbo_cells} cells, each TinyNetwork C=8, N=1 trained 4 epochs on 800 images) and the "
              "ground truth is the table's metric named above. smbo picks from the table's cells only, so its "
              "baseline is the table cells' row, not the space's.", "",
              "Per run: final cell, its true accuracy (how the table matched it), params, CPU seconds.", ""]
    for name, r in sorted(runs.items(), key=lambda kv: (_key(kv[1]["strategy"]), _key(kv[1]["objective"]),
                                                        kv[1]["seed"])):
        acc = "?" if r["true_acc"] is None else f"{r['true_acc']:.2f}"
        cpu = "?" if not r["seconds"] else f"{r['seconds']['cpu_s']:.0f}"
        rounds = ""
        if r.get("per_round_true_acc"):
            rounds = "; the best-scored cell's true accuracy among the initial cells, then after each round: " + \
                " -> ".join("?" if a is None else f"{a:.2f}" for a in r["per_round_true_acc"])
        if r.get("pick_true_rank") is not None:
            rounds += f"; the pick ranks {r['pick_true_rank']:g} of {len(r['trained_true_accs'])} by true accuracy"
        if r.get("per_epoch_skip_edges"):
            rounds += "; skip edges per epoch " + ",".join(map(str, r["per_epoch_skip_edges"]))
        lines.append(f"- **{name}**: `{r['final_cell']}` {acc} ({r['match']}), {r['params_m']:.3f} M params, "
                     f"{cpu} CPU s{rounds}")
    with open(os.path.join(folder, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines[:len(rows) + 8]))


if __name__ == "__main__":
    main()
