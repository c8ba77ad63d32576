"""Render a :class:`~procmine.report.structure.Report` as one self-contained HTML file.

Jinja2 templates from ``templates/report/`` with autoescaping on: everything
from the log is escaped (an activity called ``<script>`` shows as text). CSS is
inline, maps are inline SVG, and the page makes no network requests. The case
section shows the rows the structure chose (``Report.cases_page``); when they are
the worst of more, the full per-case file its note names is written beside.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import pandas as pd
from markupsafe import Markup

from ..log.eventlog import write_atomic
from ..config import templates_dir
from ..messages import say
from .sections import Table
from .structure import Report


def _fmt(value, kind: str) -> str:
    try:
        if value is None or bool(pd.isna(value)):
            return "—"
    except (TypeError, ValueError):
        pass
    if kind == "pct":
        return f"{value:.1%}"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "float2":
        return f"{value:,.2f}"
    if kind == "amount":
        return f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:,.1f}"
    if kind == "days":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    if kind in ("float", "hours"):
        return f"{value:,.1f}"
    if kind == "date":
        return f"{value:%Y-%m-%d %H:%M}"
    return str(value)


def _svg(svg: str) -> Markup:
    # Graphviz wrote this SVG from escaped labels; drop anything that could run.
    cleaned = svg.replace("<script", "&lt;script")
    return Markup(cleaned)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir() / "report")),
                             autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = _fmt
    env.filters["svg"] = _svg
    return env


def render_tables_html(title: str, tables: list[Table], notes: list[str], path: str | Path,
                       empty: str = "（无）") -> Path:
    """Plain titled tables (the 督办, 好差评, 一件事 and indicator lists) as one self-contained
    page, through the same templates, escaping and value formats as the report."""
    page = _environment().get_template("tables.html.j2").render(title=title, tables=tables, notes=notes,
                                                                empty=empty)
    return write_atomic(path, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))


def render_html(report: Report, path: str | Path) -> Path:
    env = _environment()
    lang = report.lang
    severity = {say(f"report.severity.{k}", lang): k for k in ("high", "medium", "low")}
    page = env.get_template("report.html.j2").render(
        report=report,
        limit_note=lambda n, total: say("report.cases.html_limit", lang, n=f"{n:,}", total=f"{total:,}"),
        print_note=lambda n, total: say("report.cases.print_limit", lang, n=f"{n:,}", total=f"{total:,}"),
        sev_class=lambda label: severity.get(label, "low"))
    report.write_beside(report.cases_page or report.cases, path)  # first: the page names it
    return write_atomic(path, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
