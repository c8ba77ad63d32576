"""The case model of issue 25, class by class, each on a tiny hand-built log whose
answer is worked out by hand here from the law and the State Council's holiday
schedule (2024: 中秋 15–17 Sep with Sat 14 Sep worked; 国庆 1–7 Oct with Sun 29 Sep and
Sat 12 Oct worked).

The clock runs from the working day after 受理 (行政许可法 §42, §82: 自受理之次日起算);
months are calendar months (民法典 §201 the first day not counted, §202 the
corresponding day or the month's last, §203 a last day on a rest day moves to the next
working day)."""

import numpy as np
import pandas as pd
import pytest

from procmine.engine.metrics import case_metrics, measure, service_rates
from procmine.analysis.monitor import indicators
from procmine.analysis.ratings import rating_level
from test_audit import mklog

SH = "Asia/Shanghai"


def cases(log, **kw):
    return case_metrics(log, **kw).set_index("case_id")


def one(rows, **kw):
    return cases(mklog(rows), **kw).iloc[0]


# ----------------------------------------------------------------------------- limits

def test_a_month_limit_is_a_calendar_month_not_22_working_days():
    # 受理 Mon 2 Sep 2024, limit 1个月. §202: the corresponding day is 2 Oct, a holiday;
    # §203: the period ends on the next working day, Tue 8 Oct. Decided 8 Oct: on time;
    # decided 9 Oct: late. (22 working days from 3 Sep would end on 9 Oct: 3–6, 9–13,
    # Sat 14, 18–20, 23–27, Sun 29, 30, 8 Oct, 9 Oct — the old factor passed B.)
    rows = []
    for case, day in (("A", "2024-10-08"), ("B", "2024-10-09")):
        rows += [(case, "受理", "2024-09-02 09:00", "2024-09-02 09:30", {"sla_months": 1.0}),
                 (case, "办结", f"{day} 10:00", f"{day} 10:30", {"sla_months": 1.0})]
    m = cases(mklog(rows))
    assert m.loc["A", "outcome"] == "按时" and m.loc["B", "outcome"] == "超期"
    assert m.loc["A", "promise_due"] == pd.Timestamp("2024-10-08")
    assert m.loc["A", "promise_kind"] == "month"


def test_a_month_from_the_31st_ends_on_the_months_last_day():
    # 受理 31 Jan 2024 + 1 month: February has no 31st, so its last day, Thu 29 Feb (§202).
    rows = []
    for case, day in (("early", "2024-02-28"), ("ontime", "2024-02-29"), ("late", "2024-03-01")):
        rows += [(case, "受理", "2024-01-31 09:00", "2024-01-31 09:30", {"sla_months": 1.0}),
                 (case, "办结", f"{day} 10:00", f"{day} 10:30", {"sla_months": 1.0})]
    m = cases(mklog(rows))
    assert list(m.loc[["early", "ontime", "late"], "outcome"]) == ["提前", "按时", "超期"]


def test_a_calendar_day_limit_ending_on_a_holiday_moves_to_the_next_working_day():
    # 受理 Fri 20 Sep 2024, limit 15天: 20 Sep + 15 = Sat 5 Oct, a holiday → Tue 8 Oct (§203).
    rows = []
    for case, day in (("A", "2024-10-08"), ("B", "2024-10-09")):
        rows += [(case, "受理", "2024-09-20 09:00", "2024-09-20 09:30", {"sla_calendar_days": 15.0}),
                 (case, "办结", f"{day} 10:00", f"{day} 10:30", {"sla_calendar_days": 15.0})]
    m = cases(mklog(rows))
    assert (m.loc["A", "outcome"], m.loc["B", "outcome"]) == ("按时", "超期")


def test_a_made_up_working_saturday_is_a_working_day_for_a_period_end():
    # 受理 Fri 27 Sep 2024, 15天 → Sat 12 Oct, a 调休 working day: the period ends that day.
    rows = []
    for case, day in (("A", "2024-10-12"), ("B", "2024-10-14")):
        rows += [(case, "受理", "2024-09-27 09:00", "2024-09-27 09:30", {"sla_calendar_days": 15.0}),
                 (case, "办结", f"{day} 10:00", f"{day} 10:30", {"sla_calendar_days": 15.0})]
    m = cases(mklog(rows))
    assert (m.loc["A", "outcome"], m.loc["B", "outcome"]) == ("按时", "超期")


def test_a_month_limit_is_extended_by_the_working_days_paused():
    # 受理 Mon 2 Sep, 1个月 → Tue 8 Oct. 专家评审 Wed 4 Sep → Fri 6 Sep pauses (4 Sep, 6 Sep] =
    # Thu 5, Fri 6 = 2 working days, so the limit ends 2 working days after 8 Oct: Thu 10 Oct.
    rows = [("A", "受理", "2024-09-02 09:00", "2024-09-02 09:30", {"sla_months": 1.0}),
            ("A", "专家评审", "2024-09-04 09:00", "2024-09-06 17:00", {"sla_months": 1.0}),
            ("A", "办结", "2024-10-10 10:00", "2024-10-10 10:30", {"sla_months": 1.0})]
    a = one(rows)
    assert a["paused_days"] == 2 and a["outcome"] == "按时" and a["promise_due"] == pd.Timestamp("2024-10-10")


def test_only_a_statutory_limit_the_outcome_is_against_it():
    # 法定 5 working days, no promise. 受理 Mon 4 Mar, 办结 Tue 12 Mar: 5,6,7,8,11,12 = 6 > 5.
    rows = [("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", {"statutory_days": 5.0}),
            ("A", "办结", "2024-03-12 10:00", "2024-03-12 10:30", {"statutory_days": 5.0})]
    a = one(rows)
    assert a["clock_days"] == 6 and a["outcome"] == "超期"
    assert bool(a["over_statute"]) is True and pd.isna(a["over_promise"])


def test_over_the_promise_is_not_a_legal_breach():
    # 承诺 3, 法定 20; clock 6 (as above): late against the promise, within the law.
    rows = [("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", {"sla": 3, "statutory_days": 20.0}),
            ("A", "办结", "2024-03-12 10:00", "2024-03-12 10:30", {"sla": 3, "statutory_days": 20.0})]
    a = one(rows)
    assert a["outcome"] == "超期" and bool(a["over_promise"]) is True and bool(a["over_statute"]) is False
    rates = service_rates(cases(mklog(rows)).reset_index())
    assert rates["statutory_breaches"] == 0 and rates["overdue_rate"] == 1.0


def test_an_extension_extends_the_statutory_limit_only():
    # 法定 5, 承诺 3. 受理 Mon 4 Mar; 延期审批 on Tue 5 Mar; 办结 Wed 20 Mar:
    # 5–8 (4), 11–15 (9), 18–20 (12) = 12 working days.
    # §42's extension: 5 + 10 = 15 ≥ 12, no breach; the promise is never extended: 12 > 3.
    # An extension that names its length (延期5个工作日): 5 + 5 = 10 < 12, a breach.
    rows = []
    for case, step in (("ten", "延期审批"), ("five", "批准延期5个工作日")):
        lim = {"sla": 3, "statutory_days": 5.0}
        rows += [(case, "受理", "2024-03-04 09:00", "2024-03-04 09:30", lim),
                 (case, step, "2024-03-05 09:00", "2024-03-05 09:30", lim),
                 (case, "办结", "2024-03-20 10:00", "2024-03-20 10:30", lim)]
    m = cases(mklog(rows))
    assert m.loc["ten", "clock_days"] == 12 and m.loc["ten", "extension_days"] == 10
    assert bool(m.loc["ten", "over_statute"]) is False and bool(m.loc["ten", "over_promise"]) is True
    assert m.loc["five", "extension_days"] == 5 and bool(m.loc["five", "over_statute"]) is True


@pytest.mark.parametrize("step, days", [("延期15日", 15), ("延长十五个工作日", 15), ("延期五个工作日", 5),
                                        ("延期十日", 10), ("延长二十个工作日", 20), ("延期三十日", 30),
                                        ("延期两个工作日", 2)])
def test_an_extension_states_its_length_in_arabic_or_chinese_numerals(step, days):
    # 法定 5; 受理 Mon 4 Mar 2024, 办结 Wed 20 Mar: 12 working days (as above).
    # 日 / 个工作日 are working days (§42, §82): the limit is 5 + the stated length;
    # a breach exactly when 5 + days < 12 (five, two: yes; ten and more: no).
    lim = {"sla": 3, "statutory_days": 5.0}
    rows = [("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", lim),
            ("A", step, "2024-03-05 09:00", "2024-03-05 09:30", lim),
            ("A", "办结", "2024-03-20 10:00", "2024-03-20 10:30", lim)]
    a = one(rows)
    assert a["clock_days"] == 12 and a["extension_days"] == days
    assert bool(a["over_statute"]) is (5 + days < 12)


def test_an_extension_column_states_its_length():
    # 延期天数 8: 法定 5 + 8 = 13 ≥ 12 (the clock above): no breach.
    lim = {"statutory_days": 5.0, "extension_days": 8.0}
    rows = [("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", lim),
            ("A", "办结", "2024-03-20 10:00", "2024-03-20 10:30", lim)]
    a = one(rows)
    assert a["extension_days"] == 8 and bool(a["over_statute"]) is False and a["outcome"] == "按时"


def test_an_extension_in_calendar_days_runs_on_from_the_statutory_last_day():
    # 法定 5 working days, no promise. 受理 Mon 4 Mar 2024: 5–8, 11 → the limit's last day is
    # Mon 11 Mar; 延期30个自然日 runs 30 calendar days on: Wed 10 Apr 2024 (a working day;
    # 清明 is 4–6 Apr). Decided 10 Apr: on time; 11 Apr: a breach. (Read as §42's 10 working
    # days, the limit would end Mon 25 Mar and both would be breaches.)
    rows = []
    for case, day in (("A", "2024-04-10"), ("B", "2024-04-11")):
        lim = {"statutory_days": 5.0}
        rows += [(case, "受理", "2024-03-04 09:00", "2024-03-04 09:30", lim),
                 (case, "延期30个自然日", "2024-03-05 09:00", "2024-03-05 09:30", lim),
                 (case, "办结", f"{day} 10:00", f"{day} 10:30", lim)]
    m = cases(mklog(rows))
    assert m.loc["A", "extension_kind"] == "calendar" and m.loc["A", "extension_calendar_days"] == 30
    assert pd.isna(m.loc["A", "extension_days"])
    assert m.loc["A", "statutory_due"] == pd.Timestamp("2024-04-10")
    assert (m.loc["A", "outcome"], m.loc["B", "outcome"]) == ("按时", "超期")
    assert bool(m.loc["A", "over_statute"]) is False and bool(m.loc["B", "over_statute"]) is True
    # B is one working day over: 10 Apr → 11 Apr
    assert m.loc["B", "days_over"] == 1


def test_an_extension_of_a_month_is_a_calendar_month_from_the_statutory_last_day():
    # 法定 20 working days. 受理 Mon 2 Sep 2024: 3–6 (4), 9–13 (9), Sat 14 worked (10),
    # 中秋 15–17, 18–20 (13), 23–27 (18), Sun 29 worked (19), Mon 30 Sep (20): the limit's
    # last day. 延长1个月: the corresponding day, Wed 30 Oct (a working day, §202).
    # Decided 30 Oct: on time; Thu 31 Oct: a breach. (§42's 10 working days from 30 Sep,
    # over 国庆, would end Fri 18 Oct: both breaches.) The column states it the same way.
    rows = []
    for case, day, step, col in (("A", "2024-10-30", "延长1个月", None), ("B", "2024-10-31", "延长一个月", None),
                                 ("C", "2024-10-30", "延期审批", 1.0)):
        lim = {"statutory_days": 20.0, "extension_months": col}
        rows += [(case, "受理", "2024-09-02 09:00", "2024-09-02 09:30", lim),
                 (case, step, "2024-09-20 09:00", "2024-09-20 09:30", lim),
                 (case, "办结", f"{day} 10:00", f"{day} 10:30", lim)]
    m = cases(mklog(rows))
    assert list(m.loc[["A", "B", "C"], "extension_kind"]) == ["month"] * 3
    assert list(m.loc[["A", "B", "C"], "extension_months"]) == [1, 1, 1]
    assert m.loc["A", "statutory_due"] == pd.Timestamp("2024-10-30")
    assert list(m.loc[["A", "B", "C"], "outcome"]) == ["按时", "超期", "按时"]


def test_an_extension_column_reads_its_unit():
    # 延期天数 as platforms write it: 10天 and 10 are §42's working days (§82), 30个自然日
    # calendar days, 1个月 a calendar month, 2年 24 months; 很久 is not a length.
    from procmine.log.parsing import parse_extension

    work, cal, bad, months = parse_extension(pd.Series(["10天", "10", "30个自然日", "1个月", "2年", "很久", None]))
    assert work.tolist()[:2] == [10.0, 10.0] and pd.isna(work.iloc[2])
    assert cal.tolist()[2] == 30.0 and months.tolist()[3:5] == [1.0, 24.0]
    assert bad.tolist() == [False, False, False, False, False, True, False]


# ----------------------------------------------------------------------------- status

@pytest.mark.parametrize("text", ["待送达", "已办结待取件", "待领证"])
def test_decided_cases_waiting_for_delivery_are_decided(text):
    # 受理 Mon 4 Mar, 办结 Wed 6 Mar (2 working days), limit 5: decided early — not open, no red card.
    lim = {"sla": 5, "status": text}
    rows = [("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", lim),
            ("A", "审批", "2024-03-06 10:00", "2024-03-06 10:30", lim)]
    a = one(rows, as_of="2024-09-30")
    assert a["status"] == "办结" and a["outcome"] == "提前" and bool(a["awaiting_delivery"])
    assert a["finish_time"] == pd.Timestamp("2024-03-06 10:30", tz=SH)


@pytest.mark.parametrize("text, outcome", [("退回", "退回"), ("作废", "作废"), ("转报", "转报"),
                                           ("补正超时驳回", "退回"), ("出证", "按时"), ("办结", "按时")])
def test_national_result_codes(text, outcome):
    lim = {"sla": 5, "status": text}
    rows = [("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", lim),
            ("A", "审查", "2024-03-11 10:00", "2024-03-11 10:30", lim)]  # 5 working days: on time if decided
    assert one(rows)["outcome"] == outcome


def test_a_status_not_understood_is_listed_never_guessed_open():
    lim = {"sla": 5, "status": "流程异常XYZ"}
    rows = [("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", lim)]
    m = measure(mklog(rows), as_of="2024-09-30", events=False)
    a = m.cases.iloc[0]
    assert a["status"] == "不明" and a["outcome"] == "状态不明" and not a["due_soon"]
    assert m.unknown_status == {"流程异常XYZ": 1}


# ----------------------------------------------------------------------------- clock start

def test_the_clock_starts_at_acceptance_not_receipt_a_correction_before_it_is_outside():
    # 收件 Mon 4 Mar; 补正告知 Tue 5; 补正材料提交 Fri 8 (§32: before acceptance); 受理 Mon 11;
    # 办结 Wed 13. Clock (11, 13] = Tue 12, Wed 13 = 2 < 3: early. Counting from 收件 would
    # give (4, 13] = 7 less 3 paused = 4 > 3: late.
    lim = {"sla": 3}
    rows = [("A", "收件", "2024-03-04 09:00", "2024-03-04 09:30", lim),
            ("A", "补正告知", "2024-03-05 10:00", "2024-03-05 10:10", lim),
            ("A", "补正材料提交", "2024-03-08 09:00", "2024-03-08 09:10", lim),
            ("A", "受理", "2024-03-11 09:00", "2024-03-11 09:30", lim),
            ("A", "办结", "2024-03-13 10:00", "2024-03-13 10:30", lim)]
    a = one(rows)
    assert a["accept_time"] == pd.Timestamp("2024-03-11 09:30", tz=SH)
    assert a["receive_time"] == pd.Timestamp("2024-03-04 09:30", tz=SH)
    assert (a["clock_days"], a["paused_days"], a["outcome"]) == (2, 0, "提前")


# ----------------------------------------------------------------------------- pauses

def test_a_step_that_mentions_a_procedure_is_not_one():
    # 受理 Mon 4 Mar; 检测报告审查 Tue 5 → Fri 8 (the office reviews a report: its own time);
    # 专家意见汇总 Mon 11 (the same); 办结 Tue 12. Clock (4, 12] = 6, nothing paused.
    # With 组织听证 instead (the procedure itself), Tue 5 → Fri 8 pauses (5, 8] = 3: clock 3.
    lim = {"sla": 5}
    rows = [("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", lim),
            ("A", "检测报告审查", "2024-03-05 09:00", "2024-03-08 17:00", lim),
            ("A", "专家意见汇总", "2024-03-11 09:00", "2024-03-11 10:00", lim),
            ("A", "办结", "2024-03-12 10:00", "2024-03-12 10:30", lim),
            ("B", "受理", "2024-03-04 09:00", "2024-03-04 09:30", lim),
            ("B", "组织听证", "2024-03-05 09:00", "2024-03-08 17:00", lim),
            ("B", "办结", "2024-03-12 10:00", "2024-03-12 10:30", lim)]
    rows += [("C", "受理", "2024-03-04 09:00", "2024-03-04 09:30", lim),
             ("C", "特别程序（专家评审）", "2024-03-05 09:00", "2024-03-08 17:00", lim),
             ("C", "办结", "2024-03-12 10:00", "2024-03-12 10:30", lim)]
    m = cases(mklog(rows))
    assert (m.loc["A", "paused_days"], m.loc["A", "clock_days"], m.loc["A", "outcome"]) == (0, 6, "超期")
    assert (m.loc["C", "paused_days"], m.loc["C", "clock_days"]) == (3, 3)  # a note in brackets
    assert (m.loc["B", "paused_days"], m.loc["B", "clock_days"], m.loc["B", "outcome"]) == (3, 3, "提前")


def test_a_correction_closes_when_the_applicant_hands_the_materials_in_whatever_it_is_called():
    # 受理 Mon 4; 补正通知 Tue 5; 申请人补充材料 Fri 8 (the applicant's step, a name the list of
    # correction_received does not hold); 办结 Tue 12.
    # Paused (5, 8] = 3; clock 6 − 3 = 3.
    lim = {"sla": 3}
    rows = [("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", lim),
            ("A", "补正通知", "2024-03-05 10:00", "2024-03-05 10:10", lim),
            ("A", "申请人补充材料", "2024-03-08 09:00", "2024-03-08 09:10", lim),
            ("A", "办结", "2024-03-12 10:00", "2024-03-12 10:30", lim)]
    a = one(rows)
    assert (a["paused_days"], a["clock_days"], a["outcome"]) == (3, 3, "按时")


def test_a_pause_never_closed_leaves_the_clock_unknown_not_run_to_the_decision():
    lim = {"sla": 3}
    rows = [("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", lim),
            ("A", "补正告知", "2024-03-05 10:00", "2024-03-05 10:10", lim),
            ("A", "办结", "2024-03-12 10:00", "2024-03-12 10:30", lim)]
    a = one(rows)
    assert bool(a["pause_unclosed"]) and np.isnan(a["clock_days"]) and a["outcome"] == "计时不明"
    assert pd.isna(a["over_promise"])


def test_an_open_case_in_correction_is_paused_until_now():
    # 受理 Mon 4 Mar, 补正告知 Tue 5 Mar, nothing since; as of Fri 8 Mar: (4, 8] = 4 gross, (5, 8] = 3
    # paused, clock 1 of 3: open, not red.
    lim = {"sla": 3}
    rows = [("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", lim),
            ("A", "补正告知", "2024-03-05 10:00", "2024-03-05 10:10", lim)]
    a = one(rows, as_of="2024-03-08")
    assert (a["clock_days"], a["paused_days"], a["outcome"]) == (1, 3, "在办")


def test_a_correction_recorded_as_one_step_pauses_the_clock_for_that_step():
    # 承诺 5. 受理 Mon 4 Mar 2024; one step 补正 from Tue 5 Mar 10:00 to Mon 11 Mar 10:00 (the
    # applicant's wait); 办结 Wed 13 Mar. Gross (4, 13] = 5,6,7,8,11,12,13 = 7 working days;
    # paused (5 Mar, 11 Mar] = 6,7,8,11 = 4; clock 3 < 5: early. (Unpaused, 7 > 5: late.)
    # B is still in its 补正 step (no end) as of Fri 8 Mar: open, in a pause, not late.
    lim = {"sla": 5}
    rows = [("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", lim),
            ("A", "补正", "2024-03-05 10:00", "2024-03-11 10:00", lim),
            ("A", "办结", "2024-03-13 10:00", "2024-03-13 10:30", lim),
            ("B", "受理", "2024-03-04 09:00", "2024-03-04 09:30", lim),
            ("B", "材料补正", "2024-03-05 10:00", None, lim)]
    m = cases(mklog(rows), as_of="2024-03-08")
    assert (m.loc["A", "clock_days"], m.loc["A", "paused_days"], m.loc["A", "outcome"]) == (3, 4, "提前")
    assert bool(m.loc["A", "correction_requested"]) is True
    # B: (4, 8] = 4 gross, (5, 8] = 3 paused, clock 1; in a pause
    assert (m.loc["B", "clock_days"], m.loc["B", "outcome"]) == (1, "在办") and bool(m.loc["B", "in_pause"])


# ----------------------------------------------------------------------------- independence

def test_a_cases_result_does_not_depend_on_the_other_cases_loaded():
    # A names no acceptance; B, of the same service, does. A alone and A beside B: the same row.
    a_rows = [("A", "网上申请", "2024-03-04 09:00", "2024-03-04 09:10", {"sla": 5}),
              ("A", "审批", "2024-03-06 09:00", "2024-03-06 09:30", {"sla": 5}),
              ("A", "领证", "2024-03-07 09:00", "2024-03-07 09:10", {"sla": 5})]
    b_rows = [("B", "受理", "2024-03-04 09:00", "2024-03-04 09:30", {"sla": 5}),
              ("B", "办结", "2024-03-05 09:00", "2024-03-05 09:30", {"sla": 5})]
    alone = cases(mklog(a_rows), as_of="2024-03-31").loc["A"]
    beside = cases(mklog(a_rows + b_rows), as_of="2024-03-31").loc["A"]
    pd.testing.assert_series_equal(alone, beside, check_names=False)
    assert alone["status"] == "办结"


# ----------------------------------------------------------------------------- trips

def test_office_acts_are_never_trips_whatever_words_they_contain():
    # 补正材料告知 is the office's notice (not a hand-in), 不予受理 its refusal (not an intake).
    rows = [("A", "窗口受理", "2024-03-04 09:00", "2024-03-04 09:30"),
            ("A", "补正材料告知", "2024-03-05 10:00", "2024-03-05 10:10"),
            ("A", "补正材料提交", "2024-03-07 10:00", "2024-03-07 10:10"),
            ("A", "窗口领证", "2024-03-11 10:00", "2024-03-11 10:10"),
            ("R", "不予受理", "2024-03-04 09:00", "2024-03-04 09:30")]
    m = cases(mklog(rows))
    a = m.loc["A"]
    # intake, correction hand-in, pick-up: three visits, one of each kind
    assert (a["visits"], a["intake_visits"], a["correction_visits"], a["pickup_visits"]) == (3, 1, 1, 1)
    assert a["correction_requested"] and a["correction_notices"] == 1
    r = m.loc["R"]  # refused: no intake trip recorded (its trips are not known either way)
    assert r["outcome"] == "未受理" and (pd.isna(r["visits"]) or r["visits"] == 0)


def test_after_an_online_application_the_back_office_acceptance_is_no_visit():
    # 网上申请 then 受理 (no channel column): the office accepted what came online — 0 trips;
    # the licence collected at the window (领证) is 1; 邮寄送达 would be none.
    rows = [("A", "网上申请", "2024-03-04 09:00", "2024-03-04 09:10"),
            ("A", "受理", "2024-03-05 09:00", "2024-03-05 09:30"),
            ("A", "办结", "2024-03-06 09:00", "2024-03-06 09:30"),
            ("A", "领证", "2024-03-07 09:00", "2024-03-07 09:10"),
            ("B", "网上申请", "2024-03-04 09:00", "2024-03-04 09:10"),
            ("B", "窗口受理", "2024-03-05 09:00", "2024-03-05 09:30"),   # done at the window: a visit
            ("B", "办结", "2024-03-06 09:00", "2024-03-06 09:30"),
            ("B", "邮寄送达", "2024-03-07 09:00", "2024-03-07 09:10"),
            ("C", "网上申请", "2024-03-04 09:00", "2024-03-04 09:10"),
            ("C", "受理", "2024-03-05 09:00", "2024-03-05 09:30"),
            ("C", "办结", "2024-03-06 09:00", "2024-03-06 09:30"),
            ("C", "邮寄送达", "2024-03-07 09:00", "2024-03-07 09:10"),
            # the application's channel, repeated on every row, says nothing of the pick-up: 1 trip
            ("D", "受理", "2024-03-05 09:00", "2024-03-05 09:30", {"channel": "网上申报"}),
            ("D", "办结", "2024-03-06 09:00", "2024-03-06 09:30", {"channel": "网上申报"}),
            ("D", "领证", "2024-03-07 09:00", "2024-03-07 09:10", {"channel": "网上申报"})]
    m = cases(mklog(rows))
    assert (m.loc["D", "visits"], m.loc["D", "pickup_visits"], m.loc["D", "intake_visits"]) == (1, 1, 0)
    assert (m.loc["A", "visits"], m.loc["A", "pickup_visits"]) == (1, 1)
    assert (m.loc["B", "visits"], m.loc["B", "intake_visits"]) == (1, 1)
    assert m.loc["C", "visits"] == 0 and bool(m.loc["C", "online"])


def test_unknown_trips_stay_unknown_in_every_rate():
    # A: window intake, decided, licence collected: 2 visits. B: window intake, decided, nothing
    # says how the result reached the applicant: unknown, not 1 (and not counted as within once).
    rows = [("A", "窗口受理", "2024-03-04 09:00", "2024-03-04 09:30"),
            ("A", "办结", "2024-03-05 09:00", "2024-03-05 09:30"),
            ("A", "领证", "2024-03-06 09:00", "2024-03-06 09:10"),
            ("B", "窗口受理", "2024-03-04 09:00", "2024-03-04 09:30"),
            ("B", "办结", "2024-03-05 09:00", "2024-03-05 09:30")]
    m = cases(mklog(rows))
    assert m.loc["A", "visits"] == 2 and pd.isna(m.loc["B", "visits"])
    r = service_rates(m.reset_index())
    assert r["at_most_once_rate"] == 0.0 and r["trips_unknown"] == 1


def test_at_most_once_among_cases_without_a_correction():
    # A: intake + pick-up the same day as the decision? no: intake Mon, pick-up Wed = 2 visits,
    # no correction. B: intake, correction, pick-up = 3 visits with a correction.
    # C: intake and decision at the window the same day (即办: the result handed over) = 1.
    rows = [("A", "窗口受理", "2024-03-04 09:00", "2024-03-04 09:30"),
            ("A", "办结", "2024-03-05 09:00", "2024-03-05 09:30"),
            ("A", "领证", "2024-03-06 09:00", "2024-03-06 09:10"),
            ("B", "窗口受理", "2024-03-04 09:00", "2024-03-04 09:30"),
            ("B", "补正告知", "2024-03-04 10:00", "2024-03-04 10:10"),
            ("B", "补正材料提交", "2024-03-05 09:00", "2024-03-05 09:10"),
            ("B", "办结", "2024-03-06 09:00", "2024-03-06 09:30"),
            ("B", "领证", "2024-03-07 09:00", "2024-03-07 09:10"),
            ("C", "窗口受理", "2024-03-04 09:00", "2024-03-04 09:30"),
            ("C", "办结", "2024-03-04 09:40", "2024-03-04 09:50")]
    m = cases(mklog(rows))
    assert list(m.loc[["A", "B", "C"], "visits"]) == [2, 3, 1]
    r = service_rates(m.reset_index())
    assert r["at_most_once_rate"] == pytest.approx(1 / 3)
    assert r["at_most_once_rate_complete"] == pytest.approx(1 / 2)  # A and C


def test_fully_online_rate_is_unknown_without_any_channel_information():
    rows = [("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", {"in_person": True}),
            ("A", "办结", "2024-03-05 09:00", "2024-03-05 09:30")]
    s = indicators(mklog(rows))["service"].set_index("service").loc["测试事项"]
    assert s["fully_online_rate"] is None or pd.isna(s["fully_online_rate"])


# ----------------------------------------------------------------------------- departments

def test_deciding_holding_and_participating_departments():
    rows = [("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", {"dept": "政务服务中心"}),
            ("A", "审核", "2024-03-05 09:00", "2024-03-05 09:30", {"dept": "公积金中心"}),
            ("A", "办结", "2024-03-06 09:00", "2024-03-06 09:30", {"dept": "市场监管局"}),
            ("A", "领证", "2024-03-07 09:00", "2024-03-07 09:10", {"dept": "政务服务中心"}),
            ("B", "受理", "2024-03-04 09:00", "2024-03-04 09:30", {"dept": "政务服务中心"}),
            ("B", "审核", "2024-03-05 09:00", "2024-03-05 09:30", {"dept": "公积金中心"})]
    m = cases(mklog(rows), as_of="2024-03-08")
    assert m.loc["A", "deciding_department"] == "市场监管局" and pd.isna(m.loc["A", "holding_department"])
    assert m.loc["B", "holding_department"] == "公积金中心" and pd.isna(m.loc["B", "deciding_department"])
    assert m.loc["A", "departments_took_part"] == ["公积金中心", "市场监管局", "政务服务中心"]


# ----------------------------------------------------------------------------- ratings

def test_rating_levels_are_read_whole_never_by_a_word_inside():
    assert rating_level("非常满意") == 5 and rating_level("满意") == 4 and rating_level("基本满意") == 3
    assert rating_level("不满意") == 2 and rating_level("非常不满意") == 1
    assert rating_level("不太满意") == 2          # not 满意 (4) by the word inside it
    assert np.isnan(rating_level("还算满意吧")) and rating_level("5") == 5 and rating_level("三星") == 3
    # plain words, read whole after trimming: 好评 good (≥ 3, the top three levels), 差评 bad
    # (< 3, the bottom two), 中评 the middle level 3; "5星" is 5; a word inside a text is not one
    assert rating_level(" 好评 ") >= 3 and rating_level("差评") < 3 and rating_level("中评") == 3
    assert rating_level("5星") == 5 and np.isnan(rating_level("好评如潮")) and np.isnan(rating_level("非差评"))


# ----------------------------------------------------------------------------- all of them

def all_logs() -> pd.DataFrame:
    """Every hand-built log of tests/test_case_model.py (each test run once, recording
    the logs it builds), as one log: case ids prefixed by the log's number."""
    import inspect
    import sys

    cm = sys.modules[__name__]

    made = []
    original = cm.mklog

    def recording(rows):
        log = original(rows)
        made.append(log)
        return log

    cm.mklog = recording
    try:
        for name, fn in inspect.getmembers(cm, inspect.isfunction):
            if not name.startswith("test_"):
                continue
            marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "parametrize"]
            if not marks and inspect.signature(fn).parameters:
                continue  # a test that needs fixtures (files): no hand-built case of its own to add
            if marks:
                for values in marks[0].args[1]:
                    fn(*(values if isinstance(values, tuple) else (values,)))
            else:
                try:
                    fn()
                except pytest.skip.Exception:  # its case is made (and kept) before it skips
                    pass
    finally:
        cm.mklog = original
    parts = [log.assign(case_id=f"L{i:02d}-" + log["case_id"].astype(str)) for i, log in enumerate(made)]
    return pd.concat(parts, ignore_index=True)


def test_lateness_by_department_shows_who_decided_and_where_the_time_went():
    # 受理 Mon 4 Mar (窗口, 09:00–09:30); 公积金中心 reviews Mon 4 Mar 13:30 → Thu 7 Mar 17:30;
    # 窗口 signs the decision Fri 8 Mar 09:00–09:30; limit 2: clock (4, 8] = 4 > 2, late.
    # The window decided it; 公积金中心's step took its wait (Mon 09:30→13:30 = 2.5 office
    # hours: 09:30–12:00) plus its work (Mon 13:30–17:30 4 h + Tue, Wed, Thu 7.5 h each = 26.5 h):
    # 29 h = 29 / 7.5 working days.
    win, hf = {"dept": "政务服务中心", "sla": 2}, {"dept": "公积金中心", "sla": 2}
    rows = [("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", win),
            ("A", "审核", "2024-03-04 13:30", "2024-03-07 17:30", hf),
            ("A", "办结", "2024-03-08 09:00", "2024-03-08 09:30", win)]
    t = indicators(mklog(rows))["department"].set_index("department")
    assert t.loc["政务服务中心", "late_decided"] == 1 and t.loc["公积金中心", "late_decided"] == 0
    assert t.loc["公积金中心", "late_days_here"] == pytest.approx(round(29 / 7.5, 2))
    assert t.loc["公积金中心", "late_cases_here"] == 1


def test_days_over_is_counted_against_the_limit_the_outcome_uses():
    # Working days: clock 6 against 5 (受理 Mon 4 Mar → 办结 Tue 12 Mar) = 1 over.
    # A month: 受理 2 Sep, due Tue 8 Oct; decided Fri 11 Oct: 9, 10, 11 Oct = 3 working days over.
    rows = [("W", "受理", "2024-03-04 09:00", "2024-03-04 09:30", {"sla": 5}),
            ("W", "办结", "2024-03-12 10:00", "2024-03-12 10:30", {"sla": 5}),
            ("M", "受理", "2024-09-02 09:00", "2024-09-02 09:30", {"sla_months": 1.0}),
            ("M", "办结", "2024-10-11 10:00", "2024-10-11 10:30", {"sla_months": 1.0})]
    m = cases(mklog(rows))
    assert (m.loc["W", "outcome"], m.loc["W", "days_over"]) == ("超期", 1)
    assert (m.loc["M", "outcome"], m.loc["M", "days_over"]) == ("超期", 3)


def test_the_case_table_is_written_as_a_dataset_batch_by_batch(tmp_path, monkeypatch):
    # 40 cases (each 受理 Mon 4 Mar → 办结 Wed 6 Mar: 2 working days, limit 5: 提前), written in
    # batches of 7 rows: 6 part files, the same rows as the table in memory.
    from procmine.engine.runner import DuckDBEngine
    from procmine.engine.metrics import write_cases

    original = DuckDBEngine.batches
    monkeypatch.setattr(DuckDBEngine, "batches", lambda self, sql, rows=7: original(self, sql, rows=7))
    rows = []
    for i in range(40):
        rows += [(f"C{i:02d}", "受理", "2024-03-04 09:00", "2024-03-04 09:30", {"sla": 5}),
                 (f"C{i:02d}", "办结", "2024-03-06 09:00", "2024-03-06 09:30", {"sla": 5})]
    log = mklog(rows)
    out = write_cases(log, tmp_path / "cases")
    parts = sorted(out.glob("*.parquet"))
    assert len(parts) == 6 and not list(tmp_path.glob(".cases.*"))
    back = pd.read_parquet(out).sort_values("case_id").reset_index(drop=True)
    assert len(back) == 40 and set(back["outcome"]) == {"提前"} and set(back["clock_days"]) == {2}
    one = write_cases(log, tmp_path / "cases.parquet")
    assert pd.read_parquet(one)["case_id"].tolist() == back["case_id"].tolist()


def test_a_decision_step_not_yet_ended_leaves_the_case_open():
    # A daily export: 审批 started Wed 6 Mar, no end yet → still open (clock as of Fri 8 Mar:
    # (4, 8] = 4 working days of 5). The next export has its end Thu 7 Mar → decided, 3 days.
    lim = {"sla": 5}
    first = [("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", lim),
             ("A", "审批", "2024-03-06 09:00", None, lim)]
    later = [first[0], ("A", "审批", "2024-03-06 09:00", "2024-03-07 16:00", lim)]
    a = one(first, as_of="2024-03-08")
    assert (a["status"], a["outcome"], a["clock_days"]) == ("在办", "在办", 4)
    b = one(later, as_of="2024-03-08")
    assert (b["status"], b["outcome"], b["clock_days"]) == ("办结", "提前", 3)


def test_compare_split_gives_the_full_audits_numbers():
    # Cases accepted in March vs April; split from one measurement or measured apart, the same
    # table (a case's row depends on its own events alone). March: 2, 3 working days; April: 1, 1.
    from procmine.analysis.compare import compare, compare_split, split_by_date

    rows = []
    for case, acc, fin in (("M1", "2024-03-04", "2024-03-06"), ("M2", "2024-03-04", "2024-03-07"),
                           ("A1", "2024-04-08", "2024-04-09"), ("A2", "2024-04-15", "2024-04-16")):
        rows += [(case, "受理", f"{acc} 09:00", f"{acc} 09:30", {"sla": 5}),
                 (case, "办结", f"{fin} 09:00", f"{fin} 09:30", {"sla": 5})]
    log = mklog(rows)
    one = compare_split(log, "2024-04-01").table
    b, a = split_by_date(log, "2024-04-01")
    apart = compare(b, a).table
    pd.testing.assert_frame_equal(one, apart)
    clock = one[one["metric"] == "中位办理工作日（受理至办结）"].iloc[0]
    assert clock["before"] == pytest.approx(2.5) and clock["after"] == pytest.approx(1.0)


def test_a_chinese_case_without_lifecycle_words_is_not_taken_for_decided():
    # Only internal reviews so far (初审, 复审): open, not yet accepted as far as the log shows —
    # never 办结 for want of vocabulary. A log of another kind (English steps) runs first → last.
    rows = [("A", "初审", "2024-03-04 09:00", "2024-03-04 09:30", {"sla": 5}),
            ("A", "复审", "2024-03-05 09:00", "2024-03-05 09:30", {"sla": 5}),
            ("B", "Create Fine", "2024-03-04 09:00", "2024-03-04 09:00"),
            ("B", "Send Fine", "2024-03-06 09:00", "2024-03-06 09:00")]
    m = cases(mklog(rows), as_of="2024-03-08")
    assert (m.loc["A", "status"], m.loc["A", "outcome"]) == ("在办", "在办")
    assert m.loc["B", "status"] == "办结" and m.loc["B", "finish_time"] == pd.Timestamp("2024-03-06 09:00", tz=SH)


@pytest.mark.parametrize("text", ["未办结", "超期未办结", "初审通过", "待许可", "退回补正"])
def test_statuses_still_being_handled_are_open(text):
    # 受理 Mon 4 Mar, as of Fri 15 Mar: (4, 15] = 9 working days > 5: open and past the limit.
    lim = {"sla": 5, "status": text}
    rows = [("A", "受理", "2024-03-04 09:00", "2024-03-04 09:10", lim),
            ("A", "审查", "2024-03-05 09:00", "2024-03-05 10:00", lim)]
    a = one(rows, as_of="2024-03-15 12:00")
    assert (a["status"], a["outcome"], a["clock_days"]) == ("在办", "超期在办", 9)


@pytest.mark.parametrize("start, end", [("挂起", "解除挂起"), ("中止", "中止结束"), ("暂停计时", "暂停结束")])
def test_an_end_word_holding_the_start_word_ends_the_pause(start, end):
    # 受理 Mon 4; paused Tue 5 → Fri 8 = 3; 办结 Wed 13: gross 7, clock 4 of 5: early.
    lim = {"sla": 5}
    rows = [("A", "受理", "2024-03-04 09:00", "2024-03-04 09:10", lim),
            ("A", start, "2024-03-05 09:00", "2024-03-05 09:10", lim),
            ("A", end, "2024-03-08 09:00", "2024-03-08 09:10", lim),
            ("A", "办结", "2024-03-13 10:00", "2024-03-13 10:10", lim)]
    a = one(rows)
    assert (a["paused_days"], a["clock_days"], a["outcome"]) == (3, 4, "提前")


def test_delivering_a_notice_does_not_decide_the_case():
    lim = {"sla": 5}
    rows = [("A", "受理", "2024-03-04 09:00", "2024-03-04 09:10", lim),
            ("A", "受理通知书送达", "2024-03-05 10:00", "2024-03-05 10:10", lim)]
    a = one(rows, as_of="2024-03-15 12:00")
    assert (a["status"], a["outcome"], a["clock_days"]) == ("在办", "超期在办", 9)


def test_a_correction_sent_by_post_is_no_trip():
    rows = [("A", "受理", "2024-03-04 09:00", "2024-03-04 09:10", {"channel": "窗口"}),
            ("A", "补正告知", "2024-03-05 09:00", "2024-03-05 09:10"),
            ("A", "邮寄补正材料", "2024-03-07 09:00", "2024-03-07 09:10"),
            ("A", "办结", "2024-03-11 09:00", "2024-03-11 09:10"),
            ("A", "邮寄送达", "2024-03-12 09:00", "2024-03-12 09:10")]
    a = one(rows)
    assert (a["visits"], a["correction_visits"]) == (1, 0)


def test_who_decided_and_who_holds_with_parallel_steps():
    # 审批决定 by 市场监管局, then the window closes the record (办结): 市场监管局 decided.
    # B is open with 公积金中心's review still running and 市场监管局's finished later: 公积金中心 holds it.
    rows = [("A", "受理", "2024-03-04 09:00", "2024-03-04 09:10", {"dept": "政务服务中心"}),
            ("A", "审批决定", "2024-03-06 09:00", "2024-03-06 09:10", {"dept": "市场监管局"}),
            ("A", "办结", "2024-03-06 15:00", "2024-03-06 15:10", {"dept": "政务服务中心"}),
            ("B", "受理", "2024-03-04 09:00", "2024-03-04 09:10", {"dept": "政务服务中心"}),
            ("B", "公积金开户审核", "2024-03-05 09:00", None, {"dept": "公积金中心"}),
            ("B", "营业执照审核", "2024-03-06 09:00", "2024-03-06 10:00", {"dept": "市场监管局"})]
    m = cases(mklog(rows), as_of="2024-03-08")
    assert m.loc["A", "deciding_department"] == "市场监管局"
    assert m.loc["B", "holding_department"] == "公积金中心"


def test_a_decision_recorded_before_its_acceptance_leaves_the_clock_unknown():
    # 办结 on Mon 4 Mar, 受理 on Tue 5 Mar: the times contradict each other. Any clock would be
    # made up (a negative one clamped to 0 would read 即办/按时), so it is unknown and listed.
    lim = {"sla": 3}
    rows = [("A", "办结", "2024-03-04 09:00", "2024-03-04 09:30", lim),
            ("A", "受理", "2024-03-05 10:00", "2024-03-05 10:10", lim)]
    a = one(rows)
    assert a["outcome"] == "计时不明" and np.isnan(a["clock_days"])
    assert pd.isna(a["over_promise"])
    # the same case in the right order is decided in time: (4, 5] is 1 working day of 3
    ok = one([("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", lim),
              ("A", "办结", "2024-03-05 10:00", "2024-03-05 10:10", lim)])
    assert ok["outcome"] in ("提前", "按时") and ok["clock_days"] == 1


def test_a_month_limit_across_the_2025_spring_festival():
    # 受理 Tue 31 Dec 2024, limit 1个月. §202: the corresponding day is Fri 31 Jan 2025, inside
    # 春节 (28 Jan – 4 Feb 2025, Sun 26 Jan and Sat 8 Feb worked); §203: the next working day,
    # Wed 5 Feb. Decided 5 Feb: on time; decided 6 Feb: late. (22 working days after 31 Dec
    # would end on Fri 7 Feb: 2, 3, 6–10, 13–17, 20–24, Sun 26, 27 Jan, 5, 6, 7 Feb — and
    # would pass "late".)
    rows = []
    for case, day in (("ontime", "2025-02-05"), ("late", "2025-02-06")):
        rows += [(case, "受理", "2024-12-31 09:00", "2024-12-31 09:30", {"sla_months": 1.0}),
                 (case, "办结", f"{day} 10:00", f"{day} 10:30", {"sla_months": 1.0})]
    m = cases(mklog(rows))
    assert m.loc["ontime", "outcome"] == "按时" and m.loc["late", "outcome"] == "超期"
    assert m.loc["ontime", "promise_due"] == pd.Timestamp("2025-02-05")


def test_every_allowed_chinesecalendar_knows_2025():
    # chinesecalendar 1.10.0 is the first release with the 2025 schedule (1.9.0–1.9.2 stop at
    # 2024; 1.11.0 adds 2026): the floor pyproject.toml allows must be at least that
    import re
    import tomllib

    from conftest import ROOT

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    (spec,) = [d for d in deps if d.startswith("chinesecalendar")]
    floor = re.search(r">=\s*([\d.]+)", spec).group(1)
    assert tuple(int(x) for x in floor.split(".")) >= (1, 10)
