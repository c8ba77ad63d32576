"""The Chinese working calendar as data: working days and office hours.

Working days come from the ``chinesecalendar`` package (国务院办公厅's yearly
holiday schedule, including 调休 make-up working days on weekends). The
calendar is a small table over the days a log spans — date → is_workday,
cumulative working days, cumulative office minutes — so working days and
working hours between two timestamps are differences of two lookups.

A log year the installed chinesecalendar does not know yet is an error naming
the years and the version to install; ``unknown_years="weekdays"`` (rules:
``working_days.unknown_years``) counts such years Monday–Friday and says so.
Years before 2004, which no version covers, are always counted Monday–Friday,
with a note.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import CalendarError

FIRST_COVERED_YEAR = 2004
DEFAULT_OFFICE_HOURS = (("08:30", "12:00"), ("13:30", "17:30"))


def _minutes(hhmm: str) -> int:
    h, m = str(hhmm).split(":")
    return int(h) * 60 + int(m)


def _chinesecalendar_version() -> str:
    try:
        from importlib.metadata import version

        return version("chinesecalendar")
    except Exception:  # pragma: no cover - metadata missing
        return "unknown"


@dataclass
class WorkCalendar:
    """Chinese working days plus office hours.

    ``first_day='exclude'``: a clock counts from the working day after its start
    (自受理之次日起算); ``'include'``: the start day counts if it is a workday.
    ``office_hours``: the office's hours on a working day, e.g.
    ``(("08:30", "12:00"), ("13:30", "17:30"))``.
    """

    first_day: str = "exclude"
    office_hours: tuple[tuple[str, str], ...] = DEFAULT_OFFICE_HOURS
    unknown_years: str = "error"  # error | weekdays
    fallback_years: set[int] = field(default_factory=set)
    _flags: dict = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ days
    def workday_flags(self, days: pd.DatetimeIndex) -> np.ndarray:
        from chinese_calendar import is_workday

        flags = np.empty(len(days), dtype=bool)
        unknown: set[int] = set()
        for i, d in enumerate(days.date):
            hit = self._flags.get(d)
            if hit is None:
                try:
                    hit = bool(is_workday(d))
                except (NotImplementedError, ValueError):
                    if d.year >= FIRST_COVERED_YEAR and self.unknown_years != "weekdays":
                        unknown.add(d.year)
                    self.fallback_years.add(d.year)
                    hit = d.weekday() < 5
                self._flags[d] = hit
            flags[i] = hit
        if unknown:
            years = sorted(unknown)
            need = f"1.{max(years) - 2015}.0"
            raise CalendarError(
                f"the installed chinesecalendar {_chinesecalendar_version()} has no holiday schedule for "
                f"{', '.join(map(str, years))}, so working days there cannot be counted",
                hint=(f"install a version that knows {max(years)} (chinesecalendar >= {need}, published once the "
                      f"State Council announces that year's holidays): pip install -U chinesecalendar\n"
                      "or count those years Monday–Friday (holidays and 调休 ignored) by setting "
                      "'working_days: {unknown_years: weekdays}' in a rules file (--rules FILE)"))
        return flags

    def table(self, lo: pd.Timestamp, hi: pd.Timestamp) -> "CalendarTable":
        """The calendar from day ``lo`` to day ``hi`` (naive dates) as arrays."""
        days = pd.date_range(lo.normalize(), hi.normalize(), freq="D")
        return CalendarTable(days[0], self.workday_flags(days), self._office_minutes())

    def _office_minutes(self) -> np.ndarray:
        spans = np.array([(_minutes(a), _minutes(b)) for a, b in self.office_hours], dtype=np.int64).reshape(-1, 2)
        return spans

    @property
    def office_hours_per_day(self) -> float:
        s = self._office_minutes()
        return float((s[:, 1] - s[:, 0]).sum()) / 60.0

    # ------------------------------------------------------------ vector API
    # Computed by the engine: the calendar is a table it joins, and each number
    # is the difference of two lookups (procmine.engine.definitions.intervals_sql).
    def _intervals(self, start: pd.Series, end: pd.Series, column: str) -> pd.Series:
        from .engine.definitions import intervals_sql
        from .engine.runner import EngineOptions, open_engine
        from .engine.workcal import calendar_table

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
            eng.register("calendar", calendar_table(self, both.min(), both.max()))
            eng.register("pairs", pairs)
            res = eng.fetch(intervals_sql(self))
        out[res["i"].to_numpy(dtype=np.int64)] = res[column].astype(float).to_numpy()
        return pd.Series(out, index=start.index, dtype=float)

    def working_days(self, start: pd.Series, end: pd.Series) -> pd.Series:
        """Working days from ``start`` to ``end`` (the first day per ``first_day``); NaN where either is missing."""
        return self._intervals(start, end, "working_days")

    def days_between(self, start: pd.Series, end: pd.Series) -> pd.Series:
        """Working days in (start day, end day]: the days a pause or wait covers, start day excluded."""
        return self._intervals(start, end, "days_between")

    def working_hours(self, start: pd.Series, end: pd.Series) -> pd.Series:
        """Office hours on working days between two timestamps (NaN where either is missing)."""
        return self._intervals(start, end, "working_hours")

    @property
    def note(self) -> str | None:
        if not self.fallback_years:
            return None
        years = ", ".join(map(str, sorted(self.fallback_years)))
        return f"no Chinese holiday schedule for {years}: working days there count Monday–Friday only"


@dataclass
class CalendarTable:
    """date → is_workday, cumulative working days, cumulative office minutes."""

    first: pd.Timestamp
    flags: np.ndarray
    spans: np.ndarray  # office intervals in minutes after midnight, shape (k, 2)

    def __post_init__(self) -> None:
        self.cum_days = np.cumsum(self.flags)
        per_day = int((self.spans[:, 1] - self.spans[:, 0]).sum())
        self.day_minutes = per_day
        # office minutes before each day starts
        self.cum_minutes = np.concatenate([[0], np.cumsum(self.flags * per_day)[:-1]])


def _naive(s: pd.Series) -> pd.Series:
    s = pd.Series(s)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
    return pd.to_datetime(s)


def is_workday(day: dt.date) -> bool:
    return bool(WorkCalendar().workday_flags(pd.DatetimeIndex([day]))[0])
