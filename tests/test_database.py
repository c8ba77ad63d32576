"""Databases as sources, against a live throw-away PostgreSQL (issue 13)."""

from __future__ import annotations

import pandas as pd
import pytest

import relational_data as rd
from pgserver import PASSWORD, Server
from procmine import read_export
from procmine.cli import main
from procmine.errors import InputError

PROVENANCE = ["source_file", "source_sheet", "source_row"]
TIME_COLUMNS = {"申请时间", "受理时间", "办结时间", "送达时间", "开始时间", "结束时间", "评价时间", "整改完成时间"}


@pytest.fixture(scope="module")
def pg():
    server = Server()
    try:
        engine = server.engine()
        from sqlalchemy import text

        with engine.begin() as conn:
            for name, frame in rd.TABLES.items():
                frame.to_sql(name, conn, index=False)
                for col in TIME_COLUMNS & set(frame.columns):  # real timestamp columns, as a platform has
                    conn.execute(text(f'ALTER TABLE "{name}" ALTER COLUMN "{col}" TYPE timestamp '
                                      f'USING "{col}"::timestamp'))
            for name, frame in rd.QIANZHIKU.items():
                frame.to_sql(name, conn, index=False)
            # a flat event table
            rd.STEP.assign(事项名称="食品经营许可").to_sql("events", conn, index=False)
        engine.dispose()
        yield server
    finally:
        server.stop()


@pytest.fixture
def no_env_password(monkeypatch):
    for var in ("PGPASSWORD", "PROCMINE_DB_PASSWORD", "PGPASSFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")


def test_database_tables_give_the_same_log_as_the_workbook(pg, tmp_path, monkeypatch, no_env_password):
    monkeypatch.setenv("PROCMINE_DB_PASSWORD", PASSWORD)
    db = read_export(pg.url, tables=list(rd.TABLES), )
    wb = read_export(rd.write_workbook(tmp_path / "wb.xlsx"))
    pd.testing.assert_frame_equal(wb.log.drop(columns=PROVENANCE), db.log.drop(columns=PROVENANCE))
    assert set(db.log.source_file) == {"办理过程", "办件信息"}
    assert {(r.file, int(r.row)) for r in db.rejects.itertuples()} == {
        ("办理过程", 6), ("收取材料", 4), ("收取材料", 5), ("好差评", 3), ("办件信息", 4)}
    for s in db.sheets:
        assert s.rows_read == s.rows_used + s.duplicates + s.rejected


def test_qianzhiku_tables_in_a_database(pg, tmp_path, no_env_password):
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    db = read_export(pg.url, tables=list(rd.QIANZHIKU), password_file=pw)
    files = read_export(rd.write_dialect(rd.QIANZHIKU, tmp_path / "q"))
    pd.testing.assert_frame_equal(files.log.drop(columns=PROVENANCE), db.log.drop(columns=PROVENANCE))
    # table names match case-insensitively, as column names do
    lower = read_export(pg.url, tables=[t.lower() for t in rd.QIANZHIKU], password_file=pw)
    assert list(lower.log.case_id) == list(db.log.case_id) and list(lower.log.activity) == list(db.log.activity)


def test_query_and_chunked_streaming(pg, no_env_password, monkeypatch):
    from procmine.sources import database

    monkeypatch.setenv("PROCMINE_DB_PASSWORD", PASSWORD)
    r = database.read_database([pg.url], query='SELECT * FROM events WHERE "办件编号" <> \'C999\'', chunk_rows=2)
    assert len(r.log) == 5 and set(r.log.source_file) == {"query"}
    assert sorted(r.log.source_row) == [1, 2, 3, 4, 5]
    assert set(r.log.service) == {"食品经营许可"}


def test_cli_import_from_postgresql_never_shows_the_password(pg, tmp_path, capsys, no_env_password):
    url = pg.url.replace("procmine@", f"procmine:{PASSWORD}@")
    out = tmp_path / "log.parquet"
    args = ["import", url, "--table", "办件信息", "--table", "办理过程", "--table", "收取材料", "--table", "好差评",
            "-o", str(out)]
    assert main(args) == 0
    shown = capsys.readouterr()
    assert PASSWORD not in shown.out + shown.err
    for f in (out, tmp_path / "log.rejects.csv"):
        assert PASSWORD.encode() not in f.read_bytes()
    log = pd.read_parquet(out)
    assert len(log) == 8
    assert not log.astype(str).apply(lambda c: c.str.contains(PASSWORD, regex=False)).any().any()


@pytest.mark.parametrize("kind", ["wrong password", "unreachable", "no such table"])
def test_errors_never_show_the_password(pg, tmp_path, capsys, no_env_password, kind):
    url = pg.url.replace("procmine@", f"procmine:{PASSWORD}@")
    table = "办件信息"
    if kind == "wrong password":
        url = pg.url.replace("procmine@", "procmine:Wrong-Pw-42@")
        secret = "Wrong-Pw-42"
    elif kind == "unreachable":
        url = url.replace(f":{pg.port}/", ":1/")
        secret = PASSWORD
    else:
        table, secret = "nope", PASSWORD
    with pytest.raises(InputError) as err:
        read_export(url, tables=[table])
    assert secret not in str(err.value) and secret not in repr(err.value)
    assert main(["import", url, "--table", table, "-o", str(tmp_path / "x.parquet")]) == 1
    shown = capsys.readouterr()
    assert secret not in shown.out + shown.err and "procmine: error:" in shown.err
    assert not (tmp_path / "x.parquet").exists()  # nothing half-written


def test_password_file_and_environment(pg, tmp_path, monkeypatch, no_env_password):
    pw = tmp_path / "pw"
    pw.write_text("not-it\n")
    with pytest.raises(InputError) as err:
        read_export(pg.url, tables=["events"], password_file=pw)
    assert "not-it" not in str(err.value)
    monkeypatch.setenv("PROCMINE_DB_PASSWORD", PASSWORD)
    r = read_export(pg.url, tables=["events"])  # flat event table: no relational roles
    assert len(r.log) == 6 and [s.layout for s in r.sheets] == ["long"]


def test_a_failure_mid_stream_leaves_no_output(pg, tmp_path, capsys, no_env_password, monkeypatch):
    monkeypatch.setenv("PROCMINE_DB_PASSWORD", PASSWORD)
    out = tmp_path / "log.parquet"
    # rows stream in chunks of 2; the 10th row fails on the server after several chunks arrived
    query = ("SELECT 'K' || g AS 办件编号, '受理' AS 环节名称, now()::timestamp AS 结束时间, 1 / (10 - g) AS x "
             "FROM generate_series(1, 20) g")
    from procmine.sources import database

    monkeypatch.setattr(database, "CHUNK_ROWS", 2)
    assert main(["import", pg.url, "--query", query, "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "cannot read query" in err and "division by zero" in err
    assert not out.exists() and not list(tmp_path.iterdir())


# ---------------------------------------------------------------- tables found by their columns


@pytest.fixture(scope="module")
def gov(pg):
    """A second database holding one system's tables only (case, step, document, rating)."""
    from sqlalchemy import create_engine, text

    admin = create_engine(pg.engine().url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE gov"))
    admin.dispose()
    engine = create_engine(pg.engine().url.set(database="gov"))
    with engine.begin() as conn:
        for name, frame in rd.TABLES.items():
            frame.to_sql(name, conn, index=False)
    engine.dispose()
    return pg.url.rsplit("/", 1)[0] + "/gov"


def test_list_tables_gives_each_table_its_role(pg, capsys, no_env_password, monkeypatch):
    import json

    monkeypatch.setenv("PROCMINE_DB_PASSWORD", PASSWORD)
    assert main(["import", pg.url, "--list-tables", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    roles = {t["table"]: (t["role"], t["key"]) for t in data["tables"]}
    # by hand from relational_data: the four tables keyed by 办件编号, the 前置库 ones by PROJID,
    # and the flat events table (steps with a 事项名称) a step table too
    assert roles["办件信息"] == ("case", "办件编号") and roles["办理过程"] == ("step", "办件编号")
    assert roles["收取材料"] == ("document", "办件编号") and roles["好差评"] == ("rating", "办件编号")
    assert roles["events"] == ("step", "办件编号")
    assert roles["PRE_APASINFO"] == ("case", "PROJID") and roles["PRE_NODE"] == ("step", "PROJID")
    # two systems in one database: an import without --table would have to guess
    assert data["import_reads"] == [] and "2 different case ids" in data["needs_table"]


def test_import_without_table_refuses_to_mix_two_systems(pg, tmp_path, capsys, no_env_password, monkeypatch):
    monkeypatch.setenv("PROCMINE_DB_PASSWORD", PASSWORD)
    out = tmp_path / "log.parquet"
    assert main(["import", pg.url, "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "keyed by 2 different case ids" in err and "--table NAME" in err
    assert "办理过程: step (key 办件编号)" in err and "PRE_NODE: step (key PROJID)" in err  # the tables there
    assert not out.exists()


def test_import_without_table_detects_the_roles(gov, tmp_path, capsys, no_env_password, monkeypatch):
    monkeypatch.setenv("PROCMINE_DB_PASSWORD", PASSWORD)
    found = read_export(gov)
    named = read_export(gov, tables=list(rd.TABLES))
    pd.testing.assert_frame_equal(found.log, named.log)
    assert {s.file for s in found.sheets} == set(rd.TABLES)
    # as in the test above on the same tables: 8 events, rejects C999 (step), C997 (rating) …
    assert len(found.log) == 8 and len(found.rejects) == 5
    assert main(["import", gov, "--list-tables"]) == 0
    shown = capsys.readouterr().out
    assert "import without --table reads: 办件信息, 办理过程, 好差评, 收取材料" in shown
    assert main(["import", gov, "-o", str(tmp_path / "log.parquet")]) == 0


def test_choose_tables_never_guesses():
    from procmine.errors import MappingError
    from procmine.sources.database import TableInfo, choose_tables

    case = TableInfo("cases", ("办件编号", "事项名称", "受理时间"), "case", "办件编号")
    steps = TableInfo("steps", ("办件编号", "环节名称", "结束时间"), "step", "办件编号")
    other = TableInfo("log", ("办件编号", "环节名称", "结束时间", "x"), "step", "办件编号")
    plain = TableInfo("users", ("id", "name"), None, None)
    assert choose_tables([case, steps, plain]) == ["cases", "steps"]
    assert choose_tables([other, plain]) == ["log"]  # a lone event table
    with pytest.raises(MappingError, match="2 tables of the database could be the step table: steps, log"):
        choose_tables([case, steps, other])
    twin = TableInfo("cases_2023", case.columns, "case", "办件编号")
    with pytest.raises(MappingError, match="look like the same case table"):
        choose_tables([case, twin, steps])
    with pytest.raises(MappingError, match="no table in the database looks like") as err:
        choose_tables([plain])
    assert "users: no role" in err.value.hint


def test_list_tables_of_sqlite_without_a_server(tmp_path, capsys):
    import sqlite3

    db = tmp_path / "one.db"
    with sqlite3.connect(db) as conn:
        for name, frame in rd.TABLES.items():
            frame.to_sql(name, conn, index=False)
        conn.execute("create view 办件视图 as select * from 办件信息")  # views are listed too
    assert main(["import", f"sqlite:///{db}", "--list-tables"]) == 0
    out = capsys.readouterr().out
    assert "办件视图" in out
    # the view has the case table's columns: two look-alike case tables, so --table is needed
    assert "import needs --table NAME" in out and "look like the same case table" in out
