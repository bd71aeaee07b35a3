"""A study report sent to a wandb run (optional: only :func:`log_report_to_wandb` imports wandb): its tables as
``wandb.Table``, its figures as ``wandb.Image`` and each comparison's Spearman rho in the run summary."""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Sequence, Tuple

from unnas.study.stats import k_label


def _corr_rows_for_table(rows: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> List[List[Any]]:
    """Correlation rows as table rows: x, y, kind, n, computable, reason, each statistic with its interval, and
    the top-k overlap of each label in ``labels``."""
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
