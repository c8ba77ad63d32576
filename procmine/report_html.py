"""Render a :class:`~procmine.report.Report` as one self-contained HTML file.

Jinja2 templates from ``templates/report/`` with autoescaping on: everything
from the log is escaped (an activity called ``<script>`` shows as text). CSS is
inline, maps are inline SVG, and the page makes no network requests.
"""

from __future__ import annotations

import math
from pathlib import Path

import jinja2
from markupsafe import Markup

from .eventlog import write_atomic
from .mapping import templates_dir
from .report import Report

MAX_CASE_ROWS = 5000


def _fmt(value, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if kind == "pct":
        return f"{value:.1%}"
    if kind == "int":
        return f"{int(value):,}"
    if kind in ("float", "hours"):
        return f"{value:,.1f}"
    if kind == "date":
        return f"{value:%Y-%m-%d %H:%M}"
    return str(value)


def _svg(svg: str) -> Markup:
    # Graphviz wrote this SVG from escaped labels; drop anything that could run.
    cleaned = svg.replace("<script", "&lt;script")
    return Markup(cleaned)


def render_html(report: Report, path: str | Path) -> Path:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir() / "report")),
                             autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = _fmt
    env.filters["svg"] = _svg
    page = env.get_template("report.html.j2").render(report=report, max_case_rows=MAX_CASE_ROWS)
    return write_atomic(path, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
