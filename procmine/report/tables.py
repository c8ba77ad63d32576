"""Plain tables out: JSON, a printable workbook, or a standalone HTML page.

For the supervision, ratings and 一件事 lists (the full reports have their own
renderers). Renders only: callers pass finished tables; masking is applied by
the caller before (``procmine.privacy``)."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from ..errors import UsageError
from ..log.eventlog import write_atomic


def _cell(v):
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return v.tz_convert("Asia/Shanghai").tz_localize(None).to_pydatetime() if v.tzinfo else v.to_pydatetime()
    if hasattr(v, "item"):
        return v.item()
    return v


def _width(values) -> int:
    w = 0
    for v in values:
        s = "" if v is None else str(v)
        w = max(w, sum(2 if ord(ch) > 0x2E80 else 1 for ch in s))
    return min(max(w + 2, 6), 60)


def write_tables(output: str | Path, title: str, tables: dict[str, pd.DataFrame], data: dict | None = None,
                 notes: list[str] | None = None) -> Path:
    """Write ``tables`` to ``output`` by its suffix: .json (``data``), .xlsx or .html."""
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix == ".json":
        text = json.dumps(data if data is not None else {k: t.to_dict(orient="records") for k, t in tables.items()},
                          ensure_ascii=False, indent=2, default=str) + "\n"
        return write_atomic(output, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    if suffix == ".xlsx":
        return write_atomic(output, lambda tmp: _xlsx(tmp, title, tables, notes or []))
    if suffix in (".html", ".htm"):
        return write_atomic(output, lambda tmp: Path(tmp).write_text(_html(title, tables, notes or []),
                                                                      encoding="utf-8"))
    raise UsageError(f"cannot write {output.name}: use .json, .xlsx or .html")


def _xlsx(path: Path, title: str, tables: dict[str, pd.DataFrame], notes: list[str]) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                         "strings_to_urls": False})
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "top"})
    date = wb.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})
    for name, t in tables.items():
        ws = wb.add_worksheet(str(name)[:31])
        ws.set_landscape()
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(0)
        ws.set_header(f"&C{title}")
        ws.set_footer("&C&P / &N")
        cols = [str(c) for c in t.columns]
        rows = [[_cell(v) for v in r] for r in t.itertuples(index=False)]
        for j, c in enumerate(cols):
            w = _width([c] + [r[j] for r in rows[:2000]])
            ws.set_column(j, j, w, wrap if w >= 60 else None)
        ws.write_row(0, 0, cols, head)
        for i, r in enumerate(rows, 1):
            for j, v in enumerate(r):
                if v is None:
                    continue
                if hasattr(v, "year") and hasattr(v, "hour"):
                    ws.write_datetime(i, j, v, date)
                elif isinstance(v, str):
                    ws.write_string(i, j, v)
                else:
                    ws.write(i, j, v)
        if not rows:
            ws.write_string(1, 0, "（无）")
        if len(rows) > 15:
            ws.autofilter(0, 0, len(rows), max(len(cols) - 1, 0))
        ws.freeze_panes(1, 0)
    if notes:
        ws = wb.add_worksheet("说明")
        ws.set_column(0, 0, 100, wrap)
        for i, n in enumerate(notes):
            ws.write_string(i, 0, n)
    wb.close()


def _html(title: str, tables: dict[str, pd.DataFrame], notes: list[str]) -> str:
    e = html.escape
    parts = [f"<!doctype html><html lang='zh'><head><meta charset='utf-8'><title>{e(title)}</title>",
             "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'\">",
             "<style>body{font-family:'Noto Sans CJK SC',sans-serif;margin:2em}table{border-collapse:collapse;"
             "margin-bottom:2em}th,td{border:1px solid #bbb;padding:3px 8px;vertical-align:top}"
             "th{background:#ddebf7}@page{size:A4 landscape;margin:12mm}</style></head><body>",
             f"<h1>{e(title)}</h1>"]
    for n in notes:
        parts.append(f"<p>{e(n)}</p>")
    for name, t in tables.items():
        parts.append(f"<h2>{e(str(name))}</h2><table><thead><tr>")
        parts += [f"<th>{e(str(c))}</th>" for c in t.columns]
        parts.append("</tr></thead><tbody>")
        for r in t.itertuples(index=False):
            cells = []
            for v in r:
                v = _cell(v)
                if v is None:
                    cells.append("<td>—</td>")
                elif hasattr(v, "strftime"):
                    cells.append(f"<td>{v:%Y-%m-%d %H:%M}</td>")
                elif isinstance(v, float):
                    cells.append(f"<td>{v:.4g}</td>")
                else:
                    cells.append(f"<td>{e(str(v))}</td>")
            parts.append("<tr>" + "".join(cells) + "</tr>")
        if not len(t):
            parts.append(f"<tr><td colspan='{max(len(t.columns), 1)}'>（无）</td></tr>")
        parts.append("</tbody></table>")
    parts.append("</body></html>")
    return "".join(parts)
