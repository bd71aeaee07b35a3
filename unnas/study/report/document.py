"""The text of a study report: its sections, in order, as blocks (:mod:`unnas.study.report.formatting`) made from
a report result alone (the numbers of :func:`~unnas.study.report.compute.compute_report` and the names of the
figures written beside it)."""

from __future__ import annotations

import math
from typing import Any, List, Mapping, Sequence, Union

import unnas.study.report.formatting as fmt
from pretext_tasks.registry import objective_label
from unnas.study.report.document_sections import (angle_blocks, budget_blocks, cost_blocks, noise_blocks,
                                                  pareto_blocks, table_score_blocks)
from unnas.study.report.formatting import Block
from unnas.study.report.settings import ARCH_ROWS_ALL, ARCH_ROWS_EDGE, GROUND_TRUTH_COLUMN
from unnas.study.stats import SMALL_N, k_label


def _corr_table(rows: Sequence[Mapping[str, Any]], ks: Sequence[Union[int, float]], *, x_col: bool) -> List[Block]:
    """The correlation table and its notes: the top-k columns no row can show left out (k above n/2), and
    the rows with too few architectures for their intervals marked †."""
    ok = [r for r in rows if r["computable"]]
    all_labels = [k_label(k) for k in ks]
    klabels = [lb for lb in all_labels if any(lb in r["top_k"] for r in ok)]
    head = (["x", "y"] if x_col else ["objective"]) + [
        "n", "Spearman ρ [95% CI]", "Kendall τ [95% CI]", "Pearson r [95% CI]", "p (ρ)"] + klabels
    body = []
    for r in rows:
        first = [objective_label(r["x"]), objective_label(r["y"])] if x_col else [objective_label(r["y"])]
        if not r["computable"]:
            body.append(first + [str(r["n"]), f"not computable: {r['reason']}"] + [""] * (3 + len(klabels)))
            continue
        p = r["spearman"]["p_value"]
        tk = [f"{r['top_k'][lb]['overlap']:.2f} (chance {r['top_k'][lb]['chance']:.2f})" if lb in r["top_k"] else "–"
              for lb in klabels]
        n = f"{r['n']} †" if r.get("small_n") else str(r["n"])
        body.append(first + [n, fmt.with_ci(r["spearman"]), fmt.with_ci(r["kendall"]), fmt.with_ci(r["pearson"]),
                             "–" if p is None else f"{p:.1e}"] + tk)
    b: List[Block] = [("table", head, body)]
    notes = []
    for lb in all_labels:
        out = [r for r in ok if lb in r.get("top_k_left_out", {})]
        if not out:
            continue
        ns = ", ".join(str(n) for n in sorted({int(r["n"]) for r in out}))
        where = "" if len(out) == len(ok) else " in the rows it does not fit"
        notes.append(f"{lb} left out{where}: k > n/2 (n = {ns}).")
    if notes:
        b.append(("p", " ".join(notes) + " Two top-k sets of n architectures share at least 2k − n of them whatever "
                                         "the rankings, so only k ≤ n/2 is shown."))
    small = sorted({int(r["n"]) for r in ok if r.get("small_n")})
    if small:
        b.append(("p", "† " + ", ".join(f"n = {n}" for n in small) + f": intervals are not meaningful (fewer than "
                       f"{SMALL_N} architectures)."))
    return b


def _best_of_m_blocks(bom: Mapping[str, Any], plot_name: str, res: Mapping[str, Any]) -> List[Block]:
    s = res["settings"]
    scale = s["accuracy_scale_for_display"]
    b: List[Block] = []
    if not bom["curves"]:
        why = bom.get("reason") or f"no proxy has {s['min_n']} architectures in common with the target"
        b.append(("p", f"Not computed: {why}."))
        return b
    tgt = objective_label(bom["target"])
    b.append(("p", f"For experiment size m, ceil(n/m) random sets of m architectures are drawn (seed "
                   f"{bom['seed']}); each proxy picks the arch it scores best, and the table gives the "
                   f"{tgt} accuracy (%) of that pick: mean ± 2 std [exact expectation]. The last rows: "
                   f"the best arch (oracle) and the average arch (m = 1 in expectation)."
                   + (f" The {bom['target']} curve uses the target as its own proxy: an upper bound."
                      if bom["target"] in bom["curves"] else "")))
    curves = bom["curves"]
    names = list(curves)
    all_ms = sorted({m for c in curves.values() for m in c["ms"]})
    body = []
    for m in all_ms:
        row = [f"{m} (log2 {math.log2(m):g})"]
        for t in names:
            c = curves[t]
            if m in c["ms"]:
                i = c["ms"].index(m)
                row.append(f"{fmt.pct(c['mean'][i], scale)} ± {fmt.pct(2 * c['std'][i], scale)} "
                           f"[{fmt.pct(c['expected'][i], scale)}]")
            else:
                row.append("–")
        body.append(row)
    body.append(["best arch"] + [fmt.pct(curves[t]["oracle"], scale) for t in names])
    body.append(["average arch"] + [fmt.pct(curves[t]["random"], scale) for t in names])
    b.append(("table", ["m"] + [f"{objective_label(t)} (n = {curves[t]['n']})" for t in names], body))
    if bom["skipped"]:
        b.append(("ul", [f"{objective_label(t)}: not computable, {why}" for t, why in bom["skipped"].items()]))
    if plot_name in res["files"]["plots"]:
        b.append(("img", res["files"]["plots"][plot_name], plot_name.replace("_", " ")))
    return b


def _arch_blocks(res: Mapping[str, Any]) -> List[Block]:
    arch = res["architectures"]
    scale = res["settings"]["accuracy_scale_for_display"]
    cols, rows = arch["columns"], arch["rows"]
    b: List[Block] = [("h", 2, "Architectures")]
    if not rows:
        b.append(("p", "No architectures."))
        return b
    tasks = res["tasks"]
    head = ["arch"]
    for t in tasks:
        head += [f"{objective_label(t)} s{sd}" for sd in arch["seeds"][t]] + [f"{objective_label(t)} mean (rank)"]
    head += ["params", "MACs (M)"]
    gt = res["ground_truth"]
    if gt is not None:
        head.append(f"{gt['name']} (%)")

    scored = set(res.get("score_tasks") or res.get("ranker_tasks") or [])

    def line(r: Sequence[Any]) -> List[str]:
        v = dict(zip(cols, r))
        out = [v["arch"]]
        for t in tasks:
            out += [fmt.value(v[f"{t} s{sd}"], scale, t in scored) for sd in arch["seeds"][t]]
            mean, rank = v[f"{t} mean"], v[f"{t} rank"]
            out.append("–" if mean is None else f"{fmt.value(mean, scale, t in scored)} ({rank})")
        out += ["–" if v["params"] is None else f"{v['params']:,.0f}", fmt.size(v.get("macs"), 1e6)]
        if gt is not None:
            out.append(fmt.pct(v[GROUND_TRUTH_COLUMN], scale))
        return out

    n = len(rows)
    if n <= ARCH_ROWS_ALL:
        body = [line(r) for r in rows]
    else:
        gap = n - 2 * ARCH_ROWS_EDGE
        body = ([line(r) for r in rows[:ARCH_ROWS_EDGE]]
                + [[f"… {gap} more architectures (in architectures.csv) …"] + [""] * (len(head) - 1)]
                + [line(r) for r in rows[-ARCH_ROWS_EDGE:]])
    order = {"ground truth": "true accuracy", "arch id": "arch id"}.get(arch["sorted_by"], arch["sorted_by"])
    text = ("One row per architecture: each task's accuracy (%; a ranker's score as it is) per seed, the mean "
            "over seeds with its rank "
            "among the architectures (1 = best; ties share the best rank), the parameter count, the "
            "multiply-adds per image in millions"
            + (" and the true accuracy" if gt is not None else "") + f". Sorted by {order}"
            + (" (descending, unknown last), then arch id." if arch["sorted_by"] != "arch id" else ".")
            + " `architectures.csv` has the same columns, with accuracies in the records' unit.")
    if n > ARCH_ROWS_ALL:
        ends = ("first", "last") if arch["sorted_by"] == "arch id" else ("top", "bottom")
        text += (f" Shown: the {ends[0]} {ARCH_ROWS_EDGE} and the {ends[1]} {ARCH_ROWS_EDGE} of the {n} "
                 f"architectures (more than {ARCH_ROWS_ALL}); `architectures.csv` has all.")
    b.append(("p", text))
    b.append(("table", head, body))
    return b



def report_blocks(res: Mapping[str, Any]) -> List[Block]:
    """The whole report of a result (a :func:`~unnas.study.report.compute.compute_report` result with its
    ``files``) as blocks, section by section."""
    s = res["settings"]
    scale = s["accuracy_scale_for_display"]
    ks = s["top_k"]
    ci_pct = f"{100 * s['ci']:g}%"
    sup = res["supervised"]
    ref = res["reference"]
    gt = res["ground_truth"]
    plots_ = res["files"]["plots"]
    b: List[Block] = [("h", 1, res["title"])]
    b.append(("p", f"Generated {res['created']} from {res['n_records']} run record(s) over "
                   f"{len(res['tasks'])} task(s); {res['n_common_all']} architecture(s) have results for every task. "
                   f"Accuracies are best-epoch held-out accuracies in %, averaged over seeds. Intervals: "
                   f"{ci_pct} percentile bootstrap over architectures ({s['n_boot']} resamples, seed {s['seed']}). "
                   "Comparisons use the architectures "
                   + ("each pair shares." if s["common"] == "pair" else "all tasks share.")))
    if res["small_n"]["any"]:
        b.append(("warn", "Warning: too few samples for some statistics.", list(res["small_n"]["warnings"])))
    if res["notes"]:
        b.append(("h", 2, "Notes"))
        b.append(("ul", list(res["notes"])))

    # data
    b.append(("h", 2, "Runs per objective"))
    head = ["task", "archs", "runs", "seeds", "seeds per arch",
            "min / median / max (acc. %, or ranker score)", "spread (acc. pts; accuracies only)",
            "seed std (acc. pts; accuracies only)", "train time, total (min)", "per run (min)"]
    body = []
    for t in res["tasks"]:
        m = res["summary"][t]
        sc = bool(m.get("is_score"))
        spa = (str(m["seeds_per_arch_min"]) if m["seeds_per_arch_min"] == m["seeds_per_arch_max"]
               else f"{m['seeds_per_arch_min']}–{m['seeds_per_arch_max']}")
        body.append([objective_label(t) + (" (ranker)" if sc else ""), str(m["n_archs"]), str(m["n_runs"]),
                     ", ".join(map(str, m["seeds"])), spa,
                     " / ".join(fmt.value(m[k], scale, sc) for k in ("acc_min", "acc_median", "acc_max")),
                     "–" if sc else fmt.pct(m["acc_spread"], scale),
                     "–" if sc or m["seed_std_mean"] is None
                     else f"{fmt.pct(m['seed_std_mean'], scale)} ({m['n_archs_multi_seed']} archs)"
                     + (" †" if m["seed_std_small_n"] else ""),
                     fmt.minutes(m["wall_time_min"]), fmt.minutes(m["wall_time_min_per_run"])])
    b.append(("table", head, body))
    b.append(("p", "*spread* = best minus worst arch; *seed std* = standard deviation across seeds of one arch, "
                   "averaged over the archs with at least 2 seeds. A ranking is only meaningful where the spread "
                   "is well above the seed std. A training-free ranker's values are scores (any real number, shown "
                   "as they are), never percentages; its spread and seed std are left out (the noise section "
                   "gives its seed-to-seed agreement). *train time*: the wall-clock time of the runs (a ranker's: "
                   "of scoring), in minutes."
                   + (f" †: the seed std rests on fewer than {s['small_n']} degrees of freedom (the sum over "
                      "archs of seeds − 1): a rough estimate." if res["small_n"]["seed_std_tasks"] else "")))

    # vs supervised (Fig. 2)
    vs = [r for r in res["correlations"] if r["kind"] == "vs_baseline"]
    pairs = [r for r in res["correlations"] if r["kind"] == "pair"]
    b.append(("h", 2, "Objectives vs supervised accuracy (paper Fig. 2)"))
    if sup is None:
        b.append(("p", "Not available: there are no supervised results."))
    elif not vs:
        b.append(("p", "Only supervised results: no other objective to compare."))
    else:
        b.append(("p", "x = supervised accuracy, y = objective accuracy, one point per architecture. ρ near 1: "
                       "the objective ranks architectures as labels do. Top-k: fraction of the k best archs by "
                       "supervised accuracy that are also among the k best by the objective (chance = k/n)."))
        b += _corr_table(vs, ks, x_col=False)
        if "vs_supervised" in plots_:
            b.append(("img", plots_["vs_supervised"], "objective vs supervised accuracy"))

    b.append(("h", 2, "Pairs of objectives"))
    if pairs:
        b += _corr_table(pairs, ks, x_col=True)
    else:
        b.append(("p", "Fewer than two non-supervised objectives: no pairs."))

    if ref:
        b.append(("h", 2, f"Tasks vs {ref} (paper Fig. 4)"))
        b.append(("p", f"x = {ref} accuracy (a different setting, e.g. ImageNet supervised), y = each task's "
                       "accuracy here: how well a cheap proxy predicts the target setting's ranking."))
        b += _corr_table(res["reference_correlations"], ks, x_col=False)
        if "vs_reference" in plots_:
            b.append(("img", plots_["vs_reference"], f"task accuracy vs {ref} accuracy"))

    if gt is not None:
        b.append(("h", 2, f"Objectives vs ground truth ({gt['name']})"))
        b.append(("p", f"x = true accuracy of the architecture ({gt['name']}), y = each objective's accuracy "
                       f"here, supervised included. The ground truth covers {gt['n_covered']} of the "
                       f"{gt['n_study_archs']} architecture(s) of the study; each row uses the covered "
                       "architectures the objective has (n). Top-k: fraction of the k truly best archs that are "
                       "also among the k best by the objective."))
        if gt["n_covered"] < s["min_n"]:
            b.append(("p", f"Not computable: only {gt['n_covered']} covered architecture(s); at least "
                           f"{s['min_n']} needed."))
        b += _corr_table(res["ground_truth_correlations"], ks, x_col=False)
        if "vs_ground_truth" in plots_:
            b.append(("img", plots_["vs_ground_truth"], "objective accuracy vs true accuracy"))
        b += angle_blocks(res)

    mat = res["spearman_matrix"]
    if mat["tasks"]:
        b.append(("h", 2, "Spearman ρ between all objectives"))
        names = [objective_label(t) for t in mat["tasks"]]
        body = [[names[i]] + [("n/a" if v is None else f"{v:.2f}") for v in row] for i, row in enumerate(mat["rho"])]
        b.append(("table", [""] + names, body))
        b.append(("p", "n/a: fewer than 3 common architectures or constant accuracies."))
        if "spearman_matrix" in plots_:
            b.append(("img", plots_["spearman_matrix"], "Spearman correlation matrix"))

    b.append(("h", 2, "Best of m random architectures (paper Fig. 5)"))
    b += _best_of_m_blocks(res["best_of_m"], "best_of_m", res)
    bom_gt = res["best_of_m_ground_truth"]
    if bom_gt is not None:
        b.append(("h", 2, f"Best of m random architectures, judged on {bom_gt['target']}"))
        b.append(("p", "The same experiment with the true accuracy as the target: how good, in truth, is the "
                       "architecture each objective picks."))
        b += _best_of_m_blocks(bom_gt, "best_of_m_ground_truth", res)
    elif gt is not None and ref:
        b.append(("p", f"The best-of-m target is {ref}; no second best-of-m experiment against {gt['name']} "
                       "(one is made only without a reference)."))

    b += budget_blocks(res)
    b += noise_blocks(res)
    b += cost_blocks(res)
    b += pareto_blocks(res)
    b += table_score_blocks(res)

    if res["complexity_correlations"]:
        b.append(("h", 2, "Model size as a proxy"))
        b.append(("p", "A trivial baseline for every objective above: how well the parameter count / multiply-adds "
                       "of the supervised network alone rank the architectures by supervised accuracy."))
        b += _corr_table(res["complexity_correlations"], ks, x_col=False)

    b += _arch_blocks(res)

    b.append(("h", 2, "How computed"))
    b.append(("ul", [
        "Accuracy of an architecture under a task: its best-epoch held-out accuracy, averaged over seeds "
        "(repeated runs of one seed are averaged first). Pretext tasks use their own accuracy, not the loss. A "
        "record with `rank_metric` ranks by that field instead, as its objective declares (random labels: "
        "`weight_angle`, RLNAS's angle in radians between the initial and the trained weights; shown as a score, "
        "not a percentage); a training-free ranker's value is its score.",
        "Only architectures with results for both compared tasks enter a comparison"
        + (" (here: for all tasks)." if s["common"] == "all" else "."),
        *([f"Ground truth ({gt['name']}): a known true accuracy per architecture, compared with every objective "
           "like a task (x = ground truth); architectures without one are left out of those comparisons."]
          if gt is not None else []),
        "Spearman ρ, Kendall τ-b and Pearson r and the p-value of ρ are scipy.stats' spearmanr, kendalltau, pearsonr.",
        f"Intervals: resample architectures with replacement {s['n_boot']} times (numpy default_rng, seed {s['seed']}), "
        f"recompute, take the {100 * (1 - s['ci']) / 2:g} and {100 * (1 + s['ci']) / 2:g} percentiles; resamples with "
        "a constant side are skipped (counts in correlations.json, `n_boot_used`).",
        "Top-k overlap: |top-k by x ∩ top-k by y| / k; ties go to the smaller arch id. Fractions of n are rounded to "
        "the nearest count; only k ≤ n/2 is shown (above it, two top-k sets share at least 2k − n archs "
        "whatever the rankings).",
        f"Rows with fewer than {s['small_n']} architectures are marked †: their bootstrap intervals are not "
        "meaningful (`small_n` in correlations.json).",
        f"Best of m: m = 1, 2, 4, ... < n; numpy RandomState({res['best_of_m']['seed']}) restarted per proxy; "
        "ceil(n/m) draws of m "
        "archs without replacement per m; ties in the proxy go to the first drawn; std is the population std. The "
        "bracketed value is the exact expectation over all m-subsets.",
        f"A comparison needs at least {s['min_n']} common architectures with distinct accuracies on both sides.",
        "Every number is in correlations.json; docs/report.md describes them.",
    ]))
    return b
