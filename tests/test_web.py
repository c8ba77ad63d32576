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


def upload(c: TestClient, *named, **form):
    files = [("files", (p.name, p.read_bytes(), "text/csv")) for p in named]
    return c.post("/upload", data={"csrf_token": token(c, "/upload"), **form}, files=files)


# a later export (by hand): IN-A1 as before (3 rows already present); IN-A6's 受理 as before (present), its 审核
# now ending 11:00 instead of 10:00 (updated) and its 办结 (new); a new case IN-A7 of two rows (new)
LATER = [r for r in wf.ROWS if r[0] == "IN-A1"] + [
    ["IN-A6", wf.S, "受理", "市场监管局", "张三", "2024-04-01 09:00", "2024-04-01 09:30", 5, "营业执照", "戊公司", "", "", ""],
    ["IN-A6", wf.S, "审核", "市场监管局", "李四", "2024-04-02 09:00", "2024-04-02 11:00", 5, "", "戊公司", "", "", ""],
    ["IN-A6", wf.S, "办结", "市场监管局", "李四", "2024-04-03 09:00", "2024-04-03 09:30", 5, "", "戊公司", "", "", ""],
    ["IN-A7", wf.S, "受理", "市场监管局", "张三", "2024-04-08 09:00", "2024-04-08 09:30", 5, "营业执照", "己公司", "", "", ""],
    ["IN-A7", wf.S, "办结", "市场监管局", "李四", "2024-04-09 09:00", "2024-04-09 09:30", 5, "", "己公司", "", "", ""],
]


def test_uploads_append_to_the_dataset_with_the_accounting(tmp_path, env):
    from procmine.sources.append import append_history

    root = tmp_path / "proj"
    Project.init(root, "admin", wf.PASSWORDS["admin"])
    c = signed_in(root)
    assert c.get("/overview.json").json()["empty"] is True
    # the six cases' 16 rows, plus one row without a case id (set aside) = 17 rows read, all new
    rows = wf.ROWS + [["", wf.S, "受理", "公安局", "赵六", "2024-03-01 09:00", "2024-03-01 09:10", 5, "", "", "", "", ""]]
    r = upload(c, wf.write_export(tmp_path / "day1.csv", rows))
    assert r.status_code == 200
    assert re.search(r"版本 0：</b>\s*读取 17 行 = 新增 16 \+ 更新 0 \+ 已有 0 \+ 拒收 1\s*（核对一致）；\s*数据集现有 16 条环节记录，6 件",
                     r.text), r.text
    assert c.get("/overview.json").json()["totals"]["cases"] == 6
    rejects = c.get("/download/rejects.csv")
    assert rejects.status_code == 200 and len(rejects.text.strip().splitlines()) == 2  # header + the one row
    # the next day's export is appended: 8 rows read = 3 new + 1 updated + 4 already present + 0 rejected
    r = upload(c, wf.write_export(tmp_path / "day2.csv", LATER))
    assert r.status_code == 200
    assert re.search(r"版本 1：</b>\s*读取 8 行 = 新增 3 \+ 更新 1 \+ 已有 4 \+ 拒收 0\s*（核对一致）；\s*数据集现有 19 条环节记录，7 件",
                     r.text), r.text
    assert "下载拒收行" not in r.text and c.get("/download/rejects.csv").status_code == 404  # this upload's: none
    assert (root / "log" / "_delta_log").is_dir() and not (root / "log.parquet").exists()
    assert [h["version"] for h in append_history(root / "log")] == [0, 1]
    o = c.get("/overview.json").json()["totals"]
    assert (o["cases"], o["events"]) == (7, 19)
    a6 = c.get("/cases/IN-A6.json").json()
    assert [s["activity"] for s in a6["steps"]] == ["受理", "审核", "办结"]
    assert a6["steps"][1]["end"].startswith("2024-04-02T11:00")       # the later export's value won
    assert a6["case"]["outcome"] != "超期在办"                               # decided now (it was 红牌)
    # the same export again: everything already present, the totals unchanged
    r = upload(c, wf.write_export(tmp_path / "day2.csv", LATER))
    assert re.search(r"读取 8 行 = 新增 0 \+ 更新 0 \+ 已有 8 \+ 拒收 0", r.text), r.text
    assert c.get("/overview.json").json()["totals"]["cases"] == 7


def test_the_upload_page_shows_the_new_version_and_says_its_notes_in_chinese(tmp_path, env):
    root = tmp_path / "proj"
    Project.init(root, "admin", wf.PASSWORDS["admin"])
    c = signed_in(root)
    page = c.get("/upload").text
    # the version line lies outside the part an upload swaps (#upload-result): both forms take it from the
    # response too (htmx's hx-select-oob), so it must be there before any version exists
    assert re.search(r'<form[^>]*id="upload-form"[^>]*hx-select-oob="#dataset-line"', page)
    assert page.index('id="dataset-line"') < page.index('id="upload-result"')
    assert re.search(r'<span id="dataset-line">\s*</span>', page)  # no version yet
    # a wide export (by hand): 2 rows, each with a 受理 and a 办结 time = 4 steps; its note in Chinese
    wide = tmp_path / "wide.csv"
    wide.write_text("办件编号,事项名称,承办部门,受理时间,办结时间\n"
                    "W-1,宽表事项,市场监管局,2024-03-01 09:00,2024-03-04 10:00\n"
                    "W-2,宽表事项,市场监管局,2024-03-01 10:00,2024-03-05 10:00\n", encoding="utf-8")
    r = upload(c, wide)
    assert r.status_code == 200
    assert re.search(r'id="dataset-line">当前数据集版本：<b id="dataset-version">0</b>', r.text)
    assert "读取的 2 行对应 4 个环节（宽表一行含多个环节）" in r.text
    assert "rows read gave" not in r.text
    # the next upload: the fixture's 16 rows and one of them twice (an exact duplicate, kept: a CSV's policy)
    r = upload(c, wf.write_export(tmp_path / "day2.csv", wf.ROWS + [wf.ROWS[0]]))
    assert re.search(r'id="dataset-line">当前数据集版本：<b id="dataset-version">1</b>', r.text)
    assert "发现 1 条完全相同的重复环节记录" in r.text and "exact duplicate" not in r.text
    # where the sheet's service came from (事项来源): its 事项名称 column, said in Chinese too
    assert "<td>列“事项名称”</td>" in r.text and "column '" not in r.text


def test_a_broken_workbook_shows_the_error_and_changes_nothing(tmp_path, env):
    root = tmp_path / "proj"
    proj = wf.make_project(root, tmp_path)
    version, dataset_version = proj.version(), proj.dataset_version()
    assert dataset_version == 0
    c = signed_in(root)
    cases_before = c.get("/cases.json").json()["total"]
    r = c.post("/upload", data={"csrf_token": token(c, "/upload")},
               files=[("files", ("broken.xlsx", b"PK\x03\x04 this is not a workbook", "application/octet-stream"))])
    assert r.status_code == 400
    assert "导入失败，数据集未改变" in r.text and "broken.xlsx" in r.text
    assert "procmine-upload-" not in r.text  # the server's temporary folder is not shown
    assert proj.version() == version and proj.dataset_version() == dataset_version
    assert c.get("/cases.json").json()["total"] == cases_before == 6
    # a file of another kind is refused before it is read
    r = c.post("/upload", data={"csrf_token": token(c, "/upload")},
               files=[("files", ("notes.txt", b"hello", "text/plain"))])
    assert r.status_code == 400 and "不支持的文件类型" in r.text
    assert proj.dataset_version() == 0 and not list(root.glob(".log.tmp-*"))


def _failing_commit(monkeypatch):
    """An append that dies half-way: it has written a data file into the dataset, then its commit fails."""
    import shutil

    import procmine.sources.append as daily
    from procmine.errors import OutputError

    def commit(dataset, table, rows, record):
        part = dataset / f"{daily.MONTH}=2024-03"
        part.mkdir(parents=True, exist_ok=True)
        shutil.copy(wf.write_export(dataset.parent / "x.csv"), part / "part-00000-half-written.parquet")
        raise OutputError(f"cannot append to {dataset}: No space left on device")

    monkeypatch.setattr(daily, "_commit", commit)


def test_an_upload_interrupted_mid_way_changes_nothing(tmp_path, env, monkeypatch):
    from procmine.sources.append import append_history

    root = tmp_path / "proj"
    proj = wf.make_project(root, tmp_path)
    c = signed_in(root)
    before = {u: c.get(u).json() for u in ("/overview.json", "/cases.json", "/cases/IN-A6.json")}
    version = proj.version()
    _failing_commit(monkeypatch)
    r = upload(c, wf.write_export(tmp_path / "day2.csv", LATER))
    assert r.status_code == 400 and "数据集未改变" in r.text and "No space left" in r.text
    assert proj.dataset_version() == 0 and proj.version() == version
    assert [h["version"] for h in append_history(root / "log")] == [0]
    for u, body in before.items():
        assert c.get(u).json() == body, u
    monkeypatch.undo()  # the append works again (and the masking key, undone with it, is set again)
    monkeypatch.setenv("PROCMINE_MASK_KEY", "web-tests-mask-key-0123456789")
    r = upload(c, wf.write_export(tmp_path / "day2.csv", LATER))  # the same upload, now working
    assert re.search(r"版本 1：</b>\s*读取 8 行 = 新增 3 \+ 更新 1 \+ 已有 4", r.text), r.text
    assert c.get("/overview.json").json()["totals"]["cases"] == 7


def test_a_first_upload_interrupted_mid_way_leaves_no_dataset(tmp_path, env, monkeypatch):
    root = tmp_path / "proj"
    proj = Project.init(root, "admin", wf.PASSWORDS["admin"])
    c = signed_in(root)
    _failing_commit(monkeypatch)
    r = upload(c, wf.write_export(tmp_path / "day1.csv"))
    assert r.status_code == 400 and "数据集未改变" in r.text
    assert not (root / "log").exists() and not proj.has_log() and not list(root.glob(".log.tmp-*"))
    assert c.get("/overview.json").json()["empty"] is True


def test_a_single_file_log_is_replaced_only_when_confirmed(tmp_path, env):
    from procmine import read_export
    from procmine.log import eventlog

    root = tmp_path / "proj"
    Project.init(root, "admin", wf.PASSWORDS["admin"])
    eventlog.write_log(read_export([wf.write_export(tmp_path / "old.csv", wf.ROWS[:3])]).log, root / "log.parquet")
    c = signed_in(root)
    assert c.get("/overview.json").json()["totals"]["cases"] == 1
    assert 'name="replace"' in c.get("/upload").text
    r = upload(c, wf.write_export(tmp_path / "day1.csv"))
    assert r.status_code == 400 and "log.parquet" in r.text
    assert c.get("/overview.json").json()["totals"]["cases"] == 1 and not (root / "log").exists()
    r = upload(c, wf.write_export(tmp_path / "day1.csv"), replace="1")
    assert r.status_code == 200 and "新建数据集" in r.text
    assert c.get("/overview.json").json()["totals"]["cases"] == 6
    assert not (root / "log.parquet").exists() and len(list(root.glob("log.parquet.replaced-*"))) == 1


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
    upload(c, wf.write_export(tmp_path / "e.csv", LATER))  # appended: IN-A7 is new
    for t in threading.enumerate():
        if t.name == "procmine-warm":
            t.join(60)
    assert len(calls) == 2 + 3
    assert c.get("/overview.json").json()["totals"]["cases"] == 7
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


def test_the_maps_over_most_of_the_log_are_made_once_per_version_and_scope(tmp_path, env):
    root = tmp_path / "proj"
    proj = wf.make_project(root, tmp_path)
    proj.warm()
    # the fixture's outcomes (by hand): IN-A1, IN-A2, OUT-B3, OUT-B5 decided within their 5 days (提前);
    # OUT-C4 and IN-A6 open past it (超期在办): per scope the two views without filter and of each outcome
    whole = sorted(p.name for p in proj._dir(proj.version(), "all").glob("map-*.json"))
    assert len(whole) == 2 * (1 + 2), whole
    market = list(proj._dir(proj.version(), "dept:市场监管局").glob("map-*.json"))
    assert len(market) == 2 * (1 + 2)  # 市场监管局's cases are 提前 (IN-A1, IN-A2) and 超期在办 (IN-A6) too
    # served from there, each scope's own: the open cases' steps are 受理 and 审核
    admin = signed_in(root).get("/map.json", params={"outcome": "超期在办"}).json()["map"]
    assert {n["name"]: n["events"] for n in admin["nodes"]} == {"受理": 2, "审核": 2}  # OUT-C4 and IN-A6
    mine = signed_in(root, "market").get("/map.json", params={"outcome": "超期在办"}).json()["map"]
    assert {n["name"]: n["events"] for n in mine["nodes"]} == {"受理": 1, "审核": 1}  # IN-A6 alone
    # a department filter that keeps every case of the scope (a 部门 account's own department: it took part
    # in all of them) is the map without it; one that keeps some is drawn from those alone
    m = signed_in(root, "market")
    assert m.get("/map.json", params={"department": "市场监管局"}).json()["map"] == m.get("/map.json").json()["map"]
    police = signed_in(root).get("/map.json", params={"department": "公安局"}).json()["map"]
    assert {n["name"]: n["events"] for n in police["nodes"]} == {  # IN-A2, OUT-B3 and OUT-B5
        "受理": 3, "审核": 1, wf.SCRIPT_STEP: 1, wf.ATTR_STEP: 1, "办结": 3}
