"""The workbench imports from a database source configured in the project (a live throw-away PostgreSQL)."""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("starlette")
pytest.importorskip("sqlalchemy")

from starlette.testclient import TestClient  # noqa: E402

import relational_data as rd  # noqa: E402
from pgserver import PASSWORD, Server  # noqa: E402
from procmine import read_export  # noqa: E402
from procmine.web import Project, create_app  # noqa: E402


@pytest.fixture(scope="module")
def pg():
    server = Server()
    try:
        engine = server.engine()
        with engine.begin() as conn:
            for name, frame in rd.TABLES.items():
                frame.to_sql(name, conn, index=False)
        engine.dispose()
        yield server
    finally:
        server.stop()


def signed_in(root) -> TestClient:
    c = TestClient(create_app(root), follow_redirects=False)
    tok = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    assert c.post("/login", data={"username": "admin", "password": "admin-password-1", "csrf_token": tok}
                  ).status_code == 303
    return c


def configure(root, url: str, password: str) -> None:
    (root / "db.password").write_text(password + "\n", encoding="utf-8")
    meta = json.loads((root / "project.json").read_text(encoding="utf-8"))
    meta["source"] = {"url": url, "tables": list(rd.TABLES), "password_file": "db.password"}
    (root / "project.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


def test_import_from_the_configured_database(pg, tmp_path, monkeypatch):
    for var in ("PGPASSWORD", "PROCMINE_DB_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")
    monkeypatch.setenv("PROCMINE_MASK_KEY", "web-tests-mask-key-0123456789")
    root = tmp_path / "proj"
    Project.init(root, "admin", "admin-password-1")
    c = signed_in(root)
    assert c.post("/import-source", data={"csrf_token": "x"}).status_code == 403  # CSRF, as every form
    # a wrong password: the error is shown (without the password), nothing is written
    configure(root, pg.url, "not-the-password")
    page = c.get("/upload").text
    assert "从数据库导入" in page and "not-the-password" not in page
    tok = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = c.post("/import-source", data={"csrf_token": tok})
    assert r.status_code == 400 and "导入失败" in r.text and "not-the-password" not in r.text
    assert not (root / "log").exists() and not (root / "log.parquet").exists()
    # the right one: the same log and accounting as read_export of the same tables
    configure(root, pg.url, PASSWORD)
    r = c.post("/import-source", data={"csrf_token": tok})
    assert r.status_code == 200, r.text
    monkeypatch.setenv("PROCMINE_DB_PASSWORD", PASSWORD)
    expected = read_export(pg.url, tables=list(rd.TABLES))
    # a case table and a step table: rows are not steps, so the rows are accounted as read, the steps of
    # this first append are all new
    used = sum(s.rows_used for s in expected.sheets)
    assert (f"读取 {expected.rows_read} 行 = 采用 {used} + 重复 {expected.duplicates} + "
            f"拒收 {len(expected.rejects)}（核对一致）") in r.text
    assert f"按环节计：新增 {expected.events} + 更新 0 + 已有 0" in r.text
    assert len(expected.rejects) == 5  # the five bad rows relational_data plants (test_database.py)
    assert c.get("/overview.json").json()["totals"]["cases"] == expected.cases
