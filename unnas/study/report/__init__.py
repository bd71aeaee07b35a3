"""The report of the sample-based study: tables, figures and machine-readable numbers from the run records.

``build_report(records, out_dir)`` writes ``report.md``, a self-contained ``report.html`` (images inlined as
base64 data URIs), the PNG figures, ``architectures.csv`` and ``correlations.json``; ``log_report_to_wandb``
sends the same tables and figures to a wandb run. What is computed and how is in docs/report.md.

The modules, each depending only on those listed before it:

- :mod:`~unnas.study.report.settings`: :class:`ReportSettings` and the constants the sections share;
- :mod:`~unnas.study.report.sections` and :mod:`~unnas.study.report.compute`: the numbers, a plain JSON-able
  dict (:func:`compute_report`), no files;
- :mod:`~unnas.study.report.formatting`, :mod:`~unnas.study.report.document_sections`,
  :mod:`~unnas.study.report.document` and :mod:`~unnas.study.report.render`: Markdown and HTML from that dict
  alone (:func:`render_markdown`, :func:`render_html`);
- :mod:`~unnas.study.report.figures`: the PNGs (:mod:`unnas.study.plots`);
- :mod:`~unnas.study.report.files`: :func:`build_report`, which computes, draws, renders and writes;
- :mod:`~unnas.study.report.wandb_upload`: the optional wandb upload.

Objective labels and order come from :mod:`pretext_tasks.registry` (whose first call imports the objectives, and
with them torch); nothing else here needs torch or lightning.
"""

from unnas.study.report.compute import compute_report, jsonable
from unnas.study.report.files import build_report, write_csv, write_report
from unnas.study.report.figures import write_figures
from unnas.study.report.render import render_html, render_markdown, to_html, to_markdown
from unnas.study.report.settings import (ARCH_ROWS_ALL, ARCH_ROWS_EDGE, BEST_OF_M_SEED, GROUND_TRUTH_COLUMN,
                                         SIZE_FIELDS, SIZE_RANKERS, ReportSettings)
from unnas.study.report.wandb_upload import TABLE_SCORE_COMPARISONS, log_report_to_wandb, section_tables

__all__ = ["build_report", "compute_report", "write_report", "write_figures", "write_csv", "jsonable",
           "render_markdown", "render_html", "to_markdown", "to_html", "ReportSettings", "section_tables",
           "log_report_to_wandb", "TABLE_SCORE_COMPARISONS", "BEST_OF_M_SEED", "ARCH_ROWS_ALL", "ARCH_ROWS_EDGE",
           "SIZE_FIELDS", "SIZE_RANKERS", "GROUND_TRUTH_COLUMN"]
