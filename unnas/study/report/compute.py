"""Every number of a study report, from the run records: :func:`compute_report` gives a plain, JSON-able dict
(the content of ``correlations.json``, docs/report.md) and writes nothing."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

import numpy as np

from pretext_tasks.registry import order_objectives
from unnas.study.report.sections import (
    angle_section,
    arch_sizes,
    architecture_table,
    best_of_m_block,
    budget_section,
    cost_section,
    finite_map,
    noise_section,
    pareto_section,
    rank_value,
    small_n_warnings,
    table_scores_section,
    task_summary,
)
from unnas.study.report.settings import BEST_OF_M_SEED, SIZE_FIELDS, ReportSettings
from unnas.study.stats import (
    MIN_N,
    SMALL_N,
    common_archs,
    compare,
    mean_over_seeds,
    pairwise_table,
    ranker_tasks,
    score_tasks,
    seed_counts,
    seed_std,
    spearman_matrix,
)

Table = Dict[str, Dict[str, float]]
Scores = Mapping[str, Mapping[str, Optional[float]]]


@dataclass
class _Study:
    """The per-task accuracies of the records and what the report compares them with."""

    records: List[Dict[str, Any]]
    settings: ReportSettings
    table: Table  # task -> arch -> mean over seeds
    tasks: List[str]  # the tasks of the records, in display order
    rankers: List[str]  # the tasks that are training-free ranker scores
    scored: List[str]  # the tasks whose values are scores, not accuracies: the rankers, and those ranked by the angle
    scale: float  # 100 for accuracies in [0, 1], 1 for percent
    n_dropped: int
    notes: List[str]
    ext: Table = field(default_factory=dict)  # table, the reference and the ground truth
    ref_key: Optional[str] = None
    gt_key: Optional[str] = None
    gt: Optional[Dict[str, float]] = None
    gt_info: Optional[Dict[str, Any]] = None

    @property
    def has_supervised(self) -> bool:
        return self.settings.supervised in self.table


def jsonable(obj: Any) -> Any:
    """numpy scalars/arrays to Python, NaN/inf to None (strict JSON)."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def _study(records: List[Dict[str, Any]], settings: ReportSettings) -> _Study:
    """The per-task accuracies, the tasks in order, the display scale and the notes about the records."""
    table = mean_over_seeds(records)
    notes: List[str] = []
    rankers = [t for t in ranker_tasks(records) if t in table]
    scored = [t for t in score_tasks(records) if t in table]
    n_dropped = sum(1 for r in records if rank_value(r) is None)
    if n_dropped:
        notes.append(f"{n_dropped} record(s) without a finite rank value (best_acc, or their rank_metric) were "
                     "left out.")
    # scores (a ranker's, an angle) are any real number: only the accuracies decide whether they are fractions
    all_vals = [v for t, per in table.items() if t not in scored for v in per.values()]
    scale = 100.0 if all(v <= 1.0 + 1e-9 for v in all_vals) else 1.0
    if scale == 1.0:
        notes.append("Some accuracies exceed 1, so all are taken to be in percent already.")
    if not records or not table:
        notes.append("No usable records: nothing to compare.")
    if settings.supervised not in table:
        notes.append(f"No '{settings.supervised}' results: the correlations with supervised accuracy (Fig. 2) are "
                     "left out; only the pairs of the objectives present are compared.")
    return _Study(records=records, settings=settings, table=table, tasks=order_objectives(table), rankers=rankers,
                  scored=order_objectives(scored), scale=scale, n_dropped=n_dropped, notes=notes, ext=dict(table))


def _add_reference(st: _Study, reference: Mapping[str, float]) -> None:
    """The reference accuracies join ``st.ext`` under a name no task has (converted from percent to match)."""
    name = st.settings.reference_name
    st.ref_key = name if name not in st.table else f"{name} (reference)"
    ref = {str(a): float(v) for a, v in reference.items() if v is not None and math.isfinite(float(v))}
    if st.scale == 100.0 and ref and max(ref.values()) > 1.0 + 1e-9:
        ref = {a: v / 100.0 for a, v in ref.items()}
        st.notes.append("Reference accuracies look like percent; divided by 100 to match the records.")
    st.ext[st.ref_key] = ref


def _add_ground_truth(st: _Study, ground_truth: Scores) -> None:
    """The known true accuracies join ``st.ext`` under a name no task or reference has, with how many of the
    study's architectures they cover and a note saying so."""
    name = st.settings.ground_truth_name
    gt_key = name if name not in st.table and name != st.ref_key else f"{name} (ground truth)"
    gt = finite_map(ground_truth)
    converted = bool(st.scale == 100.0 and gt and max(gt.values()) > 1.0 + 1e-9)
    if converted:
        gt = {a: v / 100.0 for a, v in gt.items()}
    st.ext[gt_key] = gt
    study_archs = sorted({a for t in st.table.values() for a in t})
    covered = [a for a in study_archs if a in gt]
    st.gt_key, st.gt = gt_key, gt
    st.gt_info = {"name": gt_key, "n_given": len(gt), "n_study_archs": len(study_archs), "n_covered": len(covered),
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
    elif (st.settings.common == "all"
          and len(common_archs(st.ext, st.tasks + [gt_key])) < len(common_archs(st.table, st.tasks))):
        note += (" With common='all', the ground-truth comparisons and the Spearman matrix use only the "
                 "architectures that all tasks share and the ground truth covers.")
    st.notes.append(note)


def _rows_against(st: _Study, key: Optional[str], kind: str) -> List[Dict[str, Any]]:
    """Every task compared with ``key`` (the reference or the ground truth) as x."""
    if not key:
        return []
    archs = common_archs(st.ext, st.tasks + [key]) if st.settings.common == "all" else None
    return [{"kind": kind, **compare(st.ext, key, t, archs=archs, **st.settings.compare_kw())} for t in st.tasks]


def _complexity_rows(st: _Study) -> List[Dict[str, Any]]:
    """Model size as a trivial proxy: does the size of the supervised network alone rank the archs like the
    supervised accuracy?"""
    supervised = st.settings.supervised
    if not st.has_supervised:
        return []
    rows = []
    sup_records = [r for r in st.records if str(r["task"]) == supervised]
    for size in SIZE_FIELDS:
        vals = mean_over_seeds([r for r in sup_records if r.get(size) is not None], metric=size)
        if vals.get(supervised):
            row = compare({supervised: st.table[supervised], size: vals[supervised]}, supervised, size,
                          **st.settings.compare_kw())
            rows.append({"kind": "complexity", **row})
    return rows


def _best_of_m(st: _Study) -> Tuple[Dict[str, Any], Optional[Dict[str, Any]]]:
    """The Fig. 5 experiment against the reference (else supervised) and, without a reference, against the ground
    truth."""
    supervised, common = st.settings.supervised, st.settings.common
    target = st.ref_key or (supervised if st.has_supervised else None)
    bom = best_of_m_block(st.ext, st.tasks, target, common,
                          no_target=f"no target: neither a reference nor '{supervised}' results")
    bom_gt = best_of_m_block(st.ext, st.tasks, st.gt_key, common) if st.gt_key and not st.ref_key else None
    return bom, bom_gt


def _settings_dict(st: _Study) -> Dict[str, Any]:
    s = st.settings
    return {"n_boot": s.n_boot, "seed": s.seed, "ci": s.ci, "top_k": list(s.ks), "common": s.common,
            "best_of_m_seed": BEST_OF_M_SEED, "min_n": MIN_N, "small_n": SMALL_N,
            "accuracy_scale_for_display": st.scale}


def compute_report(records: Iterable[Mapping[str, Any]], settings: ReportSettings = ReportSettings(), *,
                   reference: Optional[Mapping[str, float]] = None, ground_truth: Optional[Scores] = None,
                   table_scores: Optional[Scores] = None) -> Dict[str, Any]:
    """Every statistic of the study as a JSON-able dict: the content of ``correlations.json`` without ``out_dir``
    and ``files`` (what :func:`~unnas.study.report.files.build_report` adds). The arguments are those of
    ``build_report``, the settings grouped in ``settings``."""
    st = _study([dict(r) for r in records], settings)
    if reference:
        _add_reference(st, reference)
    if ground_truth is not None:
        _add_ground_truth(st, ground_truth)
    supervised, tasks = settings.supervised, st.tasks

    rows = pairwise_table(st.table, baseline=supervised, tasks=tasks, common=settings.common,
                          **settings.compare_kw())
    ref_rows = _rows_against(st, st.ref_key, "vs_reference")
    gt_rows = _rows_against(st, st.gt_key, "vs_ground_truth")
    complexity_rows = _complexity_rows(st)
    mat_tasks = tasks + ([st.ref_key] if st.ref_key else []) + ([st.gt_key] if st.gt_key else [])
    mt, rho, mcount = spearman_matrix(st.ext, mat_tasks, common=settings.common)
    bom, bom_gt = _best_of_m(st)

    budget = budget_section(st.records, tasks, st.rankers, st.table, supervised if st.has_supervised else None,
                            st.gt_key, st.gt, settings)
    noise = noise_section(st.records, tasks, rows, gt_rows, supervised, st.gt_key, settings)
    cost_target = st.gt_key if st.gt_key else (supervised if st.has_supervised else None)
    cost = cost_section(st.records, tasks, rows, gt_rows, budget, cost_target, supervised)
    scores_block = (table_scores_section(st.table, table_scores, settings.table_scores_name, st.gt, settings)
                    if table_scores is not None else None)
    arch_table = architecture_table(st.records, st.table, tasks, supervised, st.gt)
    pareto = pareto_section(st.table, tasks, st.scored, arch_sizes(arch_table, "macs"), st.gt, st.gt_key)

    angle = angle_section(st.records, tasks, st.rankers, st.gt_key, st.gt, settings)

    counts, stds = seed_counts(st.records), seed_std(st.records)
    summary = {t: task_summary(t, st.records, st.table[t], counts[t], stds.get(t, {})) for t in tasks}
    return jsonable({
        "title": settings.title,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": _settings_dict(st),
        "tasks": tasks, "ranker_tasks": st.rankers, "score_tasks": st.scored,
        "supervised": supervised if st.has_supervised else None,
        "reference": st.ref_key, "ground_truth": st.gt_info,
        "n_records": len(st.records), "n_dropped": st.n_dropped, "n_common_all": len(common_archs(st.table, tasks)),
        "summary": summary, "small_n": small_n_warnings(rows + ref_rows + gt_rows + complexity_rows, summary),
        "correlations": rows, "reference_correlations": ref_rows, "complexity_correlations": complexity_rows,
        "ground_truth_correlations": gt_rows, "weight_angle": angle,
        "spearman_matrix": {"tasks": mt, "rho": rho, "n": mcount},
        "best_of_m": bom, "best_of_m_ground_truth": bom_gt,
        "budget": budget, "noise": noise, "cost": cost, "table_scores": scores_block, "pareto": pareto,
        "architectures": arch_table,
        "notes": st.notes,
        "accuracy": {"mean_over_seeds": st.ext, "seed_counts": counts},
    })
