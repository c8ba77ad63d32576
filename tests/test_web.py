"""The workbench's project folder, import by upload and the pages' cache (tests/web_fixture.py's six cases)."""

from __future__ import annotations

import json
import re
import stat
import threading

import pytest

pytest.importorskip("starlette")
pytest.importorskip("argon2")

from starlette.testclient import TestClient  # noqa: E402

import web_fixture as wf  # noqa: E402
from procmine.cli import main  # noqa: E402
from procmine.web import Project, create_app  # noqa: E402


@pytest.fixture()
def env(monkeypatch):
    monkeypatch.setenv("PROCMINE_MASK_KEY", "web-tests-mask-key-0123456789")


def token(c: TestClient, url: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', c.get(url).text).group(1)


def signed_in(root, name="admin", password=None) -> TestClient:
    c = TestClient(create_app(root), follow_redirects=False)
    r = c.post("/login", data={"username": name, "password": password or wf.PASSWORDS[name],
                               "csrf_token": token(c, "/login")})
    assert r.status_code == 303
    return c


def test_init_creates_the_project_with_private_files_and_a_hashed_password(tmp_path, capsys):
    pw = tmp_path / "pw.txt"
    pw.write_text("first-admin-password\n", encoding="utf-8")
    root = tmp_path / "proj"
    assert main(["serve", "--init", str(root), "--admin", "chief", "--password-file", str(pw)]) == 0
    for name in ("users.json", "secret.key", "access.log"):
        assert stat.S_IMODE((root / name).stat().st_mode) == 0o600, name
    text = (root / "users.json").read_text(encoding="utf-8")
    assert "first-admin-password" not in text and "$argon2id$" in text
    assert json.loads(text)["users"]["chief"]["role"] == "admin"
    assert "first-admin-password" not in capsys.readouterr().out
    # a second --init refuses instead of replacing the accounts
    assert main(["serve", "--init", str(root), "--password-file", str(pw)]) == 2
    # a too short password is refused before anything is written
    pw.write_text("short\n", encoding="utf-8")
    assert main(["serve", "--init", str(tmp_path / "other"), "--password-file", str(pw)]) == 2
    assert not (tmp_path / "other" / "users.json").exists()


def test_serve_refuses_a_folder_that_is_not_a_project(tmp_path, capsys):
    assert main(["serve", str(tmp_path)]) == 1
    assert "procmine serve --init" in capsys.readouterr().err


def test_upload_shows_the_accounting_and_replaces_the_log(tmp_path, env):
    root = tmp_path / "proj"
    Project.init(root, "admin", wf.PASSWORDS["admin"])
    c = signed_in(root)
    assert c.get("/overview.json").json()["empty"] is True
    # the six cases' 16 rows, plus one row without a case id (set aside) = 17 rows read
    rows = wf.ROWS + [["", wf.S, "受理", "公安局", "赵六", "2024-03-01 09:00", "2024-03-01 09:10", 5, "", "", "", "", ""]]
    export = wf.write_export(tmp_path / "export.csv", rows)
    r = c.post("/upload", data={"csrf_token": token(c, "/upload")},
               files=[("files", ("export.csv", export.read_bytes(), "text/csv"))])
    assert r.status_code == 200
    assert re.search(r"读取 17 行 = 采用 16 \+ 重复 0 \+ 拒收 1\s*（核对一致）；16 条环节记录，6 件", r.text), r.text
    assert c.get("/overview.json").json()["totals"]["cases"] == 6
    rejects = c.get("/download/rejects.csv")
    assert rejects.status_code == 200 and len(rejects.text.strip().splitlines()) == 2  # header + the one row


def test_a_broken_workbook_shows_the_error_and_changes_nothing(tmp_path, env):
    root = tmp_path / "proj"
    proj = wf.make_project(root, tmp_path)
    before = (root / "log.parquet").read_bytes()
    version = proj.version()
    c = signed_in(root)
    cases_before = c.get("/cases.json").json()["total"]
    r = c.post("/upload", data={"csrf_token": token(c, "/upload")},
               files=[("files", ("broken.xlsx", b"PK\x03\x04 this is not a workbook", "application/octet-stream"))])
    assert r.status_code == 400
    assert "导入失败，办件日志未改变" in r.text and "broken.xlsx" in r.text
    assert "procmine-upload-" not in r.text  # the server's temporary folder is not shown
    assert (root / "log.parquet").read_bytes() == before and proj.version() == version
    assert c.get("/cases.json").json()["total"] == cases_before == 6
    # a file of another kind is refused before it is read
    r = c.post("/upload", data={"csrf_token": token(c, "/upload")},
               files=[("files", ("notes.txt", b"hello", "text/plain"))])
    assert r.status_code == 400 and "不支持的文件类型" in r.text
    assert not list(root.glob(".log.parquet.tmp-*"))  # no half-written log left beside


def test_the_case_table_and_findings_are_computed_once_per_log_version(tmp_path, env, monkeypatch):
    import procmine.analysis.audit as audit_mod

    root = tmp_path / "proj"
    wf.make_project(root, tmp_path)
    calls = []
    real = audit_mod.audit
    monkeypatch.setattr(audit_mod, "audit", lambda *a, **k: calls.append(1) or real(*a, **k))
    c = signed_in(root)
    for url in ("/overview.json", "/cases.json", "/findings.json", "/cards.json", "/cases/IN-A1.json"):
        assert c.get(url).status_code == 200
    assert len(calls) == 1  # the whole table, once
    m = signed_in(root, "market")
    m.get("/overview.json")
    m.get("/cards.json")
    assert len(calls) == 2  # the department's scope, once
    # a restarted server reads both from the project's cache
    signed_in(root).get("/overview.json")
    signed_in(root, "market").get("/overview.json")
    assert len(calls) == 2
    # a new import is a new version: computed again, once — the whole log's at once, then in the
    # background every scope an account has (market's and police's), before their first page
    c.post("/upload", data={"csrf_token": token(c, "/upload")},
           files=[("files", ("e.csv", wf.write_export(tmp_path / "e.csv", wf.ROWS[:6]).read_bytes(), "text/csv"))])
    for t in threading.enumerate():
        if t.name == "procmine-warm":
            t.join(60)
    assert len(calls) == 2 + 3
    assert c.get("/overview.json").json()["totals"]["cases"] == 2
    signed_in(root, "market").get("/overview.json")
    assert len(calls) == 5
    assert [d.name.split(".")[0] for d in (root / "cache").iterdir()] == [Project.open(root).version()]  # old one gone
    # edited rules are a new version too
    (root / "rules.yaml").write_text("thresholds:\n  min_cases: 2\n", encoding="utf-8")
    assert c.get("/overview.json").status_code == 200
    assert len(calls) == 6


def test_every_page_has_its_json_twin_with_the_same_numbers(tmp_path, env):
    root = tmp_path / "proj"
    wf.make_project(root, tmp_path)
    c = signed_in(root)
    for page in ("/overview", "/findings", "/cases", "/cards", "/cases/IN-A2", "/findings/1"):
        html, twin = c.get(page), c.get(page + ".json")
        assert html.status_code == twin.status_code == 200, page
        assert html.headers["content-type"].startswith("text/html")
        assert twin.headers["content-type"].startswith("application/json")
    ov = c.get("/overview.json").json()
    assert ov["totals"]["cases"] == 6 and ov["totals"]["red"] == 2  # OUT-C4 and IN-A6
    assert f">{ov['totals']['cases']}</b>办件" in c.get("/overview").text
    case = c.get("/cases/IN-A2.json").json()
    assert [s["activity"] for s in case["steps"]] == ["受理", "审核", "办结"]
    assert [s["department"] for s in case["steps"]] == ["市场监管局", "公安局", "市场监管局"]
    # IN-A2: accepted Fri 03-01, decided Wed 03-06: working days 03-04, 03-05, 03-06 = 3, limit 5
    assert case["case"]["clock_days"] == 3 and case["case"]["sla_days"] == 5
