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
from markupsafe import Markup, escape

from ..log.eventlog import write_atomic
from ..config import templates_dir
from ..messages import say
from .sections import Table, Trend
from .structure import Report


def _fmt(value, kind: str) -> str:
    try:
        if value is None or bool(pd.isna(value)):
            return "—"
    except (TypeError, ValueError):
        pass
    if kind == "pct":
        text = f"{value:.1%}"
        return "0.0%" if text == "-0.0%" else text  # a change that rounds to nothing has no sign
    if kind == "int":
        return f"{int(value):,}"
    if kind == "float2":
        return f"{value:,.2f}"
    if kind == "amount":
        return f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:,.1f}"
    if kind == "days":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    if kind in ("float", "hours"):
        text = f"{value:,.1f}"
        return "0.0" if text == "-0.0" else text
    if kind == "date":
        return f"{value:%Y-%m-%d %H:%M}"
    return str(value)


def _cells(row: list, table: Table, ri: int) -> Markup:
    """One row's cells of a table (a case table has thousands of rows: written here, not cell by
    cell in the template): missing as —, text escaped (a long-text column's class ``long``),
    numbers formatted by the cell's format."""
    wrap = set(table.wrap)
    formats = None if table.row_formats else table.formats
    out = []
    for i, v in enumerate(row):
        f = formats[i] if formats else table.format_of(ri, i)
        if v is None:
            out.append('<td class="missing">—</td>')
        elif f == "text":
            out.append(f'<td class="{"long" if i in wrap else "text"}">{escape(v)}</td>')
        else:
            out.append(f'<td class="num">{escape(_fmt(v, f))}</td>')
    return Markup("".join(out))


def _svg(svg: str) -> Markup:
    # Graphviz wrote this SVG from escaped labels; drop anything that could run.
    cleaned = svg.replace("<script", "&lt;script")
    return Markup(cleaned)


TREND_COLOURS = ["#305496", "#c2410c", "#047857"]
TREND_W, TREND_H = 960, 340
TREND_MARGIN = {"left": 52, "right": 24, "top": 62, "bottom": 52}
TREND_LABELS = 14  # at most this many months named on the axis and valued at their points


def _text_px(text: str, size: float) -> float:
    """About how wide ``text`` is at ``size`` px: a full-width (CJK) character one em, others 0.55."""
    import unicodedata

    return sum(size if unicodedata.east_asian_width(ch) in "WF" else 0.55 * size for ch in text)


def trend_svg(trend: Trend) -> Markup:
    """The monthly trend as an inline SVG line chart (0–100 %), laid out from the structure:
    a provisional month's point hollow, the line into or out of it dashed, its axis label
    followed by the provisional label underneath; every text escaped."""
    n = len(trend.months)
    left, top = TREND_MARGIN["left"], TREND_MARGIN["top"]
    pw = TREND_W - left - TREND_MARGIN["right"]
    ph = TREND_H - top - TREND_MARGIN["bottom"]

    def x(i: int) -> float:
        return left + pw * (i + 0.5) / max(n, 1)

    def y(v: float) -> float:
        return top + ph * (1 - max(0.0, min(1.0, float(v))))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {TREND_W} {TREND_H}" class="trend" role="img" '
           f'aria-label="{escape(trend.title)}" font-size="12" font-family="inherit">']
    for k in range(5):  # grid: 0, 25, 50, 75, 100 %
        gy = y(k / 4)
        out.append(f'<line x1="{left}" y1="{gy:.1f}" x2="{left + pw}" y2="{gy:.1f}" stroke="#e5e7eb"/>')
        out.append(f'<text x="{left - 6}" y="{gy + 4:.1f}" text-anchor="end" fill="#6b7280">{k * 25}%</text>')
    step = -(-n // TREND_LABELS)  # many months: every step-th month named, every value of the last one
    for i, month in enumerate(trend.months):
        if i % step == 0 or i == n - 1:
            out.append(f'<text x="{x(i):.1f}" y="{top + ph + 18}" text-anchor="middle" fill="#1f2937">'
                       f'{escape(month)}</text>')
        if trend.provisional[i]:
            out.append(f'<text x="{x(i):.1f}" y="{top + ph + 34}" text-anchor="middle" fill="#b45309" '
                       f'font-weight="700">{escape(trend.provisional_label)}</text>')
    # legend: one item per line, then what a hollow point means
    lx = left
    for j, line in enumerate(trend.lines):
        c = TREND_COLOURS[j % len(TREND_COLOURS)]
        out.append(f'<line x1="{lx}" y1="16" x2="{lx + 26}" y2="16" stroke="{c}" stroke-width="2.5"/>'
                   f'<circle cx="{lx + 13}" cy="16" r="4" fill="{c}"/>'
                   f'<text x="{lx + 32}" y="20" fill="#1f2937" font-size="13">{escape(line.label)}</text>')
        lx += 32 + _text_px(line.label, 13) + 28
    out.append(f'<circle cx="{left + 13}" cy="38" r="4" fill="#fff" stroke="#6b7280" stroke-width="2"/>'
               f'<line x1="{left}" y1="38" x2="{left + 8}" y2="38" stroke="#6b7280" stroke-width="2" stroke-dasharray="3 2"/>'
               f'<line x1="{left + 18}" y1="38" x2="{left + 26}" y2="38" stroke="#6b7280" stroke-width="2" stroke-dasharray="3 2"/>'
               f'<text x="{left + 32}" y="42" fill="#6b7280">{escape(trend.provisional_legend)}</text>')
    for j, line in enumerate(trend.lines):
        c = TREND_COLOURS[j % len(TREND_COLOURS)]
        vals = line.values
        for i in range(n - 1):
            if vals[i] is None or vals[i + 1] is None:
                continue
            dash = ' stroke-dasharray="6 4"' if trend.provisional[i] or trend.provisional[i + 1] else ""
            out.append(f'<line x1="{x(i):.1f}" y1="{y(vals[i]):.1f}" x2="{x(i + 1):.1f}" y2="{y(vals[i + 1]):.1f}" '
                       f'stroke="{c}" stroke-width="2.5"{dash}/>')
        for i, v in enumerate(vals):
            if v is None:
                continue
            others = [o.values[i] for o in trend.lines if o is not line and o.values[i] is not None]
            above = all(v >= o for o in others)
            ty = y(v) - 10 if above else y(v) + 20
            fill = "#fff" if trend.provisional[i] else c
            out.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="4.5" fill="{fill}" stroke="{c}" stroke-width="2"/>')
            if n <= TREND_LABELS or i in (0, n - 1):
                out.append(f'<text x="{x(i):.1f}" y="{ty:.1f}" text-anchor="middle" fill="{c}">{escape(_fmt(v, "pct"))}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir() / "report")),
                             autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = _fmt
    env.filters["svg"] = _svg
    env.filters["trend_svg"] = trend_svg
    env.globals["cells"] = _cells
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
