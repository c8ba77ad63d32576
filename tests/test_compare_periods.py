"""compare --period A --against B (issue 29): two spans of one log, its cases counted where the
monthly trend counts them, from one measurement. Answers worked out by hand on the Chinese
calendar (2024: 04-04..06 清明 off, Sun 04-07 a workday); limit 5 working days, as of Fri 2024-05-31;
a working-day count starts the day after 受理."""

import json
import os
import subprocess
import sys

import pytest

from procmine.analysis.compare import compare_periods, compare_split, parse_period
from procmine.analysis.monitor import indicators
from procmine.errors import UsageError
from procmine.log.eventlog import write_log
from conftest import ROOT
from test_audit import mklog

LIM = {"sla": 5}


def case(cid, accepted, decided=None, pickup=None):
    rows = [(cid, "受理", f"{accepted} 09:00", f"{accepted} 09:30", {**LIM, "in_person": True})]
    if decided:
        rows.append((cid, "办结", f"{decided} 09:00", f"{decided} 09:30", {**LIM, "in_person": False}))
    if pickup:
        rows.append((cid, "窗口领证", f"{pickup} 10:00", f"{pickup} 10:10", {**LIM, "in_person": True}))
    return rows


# A1 受理 Mon 03-04, 办结 Wed 03-06: 2 working days, on time; 1 trip.
# A2 受理 03-04, 办结 Thu 03-07: 3 days, on time; picks up at the window 03-08: 2 trips.
# A3 受理 Tue 03-26, open: 03-27, 28, 29, 04-01, 04-02 (5th) → late from 04-03, in April; 1 trip.
# A4 受理 03-04, open: 5th working day 03-11 → late from 03-12, in March; 1 trip.
# X1 受理 Thu 03-28, 办结 Tue 04-02: 03-29, 04-01, 04-02 = 3 days, on time; picks up 04-03: 2 trips.
#    Accepted in March, decided in April.
# B1 受理 Mon 04-01, 办结 Tue 04-02: 1 day, on time; 1 trip.
# B2 受理 04-01, 办结 Mon 04-15: 04-02, 03, 07, 08, 09, 10, 11, 12, 15 = 9 days > 5: 超期; 1 trip.
# Z1 受理 Mon 05-06, 办结 Tue 05-07: 1 day, on time — in neither period.
ROWS = (case("A1", "2024-03-04", "2024-03-06") + case("A2", "2024-03-04", "2024-03-07", "2024-03-08")
        + case("A3", "2024-03-26") + case("A4", "2024-03-04")
        + case("X1", "2024-03-28", "2024-04-02", "2024-04-03")
        + case("B1", "2024-04-01", "2024-04-02") + case("B2", "2024-04-01", "2024-04-15")
        + case("Z1", "2024-05-06", "2024-05-07"))
AS_OF = "2024-05-31"


def metric(c, label):
    t = c.table.set_index("metric")
    return t.loc[label, "before"], t.loc[label, "after"]


def test_two_periods_count_cases_as_the_monthly_trend_does():
    c = compare_periods(mklog(ROWS), "2024-03", "2024-04-01..2024-04-30", as_of=AS_OF)
    mar, apr = c.periods["2024-03"], c.periods["2024-04-01..2024-04-30"]
    # March by 办结: A1, A2 decided (both on time); open and late since 03-12: A4 → on time 2/3.
    # April by 办结: B1 (on time), B2 (超期), X1 (on time); A3 late since 04-03 → on time 2/4.
    assert (mar["decided"], mar["open_late"]) == (2, 1)
    assert (apr["decided"], apr["open_late"]) == (3, 1)
    on_time = metric(c, "按时办结率")
    assert on_time[0] == pytest.approx(2 / 3) and on_time[1] == pytest.approx(2 / 4)
    # clock, decided in the period: March 2 and 3 → median 2.5; April 1, 9, 3 → 3
    assert metric(c, "中位办理工作日（受理至办结）") == (pytest.approx(2.5), pytest.approx(3.0))
    # trips by 受理: March took A1 (1), A2 (2), A3 (1), A4 (1), X1 (2) → ≤1 trip: 3 of 5; mean 7/5.
    # April took B1, B2: 1 trip each.
    assert (mar["accepted"], apr["accepted"]) == (5, 2)
    assert metric(c, "最多跑一次率") == (pytest.approx(3 / 5), pytest.approx(1.0))
    assert metric(c, "平均跑动次数") == (pytest.approx(7 / 5), pytest.approx(1.0))
    # a period holds each case counting in it once: March A1 A2 A3 A4 X1; April B1 B2 X1 A3 (Z1: neither)
    assert (mar["cases"], apr["cases"]) == (5, 4)
    # March's A3 and A4 are still open: provisional; April's cases are all decided and April is over
    assert (mar["open"], mar["provisional"]) == (2, True)
    assert (apr["open"], apr["provisional"]) == (0, False)
    assert c.basis["按时办结率"].startswith("办结在本时段") and c.basis["最多跑一次率"].startswith("受理在本时段")


def test_a_month_as_a_period_gives_the_monthly_trends_rate():
    log = mklog(ROWS)
    c = compare_periods(log, "2024-03..2024-03", "2024-04", as_of=AS_OF)
    month = indicators(log, as_of=AS_OF, by="month")["month"].set_index("month")
    assert metric(c, "按时办结率") == (pytest.approx(month.loc["2024-03", "on_time_rate"]),
                                       pytest.approx(month.loc["2024-04", "on_time_rate"]))
    assert month.loc["2024-03", "on_time_rate"] == pytest.approx(2 / 3)  # the hand count above


def test_a_period_not_over_at_the_as_of_date_is_provisional():
    # May: Z1 accepted and decided 05-06/07, nothing open — but May is not over on 05-20's data
    c = compare_periods(mklog(ROWS), "2024-04", "2024-05", as_of="2024-05-20")
    assert c.periods["2024-05"]["open"] == 0 and c.periods["2024-05"]["provisional"] is True


def test_split_counts_open_cases_past_their_limit_as_late():
    # By 受理 before 04-01: A1, A2, X1 on time; A3, A4 open and past their limit → 3/5 on time
    # (censoring them, as before, read 3/3 = 100%). On or after: B1 on time, B2 超期, Z1 on time → 2/3.
    c = compare_split(mklog(ROWS), "2024-04-01")
    assert metric(c, "按时办结率") == (pytest.approx(3 / 5), pytest.approx(2 / 3))


@pytest.mark.parametrize("text", ["2024/01..2024/03", "2024-13", "2024-01..", "2024-02-30..2024-03-01",
                                  "2024-03..2024-01", "Q1"])
def test_a_period_that_cannot_be_read_says_how_to_write_one(text):
    with pytest.raises(UsageError) as e:
        parse_period(text)
    assert "2024-01..2024-03" in e.value.hint


def test_period_ends():
    p = parse_period("2024-01..2024-02")  # a month at the end runs to its last day: 2024 is a leap year
    assert (p.first.isoformat(), p.last.isoformat()) == ("2024-01-01", "2024-02-29")
    d = parse_period("2024-12-15..2025-01-05")
    assert (d.first.isoformat(), d.last.isoformat()) == ("2024-12-15", "2025-01-05")


def test_overlapping_or_empty_periods_are_refused():
    log = mklog(ROWS)
    with pytest.raises(UsageError, match="overlap"):
        compare_periods(log, "2024-03..2024-04", "2024-04-15..2024-05-31", as_of=AS_OF)
    with pytest.raises(UsageError, match="no case of the log falls in the period 2023-01"):
        compare_periods(log, "2023-01", "2024-04", as_of=AS_OF)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "procmine.cli", "compare", *map(str, args)], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_cli_compare_periods(tmp_path):
    log = write_log(mklog(ROWS), tmp_path / "log.parquet")
    out = tmp_path / "c.json"
    res = _cli(log, "--period", "2024-03", "--against", "2024-04", "--as-of", AS_OF, "-o", out)
    assert res.returncode == 0, res.stderr
    assert "2024-03 (2024-03-01 to 2024-03-31)" in res.stdout and "provisional" in res.stdout
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["periods"]["2024-03"]["provisional"] is True and data["periods"]["2024-04"]["provisional"] is False
    row = next(r for r in data["changes"] if r["metric"] == "按时办结率")
    assert (row["before"], row["after"]) == (pytest.approx(0.6667, abs=1e-4), 0.5)
    assert "按时办结率" in data["basis"]
    res = _cli(log, "--period", "2024-03")
    assert res.returncode == 2 and "--period and --against go together" in res.stderr
    res = _cli(log, "--period", "2024-3-1..March", "--against", "2024-04")
    assert res.returncode == 2 and "YYYY-MM" in res.stderr and "Traceback" not in res.stderr
