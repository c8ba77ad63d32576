"""Render a :class:`~procmine.report.structure.Report` as an Excel workbook.

Lays out only: headers, widths (full-width characters count double), wrapped
long-text columns, number formats, frozen header rows, a print set-up on every
sheet (A4 landscape, one page wide, repeated header rows, the title in the page
header and page numbers in the footer), native bar charts and the map pictures.
Written with XlsxWriter in constant-memory (streaming) mode with
``strings_to_formulas`` off, so text from the log (``=…``, ``+…``, ``@…``) is
always text, never a formula.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import xlsxwriter

from ..log.eventlog import write_atomic
from .structure import Report, Table

NUMBER_FORMATS = {"int": "#,##0", "amount": "#,##0", "float": "#,##0.0", "float2": "0.00", "pct": "0.0%", "hours": "#,##0.0",
                  "days": "#,##0", "date": "yyyy-mm-dd hh:mm"}
WRAP_WIDTH = 44        # a wrapped long-text column is at most this wide (characters; CJK count 2)
TEXT_WIDTH = 24        # any other text column
AUTOFILTER_MIN_ROWS = 20
MAP_WIDTH_PX, MAP_HEIGHT_PX = 900, 560  # a map picture scaled to one A4 landscape page of the 流程图 sheet
SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def text_width(value) -> float:
    """Display width: full-width (CJK) characters count double."""
    if value is None:
        return 0
    text = f"{value:,.1f}" if isinstance(value, float) else str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text[:200])


def _missing(value) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _lines(text: str, width: float) -> int:
    return max(1, math.ceil(text_width(text) / max(width, 1)))


class _Book:
    def __init__(self, path: Path, report: Report) -> None:
        self.report = report
        self.wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                                  "strings_to_numbers": False, "strings_to_urls": False})
        add = self.wb.add_format
        self.header = add({"bold": True, "font_color": "#FFFFFF", "bg_color": "#305496", "border": 1,
                           "text_wrap": True, "valign": "top"})
        self.title = add({"bold": True, "font_size": 14})
        self.sub = add({"bold": True, "font_size": 12, "font_color": "#305496"})
        self.dim = add({"bold": True, "font_color": "#305496", "valign": "top"})
        self.note = add({"italic": True, "font_color": "#595959", "text_wrap": True, "valign": "top"})
        self.action = add({"font_size": 12, "text_wrap": True, "valign": "top"})
        self.wrap = add({"text_wrap": True, "valign": "top"})
        self.top = add({"valign": "top"})
        self.formats = {k: add({"num_format": v, "valign": "top"}) for k, v in NUMBER_FORMATS.items()}
        self.days_frac = add({"num_format": "#,##0.0", "valign": "top"})
        self.bad = {k: add({"num_format": v, "font_color": "#B91C1C", "bold": True, "valign": "top"})
                    for k, v in NUMBER_FORMATS.items()}
        self.bad_frac = add({"num_format": "#,##0.0", "font_color": "#B91C1C", "bold": True})
        self.dash = add({"font_color": "#9CA3AF", "align": "right", "valign": "top"})

    def sheet(self, name: str, rows_hint: int = 0):
        ws = self.wb.add_worksheet(SHEET_BAD.sub("_", name)[:31])
        ws.set_landscape()
        ws.set_paper(9)  # A4
        ws.fit_to_pages(1, 0)  # one page wide, as many tall as needed
        ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
        title = self.report.title.replace("&", "&&")
        ws.set_header(f"&L&8{title}&R&8{SHEET_BAD.sub('_', name).replace('&', '&&')}")
        ws.set_footer("&C&8" + self.report.text.get("page_footer", "&P/&N"))
        return ws

    def write(self, ws, r: int, c: int, value, fmt: str | None, cell_fmt=None, flag=None, missing_dash=False) -> None:
        kind = type(value)  # the common cells first, without asking pandas whether they are missing
        if kind is str:
            ws.write_string(r, c, value, cell_fmt or self.top)
            return
        if kind is int or (kind is float and value == value and not math.isinf(value)):
            self.number(ws, r, c, value, fmt, flag)
            return
        if _missing(value) or (isinstance(value, float) and math.isinf(value)):
            if missing_dash:
                ws.write_string(r, c, "—", self.dash)
            return
        if isinstance(value, bool):
            ws.write_boolean(r, c, value)
        elif isinstance(value, (int, float)):
            self.number(ws, r, c, value, fmt, flag)
        elif isinstance(value, (pd.Timestamp, dt.datetime)):
            value = value.tz_localize(None).to_pydatetime() if isinstance(value, pd.Timestamp) and value.tzinfo \
                else (value.to_pydatetime() if isinstance(value, pd.Timestamp) else value)
            ws.write_datetime(r, c, value, self.formats["date"])
        else:
            ws.write_string(r, c, str(value), cell_fmt or self.top)

    def number(self, ws, r: int, c: int, value, fmt: str | None, flag=None) -> None:
        if (fmt == "days" or (fmt == "amount" and abs(value) < 100)) and not float(value).is_integer():
            style = self.bad_frac if flag == "bad" else self.days_frac
        else:
            style = (self.bad if flag == "bad" else self.formats).get(fmt)
        ws.write_number(r, c, value, style)

    def widths(self, table: Table, sample: int = 300) -> list[float]:
        widths = [text_width(c) / 2 + 1 if i not in table.wrap else 0 for i, c in enumerate(table.columns)]
        # headers wrap: half their width is enough; a value's full width counts
        for i, c in enumerate(table.columns):
            widths[i] = max(widths[i], min(text_width(c), 10))
        for row in table.rows[:sample]:
            for i, v in enumerate(row):
                if isinstance(v, float):
                    v = round(v, 1)
                widths[i] = max(widths[i], text_width(v))
        out = []
        for i, w in enumerate(widths):
            cap = table.widths.get(i, WRAP_WIDTH if i in table.wrap else TEXT_WIDTH)
            if table.formats[i] == "date":
                w = 17
            out.append(min(max(w + 1.5, 5), cap))
        return out

    def table_sheet(self, table: Table, *, title: str | None = None, beside: tuple | None = None):
        """One table on a sheet of its own; ``beside`` = (first column, headers, rows): hidden
        cells written on the table's rows (a chart's series), as the streaming writer needs."""
        ws = self.sheet(table.name)
        widths = self.widths(table)
        for i, w in enumerate(widths):
            ws.set_column(i, i, w, self.wrap if i in table.wrap else None)
        if beside:
            ws.set_column(beside[0], beside[0] + len(beside[1]) - 1, 12, None, {"hidden": True})
        total = sum(widths)
        r = 0
        if title:
            ws.write_string(r, 0, title, self.title)
            r += 1
        if table.note:
            ws.set_row(r, 15 * _lines(table.note, total))
            if len(widths) > 1:
                ws.merge_range(r, 0, r, len(widths) - 1, table.note, self.note)
            else:
                ws.write_string(r, 0, table.note, self.note)
            r += 1
        header = r
        ws.freeze_panes(header + 1, 0)
        ws.repeat_rows(header)
        head_lines = max([_lines(name, w - 1) for name, w in zip(table.columns, widths)] or [1])
        if head_lines > 1:  # a header wider than its column wraps: the row is as tall as it needs
            ws.set_row(header, 15 * min(head_lines, 4))
        for c, name in enumerate(table.columns):
            ws.write_string(header, c, name, self.header)
        if beside:
            for k, name in enumerate(beside[1]):
                ws.write_string(header, beside[0] + k, name)
        wrapped = sorted(set(table.wrap))
        formats = None if table.row_formats else table.formats  # one format a column, unless rows have their own
        cell_formats = {c: self.wrap for c in table.wrap}
        for n, row in enumerate(table.rows):
            r += 1
            if beside:
                for k, v in enumerate(beside[2][n]):
                    self.write(ws, r, beside[0] + k, v, "pct")
            lines = max([sum(_lines(part, widths[c] - 1) for part in str(row[c]).split("\n"))
                         for c in wrapped if c < len(row) and row[c]] or [1])
            if lines > 1:
                ws.set_row(r, 15 * min(lines, 12))
            for c, v in enumerate(row):
                self.write(ws, r, c, v, formats[c] if formats else table.format_of(n, c), cell_formats.get(c))
        if len(table.rows) >= AUTOFILTER_MIN_ROWS:
            ws.autofilter(header, 0, r, len(table.columns) - 1)
        if table.print_rows and len(table.rows) > table.print_rows:
            ws.print_area(0, 0, header + table.print_rows, len(table.columns) - 1)
        if not table.rows:
            ws.write_string(header + 1, 0, self.report.text.get("empty", ""), self.note)
        return ws, header, r

    def overview(self, report: Report) -> None:
        t = report.overview
        ws = self.sheet(t.name)
        ws.fit_to_pages(1, 1)  # the summary is one page
        ncol = len(t.columns)
        widths = [10, 26, 13] + [max(13, min(text_width(c) / 2 + 2, 20)) for c in t.columns[3:]]
        for i, w in enumerate(widths):
            ws.set_column(i, i, w)
        total = sum(widths)
        last = max(ncol - 1, 1)

        def line(r: int, text: str, fmt, height: float = 15) -> int:
            ws.set_row(r, height * _lines(text, total * 0.95))
            ws.merge_range(r, 0, r, last, text, fmt)
            return r + 1

        r = line(0, report.title, self.title, 20)
        r = line(r, report.subtitle, self.note)
        r += 1
        ws.write_string(r, 0, report.text["section.actions"], self.sub)
        r += 1
        for i, a in enumerate(report.actions, 1):
            r = line(r, f"{i}. {a}", self.action, 17)
        r += 1
        ws.write_string(r, 0, report.text["section.headline"], self.sub)
        r += 1
        header = r
        for c, name in enumerate(t.columns):
            ws.write_string(r, c, name, self.header)
        for i, row in enumerate(t.rows):
            r += 1
            fmt_row = t.row_formats[i] if t.row_formats else None
            for c, v in enumerate(row):
                fmt = fmt_row if (fmt_row and c >= t.row_formats_from) else t.formats[c]
                flag = t.flags[i][c] if t.flags else None
                if c < t.row_formats_from:
                    self.write(ws, r, c, v, "text", self.dim if c == 0 else self.top)
                else:
                    self.write(ws, r, c, v, fmt, flag=flag, missing_dash=True)
        r += 1
        for text in report.overview_notes:
            r = line(r, text, self.note)
        r += 1
        for text in [report.calendar_note] + report.notes:
            r = line(r, text, self.note)
        ws.print_area(0, 0, r, last)
        ws.repeat_rows(header)


    def trend(self, trend) -> None:
        """The 月度趋势 sheet: the table, and beside it a native line chart of its rates. Each
        line is two series (hidden cells beside the table): its final months, solid with filled
        points, and its provisional stretch, dashed with hollow points (a chart cannot style one
        point's marker in every spreadsheet program)."""
        n = len(trend.months)
        prov = trend.provisional
        near = [prov[i] or (i > 0 and prov[i - 1]) or (i + 1 < n and prov[i + 1]) for i in range(n)]
        col0 = len(trend.table.columns) + 20
        heads, cols = [], []
        for line in trend.lines:
            heads += [line.provisional_name, line.label]
            cols += [[v if near[i] else None for i, v in enumerate(line.values)],
                     [None if prov[i] else v for i, v in enumerate(line.values)]]
        rows = [[c[i] for c in cols] for i in range(n)]
        ws, header, last = self.table_sheet(trend.table, beside=(col0, heads, rows) if trend.lines else None)
        if not trend.lines or last <= header:
            return
        chart = self.wb.add_chart({"type": "line"})
        colours = ["#305496", "#C2410C", "#047857"]
        means = [_mean(line.values) for line in trend.lines]
        for j, line in enumerate(trend.lines):
            c = colours[j % len(colours)]
            above = means[j] >= max(means)  # the upper line's labels above it, the others' below
            for k, provisional in enumerate((True, False)):  # the dashed stretch first: the solid one on top
                col = col0 + 2 * j + k
                labels = {"value": True, "position": "above" if above else "below", "num_format": "0.0%",
                          "font": {"color": c, "size": 9}}
                if provisional:  # its solid neighbours are labelled by the solid series
                    labels["custom"] = [None if prov[i] else {"delete": True} for i in range(n)]
                chart.add_series({
                    "name": [ws.name, header, col], "categories": [ws.name, header + 1, 0, last, 0],
                    "values": [ws.name, header + 1, col, last, col],
                    "line": {"color": c, "width": 2.25, "dash_type": "dash" if provisional else "solid"},
                    "marker": {"type": "circle", "size": 7, "fill": {"color": "#FFFFFF" if provisional else c},
                               "border": {"color": c, "width": 1.5}},
                    **({"data_labels": labels} if n <= 14 else {})})  # many months: the table holds the values
        chart.show_hidden_data()
        chart.show_blanks_as("gap")
        chart.set_title({"name": trend.title})
        chart.set_y_axis({"name": trend.y_title, "min": 0, "max": 1, "major_unit": 0.25, "num_format": "0%",
                          "major_gridlines": {"visible": True, "line": {"color": "#E5E7EB"}}})
        chart.set_legend({"position": "top"})
        ws.insert_chart(header, len(trend.table.columns) + 1, chart, {"x_scale": 1.6, "y_scale": 1.3})
        ncol = len(trend.table.columns)
        ws.set_row(last + 2, 15 * _lines(trend.provisional_legend, sum(self.widths(trend.table))))
        ws.merge_range(last + 2, 0, last + 2, ncol - 1, trend.provisional_legend, self.note)


def _mean(values: list) -> float:
    known = [float(v) for v in values if v is not None]
    return sum(known) / len(known) if known else 0.0


@dataclass
class _Plain:
    """What a workbook of plain tables shares with the report's: a title and the empty-table text."""

    title: str
    text: dict


def render_tables_xlsx(title: str, tables: list[Table], notes: list[str], path: str | Path,
                       empty: str = "（无）") -> Path:
    """Plain titled tables (the 督办, 好差评, 一件事 and indicator lists) as a printable workbook,
    one sheet per table, through the same sheets, formats and widths as the report's."""

    def build(tmp: Path) -> None:
        book = _Book(tmp, _Plain(title, {"empty": empty}))
        for table in tables:
            book.table_sheet(table)
        if notes:
            ws = book.sheet("说明")
            ws.set_column(0, 0, 100, book.wrap)
            for i, n in enumerate(notes):
                ws.write_string(i, 0, n, book.wrap)
        book.wb.close()

    return write_atomic(path, build)


def render_xlsx(report: Report, path: str | Path) -> Path:
    """Write the workbook atomically: 概览, 月度趋势, 发现, 瓶颈, 材料, 跑动, 变体, (符合性, 对比), 案例, 流程图;
    when 案例 holds only the worst cases, the full per-case file its note names is written beside."""
    when = (report.period_end.tz_localize(None).to_pydatetime() if report.period_end is not None
            else dt.datetime(2000, 1, 1))

    def build(tmp: Path) -> None:
        book = _Book(tmp, report)
        wb = book.wb
        wb.set_properties({"title": report.title, "author": "procmine", "created": when})
        book.overview(report)
        if report.trend is not None:
            book.trend(report.trend)
        fws, fh, flast = book.table_sheet(report.findings)
        note_row = flast + 2
        fws.merge_range(note_row, 0, note_row, len(report.findings.columns) - 1, report.severity_note, book.note)
        fws.set_row(note_row, 30)
        fws.merge_range(note_row + 1, 0, note_row + 1, len(report.findings.columns) - 1, report.calendar_note, book.note)
        fws.set_row(note_row + 1, 45)
        r = note_row + 2
        for text in report.skipped:
            fws.merge_range(r, 0, r, len(report.findings.columns) - 1, text, book.note)
            r += 1

        b = report.bottlenecks
        bws, bh, blast = book.table_sheet(b)
        if b.rows:
            n = min(len(b.rows), 10)
            chart = wb.add_chart({"type": "bar"})
            chart.add_series({"name": b.columns[7], "categories": [bws.name, bh + 1, 2, bh + n, 2],
                              "values": [bws.name, bh + 1, 7, bh + n, 7]})
            chart.set_title({"name": f"{report.text['section.bottlenecks']}: {b.columns[7]}"})
            chart.set_legend({"none": True})
            bws.set_h_pagebreaks([blast + 1])  # the chart prints on a page of its own, not cut in two
            bws.insert_chart(blast + 2, 0, chart, {"x_scale": 1.4, "y_scale": 1.3})
        book.table_sheet(report.materials)
        trips = report.trips
        tws, th, tlast = book.table_sheet(trips)
        for spec in report.charts:
            if spec.table == "trips" and trips.rows:
                chart = wb.add_chart({"type": "column"})
                for c in range(1, len(trips.columns)):
                    chart.add_series({"name": [tws.name, th, c], "categories": [tws.name, th + 1, 0, tlast, 0],
                                      "values": [tws.name, th + 1, c, tlast, c]})
                chart.set_title({"name": spec.title})
                chart.set_x_axis({"name": spec.x_title})
                chart.set_y_axis({"name": spec.y_title})
                tws.insert_chart(th, len(trips.columns) + 1, chart, {"x_scale": 1.1, "y_scale": 1.0})
        book.table_sheet(report.variants)
        if report.conformance is not None:
            book.table_sheet(report.conformance)
        if report.comparison is not None:
            book.table_sheet(report.comparison)
        for section in report.sections:
            if not section.tables:
                continue
            for k, table in enumerate(section.tables):
                book.table_sheet(table, title=section.title if k == 0 else None)
        book.table_sheet(report.cases)

        pws = book.sheet(report.text["sheet.maps"])
        pws.set_column(0, 0, 120)
        row = 0
        if report.map_note:
            pws.write_string(row, 0, report.map_note, book.note)
            row += 2
        breaks = []
        for i, pic in enumerate(report.pictures):
            if i:
                breaks.append(row)  # each map on a page of its own, whole
            pws.write_string(row, 0, pic.title, book.sub)
            width, height = _png_size(pic.png)
            # fit one A4 landscape page: the sheet's width (one page wide) and a page's height
            scale = min(1.0, MAP_WIDTH_PX / max(width, 1), MAP_HEIGHT_PX / max(height, 1))
            pws.insert_image(row + 1, 0, f"map{i}.png",
                             {"image_data": io.BytesIO(pic.png), "x_scale": scale, "y_scale": scale})
            row += int(height * scale / 20) + 4
        if breaks:
            pws.set_h_pagebreaks(breaks)
        if report.method is not None:  # the last sheet: how this was measured
            book.table_sheet(report.method, title=report.text.get("section.method"))
        wb.close()
        _fix_zip_times(Path(tmp), when)

    report.write_beside(report.cases, path)  # first: the 案例 sheet names it
    return write_atomic(path, build)


def _png_size(data: bytes) -> tuple[int, int]:
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return 800, 600


def _fix_zip_times(path: Path, when: dt.datetime) -> None:
    """Pin zip entry times and document dates, so the same report gives the same bytes."""
    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    iso = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(path) as src:
        entries = [(info.filename, src.read(info.filename)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for name, data in entries:
            if name == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)", rb"\g<1>" + iso + rb"\g<2>", data)
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, data)
