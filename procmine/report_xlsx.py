"""Render a :class:`~procmine.report.Report` as an Excel workbook (openpyxl, write-only).

Lays out only: headers, widths, number formats, frozen header rows, autofilter,
native bar charts and embedded map pictures. Text that Excel would read as a
formula (= + - @, tab, CR) is written as text.
"""

from __future__ import annotations

import datetime as dt
import io
import unicodedata
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import TYPE_STRING
from openpyxl.chart import BarChart, Reference
from openpyxl.drawing.image import Image
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from .eventlog import write_atomic
from .report import Report, Table

NUMBER_FORMATS = {"int": "#,##0", "float": "#,##0.0", "pct": "0.0%", "hours": "#,##0.0", "date": "yyyy-mm-dd hh:mm"}
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="305496")
TITLE_FONT = Font(bold=True, size=14)
RISKY = ("=", "+", "-", "@", "\t", "\r")


def _width(value) -> float:
    if value is None:
        return 0
    text = f"{value:,.1f}" if isinstance(value, float) else str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text[:60])


def _cell(ws, value, fmt: str | None = None, font=None, fill=None):
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str) and value.startswith(RISKY):
        cell.data_type = TYPE_STRING  # never a formula
    if fmt in NUMBER_FORMATS and not isinstance(value, str):
        cell.number_format = NUMBER_FORMATS[fmt]
    if font:
        cell.font = font
    if fill:
        cell.fill = fill
    return cell


def _table_sheet(wb: Workbook, table: Table, *, title: str | None = None, sample: int = 500):
    ws = wb.create_sheet(table.name)
    widths = [_width(c) for c in table.columns]
    for row in table.rows[:sample]:
        for i, v in enumerate(row):
            widths[i] = max(widths[i], _width(v))
    for i, w in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(i)].width = min(max(w + 2, 8), 80)
    header_row = 1 + bool(title) + bool(table.note)
    ws.freeze_panes = f"A{header_row + 1}"  # write-only sheets take this only before the first row
    if title:
        ws.append([_cell(ws, title, font=TITLE_FONT)])
    if table.note:
        ws.append([_cell(ws, table.note, font=Font(italic=True, color="595959"))])
    ws.append([_cell(ws, c, font=HEADER_FONT, fill=HEADER_FILL) for c in table.columns])
    for row in table.rows:
        ws.append([_cell(ws, v, fmt) for v, fmt in zip(row, table.formats)])
    last = header_row + len(table.rows)
    ws.auto_filter.ref = f"A{header_row}:{get_column_letter(len(table.columns))}{max(last, header_row)}"
    return ws, header_row


def render_xlsx(report: Report, path: str | Path) -> Path:
    """Write the workbook atomically: 概览, 发现, 瓶颈, 材料, 跑动, 变体, (符合性), 案例, 流程图."""
    wb = Workbook(write_only=True)
    when = report.period_end.to_pydatetime().replace(tzinfo=None) if report.period_end is not None else dt.datetime(2000, 1, 1)
    wb.properties.created = when
    wb.properties.modified = when
    wb.properties.title = report.title
    wb.properties.creator = "procmine"

    ws, header_row = _table_sheet(wb, report.overview, title=f"{report.title}\n{report.subtitle}")
    ws.append([])
    ws.append([_cell(ws, "主要发现（按影响排序）", font=Font(bold=True, size=12))])
    ws.append([_cell(ws, c, font=HEADER_FONT, fill=HEADER_FILL) for c in report.top_findings.columns])
    for row in report.top_findings.rows:
        ws.append([_cell(ws, v, fmt) for v, fmt in zip(row, report.top_findings.formats)])
    for line in report.skipped + report.notes:
        ws.append([_cell(ws, line, font=Font(italic=True, color="7F7F7F"))])

    _table_sheet(wb, report.findings)
    bws, bh = _table_sheet(wb, report.bottlenecks)
    if report.bottlenecks.rows:
        n = min(len(report.bottlenecks.rows), 10)
        chart = BarChart()
        chart.type = "bar"
        chart.title = "超出典型等待累计（小时）"
        chart.add_data(Reference(bws, min_col=9, min_row=bh, max_row=bh + n), titles_from_data=True)
        chart.set_categories(Reference(bws, min_col=3, min_row=bh + 1, max_row=bh + n))
        chart.height, chart.width = 9, 18
        bws.add_chart(chart, f"K{bh}")
    _table_sheet(wb, report.materials)
    tws, th = _table_sheet(wb, report.trips)
    for spec in report.charts:
        if spec.table == "跑动" and report.trips.rows:
            chart = BarChart()
            chart.title = spec.title
            chart.y_axis.title = spec.y_title
            chart.x_axis.title = "跑动次数"
            chart.add_data(Reference(tws, min_col=2, max_col=len(report.trips.columns), min_row=th,
                                     max_row=th + len(report.trips.rows)), titles_from_data=True)
            chart.set_categories(Reference(tws, min_col=1, min_row=th + 1, max_row=th + len(report.trips.rows)))
            chart.height, chart.width = 9, 18
            tws.add_chart(chart, f"{get_column_letter(len(report.trips.columns) + 2)}{th}")
    _table_sheet(wb, report.variants)
    if report.conformance is not None:
        _table_sheet(wb, report.conformance)
    if report.comparison is not None:
        _table_sheet(wb, report.comparison)
    _table_sheet(wb, report.cases)

    pws = wb.create_sheet("流程图")
    row = 1
    for pic in report.pictures:
        pws.append([_cell(pws, pic.title, font=Font(bold=True, size=12))])
        img = Image(io.BytesIO(pic.png))
        scale = min(1.0, 900 / max(img.width, 1))
        img.width, img.height = int(img.width * scale), int(img.height * scale)
        pws.add_image(img, f"A{row + 1}")
        rows_needed = int(img.height / 20) + 3
        for _ in range(rows_needed):
            pws.append([])
        row += rows_needed + 1
    def save(tmp: Path) -> None:
        wb.save(tmp)
        _fix_zip_times(Path(tmp), when)

    return write_atomic(path, save)


def _fix_zip_times(path: Path, when: dt.datetime) -> None:
    """Zip entries carry the time of writing; pin them so the same report gives the same bytes."""
    import zipfile

    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    with zipfile.ZipFile(path) as src:
        entries = [(info.filename, src.read(info.filename)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for name, data in entries:
            if name == "docProps/core.xml":  # openpyxl stamps "modified" with the time of saving
                import re

                iso = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)", rb"\g<1>" + iso + rb"\g<2>", data)
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, data)
