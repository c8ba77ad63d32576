"""Working days on the Chinese calendar (public holidays and 调休 make-up days).

Backed by the ``chinesecalendar`` package. Dates it does not cover (before
2004, or years it has no schedule for yet) fall back to Monday–Friday, and the
result says so. Vectorised: one lookup per calendar day in the range, then a
cumulative count.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class WorkCalendar:
    """``first_day='exclude'``: count from the working day after the start
    (自受理之次日起算); ``'include'``: the start day counts if it is a workday."""

    first_day: str = "exclude"
    fallback_years: set[int] = field(default_factory=set)

    def workday_flags(self, days: pd.DatetimeIndex) -> np.ndarray:
        from chinese_calendar import is_workday

        flags = np.empty(len(days), dtype=bool)
        for i, d in enumerate(days.date):
            try:
                flags[i] = is_workday(d)
            except (NotImplementedError, ValueError):
                self.fallback_years.add(d.year)
                flags[i] = d.weekday() < 5
        return flags

    def working_days(self, start: pd.Series, end: pd.Series) -> pd.Series:
        """Working days from ``start`` to ``end`` (tz-aware Series); NaN where either is missing."""
        out = pd.Series(np.nan, index=start.index)
        ok = start.notna() & end.notna()
        if not ok.any():
            return out
        s = start[ok].dt.tz_localize(None).dt.normalize() if start.dt.tz is not None else start[ok].dt.normalize()
        e = end[ok].dt.tz_localize(None).dt.normalize() if end.dt.tz is not None else end[ok].dt.normalize()
        lo, hi = min(s.min(), e.min()), max(s.max(), e.max())
        days = pd.date_range(lo, hi, freq="D")
        flags = self.workday_flags(days)
        cum = np.cumsum(flags)
        si = ((s - lo).dt.days).to_numpy()
        ei = ((e - lo).dt.days).to_numpy()
        n = cum[ei] - cum[si]
        if self.first_day == "include":
            n = n + flags[si]
        out[ok] = n.astype(float)
        return out

    @property
    def note(self) -> str | None:
        if not self.fallback_years:
            return None
        years = ", ".join(map(str, sorted(self.fallback_years)))
        return f"no Chinese holiday schedule for {years}: working days there count Monday–Friday only"


def is_workday(day: dt.date) -> bool:
    return bool(WorkCalendar().workday_flags(pd.DatetimeIndex([day]))[0])
