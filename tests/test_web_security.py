"""The workbench's access rules, each tried by someone who wants to break it.

The project (tests/web_fixture.py) has six cases in three departments; a 市场监管局
account may see IN-A1, IN-A2 and IN-A6, and no page, JSON twin, download, finding
or search may name a case called OUT-….
"""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser

import pandas as pd
import pytest

pytest.importorskip("starlette")
pytest.importorskip("argon2")

from starlette.testclient import TestClient  # noqa: E402

import web_fixture as wf  # noqa: E402
from procmine.errors import ConfigError  # noqa: E402
from procmine.web import Actor, WebConfig, create_app, may_view, scope_cases  # noqa: E402
from procmine.web.auth import Throttle  # noqa: E402

OUTSIDE = ("OUT-B3", "OUT-C4", "OUT-B5")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("PROCMINE_MASK_KEY", "web-tests-mask-key-0123456789")
    tmp = tmp_path_factory.mktemp("web")
    proj = wf.make_project(tmp / "proj", tmp)
    yield proj
    mp.undo()


def client(project, config: WebConfig | None = None) -> TestClient:
    return TestClient(create_app(project.root, config), follow_redirects=False)


def token(c: TestClient, url: str = "/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', c.get(url).text).group(1)


def login(project, name: str, config: WebConfig | None = None) -> TestClient:
    c = client(project, config)
    r = c.post("/login", data={"username": name, "password": wf.PASSWORDS[name], "csrf_token": token(c)})
    assert r.status_code == 303 and r.headers["location"] == "/overview"
    return c


def names_outside(body: str) -> list[str]:
    return [cid for cid in OUTSIDE if cid in body]


# ----------------------------------------------------------------------------- the rule itself


def test_scope_rule_on_a_hand_built_case_table():
    cases = pd.DataFrame({"case_id": ["a", "b", "c", "d"],
                          "departments_took_part": [["市场监管局"], ["市场监管局", "公安局"], ["公安局"], []]})
    market = Actor("m", "dept", "市场监管局")
    assert scope_cases(market, cases)["case_id"].tolist() == ["a", "b"]
    assert scope_cases(Actor("p", "dept", "公安局"), cases)["case_id"].tolist() == ["b", "c"]
    # a name that is only part of a department's name is not that department
    assert scope_cases(Actor("x", "dept", "市场"), cases).empty
    assert [may_view(market, r) for _, r in cases.iterrows()] == [True, True, False, False]
    for role in ("admin", "reform", "audit"):
        assert len(scope_cases(Actor("u", role), cases)) == 4
    with pytest.raises(ConfigError):  # without the column a department's cases cannot be told: refuse, never all
        scope_cases(market, cases.drop(columns="departments_took_part"))


# ----------------------------------------------------------------------------- other departments' cases


@pytest.mark.parametrize("url", ["/cases/{c}", "/cases/{c}.json", "/cases/{c}.csv"])
def test_another_departments_case_is_404_and_unnamed(project, url):
    c = login(project, "market")
    for cid in OUTSIDE:
        r = c.get(url.format(c=cid))
        assert r.status_code == 404, (url, cid)
        assert not names_outside(r.text)
    # the same URL for its own case works
    assert c.get(url.format(c="IN-A2")).status_code == 200


def test_a_case_that_does_not_exist_answers_the_same(project):
    c = login(project, "market")
    outside, missing = c.get("/cases/OUT-B3"), c.get("/cases/NO-SUCH")
    assert outside.status_code == missing.status_code == 404
    assert outside.text == missing.text


def test_lists_twins_findings_cards_and_downloads_name_only_its_cases(project):
    c = login(project, "market")
    listed = {r["case_id"] for r in c.get("/cases.json").json()["cases"]}
    assert listed == wf.INSIDE
    for url in ("/overview", "/overview.json", "/cases", "/findings", "/findings.json", "/cards", "/cards.json",
                "/indicators", "/indicators.json", "/map", "/map.json", "/map.json?view=department",
                "/ratings", "/ratings.json", "/bundles", "/bundles.json", "/variants", "/variants.json",
                "/download/cases.csv", "/download/cards.csv", "/cases.json?q=OUT"):
        r = c.get(url)
        assert r.status_code == 200, url
        assert not names_outside(r.text), url
    # a search for another department's case finds nothing (the search box shows what was typed)
    r = c.get("/cases?q=OUT-B3")
    assert "/cases/OUT-B3" not in r.text and "0 件" in r.text
    assert c.get("/cases.json?q=OUT-B3").json()["cases"] == []
    cards = c.get("/cards.json").json()
    assert {a["case_id"] for a in cards["alerts"]} == {"IN-A6"}  # OUT-C4's red card is 税务局's
    # every finding this account sees, and every finding id anyone has, names none of the others' cases
    admin_findings = login(project, "admin").get("/findings.json").json()["findings"]
    for fid in range(1, len(admin_findings) + 3):
        for url in (f"/findings/{fid}", f"/findings/{fid}.json"):
            r = c.get(url)
            assert r.status_code in (200, 404)
            assert not names_outside(r.text), url


def test_admin_finding_evidence_holds_outside_cases_that_the_department_cannot_see(project):
    # the admin's evidence names OUT- cases (so the check above can fail), the department's never does
    admin = login(project, "admin")
    evidence = [e["case_id"] for f in admin.get("/findings.json").json()["findings"]
                for e in admin.get(f"/findings/{f['id']}.json").json()["evidence"]]
    assert set(evidence) & set(OUTSIDE)


def test_a_departments_map_is_drawn_from_its_cases_alone(project):
    c = login(project, "market")
    m = c.get("/map.json").json()["map"]
    # IN-A1 受理→审核→办结, IN-A2 the same, IN-A6 受理→审核: OUT-B3's steps are not on it
    assert m["cases"] == 3
    assert {n["name"]: n["cases"] for n in m["nodes"]} == {"受理": 3, "审核": 3, "办结": 2}
    assert {(e["source"], e["target"]): e["cases"] for e in m["edges"]} == {("受理", "审核"): 3, ("审核", "办结"): 2}
    body = c.get("/map.json").text + c.get("/map").text
    assert "onmouseover" not in body and "script&gt;" not in body and "\\u003cscript" not in body
    # filters: the open cases (IN-A6 only), the cases 公安局 took part in (IN-A2), the most frequent variant
    assert c.get("/map.json", params={"outcome": "超期在办"}).json()["map"]["cases"] == 1
    assert c.get("/map.json", params={"department": "公安局"}).json()["map"]["cases"] == 1
    assert c.get("/map.json", params={"department": "税务局"}).json()["map"] == {}  # none of its cases
    assert c.get("/map.json", params={"variants": "1"}).json()["map"]["cases"] == 2
    for bad in ("0", "-1", "1; DROP", "1e9"):
        assert c.get("/map.json", params={"variants": bad}).json()["map"]["cases"] == 3  # ignored, not an error
    d = {n["name"]: n["cases"] for n in c.get("/map.json?view=department").json()["map"]["nodes"]}
    assert d == {"市场监管局": 3, "公安局": 1}  # 公安局 through IN-A2 only
    # clicking a node or an edge lists the cases through it, in scope
    assert c.get("/cases.json", params={"step": "受理"}).json()["total"] == 3
    assert {r["case_id"] for r in c.get("/cases.json", params={"step": "审核", "next": "办结"}).json()["cases"]} == \
        {"IN-A1", "IN-A2"}
    admin = login(project, "admin")
    assert admin.get("/cases.json", params={"step": "受理"}).json()["total"] == 6
    assert [r["case_id"] for r in admin.get("/cases.json", params={"step": wf.SCRIPT_STEP}).json()["cases"]] == \
        ["OUT-B3"]
    assert c.get("/cases.json", params={"step": wf.SCRIPT_STEP}).json()["total"] == 0


def test_a_departments_report_holds_its_cases_alone(project):
    c = login(project, "market")
    html = c.get("/download/report.html")
    assert html.status_code == 200 and "attachment" in html.headers["content-disposition"]
    assert not names_outside(html.text)
    assert all(cid in html.text for cid in wf.INSIDE)
    xlsx = c.get("/download/report.xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    admin = login(project, "admin").get("/download/report.html").text
    assert all(cid in admin for cid in OUTSIDE)  # the whole report names them: the check above can fail
    assert c.get("/download/report.html", params={"service": "没有这个事项"}).status_code == 404
    assert c.get("/download/report.exe").status_code == 404


def test_a_departments_ratings_list_its_own_bad_ratings(project):
    admin = login(project, "admin").get("/ratings.json").json()["ratings"]
    assert sorted(r["case_id"] for r in admin["not_rectified"]) == ["IN-A1", "OUT-B3"]
    mine = login(project, "market").get("/ratings.json").json()["ratings"]
    assert mine["rated"] == 1 and [r["case_id"] for r in mine["not_rectified"]] == ["IN-A1"]


def test_a_departments_variants_are_of_its_cases(project):
    c = login(project, "market")
    v = c.get("/variants.json").json()["variants"]
    # IN-A1 and IN-A2: 受理 → 审核 → 办结; IN-A6: 受理 → 审核 (OUT-B3's script steps are no variant of its)
    assert [(x["variant"], x["cases"]) for x in v] == [("受理 → 审核 → 办结", 2), ("受理 → 审核", 1)]
    assert {r["case_id"] for r in c.get("/cases.json", params={"variant": "1"}).json()["cases"]} == {"IN-A1", "IN-A2"}
    admin = login(project, "admin").get("/variants.json").json()["variants"]
    assert sum(x["cases"] for x in admin) == 6


def test_department_filter_cannot_widen_the_scope(project):
    c = login(project, "market")
    # IN-A2 is the only visible case 公安局 took part in; its own OUT-B3 and OUT-B5 stay out
    assert [r["case_id"] for r in c.get("/cases.json?department=公安局").json()["cases"]] == ["IN-A2"]
    assert c.get("/cases.json?department=税务局").json()["total"] == 0


def test_pages_for_other_roles_are_404(project):
    c = login(project, "market")
    for url in ("/users", "/upload", "/download/rejects.csv"):
        assert c.get(url).status_code == 404, url
    r = c.post("/upload", data={"csrf_token": token(c, "/overview")},
               files=[("files", ("x.csv", wf.write_export.__doc__ or "a", "text/csv"))])
    assert r.status_code == 404
    aud = login(project, "auditor")
    assert aud.get("/upload").status_code == 404  # read-only


def test_signed_out_requests_get_nothing(project):
    c = client(project)
    assert c.get("/cases/IN-A1").status_code == 303
    for url in ("/cases/IN-A1.json", "/cases.json", "/download/cases.csv"):
        r = c.get(url)
        assert r.status_code == 401 and "IN-A1" not in r.text


# ----------------------------------------------------------------------------- a department's totals


def test_department_totals_are_the_sums_over_its_visible_cases(project):
    admin = login(project, "admin").get("/cases.json").json()["cases"]
    assert len(admin) == 6
    visible = [r for r in admin if "市场监管局" in r["departments_took_part"]]
    assert {r["case_id"] for r in visible} == wf.INSIDE
    ov = login(project, "market").get("/overview.json").json()
    t = ov["totals"]
    assert t["cases"] == 3
    assert t["events"] == wf.INSIDE_EVENTS == sum(r["events"] for r in visible)
    assert t["visits"] == sum(r["visits"] or 0 for r in visible)
    assert t["open_overdue"] == sum(r["outcome"] == "超期在办" for r in visible) == 1  # IN-A6
    assert t["red"] == 1
    assert sum(s["cases"] for s in ov["services"]) == 3
    ind = login(project, "market").get("/indicators.json").json()
    assert [r["cases"] for r in ind["service"]] == [3]
    # the trend counts its own cases where the reports do: accepted in March IN-A1, IN-A2, both decided in
    # March on time (2 and 3 working days of 5); accepted in April IN-A6, open, its 5th working day Tue
    # 04-09 (04-02, 03, Sun 07, 08, 09; 清明 04-04..06 off) → late from 04-10, counted late in April
    assert [(m["month"], m["accepted"], m["decided"], m["open_late"], m["on_time_rate"], m["provisional"])
            for m in ind["monthly"]] == [("2024-03", 2, 2, 0, 1.0, False), ("2024-04", 1, 0, 1, 0.0, True)]
    # the clock of an open case is the same in the department's view as in the whole table:
    # its analysis runs as of the whole log's time, not its own cases' latest
    market = login(project, "market")
    whole = {r["case_id"]: r for r in admin}
    for cid in wf.INSIDE:
        mine = market.get(f"/cases/{cid}.json").json()["case"]
        assert mine["clock_days"] == whole[cid]["clock_days"], cid
        assert mine["outcome"] == whole[cid]["outcome"], cid
    # IN-A6: accepted Mon 2024-04-01, open as of 2024-04-30; working days from 04-02 on:
    # 04-02, 04-03, 04-07 (make-up Sunday), 04-08…12, 15…19, 22…26, 04-28 (make-up Sunday), 04-29, 04-30
    # = 2 + 1 + 5 + 5 + 5 + 1 + 2 = 21 (清明 04-04…06 off)
    assert whole["IN-A6"]["clock_days"] == 21


# ----------------------------------------------------------------------------- escaping


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts, self.handlers = [], []

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts.append(dict(attrs).get("src"))
        self.handlers += [(tag, k) for k, _ in attrs if k.startswith("on")]
        if tag == "img":
            self.handlers.append((tag, "img"))


def test_step_and_document_names_render_inert(project):
    c = login(project, "admin")
    for url in ("/cases/OUT-B3", "/cases?q=OUT-B3", "/findings", "/overview"):
        html = c.get(url).text
        p = _Elements()
        p.feed(html)
        assert p.scripts == ["/static/htmx-2.0.11.min.js", "/static/app.js"], url  # only the vendored ones
        assert p.handlers == [], url
    page = c.get("/cases/OUT-B3").text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page  # shown, as text
    assert "&#34; onmouseover=&#34;alert(1)" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    twin = c.get("/cases/OUT-B3.json").json()
    assert [s["activity"] for s in twin["steps"]][1:3] == [wf.SCRIPT_STEP, wf.ATTR_STEP]  # the data, unchanged


def test_responses_carry_a_strict_content_security_policy(project):
    r = login(project, "admin").get("/overview")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"


# ----------------------------------------------------------------------------- CSRF


def test_forms_without_the_csrf_token_are_refused(project):
    before = project.version(), project.dataset_version()
    c = client(project)
    r = c.post("/login", data={"username": "admin", "password": wf.PASSWORDS["admin"]})
    assert r.status_code == 403
    assert c.get("/overview").status_code == 303  # not signed in
    c = login(project, "admin")
    assert c.post("/users", data={"username": "mallory", "password": "mallory-password", "role": "admin"}
                  ).status_code == 403
    assert project.users.get("mallory") is None
    assert c.post("/upload", files=[("files", ("e.csv", open(wf.write_export(project.root.parent / "e.csv"), "rb"),
                                               "text/csv"))]).status_code == 403
    assert (project.version(), project.dataset_version()) == before
    assert c.post("/logout").status_code == 403
    assert c.get("/overview").status_code == 200  # still signed in
    # a token from another session is no token
    other = client(project)
    assert c.post("/users/remove", data={"username": "reform", "csrf_token": token(other)}).status_code == 403
    assert project.users.get("reform") is not None


# ----------------------------------------------------------------------------- throttling


def test_twenty_wrong_passwords_then_the_right_one_is_still_throttled(project):
    c = client(project, WebConfig(throttle=Throttle(limit=5, window_s=900)))
    tok = token(c)
    codes = [c.post("/login", data={"username": "reform", "password": f"wrong-{i}", "csrf_token": tok}).status_code
             for i in range(20)]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    r = c.post("/login", data={"username": "reform", "password": wf.PASSWORDS["reform"], "csrf_token": tok})
    assert r.status_code == 429
    assert c.get("/overview").status_code == 303


def test_behind_a_trusted_proxy_the_throttle_counts_each_client_apart(project):
    cfg = WebConfig(trusted_proxies=("testclient",), throttle=Throttle(limit=5, window_s=900))
    c = client(project, cfg)
    tok = token(c)
    for i in range(5):  # five wrong passwords for five accounts from one client behind the proxy
        c.post("/login", data={"username": f"nobody{i}", "password": "x" * 12, "csrf_token": tok},
               headers={"X-Forwarded-For": "10.1.1.1"})
    blocked = c.post("/login", data={"username": "reform", "password": wf.PASSWORDS["reform"], "csrf_token": tok},
                     headers={"X-Forwarded-For": "10.1.1.1"})
    assert blocked.status_code == 429  # that client is throttled …
    other = client(project, WebConfig(trusted_proxies=("testclient",), throttle=cfg.throttle))
    r = other.post("/login", data={"username": "reform", "password": wf.PASSWORDS["reform"],
                                   "csrf_token": token(other)}, headers={"X-Forwarded-For": "10.2.2.2"})
    assert r.status_code == 303  # … another one behind the same proxy is not
    # without a trusted proxy the header is the client's own word, and is not believed
    plain = client(project, WebConfig(throttle=Throttle(limit=5, window_s=900)))
    tok = token(plain)
    for i in range(5):
        plain.post("/login", data={"username": f"nobody{i}", "password": "x" * 12, "csrf_token": tok},
                   headers={"X-Forwarded-For": f"10.3.3.{i}"})
    assert plain.post("/login", data={"username": "reform", "password": wf.PASSWORDS["reform"], "csrf_token": tok},
                      headers={"X-Forwarded-For": "10.9.9.9"}).status_code == 429


def test_the_throttle_window_passes():
    now = [0.0]
    t = Throttle(limit=2, window_s=60, clock=lambda: now[0])
    t.fail("k")
    t.fail("k")
    assert t.blocked("k")
    now[0] = 61.0  # both failures are older than the window
    assert not t.blocked("k")


# ----------------------------------------------------------------------------- the session cookie


def test_a_hand_edited_session_cookie_is_refused(project):
    c = login(project, "market")
    raw = c.cookies.get("procmine_session")
    payload, rest = raw.split(".", 1)
    data = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
    assert data["user"] == "market"
    data["user"] = "admin"  # promote oneself, keep the old signature
    forged = base64.b64encode(json.dumps(data).encode()).decode() + "." + rest
    f = client(project)
    f.cookies.set("procmine_session", forged)
    assert f.get("/overview").status_code == 303
    assert f.get("/cases/OUT-B3.json").status_code == 401
    assert f.get("/users").status_code == 303


def test_the_session_cookie_is_httponly_and_samesite(project):
    c = client(project)
    r = c.post("/login", data={"username": "reform", "password": wf.PASSWORDS["reform"], "csrf_token": token(c)})
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert "secure" not in cookie
    c2 = TestClient(create_app(project.root, WebConfig(secure_cookies=True)), base_url="https://testserver",
                    follow_redirects=False)
    r = c2.post("/login", data={"username": "reform", "password": wf.PASSWORDS["reform"],
                                "csrf_token": token(c2)})
    assert "secure" in r.headers["set-cookie"].lower()


def test_a_new_password_signs_the_accounts_other_sessions_out(project):
    project.users.add("pwuser", "pwuser-password-1", "reform")
    first, second = client(project), client(project)
    for c in (first, second):
        c.post("/login", data={"username": "pwuser", "password": "pwuser-password-1", "csrf_token": token(c)})
        assert c.get("/overview").status_code == 200
    r = first.post("/password", data={"old": "pwuser-password-1", "new": "pwuser-password-2",
                                      "again": "pwuser-password-2", "csrf_token": token(first, "/password")})
    assert r.status_code == 200 and "密码已修改" in r.text
    assert first.get("/overview").status_code == 200   # the session that changed it stays
    assert second.get("/overview").status_code == 303  # the other one is signed out
    assert project.users.verify("pwuser", "pwuser-password-1") is None
    wrong = first.post("/password", data={"old": "not-it-at-all", "new": "pwuser-password-3",
                                          "again": "pwuser-password-3", "csrf_token": token(first, "/password")})
    assert wrong.status_code == 400 and project.users.verify("pwuser", "pwuser-password-2") is not None
    project.users.remove("pwuser")


def test_a_removed_account_is_signed_out(project):
    project.users.add("temp", "temp-password-1", "reform")
    c = client(project)
    c.post("/login", data={"username": "temp", "password": "temp-password-1", "csrf_token": token(c)})
    assert c.get("/overview").status_code == 200
    project.users.remove("temp")
    assert c.get("/overview").status_code == 303


# ----------------------------------------------------------------------------- filters


@pytest.mark.parametrize("param", ["service", "outcome", "department", "q", "step", "variant"])
@pytest.mark.parametrize("value", ["' OR '1'='1", "1; DROP TABLE cases; --", ".*", "%", "_", "IN-A1' --", "[A-Z]+",
                                   "公安局|税务局", "\\", "\x00"])
def test_metacharacters_in_filters_change_nothing(project, param, value):
    c = login(project, "market")
    r = c.get("/cases.json", params={param: value})
    assert r.status_code == 200
    assert r.json()["total"] == 0  # matched literally: no case is called or holds any of these
    assert c.get("/cases.json").json()["total"] == 3  # and the table is intact


def test_a_literal_filter_still_filters(project):
    c = login(project, "market")
    assert c.get("/cases.json", params={"q": "IN-A"}).json()["total"] == 3
    assert [r["case_id"] for r in c.get("/cases.json", params={"q": "A6"}).json()["cases"]] == ["IN-A6"]


# ----------------------------------------------------------------------------- auditors and proxies


def test_an_auditor_sees_every_case_with_personal_data_masked(project):
    admin = login(project, "admin").get("/cases/OUT-B3.json").text
    assert wf.APPLICANT in admin and wf.PHONE in admin  # the data is there to mask
    aud = login(project, "auditor")
    for url in ("/cases/OUT-B3.json", "/cases/OUT-B3", "/cases/OUT-B3.csv"):
        r = aud.get(url)
        assert r.status_code == 200
        assert wf.APPLICANT not in r.text and wf.PHONE not in r.text, url
    assert aud.get("/cases.json").json()["total"] == 6


def test_the_proxy_user_header_is_off_by_default_and_only_from_trusted_proxies(project):
    hdr = {"X-Remote-User": "admin"}
    assert client(project).get("/overview", headers=hdr).status_code == 303
    cfg = WebConfig(user_header="X-Remote-User", trusted_proxies=("10.9.9.9",))
    assert client(project, cfg).get("/overview", headers=hdr).status_code == 303  # the test client is not 10.9.9.9
    cfg = WebConfig(user_header="X-Remote-User", trusted_proxies=("testclient",))
    c = client(project, cfg)
    assert c.get("/overview", headers=hdr).status_code == 200
    assert c.get("/overview", headers={"X-Remote-User": "nobody"}).status_code == 303


def test_the_access_log_records_who_viewed_and_exported_what(project):
    c = login(project, "police")
    c.get("/cases/OUT-B3")
    c.get("/download/cases.csv")
    lines = [json.loads(x) for x in (project.root / "access.log").read_text(encoding="utf-8").splitlines()]
    mine = [x for x in lines if x["user"] == "police"]
    assert any(x["path"] == "/cases/OUT-B3" and x.get("what") == "case OUT-B3" and x["status"] == 200 for x in mine)
    assert any(x["path"] == "/download/cases.csv" and x.get("what") == "export 3 cases" for x in mine)


# ----------------------------------------------------------------------------- case ids with URL-special characters

ODD_MINE = ("SC/2024/001", "市场 监管#1", "A?b=1&c", "100%-x", "..x/..")  # 市场监管局's
ODD_OTHERS = ("PO/2024/002", "公安#局?2", "50%25", "../SC/2024/001")  # 公安局's: a 市场监管局 user must not reach them


@pytest.fixture(scope="module")
def odd(tmp_path_factory):
    """A project whose case ids hold / ? # % & spaces, Chinese and dots, in two departments."""
    from procmine.web import Project

    mp = pytest.MonkeyPatch()
    mp.setenv("PROCMINE_MASK_KEY", "web-tests-mask-key-0123456789")
    tmp = tmp_path_factory.mktemp("odd")
    rows = []
    for cid, dep in [(c, "市场监管局") for c in ODD_MINE] + [(c, "公安局") for c in ODD_OTHERS]:
        rows += [[cid, wf.S, "受理", dep, "张三", "2024-03-01 09:00", "2024-03-01 09:30", 5, "", "某公司", "", "", ""],
                 [cid, wf.S, "办结", dep, "李四", "2024-03-04 10:00", "2024-03-04 10:30", 5, "", "某公司", "", "", ""]]
    proj = Project.init(tmp / "proj", "admin", wf.PASSWORDS["admin"])
    proj.users.add("market", wf.PASSWORDS["market"], "dept", "市场监管局")
    proj.import_files([wf.write_export(tmp / "odd.csv", rows)])
    yield proj
    mp.undo()


def quoted(cid: str) -> str:
    """The id as a link carries it (every reserved character quoted, as the templates' q filter does)."""
    import urllib.parse

    return sent(urllib.parse.quote(cid, safe=""))


def sent(path: str) -> str:
    """A path as a browser sends it, for Starlette's TestClient, which decodes a path twice (httpx's URL.path is
    decoded already, then unquoted again) where a server (uvicorn) decodes it once: its %25 quoted once more."""
    return path.replace("%25", "%2525")


def test_case_ids_with_url_special_characters_are_reachable(odd):
    import html

    admin = login(odd, "admin")
    listed = {r["case_id"] for r in admin.get("/cases.json").json()["cases"]}
    assert listed == set(ODD_MINE + ODD_OTHERS)  # imported as they are
    for cid in ODD_MINE + ODD_OTHERS:
        assert admin.get(f"/cases/{quoted(cid)}.json").json()["case"]["case_id"] == cid
        page = admin.get(f"/cases/{quoted(cid)}")
        assert page.status_code == 200 and html.escape(cid) in page.text, cid
        csv = admin.get(f"/cases/{quoted(cid)}.csv")
        assert csv.status_code == 200 and cid in csv.content.decode("utf-8-sig"), cid
    # the links the cases page draws lead to the case they name
    links = re.findall(r'<a href="(/cases/[^"]+)" class="case-link">([^<]*)</a>', admin.get("/cases").text)
    assert len(links) == len(listed)
    for href, text in links:
        assert admin.get(sent(html.unescape(href)) + ".json").json()["case"]["case_id"] == html.unescape(text)


@pytest.mark.parametrize("suffix", ["", ".json", ".csv"])
def test_a_department_cannot_reach_odd_ids_of_another(odd, suffix):
    c = login(odd, "market")
    for cid in ODD_MINE:
        assert c.get(f"/cases/{quoted(cid)}{suffix}").status_code == 200, cid
    missing = c.get(f"/cases/NO-SUCH{suffix}")
    for cid in ODD_OTHERS:
        # quoted, half-quoted (the slashes left as they are) and with the query and fragment characters raw
        for url in (f"/cases/{quoted(cid)}{suffix}", f"/cases/{quoted(cid).replace('%2F', '/')}{suffix}"):
            r = c.get(url)
            assert r.status_code == 404, url
            assert r.text == missing.text, url  # the same answer as no such case: nothing named
    visible = {r["case_id"] for r in c.get("/cases.json").json()["cases"]}
    assert visible == set(ODD_MINE)
    for q in ("PO", "公安", "%", "/", "..", "#"):
        found = {r["case_id"] for r in c.get("/cases.json", params={"q": q}).json()["cases"]}
        assert found <= set(ODD_MINE), q
