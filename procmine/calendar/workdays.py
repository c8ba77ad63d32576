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

from ..errors import CalendarError

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

    # The vector API (working days, days between, working hours of many timestamp pairs)
    # is the engine's: procmine.engine.workcal.working_days/days_between/working_hours,
    # the same lookups as the definitions. The calendar itself never opens an engine.

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


def is_workday(day: dt.date) -> bool:
    return bool(WorkCalendar().workday_flags(pd.DatetimeIndex([day]))[0])
