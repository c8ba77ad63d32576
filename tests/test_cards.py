"""Card history (issue 29): a card's lifecycle over daily monitor runs; answers worked out by hand
from the dates and the Chinese calendar (2024: 10-01..07 National Day; Sun 09-29 and Sat 10-12 workdays)."""

import json
import os
import subprocess
import sys

import pandas as pd

from procmine.analysis.cards import _read, store_for
from procmine.log.eventlog import write_log
from procmine.analysis.monitor import monitor
from conftest import ROOT
from test_audit import mklog

# A: accepted Fri 09-27 09:30, limit 5 working days, held by 审批科 (审查 from Sun 09-29); decided Tue 10-15.
#    Working days after 09-27: 09-29 (1), 09-30 (2), 10-08 (3), 10-09 (4), 10-10 (5), 10-11 (6), 10-12 (7), 10-14 (8)
#    → 10-09: 1 left → yellow (warn_days 1); 10-10: 0 left → yellow; 10-11: 1 over → red; red until decided.
# B: accepted Tue 10-08 09:30, limit 3, held by 窗口: 10-09 2 left (no card); 10-10 1 left → yellow;
#    10-11 0 left → yellow; decided Sat 10-12 (a make-up workday) → closed.
DAYS = ["2024-10-09", "2024-10-10", "2024-10-11", "2024-10-12", "2024-10-14", "2024-10-15"]


def state(day):
    """The log as exported on ``day``: what had happened by then."""
    a_done = day >= "2024-10-15"
    b_done = day >= "2024-10-12"
    a = {"sla": 5, "status": "办结" if a_done else "在办", "finish_time": "2024-10-15 10:05" if a_done else None,
         "accept_time": "2024-09-27 09:30"}
    b = {"sla": 3, "status": "办结" if b_done else "在办", "finish_time": "2024-10-12 11:05" if b_done else None,
         "accept_time": "2024-10-08 09:30"}
    rows = [("A", "受理", "2024-09-27 09:00", "2024-09-27 09:30", {**a, "dept": "窗口"}),
            ("A", "审查", "2024-09-29 09:00", "2024-10-15 10:00" if a_done else None, {**a, "dept": "审批科"}),
            ("B", "受理", "2024-10-08 09:00", "2024-10-08 09:30", {**b, "dept": "窗口"})]
    if a_done:
        rows.append(("A", "办结", "2024-10-15 10:00", "2024-10-15 10:05", {**a, "dept": "审批科"}))
    if b_done:
        rows.append(("B", "办结", "2024-10-12 11:00", "2024-10-12 11:05", {**b, "dept": "窗口"}))
    return mklog(rows)


def run(store, day, long_days=2):
    return monitor(state(day), as_of=day, cards=store, long_days=long_days)


def ids(frame):
    return sorted(frame["case_id"])


def test_a_card_raised_yellow_escalated_red_and_closed(tmp_path):
    store = tmp_path / "log.cards"
    h = {d: run(store, d).history for d in DAYS}
    assert ids(h["2024-10-09"].new) == ["A"] and h["2024-10-09"].new["level"].tolist() == ["yellow"]
    assert ids(h["2024-10-10"].new) == ["B"] and h["2024-10-10"].escalated.empty
    assert ids(h["2024-10-11"].escalated) == ["A"] and h["2024-10-11"].escalated["raised"].tolist() == ["2024-10-09"]
    assert h["2024-10-11"].new.empty
    # 10-12: B decided → closed, 2 working days after its card (10-11, 10-12); A red for 1 day (< 2)
    c = h["2024-10-12"].closed
    assert ids(c) == ["B"] and c["reason"].tolist() == ["办结"] and c["level"].tolist() == ["yellow"]
    assert c["raised"].tolist() == ["2024-10-10"] and c["card_days"].tolist() == [2]
    assert h["2024-10-12"].long_open.empty
    # 10-14: A red since 10-11 → (10-11, 10-14] = 10-12, 10-14 = 2 working days ≥ 2
    lo = h["2024-10-14"].long_open
    assert ids(lo) == ["A"] and lo["red_since"].tolist() == ["2024-10-11"] and lo["red_days"].tolist() == [2]
    # 10-15: A decided; raised 10-09 → 10-10, 10-11, 10-12, 10-14, 10-15 = 5 working days; held by 审批科
    c = h["2024-10-15"].closed
    assert ids(c) == ["A"] and c["level"].tolist() == ["red"] and c["card_days"].tolist() == [5]
    dept = h["2024-10-15"].by_department.set_index("department")
    assert dept.loc["审批科", "median_days"] == 5 and dept.loc["窗口", "median_days"] == 2
    assert dept["cards"].tolist() == [1, 1] or sorted(dept["cards"]) == [1, 1]
    assert h["2024-10-15"].runs == 6 and h["2024-10-15"].previous == "2024-10-14"


def test_re_running_a_day_gives_the_same_history(tmp_path):
    store = tmp_path / "log.cards"
    for d in DAYS[:4]:
        run(store, d)
    first = _read(store).sort_values(["as_of", "level", "case_id"]).reset_index(drop=True)
    again = run(store, DAYS[3]).history  # 10-12 once more
    second = _read(store).sort_values(["as_of", "level", "case_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(first, second)
    assert ids(again.closed) == ["B"] and (second["level"] == "closed").sum() == 1


def test_store_sits_in_an_appended_dataset_or_beside_a_log(tmp_path):
    (tmp_path / "ds" / "_delta_log").mkdir(parents=True)
    assert store_for(tmp_path / "ds") == tmp_path / "ds" / "_cards"
    assert store_for(tmp_path / "log.parquet") == tmp_path / "log.cards"


def test_cli_monitor_history(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = tmp_path / "log.parquet"
    for d in DAYS[:3]:
        write_log(state(d), log)
        res = subprocess.run([sys.executable, "-m", "procmine.cli", "monitor", str(log), "--as-of", d, "--history",
                              "-o", str(tmp_path / "alerts.json")], capture_output=True, text=True, env=env)
        assert res.returncode == 0, res.stderr
    assert "escalated (yellow → red): 1" in res.stdout and "A" in res.stdout
    data = json.loads((tmp_path / "alerts.json").read_text(encoding="utf-8"))
    assert [r["case_id"] for r in data["history"]["escalated"]] == ["A"]
    assert (tmp_path / "log.cards" / "_delta_log").is_dir()


# P: accepted Tue 10-08 09:30, limit 3 working days (10-09, 10-10, 10-11): on 10-10 1 left → yellow.
#    A §45 special procedure (特别程序（专家评审）) starts Fri 10-11 09:00 and is still running on the exports
#    of 10-11 and Sat 10-12 (a make-up workday): its card is paused — not escalated, not closed, not new —
#    though without the pause 10-12 would be its 4th working day, 1 over (red). The procedure ends 10-12 17:00;
#    on 10-14 the case is no longer in a pause, its card is no longer shown paused, and it is not new.
def paused_state(day):
    p = {"sla": 3, "status": "在办", "accept_time": "2024-10-08 09:30", "dept": "审批科"}
    rows = [("P", "受理", "2024-10-08 09:00", "2024-10-08 09:30", p),
            ("P", "审查", "2024-10-09 09:00", "2024-10-10 17:00", p)]
    if day >= "2024-10-11":
        rows.append(("P", "特别程序（专家评审）", "2024-10-11 09:00", "2024-10-12 17:00" if day >= "2024-10-14" else None, p))
    return mklog(rows)


def test_a_card_is_paused_while_its_case_is_in_a_section_45_pause(tmp_path):
    store = tmp_path / "log.cards"
    h = {d: monitor(paused_state(d), as_of=d, cards=store, long_days=2).history
         for d in ["2024-10-10", "2024-10-11", "2024-10-12", "2024-10-14"]}
    assert ids(h["2024-10-10"].new) == ["P"] and h["2024-10-10"].new["level"].tolist() == ["yellow"]
    for d in ["2024-10-11", "2024-10-12"]:
        assert ids(h[d].paused) == ["P"] and h[d].paused["raised"].tolist() == ["2024-10-10"], d
        assert h[d].escalated.empty and h[d].closed.empty and h[d].new.empty and h[d].long_open.empty, d
    assert h["2024-10-14"].paused.empty and h["2024-10-14"].new.empty and h["2024-10-14"].closed.empty
    assert "暂停（§45）" in h["2024-10-12"].sheets()
