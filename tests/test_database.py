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
