"""The working calendar as a table the engine joins.

``calendar_frame`` turns :class:`procmine.workdays.WorkCalendar` into rows
``day, is_workday, cum_workdays, cum_office_minutes`` (office minutes before
the day starts). Working days and working hours between two timestamps are
then differences of two lookups, giving the same numbers as
``WorkCalendar.working_days / days_between / working_hours``.

The office-hour spans (minutes after midnight) are few and fixed per rules
preset, so they are written into the SQL as literals.
"""

from __future__ import annotations

import pandas as pd

from ..workdays import WorkCalendar


def calendar_frame(cal: WorkCalendar, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
    """One row per day from ``lo`` to ``hi`` (inclusive)."""
    t = cal.table(pd.Timestamp(lo), pd.Timestamp(hi))
    days = pd.date_range(t.first, periods=len(t.flags), freq="D")
    return pd.DataFrame({
        "day": days.date,
        "is_workday": t.flags.astype(bool),
        "cum_workdays": t.cum_days.astype("int64"),
        "cum_office_minutes": t.cum_minutes.astype("int64"),
    })


def spans(cal: WorkCalendar) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in cal._office_minutes()]


def office_minute_sql(ts: str, c: str, cal: WorkCalendar) -> str:
    """Office minutes since the calendar's first day at timestamp ``ts``,
    where ``c`` is the alias of the calendar row joined on ``c.day = CAST(ts AS DATE)``."""
    minute = f"(hour({ts}) * 60 + minute({ts}) + second({ts}) / 60.0)"
    within = " + ".join(f"least(greatest({minute} - {a}, 0), {b - a})" for a, b in spans(cal)) or "0"
    return f"({c}.cum_office_minutes + CASE WHEN {c}.is_workday THEN {within} ELSE 0 END)"


def working_days_sql(cs: str, ce: str, cal: WorkCalendar, first_day: bool = True) -> str:
    """Working days between the calendar rows ``cs`` (start day) and ``ce`` (end day).

    ``first_day=True`` applies the calendar's ``first_day`` rule (the clock);
    ``False`` gives ``days_between`` (start day excluded)."""
    n = f"({ce}.cum_workdays - {cs}.cum_workdays)"
    if first_day and cal.first_day == "include":
        n = f"({n} + CAST({cs}.is_workday AS INTEGER))"
    return n


def working_hours_sql(s: str, e: str, cs: str, ce: str, cal: WorkCalendar) -> str:
    """Office hours on working days from ``s`` to ``e`` (0 when ``e`` precedes ``s``)."""
    return (f"(greatest({office_minute_sql(e, ce, cal)} - {office_minute_sql(s, cs, cal)}, 0) / 60.0)")
