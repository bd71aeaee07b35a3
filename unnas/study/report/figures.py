"""The figures of a study report, drawn from a report result (:func:`~unnas.study.report.compute.compute_report`)
with :mod:`unnas.study.plots` into PNG files."""

from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional

import numpy as np

from pretext_tasks.registry import objective_label
from unnas.study import plots
from unnas.study.report.sections import arch_sizes


def figure_labels(result: Mapping[str, Any]) -> Dict[str, str]:
    """task -> its label in the figures (the reference and the ground truth by their names)."""
    labels = {t: objective_label(t) for t in result["spearman_matrix"]["tasks"]}
    for key in (result["reference"], (result["ground_truth"] or {}).get("name")):
        if key:
            labels[key] = key
    return labels


def _pareto_panels(result: Mapping[str, Any], labels: Mapping[str, str], out_dir: str) -> str:
    ext, pareto = result["accuracy"]["mean_over_seeds"], result["pareto"]
    gt_key = (result["ground_truth"] or {}).get("name")
    gt: Optional[Mapping[str, float]] = ext[gt_key] if gt_key else None
    macs = arch_sizes(result["architectures"], "macs")
    panels = {}
    if pareto["truth"] is not None and pareto["truth"]["n"]:
        known = sorted(a for a in macs if a in gt)
        panels[gt_key] = ([(macs[a], gt[a]) for a in known], None)
    for t, entry in pareto["tasks"].items():
        archs = sorted(a for a in ext[t] if a in macs)
        on_truth = set(entry.get("truth_front") or ())
        panels[t] = ([(macs[a], ext[t][a]) for a in archs], [a in on_truth for a in archs] if gt is not None else None)
    return plots.plot_pareto_panels(
        panels, os.path.join(out_dir, "fig_pareto.png"), scale=result["settings"]["accuracy_scale_for_display"],
        labels={t: labels.get(t, t) if t == gt_key else f"{labels.get(t, t)} accuracy" for t in panels},
        title=f"{result['title']}: accuracy against multiply-adds (ringed: each panel's Pareto front"
              + (f"; ×: on the front of {gt_key}" if gt is not None else "") + ")")


def write_figures(result: Mapping[str, Any], out_dir: str) -> Dict[str, str]:
    """Draw every figure the result has data for into ``out_dir``; return figure name -> file name."""
    title, scale, rankers = result["title"], result["settings"]["accuracy_scale_for_display"], result["ranker_tasks"]
    ext, tasks, sup = result["accuracy"]["mean_over_seeds"], result["tasks"], result["supervised"]
    ref_key, gt = result["reference"], result["ground_truth"]
    gt_key = gt["name"] if gt else None
    labels = figure_labels(result)
    mat, bom, bom_gt = result["spearman_matrix"], result["best_of_m"], result["best_of_m_ground_truth"]
    budget, cost = result["budget"], result["cost"]
    figs: Dict[str, str] = {}
    # values that are scores, not accuracies (rankers; objectives ranked by the weight angle) are drawn as they are
    common = dict(tasks=tasks, labels=labels, scale=scale, scores=result.get("score_tasks", rankers))
    if sup is not None and len(tasks) > 1:
        figs["vs_supervised"] = plots.plot_vs_baseline(
            ext, os.path.join(out_dir, "fig_vs_supervised.png"), baseline=sup, **common,
            title=f"{title}: objective vs supervised accuracy (cf. paper Fig. 2)")
    if ref_key and tasks:
        figs["vs_reference"] = plots.plot_vs_baseline(
            ext, os.path.join(out_dir, "fig_vs_reference.png"), baseline=ref_key, **common,
            title=f"{title}: task accuracy vs {ref_key} accuracy (cf. paper Fig. 4)")
    if gt_key and tasks and gt["n_covered"]:
        figs["vs_ground_truth"] = plots.plot_vs_baseline(
            ext, os.path.join(out_dir, "fig_vs_ground_truth.png"), baseline=gt_key, **common,
            title=f"{title}: objective accuracy vs true accuracy ({gt_key})")
    if mat["tasks"]:
        figs["spearman_matrix"] = plots.plot_spearman_matrix(
            mat["tasks"], np.asarray(mat["rho"], dtype=float), os.path.join(out_dir, "fig_spearman_matrix.png"),
            counts=np.asarray(mat["n"], dtype=int), labels=labels)
    if bom["curves"]:
        target = bom["target"]
        curve_labels = dict(labels)
        if target in bom["curves"] and not ref_key:
            curve_labels[target] = f"{objective_label(target)} (proxy = target: oracle)"
        figs["best_of_m"] = plots.plot_best_of_m(
            bom["curves"], os.path.join(out_dir, "fig_best_of_m.png"), target_label=labels.get(target, target),
            labels=curve_labels, scale=scale)
    if bom_gt and bom_gt["curves"]:
        figs["best_of_m_ground_truth"] = plots.plot_best_of_m(
            bom_gt["curves"], os.path.join(out_dir, "fig_best_of_m_ground_truth.png"), target_label=gt_key,
            labels=labels, scale=scale)
    if budget["tasks"]:
        figs["budget"] = plots.plot_budget(
            {t: b["curves"] for t, b in budget["tasks"].items()}, os.path.join(out_dir, "fig_budget.png"),
            targets=budget["targets"], labels=labels,
            title=f"{title}: ranking after each epoch vs the final target (band: bootstrap interval)")
    if any(p["rho"] is not None for p in cost["points"]):
        target_label = labels.get(cost["target"], cost["target"])
        figs["cost_frontier"] = plots.plot_cost_frontier(
            cost["points"], os.path.join(out_dir, "fig_cost_frontier.png"), target_label=target_label, labels=labels,
            title=f"{title}: cost and ranking quality vs {target_label} "
                  "(small points: a trained objective stopped after fewer epochs)")
    if result["pareto"]["tasks"]:
        figs["pareto"] = _pareto_panels(result, labels, out_dir)
    return {k: os.path.basename(v) for k, v in figs.items()}
