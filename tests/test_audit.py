"""Each finding kind on a tiny hand-built log whose right answer is known."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner

import procmine
from procmine.analysis.audit import audit
from procmine.cli import cli
from procmine.log.eventlog import CANONICAL
from procmine.engine.metrics import case_metrics
from procmine.log.parsing import MATERIALS_DTYPE
from conftest import ROOT

SH = "Asia/Shanghai"


def mklog(rows):
    """rows: (case, activity, start, end, **extra) → canonical log."""
    data = {k: [] for k in CANONICAL}
    for i, row in enumerate(rows):
        case, act, start, end, extra = row[0], row[1], row[2], row[3], (row[4] if len(row) > 4 else {})
        values = {"case_id": case, "service": extra.get("service", "测试事项"), "activity": act,
                  "department": extra.get("dept"), "resource": None,
                  "start_time": pd.Timestamp(start, tz=SH) if start else pd.NaT,
                  "end_time": pd.Timestamp(end, tz=SH) if end else pd.NaT,
                  "channel": extra.get("channel"), "in_person": extra.get("in_person"),
                  "materials": extra.get("materials", []), "sla_days": extra.get("sla"),
                  "source_file": "t", "source_sheet": "s", "source_row": i + 2}
        for k in CANONICAL:
            v = values[k] if k in values else extra.get(k)
            if v is not None and k not in values and CANONICAL[k] == CANONICAL["start_time"]:
                v = pd.Timestamp(v, tz=SH)
            data[k].append(v)
    return pd.DataFrame({k: pd.Series(v, dtype=CANONICAL[k]) if k != "materials" else
                         pd.Series(pd.array(v, dtype=MATERIALS_DTYPE)) for k, v in data.items()})


@pytest.fixture
def loose_rules(tmp_path):
    p = tmp_path / "rules.yaml"
    p.write_text("thresholds: {min_cases: 1, parallel_min_cases: 4}\n", encoding="utf-8")
    return str(p)


def kinds(result, kind):
    return [f for f in result.findings if f.kind == kind]


def test_visits_count_trips_per_day_and_ignore_staff_travel(loose_rules):
    log = mklog([
        ("A", "受理", "2024-03-04 09:00", "2024-03-04 09:20", {"channel": "窗口"}),
        ("A", "审核", "2024-03-04 10:00", "2024-03-04 11:00"),           # back office, same day
        ("A", "现场核查", "2024-03-05 09:00", "2024-03-05 10:00", {"in_person": True}),  # staff travel
        ("A", "补正材料提交", "2024-03-06 09:00", "2024-03-06 09:10"),    # 2nd trip
        ("A", "窗口领证", "2024-03-08 09:00", "2024-03-08 09:05"),        # 3rd trip
        ("B", "受理", "2024-03-04 09:00", "2024-03-04 09:20", {"channel": "网上申报"}),
        ("B", "EMS送达", "2024-03-06 09:00", "2024-03-06 09:05"),
        ("C", "受理", "2024-03-04 09:00", "2024-03-04 09:20", {"in_person": True}),
        ("C", "领取证照", "2024-03-04 16:00", "2024-03-04 16:05"),        # same day but 6h40 later: a 2nd visit
    ])
    m = case_metrics(log).set_index("case_id")
    # a visit is continuous presence: same day AND at most 2 h apart (issue 10)
    assert list(m["visits"]) == [3, 0, 2]
    r = audit(log, loose_rules)
    (f,) = kinds(r, "excess_visits")
    # A: 3 visits (2 extra), C: 2 visits (1 extra); evidence by visits, then id
    assert (f.cases, f.impact, f.unit, f.evidence) == (2, 3, "trips", ["A", "C"])
    assert f.details["extra_trip_steps"] == {"补正材料提交": 1, "窗口领证": 1, "领取证照": 1}
    assert r.metrics["测试事项"]["zero_trip_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert r.metrics["测试事项"]["at_most_once_rate"] == pytest.approx(1 / 3, abs=1e-4)


def test_working_days_follow_the_chinese_calendar():
    # 2024-09-30 (Mon) → 2024-10-08 (Tue): 10-01..07 are the National Day holiday
    log = mklog([("A", "受理", "2024-09-30 09:00", "2024-09-30 10:00", {"sla": 1}),
                 ("A", "办结", "2024-10-08 09:00", "2024-10-08 10:00", {"sla": 1}),
                 ("B", "受理", "2024-10-11 09:00", None, {"sla": 1}),   # Fri
                 ("B", "办结", "2024-10-14 09:00", None, {"sla": 1})])  # Mon; Sat 10-12 was a make-up workday
    m = case_metrics(log).set_index("case_id")
    assert m.loc["A", "clock_days"] == 1 and m.loc["A", "outcome"] == "按时"
    assert m.loc["B", "clock_days"] == 2 and m.loc["B", "outcome"] == "超期"
    from procmine.rules import load_rules
    import dataclasses
    inclusive = dataclasses.replace(load_rules(), first_day="include")
    assert case_metrics(log, inclusive).set_index("case_id").loc["A", "clock_days"] == 2


def test_repeated_and_shareable_material_with_synonyms(loose_rules):
    log = mklog([
        ("A", "受理", "2024-03-04 09:00", "2024-03-04 09:20", {"dept": "窗口", "materials": ["身份证", "章程"]}),
        ("A", "社保登记", "2024-03-05 09:00", "2024-03-05 09:20", {"dept": "人社局", "materials": ["居民身份证复印件"]}),
        ("B", "受理", "2024-03-04 09:00", "2024-03-04 09:20", {"dept": "窗口", "materials": ["章程"]}),
    ])
    m = case_metrics(log).set_index("case_id")
    assert (m.loc["A", "materials_submitted"], m.loc["A", "distinct_materials"],
            m.loc["A", "repeated_material_submissions"]) == (3, 2, 1)
    r = audit(log, loose_rules)
    (rep,) = kinds(r, "repeated_material")
    assert (rep.material, rep.cases, rep.impact, rep.evidence) == ("居民身份证", 1, 1, ["A"])
    shares = {f.material: f for f in kinds(r, "shareable_material")}
    assert set(shares) == {"居民身份证"} and shares["居民身份证"].impact == 2


def test_rework_and_duplicate_check(loose_rules):
    log = mklog([
        ("A", "审核", "2024-03-04 09:00", "2024-03-04 10:00", {"dept": "甲局"}),
        ("A", "补正告知", "2024-03-04 11:00", "2024-03-04 11:10", {"dept": "甲局"}),
        ("A", "审核", "2024-03-06 09:00", "2024-03-06 10:00", {"dept": "甲局"}),
        ("B", "核验", "2024-03-04 09:00", "2024-03-04 10:00", {"dept": "甲局"}),
        ("B", "核验", "2024-03-04 11:00", "2024-03-04 12:00", {"dept": "乙局"}),
    ])
    r = audit(log, loose_rules)
    rework = {f.activity: f for f in kinds(r, "rework")}
    assert rework["审核"].impact == 1 and rework["审核"].evidence == ["A"]
    (dup,) = kinds(r, "duplicate_check")
    assert (dup.activity, dup.cases, dup.impact, dup.details["departments"]) == ("核验", 1, 1, ["乙局", "甲局"])


def test_rubber_stamp_needs_short_and_always_passing(loose_rules):
    rows = []
    for i in range(6):
        d = f"2024-03-{4 + i:02d}"
        rows += [(f"C{i}", "初审", f"{d} 09:00", f"{d} 10:00"),
                 (f"C{i}", "签发", f"{d} 14:00", f"{d} 14:03"),
                 (f"C{i}", "办结", f"{d} 15:00", f"{d} 15:10")]
    r = audit(mklog(rows), loose_rules)
    stamps = kinds(r, "rubber_stamp")
    assert [f.activity for f in stamps] == ["签发"]
    assert stamps[0].details["median_minutes"] == 3 and stamps[0].details["pass_share"] == 1
    # wait 10:00→14:00 in office hours (08:30–12:00, 13:30–17:30) = 2 h + 0.5 h, plus 3 min inside
    # (2024-03-09, the sixth case, is a Saturday: no working hours)
    assert stamps[0].impact == pytest.approx(5 * (2.5 + 0.05)) and stamps[0].unit == "work_hours"
    # the same step sent back once in six cases no longer passes 98%
    rows.append(("C0", "退回补正", "2024-03-04 16:00", "2024-03-04 16:05"))
    assert not kinds(audit(mklog(rows), loose_rules), "rubber_stamp")


def test_parallelizable_steps_seen_in_both_orders(loose_rules):
    rows = []
    for i in range(8):
        d = f"2024-04-{1 + i:02d}"
        a, b = ("刻章", "社保") if i % 2 else ("社保", "刻章")
        rows += [(f"P{i}", "受理", f"{d} 09:00", f"{d} 09:30"), (f"P{i}", a, f"{d} 10:30", f"{d} 11:30"),
                 (f"P{i}", b, f"{d} 13:30", f"{d} 15:30"), (f"P{i}", "办结", f"{d} 16:00", f"{d} 16:30")]
    (f,) = kinds(audit(mklog(rows), loose_rules), "parallelizable")
    assert f.activity == "刻章 | 社保" and f.cases == 8
    assert f.details["share_a_first"] == 0.5
    # saving per case = the shorter of the two spans in working hours: the first of the pair waits
    # 09:30→10:30 (1 h) + 1 h inside = 2 h; the second waits 11:30→13:30 (0.5 h, lunch excluded) + 2 h.
    # 2024-04-04/05/06 are the 清明 holiday (no working hours); 04-07 (Sunday) is a make-up workday:
    # 5 working days × 2 h = 10 h = 1.33 working days (7.5 office hours a day)
    assert f.impact == pytest.approx(5 * 2 / 7.5) and f.unit == "working_days"


def test_parallelizable_pairs_of_one_service_are_one_finding(loose_rules):
    rows = []
    for i in range(8):
        d = f"2024-04-{1 + i:02d}"
        a, b = ("刻章", "社保") if i % 2 else ("社保", "刻章")
        rows += [(f"P{i}", "受理", f"{d} 09:00", f"{d} 09:30"), (f"P{i}", a, f"{d} 10:30", f"{d} 11:30"),
                 (f"P{i}", b, f"{d} 13:30", f"{d} 15:30")]
        if i < 6:  # a second pair in six of the cases, in either order, always after the first pair
            c, e = ("银行", "税务") if i % 2 else ("税务", "银行")
            rows += [(f"P{i}", c, f"{d} 15:30", f"{d} 15:45"), (f"P{i}", e, f"{d} 15:45", f"{d} 16:00")]
        rows.append((f"P{i}", "办结", f"{d} 16:00", f"{d} 16:30"))
    (f,) = kinds(audit(mklog(rows), loose_rules), "parallelizable")
    # 8 cases have a pair (all 8 have 刻章/社保); the pairs listed by cases: 刻章/社保 (8) before 税务/银行 (6)
    assert f.cases == 8 and [(p["a"], p["b"], p["cases"]) for p in f.details["pairs"]] == [
        ("刻章", "社保", 8), ("税务", "银行", 6)]
    assert f.summary.index("「刻章」与「社保」8件") < f.summary.index("「税务」与「银行」6件")
    assert "2对环节" in f.summary
    # the impact is the first pair's saving (5 working days × 2 h = 10 h), not the sum of overlapping pairs;
    # the second pair would save 0.25 h on each of 04-01..03 (04-04..06 are the 清明 holiday): 0.75 h
    assert f.impact == pytest.approx(10 / 7.5)
    assert f.details["pairs"][1]["saving_working_days"] == pytest.approx(0.75 / 7.5, abs=0.005)


def test_serial_signoff_chain_within_one_department(loose_rules):
    rows = []
    for i in range(3):
        d = f"2024-05-{6 + i:02d}"
        rows += [(f"S{i}", "受理", f"{d} 09:00", f"{d} 09:10", {"dept": "住建局"}),
                 (f"S{i}", "科员初审", f"{d} 10:00", f"{d} 10:30", {"dept": "住建局"}),
                 (f"S{i}", "科长复审", f"{d} 11:00", f"{d} 11:30", {"dept": "住建局"}),
                 (f"S{i}", "局长审批", f"{d} 14:00", f"{d} 14:30", {"dept": "住建局"})]
    (f,) = kinds(audit(mklog(rows), loose_rules), "serial_signoff")
    assert (f.department, f.activity, f.cases, f.impact) == ("住建局", "科员初审 → 科长复审 → 局长审批", 3, 6)
    # waits between levels in office hours: 10:30→11:00 = 0.5 h; 11:30→14:00 = 0.5 h + 0.5 h (lunch excluded)
    assert f.details["wait_work_hours_between_levels"] == pytest.approx(3 * (0.5 + 1.0))


def test_bottleneck_ranks_by_delay_contributed(loose_rules):
    rows = []
    for i in range(5):
        d = f"2024-06-{3 + i:02d}"
        rows += [(f"B{i}", "受理", f"{d} 09:00", f"{d} 09:10", {"dept": "窗口"}),
                 (f"B{i}", "审查", f"{d} 09:40", f"{d} 10:00", {"dept": "甲局"}),      # waits 0.5 h
                 (f"B{i}", "会审", f"{d} 16:00", f"{d} 16:30", {"dept": "乙局"}),      # waits 4.5 working h
                 (f"B{i}", "办结", f"{d} 17:00", f"{d} 17:10", {"dept": "窗口"})]      # waits 0.5 h
    found = kinds(audit(mklog(rows), loose_rules), "bottleneck")
    top = found[0]
    assert top.department == "乙局" and top.details["view"] == "department"
    # 10:00→16:00 = 2 h + 2.5 h of office time; baseline = median of the steps' median waits
    # (审查 0.5, 会审 4.5, 办结 0.5) = 0.5 h; excess 4 h in each of 5 cases
    # the impact is in working days (7.5 office hours each): 5 × 4 h = 20 h = 2.67 days, 0.53 a case
    assert top.impact == pytest.approx(5 * (4.5 - 0.5) / 7.5) and top.unit == "working_days"
    assert top.details["wait_p50_work_hours"] == 4.5
    assert top.details["excess_working_days_per_case"] == pytest.approx(4 / 7.5, abs=0.005)
    assert top.details["baseline_work_hours"] == 0.5 and len(found) == 1  # the handover and the step are the same waits


def test_bottleneck_baseline_is_never_zero_and_pauses_are_not_bottlenecks(loose_rules):
    """Most steps follow at once (their median wait is 0); one planted step waits days; a
    §45 pause (中止 → 恢复) holds a longer wait still. Worked out by hand, office hours
    08:30-12:00 and 13:30-17:30 (7.5 h a day), the Chinese calendar of 2024."""
    def case(i, t):
        d = {"dept": "审批局"}
        return [(f"K{i}", "受理", "2024-04-01 09:00", "2024-04-01 09:10", {"dept": "窗口"}),
                (f"K{i}", "初审", t["初审"], t.get("初审_end", "2024-04-01 09:40"), d),
                (f"K{i}", "复核", t.get("复核", "2024-04-01 09:40"), t.get("复核_end", "2024-04-01 10:00"), d),
                (f"K{i}", "汇总", t.get("汇总", "2024-04-01 10:00"), "2024-04-03 10:00", d),
                # the planted wait: Wed 04-03 10:00 → Mon 04-08 10:00. 04-03 gives 2 h + 4 h; 04-04..06
                # are the 清明 holiday; Sunday 04-07 is a make-up working day (7.5 h); 04-08 08:30-10:00
                # 1.5 h: 15 working hours = 2 working days (a Monday-Friday count would say 3.5 days)
                (f"K{i}", "会审", "2024-04-08 10:00", "2024-04-08 11:00", d),
                # a §45 pause: 中止 → 恢复; 技术审查 inside it waits 4 working days (30 h): never a bottleneck
                (f"K{i}", "中止", "2024-04-08 11:00", "2024-04-08 11:10", d),
                (f"K{i}", "技术审查", "2024-04-12 11:10", "2024-04-12 12:00", d),
                (f"K{i}", "恢复", "2024-04-12 12:00", "2024-04-12 12:10", d),
                (f"K{i}", "决定", "2024-04-12 13:30", "2024-04-12 14:00", d)]  # 12:10 → 13:30: lunch, 0 h
    rows = []
    for i in range(6):
        t = {"初审": "2024-04-01 09:10"}
        if i == 0:  # 初审 waits 1 h (09:10 → 10:10); 复核 follows at once
            t = {"初审": "2024-04-01 10:10", "初审_end": "2024-04-01 10:40", "复核": "2024-04-01 10:40",
                 "复核_end": "2024-04-01 11:00", "汇总": "2024-04-01 11:00"}
        if i == 1:  # 复核 waits 2 h (09:40 → 11:40)
            t.update({"复核": "2024-04-01 11:40", "复核_end": "2024-04-01 12:00", "汇总": "2024-04-01 12:00"})
        if i == 2:  # 汇总 waits 0.5 h (10:00 → 10:30)
            t["汇总"] = "2024-04-01 10:30"
        rows += case(i, t)
    found = kinds(audit(mklog(rows), loose_rules), "bottleneck")
    # waits inside the clock (after 受理's end, 09:10): 初审 [1] (the others start at 09:10, not after it),
    # 复核 [0, 2, 0, 0, 0, 0], 汇总 [0, 0, 0.5, 0, 0, 0], 会审 [15] × 6, 决定 [0] × 6; the pause's steps left out.
    # The non-zero waits' medians: 初审 1, 复核 2, 汇总 0.5, 会审 15 (决定 none). 复核's baseline is the median
    # of the others' (1, 0.5, 15) = 1 h, its median wait 0: no bottleneck; 初审: median(2, 0.5, 15) = 2 > 1: none.
    assert [f.activity for f in found] == ["会审"]
    (top,) = found
    # 会审 against median(1, 2, 0.5) = 1 h: 14 h over in each of 6 cases = 84 h = 11.2 working days,
    # 1.87 a case
    assert top.details["baseline_work_hours"] == 1 and top.details["wait_p50_work_hours"] == 15
    assert (top.cases, top.unit) == (6, "working_days")
    assert top.impact == pytest.approx(84 / 7.5)
    assert top.details["excess_working_days_per_case"] == pytest.approx(14 / 7.5, abs=0.005)
    assert "平均每件多等1.9个工作日" in top.summary and "0个工作小时" not in top.summary


def test_sla_overrun_names_where_time_went(loose_rules):
    log = mklog([("A", "受理", "2024-03-04 09:00", "2024-03-04 09:10", {"sla": 1}),
                 ("A", "审批", "2024-03-08 09:00", "2024-03-08 10:00", {"sla": 1}),
                 ("B", "受理", "2024-03-04 09:00", "2024-03-04 09:10", {"sla": 1}),
                 ("B", "审批", "2024-03-05 09:00", "2024-03-05 10:00", {"sla": 1})])
    (f,) = kinds(audit(log, loose_rules), "sla_overrun")
    assert (f.cases, f.impact, f.unit, f.evidence) == (1, 3, "working_days", ["A"])
    assert f.details["time_went_to"] == {"审批": 1}


def test_missing_data_is_skipped_with_reasons_not_zeros():
    log = mklog([("A", "Register", None, "2024-03-04 09:00"), ("A", "Decide", None, "2024-03-05 09:00")])
    r = audit(log)
    skipped = {s["kind"] for s in r.skipped}
    assert {"excess_visits", "repeated_material", "shareable_material", "duplicate_check", "rubber_stamp",
            "sla_overrun"} <= skipped
    assert r.metrics["测试事项"]["at_most_once_rate"] is None


def test_audit_is_deterministic_and_agrees_with_cases(tmp_path):
    log = procmine.read_export(ROOT / "logs" / "食品经营许可_2024上半年.xlsx").log
    a, b = audit(log).to_json(), audit(log.sample(frac=1, random_state=1)).to_json()
    assert a == b
    data = json.loads(a)
    cases = case_metrics(log)
    m = data["metrics"]["食品经营许可"]
    assert m["at_most_once_rate"] == round((cases["visits"] <= 1).mean(), 4)
    assert m["cases"] == len(cases)


def test_audit_finds_what_the_sample_generator_planted():
    truth = json.loads((ROOT / "logs" / "ground_truth.json").read_text(encoding="utf-8"))
    r = audit(procmine.read_export(ROOT / "logs").log)
    got = {(f.kind, f.service, f.activity or f.department or f.material) for f in r.findings}
    kb, food, build = truth["企业开办一件事"], truth["食品经营许可"], truth["建筑工程施工许可"]
    for m in kb["repeated_material"]:
        assert ("repeated_material", "企业开办一件事", m) in got
    for m in kb["shareable_material"] + build["shareable_material"]:
        assert any(k == "shareable_material" and x == m for k, _, x in got)
    assert ("bottleneck", "企业开办一件事", kb["slow_department"]) in got
    assert ("parallelizable", "企业开办一件事", " | ".join(sorted(kb["parallelizable"]))) in got
    assert ("rubber_stamp", "食品经营许可", food["rubber_stamp"]) in got
    assert ("rework", "食品经营许可", food["rework_activity"]) in got
    assert any(k == "serial_signoff" and s == "建筑工程施工许可" for k, s, _ in got)
    visits = {f.service: f for f in r.findings if f.kind == "excess_visits"}
    assert visits["企业开办一件事"].cases == kb["excess_visit_cases"]
    assert visits["食品经营许可"].cases == food["excess_visit_cases"]
    assert visits["食品经营许可"].details["extra_trip_steps"]["补正材料提交"] <= food["corrections"]
    assert "现场核查" not in visits["食品经营许可"].details["extra_trip_steps"]
    over = {f.service for f in r.findings if f.kind == "sla_overrun"}
    assert "企业开办一件事" in over


def test_cli_audit_and_cases(tmp_path):
    runner = CliRunner()
    log = tmp_path / "log.parquet"
    assert runner.invoke(cli, ["import", str(ROOT / "logs" / "建筑工程施工许可_台账.xlsx"), "-o", str(log)]).exit_code == 0
    res = runner.invoke(cli, ["audit", str(log), "-o", str(tmp_path / "f.json")])
    assert res.exit_code == 0, res.output
    assert "最多跑一次率" in res.output
    data = json.loads((tmp_path / "f.json").read_text(encoding="utf-8"))
    assert data["findings"] and {"kind", "service", "cases", "impact", "evidence", "severity", "summary"} <= set(data["findings"][0])
    res = runner.invoke(cli, ["cases", str(log), "-o", str(tmp_path / "c.csv")])
    assert res.exit_code == 0
    table = pd.read_csv(tmp_path / "c.csv", encoding="utf-8-sig")
    assert len(table) == 800 and {"visits", "clock_days", "outcome", "accept_time", "finish_time"} <= set(table.columns)
    bad = tmp_path / "r.yaml"
    bad.write_text("visits: {pickup: '(['}\n", encoding="utf-8")
    res = runner.invoke(cli, ["audit", str(log), "--rules", str(bad)])
    assert res.exit_code != 0


def test_serial_signoff_runs_break_at_another_department_or_step(loose_rules):
    """A run is consecutive sign-off steps of one department: another department's
    sign-off, or a step that is not a sign-off, ends it; a case can hold two runs."""
    rows = []
    for i in range(2):
        d = f"2024-05-{13 + i:02d}"
        rows += [(f"R{i}", "初审", f"{d} 09:00", f"{d} 09:30", {"dept": "甲局"}),
                 (f"R{i}", "复审", f"{d} 10:00", f"{d} 10:30", {"dept": "甲局"}),
                 (f"R{i}", "审批", f"{d} 11:00", f"{d} 11:30", {"dept": "甲局"}),   # run 1: 3 levels in 甲局
                 (f"R{i}", "会签", f"{d} 13:00", f"{d} 13:30", {"dept": "乙局"}),   # another department: ends it
                 (f"R{i}", "复核", f"{d} 14:00", f"{d} 14:30", {"dept": "甲局"}),
                 (f"R{i}", "现场查看", f"{d} 15:00", f"{d} 15:30", {"dept": "甲局"}),  # not a sign-off: ends it
                 (f"R{i}", "核准", f"{d} 15:40", f"{d} 15:50", {"dept": "甲局"}),
                 (f"R{i}", "批准", f"{d} 16:00", f"{d} 16:10", {"dept": "甲局"}),
                 (f"R{i}", "签发", f"{d} 16:30", f"{d} 16:40", {"dept": "甲局"})]    # run 2: 3 levels
    # without a department the run is "未注明部门" (and still one department)
    rows += [("N", "初审", "2024-05-15 09:00", "2024-05-15 09:10"),
             ("N", "复审", "2024-05-15 09:20", "2024-05-15 09:30"),
             ("N", "审批", "2024-05-15 09:40", "2024-05-15 09:50")]
    found = {(f.department, f.activity): f for f in kinds(audit(mklog(rows), loose_rules), "serial_signoff")}
    assert set(found) == {("甲局", "初审 → 复审 → 审批"), ("甲局", "核准 → 批准 → 签发"),
                          ("「未注明部门」", "初审 → 复审 → 审批")}
    first = found["甲局", "初审 → 复审 → 审批"]
    # 2 cases × (3 − 1) extra levels; waits 09:30→10:00 and 10:30→11:00 = 1 h per case
    assert (first.cases, first.impact, first.evidence) == (2, 4, ["R0", "R1"])
    assert first.details["wait_work_hours_between_levels"] == pytest.approx(2 * 1.0)
    second = found["甲局", "核准 → 批准 → 签发"]  # waits 15:50→16:00 (10 min) and 16:10→16:30 (20 min)
    assert second.details["wait_work_hours_between_levels"] == pytest.approx(2 * 0.5)


def test_audit_leaves_the_events_in_the_engine_and_reads_them_on_demand(loose_rules, tmp_path):
    """Audited by path, without ratings or applicants, the per-event and per-document
    tables never leave the engine; asked for, they are read then (one more engine run)."""
    from procmine.engine.metrics import event_facts

    rows = [(f"E{i}", act, f"2024-06-{3 + i:02d} {h}:00", f"2024-06-{3 + i:02d} {h}:30",
             {"dept": "甲局", "materials": ["营业执照", "身份证"] if act == "受理" else []})
            for i in range(3) for act, h in (("受理", "09"), ("审查", "10"), ("办结", "14"))]
    log = mklog(rows)
    path = tmp_path / "log.parquet"
    procmine.write_log(log, path)
    result = audit(str(path), loose_rules)
    m = result.measured
    assert m.facts_frame is None and m.handovers_frame is None
    assert len(result.handovers) == 6 and set(result.handovers["material"]) == {"营业执照", "居民身份证"}  # the catalogue's name
    assert len(m.facts) == 9 and m.facts.equals(event_facts(log, procmine.rules.load_rules(loose_rules)))
    assert audit(log, loose_rules).measured.facts_frame is not None  # a log in memory brings its events back


def test_findings_do_not_depend_on_the_order_of_the_rows(loose_rules):
    """The same events in another order give the same bytes (working time is summed in
    integer microseconds in the engine, exact in any order of rows or threads)."""
    rows = []
    for i in range(7):
        d = f"2024-06-{3 + i:02d}" if i < 5 else f"2024-06-{6 + i:02d}"
        rows += [(f"B{i}", "受理", f"{d} 09:00", f"{d} 09:10", {"dept": "窗口"}),
                 (f"B{i}", "审查", f"{d} 09:{17 + i}", f"{d} 10:00", {"dept": "甲局"}),
                 (f"B{i}", "会审", f"{d} 15:{11 * i % 60:02d}", f"{d} 16:30", {"dept": "乙局"}),
                 (f"B{i}", "审查", f"{d} 16:{40 + i}", f"{d} 16:55", {"dept": "甲局"}),
                 (f"B{i}", "办结", f"{d} 17:00", f"{d} 17:10", {"dept": "窗口"})]
    log = mklog(rows)
    shuffled = log.sample(frac=1.0, random_state=7).reset_index(drop=True)
    a, b = audit(log, loose_rules), audit(shuffled, loose_rules)
    assert kinds(a, "bottleneck") and kinds(a, "rework")
    assert a.to_json() == b.to_json()
