"""Indicators by month (issue 29): open overdue cases count as late in the month their limit passed;
answers worked out by hand on the Chinese calendar (2024: 04-04..06 清明, Sun 04-07 a workday)."""

import json
import os
import subprocess
import sys

import pytest

from procmine.log.eventlog import write_log
from procmine.analysis.monitor import indicators
from conftest import ROOT
from test_audit import mklog


def case(cid, accepted, decided=None):
    rows = [(cid, "受理", f"{accepted} 09:00", f"{accepted} 09:30", {"sla": 5, "dept": "窗口"})]
    if decided:
        rows.append((cid, "办结", f"{decided} 09:00", f"{decided} 09:30", {"sla": 5, "dept": "审批科"}))
    return rows


# limit 5 working days; as of Fri 2024-05-31.
# March: M1 accepted Mon 03-04, decided Wed 03-06 (2 days: on time).
#   M2, M3, M4 accepted 03-04, 03-05, 03-06, still open: the 5th working day after (the limit's last day)
#   is 03-11, 03-12, 03-13 → late from 03-12, 03-13, 03-14, in March. P3 accepted Wed 03-27, still open:
#   03-28, 03-29, 04-01, 04-02, 04-03 (5th) → late from 04-04 (a holiday: the limit has passed), in April.
# April: P1 accepted Mon 04-01, decided 04-02 (on time); P2 accepted 04-01, decided Mon 04-15:
#   04-02, 04-03, 04-07, 04-08, 04-09, 04-10, 04-11, 04-12, 04-15 = 9 days > 5 → 超期.
ROWS = (case("M1", "2024-03-04", "2024-03-06") + case("M2", "2024-03-04") + case("M3", "2024-03-05")
        + case("M4", "2024-03-06") + case("P3", "2024-03-27") + case("P1", "2024-04-01", "2024-04-02")
        + case("P2", "2024-04-01", "2024-04-15"))


def test_a_month_with_many_open_overdue_cases_is_not_shown_faster():
    t = indicators(mklog(ROWS), as_of="2024-05-31", by="month")
    month = t["month"].set_index("month")
    assert list(month.index) == ["2024-03", "2024-04"]
    mar, apr = month.loc["2024-03"], month.loc["2024-04"]
    # March: 1 decided on time + 3 open and late there → 1/4 on time, 3/4 late (decided alone: 100%)
    assert (mar["decided"], mar["open_late"]) == (1, 3)
    assert mar["on_time_rate"] == pytest.approx(1 / 4) and mar["overdue_rate"] == pytest.approx(3 / 4)
    # April: P1 on time, P2 late, P3 (accepted in March) late since 04-04 → 1/3 on time
    assert (apr["decided"], apr["open_late"]) == (2, 1)
    assert apr["on_time_rate"] == pytest.approx(1 / 3) and apr["overdue_rate"] == pytest.approx(2 / 3)
    assert mar["on_time_rate"] < apr["on_time_rate"]
    # by month of 受理: March took 5 cases, 4 still open (all past their limit): provisional; April is final
    assert (mar["accepted"], mar["open"], mar["open_overdue"], bool(mar["provisional"])) == (5, 4, 4, True)
    assert (apr["accepted"], apr["open"], bool(apr["provisional"])) == (2, 0, False)
    basis = t["basis"].set_index("indicator")["month"]
    assert basis["on_time_rate"].startswith("办结月") and basis["zero_trip_rate"].startswith("受理月")


def test_the_day_an_open_case_became_late():
    from procmine.engine.metrics import measure
    from procmine.analysis.monitor import _late_since
    m = measure(mklog(ROWS), as_of="2024-05-31")
    late = m.cases[m.cases["outcome"] == "超期在办"].set_index("case_id")
    days = _late_since(late).dt.strftime("%Y-%m-%d").to_dict()
    assert days == {"M2": "2024-03-12", "M3": "2024-03-13", "M4": "2024-03-14", "P3": "2024-04-04"}


def test_the_as_of_month_is_provisional():
    t = indicators(mklog(case("P1", "2024-04-01", "2024-04-02")), as_of="2024-04-30", by="month")["month"]
    assert t["provisional"].tolist() == [True]  # April is not over on 04-30's data… it is the as-of month


def test_only_by_month():
    from procmine.errors import UsageError
    with pytest.raises(UsageError):
        indicators(mklog(ROWS), by="week")


def test_cli_indicators_by_month(tmp_path):
    log = write_log(mklog(ROWS), tmp_path / "log.parquet")
    out = tmp_path / "trend.json"
    res = subprocess.run([sys.executable, "-m", "procmine.cli", "indicators", str(log), "--as-of", "2024-05-31",
                          "--by", "month", "-o", str(out)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert res.returncode == 0, res.stderr
    assert "2024-03 (provisional)" in res.stdout and "按时办结率 25.0%" in res.stdout
    data = json.loads(out.read_text(encoding="utf-8"))
    by_month = {r["month"]: r for r in data["按月"]}
    assert by_month["2024-03"]["provisional"] is True and by_month["2024-03"]["open_late"] == 3
    assert {r["indicator"] for r in data["月份口径"]} >= {"on_time_rate", "zero_trip_rate"}
