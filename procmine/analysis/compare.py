"""What a reform did: the same per-service metrics in two periods, with bootstrap
confidence intervals for each change, so noise is not claimed as success.

Three ways to choose the periods: two logs (:func:`compare`), one log cut at a date of
受理 (:func:`compare_split`), or two spans of months or days of one log
(:func:`compare_periods`), whose cases count where the monthly trend counts them
(:data:`procmine.analysis.monitor.MONTH_BASIS`). In every way an open case already past
its limit (超期在办) counts as late in the on-time rate: it cannot end on time any more,
and leaving it out would make a period with many such cases look faster than it is."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .discover import department_map
from .monitor import ON_TIME, TIMED, PeriodCases, assign_periods
from ..errors import UsageError
from ..engine.metrics import Measured, case_metrics
from ..rules import Rules, load_rules

METRICS = [  # key, label, column, statistic — columns from procmine.engine.metrics, the one definition
    ("at_most_once_rate", "最多跑一次率", "visits", lambda v: (v <= 1).mean(axis=-1)),
    ("zero_trip_rate", "跑零次率", "visits", lambda v: (v == 0).mean(axis=-1)),
    ("average_visits", "平均跑动次数", "visits", lambda v: v.mean(axis=-1)),
    ("average_documents", "平均提交材料份数", "materials_submitted", lambda v: v.mean(axis=-1)),
    ("median_clock_days", "中位办理工作日（受理至办结）", "clock_days", lambda v: np.median(v, axis=-1)),
    ("on_time_rate", "按时办结率", "on_time", lambda v: v.mean(axis=-1)),
]


def _decided(cases: pd.DataFrame) -> pd.DataFrame:
    """The on-time rate counts the decided cases with a limit and the open ones already past
    it (超期在办, as late); an open case still within its limit is left out (censored: it may
    yet end either way). The clock (受理 to 办结) is that of decided cases."""
    out = cases.copy()
    timed = out["outcome"].isin(TIMED + ["超期在办"])
    out["on_time"] = out["outcome"].isin(ON_TIME).astype(float).where(timed)
    out["clock_days"] = out["clock_days"].where(out["status"] == "办结")
    return out


@dataclass
class Comparison:
    table: pd.DataFrame  # service, metric, before, after, change, ci_low, ci_high, significant
    maps: dict  # {"before": edges, "after": edges} department handovers
    periods: dict  # label → cases, open, provisional (and, for spans of one log: from, to, decided, open_late)
    basis: dict = field(default_factory=dict)  # metric label → which cases of a period it counts

    def to_dict(self) -> dict:
        rows = []
        for r in self.table.to_dict(orient="records"):
            rows.append({k: (None if isinstance(v, float) and not np.isfinite(v) else
                             (round(v, 4) if isinstance(v, float) else v)) for k, v in r.items()})
        maps = {k: v.to_dict(orient="records") if v is not None else None for k, v in self.maps.items()}
        out = {"periods": self.periods, "changes": rows, "department_handovers": maps}
        if self.basis:
            out["basis"] = self.basis
        return out

    def periods_table(self) -> pd.DataFrame:
        """One row per period (what the 时段 sheet shows)."""
        return pd.DataFrame([{"period": k, **v} for k, v in self.periods.items()])


def _boot(a: np.ndarray, b: np.ndarray, stat, n: int = 1000, seed: int = 20240701) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    diffs = []
    for lo in range(0, n, 100):
        k = min(100, n - lo)
        sa = a[rng.integers(0, len(a), size=(k, len(a)))]
        sb = b[rng.integers(0, len(b), size=(k, len(b)))]
        diffs.append(stat(sb) - stat(sa))
    d = np.concatenate(diffs)
    return float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))


def compare(before: pd.DataFrame, after: pd.DataFrame, rules=None, *, labels=("before", "after"),
            as_of=None, engine=None) -> Comparison:
    """Compare two logs (or two periods of one log) per service (``engine``: where the
    case model runs, as for :func:`procmine.engine.metrics.case_metrics`).

    >>> c = compare(log_2023, log_2024)     # doctest: +SKIP
    >>> c.table[c.table.significant]        # doctest: +SKIP
    """
    rules = load_rules(rules)
    if before.empty or after.empty:
        raise UsageError("one of the two periods has no cases")
    if as_of is None:  # one "now" for both periods: the latest time in either log
        as_of = max(pd.concat([x[c] for x in (before, after) for c in ("start_time", "end_time")]).dropna())
    cb = _decided(case_metrics(before, rules, as_of=as_of, engine=engine))
    ca = _decided(case_metrics(after, rules, as_of=as_of, engine=engine))
    return _compare_cases(cb, ca, before, after, labels)


def compare_split(log: pd.DataFrame, date: str, rules=None, *, measured=None,
                  labels=("before", "after")) -> Comparison:
    """Compare the cases accepted before ``date`` with those accepted on or after it,
    from one measurement of the whole log (``measured``: :func:`procmine.engine.metrics.measure`'s
    result, reused when given): a case's row depends on its own events alone, so the
    two periods' rows are the full log's rows, split — the same numbers as the audit."""
    from ..engine.metrics import measure

    cut = _cut(date)
    m = measured or measure(log, rules, events=False)
    cases = m.cases
    when = cases["accept_time"].fillna(cases["case_start"])
    early = set(cases.loc[(when < cut).to_numpy(), "case_id"])
    in_before = cases["case_id"].isin(early)
    cb, ca = _decided(cases[in_before.to_numpy()]), _decided(cases[~in_before.to_numpy()])
    if cb.empty or ca.empty:
        raise UsageError("one of the two periods has no cases")
    lb = log["case_id"].isin(early)
    return _compare_cases(cb, ca, log[lb], log[~lb], labels)


@dataclass(frozen=True)
class Period:
    """A span of calendar days (Beijing time), both ends included, named as it was written."""

    label: str
    first: dt.date
    last: dt.date

    def holds(self, ts: pd.Series) -> np.ndarray:
        """Whether each time falls on a day of the period (a missing time: never)."""
        day = _day(ts)
        return ((day >= pd.Timestamp(self.first)) & (day <= pd.Timestamp(self.last))).to_numpy()


PERIOD_HELP = ("write a period as months 2024-01..2024-03, days 2024-01-15..2024-03-31, "
               "or one month 2024-03")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


def parse_period(text: str) -> Period:
    """``2024-01..2024-03`` (January to March), ``2024-01-15..2024-03-31`` (days, both
    included), or one month ``2024-03``; a month at the end runs to its last day.

    >>> parse_period("2024-01..2024-02").last
    datetime.date(2024, 2, 29)
    """
    raw = str(text).strip()
    parts = [x.strip() for x in raw.split("..")] if ".." in raw else [raw, raw]
    if len(parts) != 2 or not all(parts):
        raise UsageError(f"cannot read the period {text!r}", hint=PERIOD_HELP)
    first, last = _end(parts[0], text, start=True), _end(parts[1], text, start=False)
    if first > last:
        raise UsageError(f"the period {text!r} ends before it begins", hint=PERIOD_HELP)
    return Period(raw, first, last)


def _end(part: str, text: str, *, start: bool) -> dt.date:
    try:
        if m := _MONTH.match(part):
            y, mo = int(m[1]), int(m[2])
            if start:
                return dt.date(y, mo, 1)
            return (dt.date(y + (mo == 12), mo % 12 + 1, 1) - dt.timedelta(days=1))
        if m := _DATE.match(part):
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        pass
    raise UsageError(f"cannot read {part!r} in the period {text!r}: not a month YYYY-MM or a day YYYY-MM-DD",
                     hint=PERIOD_HELP)


def _day(ts: pd.Series) -> pd.Series:
    """Each time's calendar day in Beijing (midnight, no zone); NaT where there is none."""
    t = pd.to_datetime(pd.Series(ts))
    if isinstance(t.dtype, pd.DatetimeTZDtype):
        t = t.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
    return t.dt.normalize()


PERIOD_BASIS = {  # metric label → which cases of a period it counts (as the monthly trend does)
    "最多跑一次率": "受理在本时段的办件（无受理时间时取申请）",
    "跑零次率": "受理在本时段的办件（无受理时间时取申请）",
    "平均跑动次数": "受理在本时段的办件（无受理时间时取申请）",
    "平均提交材料份数": "受理在本时段的办件（无受理时间时取申请）",
    "中位办理工作日（受理至办结）": "办结在本时段的办件",
    "按时办结率": "办结在本时段、有时限的办件，加上截至统计日仍在办、期满次日在本时段的办件（作超期计）",
}


def compare_periods(log: pd.DataFrame, period: str | Period, against: str | Period,
                    rules: Rules | str | None = None, *, as_of=None, measured: Measured | None = None,
                    engine=None) -> Comparison:
    """Compare two spans of one log (``period`` before, ``against`` after: change =
    against − period) from one measurement of it (``measured``: :func:`procmine.engine.metrics.measure`'s
    result, reused when given). Cases count where :func:`procmine.analysis.monitor.monthly`
    counts them (:data:`PERIOD_BASIS`): the on-time rate and the clock by the day of 办结, with
    the cases still open at the as-of date whose limit passed in the span counted as late; trips
    and documents by the day of 受理. A span is ``provisional`` while cases accepted in it are
    still open, or it has not ended by the as-of date.

    >>> c = compare_periods(log, "2024-01..2024-03", "2024-04..2024-06")   # doctest: +SKIP
    >>> c.periods["2024-01..2024-03"]["provisional"]                       # doctest: +SKIP
    """
    from ..engine.metrics import measure

    a = period if isinstance(period, Period) else parse_period(period)
    b = against if isinstance(against, Period) else parse_period(against)
    if a.label == b.label:
        raise UsageError(f"the two periods are the same ({a.label})", hint=PERIOD_HELP)
    if a.first <= b.last and b.first <= a.last:
        raise UsageError(f"the periods {a.label} and {b.label} overlap: a case would count in both",
                         hint="choose two periods with no day in common, e.g. 2024-01..2024-03 and 2024-04..2024-06")
    m = measured or measure(log, rules, as_of=as_of, events=False, engine=engine)

    def period_of(ts: pd.Series) -> pd.Series:
        out = pd.Series(None, index=pd.Series(ts).index, dtype=object)
        known = pd.Series(ts).notna().to_numpy()
        for p in (a, b):
            out[known & p.holds(ts)] = p.label
        return out

    assigned = assign_periods(m.cases, period_of)
    as_of_day = _day(pd.Series([m.as_of])).iloc[0].date()
    frames, periods, logs = [], {}, []
    for p in (a, b):
        frame = _period_frame(assigned, p.label)
        if frame.empty:
            span = _day(pd.concat([m.cases["case_start"], m.cases["case_end"]])).dropna()
            seen = f" (its cases run from {span.min():%Y-%m-%d} to {span.max():%Y-%m-%d})" if len(span) else ""
            raise UsageError(f"no case of the log falls in the period {p.label}{seen}", hint=PERIOD_HELP)
        open_in = assigned.open_in(p.label)
        frames.append(frame)
        periods[p.label] = {"from": p.first.isoformat(), "to": p.last.isoformat(), "cases": int(len(frame)),
                            "accepted": int(assigned.taken_in(p.label).sum()),
                            "decided": int(len(assigned.decided_in(p.label))),
                            "open_late": int(len(assigned.late_in(p.label))), "open": int(len(open_in)),
                            "provisional": bool(len(open_in)) or p.last >= as_of_day}
        logs.append(log[log["case_id"].isin(set(frame["case_id"]))])
    out = _compare_cases(frames[0], frames[1], logs[0], logs[1], (a.label, b.label))
    out.periods = periods
    out.basis = dict(PERIOD_BASIS)
    return out


def _period_frame(p: PeriodCases, label: str) -> pd.DataFrame:
    """The cases counting in one period, one row each, each metric's column blank where the
    case does not count in it there (a case accepted in one period may be decided in another)."""
    cases = p.cases
    taken = p.taken_in(label)
    timed = set(p.decided_in(label)["case_id"]) | set(p.late_in(label)["case_id"])
    finished = (p.finished == label).to_numpy()
    ids = cases["case_id"].isin(timed).to_numpy()
    keep = taken | ids | finished
    out = cases[keep].copy()
    taken, ids, finished = taken[keep], ids[keep], finished[keep]
    out["visits"] = out["visits"].astype("Float64").where(taken)
    out["materials_submitted"] = out["materials_submitted"].astype("Float64").where(taken)
    out["on_time"] = out["outcome"].isin(ON_TIME).astype(float).where(ids)
    out["clock_days"] = out["clock_days"].astype(float).where(finished)
    return out.reset_index(drop=True)


def _cut(date: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(date, tz="Asia/Shanghai")
    except ValueError:
        raise UsageError(f"--split-date must be a date like 2024-07-01, not {date!r}") from None


def _compare_cases(cb: pd.DataFrame, ca: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame,
                   labels) -> Comparison:
    trips_known = bool(pd.concat([cb["visits"], ca["visits"]]).notna().any())
    rows = []
    for service in sorted(set(cb["service"].dropna()) | set(ca["service"].dropna())):
        gb, ga = cb[cb["service"] == service], ca[ca["service"] == service]
        for key, label, col, stat in METRICS:
            if col == "visits" and not trips_known:
                continue
            vb = gb[col].dropna().astype(float).to_numpy()
            va = ga[col].dropna().astype(float).to_numpy()
            if len(vb) == 0 or len(va) == 0:
                rows.append({"service": service, "metric": label, "cases_before": len(gb), "cases_after": len(ga),
                             "before": float(stat(vb)) if len(vb) else None, "after": float(stat(va)) if len(va) else None,
                             "change": None, "ci_low": None, "ci_high": None, "significant": False})
                continue
            b, a = float(stat(vb)), float(stat(va))
            lo, hi = _boot(vb, va, stat)
            rows.append({"service": service, "metric": label, "cases_before": int(len(gb)), "cases_after": int(len(ga)),
                         "before": b, "after": a, "change": a - b, "ci_low": lo, "ci_high": hi,
                         "significant": bool(lo > 0 or hi < 0)})
    maps = {}
    for name, log in zip(labels, (before, after)):
        try:
            maps[name] = department_map(log).edges
        except UsageError:
            maps[name] = None
    periods = {}
    for name, c in zip(labels, (cb, ca)):
        n_open = int((c["status"] == "在办").sum())
        periods[name] = {"cases": int(len(c)), "open": n_open, "provisional": n_open > 0}
    return Comparison(pd.DataFrame(rows), maps, periods)


def split_by_date(log: pd.DataFrame, date: str, rules=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cases accepted (受理) before ``date`` / on or after it (a case never accepted: by its first step).
    Open cases stay in their period and are counted as open there (late in the on-time rate once
    past their limit)."""
    cut = _cut(date)
    cases = case_metrics(log, rules)
    when = cases["accept_time"].fillna(cases["case_start"])
    early = set(cases.loc[(when < cut).to_numpy(), "case_id"])
    in_before = log["case_id"].isin(early)
    return log[in_before], log[~in_before]
