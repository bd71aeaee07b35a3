"""The sections of a study report as numbers: each function turns the records (or the per-task accuracies
derived from them) into one plain part of the report's result, with no files and no text but the notes."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from scipy.stats import rankdata as sps_rankdata

from pretext_tasks.registry import objective_label, objective_rank_metric, order_objectives
from unnas.pareto import pareto_front
from unnas.study.report.settings import (BEST_OF_M_SEED, GROUND_TRUTH_COLUMN, SIZE_FIELDS, SIZE_RANKERS,
                                         ReportSettings)
from unnas.study.stats import (
    ANGLE_FIELD,
    MIN_N,
    SMALL_N,
    best_of_m,
    budget_curve,
    common_archs,
    compare,
    correlations,
    epoch_count,
    is_ranker_record,
    is_score_record,
    mean_over_seeds,
    noise_corrected,
    rank_field,
    seed_reliability,
    seed_values,
    sorted_seeds,
    spearman_difference,
    task_costs,
)


def rank_value(r: Mapping[str, Any]) -> Optional[float]:
    """The value a record ranks by (its :func:`~unnas.study.stats.rank_field`), or None when it is missing or
    not finite."""
    v = r.get(rank_field(r))
    return float(v) if v is not None and not isinstance(v, bool) and math.isfinite(float(v)) else None


def task_summary(task: str, records: Sequence[Mapping[str, Any]], table: Mapping[str, float],
                 counts: Mapping[str, int], stds: Mapping[str, float]) -> Dict[str, Any]:
    """One row of the runs-per-objective table: counts, seeds, the spread of the mean accuracies, the seed
    noise, the wall-clock time and whether the task is a ranker's score."""
    vals = np.array(list(table.values()), dtype=float)
    runs = [r for r in records if str(r["task"]) == task]
    ok = [r for r in runs if rank_value(r) is not None]
    seeds = list({r["seed"] for r in ok})
    try:
        seeds.sort()
    except TypeError:  # mixed seed types
        seeds.sort(key=str)
    per_arch = list(counts.values())
    seed_df = sum(c - 1 for c in per_arch if c >= 2)  # degrees of freedom behind the mean seed std
    wall = [float(r["wall_time_s"]) for r in ok if r.get("wall_time_s") is not None]
    params = [float(r["params"]) for r in ok if r.get("params") is not None]
    return {
        "n_archs": len(table), "n_runs": len(ok), "n_dropped": len(runs) - len(ok), "seeds": seeds,
        "seeds_per_arch_min": min(per_arch), "seeds_per_arch_max": max(per_arch),
        "acc_min": float(vals.min()), "acc_median": float(np.median(vals)), "acc_max": float(vals.max()),
        "acc_mean": float(vals.mean()), "acc_spread": float(np.ptp(vals)),
        "seed_std_mean": float(np.mean(list(stds.values()))) if stds else None,
        "n_archs_multi_seed": len(stds), "seed_std_df": seed_df,
        "seed_std_small_n": bool(stds) and seed_df < SMALL_N,
        "wall_time_min": sum(wall) / 60 if wall else None,
        "wall_time_min_per_run": sum(wall) / 60 / len(wall) if wall else None,
        "params_median": float(np.median(params)) if params else None,
        "is_score": any(is_score_record(r) for r in runs),
        "rank_metric": sorted({rank_field(r) for r in runs}),
    }


def finite_map(values: Mapping[str, Optional[float]]) -> Dict[str, float]:
    """arch -> float, leaving out None / NaN / inf."""
    out = {}
    for a, v in values.items():
        if v is not None and math.isfinite(float(v)):
            out[str(a)] = float(v)
    return out


def best_of_m_block(ext: Mapping[str, Mapping[str, float]], proxies: Sequence[str], target: Optional[str],
                    common: str, no_target: str = "") -> Dict[str, Any]:
    """The Fig. 5 experiment of every proxy against ``target`` (curves, and the proxies skipped with why)."""
    bom: Dict[str, Any] = {"target": target, "seed": BEST_OF_M_SEED, "curves": {}, "skipped": {}}
    if target is None:
        bom["reason"] = no_target
        return bom
    shared = common_archs(ext, list(proxies) + [target]) if common == "all" else None
    for t in proxies:
        archs = shared if shared is not None else common_archs(ext, [t, target])
        if len(archs) < MIN_N:
            bom["skipped"][t] = f"only {len(archs)} common architecture(s) with {target}; at least {MIN_N} needed"
            continue
        bom["curves"][t] = best_of_m({a: ext[t][a] for a in archs}, {a: ext[target][a] for a in archs},
                                     seed=BEST_OF_M_SEED)
    return bom


def architecture_table(records: Sequence[Mapping[str, Any]], table: Mapping[str, Mapping[str, float]],
                       tasks: Sequence[str], supervised: str, gt: Optional[Mapping[str, float]]) -> Dict[str, Any]:
    """The per-architecture table: one row per arch of the records, columns ``arch``, per task ``<task> s<seed>``
    (each seed's accuracy), ``<task> mean`` and ``<task> rank`` (1 = best mean among the archs with that task;
    ties share the best rank), ``params``, ``macs`` and, with ground truth, ``ground truth``. Accuracies in the
    records' unit (ground truth already converted to it); None = no value. Rows sorted by ground truth (else
    supervised mean) descending, unknown last, then by arch id."""
    per_seed = seed_values(records)
    seeds = {t: sorted_seeds({s for a in per_seed.get(t, {}).values() for s in a}) for t in tasks}
    ranks: Dict[str, Dict[str, int]] = {}
    for t in tasks:
        archs_t = sorted(table[t])
        r = sps_rankdata([-table[t][a] for a in archs_t], method="min")
        ranks[t] = {a: int(v) for a, v in zip(archs_t, r)}
    # model size: the supervised runs' value when they have one, else the first task (in task order) with one
    sizes = {}
    for field in SIZE_FIELDS:
        with_field = [r for r in records if r.get(field) is not None]
        ftable = mean_over_seeds(with_field, metric=field) if with_field else {}
        forder = ([supervised] if supervised in ftable else []) + order_objectives(t for t in ftable
                                                                                    if t != supervised)
        sizes[field] = [ftable[t] for t in forder]
        # last: the scores of the ranker that counts this size (records too old to carry the field)
        size_rankers = {str(r["task"]) for r in records if r.get("ranker") == SIZE_RANKERS.get(field)}
        sizes[field] += [table[t] for t in order_objectives(size_rankers) if t in table]
    archs = sorted({str(r["arch"]) for r in records if "arch" in r} | {a for t in table.values() for a in t})

    columns = ["arch"]
    for t in tasks:
        columns += [f"{t} s{s}" for s in seeds[t]] + [f"{t} mean", f"{t} rank"]
    columns += list(SIZE_FIELDS)
    if gt is not None:
        columns.append(GROUND_TRUTH_COLUMN)
    rows = []
    for a in archs:
        row: List[Any] = [a]
        for t in tasks:
            row += [per_seed.get(t, {}).get(a, {}).get(s) for s in seeds[t]]
            row += [table[t].get(a), ranks[t].get(a)]
        for field in SIZE_FIELDS:
            p = next((per_task[a] for per_task in sizes[field] if a in per_task), None)
            row.append(int(p) if p is not None and float(p).is_integer() else p)
        if gt is not None:
            row.append(gt.get(a))
        rows.append(row)
    if gt is not None:
        key_col, sorted_by = columns.index(GROUND_TRUTH_COLUMN), "ground truth"
    elif supervised in table:
        key_col, sorted_by = columns.index(f"{supervised} mean"), f"{supervised} mean"
    else:
        key_col, sorted_by = None, "arch id"
    if key_col is not None:
        rows.sort(key=lambda r: (r[key_col] is None, -(r[key_col] or 0.0), r[0]))
    return {"columns": columns, "rows": rows, "n": len(rows), "sorted_by": sorted_by,
            "seeds": {t: seeds[t] for t in tasks}}


def small_n_warnings(corr_rows: Sequence[Mapping[str, Any]],
                     summary: Mapping[str, Mapping[str, Any]]) -> Dict[str, Any]:
    """The warnings about samples too small for their statistics: computable correlation rows with fewer than
    ``SMALL_N`` architectures (their bootstrap intervals are not meaningful) and seed stds resting on fewer than
    ``SMALL_N`` degrees of freedom."""
    flagged = [r for r in corr_rows if r["computable"] and r["small_n"]]
    n_values = sorted({int(r["n"]) for r in flagged})
    warnings = []
    for n in n_values:
        names = [f"{objective_label(r['y'])} vs {objective_label(r['x'])}" for r in flagged if r["n"] == n]
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        warnings.append(f"n = {n}: intervals are not meaningful (fewer than {SMALL_N} architectures) in "
                        f"{len(names)} comparison(s): {shown}.")
    seed_tasks = [t for t, m in summary.items() if m["seed_std_small_n"]]
    for df in sorted({summary[t]["seed_std_df"] for t in seed_tasks}):
        names = ", ".join(objective_label(t) for t in seed_tasks if summary[t]["seed_std_df"] == df)
        warnings.append(f"The seed std rests on {df} degrees of freedom (fewer than {SMALL_N}; the sum over "
                        f"architectures of seeds − 1) for {names}: a rough estimate of the seed noise.")
    return {"threshold": SMALL_N, "any": bool(warnings), "n_values": n_values, "seed_std_tasks": seed_tasks,
            "warnings": warnings}


def _rho(c: Mapping[str, Any]) -> Dict[str, Any]:
    """The Spearman part of a :func:`correlations` result."""
    sp = c["spearman"]
    return {"n": c["n"], "rho": sp["value"], "ci_low": sp["ci_low"], "ci_high": sp["ci_high"],
            "computable": c["computable"], "reason": c["reason"]}


def budget_section(records: Sequence[Mapping[str, Any]], tasks: Sequence[str], rankers: Sequence[str],
                   table: Mapping[str, Mapping[str, float]], supervised: Optional[str], gt_key: Optional[str],
                   gt: Optional[Mapping[str, float]], settings: ReportSettings) -> Dict[str, Any]:
    """Budget curves of every trained task with per-epoch lists, against supervised's final values and the
    ground truth."""
    targets: Dict[str, Mapping[str, float]] = {}
    if supervised is not None:
        targets[supervised] = table[supervised]
    if gt_key is not None and gt is not None:
        targets[gt_key] = gt
    out: Dict[str, Any] = {"targets": list(targets), "tasks": {}}
    for t in tasks:
        runs = [r for r in records if str(r["task"]) == t and not is_ranker_record(r)]
        n_epochs = max((epoch_count(r) for r in runs), default=0)
        if t in rankers or not n_epochs:
            continue
        out["tasks"][t] = {
            "n_epochs": n_epochs, "n_runs_with_lists": sum(1 for r in runs if epoch_count(r)),
            "rank_metric": sorted({rank_field(r) for r in runs}),
            "curves": {name: budget_curve(records, t, target, **settings.bootstrap())
                       for name, target in targets.items()}}
    return out


def noise_section(records: Sequence[Mapping[str, Any]], tasks: Sequence[str], rows: Sequence[Mapping[str, Any]],
                  gt_rows: Sequence[Mapping[str, Any]], supervised: str, gt_key: Optional[str],
                  settings: ReportSettings) -> Dict[str, Any]:
    """Seed-to-seed reliability per task and the comparisons with supervised and the ground truth corrected for
    attenuation (the ground truth's reliability is 1)."""
    per_seed = seed_values(records)
    rel_tasks = {t: seed_reliability(per_seed.get(t, {}), **settings.bootstrap()) for t in tasks}
    rel: Dict[str, Optional[float]] = {t: v["reliability"] for t, v in rel_tasks.items()}
    if gt_key is not None:
        rel[gt_key] = 1.0
    corrected = []
    for r in rows:
        if r["kind"] == "vs_baseline":
            corrected.append({"kind": "vs_supervised", "n": r["n"],
                              **noise_corrected(r["spearman"]["value"], supervised, r["y"], rel)})
    for r in gt_rows:
        corrected.append({"kind": "vs_ground_truth", "n": r["n"],
                          **noise_corrected(r["spearman"]["value"], r["x"], r["y"], rel)})
    return {"tasks": rel_tasks, "corrected": corrected}


def cost_section(records: Sequence[Mapping[str, Any]], tasks: Sequence[str], rows: Sequence[Mapping[str, Any]],
                 gt_rows: Sequence[Mapping[str, Any]], budget: Mapping[str, Any], target: Optional[str],
                 supervised: str) -> Dict[str, Any]:
    """Seconds per architecture of each task against its ρ to ``target`` (the ground truth, else supervised),
    with the budget curves' points at cost × (e+1)/E, and the Pareto front over all points."""
    costs = task_costs(records)
    rho_of: Dict[str, Tuple[Optional[float], int]] = {}
    for r in (gt_rows if target is not None and target != supervised else
              [r for r in rows if r["kind"] == "vs_baseline"]):
        rho_of[r["y"]] = (r["spearman"]["value"], r["n"])
    points: List[Dict[str, Any]] = []
    for t in tasks:
        if t not in costs or t not in rho_of:
            continue
        c = costs[t]["cost_s"]
        points.append({"task": t, "epoch": None, "cost_s": c, "rho": rho_of[t][0], "n": rho_of[t][1]})
        b = budget["tasks"].get(t)
        curve = b["curves"].get(target, []) if b else []
        for p in curve[:-1]:  # the last epoch is the full run itself
            points.append({"task": t, "epoch": p["epoch"], "cost_s": c * (p["epoch"] + 1) / b["n_epochs"],
                           "rho": p["rho"], "n": p["n"]})
    usable = [i for i, p in enumerate(points) if p["rho"] is not None]
    front = pareto_front([(points[i]["cost_s"], points[i]["rho"]) for i in usable])
    for p in points:
        p["on_front"] = False
    for i, on in zip(usable, front):
        points[i]["on_front"] = on
    return {"target": target, "tasks": costs, "points": points}


def table_scores_section(table: Mapping[str, Mapping[str, float]],
                         scores: Mapping[str, Mapping[str, Optional[float]]], name: str,
                         gt: Optional[Mapping[str, float]], settings: ReportSettings) -> Dict[str, Any]:
    """Per task with a benchmark-table score: ρ(table, truth) and ρ(ours, truth) on the archs all three share,
    their difference with a paired bootstrap interval, and ρ(ours, table) on the archs both have."""
    ckw = dict(**settings.bootstrap(), methods=("spearman",))
    out: Dict[str, Any] = {"name": name, "tasks": {}}
    for t in order_objectives(scores):
        theirs = finite_map(scores[t])
        ours = table.get(t, {})
        entry: Dict[str, Any] = {"n_table": len(theirs), "n_ours": len(ours)}
        both = sorted(set(ours) & set(theirs))
        entry["ours_vs_table"] = _rho(correlations([ours[a] for a in both], [theirs[a] for a in both], **ckw))
        if gt is not None:
            three = sorted(set(both) & set(gt))
            y = [gt[a] for a in three]
            a_, b_ = [ours[a] for a in three], [theirs[a] for a in three]
            entry["table_vs_truth"] = _rho(correlations(b_, y, **ckw))
            entry["ours_vs_truth"] = _rho(correlations(a_, y, **ckw))
            entry["difference"] = spearman_difference(a_, b_, y, **settings.bootstrap())
        out["tasks"][t] = entry
    return out


def arch_sizes(arch_table: Mapping[str, Any], field: str) -> Dict[str, float]:
    """arch -> the per-architecture table's ``field`` (``params`` or ``macs``), architectures without it left out."""
    i = list(arch_table["columns"]).index(field)
    return {str(r[0]): float(r[i]) for r in arch_table["rows"] if r[i] is not None and math.isfinite(float(r[i]))}


def _front(archs: Sequence[str], cost: Mapping[str, float], value: Mapping[str, float]) -> List[str]:
    """The archs on the Pareto front of (cost, value) (lower cost, higher value), by cost then arch id."""
    on = pareto_front([(cost[a], value[a]) for a in archs])
    return sorted((a for a, keep in zip(archs, on) if keep), key=lambda a: (cost[a], a))


def pareto_section(table: Mapping[str, Mapping[str, float]], tasks: Sequence[str], rankers: Sequence[str],
                   macs: Mapping[str, float], gt: Optional[Mapping[str, float]],
                   gt_key: Optional[str]) -> Dict[str, Any]:
    """Per trained objective, the Pareto front of its architectures' accuracy (the value it ranks by, mean over
    seeds) against their MACs; with ground truth, the true accuracy's front over the same architectures and how
    many of the objective's front cells are on it (with the count a random pick of as many cells would give)."""
    out: Dict[str, Any] = {"n_archs_with_macs": len(macs), "truth": None, "tasks": {}, "left_out": {}}
    if gt is not None:
        known = sorted(a for a in macs if a in gt)
        out["truth"] = {"name": gt_key, "n": len(known),
                        "front": [{"arch": a, "macs": macs[a], "true_acc": gt[a]} for a in _front(known, macs, gt)]}
    for t in tasks:
        if t in rankers:
            continue
        archs = sorted(a for a in table[t] if a in macs)
        if not archs:
            out["left_out"][t] = (f"none of its {len(table[t])} architecture(s) has a MACs count; give its records "
                                  "`macs`, or score them with the `macs` ranker")
            continue
        front = _front(archs, macs, table[t])
        entry: Dict[str, Any] = {"n": len(archs), "n_archs": len(table[t]), "n_front": len(front)}
        truth_front: set = set()
        if gt is not None:
            known = [a for a in archs if a in gt]
            truth_front = set(_front(known, macs, gt))
            front_known = [a for a in front if a in gt]
            entry.update(truth_front=_front(known, macs, gt), n_known=len(known), n_truth_front=len(truth_front),
                         n_front_known=len(front_known),
                         n_front_on_truth_front=sum(a in truth_front for a in front_known),
                         chance=len(front_known) * len(truth_front) / len(known) if known else None)
        entry["front"] = [{"arch": a, "macs": macs[a], "acc": table[t][a],
                           "true_acc": gt.get(a) if gt is not None else None,
                           "on_truth_front": (a in truth_front) if gt is not None and a in gt else None}
                          for a in front]
        out["tasks"][t] = entry
    return out



def angle_section(records: Sequence[Mapping[str, Any]], tasks: Sequence[str], rankers: Sequence[str],
                  gt_key: Optional[str], gt: Optional[Mapping[str, float]], settings: ReportSettings) -> Dict[str, Any]:
    """RLNAS's weight angle beside the held-out accuracy: per trained objective, the Spearman ρ (and the usual
    bootstrap interval, top-k overlaps) of the mean over seeds of its runs' ``weight_angle`` against the ground
    truth, next to the same for their best held-out accuracy ``best_acc``; which field the objective ranks by (the
    records' ``rank_metric``; the objective's declared one from the registry); and the objectives whose records
    carry no angle (older stores: ``not_recorded``, their angle left out)."""
    trained = [t for t in tasks if t not in set(rankers)]
    runs = [r for r in records if not is_ranker_record(r)]

    def finite(r: Mapping[str, Any], field: str) -> bool:
        v = r.get(field)
        return v is not None and not isinstance(v, bool) and math.isfinite(float(v))

    angles = mean_over_seeds([r for r in runs if finite(r, ANGLE_FIELD)], metric=ANGLE_FIELD)
    held_out = mean_over_seeds([r for r in runs if finite(r, "best_acc")], metric="best_acc")
    out: Dict[str, Any] = {"field": ANGLE_FIELD, "target": gt_key, "tasks": {},
                           "recorded": [t for t in trained if angles.get(t)],
                           "not_recorded": [t for t in trained if not angles.get(t)]}
    if gt is None or gt_key is None:
        out["reason"] = "no ground truth: the angle is compared with the true accuracy only"
    for t in trained:
        mine = [r for r in runs if str(r["task"]) == t]
        entry: Dict[str, Any] = {
            "rank_metric": sorted({rank_field(r) for r in mine}), "declared_rank_metric": objective_rank_metric(t),
            "n_runs": len(mine), "n_runs_with_angle": sum(1 for r in mine if finite(r, ANGLE_FIELD)),
            "angle_mean": float(np.mean(list(angles[t].values()))) if angles.get(t) else None,
            "held_out": None, "angle": None}
        entry["ranked_by_angle"] = entry["rank_metric"] == [ANGLE_FIELD]
        if gt is not None and gt_key is not None:
            if held_out.get(t):
                entry["held_out"] = {"kind": "held_out_vs_ground_truth",
                                     **compare({gt_key: gt, t: held_out[t]}, gt_key, t, **settings.compare_kw())}
            if angles.get(t):
                entry["angle"] = {"kind": "angle_vs_ground_truth",
                                  **compare({gt_key: gt, t: angles[t]}, gt_key, t, **settings.compare_kw())}
        out["tasks"][t] = entry
    return out
