"""A study report as text: Markdown, and HTML with its CSS, from a report result alone (see
:mod:`unnas.study.report.document` for what the text says)."""

from __future__ import annotations

import base64
import html
import os
import re
from typing import Any, List, Mapping, Optional, Sequence

from unnas.study.report.document import report_blocks
from unnas.study.report.formatting import Block


def render_markdown(result: Mapping[str, Any]) -> str:
    """``report.md`` of a report result."""
    return to_markdown(report_blocks(result))


def render_html(result: Mapping[str, Any], image_dir: Optional[str] = None) -> str:
    """``report.html`` of a report result, its figures read from ``image_dir`` (default: the result's ``out_dir``)
    and inlined."""
    return to_html(report_blocks(result), str(result["title"]), image_dir or str(result.get("out_dir") or "."))


def _md_cell(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: Sequence[Block]) -> str:
    """Blocks as a Markdown document."""
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


CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{border-bottom:2px solid #ddd;padding-bottom:.3em}h2{margin-top:1.8em;border-bottom:1px solid #eee}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left}
th{background:#f4f4f4}tr:nth-child(even) td{background:#fafafa}img{max-width:100%;border:1px solid #eee}
code{background:#f4f4f4;padding:0 .2em}
.warning{border-left:4px solid #d98c00;background:#fff6e0;padding:.4em 1em;margin:1em 0}
"""


def to_html(blocks: Sequence[Block], title: str, image_dir: str = ".") -> str:
    """Blocks as a self-contained HTML page: the CSS inline and each image (a file in ``image_dir``) a base64 data
    URI."""
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body>"]
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
            with open(os.path.join(image_dir, blk[1]), "rb") as f:
                data = base64.b64encode(f.read()).decode("ascii")
            parts.append(f"<p><img alt=\"{html.escape(blk[2])}\" src=\"data:image/png;base64,{data}\"></p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
