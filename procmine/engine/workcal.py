"""The working calendar as a table the engine joins.

``calendar_table`` turns :class:`procmine.workdays.WorkCalendar` into rows
``d, is_workday, cum_workdays, cum_office_minutes`` (``d``: days since
1970-01-01; office minutes before the day starts). Working days and working
hours between two timestamps are then differences of two lookups, written
once in :mod:`procmine.engine.definitions` (``working_days``, ``office_us``).
"""

from __future__ import annotations

import pandas as pd

from ..workdays import WorkCalendar

DAY0 = pd.Timestamp("1970-01-01")


def calendar_frame(cal: WorkCalendar, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
    """One row per day from ``lo`` to ``hi`` (inclusive), by date."""
    t = cal.table(pd.Timestamp(lo), pd.Timestamp(hi))
    days = pd.date_range(t.first, periods=len(t.flags), freq="D")
    return pd.DataFrame({
        "day": days.date,
        "is_workday": t.flags.astype(bool),
        "cum_workdays": t.cum_days.astype("int64"),
        "cum_office_minutes": t.cum_minutes.astype("int64"),
    })


def calendar_table(cal: WorkCalendar, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
    """The table the definitions join as ``calendar``: the day as a day number ``d``."""
    frame = calendar_frame(cal, lo, hi)
    return pd.DataFrame({
        "d": (pd.to_datetime(frame["day"]) - DAY0).dt.days.astype("int64"),
        "is_workday": frame["is_workday"], "cum_workdays": frame["cum_workdays"],
        "cum_office_minutes": frame["cum_office_minutes"]})
