"""Files that are not what they claim: each gets a clear message and exit 1, never a traceback."""

import gzip

import pytest

import procmine
from procmine.cli import main
from conftest import HEADER, T, build_workbook


@pytest.fixture
def good(tmp_path):
    return build_workbook(tmp_path / "good.xlsx", {"s": [HEADER[:7], ["A", "x", "受理", "d", "p", T(5), T(5, 10)]]})


def run(path, tmp_path, capsys, *extra):
    code = main(["import", str(path), "-o", str(tmp_path / "out.parquet"), *extra])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_truncated_xlsx(good, tmp_path, capsys):
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    code, err = run(cut, tmp_path, capsys)
    assert code == 1 and "damaged" in err


def test_zip_bomb_limit_and_flag(good, tmp_path, capsys):
    with pytest.raises(procmine.InputError, match="unpacks to .* over the"):
        procmine.read_export(good, max_unzipped_gb=1e-6)
    code, err = run(good, tmp_path, capsys, "--max-unzipped-gb", "0.000001")
    assert code == 1 and "--max-unzipped-gb" in err
    assert run(good, tmp_path, capsys, "--max-unzipped-gb", "1")[0] == 0


def test_encrypted_workbook(tmp_path, capsys):
    ole = tmp_path / "locked.xlsx"
    ole.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500 + "EncryptionInfo".encode("utf-16-le") + b"\x00" * 500)
    code, err = run(ole, tmp_path, capsys)
    assert code == 1 and "password" in err


def test_xes_with_entities_is_refused(tmp_path, capsys):
    xes = tmp_path / "evil.xes"
    xes.write_text('<?xml version="1.0"?><!DOCTYPE log [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
                   '<log><trace><string key="concept:name" value="&b;"/></trace></log>', encoding="utf-8")
    code, err = run(xes, tmp_path, capsys)
    assert code == 1 and "DTD" in err


def test_binary_junk_and_empty_file(tmp_path, capsys):
    junk = tmp_path / "junk.csv"
    junk.write_bytes(bytes(range(256)) * 10)
    assert run(junk, tmp_path, capsys)[0] == 1
    empty = tmp_path / "empty.xlsx"
    empty.write_bytes(b"")
    code, err = run(empty, tmp_path, capsys)
    assert code == 1 and "empty" in err


def test_gzipped_csv(tmp_path):
    p = tmp_path / "log.csv.gz"
    p.write_bytes(gzip.compress("case:concept:name,concept:name,time:timestamp\nA,x,2024-03-05 09:00:00\n".encode()))
    assert procmine.read_export(p).events == 1


def test_workbook_without_any_header(tmp_path, capsys):
    p = build_workbook(tmp_path / "notes.xlsx", {"说明": [["本表为统计报表"], ["数量", 3]]})
    code, err = run(p, tmp_path, capsys)
    assert code == 1 and "no table with a recognisable header" in err and "说明" in err


def test_legacy_xls_with_title_and_merged_cells(tmp_path):
    import datetime as dt

    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("办件")
    date = xlwt.easyxf(num_format_str="yyyy-mm-dd hh:mm")
    ws.write_merge(0, 0, 0, 3, "某县审批系统导出（.xls）")
    for j, h in enumerate(["办件编号", "办理环节", "开始时间", "结束时间"]):
        ws.write(1, j, h)
    ws.write_merge(2, 3, 0, 0, "X001")  # case id merged over two steps
    ws.write(2, 1, "受理"), ws.write(2, 2, dt.datetime(2024, 3, 5, 9, 0), date), ws.write(2, 3, "2024/3/5 9:30")
    ws.write(3, 1, "审批"), ws.write(3, 2, "2024年3月6日 10:00"), ws.write(3, 3, dt.datetime(2024, 3, 6, 11, 0), date)
    ws.write(4, 0, "合计")
    path = tmp_path / "legacy.xls"
    wb.save(str(path))
    r = procmine.read_export(path)
    assert (r.rows_read, r.events, r.cases, len(r.rejects)) == (3, 2, 1, 1)
    assert list(r.log["case_id"]) == ["X001", "X001"] and list(r.rejects["row"]) == [5]


def test_rejects_file_masks_id_numbers(tmp_path, capsys):
    p = build_workbook(tmp_path / "ids.xlsx", {"s": [HEADER[:7],
                                                     ["A1", "x", "受理", "d", "p", "11010519491231002X", T(5, 10)],
                                                     ["OK", "x", "受理", "d", "p", T(5), T(5, 10)]]})
    assert main(["import", str(p), "-o", str(tmp_path / "l.parquet")]) == 0
    text = (tmp_path / "l.rejects.csv").read_text(encoding="utf-8-sig")
    assert "unparseable time" in text and "11010519491231002X" not in text and "身份证-" in text
    assert main(["import", str(p), "-o", str(tmp_path / "l.parquet"), "--no-mask"]) == 0
    assert "11010519491231002X" in (tmp_path / "l.rejects.csv").read_text(encoding="utf-8-sig")
