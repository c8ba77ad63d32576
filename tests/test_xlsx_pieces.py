"""A large .xlsx sheet is read in pieces of rows (procmine.sources.xlsx_pieces) so memory
stays bounded. The pieces are forced here with a tiny piece size; the right
answer is either worked out by hand or the whole-sheet read, which calamine
does on its own without any cutting."""

import datetime as dt
import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import procmine
from procmine.sources import xlsx_pieces
from conftest import HEADER, T, build_workbook

LOGS = Path(__file__).resolve().parents[1] / "logs"


@pytest.fixture
def counted(monkeypatch):
    """Tiny pieces, and a count of the pieces each sheet was read in."""
    seen: list[int] = []
    real = xlsx_pieces.read_pieces

    def spy(*args, **kwargs):
        results, merges = real(*args, **kwargs)
        seen.append(len(results))
        return results, merges

    monkeypatch.setattr(xlsx_pieces, "read_pieces", spy)
    monkeypatch.setattr(xlsx_pieces, "PIECE_BYTES", 2048)
    return seen


def whole(path, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(xlsx_pieces, "PIECE_BYTES", 1 << 40)
        return procmine.read_export(path)


@pytest.mark.parametrize("name", sorted(p.name for p in LOGS.glob("*.xlsx")))
def test_the_shipped_workbooks_read_in_pieces_equal_their_whole_read(name, counted, monkeypatch):
    expect = whole(LOGS / name, monkeypatch)
    got = procmine.read_export(LOGS / name)
    assert counted and min(counted) > 10  # really cut, every sheet
    pd.testing.assert_frame_equal(got.log, expect.log)
    pd.testing.assert_frame_equal(got.rejects, expect.rejects)
    assert got.notes == expect.notes and got.rows_read == expect.rows_read


def test_rows_keep_their_sheet_numbers_across_pieces(workbook, counted):
    rows = [["XX市政务服务办件明细表"], [], HEADER]  # header on sheet row 3
    expect_rows, bad_row = [], None
    for i in range(300):
        if i % 50 == 7:
            rows.append([])  # a blank row: later rows keep their numbers
        rows.append([f"C{i // 3}", "食品经营许可", f"环节{i % 3}", "市场监管局", "张三", T(5, 9), T(5, 10)])
        expect_rows.append(len(rows))
    rows[150] = [None, None, "审批", "局", "李四", "not a time", T(6, 10)]  # sheet row 151: no case id
    expect_rows.remove(151)
    bad_row = 151
    rows.append([f"C{99}", "食品经营许可", "办结", "局", "王五", T(8, 9), T(8, 10)])
    rows.append([None, "食品经营许可", "送达", "局", "王五", T(8, 11), T(8, 12)])  # merged with the row above
    expect_rows += [len(rows) - 1, len(rows)]
    n = len(rows)
    path = workbook({"s": rows}, {"s": [f"A{n - 1}:A{n}"]})
    r = procmine.read_export(path)
    assert counted[0] > 5
    assert sorted(r.log["source_row"]) == expect_rows
    assert list(r.rejects["row"]) == [bad_row] and "no case id" in r.rejects.iloc[0]["reason"]
    last = r.log.sort_values("source_row").iloc[-1]
    assert last["case_id"] == "C99" and last["activity"] == "送达"


def _raw_workbook(rows_xml: str, *, prefix: str = "", date1904: bool = False, strings: list[str] = ()) -> bytes:
    """A hand-written .xlsx: one sheet, tags optionally namespace-prefixed, shared
    strings, a date style (numFmtId 22) as style 1, and the 1900 or 1904 date system."""
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    p = f"{prefix}:" if prefix else ""
    xmlns = f'xmlns:{prefix}="{ns}"' if prefix else f'xmlns="{ns}"'
    sheet = (f'<?xml version="1.0" encoding="UTF-8"?><{p}worksheet {xmlns} xmlns:r="{rel}">'
             f'<{p}dimension ref="A1:G999999"/><{p}sheetData>{rows_xml}</{p}sheetData>'
             f'<{p}mergeCells count="0"/></{p}worksheet>')
    sst = (f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{ns}" count="{len(strings)}" '
           f'uniqueCount="{len(strings)}">' + "".join(f"<si><t>{s}</t></si>" for s in strings) + "</sst>")
    styles = (f'<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{ns}"><fonts count="1"><font/></fonts>'
              '<fills count="1"><fill/></fills><borders count="1"><border/></borders>'
              '<cellStyleXfs count="1"><xf/></cellStyleXfs><cellXfs count="2"><xf numFmtId="0"/>'
              '<xf numFmtId="22" applyNumberFormat="1"/></cellXfs></styleSheet>')
    wb = (f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{ns}" xmlns:r="{rel}">'
          + ('<workbookPr date1904="1"/>' if date1904 else "")
          + '<sheets><sheet name="明细" sheetId="1" r:id="rId1"/></sheets></workbook>')
    wb_rels = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
               f'package/2006/relationships"><Relationship Id="rId1" Type="{rel}/worksheet" '
               f'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{rel}/styles" Target="styles.xml"/>'
               f'<Relationship Id="rId3" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/></Relationships>')
    rels = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            f'package/2006/relationships"><Relationship Id="rId1" Type="{rel}/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>')
    ct = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
          'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
          'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/></Types>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in [("[Content_Types].xml", ct), ("_rels/.rels", rels), ("xl/workbook.xml", wb),
                           ("xl/_rels/workbook.xml.rels", wb_rels), ("xl/styles.xml", styles),
                           ("xl/sharedStrings.xml", sst), ("xl/worksheets/sheet1.xml", sheet)]:
            z.writestr(name, text)
    return out.getvalue()


def _cell(p, ref, value, kind):
    if kind == "s":
        return f'<{p}c r="{ref}" t="s"><{p}v>{value}</{p}v></{p}c>'
    if kind == "date":
        return f'<{p}c r="{ref}" s="1"><{p}v>{value}</{p}v></{p}c>'
    return f'<{p}c r="{ref}" t="inlineStr"><{p}is><{p}t>{value}</{p}t></{p}is></{p}c>'


@pytest.mark.parametrize("prefix,date1904", [("", False), ("x", False), ("x", True)])
def test_hand_written_dialects_read_in_pieces(tmp_path, counted, prefix, date1904):
    p = f"{prefix}:" if prefix else ""
    strings = ["办件编号", "办理环节", "开始时间", "结束时间", "受理", "审批"]
    epoch = dt.datetime(1904, 1, 1) if date1904 else dt.datetime(1899, 12, 30)
    rows = [f'<{p}row r="1">' + "".join(_cell(p, f"{c}1", i, "s") for c, i in zip("ABCD", range(4)))
            + f"</{p}row>"]
    expect = {}
    for k in range(120):
        r = k + 2 + (k // 40) * 3  # every 40 rows, three missing row numbers
        start = dt.datetime(2024, 3, 4, 9) + dt.timedelta(days=k % 5, minutes=k)
        serial = (start - epoch) / dt.timedelta(days=1)
        rows.append(f'<{p}row r="{r}" spans="1:4">' + _cell(p, f"A{r}", f"K{k:04d}", "t")
                    + _cell(p, f"B{r}", 4 + k % 2, "s") + _cell(p, f"C{r}", repr(serial), "date")
                    + _cell(p, f"D{r}", repr(serial + 1 / 24), "date") + f"</{p}row>")
        expect[f"K{k:04d}"] = (r, "受理" if k % 2 == 0 else "审批", start)
    path = tmp_path / "raw.xlsx"
    path.write_bytes(_raw_workbook("".join(rows), prefix=prefix, date1904=date1904, strings=strings))
    r = procmine.read_export(path)
    assert counted[0] > 5 and r.rejects.empty and r.events == 120
    for _, ev in r.log.iterrows():
        row, step, start = expect[ev["case_id"]]
        assert (ev["source_row"], ev["activity"]) == (row, step)
        assert ev["start_time"].tz_localize(None).round("s").to_pydatetime() == start


def test_rows_without_numbers_are_read_whole(tmp_path, counted):
    head = '<row>' + "".join(_cell("", None, v, "t").replace(' r="None"', "")
                             for v in ["办件编号", "办理环节", "开始时间"]) + "</row>"
    body = "".join('<row>' + "".join(_cell("", None, v, "t").replace(' r="None"', "")
                                     for v in [f"K{k}", "受理", f"2024-03-0{1 + k % 5} 09:00"]) + "</row>"
                   for k in range(200))
    path = tmp_path / "norefs.xlsx"
    path.write_bytes(_raw_workbook(head + body))
    r = procmine.read_export(path)
    assert not counted  # could not be placed in pieces: read whole
    assert r.events == 200 and r.rejects.empty and sorted(r.log["source_row"]) == list(range(2, 202))


def test_a_failing_piece_stops_the_import_and_leaves_no_temporary_files(workbook, counted, monkeypatch, tmp_path):
    import tempfile

    import fastexcel

    rows = [HEADER] + [[f"C{i}", "许可", "受理", "局", "甲", T(5, 9), T(5, 10)] for i in range(400)]
    path = workbook({"s": rows})
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    real, calls = fastexcel.read_excel, []

    def flaky(source, *a, **k):
        calls.append(source)
        if len(calls) == 3 and "procmine-xlsx-" in str(source):
            raise RuntimeError("disk read error")
        return real(source, *a, **k)

    monkeypatch.setattr(fastexcel, "read_excel", flaky)
    with pytest.raises(procmine.errors.InputError, match="rows from"):
        procmine.read_export(path)
    assert list(scratch.iterdir()) == []


def test_a_damaged_sheet_stream_is_a_clear_error(workbook, counted, tmp_path):
    rows = [HEADER] + [[f"C{i}", "许可", "受理", "局", f"经办人{i}", T(5, 9), T(5, 10)] for i in range(3000)]
    path = workbook({"s": rows})
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("xl/worksheets/sheet1.xml")
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for k in range(200):  # scramble the middle of the compressed sheet
        data[start + info.compress_size // 2 + k] ^= 0x5A
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(bytes(data))
    with pytest.raises(procmine.errors.InputError):
        procmine.read_export(bad)


def test_progress_hears_the_rows_read_piece_by_piece(workbook, counted):
    rows = [HEADER] + [[f"C{i}", "许可", "受理", "局", "甲", T(5, 9), T(5, 10)] for i in range(500)]
    heard: list[int] = []
    r = procmine.read_export(workbook({"s": rows}), progress=heard.append)
    assert counted[0] > 5 and len(heard) == counted[0] + 1  # each piece, then the converted sheet
    assert heard == sorted(heard) and heard[-2] == heard[-1] == r.rows_read == 500
