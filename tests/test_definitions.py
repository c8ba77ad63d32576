"""The definitions of issue 10, each on a tiny hand-built log whose answer is worked
out by hand here (calendar facts from the State Council's holiday schedule)."""

import dataclasses

import pandas as pd
import pytest

from procmine.engine import workcal

import procmine
from procmine.analysis.audit import audit
from procmine.errors import CalendarError
from procmine.engine.metrics import case_metrics, event_facts
from procmine.log.parsing import parse_limit
from procmine.analysis.redesign import redesign
from procmine.rules import load_rules
from procmine.calendar.workdays import WorkCalendar
from test_audit import mklog

SH = "Asia/Shanghai"


def cases(log, **kw):
    return case_metrics(log, **kw).set_index("case_id")


def test_the_clock_runs_from_acceptance_to_decision_not_first_to_last_event():
    # 2024-03-01 is a Friday. 网上申请 Fri, 受理 Mon, 办结 Tue, 领证 Fri; limit 1 working day.
    # Law: counted from the day after 受理 (Tue) to 办结 (Tue) = 1 working day: on time.
    log = mklog([("A", "网上申请", "2024-03-01 10:00", "2024-03-01 10:10", {"sla": 1}),
                 ("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", {"sla": 1}),
                 ("A", "办结", "2024-03-05 15:00", "2024-03-05 15:10", {"sla": 1}),
                 ("A", "领证", "2024-03-08 10:00", "2024-03-08 10:05", {"sla": 1})])
    a = cases(log).loc["A"]
    assert a["clock_days"] == 1 and a["outcome"] == "按时" and a["status"] == "办结"
    assert a["accept_time"] == pd.Timestamp("2024-03-04 09:30", tz=SH)
    assert a["finish_time"] == pd.Timestamp("2024-03-05 15:10", tz=SH)
    assert a["deliver_time"] == pd.Timestamp("2024-03-08 10:05", tz=SH)
    # the applicant's own lead time, 申请 Fri → 领取 next Fri, is separate: Mon..Fri = 5 working days
    assert a["lead_days"] == 5


def test_a_special_procedure_over_a_weekend_is_taken_off_the_clock():
    # 受理 Mon 03-04; 专家评审 Thu 03-07 → Tue 03-12; 办结 Wed 03-13.
    # Gross: Tue 5, Wed 6, Thu 7, Fri 8, Mon 11, Tue 12, Wed 13 = 7 working days.
    # Paused (03-07, 03-12]: Fri 8, Mon 11, Tue 12 = 3 (the weekend is no working day anyway). Clock 4.
    log = mklog([("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", {"sla": 5}),
                 ("A", "专家评审", "2024-03-07 09:00", "2024-03-12 17:00", {"sla": 5}),
                 ("A", "办结", "2024-03-13 10:00", "2024-03-13 10:30", {"sla": 5})])
    a = cases(log).loc["A"]
    assert (a["paused_days"], a["clock_days"], a["outcome"]) == (3, 4, "提前")


def test_a_correction_pauses_the_clock_from_notice_to_receipt():
    # 受理 Mon 03-04; 补正告知 Tue 03-05; 补正材料提交 Fri 03-08; 办结 Tue 03-12.
    # Gross (03-04, 03-12] = 6; paused (03-05, 03-08] = Wed, Thu, Fri = 3; clock 3.
    log = mklog([("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", {"sla": 3}),
                 ("A", "补正告知", "2024-03-05 10:00", "2024-03-05 10:10", {"sla": 3}),
                 ("A", "补正材料提交", "2024-03-08 09:00", "2024-03-08 09:10", {"sla": 3}),
                 ("A", "办结", "2024-03-12 10:00", "2024-03-12 10:30", {"sla": 3})])
    a = cases(log).loc["A"]
    assert (a["paused_days"], a["clock_days"], a["outcome"]) == (3, 3, "按时")


def test_open_cases_are_measured_as_of_a_date_red_and_yellow():
    # Both accepted Mon 2024-09-23, limit 5 working days, not decided.
    # As of Mon 09-30: (09-23, 09-30] = Tue..Fri + Sun 09-29 (调休 make-up workday) + Mon = 6 → 超期在办.
    # B has limit 7: 1 day left → 临期 with warn_days 1.
    log = mklog([("A", "受理", "2024-09-23 09:00", "2024-09-23 09:30", {"sla": 5}),
                 ("A", "审查", "2024-09-24 09:00", "2024-09-24 09:30", {"sla": 5}),
                 ("B", "受理", "2024-09-23 09:00", "2024-09-23 09:30", {"sla": 7}),
                 ("C", "受理", "2024-09-23 09:00", "2024-09-23 09:30", {"sla": 20}),
                 # a decided case: the service's steps do name the decision (办结)
                 ("D", "受理", "2024-09-02 09:00", "2024-09-02 09:30", {"sla": 5}),
                 ("D", "办结", "2024-09-04 09:00", "2024-09-04 09:30", {"sla": 5})])
    m = cases(log, as_of="2024-09-30")
    assert m.loc["A", "status"] == "在办" and m.loc["A", "clock_days"] == 6
    assert m.loc["A", "outcome"] == "超期在办" and m.loc["A", "days_left"] == -1
    assert m.loc["B", "outcome"] == "在办" and m.loc["B", "due_soon"] and m.loc["B", "days_left"] == 1
    assert m.loc["C", "outcome"] == "在办" and not m.loc["C", "due_soon"]
    rates = audit(log, as_of="2024-09-30").metrics["测试事项"]
    # open cases are not in the rates of decided cases
    assert rates["closed_accepted"] == 1 and rates["on_time_rate"] == 1
    assert (rates["open_cases"], rates["open_overdue"], rates["due_soon"]) == (3, 1, 1)


def test_status_column_not_accepted_and_withdrawn_have_no_clock():
    log = mklog([("A", "申请", "2024-03-04 09:00", "2024-03-04 09:10", {"status": "不予受理", "sla": 5}),
                 ("B", "受理", "2024-03-04 09:00", "2024-03-04 09:10", {"status": "申请人撤回", "sla": 5}),
                 ("C", "受理", "2024-03-04 09:00", "2024-03-04 09:10", {"status": "不予许可", "sla": 5}),
                 ("C", "审批", "2024-03-06 09:00", "2024-03-06 09:10", {"status": "不予许可", "sla": 5}),
                 ("D", "受理", "2024-03-04 09:00", "2024-03-04 09:10", {"status": "审批中", "sla": 5})])
    m = cases(log)
    assert m.loc["A", "outcome"] == "未受理" and pd.isna(m.loc["A", "clock_days"])
    assert m.loc["B", "outcome"] == "撤回" and pd.isna(m.loc["B", "clock_days"])
    # 不予许可 is a decision: decided 03-06, 2 working days, limit 5
    assert m.loc["C", "status"] == "办结" and m.loc["C", "clock_days"] == 2 and m.loc["C", "outcome"] == "提前"
    assert m.loc["D", "status"] == "在办"


def test_lifecycle_columns_win_over_step_names():
    # The export says 受理 Tue 03-05 and 办结 Thu 03-07 at case level: 2 working days.
    extra = {"accept_time": "2024-03-05 10:00", "finish_time": "2024-03-07 16:00", "sla": 2}
    log = mklog([("A", "收件", "2024-03-04 09:00", "2024-03-04 09:10", extra),
                 ("A", "审核", "2024-03-06 09:00", "2024-03-06 09:10", extra),
                 ("A", "发证", "2024-03-11 09:00", "2024-03-11 09:10", extra)])
    a = cases(log).loc["A"]
    assert (a["clock_days"], a["outcome"]) == (2, "按时")


def test_instant_cases_must_be_decided_on_the_day():
    log = mklog([("A", "受理", "2024-03-04 09:00", "2024-03-04 09:10", {"sla": 0}),
                 ("A", "办结", "2024-03-04 15:00", "2024-03-04 15:10", {"sla": 0}),
                 ("B", "受理", "2024-03-04 09:00", "2024-03-04 09:10", {"sla": 0}),
                 ("B", "办结", "2024-03-05 09:00", "2024-03-05 09:10", {"sla": 0})])
    m = cases(log)
    assert m.loc["A", "outcome"] == "即办" and m.loc["B", "outcome"] == "超期"


def test_limits_in_the_units_platforms_write():
    assert parse_limit("10") == ("work", 10.0)
    assert parse_limit("20个工作日内") == ("work", 20.0)
    assert parse_limit("20日") == ("work", 20.0)            # 行政许可法 §82: 日 are working days
    assert parse_limit("15天") == ("calendar", 15.0)
    # months and years are calendar periods (民法典 §201–§203), never a number of working days
    assert parse_limit("1个月") == ("month", 1.0) and parse_limit("1年") == ("month", 12.0)
    assert parse_limit("即办") == ("work", 0.0) and parse_limit("0") == ("work", 0.0)
    assert parse_limit("无期限")[0] == "none" and parse_limit("看情况")[0] == "failed"
    assert parse_limit(3, "2") == ("month", 3.0)             # 前置库 PROMISETYPE 2 = months
    assert parse_limit(10, "4") == ("calendar", 10.0)        # 4 = calendar days


def test_calendar_day_limits_count_calendar_days():
    # 15 calendar days from Mon 09-30: 10-01..07 are holidays but calendar days still count.
    # Decided Wed 10-16: 16 calendar days > 15 → late. In working days: Tue 10-08 .. Fri 10-11,
    # Sat 10-12 (调休 make-up workday), Mon 14 – Wed 16 = 8.
    log = mklog([("A", "受理", "2024-09-30 09:00", "2024-09-30 09:10"),
                 ("A", "办结", "2024-10-16 09:00", "2024-10-16 09:10")])
    log["sla_calendar_days"] = pd.array([15.0, 15.0], dtype="Float64")
    a = cases(log).loc["A"]
    assert a["outcome"] == "超期" and a["clock_days"] == 8


def test_same_day_visits_split_by_a_gap_and_pickup_at_collection():
    log = mklog([
        # intake 09:00–09:30, back office, correction handed in 12:30 (3 h later) → 2 visits
        ("A", "窗口受理", "2024-03-04 09:00", "2024-03-04 09:30"),
        ("A", "审查", "2024-03-04 10:00", "2024-03-04 11:00"),
        ("A", "补正材料提交", "2024-03-04 12:30", "2024-03-04 12:40"),
        # 即办: intake then pick-up 20 minutes later → 1 visit
        ("B", "窗口受理", "2024-03-04 09:00", "2024-03-04 09:10"),
        ("B", "窗口领证", "2024-03-04 09:30", "2024-03-04 09:35"),
        # a pick-up that arrives Mon and is collected Wed counts on Wed: intake Wed 09:00 + pickup
        # collected Wed 09:30 → 1 visit (on Monday the applicant was not there)
        ("C", "窗口受理", "2024-03-06 09:00", "2024-03-06 09:10"),
        ("C", "窗口领证", "2024-03-04 09:00", "2024-03-06 09:30"),
    ])
    m = cases(log)
    assert (m.loc["A", "visits"], m.loc["B", "visits"], m.loc["C", "visits"]) == (2, 1, 1)


def test_online_pre_review_then_window_intake_counts_the_window():
    log = mklog([("A", "网上预审", "2024-03-04 09:00", "2024-03-04 09:10"),
                 ("A", "窗口受理", "2024-03-05 09:00", "2024-03-05 09:10"),
                 ("A", "领证", "2024-03-07 09:00", "2024-03-07 09:10", {"channel": "邮寄"}),
                 ("B", "受理", "2024-03-04 09:00", "2024-03-04 09:10", {"channel": "网上申报"}),
                 ("B", "领证", "2024-03-07 09:00", "2024-03-07 09:10", {"channel": "网上申报"})])
    m = cases(log)
    assert m.loc["A", "visits"] == 1     # the window intake; the posted result is no trip
    # online intake; 领证 is a pick-up at the window: the application's channel (网上申报,
    # repeated on every row) does not say how the result was delivered (issue 25)
    assert m.loc["B", "visits"] == 1


def test_unrecognised_steps_mean_unknown_trips_not_zero():
    log = mklog([("A", "Register", "2024-03-04 09:00", "2024-03-04 09:10", {"service": "X"}),
                 ("A", "Decide", "2024-03-05 09:00", "2024-03-05 09:10", {"service": "X"}),
                 ("B", "受理", "2024-03-04 09:00", "2024-03-04 09:10", {"service": "Y", "in_person": True})])
    m = cases(log)
    assert pd.isna(m.loc["A", "visits"]) and m.loc["B", "visits"] == 1
    r = audit(log)
    assert r.metrics["X"]["zero_trip_rate"] is None and r.metrics["X"]["at_most_once_rate"] is None
    assert r.metrics["Y"]["at_most_once_rate"] == 1
    assert any(s.get("service") == "X" and s["kind"] == "excess_visits" for s in r.skipped)


def test_a_weekend_wait_is_three_working_hours():
    cal = WorkCalendar(office_hours=(("08:30", "17:30"),))
    s = pd.Series([pd.Timestamp("2024-03-08 16:00", tz=SH)])   # Friday
    e = pd.Series([pd.Timestamp("2024-03-11 10:00", tz=SH)])   # Monday
    # Fri 16:00–17:30 = 1.5 h, Mon 08:30–10:00 = 1.5 h
    assert workcal.working_hours(cal, s, e).iloc[0] == pytest.approx(3.0)
    rules = dataclasses.replace(load_rules(), office_hours=(("08:30", "17:30"),))
    log = mklog([("A", "受理", "2024-03-08 15:00", "2024-03-08 16:00"), ("A", "审查", "2024-03-11 10:00", "2024-03-11 11:00")])
    f = event_facts(log, rules)
    assert f["wait_work_hours"].iloc[1] == pytest.approx(3.0) and f["wait_hours"].iloc[1] == pytest.approx(66.0)


def test_applicant_waits_are_not_an_office_bottleneck():
    rows = []
    for i in range(6):  # the applicant takes 2 working days to bring corrections; the office waits 0.5 h
        d1, d2 = f"2024-06-{3 + (i % 3):02d}", f"2024-06-{5 + (i % 3):02d}"
        rows += [(f"C{i}", "受理", f"{d1} 09:00", f"{d1} 09:10"),
                 (f"C{i}", "审查", f"{d1} 09:40", f"{d1} 10:00"),
                 (f"C{i}", "补正材料提交", f"{d2} 10:00", f"{d2} 10:10"),
                 (f"C{i}", "办结", f"{d2} 10:40", f"{d2} 11:00")]
    f = event_facts(mklog(rows))
    assert set(f.loc[f["activity"] == "补正材料提交", "wait_owner"]) == {"applicant"}
    loose = dataclasses.replace(load_rules(), thresholds={**load_rules().thresholds, "min_cases": 1})
    found = [x for x in audit(mklog(rows), loose).findings if x.kind == "bottleneck"]
    assert not any(x.activity == "补正材料提交" for x in found)


def test_a_bottleneck_median_is_above_its_baseline():
    from conftest import ROOT
    res = audit(procmine.read_export(ROOT / "logs").log)
    for f in (x for x in res.findings if x.kind == "bottleneck"):
        assert f.details["wait_p50_work_hours"] > f.details["baseline_work_hours"]


def test_documents_are_normalised_but_never_merged_across_different_documents():
    cat = load_rules().catalogue
    assert cat.normalize("身份证复印件") == cat.normalize("居民身份证（原件）") == "居民身份证"
    assert cat.normalize("结婚证") != cat.normalize("离婚证")
    assert cat.normalize("毕业证") != cat.normalize("学位证")
    assert cat.normalize("法定代表人身份证") != cat.normalize("经办人身份证")
    assert cat.normalize("一寸照片") == "一寸照片"


def test_an_empty_plan_changes_no_number_and_other_services_keep_theirs(tmp_path):
    from conftest import ROOT
    log = procmine.read_export(ROOT / "logs").log
    empty = tmp_path / "empty.yaml"
    empty.write_text("changes: []\n", encoding="utf-8")
    t = redesign(log, empty).table
    assert (t["before"].fillna(-1) == t["after"].fillna(-1)).all()
    r = redesign(log, ROOT / "templates" / "plans" / "食品经营许可.yaml")
    other = r.table[r.table["service"] == "企业开办一件事"]
    assert (other["before"] == other["after"]).all()
    # and "before" is the observed per-case metric, the same number `cases` gives
    obs = case_metrics(log)
    kb = obs[obs["service"] == "企业开办一件事"]
    trips = r.table[(r.table["service"] == "企业开办一件事") & r.table["measure"].str.startswith("跑动")].iloc[0]
    assert trips["before"] == round(kb["visits"].astype(float).mean(), 3)


def test_parallel_after_removing_the_step_between():
    rows = []
    for i in range(3):  # 刻章 (1 day) – 审核 (1 day) – 社保 (1 day); remove 审核, parallelise the other two
        rows += [(f"P{i}", "受理", "2024-03-04 09:00", "2024-03-04 10:00"),
                 (f"P{i}", "刻章", "2024-03-04 10:00", "2024-03-05 10:00"),
                 (f"P{i}", "审核", "2024-03-05 10:00", "2024-03-06 10:00"),
                 (f"P{i}", "社保", "2024-03-06 10:00", "2024-03-07 10:00"),
                 (f"P{i}", "办结", "2024-03-07 10:00", "2024-03-07 11:00")]
    import tempfile, pathlib
    p = pathlib.Path(tempfile.mkdtemp()) / "p.yaml"
    p.write_text("changes:\n  - remove: 审核\n  - parallel: [刻章, 社保]\n", encoding="utf-8")
    t = redesign(mklog(rows), p).table
    r = t[t["measure"].str.startswith("办理工作日")].iloc[0]
    # before Mon→Thu = 3; removing 审核 saves 1 day, running 刻章 and 社保 side by side 1 more: 1
    assert (r["before"], r["after"]) == (3.0, 1.0)


def test_an_unknown_calendar_year_is_an_error_unless_weekdays_are_asked_for():
    cal = WorkCalendar()
    s, e = pd.Series([pd.Timestamp("2031-03-03", tz=SH)]), pd.Series([pd.Timestamp("2031-03-10", tz=SH)])
    with pytest.raises(CalendarError, match="2031") as err:
        workcal.working_days(cal, s, e)
    assert "pip install -U chinesecalendar" in str(err.value)
    weekdays = WorkCalendar(unknown_years="weekdays")
    assert workcal.working_days(weekdays, s, e).iloc[0] == 5 and "2031" in weekdays.note


def test_unparsed_limits_are_listed_not_dropped():
    log = mklog([("A", "受理", "2024-03-04 09:00", "2024-03-04 09:10"), ("A", "办结", "2024-03-05 09:00", "2024-03-05 09:10")])
    log["limit_text"] = pd.array(["看情况", "看情况"], dtype="string")
    r = audit(log)
    assert r.metrics["测试事项"]["unparsed_limits"] == {"看情况": 1}
    assert any("看情况" in n for n in r.notes)


def test_merge_with_cap_wait_subtracts_the_wait_once(tmp_path):
    from procmine.analysis.redesign import load_plan, replay
    # 受理 Mon 09–10; 初审 Tue 09–10 (waits 23 h); 复审 Wed 09–10 (23 h); 办结 Wed 10–11
    log = mklog([("A", "受理", "2024-03-04 09:00", "2024-03-04 10:00"),
                 ("A", "初审", "2024-03-05 09:00", "2024-03-05 10:00"),
                 ("A", "复审", "2024-03-06 09:00", "2024-03-06 10:00"),
                 ("A", "办结", "2024-03-06 10:00", "2024-03-06 11:00")])
    p = tmp_path / "p.yaml"
    p.write_text("changes:\n  - merge: [初审, 复审]\n    into: 审查\n  - cap_wait: {activity: 审查, hours: 0}\n",
                 encoding="utf-8")
    after, _ = replay(log, load_plan(p), load_rules())
    after = after.set_index("activity")
    # the merge drops the 23 h between 初审 and 复审 (审查 Tue 09–11 would be 2 h of work: 1 + 1);
    # the cap drops the 23 h before 审查: Mon 10–12. 办结 follows at once: Mon 12–13. Nothing twice.
    assert after.loc["审查", "start_time"] == pd.Timestamp("2024-03-04 10:00", tz=SH)
    assert after.loc["审查", "end_time"] == pd.Timestamp("2024-03-04 12:00", tz=SH)
    assert after.loc["办结", "start_time"] == pd.Timestamp("2024-03-04 12:00", tz=SH)
    t = redesign(log, p).table
    r = t[t["measure"].str.startswith("办理工作日")].iloc[0]
    assert (r["before"], r["after"]) == (2.0, 0.0)


def test_a_removed_steps_documents_are_still_collected_at_intake(tmp_path):
    log = mklog([("A", "受理", "2024-03-04 09:00", "2024-03-04 10:00", {"materials": ["身份证"]}),
                 ("A", "补充登记", "2024-03-05 09:00", "2024-03-05 10:00", {"materials": ["公司章程"]}),
                 ("A", "办结", "2024-03-06 09:00", "2024-03-06 10:00")])
    p = tmp_path / "p.yaml"
    p.write_text("changes:\n  - remove: 补充登记\n", encoding="utf-8")
    t = redesign(log, p).table
    docs = t[t["measure"].str.startswith("提交材料")].iloc[0]
    assert (docs["before"], docs["after"]) == (2.0, 2.0)   # 章程 is still needed: at the intake
    p.write_text("changes:\n  - remove: 补充登记\n  - share: [公司章程]\n", encoding="utf-8")
    docs = redesign(log, p).table
    docs = docs[docs["measure"].str.startswith("提交材料")].iloc[0]
    assert (docs["before"], docs["after"]) == (2.0, 1.0)


def test_a_step_without_a_start_waits_until_its_end():
    # its time is its end: Fri 16:00 → Mon 10:00 is 1.5 + 1.5 working hours (office 08:30–17:30); no work time
    rules = dataclasses.replace(load_rules(), office_hours=(("08:30", "17:30"),))
    log = mklog([("A", "受理", "2024-03-08 15:00", "2024-03-08 16:00"), ("A", "审查", None, "2024-03-11 10:00")])
    f = event_facts(log, rules)
    assert f["wait_work_hours"].iloc[1] == pytest.approx(3.0) and f["wait_hours"].iloc[1] == pytest.approx(66.0)
    assert pd.isna(f["service_work_hours"].iloc[1]) and f["service_work_hours"].iloc[0] == pytest.approx(1.0)
