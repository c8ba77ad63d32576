"""The canonical log in other tools: pandas, polars, DuckDB, pm4py; lossless CSV/XES; OCEL 2.0 (issue 13)."""

from __future__ import annotations

import subprocess
from pathlib import Path
import sys

import numpy as np
import pandas as pd
import pytest

import relational_data as rd
from procmine import read_export
from procmine.log.eventlog import CANONICAL, SOURCE, read_log, write_log


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    """A log with every canonical field filled somewhere (and left empty elsewhere)."""
    base = read_export(rd.write_workbook(tmp_path_factory.mktemp("io") / "wb.xlsx")).log.copy()
    n = len(base)
    base["in_person"] = pd.array([True, False, None] * (n // 3) + [True] * (n % 3), dtype="boolean")
    base.loc[base.case_id == "C002", "sla_calendar_days"] = 15.0
    base.loc[base.case_id == "C002", "sla_days"] = pd.NA
    base.loc[base.case_id == "C003", "limit_text"] = "按规定时限"
    base.loc[base.case_id == "C001", "due_time"] = pd.Timestamp("2024-03-15 17:00", tz="Asia/Shanghai")
    base.loc[base.activity == "审查", "start_time"] = pd.NaT  # an end without a start
    base["channel"] = base["channel"].astype("string")
    return base


def test_parquet_opens_in_pandas_polars_duckdb_and_pm4py(log, tmp_path):
    path = write_log(log, tmp_path / "log.parquet")
    # pandas in a fresh interpreter that never imports procmine
    code = (f"import pandas as pd; df = pd.read_parquet({str(path)!r}); "
            "print(len(df), df['materials'].map(len).sum(), df['case_id'].iloc[0])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(len(log)), str(int(log["materials"].map(len).sum())), log["case_id"].iloc[0]]
    pdf = pd.read_parquet(path)
    assert list(pdf.case_id) == list(log.case_id) and list(pdf.activity) == list(log.activity)
    assert [list(m) for m in pdf.materials] == [list(m) for m in log.materials]
    assert (pdf.end_time.fillna(pd.Timestamp(0, tz="UTC")) == log.end_time.fillna(pd.Timestamp(0, tz="UTC"))).all()

    import polars as pl

    pol = pl.read_parquet(path)
    assert pol.height == len(log) and pol["case_id"].to_list() == list(log.case_id)
    assert pol["materials"].to_list() == [list(m) for m in log.materials]
    assert pol["start_time"].dtype.time_zone == "Asia/Shanghai"

    import duckdb

    rows = duckdb.sql(f"SELECT case_id, activity, len(materials) AS k FROM read_parquet('{path}')").fetchall()
    assert rows == list(zip(log.case_id, log.activity, log.materials.map(len)))

    import pm4py

    df = pdf.dropna(subset=["end_time"])
    formatted = pm4py.format_dataframe(df, case_id="case_id", activity_key="activity", timestamp_key="end_time")
    assert len(formatted) == len(df)
    assert list(formatted["concept:name"]) == list(df.activity)
    # procmine's own reader gives back the identical frame
    pd.testing.assert_frame_equal(read_log(path), log.reset_index(drop=True), check_dtype=True)


@pytest.mark.parametrize("suffix", [".csv", ".xes", ".csv.gz"])
def test_csv_and_xes_round_trip_field_by_field(log, tmp_path, suffix):
    path = write_log(log, tmp_path / f"log{suffix}")
    back = read_export(path).log
    assert len(back) == len(log)
    log_ = log.reset_index(drop=True)
    for col in log.columns:
        if col in SOURCE:
            continue
        assert col in back.columns, col
        a, b = log_[col], back[col]
        if col in CANONICAL:
            assert b.dtype == a.dtype, (col, a.dtype, b.dtype)
        if col == "materials":
            assert [list(x) for x in a] == [list(x) for x in b], col
        elif isinstance(a.dtype, pd.DatetimeTZDtype):
            assert isinstance(b.dtype, pd.DatetimeTZDtype), col
            assert a.isna().tolist() == b.isna().tolist(), col
            assert (a.dropna().dt.floor("s").to_numpy() == b.dropna().to_numpy()).all(), col
        else:
            assert a.astype(object).where(a.notna(), None).tolist() == \
                b.astype(object).where(b.notna(), None).tolist(), col
    # the original provenance is kept as attributes
    assert set(back["source_row_src"].astype(int)) == set(log["source_row"])


@pytest.mark.parametrize("suffix", [".jsonocel", ".xmlocel", ".sqlite"])
def test_ocel2_export_reads_back_in_pm4py(log, tmp_path, suffix):
    import pm4py

    path = write_log(log, tmp_path / f"log{suffix}")
    ocel = pm4py.read_ocel2(str(path))
    assert len(ocel.events) == len(log)
    types = ocel.objects["ocel:type"].value_counts().to_dict()
    n_docs = len({(c, d) for c, m in zip(log.case_id, log.materials) for d in m})
    assert types == {"办件": log.case_id.nunique(), "申请人": log.applicant_id.nunique(), "材料": n_docs}
    assert sorted(ocel.events["ocel:activity"]) == sorted(log.activity)
    rel = ocel.relations
    # every event belongs to its 办件; documents hang on the step that received them
    assert (rel["ocel:type"] == "办件").sum() == len(log)
    docs = rel.loc[rel["ocel:type"] == "材料", "ocel:oid"]
    assert set(docs) == {f"材料:{c}:{d}" for c, m in zip(log.case_id, log.materials) for d in m}
    # applicants are pseudonyms: no name or ID number in the file
    blob = path.read_bytes()
    for secret in set(log.applicant.dropna()) | set(log.applicant_id.dropna()):
        assert secret.encode() not in blob
    flat = pm4py.ocel_flattening(ocel, "办件")
    assert flat["case:concept:name"].nunique() == log.case_id.nunique()


def test_parquet_opens_in_the_oldest_supported_pandas(log, tmp_path):
    """Set PROCMINE_OLDEST_PANDAS_PYTHON to an interpreter with the oldest pandas/pyarrow pyproject
    allows (`make test-oldest` does: its venv has them)."""
    import json
    import os

    python = os.environ.get("PROCMINE_OLDEST_PANDAS_PYTHON")
    if not python:
        pytest.skip("PROCMINE_OLDEST_PANDAS_PYTHON not set (an interpreter with the oldest supported pandas)")
    path = write_log(log, tmp_path / "log.parquet")
    code = ("import json, pandas as pd; df = pd.read_parquet(%r); print(json.dumps({'v': pd.__version__, "
            "'case': df.case_id.tolist(), 'act': df.activity.tolist(), 'mat': [list(m) for m in df.materials], "
            "'end': [None if pd.isna(t) else t.isoformat() for t in df.end_time]}))" % str(path))
    done = subprocess.run([python, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    import re as _re
    from pathlib import Path as _Path
    pyproject = _Path(__file__).resolve().parents[1] / "pyproject.toml"
    floor = _re.search(r'"pandas>=([\d.]+)"', pyproject.read_text(encoding="utf-8")).group(1)
    assert got["v"].startswith(floor)  # the interpreter really has the oldest pandas pyproject allows
    assert got["case"] == list(log.case_id) and got["act"] == list(log.activity)
    assert got["mat"] == [list(m) for m in log.materials]
    assert got["end"] == [None if pd.isna(t) else t.isoformat() for t in log.end_time]


def test_a_partitioned_dataset_opens_in_pandas_and_duckdb_by_its_files_columns(tmp_path):
    """`procmine import … -o log/` opens without procmine as the README says."""
    from procmine.sources.streaming import import_dataset

    src = tmp_path / "in.csv"
    src.write_text("办件编号,事项名称,环节名称,开始时间,结束时间\n"
                   "A1,食品经营许可,受理,2024-03-04 09:00,2024-03-04 09:30\n"
                   "A1,食品经营许可,办结,2024-04-01 10:00,2024-04-01 10:30\n"
                   "B1,007,受理,2024-03-05 09:00,2024-03-05 09:10\n", encoding="utf-8")
    out = tmp_path / "log"
    import_dataset([src], out)
    code = (f"import pandas as pd; df = pd.read_parquet({str(out)!r}, partitioning=None); "
            "print(len(df), sorted(set(df['service'])))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3 ['007', '食品经营许可']"  # two months of one service, one of the other

    import duckdb

    rows = duckdb.sql(f"SELECT case_id, service FROM '{out}/**/*.parquet' ORDER BY case_id, start_time").fetchall()
    assert rows == [("A1", "食品经营许可"), ("A1", "食品经营许可"), ("B1", "007")]


def test_logs_written_by_spark_and_by_pandas_with_naive_times_read_as_the_same_instants(tmp_path):
    """Spark writes timestamps as INT96 — UTC instants that readers return without a zone;
    pandas writes naive times as they are (here Shanghai wall-clock time). 受理 at 09:00 Shanghai
    is 01:00 UTC: read either way, it is 09:00 Shanghai, and the case table is procmine's own."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from procmine.engine.metrics import case_metrics
    from test_audit import mklog

    log = mklog([("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", {"sla": 5}),
                 ("A", "办结", "2024-03-08 16:00", "2024-03-08 16:30", {"sla": 5})])
    own = tmp_path / "own.parquet"
    write_log(log, own)
    table = pq.read_table(own)
    # Spark: the same instants, stored as INT96, read back without a zone
    pq.write_table(table, tmp_path / "spark.parquet", use_deprecated_int96_timestamps=True)
    # pandas: wall-clock times without a zone
    naive = log.copy()
    for c in naive.columns:
        if isinstance(naive[c].dtype, pd.DatetimeTZDtype):
            naive[c] = naive[c].dt.tz_localize(None)
    naive.to_parquet(tmp_path / "naive.parquet")
    assert pq.read_schema(tmp_path / "spark.parquet").field("start_time").type == pa.timestamp("ns")
    expected = pd.Timestamp("2024-03-04 09:00", tz="Asia/Shanghai")
    reference = case_metrics(str(own))
    for name in ("spark.parquet", "naive.parquet"):
        back = read_log(tmp_path / name)
        assert back["start_time"].iloc[0] == expected, name
        # the engine reading the file itself: 受理 (ends Mon 09:30) → 办结 Fri = 4 working days, as in procmine's own
        got = case_metrics(str(tmp_path / name))
        accepted = pd.Timestamp("2024-03-04 09:30", tz="Asia/Shanghai")
        assert got["clock_days"].iloc[0] == 4 and got["accept_time"].iloc[0] == accepted, name
        pd.testing.assert_frame_equal(got, reference)


def test_a_log_in_many_small_files_gives_the_case_table_of_one_file(tmp_path):
    """A streaming job's output — here the sample in 20 files of a few hundred events, more than
    four per engine thread, so the engine reads it into itself once — gives the same case table,
    row for row, as the same log in one file."""
    import pyarrow.parquet as pq

    from procmine.engine.metrics import case_metrics

    root = Path(__file__).resolve().parent.parent
    one = tmp_path / "one.parquet"
    log = read_export(sorted((root / "logs").glob("*.xlsx"))[:1]).log
    write_log(log, one)
    table = pq.read_table(one)
    parts = tmp_path / "parts"
    parts.mkdir()
    step = -(-len(table) // 20)
    for i in range(0, len(table), step):
        pq.write_table(table.slice(i, step), parts / f"part-{i // step:05d}.parquet")
    assert len(list(parts.glob("*.parquet"))) == 20
    pd.testing.assert_frame_equal(case_metrics(str(parts)), case_metrics(str(one)))
