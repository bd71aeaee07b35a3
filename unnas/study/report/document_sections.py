"""The later sections of a study report's text as blocks: the budget curves, the seed noise, cost against
ranking quality, the accuracy-MACs Pareto fronts, the benchmark's own scores and RLNAS's weight angle. Each takes a report result and
gives no blocks when the result lacks its section."""

from __future__ import annotations

from typing import Any, List, Mapping, Optional

import unnas.study.report.formatting as fmt
from pretext_tasks.registry import objective_label
from unnas.study.report.formatting import Block
from unnas.study.stats import METRIC_LABELS


def budget_blocks(res: Mapping[str, Any]) -> List[Block]:
    bud = res["budget"]
    if not bud["tasks"]:
        return []
    names = {res["supervised"]: "Supervised (final)", **({res["ground_truth"]["name"]: res["ground_truth"]["name"]}
                                                        if res["ground_truth"] else {})}
    b: List[Block] = [("h", 2, "Budget: the ranking after each epoch")]
    b.append(("p", "How well each trained objective's ranking after e + 1 epochs predicts the target: Spearman ρ "
                   "[95% CI] of the mean over seeds, at each epoch, of the best held-out accuracy so far (or, for an "
                   "objective that ranks by another field, that field's value at the epoch), against "
                   + " and ".join(names.get(t, t) for t in bud["targets"])
                   + ". Epoch e is the full run cut short: its learning rate follows the full schedule (the cosine "
                     "not yet annealed), so it is not the same as a shorter run."))
    n_max = max(t["n_epochs"] for t in bud["tasks"].values())
    for target in bud["targets"]:
        head = [f"task vs {names.get(target, target)}"] + [f"{e + 1} ep." for e in range(n_max)]
        body = []
        for t, info in bud["tasks"].items():
            curve = {p["epoch"]: p for p in info["curves"].get(target, [])}
            body.append([f"{objective_label(t)} (n ≤ {max((p['n'] for p in curve.values()), default=0)})"]
                        + [fmt.rho_ci(curve.get(e)) if e in curve else "–" for e in range(n_max)])
        b.append(("table", head, body))
    if "budget" in res["files"]["plots"]:
        b.append(("img", res["files"]["plots"]["budget"], "Spearman rho after each epoch"))
    return b


def noise_blocks(res: Mapping[str, Any]) -> List[Block]:
    noise = res["noise"]
    if not noise["tasks"]:
        return []
    b: List[Block] = [("h", 2, "Seed noise: reliability and corrected correlations")]
    b.append(("p", "Seed-to-seed ρ: Spearman ρ between the rankings of two seeds of one objective (each pair on "
                   "the architectures both have; the mean over pairs; the interval with exactly 2 seeds). The "
                   "reliability of the mean over k seeds is Spearman–Brown's k r / (1 + (k − 1) r). It bounds how "
                   "well any other ranking can agree with this one: a corrected ρ = ρ / √(r_x r_y) estimates the "
                   "agreement without seed noise" + (" (ground truth: reliability 1)" if res["ground_truth"] else "")
                   + ". It can exceed 1 where the reliabilities are underestimated, as they are with few "
                     "architectures."))
    head = ["task", "seeds", "seed pairs (n)", "seed-to-seed ρ [95% CI]", "k (seeds per arch)",
            "reliability of the mean [95% CI]"]
    body = []
    for t, r in noise["tasks"].items():
        pairs = ", ".join(f"{p['seeds'][0]}–{p['seeds'][1]} ({p['n']})" for p in r["pairs"]) or "–"
        if not r["computable"]:
            body.append([objective_label(t), str(r["n_seeds"]), pairs, f"not computable: {r['reason']}",
                         fmt.num(r["k"]), "–"])
            continue
        rel = {"rho": r["reliability"], "ci_low": r["reliability_ci_low"], "ci_high": r["reliability_ci_high"]}
        seed_rho = {"rho": r["r"], "ci_low": r["ci_low"], "ci_high": r["ci_high"]}
        body.append([objective_label(t), str(r["n_seeds"]), pairs, fmt.rho_ci(seed_rho), fmt.num(r["k"]),
                     fmt.rho_ci(rel)])
    b.append(("table", head, body))
    if noise["corrected"]:
        body = []
        for c in noise["corrected"]:
            corrected = fmt.num(c["corrected"]) if c["computable"] else f"not computable: {c['reason']}"
            body.append([f"{objective_label(c['y'])} vs {objective_label(c['x'])}", str(c["n"]), fmt.num(c["rho"]),
                         fmt.num(c["r_x"]), fmt.num(c["r_y"]), corrected])
        b.append(("table", ["comparison", "n", "ρ", "reliability x", "reliability y", "corrected ρ"], body))
    return b


def cost_blocks(res: Mapping[str, Any]) -> List[Block]:
    cost = res["cost"]
    if not cost["points"]:
        return []
    tgt = objective_label(cost["target"])
    b: List[Block] = [("h", 2, "Cost and ranking quality")]
    b.append(("p", f"Cost: the mean `wall_time_s` per architecture-seed job, in seconds per architecture on this "
                   f"run's machine, threads as recorded; after e + 1 of E epochs, the cost × (e + 1)/E. ρ: Spearman "
                   f"ρ to {tgt}. On the Pareto front: no other point is at most as costly and at least as good."))
    head = ["task", "epochs", "seconds per arch", "threads", f"ρ vs {tgt}", "n", "on front"]
    body = []
    for p in sorted(cost["points"], key=lambda p: p["cost_s"]):
        info = cost["tasks"][p["task"]]
        body.append([objective_label(p["task"]), "all" if p["epoch"] is None else str(p["epoch"] + 1),
                     f"{p['cost_s']:.3g}", ", ".join(map(str, info["threads"])) or "–", fmt.num(p["rho"]),
                     str(p["n"]), "yes" if p["on_front"] else ""])
    b.append(("table", head, body))
    if "cost_frontier" in res["files"]["plots"]:
        b.append(("img", res["files"]["plots"]["cost_frontier"], "cost and ranking quality"))
    return b


def pareto_blocks(res: Mapping[str, Any]) -> List[Block]:
    par = res["pareto"]
    scored = set(res.get("score_tasks") or res.get("ranker_tasks") or [])
    trained = [t for t in res["tasks"] if t not in scored]
    if not trained:
        return []
    scale = res["settings"]["accuracy_scale_for_display"]
    gt = res["ground_truth"]
    b: List[Block] = [("h", 2, "Accuracy against multiply-adds")]
    if not par["tasks"]:
        b.append(("p", "Not available: no architecture has a MACs count (records without `macs`, and no `macs` "
                       "ranker); give the records `macs` or add the `macs` ranker to the study."))
        return b
    truth = par["truth"]
    b.append(("p", "Each trained objective's accuracy (%, the mean over seeds of the value it ranks by) against the "
                   "architecture's multiply-adds per image (the `macs` column of the architectures table). An "
                   "architecture is on an objective's Pareto front when no other one has at most its MACs and at "
                   "least its accuracy, and fewer MACs or a higher accuracy: the efficient cells the objective "
                   "would pick. Rankers and objectives ranked by the weight angle are left out (their values are not "
                   "accuracies)."
                   + (f" With {gt['name']} as the true accuracy, the true front is taken over the same "
                      "architectures (those of the objective with MACs and a known true accuracy); *on the true "
                      "front* counts the objective's front cells on it, next to the count a random pick of as many "
                      "cells would give on average." if truth is not None else "")))
    for t, why in par["left_out"].items():
        b.append(("p", f"{objective_label(t)} is left out: {why}."))
    head = ["objective", "archs with MACs", "front cells"]
    if truth is not None:
        head += ["with a known true accuracy", "on the true front (chance)", "true front cells"]
    body = []
    for t, e in par["tasks"].items():
        row = [objective_label(t), f"{e['n']} of {e['n_archs']}", str(e["n_front"])]
        if truth is not None:
            row += [str(e["n_front_known"]),
                    f"{e['n_front_on_truth_front']} ({fmt.num(e['chance'])})" if e["n_known"] else "–",
                    f"{e['n_truth_front']} of {e['n_known']}"]
        body.append(row)
    b.append(("table", head, body))
    head = ["objective", "arch", "MACs (M)", "accuracy (%)"]
    if truth is not None:
        head += [f"{gt['name']} (%)", "on the true front"]
    body = []
    if truth is not None:
        for p in truth["front"]:
            body.append([f"{gt['name']} (all {truth['n']} archs)", f"`{p['arch']}`", fmt.size(p["macs"], 1e6), "–",
                         fmt.pct(p["true_acc"], scale), "yes"])
    for t, e in par["tasks"].items():
        for p in e["front"]:
            row = [objective_label(t), f"`{p['arch']}`", fmt.size(p["macs"], 1e6), fmt.pct(p["acc"], scale)]
            if truth is not None:
                row += [fmt.pct(p["true_acc"], scale),
                        "–" if p["on_truth_front"] is None else "yes" if p["on_truth_front"] else ""]
            body.append(row)
    b.append(("p", "The front architectures, by MACs"
                   + (f" (first: the front of {gt['name']} over all the study's architectures with MACs)"
                      if truth is not None else "") + "."))
    b.append(("table", head, body))
    if "pareto" in res["files"]["plots"]:
        b.append(("img", res["files"]["plots"]["pareto"], "accuracy against multiply-adds"))
    return b


def table_score_blocks(res: Mapping[str, Any]) -> List[Block]:
    ts = res["table_scores"]
    if ts is None:
        return []
    name = ts["name"]
    b: List[Block] = [("h", 2, f"Our scores and {name}'s own")]
    if not ts["tasks"]:
        b.append(("p", f"{name} holds no score for a ranker of this study."))
        return b
    gt = res["ground_truth"]
    b.append(("p", f"For each ranker that {name} also scored: Spearman ρ [95% CI] of {name}'s score and of ours "
                   "with the true accuracy, on the architectures all three have (n), their difference (ours − "
                   f"{name}; a paired bootstrap interval) and ρ between the two scores (on the architectures both "
                   "have)." + ("" if gt else " Without ground truth only the last column is computed.")))
    head = ["ranker", f"ρ({name}, truth)", "ρ(ours, truth)", "difference", "n", f"ρ(ours, {name})", "n"]
    body = []
    for t, e in ts["tasks"].items():
        row = [objective_label(t)]
        if "difference" in e:
            row += [fmt.rho_ci(e["table_vs_truth"]), fmt.rho_ci(e["ours_vs_truth"]), fmt.rho_ci(e["difference"]),
                    str(e["difference"]["n"])]
        else:
            row += ["–", "–", "–", "–"]
        row += [fmt.rho_ci(e["ours_vs_table"]), str(e["ours_vs_table"]["n"])]
        body.append(row)
    b.append(("table", head, body))
    return b


def angle_blocks(res: Mapping[str, Any]) -> List[Block]:
    """RLNAS's weight angle against the ground truth, beside each objective's held-out accuracy."""
    ang = res.get("weight_angle")
    if not ang or not ang["tasks"]:
        return []
    b: List[Block] = [("h", 2, "Weight angle (RLNAS) vs ground truth")]
    b.append(("p", "The angle θ = arccos(⟨W₀, W⟩ / (‖W₀‖ ‖W‖)) between a run's initial weights W₀ and its trained "
                   "weights W (all trainable weights of the network: convolutions, BatchNorm affine weights, stem "
                   "and head; not the auxiliary head), in radians, averaged over seeds; a larger angle predicts a "
                   "better architecture (Zhang et al., Neural Architecture Search with Random Labels, CVPR 2021). "
                   "Random labels declare it as their ranking metric, as RLNAS ranks by it (their held-out "
                   "accuracy is chance by construction): their records are ranked by it in every section. Each row: Spearman ρ [95% CI] with the true accuracy of "
                   "the objective's best held-out accuracy and of its angle; *ranked by*: the field the report "
                   "ranks the objective by."))
    if ang.get("reason"):
        b.append(("p", f"Not computable: {ang['reason']}."))
    head = ["objective", "ranked by", "runs with an angle", "mean angle (rad)", "n", "ρ held-out accuracy [95% CI]",
            "ρ weight angle [95% CI]"]
    body = []
    for t, e in ang["tasks"].items():
        ranked = ", ".join(METRIC_LABELS.get(m, m) for m in e["rank_metric"])
        n = (e["angle"] or e["held_out"] or {}).get("n")
        body.append([objective_label(t), ranked, f"{e['n_runs_with_angle']} of {e['n_runs']}",
                     fmt.num(e["angle_mean"], 3) if e["angle_mean"] is not None else "not recorded",
                     "–" if n is None else str(n), _rho_cell(e["held_out"]),
                     _rho_cell(e["angle"]) if e["angle_mean"] is not None else "not recorded"])
    b.append(("table", head, body))
    if ang["not_recorded"]:
        b.append(("p", "Not recorded for " + ", ".join(objective_label(t) for t in ang["not_recorded"])
                       + ": their records carry no `weight_angle` (runs recorded before the angle was). "
                         "Retrain them to get it."))
    stale = [t for t, e in ang["tasks"].items()
             if e["declared_rank_metric"] and e["rank_metric"] and e["rank_metric"] != [e["declared_rank_metric"]]]
    if stale:
        b.append(("p", "; ".join(f"{objective_label(t)} is ranked by "
                                 f"{', '.join(METRIC_LABELS.get(m, m) for m in ang['tasks'][t]['rank_metric'])} as "
                                 "its records say, though the objective now declares "
                                 f"{METRIC_LABELS.get(ang['tasks'][t]['declared_rank_metric'])}" for t in stale)
                       + " (older records)."))
    return b


def _rho_cell(row: Optional[Mapping[str, Any]]) -> str:
    if row is None:
        return "–"
    if not row["computable"]:
        return f"not computable: {row['reason']}"
    return fmt.with_ci(row["spearman"])
