"""The study report's text from a fixed result dict alone: no records, no statistics, no files."""

import copy

import pytest

from unnas.errors import UserError
from unnas.study.report import ReportSettings, render_html, render_markdown


def _stat(value, low=None, high=None):
    return {"value": value, "ci_low": low, "ci_high": high, "p_value": 0.00123 if value is not None else None}


def result():
    """A hand-made report result: two trained objectives over three architectures, one of them anti-correlated."""
    row = {"kind": "vs_baseline", "x": "supervised", "y": "random_labels", "n": 3, "computable": True, "reason": None,
           "small_n": True, "spearman": _stat(0.8123, 0.5167, 0.9749), "kendall": _stat(2 / 3),
           "pearson": _stat(-0.25, -0.9, 0.5), "top_k": {"top-1": {"overlap": 1.0, "chance": 1 / 3}},
           "top_k_left_out": {"top-2": 2}}
    summary = {"n_archs": 3, "n_runs": 6, "n_dropped": 0, "seeds": [1, 2], "seeds_per_arch_min": 2,
               "seeds_per_arch_max": 2, "acc_min": 0.9012, "acc_median": 0.91, "acc_max": 0.93, "acc_mean": 0.914,
               "acc_spread": 0.0288, "seed_std_mean": 0.004, "n_archs_multi_seed": 3, "seed_std_df": 3,
               "seed_std_small_n": True, "wall_time_min": 1234.5, "wall_time_min_per_run": 2.25,
               "params_median": 7e5, "is_score": False, "rank_metric": ["best_acc"]}
    archs = ["a|1", "b<2>", "c"]
    rows = [[a, 0.90 + i / 100, 0.91 + i / 100, 0.905 + i / 100, i + 1, 0.2, 0.2, 0.2, 1, 700000 + i, 110e6]
            for i, a in enumerate(archs)]
    return {
        "title": "Study <A&B>", "created": "2000-01-01T00:00:00+00:00",
        "settings": {"n_boot": 20, "seed": 0, "ci": 0.95, "top_k": [1, 2], "common": "pair", "best_of_m_seed": 2,
                     "min_n": 3, "small_n": 10, "accuracy_scale_for_display": 100.0},
        "tasks": ["supervised", "random_labels"], "ranker_tasks": [], "supervised": "supervised",
        "reference": None, "ground_truth": None, "n_records": 12, "n_dropped": 0, "n_common_all": 3,
        "summary": {"supervised": summary, "random_labels": dict(summary, acc_min=0.1)},
        "small_n": {"threshold": 10, "any": True, "n_values": [3], "seed_std_tasks": ["supervised"],
                    "warnings": ["n = 3: intervals are not meaningful (fewer than 10 architectures)"]},
        "correlations": [row], "reference_correlations": [], "complexity_correlations": [],
        "ground_truth_correlations": [],
        "spearman_matrix": {"tasks": ["supervised", "random_labels"], "rho": [[1.0, 0.8123], [0.8123, None]],
                            "n": [[3, 3], [3, 3]]},
        "best_of_m": {"target": "supervised", "seed": 2, "skipped": {}, "curves": {
            "random_labels": {"n": 3, "ms": [1, 2], "mean": [0.91, 0.92], "std": [0.01, 0.005],
                              "expected": [0.905, 0.915], "n_draws": [3, 2], "oracle": 0.93, "random": 0.905}}},
        "best_of_m_ground_truth": None,
        "budget": {"targets": [], "tasks": {}}, "noise": {"tasks": {}, "corrected": []},
        "cost": {"target": "supervised", "tasks": {}, "points": []}, "table_scores": None,
        "pareto": {"n_archs_with_macs": 0, "truth": None, "tasks": {}, "left_out": {}},
        "architectures": {"columns": ["arch", "supervised s1", "supervised s2", "supervised mean", "supervised rank",
                                      "random_labels s1", "random_labels s2", "random_labels mean",
                                      "random_labels rank", "params", "macs"],
                          "rows": rows, "n": 3, "sorted_by": "supervised mean",
                          "seeds": {"supervised": [1, 2], "random_labels": [1, 2]}},
        "notes": ["Some *note* with `code`."],
        "accuracy": {"mean_over_seeds": {}, "seed_counts": {}},
        "files": {"plots": {}},
    }


def test_markdown_from_a_fixed_result():
    md = render_markdown(result())
    lines = md.splitlines()
    assert lines[0] == "# Study <A&B>"
    for heading in ("## Notes", "## Runs per objective", "## Objectives vs supervised accuracy (paper Fig. 2)",
                    "## Spearman ρ between all objectives", "## Best of m random architectures (paper Fig. 5)",
                    "## Architectures", "## How computed"):
        assert heading in lines
    assert "## Budget: the ranking after each epoch" not in lines  # a section the result lacks is left out
    # labels from the objective registry; numbers formatted; a † marks the small n
    corr = "| Random labels | 3 † | 0.81 [0.52, 0.97] | 0.67 | -0.25 [-0.90, 0.50] | 1.2e-03 | 1.00 (chance 0.33) |"
    assert corr in lines
    assert "| Supervised | 3 | 6 | 1, 2 | 2 | 90.12 / 91.00 / 93.00 | 2.88 | 0.40 (3 archs) † | 1,234 | 2.2 |" in lines
    assert "| Random labels | 0.81 | n/a |" in lines  # the Spearman matrix, None as n/a
    assert "| 2 (log2 1) | 92.00 ± 1.00 [91.50] |" in lines
    assert "| a\\|1 | 90.00 | 91.00 | 90.50 (1) |" in md  # a | in a cell is escaped
    assert "top-2 left out: k > n/2 (n = 3)." in md
    assert "> **Warning: too few samples for some statistics.**" in lines
    assert not any(".png" in line for line in lines)  # no figures in the result: no images


def test_html_from_a_fixed_result_escapes_and_styles():
    page = render_html(result())
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<title>Study &lt;A&amp;B&gt;</title>" in page and "<h1>Study &lt;A&amp;B&gt;</h1>" in page
    assert "<td>b&lt;2&gt;</td>" in page and "<b<2>" not in page
    assert "<li>Some <em>note</em> with <code>code</code>.</li>" in page
    assert "<style>" in page and ".warning{" in page and '<div class="warning">' in page
    assert "<td>0.81 [0.52, 0.97]</td>" in page


def test_percent_accuracies_are_not_scaled_again():
    res = result()
    res["settings"]["accuracy_scale_for_display"] = 1.0
    res["summary"]["supervised"] = dict(res["summary"]["supervised"], acc_min=90.12, acc_median=91.0, acc_max=93.0)
    assert "| 90.12 / 91.00 / 93.00 |" in render_markdown(res)


def test_rendering_does_not_change_the_result():
    res = result()
    before = copy.deepcopy(res)
    render_markdown(res), render_html(res)
    assert res == before


def test_settings_name_a_bad_common_in_one_line():
    with pytest.raises(UserError, match="common must be 'pair' or 'all'"):
        ReportSettings(common="some")
    assert ReportSettings(ks=[5, 0.2]).ks == (5, 0.2)


def test_a_scatter_legend_covers_none_of_the_points():
    """The objective-vs-supervised panels put their legend where it hides no point (here: points in the upper
    left, where a fixed upper-left legend covered them)."""
    import numpy as np

    from unnas.study.plots import vs_baseline_figure

    rng = np.random.default_rng(0)
    archs = [f"a{i}" for i in range(30)]
    x = rng.uniform(0.80, 0.82, len(archs))
    y = 0.96 - 0.5 * (x - 0.80)  # falling: the upper left is full of points
    table = {"supervised": dict(zip(archs, x)), "rotation": dict(zip(archs, y))}
    fig = vs_baseline_figure(table, tasks=["supervised", "rotation"])
    fig.canvas.draw()
    ax = next(a for a in fig.axes if a.get_legend() is not None)
    box = ax.get_legend().get_window_extent()
    points = ax.transData.transform(np.column_stack([x * 100, y * 100]))
    inside = [(px, py) for px, py in points if box.x0 <= px <= box.x1 and box.y0 <= py <= box.y1]
    assert inside == []


def test_a_one_epoch_budget_plot_has_integer_epoch_ticks():
    from unnas.study.plots import budget_figure

    budget = {"rotation": {"supervised": [{"epoch": 0, "rho": 0.5, "ci_low": 0.2, "ci_high": 0.7}]}}
    fig = budget_figure(budget, ["supervised"])
    fig.canvas.draw()
    ticks = fig.axes[0].get_xticks()
    assert len(ticks) and all(float(t).is_integer() for t in ticks)
