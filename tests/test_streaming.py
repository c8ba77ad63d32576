"""Streaming import into a partitioned Parquet dataset (issue 15): the same log and
accounting as the in-memory import, batch by batch, written atomically."""

import gzip
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import procmine
from procmine.sources import streaming
from procmine.analysis.audit import audit
from procmine.cli import cli, main

COLS = ["办件编号", "事项名称", "环节名称", "办理部门", "办理人", "开始时间", "结束时间", "提交材料", "办理渠道"]


def _rows():
    """11 good rows (3 services, 4 months), a duplicate, a bad date and a 合计 footer.

    Line numbers (the title is line 1, the header line 2): the duplicate of line 4
    is line 9, the bad date line 12, the footer line 16."""
    good = [
        ["A1", "食品经营许可", "受理", "市场监管局", "张三", "2024-03-01 09:00", "2024-03-01 10:00", "营业执照、身份证", "窗口"],
        ["A1", "食品经营许可", "审核", "市场监管局", "李四", "2024-03-02 09:00", "2024-03-04 10:00", "", "窗口"],
        ["A1", "食品经营许可", "办结", "市场监管局", "李四", "2024-04-01 09:00", "2024-04-01 09:30", "", "窗口"],
        ["A2", "食品经营许可", "受理", "市场监管局", "张三", "2024-03-31 23:30", "2024-04-01 00:30", "申请书", "网办"],
        ["A2", "食品经营许可", "审核", "市场监管局", "王五", "2024-04-02 09:00", "2024-04-03 09:00", "", "网办"],
        ["B1", "排污许可证核发", "受理", "生态环境局", "赵六", "2024-03-05 09:00", "2024-03-05 11:00", "环评报告", "窗口"],
        ["B1", "排污许可证核发", "审核", "生态环境局", "赵六", "", "2024-05-06 11:00", "", "窗口"],
        ["C1", "公共场所卫生许可", "受理", "卫健委", "钱七", "2024-05-07 09:00", "2024-05-07 10:00", "", "网办"],
        ["C1", "公共场所卫生许可", "审核", "卫健委", "钱七", "2024-05-08 09:00", "", "", "网办"],
        ["C2", "公共场所卫生许可", "受理", "卫健委", "孙八", "2024-03-09 09:00", "2024-03-09 10:00", "", "窗口"],
        ["C2", "公共场所卫生许可", "办结", "卫健委", "孙八", "2024-03-10 09:00", "2024-03-10 10:00", "", "窗口"],
    ]
    rows = good[:6] + [good[1]] + good[6:8] + [["A3", "食品经营许可", "受理", "市场监管局", "张三", "2024-02-30 09:00",
                                                 "2024-03-01 10:00", "", "窗口"]] + good[8:] + [["合计"] + [""] * 8]
    return rows


EXPECTED_PARTITIONS = {
    "service=食品经营许可/month=2024-03", "service=食品经营许可/month=2024-04",
    "service=排污许可证核发/month=2024-03", "service=排污许可证核发/month=2024-05",
    "service=公共场所卫生许可/month=2024-03", "service=公共场所卫生许可/month=2024-05",
}


def _write_csv(path, rows, *, delimiter=",", encoding="utf-8", title="食品经营许可办件明细表"):
    lines = ([title] if title else []) + [delimiter.join(COLS)] + [delimiter.join(r) for r in rows]
    data = ("\n".join(lines) + "\n").encode(encoding)
    if str(path).endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def _same_log(streamed: pd.DataFrame, memory: pd.DataFrame) -> None:
    key = ["source_file", "source_sheet", "source_row", "activity"]
    a = streamed.sort_values(key).reset_index(drop=True)
    b = memory.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a[b.columns], b)
    assert list(streamed.columns) == list(memory.columns)


@pytest.mark.parametrize("name, delimiter, encoding", [("export.csv", ",", "utf-8"), ("export.csv", ";", "gbk"),
                                                       ("export.csv.gz", "\t", "utf-8-sig")])
def test_streamed_csv_is_the_in_memory_import(tmp_path, name, delimiter, encoding):
    src = _write_csv(tmp_path / name, _rows(), delimiter=delimiter, encoding=encoding)
    out = tmp_path / "out" / "log"
    calls = []
    r = streaming.import_dataset(src, out, batch_rows=4, progress=calls.append)
    assert calls == [4, 8, 12, 14]  # 14 data rows in 4 batches
    assert (r.rows_read, r.events, r.duplicates, len(r.rejects)) == (14, 12, 0, 2)
    assert r.rows_read == sum(s.rows_used for s in r.sheets) + r.duplicates + len(r.rejects)
    assert r.cases == 5 and r.duplicates_found == 1
    assert list(r.rejects["row"]) == [12, 16]
    assert r.rejects["reason"].iloc[0].startswith("unparseable time in 开始时间")
    assert "summary row" in r.rejects["reason"].iloc[1]
    assert set(r.partitions) == EXPECTED_PARTITIONS
    assert {str(p.parent.relative_to(out)) for p in out.rglob("*.parquet")} == EXPECTED_PARTITIONS
    assert any("exact duplicate events found and kept" in n for n in r.notes)
    memory = procmine.read_export(src)
    assert memory.events == r.events and memory.cases == r.cases
    pd.testing.assert_frame_equal(memory.rejects, r.rejects)
    _same_log(procmine.read_log(out), memory.log)
    pd.testing.assert_frame_equal(procmine.read_log(out), memory.log)  # also in the same order
    # the month is Shanghai time: 23:30 on 31 March starts in March
    a2 = procmine.read_log(out / "service=食品经营许可" / "month=2024-03")
    assert ("A2", "受理") in set(zip(a2["case_id"], a2["activity"]))


def test_drop_duplicates_across_batches_as_in_memory(tmp_path):
    src = _write_csv(tmp_path / "export.csv", _rows())
    r = streaming.import_dataset(src, tmp_path / "log", batch_rows=3, duplicates="drop")
    memory = procmine.read_export(src, duplicates="drop")
    assert (r.events, r.duplicates, len(r.rejects)) == (11, 1, 2)
    assert (memory.events, memory.duplicates) == (11, 1)
    assert r.rows_read == sum(s.rows_used for s in r.sheets) + r.duplicates + len(r.rejects)
    assert 9 not in set(procmine.read_log(tmp_path / "log")["source_row"])  # the later copy goes
    _same_log(procmine.read_log(tmp_path / "log"), memory.log)


def test_parquet_raw_export_streamed_and_in_memory(tmp_path):
    rows = [r for r in _rows() if r[0] not in ("合计", "A3")]
    df = pd.DataFrame(rows, columns=COLS).replace("", None)
    for c in ("开始时间", "结束时间"):
        df[c] = pd.to_datetime(df[c]).astype("datetime64[s]")
    df.loc[4, "结束时间"] = pd.Timestamp("2024-04-01 08:00")  # ends before it starts: rejected, row 5
    src = tmp_path / "raw.parquet"
    df.to_parquet(src, index=False, row_group_size=4)
    memory = procmine.read_export(src)  # the in-memory import reads Parquet exports too
    assert (memory.rows_read, memory.events, len(memory.rejects)) == (12, 11, 1)
    assert list(memory.rejects["row"]) == [5] and "before start" in memory.rejects["reason"].iloc[0]
    r = streaming.import_dataset(src, tmp_path / "log", batch_rows=5)
    assert (r.rows_read, r.events, len(r.rejects)) == (12, 11, 1)
    assert list(r.rejects["row"]) == [5]
    assert memory.log["start_time"].iloc[0] == pd.Timestamp("2024-03-01 09:00", tz="Asia/Shanghai")
    _same_log(procmine.read_log(tmp_path / "log"), memory.log)


def test_raw_text_kept_when_a_later_batch_has_values_not_understood(tmp_path):
    lines = ["办件编号,事项名称,环节名称,开始时间,结束时间,是否到场"]
    lines += [f"K{i},食品经营许可,受理,2024-03-0{i + 1} 09:00,2024-03-0{i + 1} 10:00,是" for i in range(6)]
    lines += ["K9,食品经营许可,受理,2024-03-09 09:00,2024-03-09 10:00,待定"]
    src = tmp_path / "e.csv"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = streaming.import_dataset(src, tmp_path / "log", batch_rows=2)
    memory = procmine.read_export(src)
    assert "是否到场" in memory.log.columns
    _same_log(procmine.read_log(tmp_path / "log"), memory.log)
    assert r.notes == memory.notes  # one note for the file, counted over all batches


def test_blank_lines_and_ragged_rows_keep_real_line_numbers(tmp_path):
    text = ("办件编号,环节名称,开始时间,结束时间\n"
            "A,受理,2024-03-01 09:00,2024-03-01 10:00\n\n"
            "B,受理,2024-03-02 09:00\n"  # a short row: pyarrow stops, pandas reads it
            "C,受理,bad,2024-03-03 10:00\n")
    src = tmp_path / "e.csv"
    src.write_text(text, encoding="utf-8")
    r = streaming.import_dataset(src, tmp_path / "log", batch_rows=1, service="食品经营许可")
    memory = procmine.read_export(src, service="食品经营许可")
    assert list(r.rejects["row"]) == list(memory.rejects["row"]) == [5]
    _same_log(procmine.read_log(tmp_path / "log"), memory.log)
    ragged = tmp_path / "r.csv"
    ragged.write_text("办件编号,环节名称,开始时间,结束时间\nA,受理,2024-03-01 09:00,2024-03-01 10:00\n"
                      "B,受理,2024-03-02 09:00\n", encoding="utf-8")
    r = streaming.import_dataset(ragged, tmp_path / "log2", batch_rows=1, service="x")
    assert r.events == 2 and r.rows_read == 2


def test_interrupted_import_leaves_nothing(tmp_path, monkeypatch):
    src = _write_csv(tmp_path / "export.csv", _rows())
    out = tmp_path / "out" / "log"
    real = streaming.convert_table
    calls = []

    def failing(table, keep=frozenset()):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(table, keep)

    monkeypatch.setattr(streaming, "convert_table", failing)
    with pytest.raises(KeyboardInterrupt):
        streaming.import_dataset(src, out, batch_rows=2)
    assert not out.exists() and list((tmp_path / "out").iterdir()) == []
    # an earlier dataset stays as it was when the next import fails
    monkeypatch.setattr(streaming, "convert_table", real)
    streaming.import_dataset(src, out, batch_rows=2)
    before = procmine.read_log(out)
    calls.clear()
    monkeypatch.setattr(streaming, "convert_table", failing)
    with pytest.raises(KeyboardInterrupt):
        streaming.import_dataset(src, out, batch_rows=2)
    pd.testing.assert_frame_equal(procmine.read_log(out), before)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["log"]


def test_audit_reads_the_dataset_as_the_single_file(tmp_path):
    src = _write_csv(tmp_path / "export.csv", _rows())
    streaming.import_dataset(src, tmp_path / "log", batch_rows=4)
    procmine.write_log(procmine.read_export(src).log, tmp_path / "log.parquet")
    a, b = audit(tmp_path / "log"), audit(tmp_path / "log.parquet")
    assert a.metrics == b.metrics
    key = ["case_id"]
    pd.testing.assert_frame_equal(a.cases.sort_values(key).reset_index(drop=True),
                                  b.cases.sort_values(key).reset_index(drop=True))


def test_cli_writes_the_dataset_and_rejects_beside_it(tmp_path, capsys):
    src = _write_csv(tmp_path / "export.csv", _rows())
    out = tmp_path / "o" / "log"
    res = CliRunner().invoke(cli, ["import", str(src), "-o", f"{out}/", "--json", "--batch-rows", "5"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert {k: data[k] for k in ("rows_read", "events", "cases", "duplicates")} == \
        {"rows_read": 14, "events": 12, "cases": 5, "duplicates": 0}
    assert set(data["partitions"]) == EXPECTED_PARTITIONS
    rej = pd.read_csv(tmp_path / "o" / "log.rejects.csv", encoding="utf-8-sig")
    assert list(rej["row"]) == [12, 16]
    assert json.loads((out / "_procmine.json").read_text(encoding="utf-8"))["events"] == 12
    # again over it: replaced; a directory that is not a dataset is refused, not emptied
    assert main(["import", str(src), "-o", str(out)]) == 0
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert main(["import", str(src), "-o", str(mine)]) == 1
    err = capsys.readouterr().err
    assert "not a procmine dataset" in err and "Traceback" not in err
    assert (mine / "notes.txt").read_text() == "keep me"
    assert main(["import", str(src), "-o", str(tmp_path / "x.parquet"), "--partitioned"]) == 2
    # the single file stays as it was
    assert main(["import", str(src), "-o", str(tmp_path / "single.parquet")]) == 0
    assert (tmp_path / "single.parquet").is_file()


def test_nothing_usable_leaves_no_dataset(tmp_path, capsys):
    src = tmp_path / "bad.csv"
    src.write_text("办件编号,环节名称,开始时间,结束时间\nA,受理,,\nB,受理,2024-02-30,\n", encoding="utf-8")
    assert main(["import", str(src), "-o", str(tmp_path / "log/")]) == 1
    assert "no usable rows" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [src]


def test_partition_names_are_decoded_back(tmp_path):
    assert streaming.partition_value("a/b=c%") == "a%2Fb%3Dc%25"
    rows = [["S1", "建设/规划:许可", "受理", "局", "人", "2024-03-01 09:00", "2024-03-01 10:00", "", "窗口"]]
    src = _write_csv(tmp_path / "e.csv", rows, title=None)
    r = streaming.import_dataset(src, tmp_path / "log")
    assert r.partitions == ["service=建设%2F规划%3A许可/month=2024-03"]
    assert list(procmine.read_log(tmp_path / "log")["service"]) == ["建设/规划:许可"]
    import duckdb
    got = duckdb.sql(f"SELECT service FROM read_parquet('{tmp_path / 'log'}/**/*.parquet')").fetchall()
    assert got == [("建设/规划:许可",)]  # hive readers take the directory's value: it decodes to the same


def test_dedup_hash_ignores_provenance_and_absent_attributes():
    a = pd.DataFrame({"x": pd.array(["1", "2"], dtype="string"), "source_row": [1, 2]})
    b = a.assign(extra=pd.array([None, None], dtype="string"), source_row=[5, 6])
    assert np.array_equal(streaming.event_hashes(a), streaming.event_hashes(b))
    assert streaming.event_hashes(a)[0] != streaming.event_hashes(a)[1]


def test_dedup_hash_of_a_value_does_not_depend_on_the_rest_of_the_batch():
    t = pd.Series(pd.to_datetime(["2024-03-01 09:00", "2024-03-02 09:00"])).dt.tz_localize("Asia/Shanghai")
    a = pd.DataFrame({"start_time": t, "in_person": pd.array([True, False], dtype="boolean"),
                      "sla_days": pd.array([10.0, 3.0], dtype="Float64")})
    b = pd.DataFrame({"start_time": t.where([True, False]), "in_person": pd.array([True, None], dtype="boolean"),
                      "sla_days": pd.array([10.0, None], dtype="Float64")})
    assert streaming.event_hashes(a)[0] == streaming.event_hashes(b)[0]


_SLOW_IMPORT = """
import sys
from procmine import cli
from procmine.report import terminal as render

class Immediate(render.Progress):  # a line after every batch, at once
    def __init__(self, what, **kw):
        super().__init__(what, after=0.0, every=0.0)

render.Progress = Immediate
sys.exit(cli.main(["import", sys.argv[1], "-o", sys.argv[2], "--batch-rows", "5"]))
"""


@pytest.mark.parametrize("signum", ["SIGTERM", "SIGINT"])
def test_signal_mid_import_leaves_nothing(tmp_path, signum):
    import os
    import signal
    import subprocess
    import sys

    good = [r for r in _rows() if r[0] not in ("合计", "A3")]
    rows = [[f"{r[0]}-{i}"] + r[1:] for i in range(2000) for r in good]  # 24,000 rows: 4,800 batches
    src = _write_csv(tmp_path / "export.csv", rows)
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_IMPORT, str(src), f"{out}/"], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, env=env, cwd=tmp_path)
    try:
        first = proc.stderr.readline().decode("utf-8")  # the first batch is done: the import is under way
        assert "rows read" in first, first
        proc.send_signal(getattr(signal, signum))
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = err.decode("utf-8")
    assert proc.returncode == 128 + getattr(signal, signum), err
    assert "interrupted; no partial output was left" in err and "Traceback" not in err
    assert list((tmp_path / "out").iterdir()) == []  # neither the dataset nor .log.tmp-*


def test_digit_only_service_names_stay_text(tmp_path):
    """service=007/ would be the number 7 to a hive reader's type inference: the files
    carry service as text, and every reader of the dataset gives the name back."""
    import duckdb

    from procmine.engine.runner import DuckDBEngine, EngineOptions

    rows = [["S1", "007", "受理", "局", "人", "2024-03-01 09:00", "2024-03-01 10:00", "", "窗口"],
            ["S1", "007", "办结", "局", "人", "2024-03-02 09:00", "2024-03-02 10:00", "", "窗口"],
            ["S2", "2024", "受理", "局", "人", "2024-04-01 09:00", "2024-04-01 10:00", "", "窗口"],
            ["S3", "1e3", "受理", "局", "人", "2024-04-01 09:00", "2024-04-01 10:00", "", "窗口"]]
    src = _write_csv(tmp_path / "e.csv", rows, title=None)
    log_dir = tmp_path / "log"
    r = streaming.import_dataset(src, log_dir, batch_rows=2)
    assert r.partitions == ["service=007/month=2024-03", "service=1e3/month=2024-04", "service=2024/month=2024-04"]
    log = procmine.read_log(log_dir)
    assert list(log["service"]) == ["007", "007", "2024", "1e3"]
    assert str(log["service"].dtype) == str(procmine.read_export(src).log["service"].dtype)
    _same_log(log, procmine.read_export(src).log)
    got = duckdb.sql(f"SELECT DISTINCT service, typeof(service) FROM read_parquet('{log_dir}/**/*.parquet') "
                     "ORDER BY 1").fetchall()
    assert got == [("007", "VARCHAR"), ("1e3", "VARCHAR"), ("2024", "VARCHAR")]
    engine = DuckDBEngine(EngineOptions.from_env())
    engine.load(log_dir)
    assert sorted(engine.con.execute("SELECT DISTINCT service FROM ev").fetchall()) == [("007",), ("1e3",),
                                                                                       ("2024",)]
    a = audit(log_dir)
    procmine.write_log(procmine.read_export(src).log, tmp_path / "log.parquet")
    assert a.metrics == audit(tmp_path / "log.parquet").metrics


def test_one_file_per_partition_and_columns_of_several_files(tmp_path):
    """Many small batches still give one file (one row group) per partition; a second
    file with another column set goes into a file of its own in the partitions it shares."""
    import pyarrow.parquet as pq

    a = _write_csv(tmp_path / "a.csv", _rows())
    b = tmp_path / "b.csv"
    b.write_text("办件编号,事项名称,环节名称,开始时间,结束时间,备注\n"
                 "Z1,食品经营许可,受理,2024-03-05 09:00,2024-03-05 10:00,加急\n", encoding="utf-8")
    r = streaming.import_dataset([a, b], tmp_path / "log", batch_rows=2)
    files = sorted((tmp_path / "log").rglob("*.parquet"))
    assert len(files) == len(EXPECTED_PARTITIONS) + 1
    assert all(pq.ParquetFile(f).metadata.num_row_groups == 1 for f in files)
    assert sorted(f.name for f in files if "month=2024-03" in str(f) and "食品经营许可" in str(f)) == \
        ["part-0.parquet", "part-1.parquet"]
    memory = procmine.read_export([a, b])
    assert (r.events, r.cases, r.duplicates_found) == (memory.events, memory.cases, memory.duplicates_found)
    _same_log(procmine.read_log(tmp_path / "log"), memory.log)
