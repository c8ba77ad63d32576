"""Supervision (督办): 红牌/黄牌 alerts on open cases and steps, and the standard
efficiency indicators per service and per department.

Analysis only: plain tables out, rendered by :mod:`procmine.report.tables` or the
reports. Every number comes from :func:`procmine.engine.metrics.measure`, so an alert
agrees with ``procmine cases`` on the same ``--as-of``.

- **红牌 (超期在办)**: an open, accepted case whose clock already exceeds its limit.
- **黄牌 (临期)**: an open, accepted case with at most ``clock.warn_days`` working
  days left.
- **环节超时**: a step over its own limit (环节时限) when the export has one —
  counted even while the case as a whole is on time; an unfinished step of an
  open case runs to ``as_of``.

A card goes to the department holding the case now (the case model's
``holding_department``); the handler and step shown are those of its latest step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..engine.metrics import Measured, Note, measure, rate, service_rates, sorted_log
from ..rules import Rules, load_rules

ALERT_COLUMNS = ["level", "case_id", "service", "department", "resource", "activity", "accept_time", "clock_days",
                 "sla_days", "days_over", "days_left"]
ALERT_LABELS = {"level": "级别", "case_id": "办件编号", "service": "事项", "department": "当前部门", "resource": "经办人",
                "activity": "当前环节", "accept_time": "受理时间", "clock_days": "已用工作日", "sla_days": "承诺时限",
                "days_over": "超期工作日", "days_left": "剩余工作日"}
DEPT_LABELS = {"department": "部门", "red": "红牌", "yellow": "黄牌", "step_overruns": "环节超时"}


@dataclass
class MonitorResult:
    as_of: pd.Timestamp
    alerts: pd.DataFrame          # one row per alert, most urgent first (ALERT_COLUMNS)
    by_department: pd.DataFrame   # department, red, yellow, step_overruns
    notes: list[str]
    history: "object | None" = None  # procmine.analysis.cards.CardHistory, when the run was recorded

    @property
    def red(self) -> int:
        return int((self.alerts["level"] == "红牌").sum())

    @property
    def yellow(self) -> int:
        return int((self.alerts["level"] == "黄牌").sum())

    @property
    def steps_over(self) -> int:
        return int((self.alerts["level"] == "环节超时").sum())

    def to_dict(self) -> dict:
        rows = []
        for r in self.alerts.itertuples(index=False):
            d = r._asdict()
            d["accept_time"] = None if pd.isna(d["accept_time"]) else pd.Timestamp(d["accept_time"]).isoformat()
            rows.append({k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                         for k, v in d.items() if not (v is pd.NA)})
        out = {"as_of": self.as_of.isoformat(), "red": self.red, "yellow": self.yellow,
               "step_overruns": self.steps_over, "alerts": rows,
               "by_department": self.by_department.to_dict(orient="records"), "notes": self.notes}
        if self.history is not None:
            out["history"] = self.history.to_dict()
        return out


def _holder(log: pd.DataFrame) -> pd.DataFrame:
    """The handler and step of each case's latest step, shown beside a card (its
    department is the case model's ``holding_department``)."""
    last = sorted_log(log).groupby("case_id", sort=True).last()
    return last[["resource", "activity"]]


def monitor(log: pd.DataFrame, rules: Rules | str | None = None, *, as_of=None,
            measured: Measured | None = None, cards=None, long_days: int = 10) -> MonitorResult:
    """Red and yellow cards and step overruns as of a date, most urgent first.

    With ``cards`` (a history store, see :func:`procmine.analysis.cards.store_for`) the
    day's cards are recorded there (a re-run of the day replaces them) and
    ``result.history`` is the card history as of the day: new, escalated, red
    for at least ``long_days`` working days, closed, and per department the
    median working days from card to decision.

    >>> m = monitor(procmine.read_log("out/log.parquet"), as_of="2024-07-01")   # doctest: +SKIP
    >>> m.alerts.head()                                                           # doctest: +SKIP
    """
    rules = load_rules(rules)
    m = measured or measure(log, rules, as_of=as_of)
    c = m.cases.set_index("case_id")
    holder = _holder(log).reindex(c.index)
    open_ = c[(c["status"] == "在办") & c["accept_time"].notna()]
    red = open_[open_["outcome"] == "超期在办"]
    yellow = open_[open_["due_soon"].astype(bool) & (open_["outcome"] != "超期在办")]
    frames = []
    for level, part in (("红牌", red), ("黄牌", yellow)):
        if part.empty:
            continue
        h = holder.loc[part.index]
        frames.append(pd.DataFrame({
            "level": level, "case_id": part.index.astype(str), "service": part["service"].to_numpy(),
            "department": part["holding_department"].to_numpy(), "resource": h["resource"].to_numpy(),
            "activity": h["activity"].to_numpy(), "accept_time": part["accept_time"].to_numpy(),
            "clock_days": part["clock_days"].to_numpy(), "sla_days": part["sla_days"].astype(float).to_numpy(),
            "days_over": part["days_over"].where(part["outcome"] == "超期在办").to_numpy(),
            "days_left": part["days_left"].where(part["outcome"] != "超期在办").to_numpy()}))
    steps = _step_overruns(log, m)
    if not steps.empty:
        frames.append(steps)
    notes = list(m.notes)
    if log.get("step_sla_days") is None or pd.Series(log.get("step_sla_days")).isna().all():
        notes.append(Note("note.no_step_limits"))
    if frames:
        alerts = pd.concat(frames, ignore_index=True)
    else:
        alerts = pd.DataFrame({k: pd.Series(dtype=object) for k in ALERT_COLUMNS})
    rank = alerts["level"].map({"红牌": 0, "环节超时": 1, "黄牌": 2})
    alerts = (alerts.assign(_r=rank, _o=-alerts["days_over"].astype(float).fillna(0),
                            _l=alerts["days_left"].astype(float).fillna(0))
              .sort_values(["_r", "_o", "_l", "department", "case_id"], kind="stable", na_position="last")
              .drop(columns=["_r", "_o", "_l"]).reset_index(drop=True))
    by_dept = (alerts.assign(department=alerts["department"].fillna("「未注明部门」"))
               .pivot_table(index="department", columns="level", values="case_id", aggfunc="count", fill_value=0))
    for col in ("红牌", "黄牌", "环节超时"):
        if col not in by_dept:
            by_dept[col] = 0
    by_dept = (by_dept[["红牌", "黄牌", "环节超时"]].astype(int)
               .sort_values(["红牌", "环节超时", "黄牌"], ascending=False, kind="stable").reset_index()
               .rename(columns={"红牌": "red", "黄牌": "yellow", "环节超时": "step_overruns"}))
    result = MonitorResult(m.as_of, alerts[ALERT_COLUMNS], by_dept, notes)
    if cards is not None:
        from .cards import card_history, record_day

        record_day(cards, result.alerts, m.cases, m.as_of)
        result.history = card_history(cards, m.calendar, m.as_of, long_days=long_days)
    return result


def _step_overruns(log: pd.DataFrame, m: Measured) -> pd.DataFrame:
    """The case model's steps over their own limit (``Measured.step_overruns``), with the
    step's handler beside them (a display column of the log, looked up by case, step and times)."""
    over = m.step_overruns
    if over is None or over.empty:
        return pd.DataFrame()
    keys = ["case_id", "activity", "start_time", "end_time"]
    who = (log[[*keys, "resource"]].assign(case_id=log["case_id"].astype(str), activity=log["activity"].astype(str))
           .drop_duplicates(keys))
    hit = over.assign(case_id=over["case_id"].astype(str), activity=over["activity"].astype(str)).merge(
        who, on=keys, how="left")
    accept = m.cases.set_index(m.cases["case_id"].astype(str))["accept_time"]
    return pd.DataFrame({
        "level": "环节超时", "case_id": hit["case_id"].to_numpy(), "service": hit["service"].to_numpy(),
        "department": hit["department"].to_numpy(), "resource": hit["resource"].to_numpy(),
        "activity": hit["activity"].to_numpy(), "accept_time": hit["case_id"].map(accept).to_numpy(),
        "clock_days": hit["step_days"].to_numpy(), "sla_days": hit["step_sla_days"].to_numpy(),
        "days_over": hit["days_over"].to_numpy(), "days_left": np.nan})


# ----------------------------------------------------------------------------- indicators

INDICATORS = [  # key, label, formula (as in the README)
    ("instant_share", "即办件占比", "即办件数 / 有承诺时限的办件数"),
    ("compression_ratio", "承诺时限压缩比", "(Σ法定时限 − Σ承诺时限) / Σ法定时限（两者都有的办件）"),
    ("on_time_rate", "按时办结率", "按时办结（含即办、提前）/ 已受理且已办结、有时限的办件"),
    ("early_rate", "提前办结率", "提前办结 / 已受理且已办结、有时限的办件"),
    ("overdue_rate", "超期办结率", "超期办结 / 已受理且已办结、有时限的办件"),
    ("open_overdue", "超期在办数", "在办且已超过承诺时限的办件数"),
    ("fully_online_rate", "全程网办率", "网上申请且零跑动的办件 / 跑动可识别的办件"),
    ("zero_trip_rate", "跑零次率", "零跑动办件 / 跑动可识别的办件"),
    ("at_most_once_rate", "最多跑一次率", "跑动不超过一次的办件 / 跑动可识别的办件"),
    ("average_visits", "平均跑动次数", "跑动次数之和 / 跑动可识别的办件"),
    ("good_rating_rate", "好评率", "好评（非常满意、满意、基本满意）/ 已评价办件"),
    ("bad_rectified_rate", "差评整改率", "已整改差评 / 差评"),
]
# per department only: lateness both ways (who decided, where the time went)
DEPARTMENT_LATENESS = [
    ("late_decided", "决定超期件数", "本部门作出决定的超期办件数"),
    ("late_cases_here", "经手超期件数", "本部门有环节的超期办件数"),
    ("late_days_here", "超期件耗时(工作日)", "超期办件在本部门环节所用的工作日（不含特别程序）"),
]


def indicators(log: pd.DataFrame, rules: Rules | str | None = None, *, as_of=None,
               measured: Measured | None = None, by: str | None = None) -> dict[str, pd.DataFrame]:
    """The standard indicators per service and per department: ``{"service": table, "department": table}``,
    each with one row per group and one column per indicator (None where the log cannot support it);
    ``reasons`` lists why an indicator is missing. With ``by="month"`` also ``month`` (each indicator
    by month, see :func:`monthly`) and ``basis`` (which month each indicator is counted in).

    >>> t = indicators(procmine.read_log("out/log.parquet"))["service"]   # doctest: +SKIP
    >>> trend = indicators(log, by="month")["month"]                        # doctest: +SKIP
    """
    from .ratings import rating_table

    trend = by
    if trend not in (None, "month"):
        from ..errors import UsageError

        raise UsageError(f"indicators by {by!r}: only by month is known", hint="use by='month' (--by month)")
    rules = load_rules(rules)
    m = measured or measure(log, rules, as_of=as_of)
    cases = m.cases.copy()
    trips_known = cases["visits"].notna()
    # 全程网办: applied online and no trip at all — over the cases whose trips are known (the
    # 跑零次率's denominator); unknown when nothing in the log says how a case was applied for
    channel_known = bool(cases["online"].any()) or ("channel" in log and log["channel"].notna().any())
    cases["fully_online"] = (cases["online"] & cases["visits"].astype("Float64").eq(0)).where(trips_known)
    ratings = rating_table(log, rules, measured=m)
    rated = ratings.set_index("case_id") if len(ratings) else None
    # a case's department: who decided it, or who holds it while open (the case model's)
    cases["department"] = cases["deciding_department"].fillna(cases["holding_department"])
    out, reasons = {}, {}
    for by in ("service", "department"):
        rows = []
        for key, g in cases.groupby(by, sort=True, dropna=True):
            r = service_rates(g)
            row = {by: key, "cases": int(len(g))}
            for k, _, _ in INDICATORS:
                row[k] = r.get(k)
            fo = g["fully_online"].dropna()
            row["fully_online_rate"] = float(fo.astype(bool).mean()) if channel_known and len(fo) else None
            if rated is not None:
                rg = rated.reindex(g["case_id"]).dropna(subset=["level"])
                row["good_rating_rate"] = float(rg["good"].mean()) if len(rg) else None
                bad = rg[rg["bad"]]
                row["bad_rectified_rate"] = float(bad["rectified"].mean()) if len(bad) else None
            rows.append(row)
        table = pd.DataFrame(rows)
        if by == "department" and len(table) and m.department_time is not None:
            # lateness by department, both ways: the late cases it decided, and the working days its
            # own steps used in late cases (where the time went, whoever signed the decision)
            late = cases[cases["outcome"].isin(["超期", "超期在办"])]
            decided = late.groupby("deciding_department").size()
            spent = m.department_time[m.department_time["late"]].groupby("department").agg(
                late_cases_here=("cases", "sum"), late_days_here=("working_days", "sum"))
            missing = sorted(set(spent.index.dropna()) - set(table["department"]))
            if missing:  # a department that took part in cases but decided none still has its row
                table = pd.concat([table, pd.DataFrame({"department": missing, "cases": 0})], ignore_index=True)
            table["late_decided"] = table["department"].map(decided).fillna(0).astype(int)
            table["late_cases_here"] = table["department"].map(spent["late_cases_here"]).fillna(0).astype(int)
            table["late_days_here"] = table["department"].map(spent["late_days_here"]).fillna(0.0).round(2)
        out[by] = table
    why = {}
    if not trips_known.any():
        for k in ("zero_trip_rate", "at_most_once_rate", "average_visits", "fully_online_rate"):
            why[k] = "trips unknown: no 是否到场 values and no recognisable intake/pick-up steps"
    if rated is None:
        why["good_rating_rate"] = why["bad_rectified_rate"] = "no 好差评 ratings in the log (评价等级)"
    if cases["statutory_days"].isna().all():
        why["compression_ratio"] = "no 法定时限 in the export"
    if cases["sla_days"].isna().all():
        for k in ("instant_share", "on_time_rate", "early_rate", "overdue_rate"):
            why[k] = "no 承诺时限 in the export or the rules"
    if cases["department"].isna().all():
        out["department"] = pd.DataFrame(columns=["department", "cases"] + [k for k, _, _ in INDICATORS])
    reasons.update(why)
    out["reasons"] = pd.DataFrame([{"indicator": k, "reason": v} for k, v in sorted(why.items())])
    if trend == "month":
        out["month"] = monthly(cases, m, rated, channel_known)
        out["basis"] = pd.DataFrame([{"indicator": k, "month": MONTH_BASIS[k]} for k in MONTH_BASIS])
    return out


MONTH_BASIS = {  # which month a case is counted in, per indicator of the trend
    "on_time_rate": "办结月；在办且已超期的办件计入其期满次日所在月（作超期计）",
    "early_rate": "办结月；分母含在办且已超期的办件",
    "overdue_rate": "办结月；在办且已超期的办件计入其期满次日所在月（作超期计）",
    "good_rating_rate": "办结月（已评价的已办结办件）",
    "bad_rectified_rate": "办结月（差评的已办结办件）",
    "zero_trip_rate": "受理月（无受理时间时取申请月）",
    "at_most_once_rate": "受理月（无受理时间时取申请月）",
    "average_visits": "受理月（无受理时间时取申请月）",
    "fully_online_rate": "受理月（无受理时间时取申请月）",
    "instant_share": "受理月",
    "compression_ratio": "受理月",
    "open_overdue": "受理月：截至统计日仍在办且已超期",
}


def _month(ts: pd.Series) -> pd.Series:
    t = pd.Series(ts)
    out = t.dt.tz_convert("Asia/Shanghai").dt.strftime("%Y-%m") if isinstance(t.dtype, pd.DatetimeTZDtype) \
        else pd.to_datetime(t).dt.strftime("%Y-%m")
    return out.astype(object).where(t.notna(), None)


def _late_since(cases: pd.DataFrame) -> pd.Series:
    """For open cases past their limit: the day they became late, the day after the last
    day of the limit (the case table's ``promise_due``, else ``statutory_due``)."""
    due = cases["promise_due"] if "promise_due" in cases else pd.Series(pd.NaT, index=cases.index)
    if "statutory_due" in cases:
        due = due.fillna(cases["statutory_due"])
    return pd.to_datetime(due) + pd.Timedelta(days=1)


TIMED = ["即办", "提前", "按时", "超期"]   # a decided case's outcome against its limit
ON_TIME = ["即办", "提前", "按时"]


@dataclass(frozen=True)
class PeriodCases:
    """Which period each case counts in, as :data:`MONTH_BASIS` says: the decided cases
    with a limit by the period of their 办结; the cases open at the as-of date and past
    their limit by the period their limit passed in (:func:`_late_since`), as late; every
    case by the period of its 受理 (else its 申请) for intake and trips. A label of None:
    in no period. Made by :func:`assign_periods`, read by :func:`monthly` and
    :func:`procmine.analysis.compare.compare_periods` alike."""

    cases: pd.DataFrame      # the case table
    closed: pd.DataFrame     # decided, with a timed outcome (即办/提前/按时/超期)
    done: pd.Series          # closed cases' period, by 办结
    late_open: pd.DataFrame  # accepted, open and past the limit (超期在办)
    late: pd.Series          # late_open cases' period, by the day they became late
    intake: pd.Series        # every case's period, by 受理 (else 申请)
    finished: pd.Series      # every case's period by 办结 (None while open): the clock of decided cases

    def labels(self) -> list:
        return sorted({*self.done.dropna(), *self.late.dropna(), *self.intake.dropna()})

    def decided_in(self, label) -> pd.DataFrame:
        return self.closed[(self.done == label).to_numpy()]

    def late_in(self, label) -> pd.DataFrame:
        return self.late_open[(self.late == label).to_numpy()]

    def taken_in(self, label) -> np.ndarray:
        """A mask over ``cases``: the cases accepted (else applied for) in the period."""
        return (self.intake == label).to_numpy()

    def open_in(self, label) -> pd.DataFrame:
        """The cases accepted in the period and still open at the as-of date: while there
        are any, the period's numbers can still change (it is provisional)."""
        intake = self.cases[self.taken_in(label)]
        return intake[(intake["status"] == "在办") & intake["accept_time"].notna()]


def assign_periods(cases: pd.DataFrame, period_of) -> PeriodCases:
    """Each case's period(s) by :data:`MONTH_BASIS`, ``period_of`` turning a Series of
    times into the label of the period each falls in (None: in none). Every per-case fact
    (outcome, due day, 办结 and 受理 times) is the case table's: nothing is derived again."""
    closed = cases[cases["outcome"].isin(TIMED)]
    open_ = cases[(cases["status"] == "在办") & cases["accept_time"].notna()]
    late_open = open_[open_["outcome"] == "超期在办"]
    return PeriodCases(cases, closed, period_of(closed["finish_time"]), late_open,
                       period_of(_late_since(late_open)), period_of(cases["accept_time"].fillna(cases["apply_time"])),
                       period_of(cases["finish_time"].where(cases["status"] == "办结")))


def month_of(ts: pd.Series) -> pd.Series:
    """The calendar month (YYYY-MM, Beijing time) of each time; None where there is none."""
    return _month(ts)


MONTHLY_COLUMNS = ["case_id", "status", "outcome", "apply_time", "accept_time", "finish_time", "promise_due",
                   "statutory_due", "visits", "sla_days", "statutory_days", "fully_online"]


def monthly(cases: pd.DataFrame, m: Measured, rated: pd.DataFrame | None, channel_known: bool = True) -> pd.DataFrame:
    """Each indicator by month (:data:`MONTH_BASIS` says which month). A month's rates over
    decided cases count, beside the cases decided in it, the cases still open at the as-of
    date whose limit passed in it, as late; a month is ``provisional`` while cases accepted
    in it are still open (or it is the as-of month itself): its numbers can still change.
    Every per-case fact (outcome, due day, trips) is the case table's; the month each case
    counts in is :func:`assign_periods`'."""
    as_of_month = pd.Timestamp(m.as_of).tz_convert("Asia/Shanghai").strftime("%Y-%m")
    # only the columns counted here: each month selects its cases from them (not from the whole case table)
    cases = cases[[c for c in MONTHLY_COLUMNS if c in cases.columns]]
    p = assign_periods(cases, month_of)
    v = cases["visits"].astype("Float64")
    rows = []
    for month in p.labels():
        d = p.decided_in(month)
        lo = len(p.late_in(month))
        n = len(d) + lo
        taken = p.taken_in(month)
        intake = cases[taken]
        iv = v[taken]
        open_in = p.open_in(month)
        limited = intake[intake["sla_days"].notna()]
        both = intake[intake["sla_days"].notna() & intake["statutory_days"].notna()]
        stat = float(both["statutory_days"].astype(float).sum()) if len(both) else 0.0
        row = {"month": month, "provisional": bool(len(open_in)) or month >= as_of_month,
               "decided": int(len(d)), "open_late": lo,
               "on_time_rate": float(d["outcome"].isin(ON_TIME).sum() / n) if n else None,
               "early_rate": float((d["outcome"] == "提前").sum() / n) if n else None,
               "overdue_rate": float(((d["outcome"] == "超期").sum() + lo) / n) if n else None,
               "accepted": int(len(intake)), "open": int(len(open_in)),
               "open_overdue": int((open_in["outcome"] == "超期在办").sum()),
               "zero_trip_rate": rate(iv.eq(0).where(iv.notna())),
               "at_most_once_rate": rate(iv.le(1).where(iv.notna())),
               "average_visits": float(iv.mean()) if iv.notna().any() else None,
               "fully_online_rate": (float(intake["fully_online"].dropna().astype(bool).mean())
                                     if channel_known and intake["fully_online"].notna().any() else None),
               "instant_share": rate(limited["sla_days"].astype(float) == 0) if len(limited) else None,
               "compression_ratio": (stat - float(both["sla_days"].astype(float).sum())) / stat if stat > 0 else None,
               "good_rating_rate": None, "bad_rectified_rate": None}
        if rated is not None:
            rg = rated.reindex(d["case_id"]).dropna(subset=["level"])
            row["good_rating_rate"] = float(rg["good"].mean()) if len(rg) else None
            bad = rg[rg["bad"]]
            row["bad_rectified_rate"] = float(bad["rectified"].mean()) if len(bad) else None
        rows.append(row)
    cols = ["month", "provisional", "decided", "open_late", "on_time_rate", "early_rate", "overdue_rate",
            "good_rating_rate", "bad_rectified_rate", "accepted", "open", "open_overdue", "zero_trip_rate",
            "at_most_once_rate", "average_visits", "fully_online_rate", "instant_share", "compression_ratio"]
    return pd.DataFrame(rows, columns=cols)
