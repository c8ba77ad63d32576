"""The workbench's filtered maps, summed from the version's maps' index (procmine.analysis.mapindex): the
same nodes and edges — counts and times — as discover_map over the same filtered events, for every filter
kind, and a 部门 account's filtered map counts its own cases alone.

The project: tests/web_fixture.py's six cases (service 测试事项) and two of another service (by hand):

- X-7  另一事项, 市场监管局: 受理 03-11 09:00–09:30, 办结 03-12 09:00–09:30
- X-8  另一事项, 税务局:    受理 04-15 09:00–09:10, 审核 04-16 09:00–10:00, 办结 04-17 09:00–10:00
"""

from __future__ import annotations

import re

import pytest

pytest.importorskip("starlette")
pytest.importorskip("argon2")

from starlette.testclient import TestClient  # noqa: E402

import web_fixture as wf  # noqa: E402
from procmine.analysis import discover  # noqa: E402
from procmine.errors import UsageError  # noqa: E402
from procmine.web import Actor, Project, create_app  # noqa: E402
from procmine.web.scope import took_part_mask  # noqa: E402

OTHER = "另一事项"
EXTRA = [
    ["X-7", OTHER, "受理", "市场监管局", "张三", "2024-03-11 09:00", "2024-03-11 09:30", 5, "营业执照", "庚公司", "", "", ""],
    ["X-7", OTHER, "办结", "市场监管局", "李四", "2024-03-12 09:00", "2024-03-12 09:30", 5, "", "庚公司", "", "", ""],
    ["X-8", OTHER, "受理", "税务局", "钱七", "2024-04-15 09:00", "2024-04-15 09:10", 5, "营业执照", "辛公司", "", "", ""],
    ["X-8", OTHER, "审核", "税务局", "钱七", "2024-04-16 09:00", "2024-04-16 10:00", 5, "", "辛公司", "", "", ""],
    ["X-8", OTHER, "办结", "税务局", "钱七", "2024-04-17 09:00", "2024-04-17 10:00", 5, "", "辛公司", "", "", ""],
]
LAYOUT = ("x", "y", "w", "h")
REFORM = Actor("reform", "reform")
MARKET = Actor("market", "dept", "市场监管局")


@pytest.fixture()
def proj(tmp_path, monkeypatch):
    monkeypatch.setenv("PROCMINE_MASK_KEY", "web-tests-mask-key-0123456789")
    root = tmp_path / "proj"
    p = Project.init(root, "admin", wf.PASSWORDS["admin"])
    p.users.add("reform", wf.PASSWORDS["reform"], "reform")
    p.users.add("market", wf.PASSWORDS["market"], "dept", "市场监管局")
    (root / "rules.yaml").write_text("thresholds:\n  min_cases: 1\n", encoding="utf-8")
    p.import_files([wf.write_export(tmp_path / "export.csv", wf.ROWS + EXTRA)])
    p.analysis(REFORM)  # the version's cache, the maps' index with it (what an upload triggers)
    return p


@pytest.fixture()
def no_discovery(monkeypatch):
    """The maps must come from the index: discovering one from the events fails the test."""
    original = discover.discover_map

    def refuse(*a, **k):
        raise AssertionError("a map was discovered from the events, not summed from the index")

    monkeypatch.setattr(discover, "discover_map", refuse)
    return original


def drawn(data: dict) -> dict:
    """A map as process_map gives it, without its layout (positions and sizes)."""
    out = {k: v for k, v in data.items() if k != "height"}
    out["nodes"] = [{k: v for k, v in n.items() if k not in LAYOUT} for n in data["nodes"]]
    return out


def expected(p: Project, actor: Actor, discover_map, view, service=None, date_from=None, date_to=None,
             top_variants=None, outcome=None, department=None) -> dict:
    """discover_map over the events of the cases these filters keep, the cases picked here from the case table."""
    a = p.analysis(actor)
    cases = a.cases
    if outcome:
        cases = cases[cases["outcome"].astype(str) == outcome]
    if department:
        cases = cases[took_part_mask(cases, department)]
    ids = set(cases["case_id"].astype(str))
    log = p.map_events(a.version, None, None)
    log = log[log["case_id"].astype(str).isin(ids)]
    if service:
        log = log[log["service"] == service]
    return discover_map(log, view=view, service=service, date_from=date_from, date_to=date_to,
                        top_variants=top_variants).to_dict()


FILTERS = [
    {},
    {"service": OTHER},
    {"service": wf.S},
    {"date_from": "2024-03-01", "date_to": "2024-03-31"},
    {"date_from": "2024-04-01"},
    {"date_to": "2024-03-05"},
    {"top_variants": 1},
    {"top_variants": 2, "date_to": "2024-04-30"},
    {"service": wf.S, "top_variants": 1},
    {"department": "公安局"},
    {"department": "税务局", "date_from": "2024-04-01"},
]


@pytest.mark.parametrize("view", ["activity", "department"])
@pytest.mark.parametrize("actor", [REFORM, MARKET], ids=["reform", "market"])
def test_a_filtered_map_equals_discover_map_over_the_same_events(proj, no_discovery, actor, view):
    assert proj.map_index(proj.version()) is not None
    outcomes = sorted(proj.analysis(REFORM).cases["outcome"].dropna().astype(str).unique())
    assert "超期在办" in outcomes and len(outcomes) >= 2
    compared = 0
    for f in FILTERS + [{"outcome": o} for o in outcomes] + [{"outcome": o, "date_to": "2024-03-31"}
                                                             for o in outcomes]:
        args = (actor, view, f.get("service"), f.get("date_from"), f.get("date_to"), f.get("top_variants"),
                f.get("outcome"), f.get("department"))
        try:
            want = expected(proj, actor, no_discovery, view, **f) if _any_case(proj, actor, f) else {}
        except UsageError as exc:  # the filters leave no case: the same error
            with pytest.raises(UsageError) as got:
                proj.process_map(*args)
            assert got.value.message == exc.message, f
            continue
        got = proj.process_map(*args)
        if not want:
            assert got == {}, f
            continue
        assert drawn(got) == want, f
        compared += 1
    assert compared >= 10


def _any_case(p: Project, actor: Actor, f: dict) -> bool:
    """Whether the filters before the period keep a case (else process_map gives no map)."""
    c = p.analysis(actor).cases
    if f.get("outcome"):
        c = c[c["outcome"].astype(str) == f["outcome"]]
    if f.get("department"):
        c = c[took_part_mask(c, f["department"])]
    if f.get("service"):
        c = c[c["service"].astype(str) == f["service"]]
    return len(c) > 0


def edge(data: dict, source: str, target: str) -> dict:
    hit = [e for e in data["edges"] if (e["source"], e["target"]) == (source, target)]
    return hit[0] if hit else {}


def test_counts_and_waits_worked_out_by_hand(proj, no_discovery):
    # the cases starting in March 2024: IN-A1, IN-A2, OUT-B3, OUT-C4, X-7; 受理 → 审核 in IN-A1, IN-A2, OUT-C4
    # (OUT-B3's next step is the <script> one, X-7's 办结). Waits, 受理's end → 审核's start:
    #   IN-A1 03-01 09:30 → 03-04 10:00 = 72.5 h; IN-A2 09:20 → 09:00 = 71.667 h; OUT-C4 09:10 → 09:00 = 71.833 h
    # p50 = 71.833; p90: position 0.9 × (3 − 1) = 1.8 → 71.833 + 0.8 × (72.5 − 71.833) = 72.367
    m = proj.process_map(REFORM, "activity", None, "2024-03-01", "2024-03-31")
    assert m["cases"] == 5
    assert edge(m, "受理", "审核") == {"source": "受理", "target": "审核", "count": 3, "cases": 3,
                                     "wait_p50": 71.833, "wait_p90": 72.367}
    # 受理 → 办结: X-7 alone in March (03-11 09:30 → 03-12 09:00 = 23.5 h); OUT-B5 starts in April
    assert edge(m, "受理", "办结")["count"] == 1 and edge(m, "受理", "办结")["wait_p50"] == 23.5
    # the whole log: 受理 → 审核 also in IN-A6 and X-8 = 5; of service 另一事项: 1
    assert edge(proj.process_map(REFORM, "activity", None, None, None), "受理", "审核")["count"] == 5
    assert edge(proj.process_map(REFORM, "activity", OTHER, None, None), "受理", "审核")["count"] == 1
    # the top variant: 受理 → 审核 → 办结 (IN-A1, IN-A2, X-8: 3 cases; 受理 → 审核 has 2, the rest 1 each)
    top = proj.process_map(REFORM, "activity", None, None, None, 1)
    assert top["cases"] == 3 and edge(top, "审核", "办结")["count"] == 3 and top["starts"] == {"受理": 3}


def test_a_department_users_filtered_map_counts_only_its_cases(proj, no_discovery):
    # 市场监管局 took part in IN-A1, IN-A2, IN-A6 and X-7; never in OUT-B3, OUT-C4, OUT-B5 or X-8
    march = proj.process_map(MARKET, "activity", None, "2024-03-01", "2024-03-31")
    assert march["cases"] == 3                                     # IN-A1, IN-A2, X-7
    assert edge(march, "受理", "审核")["count"] == 2                  # not OUT-C4's
    assert wf.SCRIPT_STEP not in {n["name"] for n in march["nodes"]}  # OUT-B3's step
    # its top variant among its own cases: 受理 → 审核 → 办结 (IN-A1, IN-A2); of the whole log it would count X-8
    top = proj.process_map(MARKET, "activity", None, None, None, 1)
    assert top["cases"] == 2 and edge(top, "审核", "办结")["count"] == 2
    # of service 另一事项: X-7 alone (X-8 is 税务局's)
    other = proj.process_map(MARKET, "department", OTHER, None, None)
    assert other["cases"] == 1 and [n["name"] for n in other["nodes"]] == ["市场监管局"]
    # the department view of April: IN-A6 alone (OUT-B5 and X-8 are others'): no 税务局 or 公安局 node
    april = proj.process_map(MARKET, "department", None, "2024-04-01", None)
    assert april["cases"] == 1 and {n["name"] for n in april["nodes"]} == {"市场监管局"}
    # a department filter naming another department keeps only its own cases that department took part in
    police = proj.process_map(MARKET, "activity", None, None, None, department="公安局")
    assert police["cases"] == 1 and edge(police, "受理", "审核")["count"] == 1  # IN-A2


def test_the_map_page_of_a_department_user_over_http(proj, no_discovery):
    c = TestClient(create_app(proj.root), follow_redirects=False)
    tok = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    assert c.post("/login", data={"username": "market", "password": wf.PASSWORDS["market"],
                                  "csrf_token": tok}).status_code == 303
    m = c.get("/map.json", params={"from": "2024-04-01", "to": "2024-04-30", "view": "department"}).json()["map"]
    assert m["cases"] == 1 and {n["name"] for n in m["nodes"]} == {"市场监管局"}   # IN-A6
    # a period without any case is the same error as discovering it would give
    r = c.get("/map.json", params={"from": "2025-01-01"})
    assert r.status_code == 400 and "no cases left" in r.text


def test_an_index_of_an_older_cache_is_made_from_its_map_events(proj):
    import shutil

    d = proj._vdir(proj.version()) / "map_index"
    shutil.rmtree(d)
    fresh = Project(proj.root)
    assert fresh.map_index(proj.version()) is not None and (d / "meta.json").is_file()
