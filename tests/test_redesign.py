import json

import pytest
from click.testing import CliRunner

import procmine
from procmine.cli import cli
from procmine.analysis.compare import compare, split_by_date
from procmine.analysis.redesign import redesign, suggest
from conftest import ROOT
from test_audit import mklog


def plan(tmp_path, text):
    p = tmp_path / "plan.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def row(table, service, prefix):
    r = table[(table.service == service) & table.measure.str.startswith(prefix)].iloc[0]
    return r["before"], r["after"]


def three_step_cases(n=4):
    rows = []
    for i in range(n):  # Mon 2024-03-04: A 1 h, B takes exactly two working days, C 1 h
        rows += [(f"C{i}", "受理", "2024-03-04 09:00", "2024-03-04 10:00", {"in_person": True}),
                 (f"C{i}", "审查", "2024-03-04 10:00", "2024-03-06 10:00"),
                 (f"C{i}", "办结", "2024-03-06 10:00", "2024-03-06 11:00")]
    return mklog(rows)


def test_removing_a_two_working_day_step_cuts_exactly_two(tmp_path):
    r = redesign(three_step_cases(), plan(tmp_path, "changes:\n  - remove: 审查\n"))
    assert row(r.table, "测试事项", "办理工作日") == (2.0, 0.0)
    assert row(r.table, "测试事项", "环节数") == (3.0, 2.0)


def test_parallelising_two_one_day_steps_saves_one_day(tmp_path):
    rows = []
    for i in range(3):
        rows += [(f"P{i}", "受理", "2024-03-04 09:00", "2024-03-04 10:00"),
                 (f"P{i}", "刻章", "2024-03-04 10:00", "2024-03-05 10:00"),
                 (f"P{i}", "社保", "2024-03-05 10:00", "2024-03-06 10:00"),
                 (f"P{i}", "办结", "2024-03-06 10:00", "2024-03-06 11:00")]
    r = redesign(mklog(rows), plan(tmp_path, "changes:\n  - parallel: [刻章, 社保]\n"))
    assert row(r.table, "测试事项", "办理工作日") == (2.0, 1.0)
    assert row(r.table, "测试事项", "环节数") == (4.0, 4.0)


def test_share_deliver_online_recount_documents_and_trips(tmp_path):
    log = mklog([("A", "受理", "2024-03-04 09:00", "2024-03-04 09:10", {"materials": ["身份证", "章程"], "channel": "窗口"}),
                 ("A", "社保登记", "2024-03-05 09:00", "2024-03-05 09:10", {"materials": ["居民身份证"]}),
                 ("A", "窗口领证", "2024-03-07 09:00", "2024-03-07 09:10")])
    r = redesign(log, plan(tmp_path, "changes:\n  - share: [居民身份证]\n  - deliver: [窗口领证]\n"))
    assert row(r.table, "测试事项", "提交材料") == (3.0, 1.0)
    assert row(r.table, "测试事项", "跑动") == (2.0, 1.0)
    r2 = redesign(log, plan(tmp_path, "changes:\n  - online: [受理]\n  - deliver: [窗口领证]\n"))
    assert row(r2.table, "测试事项", "跑动") == (2.0, 0.0)


def test_plan_errors_name_the_line_and_near_matches(tmp_path):
    log = three_step_cases(1)
    with pytest.raises(procmine.ConfigError) as err:
        redesign(log, plan(tmp_path, "changes:\n  - remove: 审核\n"))
    assert "line 2" in str(err.value) and "did you mean: 审查" in str(err.value)
    with pytest.raises(procmine.ConfigError, match=r"line 3: '审查' is already under 'remove' \(line 2\)"):
        redesign(log, plan(tmp_path, "changes:\n  - remove: 审查\n  - parallel: [审查, 办结]\n"))
    with pytest.raises(procmine.ConfigError, match="no document called '营业执照'"):
        redesign(log, plan(tmp_path, "changes:\n  - share: [营业执照]\n"))
    with pytest.raises(procmine.ConfigError, match="line 2: unknown change"):
        redesign(log, plan(tmp_path, "changes:\n  - delete: 审查\n"))


def test_still_failing_cases_say_why(tmp_path):
    log = mklog([("A", "受理", "2024-03-04 09:00", "2024-03-04 10:00", {"sla": 1, "in_person": True}),
                 ("A", "审查", "2024-03-04 10:00", "2024-03-08 10:00", {"sla": 1}),
                 ("A", "窗口领证", "2024-03-08 11:00", "2024-03-08 11:10", {"sla": 1})])
    r = redesign(log, plan(tmp_path, "changes:\n  - cap_wait: {activity: 窗口领证, hours: 0}\n"))
    (fail,) = r.still_failing.itertuples(index=False)
    assert "仍需跑动2次" in fail.reasons and "仍超时限" in fail.reasons and "审查" in fail.reasons


def test_suggest_round_trip_on_the_sample(tmp_path):
    log = procmine.read_export(ROOT / "logs").log
    text = suggest(log)
    p = plan(tmp_path, text)
    r = redesign(log, p)
    before, after = row(r.table, "企业开办一件事", "跑动")
    assert after < before
    assert "parallel: [印章刻制, 社保登记]" in text and "remove: 审核签发" not in text.split("# name:")[0]
    for name in ("企业开办一件事", "食品经营许可", "建筑工程施工许可"):
        res = redesign(log, ROOT / "templates" / "plans" / f"{name}.yaml")
        b, a = row(res.table, name, "提交材料")
        assert a < b


def test_compare_detects_a_real_change_and_not_noise():
    rows = []
    for i in range(60):  # before: every case picks up at the window (2 trips); after: posted (1 trip)
        day = 4 + i % 20
        d = f"2024-03-{day:02d}" if day <= 29 else "2024-03-29"
        rows += [(f"B{i}", "受理", f"{d} 09:00", f"{d} 09:10", {"in_person": True})]
        if i % 2 == 0:
            rows += [(f"B{i}", "窗口领证", f"{d} 15:00", f"{d} 15:05", {"in_person": False})]
    log_before = mklog([(c, a, s.replace("2024-03", "2024-01"), e.replace("2024-03", "2024-01"), x) for c, a, s, e, x in rows])
    later = [(c.replace("B", "A"), a, s.replace("2024-03", "2024-09"), e.replace("2024-03", "2024-09"), x) for c, a, s, e, x in rows]
    changed = mklog([r for r in later] + [(f"A{i}", "补正材料提交", "2024-09-25 09:00", "2024-09-25 09:10",
                                             {"in_person": True}) for i in range(0, 60, 1)])
    c = compare(log_before, changed)
    t = c.table.set_index("metric")
    assert t.loc["最多跑一次率", "before"] == 1 and t.loc["最多跑一次率", "after"] < 0.2
    assert t.loc["最多跑一次率", "significant"]
    assert not t.loc["平均提交材料份数", "significant"]
    b, a = split_by_date(mklog(rows + later), "2024-06-01")
    assert b["case_id"].str.startswith("B").all() and a["case_id"].str.startswith("A").all()


def test_cli_redesign_suggest_compare(tmp_path):
    runner = CliRunner()
    log = tmp_path / "log.parquet"
    assert runner.invoke(cli, ["import", str(ROOT / "logs"), "-o", str(log)]).exit_code == 0
    res = runner.invoke(cli, ["redesign", str(log), "--plan", str(ROOT / "templates/plans/企业开办一件事.yaml"),
                              "-o", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert any(r["measure"].startswith("跑动") and r["after"] < r["before"] for r in data["四减"])
    assert runner.invoke(cli, ["redesign", str(log), "--plan", str(ROOT / "templates/plans/企业开办一件事.yaml"),
                               "-o", str(tmp_path / "r.xlsx")]).exit_code == 0
    assert runner.invoke(cli, ["suggest", str(log), "-o", str(tmp_path / "p.yaml")]).exit_code == 0
    res = runner.invoke(cli, ["compare", str(log), "--split-date", "2024-04-01", "-o", str(tmp_path / "c.json")])
    assert res.exit_code == 0, res.output
    a = (tmp_path / "c.json").read_bytes()
    runner.invoke(cli, ["compare", str(log), "--split-date", "2024-04-01", "-o", str(tmp_path / "c.json")])
    assert (tmp_path / "c.json").read_bytes() == a  # seeded bootstrap: reproducible
    from procmine.cli import main
    assert main(["compare", str(log)]) == 2


def test_bundle_into_one_matter(tmp_path):
    log = mklog([
        ("X1", "受理", "2024-03-04 09:00", "2024-03-04 10:00", {"service": "设立登记", "in_person": True,
                                                                 "materials": ["身份证", "章程"]}),
        ("X1", "审核", "2024-03-04 10:00", "2024-03-05 10:00", {"service": "设立登记"}),
        ("X1", "窗口领证", "2024-03-06 10:00", "2024-03-06 10:10", {"service": "设立登记", "in_person": True}),
        ("X2", "受理", "2024-03-07 09:00", "2024-03-07 10:00", {"service": "社保开户", "in_person": True,
                                                                 "materials": ["居民身份证"]}),
        ("X2", "办理", "2024-03-07 10:00", "2024-03-08 10:00", {"service": "社保开户"}),
        ("X2", "窗口领取", "2024-03-08 10:00", "2024-03-08 10:10", {"service": "社保开户", "in_person": True}),
    ])
    log["申请人"] = "某某公司"
    p = plan(tmp_path, "changes:\n  - bundle: {services: [设立登记, 社保开户], by: 申请人, as: 企业开办一件事}\n")
    r = redesign(log, p)
    assert row(r.table, "企业开办一件事", "环节数") == (6.0, 4.0)
    assert row(r.table, "企业开办一件事", "提交材料") == (3.0, 2.0)
    assert row(r.table, "企业开办一件事", "跑动") == (4.0, 2.0)
    # legal clock (受理 → 办结, delivery outside): before, first 受理 Mon 03-04 → last decision
    # (社保开户's 办理 ends Fri 03-08) = 4 working days; after, 社保开户's day of work runs beside
    # 设立登记's from the common intake, so both are done Tue 03-05 10:00: 1 working day
    assert row(r.table, "企业开办一件事", "办理工作日") == (4.0, 1.0)
    with pytest.raises(procmine.ConfigError, match="no column called '经办企业'"):
        redesign(log, plan(tmp_path, "changes:\n  - bundle: {services: [设立登记, 社保开户], by: 经办企业, as: X}\n"))


def test_replayed_documents_move_merge_and_share_row_by_row(tmp_path):
    from procmine.analysis.redesign import load_plan, replay
    from procmine.rules import load_rules

    log = mklog([("A", "受理", "2024-03-04 09:00", "2024-03-04 09:10", {"materials": ["户口簿", "章程"]}),
                 ("A", "审查", "2024-03-04 10:00", "2024-03-04 11:00", {"materials": ["申请书", "户口簿", "申请书"]}),
                 ("A", "核准", "2024-03-04 11:00", "2024-03-04 12:00", {"materials": ["a"]}),
                 ("A", "发照", "2024-03-04 12:00", "2024-03-04 13:00", {"materials": ["b"]}),
                 ("B", "受理", "2024-03-05 09:00", "2024-03-05 09:10", {"materials": None})])
    p = load_plan(plan(tmp_path, "changes:\n  - remove: 审查\n  - merge: [核准, 发照]\n    into: 核准发照\n"
                                 "  - share: [章程]\n"))
    out, _ = replay(log, p, load_rules(None))
    # 审查 goes: its documents are collected at 受理, except the 户口簿 受理 already has (both 申请书 stay);
    # 核准+发照 → one step with both documents; 章程 comes from shared data: handed over nowhere;
    # B's missing list reads as no documents
    assert list(out["activity"]) == ["受理", "核准发照", "受理"]
    assert [list(m) for m in out["materials"]] == [["户口簿", "申请书", "申请书"], ["a", "b"], []]
    assert out["materials"].dtype == log["materials"].dtype
    assert [list(m) for m in log["materials"][:2]] == [["户口簿", "章程"], ["申请书", "户口簿", "申请书"]]  # untouched


def test_measure_without_documents_reads_them_on_first_use():
    from procmine.engine.metrics import measure

    log = mklog([("A", "受理", "2024-03-04 09:00", "2024-03-04 09:10", {"materials": ["户口簿", "章程"]}),
                 ("A", "审查", "2024-03-04 10:00", "2024-03-04 11:00", {"materials": ["申请书"]})])
    m = measure(log, documents=False)
    assert m.handovers_frame is None and len(m.facts) == 2
    assert m.handovers_frame is None  # reading the events does not measure again
    assert sorted(m.handovers["material"]) == sorted(measure(log).handovers["material"]) and len(m.handovers) == 3
