"""The working calendar as a table the engine joins.

``calendar_table`` turns :class:`procmine.calendar.workdays.WorkCalendar` into rows
``d, is_workday, cum_workdays, cum_office_minutes, next_wd`` (``d``: days since
1970-01-01; office minutes before the day starts; ``next_wd``: the first working
day on or after ``d``, for a period's last day that falls on a rest day, 民法典
§203). ``month_due_table`` gives the last day of a period of whole calendar months
from each day (民法典 §201–§203). Working days and working
hours between two timestamps are then differences of two lookups, written
once in :mod:`procmine.engine.definitions` (``working_days``, ``office_us``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..calendar.workdays import WorkCalendar

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
    d = (pd.to_datetime(frame["day"]) - DAY0).dt.days.astype("int64").to_numpy()
    flags = frame["is_workday"].to_numpy(dtype=bool)
    # the next working day on or after each day: the working days' numbers carried backwards
    nxt = pd.Series(np.where(flags, d, np.nan)).bfill().astype("Int64")
    return pd.DataFrame({
        "d": d, "is_workday": flags, "cum_workdays": frame["cum_workdays"].to_numpy(),
        "cum_office_minutes": frame["cum_office_minutes"].to_numpy(), "next_wd": nxt.to_numpy()})


def month_due_table(calendar: pd.DataFrame, months: list[int], lo_d: int, hi_d: int) -> pd.DataFrame:
    """``d, months, due_d``: for a period of ``months`` calendar months starting on day
    ``d`` (the day itself not counted, 民法典 §201), its last day: the corresponding
    day of the expiry month, or that month's last day when it has none (§202), moved to
    the next working day when it is a rest day (§203). Days ``lo_d``..``hi_d``; ``calendar``
    (from :func:`calendar_table`) must reach past the latest due day."""
    days = np.arange(lo_d, hi_d + 1, dtype=np.int64)
    start = DAY0 + pd.to_timedelta(days, unit="D")
    nxt = pd.Series(calendar["next_wd"].to_numpy(), index=calendar["d"].to_numpy())
    out = []
    for m in sorted(set(months)):
        due = start + pd.DateOffset(months=int(m))
        due_d = ((due - DAY0).days).to_numpy(dtype=np.int64)
        out.append(pd.DataFrame({"d": days, "months": float(m),
                                 "due_d": pd.array(nxt.reindex(due_d).to_numpy(), dtype="Int64")}))
    if not out:
        return pd.DataFrame({"d": pd.Series([], dtype="int64"), "months": pd.Series([], dtype=float),
                             "due_d": pd.Series([], dtype="Int64")})
    return pd.concat(out, ignore_index=True)


# ----------------------------------------------------------------------------- the vector API
# Working days, days between and working hours of many timestamp pairs, by the same lookups
# as the definitions (``procmine.engine.definitions.intervals_sql``), in one engine.

def _intervals(cal: WorkCalendar, start, end, column: str) -> pd.Series:
    from .definitions import intervals_sql
    from .runner import EngineOptions, open_engine

    start, end = pd.Series(start), pd.Series(end)
    s, e = _naive(start).reset_index(drop=True), _naive(end).reset_index(drop=True)
    out = np.full(len(s), np.nan)
    both = pd.concat([s, e]).dropna()
    if both.empty:
        return pd.Series(out, index=start.index, dtype=float)

    def us(t: pd.Series) -> pd.Series:  # local-time microseconds, NA kept
        return pd.Series(t.to_numpy(dtype="datetime64[us]").astype("int64"), dtype="Int64").mask(t.isna(), pd.NA)

    pairs = pd.DataFrame({"i": np.arange(len(s), dtype=np.int64), "s_us": us(s), "e_us": us(e)})
    with open_engine(EngineOptions(threads=1)) as eng:
        eng.register("calendar", calendar_table(cal, both.min(), both.max()))
        eng.register("pairs", pairs)
        res = eng.fetch(intervals_sql(cal))
    out[res["i"].to_numpy(dtype=np.int64)] = res[column].astype(float).to_numpy()
    return pd.Series(out, index=start.index, dtype=float)


def _naive(s) -> pd.Series:
    s = pd.Series(s)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
    return pd.to_datetime(s)


def working_days(cal: WorkCalendar, start, end) -> pd.Series:
    """Working days from ``start`` to ``end`` (the first day per ``cal.first_day``); NaN where either is missing."""
    return _intervals(cal, start, end, "working_days")


def days_between(cal: WorkCalendar, start, end) -> pd.Series:
    """Working days in (start day, end day]: the days a pause or wait covers, start day excluded."""
    return _intervals(cal, start, end, "days_between")


def working_hours(cal: WorkCalendar, start, end) -> pd.Series:
    """Office hours on working days between two timestamps (NaN where either is missing)."""
    return _intervals(cal, start, end, "working_hours")
