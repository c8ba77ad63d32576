"""Outputs: atomic, reproducible, no raw ID numbers in findings."""

import hashlib
import json

import pytest
from click.testing import CliRunner

import procmine
from procmine.cli import cli
from procmine.log.eventlog import write_atomic
from conftest import HEADER, ROOT, T, build_workbook


def test_interrupted_write_leaves_nothing(tmp_path):
    target = tmp_path / "report.html"

    def writer(tmp):
        tmp.write_text("half a report")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, writer)
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_rerun_gives_the_same_bytes(tmp_path):
    runner = CliRunner()
    log = tmp_path / "log.parquet"
    src = ROOT / "logs" / "食品经营许可_2024上半年.xlsx"
    digests = []
    for i in range(2):
        assert runner.invoke(cli, ["import", str(src), "-o", str(log)]).exit_code == 0
        for name in (f"f{i}.json", f"r{i}.html", f"r{i}.xlsx", f"c{i}.csv"):
            cmd = {"json": ["audit", str(log), "-o"], "html": ["report", str(log), "-o"],
                   "xlsx": ["report", str(log), "-o"], "csv": ["cases", str(log), "-o"]}[name.split(".")[1]]
            assert runner.invoke(cli, cmd + [str(tmp_path / name)]).exit_code == 0
        digests.append([hashlib.sha256((tmp_path / n).read_bytes()).hexdigest()
                        for n in (f"f{i}.json", f"r{i}.html", f"r{i}.xlsx", f"c{i}.csv")])
    assert digests[0] == digests[1]


def test_csv_renamed_xlsx_and_split_sheets(tmp_path):
    fake = tmp_path / "export.xlsx"
    fake.write_text("办件编号,办理环节,结束时间\nA,受理,2024-03-05 09:00\n", encoding="utf-8")
    assert procmine.read_export(fake).events == 1
    # a log too long for one sheet continues on the next: one log, cases joined
    wb = build_workbook(tmp_path / "big.xlsx", {
        "Sheet1": [HEADER[:7], ["A", "x", "受理", "d", "p", T(5), T(5, 10)]],
        "Sheet2": [HEADER[:7], ["A", "x", "办结", "d", "p", T(8), T(8, 10)]]})
    r = procmine.read_export(wb)
    assert r.cases == 1 and r.events == 2


def test_findings_and_cases_never_print_raw_id_numbers(tmp_path):
    rows = [HEADER[:7]]
    ids = ["11010519491231002X", "13812345678"]
    for i, cid in enumerate(ids * 3):
        rows.append([cid + ("" if i < 2 else f"-{i}"), "x", "受理", "d", "p", T(5 + i), T(5 + i, 10)])
        rows.append([cid + ("" if i < 2 else f"-{i}"), "x", "受理", "d", "p", T(6 + i), T(6 + i, 10)])
    src = build_workbook(tmp_path / "pii.xlsx", {"s": rows})
    runner = CliRunner()
    log = tmp_path / "log.parquet"
    assert runner.invoke(cli, ["import", str(src), "-o", str(log)]).exit_code == 0
    assert procmine.read_log(log)["case_id"].str.contains("11010519491231002X").any()  # the log keeps it
    runner.invoke(cli, ["audit", str(log), "-o", str(tmp_path / "f.json"), "--rules", str(_loose(tmp_path))])
    runner.invoke(cli, ["cases", str(log), "-o", str(tmp_path / "c.csv")])
    for name in ("f.json", "c.csv"):
        text = (tmp_path / name).read_text(encoding="utf-8-sig")
        assert "11010519491231002X" not in text and "13812345678" not in text, name
    assert "身份证-" in (tmp_path / "c.csv").read_text(encoding="utf-8-sig")
    assert json.loads((tmp_path / "f.json").read_text(encoding="utf-8"))["findings"]


def _loose(tmp_path):
    p = tmp_path / "loose.yaml"
    p.write_text("thresholds: {min_cases: 1}\n", encoding="utf-8")
    return p


def test_gbk_csv_with_blank_lines_keeps_row_numbers(tmp_path):
    p = tmp_path / "gbk.csv"
    p.write_bytes("导出：某系统\n办件编号,办理环节,结束时间\nA,受理,2024-03-05 09:00\n\nB,受理,明天\n".encode("gb18030"))
    r = procmine.read_export(p)
    assert r.events == 1 and list(r.rejects["row"]) == [5]


def test_large_csv_streams(tmp_path):
    import subprocess
    import sys
    p = tmp_path / "big.csv"
    with open(p, "w", encoding="utf-8") as fh:
        fh.write("办件编号,办理环节,承办部门,结束时间,备注\n")
        for i in range(400_000):
            fh.write(f"C{i // 5},环节{i % 5},部门{i % 3},2024-03-{1 + i % 28:02d} 09:{i % 60:02d}:00,说明文字{i % 97}\n")
    # VmHWM belongs to this process image (ru_maxrss would include the forking pytest process)
    code = ("import procmine,sys,re; r=procmine.read_export(sys.argv[1]); "
            "hwm=int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)); "
            "print(r.events, hwm // 1024)")
    out = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, check=True).stdout.split()
    events, peak_mib = int(out[0]), int(out[1])
    assert events == 400_000
    size_mib = p.stat().st_size / 2**20
    assert peak_mib < 600, (peak_mib, size_mib)  # columnar, not a Python string per cell
