"""The files of a study report: :func:`build_report` computes the numbers (:mod:`~unnas.study.report.compute`),
draws the figures (:mod:`~unnas.study.report.figures`), renders the text (:mod:`~unnas.study.report.render`) and
writes them all into one folder."""

from __future__ import annotations

import csv
import json
import math
import os
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Union

from unnas.errors import UserError
from unnas.study.report.compute import compute_report
from unnas.study.report.figures import write_figures
from unnas.study.report.render import render_html, render_markdown
from unnas.study.report.settings import ReportSettings
from unnas.study.stats import DEFAULT_TOP_K, SUPERVISED

FILES = {"report_md": "report.md", "report_html": "report.html", "correlations_json": "correlations.json",
         "architectures_csv": "architectures.csv"}


class ReferenceFileError(UserError, ValueError):
    """A ``--reference`` file that cannot be read as ``{arch: accuracy}``."""


def read_reference(path: str) -> Dict[str, Optional[float]]:
    """The reference accuracies of ``unnas study report --reference``: a JSON object ``{arch id: accuracy}``, each
    accuracy a number (or a numeric string), or null where it is unknown; :class:`ReferenceFileError` (one line)
    for a file that is missing, not JSON, or not of that shape."""
    shape = 'give a JSON object {"arch id": accuracy, ...}, e.g. {"unnas500/00004": 74.1}'

    def bad(problem: str) -> ReferenceFileError:
        return ReferenceFileError(f"--reference {path}: {problem}; {shape}")

    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise bad(f"cannot read it ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise bad(f"not UTF-8 text ({e.reason})") from None
    except json.JSONDecodeError as e:
        raise bad(f"not JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except RecursionError:
        raise bad("nested too deeply") from None
    if not isinstance(data, dict):
        raise bad(f"it holds a JSON {type(data).__name__}, not an object")
    out: Dict[str, Optional[float]] = {}
    for arch, value in data.items():
        try:
            if isinstance(value, bool) or not isinstance(value, (int, float, str, type(None))):
                raise TypeError
            out[str(arch)] = None if value is None else float(value)
        except (TypeError, ValueError):
            raise bad(f"the accuracy of {arch!r} is {json.dumps(value)[:60]}, not a number") from None
    if not any(v is not None for v in out.values()):
        raise bad("it holds no accuracy")
    return out


def write_csv(path: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A table as CSV: None and non-finite numbers as empty cells, floats with 10 significant digits."""
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


def write_report(result: Dict[str, Any], out_dir: str, figures: bool = True) -> Dict[str, Any]:
    """Write a :func:`~unnas.study.report.compute.compute_report` result into ``out_dir``: ``architectures.csv``,
    the figures (unless ``figures=False``), ``report.md``, ``report.html`` and ``correlations.json``. Returns the
    result with ``out_dir`` and ``files`` (the outputs relative to ``out_dir``) added."""
    os.makedirs(out_dir, exist_ok=True)
    arch = result["architectures"]
    write_csv(os.path.join(out_dir, FILES["architectures_csv"]), arch["columns"], arch["rows"])
    plots = write_figures(result, out_dir) if figures else {}
    result["out_dir"] = os.path.abspath(out_dir)
    result["files"] = {**FILES, "plots": plots}
    with open(os.path.join(out_dir, FILES["report_md"]), "w") as f:
        f.write(render_markdown(result))
    with open(os.path.join(out_dir, FILES["report_html"]), "w") as f:
        f.write(render_html(result, out_dir))
    with open(os.path.join(out_dir, FILES["correlations_json"]), "w") as f:
        json.dump(result, f, indent=1, allow_nan=False)
    return result


def build_report(records: Iterable[Mapping[str, Any]], out_dir: str,
                 reference: Optional[Mapping[str, float]] = None, title: str = "UnNAS sample-based study",
                 n_boot: int = 1000, *, supervised: str = SUPERVISED, reference_name: str = "reference",
                 seed: int = 0, ci: float = 0.95, ks: Sequence[Union[int, float]] = DEFAULT_TOP_K,
                 common: str = "pair", figures: bool = True,
                 ground_truth: Optional[Mapping[str, Optional[float]]] = None,
                 ground_truth_name: str = "ground truth",
                 table_scores: Optional[Mapping[str, Mapping[str, Optional[float]]]] = None,
                 table_scores_name: str = "benchmark",
                 settings: Optional[ReportSettings] = None) -> Dict[str, Any]:
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
    ``settings``: all of these settings at once (a :class:`ReportSettings`; it replaces the keywords).

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
    if settings is None:
        settings = ReportSettings(title=title, n_boot=n_boot, seed=seed, ci=ci, ks=tuple(ks), common=common,
                                  supervised=supervised, reference_name=reference_name,
                                  ground_truth_name=ground_truth_name, table_scores_name=table_scores_name,
                                  figures=figures)
    result = compute_report(records, settings, reference=reference, ground_truth=ground_truth,
                            table_scores=table_scores)
    return write_report(result, out_dir, figures=settings.figures)
