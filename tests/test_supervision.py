"""Supervision, 好差评 and 一件事 (issue 14) on tiny hand-built logs; answers worked out by hand."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from procmine.analysis.bundles import Bundle, bundle_instances
from procmine.analysis.monitor import indicators, monitor
from procmine.analysis.ratings import analyse_ratings, rating_level, rating_table
from conftest import ROOT
from test_audit import mklog

SH = "Asia/Shanghai"


def test_red_and_yellow_cards_around_a_holiday():
    # Limit 5 working days. As of Wed 2024-10-09 (10-01..07 National Day; Sun 09-29 a make-up workday):
    # A accepted Mon 09-23: (09-23, 10-09] = 24,25,26,27, Sun 29, 30, 8, 9 = 8 days → 红牌, 3 over.
    # B accepted Fri 09-27: 29, 30, 8, 9 = 4 days → 1 left → 黄牌 (warn_days 1).
    # C accepted Tue 10-08: 9 = 1 day → 4 left: no card. D decided: no card.
    rows = [("A", "受理", "2024-09-23 09:00", "2024-09-23 09:30", {"sla": 5, "dept": "市场监管局"}),
            ("A", "审查", "2024-09-24 09:00", None, {"sla": 5, "dept": "审批科"}),
            ("B", "受理", "2024-09-27 09:00", "2024-09-27 09:30", {"sla": 5, "dept": "市场监管局"}),
            ("C", "受理", "2024-10-08 09:00", "2024-10-08 09:30", {"sla": 5, "dept": "市场监管局"}),
            ("D", "受理", "2024-09-23 09:00", "2024-09-23 09:30", {"sla": 5, "dept": "市场监管局"}),
            ("D", "办结", "2024-09-24 09:00", "2024-09-24 09:30", {"sla": 5, "dept": "市场监管局"})]
    r = monitor(mklog(rows), as_of="2024-10-09")
    a = r.alerts.set_index("case_id")
    assert list(r.alerts["case_id"]) == ["A", "B"]
    assert a.loc["A", "level"] == "红牌" and a.loc["A", "days_over"] == 3 and a.loc["A", "department"] == "审批科"
    assert a.loc["B", "level"] == "黄牌" and a.loc["B", "days_left"] == 1
    assert (r.red, r.yellow) == (1, 1)
    # the day before the holiday ends nothing moves: as of Mon 10-07 A has 6 days (24..27, 29, 30)
    assert monitor(mklog(rows), as_of="2024-10-07").alerts.set_index("case_id").loc["A", "days_over"] == 1


def test_a_step_over_its_own_limit_counts_while_the_case_is_on_time():
    rows = [("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", {"sla": 20}),
            ("A", "审查", "2024-03-04 10:00", "2024-03-08 10:00", {"sla": 20, "step_sla_days": 2})]
    r = monitor(mklog(rows), as_of="2024-03-08")
    (alert,) = r.alerts.itertuples(index=False)
    # 审查 Mon → Fri = 4 working days against its own 2
    assert alert.level == "环节超时" and alert.activity == "审查" and alert.days_over == 2


def test_a_running_step_counts_to_the_as_of_date_and_an_unended_step_of_a_decided_case_not_at_all():
    # B: 受理 Mon 4 Mar, 审查 since Tue 5 Mar 10:00 (no end), its own limit 3; as of Mon 11 Mar:
    # (5, 11] = 6, 7, 8, 11 = 4 working days, 1 over. C is decided (办结 Wed 6 Mar): its 审查 without an
    # end has no length, so no overrun. The handler shown is the step's own.
    rows = [("B", "受理", "2024-03-04 09:00", "2024-03-04 09:30", {"sla": 20}),
            ("B", "审查", "2024-03-05 10:00", None, {"sla": 20, "step_sla_days": 3, "resource": "张三"}),
            ("C", "受理", "2024-03-04 09:00", "2024-03-04 09:30", {"sla": 20}),
            ("C", "审查", "2024-03-05 10:00", None, {"sla": 20, "step_sla_days": 1}),
            ("C", "办结", "2024-03-06 10:00", "2024-03-06 10:30", {"sla": 20})]
    log = mklog(rows)
    log.loc[1, "resource"] = "张三"
    r = monitor(log, as_of="2024-03-11")
    over = r.alerts[r.alerts["level"] == "环节超时"]
    assert list(over["case_id"]) == ["B"] and over.iloc[0]["days_over"] == 1 and over.iloc[0]["clock_days"] == 4
    assert over.iloc[0]["resource"] == "张三"


def test_cli_monitor_fail_on_exits_3(tmp_path):
    rows = [("A", "受理", "2024-09-23 09:00", "2024-09-23 09:30", {"sla": 5})]
    log = mklog(rows)
    from procmine.log.eventlog import write_log
    p = write_log(log, tmp_path / "log.parquet")
    cmd = [sys.executable, "-m", "procmine.cli", "monitor", str(p), "--as-of", "2024-10-09",
           "-o", str(tmp_path / "alerts.json"), "--fail-on", "red"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 3, res.stderr
    data = json.loads((tmp_path / "alerts.json").read_text(encoding="utf-8"))
    assert data["red"] == 1 and data["alerts"][0]["level"] == "红牌"
    res = subprocess.run(cmd[:-2], capture_output=True, text=True)
    assert res.returncode == 0


def test_rating_levels():
    assert [rating_level(x) for x in ["非常满意", "满意", "基本满意", "不满意", "非常不满意", "5", 1, "三星"]] == \
        [5, 4, 3, 2, 1, 5, 1, 3]
    assert pd.isna(rating_level("")) and pd.isna(rating_level(None))


def test_rectification_on_the_last_allowed_day_and_one_day_late(tmp_path):
    # rectify within 3 working days (a rules file). Rated Fri 2024-09-27:
    # working days after it: Sun 09-29 (make-up), Mon 09-30, Tue 10-08 → the last allowed day is 10-08.
    rules = tmp_path / "r.yaml"
    rules.write_text("ratings: {rectify_days: 3}\n", encoding="utf-8")
    base = {"rating": "不满意", "rating_time": "2024-09-27 10:00"}
    log = mklog([("A", "受理", "2024-09-23 09:00", "2024-09-23 09:30", {**base, "rectify_time": "2024-10-08 16:00"}),
                 ("B", "受理", "2024-09-23 09:00", "2024-09-23 09:30", {**base, "rectify_time": "2024-10-09 09:00"}),
                 ("C", "受理", "2024-09-23 09:00", "2024-09-23 09:30", {**base}),
                 ("D", "受理", "2024-09-23 09:00", "2024-09-23 09:30", {"rating": "满意"}),
                 ("E", "受理", "2024-09-23 09:00", "2024-09-23 09:30")])
    t = rating_table(log, str(rules)).set_index("case_id")
    assert t.loc["A", "rectify_days"] == 3 and bool(t.loc["A", "rectified_on_time"])
    assert t.loc["B", "rectify_days"] == 4 and not t.loc["B", "rectified_on_time"]
    r = analyse_ratings(log, str(rules))
    assert list(r.rectified_late["case_id"]) == ["B"] and list(r.not_rectified["case_id"]) == ["C"]
    assert (r.rated, r.unrated) == (4, 1)            # E is unrated: counted, not satisfied
    assert r.bad_rate == 0.75 and r.good_rate == 0.25
    dep = r.by_department.iloc[0]
    assert (dep["bad"], dep["rectified"], dep["on_time"]) == (3, 2, 1)


def test_bad_ratings_go_with_extra_trips():
    rows = []
    for i in range(40):  # half the cases make a second trip; those rate 不满意 (planted), the rest 满意
        d = f"2024-03-{4 + i % 5:02d}"
        extra = {"in_person": True, "rating": "不满意" if i % 2 else "满意", "rating_time": f"{d} 18:00"}
        rows.append((f"R{i}", "受理", f"{d} 09:00", f"{d} 09:10", extra))
        if i % 2:
            rows.append((f"R{i}", "补正材料提交", f"{d} 15:00", f"{d} 15:10", extra))
    r = analyse_ratings(mklog(rows))
    top = r.drivers.iloc[0]
    assert top["factor"] in ("trips", "correction") and top["significant"] and top["difference"] == 1.0
    trips = r.factors[r.factors["factor"] == "trips"].set_index("group")
    assert trips.loc["2+", "bad_rate"] == 1.0 and trips.loc["1", "bad_rate"] == 0.0


def test_three_services_in_twenty_days_form_one_instance_with_one_repeated_document():
    def case(cid, svc, day, docs, applicant="91330100MA2XXXXXX1"):
        d = f"2024-03-{day:02d}"
        x = {"service": svc, "applicant_id": applicant, "in_person": True}
        return [(cid, "受理", f"{d} 09:00", f"{d} 09:30", {**x, "materials": docs}),
                (cid, "办结", f"{d} 15:00", f"{d} 15:10", {"service": svc, "applicant_id": applicant})]
    rows = (case("S1", "设立登记", 4, ["营业执照申请书", "身份证"]) + case("S2", "印章刻制", 12, ["身份证复印件"])
            + case("S3", "社保登记", 22, ["劳动合同"]) + case("S4", "设立登记", 4, ["身份证"], "OTHER"))
    r = bundle_instances(mklog(rows), [Bundle("企业开办", ("设立登记", "印章刻制", "社保登记"), 30)])
    (inst,) = r.instances.itertuples(index=False)
    assert inst.cases == 3 and inst.intakes == 3 and inst.trips == 3
    # 身份证 and 身份证复印件 are the same document, handed over in two services
    assert inst.repeated_documents == 1 and inst.repeated_names == "居民身份证"
    # first 受理 Mon 03-04, last 办结 Fri 03-22: 14 working days
    assert inst.working_days == 14
    assert getattr(inst, "一表申请") is False and getattr(inst, "一套材料") is False and getattr(inst, "一次告知") is True
    assert set(r.members["case_id"]) == {"S1", "S2", "S3"}   # S4 (another applicant, one service) is no instance


def test_a_matters_working_days_leave_out_its_pauses_but_not_the_days_between_its_cases():
    # 设立登记 A: 受理 Mon 4 Mar 2024, 办结 Wed 6 Mar. 印章刻制 B: 受理 Fri 8 Mar, 专家评审 Fri 8 Mar
    # 10:00 → Wed 13 Mar 17:00 (§45: paused (8, 13] = 11, 12, 13 Mar), 办结 Thu 14 Mar.
    # First 受理 → last 办结: (4, 14] = 5, 6, 7, 8, 11, 12, 13, 14 = 8 working days; on 11–13 B is
    # paused and A is closed: 3 days out; Thu 7 Mar (between the cases) is the matter's. 8 − 3 = 5.
    x = {"applicant_id": "91330100MA2XXXXXX1", "in_person": True}
    rows = [("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", {**x, "service": "设立登记"}),
            ("A", "办结", "2024-03-06 15:00", "2024-03-06 15:10", {**x, "service": "设立登记"}),
            ("B", "受理", "2024-03-08 09:00", "2024-03-08 09:30", {**x, "service": "印章刻制"}),
            ("B", "专家评审", "2024-03-08 10:00", "2024-03-13 17:00", {**x, "service": "印章刻制"}),
            ("B", "办结", "2024-03-14 15:00", "2024-03-14 15:10", {**x, "service": "印章刻制"})]
    r = bundle_instances(mklog(rows), [Bundle("企业开办", ("设立登记", "印章刻制"), 30)])
    (inst,) = r.instances.itertuples(index=False)
    assert inst.cases == 2 and inst.working_days == 5


def test_indicators_per_service_say_why_missing():
    log = mklog([("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", {"sla": 0, "in_person": True}),
                 ("A", "办结", "2024-03-04 10:00", "2024-03-04 10:30", {"sla": 0}),
                 ("B", "受理", "2024-03-04 09:00", "2024-03-04 09:30", {"sla": 5, "channel": "网上申报"}),
                 ("B", "办结", "2024-03-08 10:00", "2024-03-08 10:30", {"sla": 5, "channel": "网上申报"}),
                 # how B's result reached the applicant must be known for its trips to be counted
                 ("B", "电子证照送达", "2024-03-08 11:00", "2024-03-08 11:00", {"sla": 5, "channel": "网上申报"})])
    t = indicators(log)
    s = t["service"].set_index("service").loc["测试事项"]
    assert s["instant_share"] == 0.5 and s["on_time_rate"] == 1.0 and s["early_rate"] == 0.5
    # B: online intake, no trip, nothing collected at a window → 全程网办; A came in person
    assert s["fully_online_rate"] == 0.5 and s["zero_trip_rate"] == 0.5
    reasons = t["reasons"].set_index("indicator")["reason"]
    assert "好差评" in reasons["good_rating_rate"] and "法定时限" in reasons["compression_ratio"]


def test_cli_ratings_and_bundles_on_the_sample(tmp_path):
    log = tmp_path / "log.parquet"
    run = lambda *a: subprocess.run([sys.executable, "-m", "procmine.cli", *map(str, a)], capture_output=True,  # noqa: E731
                                    text=True)
    assert run("import", ROOT / "logs", "-o", log).returncode == 0
    res = run("ratings", log, "-o", tmp_path / "ratings.json")
    assert res.returncode == 0, res.stderr
    data = json.loads((tmp_path / "ratings.json").read_text(encoding="utf-8"))
    truth = json.loads((ROOT / "logs" / "ground_truth.json").read_text(encoding="utf-8"))["ratings"]
    rated = sum(r["cases"] for r in data["差评成因"] if r["factor"] == "channel")
    assert rated <= truth["rated"]
    top = data["显著因素"][0]
    assert top["factor"] == "trips" and top["high"] == "2+"      # the planted link
    res = run("bundles", log, "-o", tmp_path / "bundles.json")
    assert res.returncode == 0, res.stderr
    b = json.loads((tmp_path / "bundles.json").read_text(encoding="utf-8"))
    assert b["instances"] and all(i["applicant"].startswith("证件-") or i["applicant"].startswith("申请人-")
                                  for i in b["instances"])   # the applicant key only as a pseudonym
    # a log without ratings: a clear error, exit 1
    plain = tmp_path / "plain.parquet"
    assert run("import", ROOT / "logs" / "建筑工程施工许可_台账.xlsx", "-o", plain).returncode == 0
    res = run("ratings", plain)
    assert res.returncode == 1 and "no ratings" in res.stderr and "Traceback" not in res.stderr


def test_a_supervision_lists_notes_are_said_in_chinese():
    from procmine.engine.metrics import Note
    from procmine.messages import localized

    got = localized([Note("note.no_step_limits"), "kept as written"], "zh")
    assert got[0].startswith("导出中没有环节时限") and "step" not in got[0]
    assert got[1] == "kept as written"
