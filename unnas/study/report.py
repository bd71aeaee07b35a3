"""The report of the sample-based study: tables, figures and machine-readable numbers from the run records.

``build_report(records, out_dir)`` writes ``report.md``, a self-contained ``report.html`` (images inlined as
base64 data URIs), the PNG figures and ``correlations.json``; ``log_report_to_wandb`` sends the same
tables and figures to a wandb run. What is computed and how is in docs/report.md. No torch, no lightning.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import os
import re
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from scipy.stats import rankdata as sps_rankdata

from unnas.study import plots
from unnas.pareto import pareto_front
from unnas.study.stats import (
    DEFAULT_TOP_K,
    MIN_N,
    SMALL_N,
    SUPERVISED,
    best_of_m,
    budget_curve,
    sorted_seeds,
    common_archs,
    compare,
    correlations,
    epoch_count,
    is_ranker_record,
    k_label,
    mean_over_seeds,
    noise_corrected,
    order_tasks,
    pairwise_table,
    rank_field,
    ranker_tasks,
    seed_counts,
    seed_reliability,
    seed_std,
    seed_values,
    spearman_difference,
    spearman_matrix,
    task_costs,
)

LABELS = {"supervised": "Supervised", "rotation": "Rotation", "colorization": "Colorization", "jigsaw": "Jigsaw"}
BEST_OF_M_SEED = 2  # the paper's np.random.seed(2) in figs/fig5.py
ARCH_ROWS_ALL = 60  # up to this many architectures, report.md/html show every row of the per-architecture table
ARCH_ROWS_EDGE = 20  # beyond it, the top and the bottom this many (architectures.csv has all)
SIZE_FIELDS = ("params", "macs")  # model-size columns of the per-architecture table
GROUND_TRUTH_COLUMN = "ground truth"  # the true-accuracy column of architectures.csv
# The size field whose ranker's score is that size itself (unnas.rankers.baselines: ``Macs.name``); its scores stand
# in for architectures no record gives the field for. No rankers import here: they need torch.
SIZE_RANKERS = {"params": "params", "macs": "macs"}

Block = Tuple[Any, ...]


def _label(task: str) -> str:
    return LABELS.get(task, task)


def _jsonable(obj: Any) -> Any:
    """numpy scalars/arrays to Python, NaN/inf to None (strict JSON)."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    return obj


# ---------------------------------------------------------------------------------------------------- numbers


def _pct(v: Optional[float], scale: float, digits: int = 2) -> str:
    return "–" if v is None else f"{v * scale:.{digits}f}"


def _score(v: Optional[float]) -> str:
    """A training-free ranker's score, compact: ``7.00e+49``, ``-16.07``."""
    if v is None or not math.isfinite(v):
        return "–"
    return f"{v:.2e}" if v != 0 and not 1e-2 <= abs(v) < 1e4 else f"{v:.2f}"


def _value(v: Optional[float], scale: float, is_score: bool) -> str:
    """An accuracy in percent, or a ranker's score as it is."""
    return _score(v) if is_score else _pct(v, scale)


def _rank_value(r: Mapping[str, Any]) -> Optional[float]:
    v = r.get(rank_field(r))
    return float(v) if v is not None and not isinstance(v, bool) and math.isfinite(float(v)) else None


def _minutes(v: Optional[float]) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:,.0f}" if v >= 1000 else f"{v:.1f}"


def _num(v: Optional[float], digits: int = 2) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def _with_ci(s: Mapping[str, Any]) -> str:
    if s["value"] is None:
        return "–"
    if s["ci_low"] is None:
        return _num(s["value"])
    return f"{_num(s['value'])} [{_num(s['ci_low'])}, {_num(s['ci_high'])}]"


def _task_summary(task: str, records: Sequence[Mapping[str, Any]], table: Mapping[str, float],
                  counts: Mapping[str, int], stds: Mapping[str, float]) -> Dict[str, Any]:
    vals = np.array(list(table.values()), dtype=float)
    runs = [r for r in records if str(r["task"]) == task]
    ok = [r for r in runs if _rank_value(r) is not None]
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
        "is_score": any(is_ranker_record(r) for r in runs),
        "rank_metric": sorted({rank_field(r) for r in runs}),
    }


def _finite_map(values: Mapping[str, Optional[float]]) -> Dict[str, float]:
    """arch -> float, leaving out None / NaN / inf."""
    out = {}
    for a, v in values.items():
        if v is not None and math.isfinite(float(v)):
            out[str(a)] = float(v)
    return out


def _best_of_m_block(ext: Mapping[str, Mapping[str, float]], proxies: Sequence[str], target: Optional[str],
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


def _architectures(records: Sequence[Mapping[str, Any]], table: Mapping[str, Mapping[str, float]],
                   tasks: Sequence[str], supervised: str, gt: Optional[Mapping[str, float]]) -> Dict[str, Any]:
    """The per-architecture table: one row per arch of the records, columns ``arch``, per task ``<task> s<seed>``
    (each seed's accuracy), ``<task> mean`` and ``<task> rank`` (1 = best mean among the archs with that task;
    ties share the best rank), ``params``, ``macs`` and, with ground truth, ``ground truth``. Accuracies in the records'
    unit (ground truth already converted to it); None = no value. Rows sorted by ground truth (else supervised
    mean) descending, unknown last, then by arch id."""
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
        forder = ([supervised] if supervised in ftable else []) + order_tasks(t for t in ftable if t != supervised)
        sizes[field] = [ftable[t] for t in forder]
        # last: the scores of the ranker that counts this size (records too old to carry the field)
        sizes[field] += [table[t] for t in order_tasks({str(r["task"]) for r in records
                                                        if r.get("ranker") == SIZE_RANKERS.get(field)}) if t in table]
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


def _small_n(corr_rows: Sequence[Mapping[str, Any]], summary: Mapping[str, Mapping[str, Any]]) -> Dict[str, Any]:
    """The warnings about samples too small for their statistics: computable correlation rows with fewer than
    ``SMALL_N`` architectures (their bootstrap intervals are not meaningful) and seed stds resting on fewer than
    ``SMALL_N`` degrees of freedom."""
    flagged = [r for r in corr_rows if r["computable"] and r["small_n"]]
    n_values = sorted({int(r["n"]) for r in flagged})
    warnings = []
    for n in n_values:
        names = [f"{_label(r['y'])} vs {_label(r['x'])}" for r in flagged if r["n"] == n]
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        warnings.append(f"n = {n}: intervals are not meaningful (fewer than {SMALL_N} architectures) in "
                        f"{len(names)} comparison(s): {shown}.")
    seed_tasks = [t for t, m in summary.items() if m["seed_std_small_n"]]
    for df in sorted({summary[t]["seed_std_df"] for t in seed_tasks}):
        names = ", ".join(_label(t) for t in seed_tasks if summary[t]["seed_std_df"] == df)
        warnings.append(f"The seed std rests on {df} degrees of freedom (fewer than {SMALL_N}; the sum over "
                        f"architectures of seeds − 1) for {names}: a rough estimate of the seed noise.")
    return {"threshold": SMALL_N, "any": bool(warnings), "n_values": n_values, "seed_std_tasks": seed_tasks,
            "warnings": warnings}


def _write_csv(path: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    def cell(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, float):
            return f"{v:.10g}" if math.isfinite(v) else ""
        return str(v)

    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        w.writerows([[cell(v) for v in r] for r in rows])


def _rho(c: Mapping[str, Any]) -> Dict[str, Any]:
    """The Spearman part of a :func:`correlations` result."""
    sp = c["spearman"]
    return {"n": c["n"], "rho": sp["value"], "ci_low": sp["ci_low"], "ci_high": sp["ci_high"],
            "computable": c["computable"], "reason": c["reason"]}


def _budget(records: Sequence[Mapping[str, Any]], tasks: Sequence[str], rankers: Sequence[str],
            table: Mapping[str, Mapping[str, float]], supervised: Optional[str], gt_key: Optional[str],
            gt: Optional[Mapping[str, float]], kw: Mapping[str, Any]) -> Dict[str, Any]:
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
            "curves": {name: budget_curve(records, t, target, n_boot=kw["n_boot"], seed=kw["seed"], ci=kw["ci"])
                       for name, target in targets.items()}}
    return out


def _noise(records: Sequence[Mapping[str, Any]], tasks: Sequence[str], rows: Sequence[Mapping[str, Any]],
           gt_rows: Sequence[Mapping[str, Any]], supervised: str, gt_key: Optional[str],
           kw: Mapping[str, Any]) -> Dict[str, Any]:
    """Seed-to-seed reliability per task and the comparisons with supervised and the ground truth corrected for
    attenuation (the ground truth's reliability is 1)."""
    per_seed = seed_values(records)
    rel_tasks = {t: seed_reliability(per_seed.get(t, {}), n_boot=kw["n_boot"], seed=kw["seed"], ci=kw["ci"])
                 for t in tasks}
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


def _cost(records: Sequence[Mapping[str, Any]], tasks: Sequence[str], rows: Sequence[Mapping[str, Any]],
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


def _table_scores(table: Mapping[str, Mapping[str, float]], scores: Mapping[str, Mapping[str, Optional[float]]],
                  name: str, gt: Optional[Mapping[str, float]], kw: Mapping[str, Any]) -> Dict[str, Any]:
    """Per task with a benchmark-table score: ρ(table, truth) and ρ(ours, truth) on the archs all three share,
    their difference with a paired bootstrap interval, and ρ(ours, table) on the archs both have."""
    ckw = dict(n_boot=kw["n_boot"], seed=kw["seed"], ci=kw["ci"], methods=("spearman",))
    out: Dict[str, Any] = {"name": name, "tasks": {}}
    for t in order_tasks(scores):
        theirs = _finite_map(scores[t])
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
            entry["difference"] = spearman_difference(a_, b_, y, n_boot=kw["n_boot"], seed=kw["seed"], ci=kw["ci"])
        out["tasks"][t] = entry
    return out


def _arch_sizes(arch_table: Mapping[str, Any], field: str) -> Dict[str, float]:
    """arch -> the per-architecture table's ``field`` (``params`` or ``macs``), architectures without it left out."""
    i = list(arch_table["columns"]).index(field)
    return {str(r[0]): float(r[i]) for r in arch_table["rows"] if r[i] is not None and math.isfinite(float(r[i]))}


def _front(archs: Sequence[str], cost: Mapping[str, float], value: Mapping[str, float]) -> List[str]:
    """The archs on the Pareto front of (cost, value) (lower cost, higher value), by cost then arch id."""
    on = pareto_front([(cost[a], value[a]) for a in archs])
    return sorted((a for a, keep in zip(archs, on) if keep), key=lambda a: (cost[a], a))


def _pareto(table: Mapping[str, Mapping[str, float]], tasks: Sequence[str], rankers: Sequence[str],
            macs: Mapping[str, float], gt: Optional[Mapping[str, float]], gt_key: Optional[str]) -> Dict[str, Any]:
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


# ---------------------------------------------------------------------------------------------------- build


def build_report(records: Iterable[Mapping[str, Any]], out_dir: str,
                 reference: Optional[Mapping[str, float]] = None, title: str = "UnNAS sample-based study",
                 n_boot: int = 1000, *, supervised: str = SUPERVISED, reference_name: str = "reference",
                 seed: int = 0, ci: float = 0.95, ks: Sequence[Union[int, float]] = DEFAULT_TOP_K,
                 common: str = "pair", figures: bool = True,
                 ground_truth: Optional[Mapping[str, Optional[float]]] = None,
                 ground_truth_name: str = "ground truth",
                 table_scores: Optional[Mapping[str, Mapping[str, Optional[float]]]] = None,
                 table_scores_name: str = "benchmark") -> Dict[str, Any]:
    """Compute every statistic of the study and write ``report.md``, ``report.html``, ``correlations.json``,
    ``architectures.csv`` and the PNG figures into ``out_dir``; return the numbers (the content of
    ``correlations.json``, with ``files`` naming the outputs relative to ``out_dir`` and ``out_dir`` itself).

    ``records``: dicts with ``arch``, ``task``, ``seed``, ``best_acc`` (an accuracy in [0, 1], or a training-free
    ranker's score when the record has ``ranker``), optionally ``params``, ``macs``, ``wall_time_s``, the per-epoch
    lists ``acc_per_epoch`` / ``train_acc_per_epoch`` (budget curves) and ``rank_metric`` (the field a record
    ranks by; default ``best_acc``). ``reference``: arch -> accuracy in another setting (e.g. ImageNet
    supervised; values above 1 are taken as percent), compared with every task as in the paper's Fig. 4 and
    used as the target of the Fig. 5 best-of-m experiment (otherwise the target is ``supervised``).
    ``common``: ``"pair"`` (each comparison uses the archs its two tasks share) or ``"all"`` (every
    comparison uses the archs all tasks share, as the paper's figures). ``n_boot`` bootstrap resamples
    with seed ``seed`` give the ``ci`` intervals. Pairs with fewer than 3 common archs are reported as not
    computable, with the reason. ``figures=False`` skips the PNGs (faster; the numbers are the same).

    ``ground_truth``: arch -> true accuracy of the architecture (e.g. NAS-Bench-201's table; values above 1
    are taken as percent; None or a missing arch = unknown), named ``ground_truth_name``. Every task,
    supervised included, is compared with it like with the reference; it joins the Spearman matrix, the
    per-architecture table gets its column, and without a reference a second best-of-m experiment uses it
    as the target. Comparisons with fewer than 3 covered archs are reported as not computable.

    ``table_scores``: task -> {arch -> the benchmark table's own score for that ranker task}, named
    ``table_scores_name``: each is set against our score and, with ground truth, against the true accuracy.

    Each trained objective's accuracy is also set against the architectures' MACs (the per-architecture table's
    ``macs``), with its Pareto front and, with ground truth, how many of its front cells are on the true front
    (``pareto`` in the result, ``fig_pareto.png``).
    """
    records = [dict(r) for r in records]
    os.makedirs(out_dir, exist_ok=True)
    table = mean_over_seeds(records)
    counts, stds = seed_counts(records), seed_std(records)
    tasks = order_tasks(table)
    notes: List[str] = []
    rankers = [t for t in ranker_tasks(records) if t in table]
    n_dropped = sum(1 for r in records if _rank_value(r) is None)
    if n_dropped:
        notes.append(f"{n_dropped} record(s) without a finite rank value (best_acc, or their rank_metric) were "
                     "left out.")
    # ranker scores are any real number: only the trained tasks decide whether accuracies are fractions
    all_vals = [v for t, per in table.items() if t not in rankers for v in per.values()]
    scale = 100.0 if all(v <= 1.0 + 1e-9 for v in all_vals) else 1.0
    if scale == 1.0:
        notes.append("Some accuracies exceed 1, so all are taken to be in percent already.")
    if not records or not table:
        notes.append("No usable records: nothing to compare.")
    has_sup = supervised in table
    if not has_sup:
        notes.append(f"No '{supervised}' results: the correlations with supervised accuracy (Fig. 2) are left out; "
                     "only the pairs of the objectives present are compared.")

    ref_key = None
    ext = dict(table)
    if reference:
        ref_key = reference_name if reference_name not in table else f"{reference_name} (reference)"
        ref = {str(a): float(v) for a, v in reference.items() if v is not None and math.isfinite(float(v))}
        if scale == 100.0 and ref and max(ref.values()) > 1.0 + 1e-9:
            ref = {a: v / 100.0 for a, v in ref.items()}
            notes.append("Reference accuracies look like percent; divided by 100 to match the records.")
        ext[ref_key] = ref

    gt_key = None
    gt: Optional[Dict[str, float]] = None
    gt_info: Optional[Dict[str, Any]] = None
    if ground_truth is not None:
        gt_key = (ground_truth_name if ground_truth_name not in table and ground_truth_name != ref_key
                  else f"{ground_truth_name} (ground truth)")
        gt = _finite_map(ground_truth)
        converted = bool(scale == 100.0 and gt and max(gt.values()) > 1.0 + 1e-9)
        if converted:
            gt = {a: v / 100.0 for a, v in gt.items()}
        ext[gt_key] = gt
        study_archs = sorted({a for t in table.values() for a in t})
        covered = [a for a in study_archs if a in gt]
        gt_info = {"name": gt_key, "n_given": len(gt), "n_study_archs": len(study_archs), "n_covered": len(covered),
                   "n_outside_study": len(set(gt) - set(study_archs)), "converted_from_percent": converted}
        note = (f"Ground truth ({gt_key}) is known for {len(covered)} of the {len(study_archs)} architecture(s) of "
                f"the study")
        if len(gt) > len(covered):
            note += f" ({len(gt) - len(covered)} more known architecture(s) were not run in the study)"
        note += "."
        if converted:
            note += " Its accuracies look like percent; divided by 100 to match the records."
        if len(covered) < MIN_N:
            note += (f" The comparison with the ground truth is not computable: only {len(covered)} covered "
                     f"architecture(s); at least {MIN_N} needed.")
        elif common == "all" and len(common_archs(ext, tasks + [gt_key])) < len(common_archs(table, tasks)):
            note += (" With common='all', the ground-truth comparisons and the Spearman matrix use only the "
                     "architectures that all tasks share and the ground truth covers.")
        notes.append(note)

    kw = dict(n_boot=n_boot, seed=seed, ci=ci, ks=ks)
    shared_all = common_archs(table, tasks)
    rows = pairwise_table(table, baseline=supervised, tasks=tasks, common=common, **kw)
    ref_rows = []
    if ref_key:
        ref_archs = common_archs(ext, tasks + [ref_key]) if common == "all" else None
        ref_rows = [{"kind": "vs_reference", **compare(ext, ref_key, t, archs=ref_archs, **kw)} for t in tasks]
    gt_rows = []
    if gt_key:
        gt_archs = common_archs(ext, tasks + [gt_key]) if common == "all" else None
        gt_rows = [{"kind": "vs_ground_truth", **compare(ext, gt_key, t, archs=gt_archs, **kw)} for t in tasks]

    # complexity as a trivial proxy: does model size alone rank the archs like the supervised accuracy?
    complexity_rows = []
    if has_sup:
        sup_records = [r for r in records if str(r["task"]) == supervised]
        for field in ("params", "macs"):
            vals = mean_over_seeds([r for r in sup_records if r.get(field) is not None], metric=field)
            if vals.get(supervised):
                row = compare({supervised: table[supervised], field: vals[supervised]}, supervised, field, **kw)
                complexity_rows.append({"kind": "complexity", **row})

    mat_tasks = tasks + ([ref_key] if ref_key else []) + ([gt_key] if gt_key else [])
    mt, rho, mcount = spearman_matrix(ext, mat_tasks, common=common)

    target = ref_key or (supervised if has_sup else None)
    bom = _best_of_m_block(ext, tasks, target, common,
                           no_target=f"no target: neither a reference nor '{supervised}' results")
    bom_gt = _best_of_m_block(ext, tasks, gt_key, common) if gt_key and not ref_key else None

    budget = _budget(records, tasks, rankers, table, supervised if has_sup else None, gt_key, gt, kw)
    noise = _noise(records, tasks, rows, gt_rows, supervised, gt_key, kw)
    cost_target = gt_key if gt_key else (supervised if has_sup else None)
    cost = _cost(records, tasks, rows, gt_rows, budget, cost_target, supervised)
    scores_block = (_table_scores(table, table_scores, table_scores_name, gt, kw)
                    if table_scores is not None else None)

    arch_table = _architectures(records, table, tasks, supervised, gt)
    _write_csv(os.path.join(out_dir, "architectures.csv"), arch_table["columns"], arch_table["rows"])
    arch_macs = _arch_sizes(arch_table, "macs")
    pareto = _pareto(table, tasks, rankers, arch_macs, gt, gt_key)

    # ------------------------------------------------------------------------------------------- figures
    labels = {t: _label(t) for t in mat_tasks}
    if ref_key:
        labels[ref_key] = ref_key
    if gt_key:
        labels[gt_key] = gt_key
    figs: Dict[str, str] = {}
    if figures and has_sup and len(tasks) > 1:
        figs["vs_supervised"] = plots.plot_vs_baseline(
            table, os.path.join(out_dir, "fig_vs_supervised.png"), baseline=supervised, tasks=tasks, labels=labels,
            scale=scale, scores=rankers, title=f"{title}: objective vs supervised accuracy (cf. paper Fig. 2)")
    if figures and ref_key and tasks:
        figs["vs_reference"] = plots.plot_vs_baseline(
            ext, os.path.join(out_dir, "fig_vs_reference.png"), baseline=ref_key, tasks=tasks, labels=labels,
            scale=scale, scores=rankers, title=f"{title}: task accuracy vs {ref_key} accuracy (cf. paper Fig. 4)")
    if figures and gt_key and tasks and gt_info["n_covered"]:
        figs["vs_ground_truth"] = plots.plot_vs_baseline(
            ext, os.path.join(out_dir, "fig_vs_ground_truth.png"), baseline=gt_key, tasks=tasks, labels=labels,
            scale=scale, scores=rankers, title=f"{title}: objective accuracy vs true accuracy ({gt_key})")
    if figures and mat_tasks:
        figs["spearman_matrix"] = plots.plot_spearman_matrix(
            mt, rho, os.path.join(out_dir, "fig_spearman_matrix.png"), counts=mcount, labels=labels)
    if figures and bom["curves"]:
        curve_labels = dict(labels)
        if target in bom["curves"] and not ref_key:
            curve_labels[target] = f"{_label(target)} (proxy = target: oracle)"
        figs["best_of_m"] = plots.plot_best_of_m(
            bom["curves"], os.path.join(out_dir, "fig_best_of_m.png"), target_label=labels.get(target, target),
            labels=curve_labels, scale=scale)
    if figures and bom_gt and bom_gt["curves"]:
        figs["best_of_m_ground_truth"] = plots.plot_best_of_m(
            bom_gt["curves"], os.path.join(out_dir, "fig_best_of_m_ground_truth.png"), target_label=gt_key,
            labels=labels, scale=scale)
    if figures and budget["tasks"]:
        figs["budget"] = plots.plot_budget(
            {t: b["curves"] for t, b in budget["tasks"].items()}, os.path.join(out_dir, "fig_budget.png"),
            targets=budget["targets"], labels=labels,
            title=f"{title}: ranking after each epoch vs the final target (band: bootstrap interval)")
    if figures and any(p["rho"] is not None for p in cost["points"]):
        figs["cost_frontier"] = plots.plot_cost_frontier(
            cost["points"], os.path.join(out_dir, "fig_cost_frontier.png"),
            target_label=labels.get(cost_target, cost_target), labels=labels,
            title=f"{title}: cost and ranking quality vs {labels.get(cost_target, cost_target)} "
                  "(small points: a trained objective stopped after fewer epochs)")
    if figures and pareto["tasks"]:
        panels = {}
        if pareto["truth"] is not None and pareto["truth"]["n"]:
            known = sorted(a for a in arch_macs if a in gt)
            panels[gt_key] = ([(arch_macs[a], gt[a]) for a in known], None)
        for t, entry in pareto["tasks"].items():
            archs = sorted(a for a in table[t] if a in arch_macs)
            on_truth = set(entry.get("truth_front") or ())
            panels[t] = ([(arch_macs[a], table[t][a]) for a in archs],
                         [a in on_truth for a in archs] if gt is not None else None)
        figs["pareto"] = plots.plot_pareto_panels(
            panels, os.path.join(out_dir, "fig_pareto.png"), scale=scale,
            labels={t: labels.get(t, t) if t == gt_key else f"{labels.get(t, t)} accuracy" for t in panels},
            title=f"{title}: accuracy against multiply-adds (ringed: each panel's Pareto front"
                  + (f"; ×: on the front of {gt_key}" if gt is not None else "") + ")")
    figs = {k: os.path.basename(v) for k, v in figs.items()}

    summary = {t: _task_summary(t, records, table[t], counts[t], stds.get(t, {})) for t in tasks}
    small_n = _small_n(rows + ref_rows + gt_rows + complexity_rows, summary)

    result: Dict[str, Any] = {
        "title": title,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": {"n_boot": n_boot, "seed": seed, "ci": ci, "top_k": list(ks), "common": common,
                     "best_of_m_seed": BEST_OF_M_SEED, "min_n": MIN_N, "small_n": SMALL_N,
                     "accuracy_scale_for_display": scale},
        "tasks": tasks, "ranker_tasks": rankers, "supervised": supervised if has_sup else None, "reference": ref_key,
        "ground_truth": gt_info,
        "n_records": len(records), "n_dropped": n_dropped, "n_common_all": len(shared_all),
        "summary": summary, "small_n": small_n,
        "correlations": rows, "reference_correlations": ref_rows, "complexity_correlations": complexity_rows,
        "ground_truth_correlations": gt_rows,
        "spearman_matrix": {"tasks": mt, "rho": rho, "n": mcount},
        "best_of_m": bom, "best_of_m_ground_truth": bom_gt,
        "budget": budget, "noise": noise, "cost": cost, "table_scores": scores_block, "pareto": pareto,
        "architectures": arch_table,
        "notes": notes,
        "accuracy": {"mean_over_seeds": ext, "seed_counts": counts},
        "out_dir": os.path.abspath(out_dir),
        "files": {"report_md": "report.md", "report_html": "report.html", "correlations_json": "correlations.json",
                  "architectures_csv": "architectures.csv", "plots": figs},
    }
    result = _jsonable(result)
    blocks = _blocks(result)
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(_to_markdown(blocks))
    with open(os.path.join(out_dir, "report.html"), "w") as f:
        f.write(_to_html(blocks, title, out_dir))
    with open(os.path.join(out_dir, "correlations.json"), "w") as f:
        json.dump(result, f, indent=1, allow_nan=False)
    return result


# ---------------------------------------------------------------------------------------------------- content


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
        first = [_label(r["x"]), _label(r["y"])] if x_col else [_label(r["y"])]
        if not r["computable"]:
            body.append(first + [str(r["n"]), f"not computable: {r['reason']}"] + [""] * (3 + len(klabels)))
            continue
        p = r["spearman"]["p_value"]
        tk = [f"{r['top_k'][lb]['overlap']:.2f} (chance {r['top_k'][lb]['chance']:.2f})" if lb in r["top_k"] else "–"
              for lb in klabels]
        n = f"{r['n']} †" if r.get("small_n") else str(r["n"])
        body.append(first + [n, _with_ci(r["spearman"]), _with_ci(r["kendall"]), _with_ci(r["pearson"]),
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
    tgt = _label(bom["target"])
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
                row.append(f"{_pct(c['mean'][i], scale)} ± {_pct(2 * c['std'][i], scale)} "
                           f"[{_pct(c['expected'][i], scale)}]")
            else:
                row.append("–")
        body.append(row)
    body.append(["best arch"] + [_pct(curves[t]["oracle"], scale) for t in names])
    body.append(["average arch"] + [_pct(curves[t]["random"], scale) for t in names])
    b.append(("table", ["m"] + [f"{_label(t)} (n = {curves[t]['n']})" for t in names], body))
    if bom["skipped"]:
        b.append(("ul", [f"{_label(t)}: not computable, {why}" for t, why in bom["skipped"].items()]))
    if plot_name in res["files"]["plots"]:
        b.append(("img", res["files"]["plots"][plot_name], plot_name.replace("_", " ")))
    return b


def _size(v: Optional[float], div: float) -> str:
    if v is None:
        return "–"
    v = v / div
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"


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
        head += [f"{_label(t)} s{sd}" for sd in arch["seeds"][t]] + [f"{_label(t)} mean (rank)"]
    head += ["params", "MACs (M)"]
    gt = res["ground_truth"]
    if gt is not None:
        head.append(f"{gt['name']} (%)")

    scored = set(res.get("ranker_tasks") or [])

    def line(r: Sequence[Any]) -> List[str]:
        v = dict(zip(cols, r))
        out = [v["arch"]]
        for t in tasks:
            out += [_value(v[f"{t} s{sd}"], scale, t in scored) for sd in arch["seeds"][t]]
            mean, rank = v[f"{t} mean"], v[f"{t} rank"]
            out.append("–" if mean is None else f"{_value(mean, scale, t in scored)} ({rank})")
        out += ["–" if v["params"] is None else f"{v['params']:,.0f}", _size(v.get("macs"), 1e6)]
        if gt is not None:
            out.append(_pct(v[GROUND_TRUTH_COLUMN], scale))
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


def _rho_ci(p: Optional[Mapping[str, Any]]) -> str:
    """``0.53 [0.21, 0.78]`` from a dict with ``rho`` (or ``value``), ``ci_low``, ``ci_high``."""
    if p is None:
        return "–"
    v = p.get("rho", p.get("value"))
    if v is None:
        return f"not computable: {p['reason']}" if p.get("reason") else "–"
    return _num(v) if p.get("ci_low") is None else f"{_num(v)} [{_num(p['ci_low'])}, {_num(p['ci_high'])}]"


def _budget_blocks(res: Mapping[str, Any]) -> List[Block]:
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
            body.append([f"{_label(t)} (n ≤ {max((p['n'] for p in curve.values()), default=0)})"]
                        + [_rho_ci(curve.get(e)) if e in curve else "–" for e in range(n_max)])
        b.append(("table", head, body))
    if "budget" in res["files"]["plots"]:
        b.append(("img", res["files"]["plots"]["budget"], "Spearman rho after each epoch"))
    return b


def _noise_blocks(res: Mapping[str, Any]) -> List[Block]:
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
            body.append([_label(t), str(r["n_seeds"]), pairs, f"not computable: {r['reason']}", _num(r["k"]), "–"])
            continue
        rel = {"rho": r["reliability"], "ci_low": r["reliability_ci_low"], "ci_high": r["reliability_ci_high"]}
        seed_rho = {"rho": r["r"], "ci_low": r["ci_low"], "ci_high": r["ci_high"]}
        body.append([_label(t), str(r["n_seeds"]), pairs, _rho_ci(seed_rho), _num(r["k"]), _rho_ci(rel)])
    b.append(("table", head, body))
    if noise["corrected"]:
        body = []
        for c in noise["corrected"]:
            body.append([f"{_label(c['y'])} vs {_label(c['x'])}", str(c["n"]), _num(c["rho"]), _num(c["r_x"]),
                         _num(c["r_y"]), _num(c["corrected"]) if c["computable"] else f"not computable: {c['reason']}"])
        b.append(("table", ["comparison", "n", "ρ", "reliability x", "reliability y", "corrected ρ"], body))
    return b


def _cost_blocks(res: Mapping[str, Any]) -> List[Block]:
    cost = res["cost"]
    if not cost["points"]:
        return []
    tgt = _label(cost["target"])
    b: List[Block] = [("h", 2, "Cost and ranking quality")]
    b.append(("p", f"Cost: the mean `wall_time_s` per architecture-seed job, in seconds per architecture on this "
                   f"run's machine, threads as recorded; after e + 1 of E epochs, the cost × (e + 1)/E. ρ: Spearman "
                   f"ρ to {tgt}. On the Pareto front: no other point is at most as costly and at least as good."))
    head = ["task", "epochs", "seconds per arch", "threads", f"ρ vs {tgt}", "n", "on front"]
    body = []
    for p in sorted(cost["points"], key=lambda p: p["cost_s"]):
        info = cost["tasks"][p["task"]]
        body.append([_label(p["task"]), "all" if p["epoch"] is None else str(p["epoch"] + 1),
                     f"{p['cost_s']:.3g}", ", ".join(map(str, info["threads"])) or "–", _num(p["rho"]),
                     str(p["n"]), "yes" if p["on_front"] else ""])
    b.append(("table", head, body))
    if "cost_frontier" in res["files"]["plots"]:
        b.append(("img", res["files"]["plots"]["cost_frontier"], "cost and ranking quality"))
    return b


def _pareto_blocks(res: Mapping[str, Any]) -> List[Block]:
    par = res["pareto"]
    trained = [t for t in res["tasks"] if t not in set(res.get("ranker_tasks") or [])]
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
                   "would pick. Rankers are left out (their scores are not accuracies)."
                   + (f" With {gt['name']} as the true accuracy, the true front is taken over the same "
                      "architectures (those of the objective with MACs and a known true accuracy); *on the true "
                      "front* counts the objective's front cells on it, next to the count a random pick of as many "
                      "cells would give on average." if truth is not None else "")))
    for t, why in par["left_out"].items():
        b.append(("p", f"{_label(t)} is left out: {why}."))
    head = ["objective", "archs with MACs", "front cells"]
    if truth is not None:
        head += ["with a known true accuracy", "on the true front (chance)", "true front cells"]
    body = []
    for t, e in par["tasks"].items():
        row = [_label(t), f"{e['n']} of {e['n_archs']}", str(e["n_front"])]
        if truth is not None:
            row += [str(e["n_front_known"]),
                    f"{e['n_front_on_truth_front']} ({_num(e['chance'])})" if e["n_known"] else "–",
                    f"{e['n_truth_front']} of {e['n_known']}"]
        body.append(row)
    b.append(("table", head, body))
    head = ["objective", "arch", "MACs (M)", "accuracy (%)"]
    if truth is not None:
        head += [f"{gt['name']} (%)", "on the true front"]
    body = []
    if truth is not None:
        for p in truth["front"]:
            body.append([f"{gt['name']} (all {truth['n']} archs)", f"`{p['arch']}`", _size(p["macs"], 1e6), "–",
                         _pct(p["true_acc"], scale), "yes"])
    for t, e in par["tasks"].items():
        for p in e["front"]:
            row = [_label(t), f"`{p['arch']}`", _size(p["macs"], 1e6), _pct(p["acc"], scale)]
            if truth is not None:
                row += [_pct(p["true_acc"], scale),
                        "–" if p["on_truth_front"] is None else "yes" if p["on_truth_front"] else ""]
            body.append(row)
    b.append(("p", "The front architectures, by MACs"
                   + (f" (first: the front of {gt['name']} over all the study's architectures with MACs)"
                      if truth is not None else "") + "."))
    b.append(("table", head, body))
    if "pareto" in res["files"]["plots"]:
        b.append(("img", res["files"]["plots"]["pareto"], "accuracy against multiply-adds"))
    return b


def _table_score_blocks(res: Mapping[str, Any]) -> List[Block]:
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
        row = [_label(t)]
        if "difference" in e:
            row += [_rho_ci(e["table_vs_truth"]), _rho_ci(e["ours_vs_truth"]), _rho_ci(e["difference"]),
                    str(e["difference"]["n"])]
        else:
            row += ["–", "–", "–", "–"]
        row += [_rho_ci(e["ours_vs_table"]), str(e["ours_vs_table"]["n"])]
        body.append(row)
    b.append(("table", head, body))
    return b


def _blocks(res: Mapping[str, Any]) -> List[Block]:
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
        body.append([_label(t) + (" (ranker)" if sc else ""), str(m["n_archs"]), str(m["n_runs"]),
                     ", ".join(map(str, m["seeds"])), spa,
                     " / ".join(_value(m[k], scale, sc) for k in ("acc_min", "acc_median", "acc_max")),
                     "–" if sc else _pct(m["acc_spread"], scale),
                     "–" if sc or m["seed_std_mean"] is None
                     else f"{_pct(m['seed_std_mean'], scale)} ({m['n_archs_multi_seed']} archs)"
                     + (" †" if m["seed_std_small_n"] else ""),
                     _minutes(m["wall_time_min"]), _minutes(m["wall_time_min_per_run"])])
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

    mat = res["spearman_matrix"]
    if mat["tasks"]:
        b.append(("h", 2, "Spearman ρ between all objectives"))
        names = [_label(t) for t in mat["tasks"]]
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

    b += _budget_blocks(res)
    b += _noise_blocks(res)
    b += _cost_blocks(res)
    b += _pareto_blocks(res)
    b += _table_score_blocks(res)

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
        "record with `rank_metric` ranks by that field instead (random labels: `train_acc`); a training-free "
        "ranker's value is its score.",
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


# ---------------------------------------------------------------------------------------------------- rendering


def _md_cell(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _to_markdown(blocks: Sequence[Block]) -> str:
    out: List[str] = []
    for blk in blocks:
        kind = blk[0]
        if kind == "warn":
            out.append("\n".join([f"> **{blk[1]}**", ">"] + [f"> - {it}" for it in blk[2]]))
        elif kind == "h":
            out.append("#" * blk[1] + " " + blk[2])
        elif kind == "p":
            out.append(blk[1])
        elif kind == "ul":
            out.append("\n".join(f"- {it}" for it in blk[1]))
        elif kind == "table":
            head, body = blk[1], blk[2]
            lines = ["| " + " | ".join(_md_cell(h) for h in head) + " |",
                     "|" + "|".join("---" for _ in head) + "|"]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in body]
            out.append("\n".join(lines))
        elif kind == "img":
            out.append(f"![{blk[2]}]({blk[1]})")
    return "\n\n".join(out) + "\n"


def _inline_html(text: str) -> str:
    t = html.escape(str(text))
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", t)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", t)


_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{border-bottom:2px solid #ddd;padding-bottom:.3em}h2{margin-top:1.8em;border-bottom:1px solid #eee}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left}
th{background:#f4f4f4}tr:nth-child(even) td{background:#fafafa}img{max-width:100%;border:1px solid #eee}
code{background:#f4f4f4;padding:0 .2em}
.warning{border-left:4px solid #d98c00;background:#fff6e0;padding:.4em 1em;margin:1em 0}
"""


def _to_html(blocks: Sequence[Block], title: str, out_dir: str) -> str:
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body>"]
    for blk in blocks:
        kind = blk[0]
        if kind == "warn":
            parts.append(f"<div class=\"warning\"><strong>{_inline_html(blk[1])}</strong><ul>"
                         + "".join(f"<li>{_inline_html(it)}</li>" for it in blk[2]) + "</ul></div>")
        elif kind == "h":
            parts.append(f"<h{blk[1]}>{_inline_html(blk[2])}</h{blk[1]}>")
        elif kind == "p":
            parts.append(f"<p>{_inline_html(blk[1])}</p>")
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{_inline_html(it)}</li>" for it in blk[1]) + "</ul>")
        elif kind == "table":
            head = "".join(f"<th>{_inline_html(h)}</th>" for h in blk[1])
            rows = "".join("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>" for row in blk[2])
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "img":
            with open(os.path.join(out_dir, blk[1]), "rb") as f:
                data = base64.b64encode(f.read()).decode("ascii")
            parts.append(f"<p><img alt=\"{html.escape(blk[2])}\" src=\"data:image/png;base64,{data}\"></p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------------- wandb


def _corr_rows_for_table(rows: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> List[List[Any]]:
    out = []
    for r in rows:
        line: List[Any] = [r["x"], r["y"], r["kind"], r["n"], r["computable"], r["reason"] or ""]
        for m in ("spearman", "kendall", "pearson"):
            line += [r[m]["value"], r[m]["ci_low"], r[m]["ci_high"]]
        line += [r["top_k"][lb]["overlap"] if lb in r["top_k"] else None for lb in labels]
        out.append(line)
    return out


TABLE_SCORE_COMPARISONS = ("table_vs_truth", "ours_vs_truth", "difference", "ours_vs_table")


def section_tables(result: Mapping[str, Any]) -> Dict[str, Tuple[List[str], List[List[Any]]]]:
    """The tables of the budget, noise, cost, benchmark-score and Pareto sections of a :func:`build_report` result
    as ``{name: (columns, rows)}`` (values in the records' unit, as in correlations.json); a section the report
    does not have gives no table."""
    out: Dict[str, Tuple[List[str], List[List[Any]]]] = {}
    rho_cols = ["n", "rho", "ci_low", "ci_high", "computable", "reason"]
    budget = result.get("budget") or {"tasks": {}}
    rows = [[t, target, p["epoch"]] + [p[c] for c in rho_cols]
            for t, info in budget["tasks"].items() for target, curve in info["curves"].items() for p in curve]
    if rows:
        out["budget"] = (["task", "target", "epoch"] + rho_cols, rows)
    noise = result.get("noise") or {"tasks": {}, "corrected": []}
    rel_cols = ["n_seeds", "k", "r", "ci_low", "ci_high", "reliability", "reliability_ci_low",
                "reliability_ci_high", "computable", "reason"]
    if noise["tasks"]:
        out["noise_reliability"] = (["task"] + rel_cols, [[t] + [r[c] for c in rel_cols]
                                                           for t, r in noise["tasks"].items()])
    cor_cols = ["kind", "x", "y", "n", "rho", "r_x", "r_y", "corrected", "computable", "reason"]
    if noise["corrected"]:
        out["noise_corrected"] = (cor_cols, [[c[k] for k in cor_cols] for c in noise["corrected"]])
    cost = result.get("cost") or {"points": []}
    if cost["points"]:
        out["cost_frontier"] = (
            ["task", "epoch", "cost_s", "rho", "n", "on_front", "threads"],
            [[p["task"], p["epoch"], p["cost_s"], p["rho"], p["n"], p["on_front"],
              ", ".join(map(str, cost["tasks"][p["task"]]["threads"]))] for p in cost["points"]])
    ts = result.get("table_scores")
    if ts and ts["tasks"]:
        rows = []
        for t, e in ts["tasks"].items():
            for comp in TABLE_SCORE_COMPARISONS:
                if comp in e:
                    c = e[comp]
                    rows.append([t, comp, c["n"], c.get("rho", c.get("value")), c["ci_low"], c["ci_high"],
                                 c["computable"], c["reason"]])
        out["table_scores"] = (["task", "comparison"] + rho_cols, rows)
    par = result.get("pareto")
    if par and par["tasks"]:
        rows = [[par["truth"]["name"], p["arch"], p["macs"], None, p["true_acc"], True]
                for p in (par["truth"]["front"] if par["truth"] else [])]
        rows += [[t, p["arch"], p["macs"], p["acc"], p["true_acc"], p["on_truth_front"]]
                 for t, e in par["tasks"].items() for p in e["front"]]
        out["pareto_front"] = (["objective", "arch", "macs", "acc", "true_acc", "on_truth_front"], rows)
        sum_cols = ["n", "n_archs", "n_front", "n_front_known", "n_front_on_truth_front", "n_truth_front", "n_known",
                    "chance"]
        out["pareto_summary"] = (["objective"] + sum_cols,
                                 [[t] + [e.get(c) for c in sum_cols] for t, e in par["tasks"].items()])
    return out


def log_report_to_wandb(result: Mapping[str, Any], run: Any, prefix: str = "study") -> Dict[str, Any]:
    """Log a :func:`build_report` result to a wandb run: the summary, correlation (vs supervised, pairs, vs the
    reference, vs the ground truth, model size), Spearman-matrix, best-of-m and per-architecture tables and those
    of :func:`section_tables` (``wandb.Table``), the figures (``wandb.Image``), and each computable row's Spearman
    rho in ``run.summary`` (``<prefix>/spearman/<y>_vs_<x>``; ``<y>_vs_ground_truth`` for the ground truth).
    Returns the dict passed to ``run.log``."""
    import wandb  # only here: building a report needs no wandb

    labels = [k_label(k) for k in result["settings"]["top_k"]]
    corr_cols = ["x", "y", "kind", "n", "computable", "reason"]
    for m in ("spearman", "kendall", "pearson"):
        corr_cols += [m, f"{m}_ci_low", f"{m}_ci_high"]
    corr_cols += [f"overlap_{lb}" for lb in labels]
    gt_rows = list(result.get("ground_truth_correlations") or [])
    all_rows = (list(result["correlations"]) + list(result["reference_correlations"])
                + list(result["complexity_correlations"]) + gt_rows)
    payload: Dict[str, Any] = {
        f"{prefix}/correlations": wandb.Table(columns=corr_cols, data=_corr_rows_for_table(all_rows, labels)),
    }
    sum_cols = ["task", "n_archs", "n_runs", "acc_min", "acc_median", "acc_max", "acc_spread", "seed_std_mean"]
    payload[f"{prefix}/summary"] = wandb.Table(
        columns=sum_cols, data=[[t] + [result["summary"][t][c] for c in sum_cols[1:]] for t in result["tasks"]])
    mat = result["spearman_matrix"]
    if mat["tasks"]:
        payload[f"{prefix}/spearman_matrix"] = wandb.Table(
            columns=["task"] + list(mat["tasks"]), data=[[t] + list(row) for t, row in zip(mat["tasks"], mat["rho"])])
    for key in ("best_of_m", "best_of_m_ground_truth"):
        bom = result.get(key)
        if bom and bom["curves"]:
            data = [[t, m, c["mean"][i], c["std"][i], c["expected"][i], c["n_draws"][i]]
                    for t, c in bom["curves"].items() for i, m in enumerate(c["ms"])]
            payload[f"{prefix}/{key}"] = wandb.Table(
                columns=["proxy", "m", "mean", "std", "expected", "n_draws"], data=data)
    arch = result.get("architectures")
    if arch and arch["rows"]:
        payload[f"{prefix}/architectures"] = wandb.Table(columns=list(arch["columns"]),
                                                         data=[list(r) for r in arch["rows"]])
    for name, (columns, data) in section_tables(result).items():
        payload[f"{prefix}/{name}"] = wandb.Table(columns=columns, data=data)
    for name, rel in result["files"]["plots"].items():
        payload[f"{prefix}/plots/{name}"] = wandb.Image(os.path.join(result["out_dir"], rel), caption=name)
    run.log(payload)
    for r in all_rows:
        if r["computable"]:
            x = "ground_truth" if r["kind"] == "vs_ground_truth" else r["x"]
            run.summary[f"{prefix}/spearman/{r['y']}_vs_{x}"] = r["spearman"]["value"]
    return payload
