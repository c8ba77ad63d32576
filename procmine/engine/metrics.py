"""Every per-event and per-case definition, once: ``cases``, ``audit``, ``compare``,
``redesign`` and the reports all read them from here.

Per event (:func:`event_facts`)
    - **trip (跑动)**: the applicant came in person. The export's 是否到场 decides
      when it has a value; otherwise the step name and channel do (rules
      ``visits``): the case's first in-person intake (网上预审 is online; a later
      窗口受理 is then the intake), a correction handed in and a pick-up — unless
      the channel is online/post/e-delivery and the step is not named as done at
      the window. Staff travel (现场核查/勘验) is never the applicant's trip.
    - **waiting**: end of the previous step → start of this one, elapsed and in
      working hours (office hours on Chinese working days). A wait before the
      applicant's own action (handing in corrections, collecting the result) is
      the applicant's (``wait_owner``), not the office's.
    - **service**: end − start of a step, elapsed and in working hours.

Per case (:func:`case_metrics`)
    - **visits**: trips merged into visits — the same calendar day and at most
      ``same_visit_gap_hours`` between one's end and the next one's start; a
      pick-up counts when collected (its end). Unknown (NA) for a service whose
      steps cannot be classified and that has no 是否到场 values.
    - **lifecycle**: 申请 → 受理 → 办结 → 送达/领取, from case-level columns when
      the export has them, otherwise from step names (rules ``lifecycle``);
      status 办结 / 不予受理 / 撤回 / 在办 from the status column (rules
      ``status``) or the milestones.
    - **clock_days**: working days from 受理 to 办结 (or to ``as_of`` for open
      cases), counted from the working day after 受理 (``first_day``), minus
      ``paused_days``: working days in special procedures (§45) and between a
      补正告知 and the correction received. Delivery is outside the clock.
    - **outcome**: 即办 / 提前 / 按时 / 超期 for decided cases with a limit
      (即办件: on time when decided on the day of 受理), 办结 when there is no
      limit; 在办 / 超期在办 for open ones; 未受理; 撤回.
    - **documents**: hand-overs compared after the e-licence catalogue's
      normalisation; a repeat is a second or later hand-over in a case.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..log.eventlog import conform_columns, in_order
from ..messages import Note  # noqa: F401 - the case model's notes (and this module's name for them)
from ..rules import Rules, load_rules
from .workcal import calendar_table, month_due_table
from ..calendar.workdays import WorkCalendar

TZ = "Asia/Shanghai"
TRIP_EVIDENCE_KINDS = ("intake", "pickup", "correction", "remote_delivery")
OUTCOMES = ("即办", "提前", "按时", "超期", "办结", "在办", "超期在办", "未受理", "撤回", "作废", "退回", "转报",
            "计时不明", "状态不明")
ON_TIME = ("即办", "提前", "按时")


def _hours(delta: pd.Series) -> pd.Series:
    return delta.dt.total_seconds() / 3600.0


def sorted_log(log: pd.DataFrame) -> pd.DataFrame:
    """The log in case/time order, canonical columns present (a copy; the caller's frame is untouched)."""
    log = conform_columns(log)
    ts = log["start_time"].fillna(log["end_time"]).to_numpy(dtype="datetime64[ns]").view("int64")
    end = log["end_time"].fillna(log["start_time"]).to_numpy(dtype="datetime64[ns]").view("int64")
    codes, _ = pd.factorize(log["case_id"], sort=True)
    if in_order(codes, ts, end):
        return log.reset_index(drop=True)  # a canonical log written by procmine is: no copy
    order = np.lexsort((np.arange(len(log)), end, ts, codes))
    return log.iloc[order].reset_index(drop=True)


def _us_to_time(values) -> pd.Series:
    """Local-time microseconds (the engine's times) → tz-aware Shanghai timestamps (ns)."""
    ints = pd.array(pd.Series(values).to_numpy(), dtype="Int64") if not isinstance(values, pd.Series) \
        else pd.array(values, dtype="Int64")
    na = ints.isna()
    # the engine made them as the instant + 8 h (runner._select): undone the same way, which
    # needs no time-zone lookup per value (Shanghai has kept UTC+8 all year since 1991)
    ns = ints.to_numpy(dtype="int64", na_value=0) * 1000 - _UTC8_NS
    ns[na] = np.iinfo(np.int64).min  # NaT
    return pd.Series(pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC").tz_convert(TZ))


_UTC8_NS = 8 * 3600 * 10**9


def _day_to_date(values) -> pd.Series:
    """Day numbers (days since 1970-01-01, the engine's calendar days) → dates (naive, midnight)."""
    days = pd.array(pd.Series(values).to_numpy(), dtype="Int64") if not isinstance(values, pd.Series) \
        else pd.array(values, dtype="Int64")
    return pd.Series(pd.to_datetime(pd.Series(days, dtype="Float64").astype(float), unit="D"))


def _name_lists(values: pd.Series) -> pd.Series:
    """A list column from the engine → Python lists of names (empty when none)."""
    return pd.Series([[] if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else list(v)
                      for v in values], dtype=object)


def _time_to_us(ts: pd.Series) -> pd.Series:
    """Tz-aware timestamps → local-time microseconds (NA kept)."""
    local = _local(ts)
    out = pd.Series(local.to_numpy(dtype="datetime64[us]").astype("int64"), dtype="Int64")
    return out.where(local.notna().to_numpy(), pd.NA)


def _facts_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """The engine's facts table as the per-event frame the findings read."""
    out = pd.DataFrame({
        "case_id": raw["case_id"].astype("string"), "service": raw["service"].astype("string"),
        "activity": raw["activity"].astype("string"), "department": raw["department"].astype("string"),
        "start": _us_to_time(raw["s_us"]), "end": _us_to_time(raw["e_us"]), "ts": _us_to_time(raw["ts_us"]),
        "pos": raw["pos"].astype("int64"), "trip": raw["trip"].fillna(False).astype(bool),
        "trip_kind": raw["trip_kind"].astype("str"),
        "trip_at": _us_to_time(raw["trip_at_us"]), "trip_until": _us_to_time(raw["trip_until_us"]),
        "wait_hours": raw["wait_hours"].astype(float), "wait_work_hours": raw["wait_work_hours"].astype(float),
        "wait_owner": raw["wait_owner"].astype("str"),
        "service_hours": raw["service_hours"].astype(float),
        "service_work_hours": raw["service_work_hours"].astype(float),
        "sla_days": raw["sla_days"].astype("Float64"),
        "channel_online": raw["channel_online"].fillna(False).astype(bool).to_numpy(),
        "in_person_known": raw["in_person_known"].fillna(False).astype(bool).to_numpy(),
    })
    return out


def _prepare(eng, log, rules: Rules, calendar: WorkCalendar, as_of) -> tuple[pd.Timestamp, int]:
    """Load the log into the engine and register the small tables the definitions join;
    the as-of time and the number of events."""
    from .definitions import SPAN_SQL, extension_reach_sql

    eng.load(log)
    span = eng.fetch(SPAN_SQL).iloc[0]
    hi = _us_to_time([span["hi"]]).iloc[0] if pd.notna(span["hi"]) else None
    as_of = _as_of(as_of if as_of is not None else rules.as_of, hi)
    as_local = as_of.tz_convert(TZ).tz_localize(None)
    bounds = [pd.Timestamp(as_local)]
    for k in ("lo", "hi", "due_hi", "rate_lo", "rate_hi"):
        if pd.notna(span[k]):
            bounds.append(pd.Timestamp(int(span[k]), unit="us"))
    lo, hi_day = min(bounds), max(bounds)
    # limits in calendar months or days end after the log: the calendar reaches past the
    # latest such last day (plus room for pauses and 延期); years the installed calendar
    # does not know yet, after the log's own, count Monday–Friday (said in the notes)
    lim = eng.fetch("SELECT DISTINCT m FROM (SELECT sla_months AS m FROM ev UNION ALL "
                    "SELECT statutory_months FROM ev) t WHERE m IS NOT NULL")
    days = eng.fetch("SELECT max(greatest(coalesce(sla_calendar_days, 0), coalesce(statutory_calendar_days, 0))) "
                     "AS n FROM ev").iloc[0]["n"]
    months = sorted({float(x) for x in lim["m"] if float(x) == int(x) and 0 <= x <= 1200})
    reach = int((max(months) if months else 0) * 31 + (float(days) if pd.notna(days) else 0))
    # an extension in calendar days or months runs on from a limit's last day: the calendar
    # reaches past it, and the month table holds those last days and lengths
    ext = eng.fetch(extension_reach_sql(rules)).iloc[0]
    ext_months = [float(m) for m in range(1, int(min(float(ext["months"]), 120)) + 1)] \
        if pd.notna(ext["months"]) else []
    ext_reach = int(len(ext_months) * 31 + (min(float(ext["days"]), 3650) if pd.notna(ext["days"]) else 0))
    # a limit in working days ends after the log too (an open case, a pause until the as-of
    # time): the calendar reaches past the longest one, plus a §42 extension, whatever else
    # is loaded — a case's last day never depends on the other cases of the log
    work = eng.fetch("SELECT max(greatest(coalesce(sla_days, 0), coalesce(statutory_days, 0) "
                     "+ coalesce(extension_days, 10))) AS n FROM ev").iloc[0]["n"]
    cal_hi = hi_day + pd.Timedelta(days=reach + 400) if reach else hi_day
    if pd.notna(work) and float(work) > 0:  # weekends, and up to 40 days of holidays
        cal_hi = max(cal_hi, hi_day + pd.Timedelta(days=int(min(float(work), 3650) * 7 / 5) + 40))
    base_hi = cal_hi
    if ext_reach:
        cal_hi = cal_hi + pd.Timedelta(days=ext_reach + 40)
    table = _calendar_beyond(calendar, lo, hi_day, cal_hi)
    eng.register("calendar", table)
    lo_d, hi_d = int(table["d"].iloc[0]), int((hi_day.normalize() - pd.Timestamp("1970-01-01")).days)
    due = month_due_table(table, [int(m) for m in months], lo_d, hi_d)
    if ext_months:  # from every day a limit can end on (受理's days … the calendar's reach before extending)
        base_d = int((base_hi.normalize() - pd.Timestamp("1970-01-01")).days)
        due = pd.concat([due, month_due_table(table, [int(m) for m in ext_months], hi_d + 1, base_d),
                         month_due_table(table, [int(m) for m in ext_months if m not in months], lo_d, hi_d)],
                        ignore_index=True)
    eng.register("month_due", due)
    names = eng.fetch("SELECT DISTINCT name FROM (SELECT unnest(materials) AS name FROM ev) t WHERE name IS NOT NULL")
    uniq = [str(x) for x in names["name"]]
    eng.register("catalogue", pd.DataFrame({"name": pd.Series(uniq, dtype=object),
                                            "material": pd.Series([rules.catalogue.normalize(u) for u in uniq],
                                                                  dtype=object)}))
    sla = rules.sla_days or {}
    eng.register("svc_sla", pd.DataFrame({"service": pd.Series(list(sla), dtype=object),
                                          "days": pd.Series([float(x) for x in sla.values()], dtype=float)}))
    return as_of, int(span["n"])


def _calendar_beyond(calendar: WorkCalendar, lo: pd.Timestamp, hi: pd.Timestamp, reach: pd.Timestamp) -> pd.DataFrame:
    """The calendar table from ``lo`` to ``reach``: the log's own span (``lo``..``hi``) by
    the rules' calendar; the days after it that only a limit's last day needs, in years
    the installed chinesecalendar does not know yet, Monday–Friday (with a note)."""
    from ..errors import CalendarError

    if reach <= hi:
        return calendar_table(calendar, lo, hi)
    try:
        return calendar_table(calendar, lo, reach)
    except CalendarError:
        calendar_table(calendar, lo, hi)  # the log's own years must be known: raises as before
        import dataclasses

        loose = dataclasses.replace(calendar, unknown_years="weekdays", fallback_years=set(), _flags={})
        table = calendar_table(loose, lo, reach)
        calendar.fallback_years.update(loose.fallback_years)
        return table


def _run(eng, rules: Rules, calendar: WorkCalendar, as_of: pd.Timestamp, upto: str | None = None,
         events: int = 0) -> list[str]:
    """Materialise the definitions; the tables left in the engine. They run in this
    order: the steps before the first per-case one, the per-case ones (``BY_CASE``),
    the rest. The per-case steps run once per block of cases when the engine splits
    a log of ``events`` events (``EngineOptions.block_events``), each block's rows
    appended. ``upto``: stop after that step (in that order, in one block)."""
    from .definitions import BY_CASE, DONE_AFTER, VIEWS, steps

    as_us = int(as_of.tz_convert(TZ).tz_localize(None).value // 1000)
    defs = steps(rules, calendar, as_us)
    first = min(i for i, (name, _) in enumerate(defs) if name in BY_CASE)
    before, by_case = defs[:first], [d for d in defs if d[0] in BY_CASE]
    after = [d for d in defs[first:] if d[0] not in BY_CASE]
    tables: list[str] = []

    def run(name: str, sql: str) -> bool:
        view = name in VIEWS
        eng.materialize(name, sql, view=view)
        tables.extend([] if view else [name])
        if name == upto:
            return True
        for done in DONE_AFTER.get(name, ()):
            eng.drop(done)
            tables.remove(done)
        return False

    for name, sql in before:
        if run(name, sql):
            return tables
    blocks = eng.split_by_case(events) if upto is None else [None]
    if blocks == [None]:
        for name, sql in by_case:
            if run(name, sql):
                return tables
    else:  # each block's tables made as if alone, then added to the whole (``name__all``)
        made: list[str] = []  # (an error: closing the engine removes the blocks' files)
        for i, block in enumerate(blocks):
            eng.use_block(block, i, len(blocks))
            kept = list(tables)
            for name, sql in by_case:
                run(name, sql)
            for name in [t for t in tables if t not in kept]:
                eng.materialize(f"{name}__all", f"SELECT * FROM {name}", append=i > 0)
                eng.drop(name)
                tables.remove(name)
                made += [] if name in made else [name]
        eng.use_block(None)
        for name in made:
            eng.rename(f"{name}__all", name)
            tables.append(name)
    for name, sql in after:
        if run(name, sql):
            return tables
    return tables


def event_facts(log: pd.DataFrame, rules: Rules | None = None, calendar: WorkCalendar | None = None,
                engine=None) -> pd.DataFrame:
    """One row per event (case/time order): ``case_id, service, activity, department,
    start, end, ts, pos, trip, trip_kind, trip_at, trip_until, wait_hours,
    wait_work_hours, wait_owner, service_hours, service_work_hours, sla_days,
    channel_online, in_person_known`` — the engine's ``facts`` definitions."""
    from .definitions import FACT_COLUMNS, FACTS_NAMED
    from .runner import open_engine

    rules = rules or load_rules()
    calendar = calendar or rules.calendar()
    with open_engine(engine) as eng:
        as_of, _ = _prepare(eng, conform_columns(log) if isinstance(log, pd.DataFrame) else log, rules, calendar,
                            None)
        _run(eng, rules, calendar, as_of, upto="facts")
        return _facts_frame(eng.fetch(f"SELECT {FACT_COLUMNS} FROM {FACTS_NAMED} ORDER BY case_id, pos"))


def matter_days(log: pd.DataFrame, units: pd.Series, rules: Rules | str | None = None, *, as_of=None,
                calendar: WorkCalendar | None = None, engine=None) -> pd.Series:
    """The working days of each matter — ``units`` maps case ids to a matter (a 一件事
    instance) — by the case model's clock: from its first 受理 to its last 办结 (or
    ``as_of``), less the days on which members are paused (§45, corrections) and none runs
    (:func:`procmine.engine.definitions.matter_days_sql`). Only the members'
    events are read; a member's result depends on its own events alone, so these clocks
    are the full log's. Matters none of whose members was accepted are absent."""
    from .definitions import matter_days_sql
    from .runner import open_engine

    rules = load_rules(rules)
    calendar = calendar or rules.calendar()
    ids = units.index.astype(str)
    members = conform_columns(log[log["case_id"].astype(str).isin(set(ids))].reset_index(drop=True))
    if members.empty:
        return pd.Series([], dtype=float, name="working_days")
    with open_engine(engine) as eng:
        as_of, _ = _prepare(eng, members, rules, calendar, as_of)
        _run(eng, rules, calendar, as_of, upto="pause_blocks")
        eng.register("units", pd.DataFrame({"case_id": pd.Series(list(ids), dtype=object),
                                            "unit": pd.Series(units.astype(str).to_numpy(), dtype=object)}))
        out = eng.fetch(matter_days_sql(calendar))
    return pd.Series(out["working_days"].astype(float).to_numpy(), index=out["unit"].astype(str).to_numpy(),
                     name="working_days").sort_index()


def trip_visits(facts: pd.DataFrame, gap_hours: float) -> pd.DataFrame:
    """The trip events with ``visit`` (1, 2, … per case), by the engine's definition
    (``procmine.engine.definitions.trips_sql``), for any facts frame (e.g. cases
    regrouped into one matter)."""
    from .definitions import trips_sql
    from .runner import open_engine

    t = facts.loc[facts["trip"], ["case_id", "service", "activity", "trip_kind", "trip_at", "trip_until"]]
    if t.empty:
        return t.assign(visit=pd.Series([], dtype="int64"))
    local = pd.DataFrame({"case_id": t["case_id"].astype(str).to_numpy(), "service": t["service"].to_numpy(),
                          "activity": t["activity"].to_numpy(), "trip_kind": t["trip_kind"].to_numpy(),
                          "trip_at_us": _time_to_us(t["trip_at"]).to_numpy(),
                          "trip_until_us": _time_to_us(t["trip_until"]).to_numpy(),
                          "pos": np.arange(len(t), dtype=np.int64), "trip": True})
    with open_engine("duckdb") as eng:
        eng.register("tripin", local)
        v = eng.fetch(trips_sql(gap_hours, source="tripin") + " ORDER BY case_id, trip_at_us, pos")
    rows = v["pos"].to_numpy()
    return t.iloc[rows].assign(visit=v["visit"].astype("int64").to_numpy())


def _local(ts: pd.Series) -> pd.Series:
    """Naive Shanghai wall-clock times (the calendar day and hours the engine works in)."""
    ts = pd.Series(ts).reset_index(drop=True)
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        return ts.dt.tz_convert(TZ).dt.tz_localize(None)
    return pd.to_datetime(ts)


def visits_per_case(facts: pd.DataFrame, gap_hours: float) -> pd.Series:
    """Visits per case (cases without a trip are absent)."""
    v = trip_visits(facts, gap_hours)
    return v.groupby("case_id")["visit"].max() if len(v) else pd.Series(dtype="int64")


note = Note


@dataclass
class Measured:
    """Events and cases measured once (what :func:`measure` returns). The per-event and
    per-document tables (``facts``, ``handovers``) are read from the engine on
    first use when :func:`measure` was asked not to bring them back (``events=False``:
    the audit aggregates its findings in the engine)."""

    facts_frame: pd.DataFrame | None
    cases: pd.DataFrame
    handovers_frame: pd.DataFrame | None
    trips_known: pd.Series  # service → bool
    as_of: pd.Timestamp
    calendar: WorkCalendar
    notes: list["Note"]            # str(note) is the English text; .message/.params for the catalogue
    unparsed_limits: pd.DataFrame  # service, text, cases
    unknown_status: dict[str, int]
    aggregates: object = None                # what ``inside`` returned (the audit's engine aggregates)
    # where the clock went: service, department, late (超期/超期在办), cases, working_days
    department_time: pd.DataFrame | None = None
    # steps over their own limit (环节时限): case_id, service, activity, department, pos, start_time,
    # end_time, step_days (working days, to the as-of time while running), step_sla_days, days_over
    step_overruns: pd.DataFrame | None = None
    events_loader: object = None             # () -> Measured with the per-event tables, when not fetched

    def _load(self) -> None:
        if self.events_loader is not None:
            full = self.events_loader()
            self.facts_frame, self.handovers_frame = full.facts, full.handovers
            self.events_loader = None

    @property
    def facts(self) -> pd.DataFrame:
        if self.facts_frame is None:
            self._load()
        return self.facts_frame

    @property
    def handovers(self) -> pd.DataFrame:
        if self.handovers_frame is None:
            self._load()
        return self.handovers_frame


def measure(log, rules: Rules | str | None = None, *, as_of=None,
            calendar: WorkCalendar | None = None, engine=None, events: bool = True, documents: bool = True,
            inside=None) -> Measured:
    """Measure every event and case of ``log`` (a DataFrame, or the path of a Parquet
    log: a file or a partitioned directory) by the definitions above, run by
    ``engine`` ("duckdb", the default, or "spark"; or an
    :class:`procmine.engine.runner.EngineOptions`).

    ``events=False``: the per-event and per-document tables (``facts``,
    ``handovers``) stay in the engine; asked for, they are measured again then.
    ``documents=False``: the same for the per-document table alone.
    ``inside(eng, as_of_us)`` runs in the engine while the per-event, per-document
    and per-case tables exist (``facts``, ``docs``, ``trips``, ``cases``; it may drop
    them, ``facts`` excepted); ``Measured.aggregates`` holds what it returns."""
    from .definitions import FACT_COLUMNS, FACTS_NAMED, KEEP
    from .runner import open_engine

    rules = load_rules(rules)
    calendar = calendar or rules.calendar()
    if isinstance(log, pd.DataFrame):
        log = conform_columns(log)
    notes: list[Note] = []
    aggregates = facts = hand = None
    with open_engine(engine) as eng:
        as_of, n_events = _prepare(eng, log, rules, calendar, as_of)
        tables = _run(eng, rules, calendar, as_of, events=n_events)
        raw = eng.fetch("SELECT * FROM cases ORDER BY c")  # the code's order is the case id's
        if events and documents:
            hand = eng.fetch("SELECT case_id, service, activity, department, pos, material FROM handovers "
                             "ORDER BY case_id, pos")
        vocab = eng.fetch("SELECT * FROM svc_vocab")
        unknown = eng.fetch("SELECT * FROM status_unknown")
        known = eng.fetch("SELECT service, known FROM svc_trips ORDER BY service")
        dept_time = eng.fetch("SELECT * FROM dept_time ORDER BY service, department, late")
        over = eng.fetch("SELECT * FROM step_over ORDER BY case_id, pos")
        reads = KEEP | {"trips", "docs", "cases"}  # what ``inside`` may still read
        for name in tables:
            if name not in reads:
                eng.drop(name)
        tables = [t for t in tables if t in reads]
        if inside is not None:
            aggregates = inside(eng, int(as_of.tz_convert(TZ).tz_localize(None).value // 1000))
        for name in tables:  # the largest result last, with the engine holding nothing else
            if name not in KEEP:
                eng.drop(name)
        if events:
            facts = _facts_frame(eng.fetch(f"SELECT {FACT_COLUMNS} FROM {FACTS_NAMED} ORDER BY case_id, pos"))
    no_accept = sorted(s for s in vocab.loc[~vocab["accepts"].astype(bool), "service"] if s)
    no_finish = sorted(s for s in vocab.loc[~vocab["finishes"].astype(bool), "service"] if s)
    if no_accept:
        notes.append(note("note.no_accept", services=", ".join(no_accept)))
    if no_finish:
        notes.append(note("note.no_finish", services=", ".join(no_finish)))
    unknown_status = {str(r.text): int(r.cases) for r in unknown.itertuples(index=False)}
    if unknown_status:
        notes.append(note("note.status_unknown",
                          values=", ".join(f"{k!r} ({v})" for k, v in sorted(unknown_status.items()))))
    n_fallback = int(raw["fallback_accept"].fillna(False).astype(bool).sum())
    if n_fallback:
        notes.append(note("note.fallback_accept", n=n_fallback))
    cases = _cases_frame(raw)
    if hand is not None:
        hand = pd.DataFrame({"case_id": hand["case_id"].astype("string"), "service": hand["service"].astype("string"),
                             "activity": hand["activity"].astype("string"),
                             "department": hand["department"].astype("string"),
                             "pos": hand["pos"].astype("int64"), "material": hand["material"].astype("string")})
    trips_known = pd.Series(known["known"].astype(bool).to_numpy(), index=known["service"].astype(str).to_numpy())
    unparsed = (cases[cases["limit_text"].notna()].groupby(["service", "limit_text"]).size()
                .rename("cases").reset_index().rename(columns={"limit_text": "text"}))
    if calendar.note:
        notes.append(calendar.note)

    def loader(log=log, rules=rules, calendar=calendar, engine=engine, as_of=as_of) -> Measured:
        return measure(log, rules, as_of=as_of, calendar=calendar, engine=engine)

    dept_time = pd.DataFrame({"service": dept_time["service"].astype("string"),
                              "department": dept_time["department"].astype("string"),
                              "late": dept_time["late"].fillna(False).astype(bool),
                              "cases": dept_time["cases"].astype("int64"),
                              "working_days": dept_time["working_days"].astype(float)})
    step_over = pd.DataFrame({"case_id": over["case_id"].astype("string"), "service": over["service"].astype("string"),
                              "activity": over["activity"].astype("string"),
                              "department": over["department"].astype("string"), "pos": over["pos"].astype("int64"),
                              "start_time": _us_to_time(over["s_us"]), "end_time": _us_to_time(over["e_us"]),
                              "step_days": over["step_days"].astype(float),
                              "step_sla_days": over["step_sla_days"].astype(float),
                              "days_over": over["days_over"].astype(float)})
    return Measured(facts, cases, hand, trips_known, as_of, calendar, notes, unparsed, unknown_status,
                    aggregates=aggregates, events_loader=None if events and documents else loader,
                    department_time=dept_time, step_overruns=step_over)


def _cases_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """The engine's ``cases`` table (or a batch of it) as the per-case frame."""
    return pd.DataFrame({
        "case_id": raw["case_id"].astype("string"),
        "service": raw["service"].astype("string"),
        "events": raw["events"].astype("int64"),
        "departments": raw["departments"].astype("Int64"),
        "visits": raw["visits"].astype("Int64"),
        "materials_submitted": raw["materials_submitted"].astype("int64"),
        "distinct_materials": raw["distinct_materials"].astype("int64"),
        "repeated_material_submissions": raw["repeated_material_submissions"].astype("int64"),
        "apply_time": _us_to_time(raw["apply_us"]), "accept_time": _us_to_time(raw["accept_us"]),
        "finish_time": _us_to_time(raw["finish_us"]), "deliver_time": _us_to_time(raw["deliver_us"]),
        "status": raw["status"].astype("string"),
        "clock_days": raw["clock_days"].astype(float), "paused_days": raw["paused_days"].astype(float),
        "sla_days": raw["sla_days"].astype("Float64"), "sla_calendar_days": raw["sla_calendar_days"].astype("Float64"),
        "statutory_days": raw["statutory_days"].astype("Float64"), "limit_text": raw["limit_text"].astype("string"),
        "outcome": raw["outcome"].astype("string"), "due_soon": raw["due_soon"].fillna(False).astype(bool),
        "days_left": raw["days_left"].astype(float),
        "lead_hours": raw["lead_hours"].astype(float), "lead_days": raw["lead_days"].astype(float),
        "waiting_hours": raw["waiting_hours"].astype(float), "waiting_work_hours": raw["waiting_work_hours"].astype(float),
        "service_hours": raw["service_hours"].astype(float), "service_work_hours": raw["service_work_hours"].astype(float),
        "case_start": _us_to_time(raw["case_start_us"]), "case_end": _us_to_time(raw["case_end_us"]),
        # the case model's other facts (see ``procmine.engine.definitions``)
        "receive_time": _us_to_time(raw["receive_us"]), "status_text": raw["status_text"].astype("string"),
        "awaiting_delivery": raw["awaiting_delivery"].fillna(False).astype(bool),
        "sla_months": raw["sla_months"].astype("Float64"),
        "statutory_calendar_days": raw["statutory_calendar_days"].astype("Float64"),
        "statutory_months": raw["statutory_months"].astype("Float64"),
        "extension_days": raw["extension_days"].astype("Float64"),
        "extension_kind": raw["extension_kind"].astype("string"),
        "extension_calendar_days": raw["extension_calendar_days"].astype("Float64"),
        "extension_months": raw["extension_months"].astype("Float64"),
        "promise_kind": raw["promise_kind"].astype("string"), "statutory_kind": raw["statutory_kind"].astype("string"),
        "promise_due": _day_to_date(raw["promise_due_d"]), "statutory_due": _day_to_date(raw["statutory_due_d"]),
        "over_promise": raw["over_promise"].astype("boolean"), "over_statute": raw["over_statute"].astype("boolean"),
        "statutory_days_left": raw["statutory_days_left"].astype(float),
        "days_over": raw["days_over"].astype(float),
        "intake_visits": raw["intake_visits"].astype("Int64"), "correction_visits": raw["correction_visits"].astype("Int64"),
        "pickup_visits": raw["pickup_visits"].astype("Int64"),
        "correction_requested": raw["correction_requested"].fillna(False).astype(bool),
        "correction_notices": raw["correction_notices"].fillna(0).astype("int64"),
        "online": raw["online"].fillna(False).astype(bool),
        "accept_inferred": raw["fallback_accept"].fillna(False).astype(bool),
        "pause_unclosed": raw["pause_unclosed"].fillna(False).astype(bool),
        "in_pause": raw["in_pause"].fillna(False).astype(bool),  # open, in a §45 pause not yet resumed
        "deciding_department": raw["deciding_department"].astype("string"),
        "holding_department": raw["holding_department"].astype("string"),
        "departments_took_part": _name_lists(raw["departments_took_part"]),
        "rating_text": raw["rating_text"].astype("string"), "rating_level": raw["rating_level"].astype("Float64"),
        "ratings_given": raw["ratings_given"].fillna(0).astype("int64"),
        "rated_bad": raw["rated_bad"].fillna(False).astype(bool), "rated_good": raw["rated_good"].fillna(False).astype(bool), "rectified": raw["rectified"].fillna(False).astype(bool),
        "rectify_days": raw["rectify_days"].astype("Float64"), "days_since_rating": raw["days_since_rating"].astype("Float64"),
    })


def write_cases(log, path, rules: Rules | str | None = None, *, as_of=None, engine=None, mask=None) -> Path:
    """Write the case table of ``log`` as Parquet at ``path`` — a dataset folder of
    part files (no suffix) or one ``.parquet`` file — batch by batch from the engine,
    so that it is never held whole in memory (nor collected whole to a Spark driver);
    ``mask``: a :class:`procmine.privacy.Masker` applied to each batch. The folder or
    file appears whole or not at all (written beside, then renamed)."""
    import shutil
    import tempfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    from .runner import open_engine
    from ..log.eventlog import write_atomic

    rules = load_rules(rules)
    calendar = rules.calendar()
    if isinstance(log, pd.DataFrame):
        log = conform_columns(log)
    path = Path(path)
    single = path.suffix.lower() in (".parquet", ".pq")
    with open_engine(engine) as eng:
        as_of, n_events = _prepare(eng, log, rules, calendar, as_of)
        _run(eng, rules, calendar, as_of, events=n_events)

        def parts():
            schema = None
            for raw in eng.batches("SELECT * FROM cases ORDER BY c"):
                frame = _cases_frame(raw.reset_index(drop=True))
                if mask is not None:
                    frame = mask.frame(frame)
                table = pa.Table.from_pandas(frame, preserve_index=False, schema=schema)
                schema = schema or table.schema
                yield table

        if single:
            def write_one(tmp):
                writer = None
                try:
                    for table in parts():
                        writer = writer or pq.ParquetWriter(tmp, table.schema)
                        writer.write_table(table)
                finally:
                    if writer is not None:
                        writer.close()
            return write_atomic(path, write_one)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            for i, table in enumerate(parts()):
                pq.write_table(table, tmp / f"part-{i:05d}.parquet")
            if path.exists():
                old = path.with_name(f".{path.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                path.rename(old)
                tmp.rename(path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                tmp.rename(path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path


def _as_of(value, latest: pd.Timestamp | None) -> pd.Timestamp:
    if value is None or value == "":
        if latest is None or pd.isna(latest):
            return pd.Timestamp.now(tz=TZ).floor("s")
        return pd.Timestamp(latest).tz_convert(TZ)
    from ..errors import UsageError

    try:
        ts = pd.Timestamp(str(value))
    except ValueError:
        raise UsageError(f"--as-of must be a date like 2024-07-01, not {value!r}") from None
    if ts.tzinfo is None:
        ts = ts.tz_localize(TZ)
        if ts == ts.normalize() and len(str(value)) <= 10:
            ts = ts + pd.Timedelta(hours=23, minutes=59, seconds=59)  # a date: as of the end of that day
    return ts.tz_convert(TZ)


def case_metrics(log, rules: Rules | str | None = None, *, as_of=None, engine=None) -> pd.DataFrame:
    """Per-case metrics (see the module docstring for each definition):
    ``case_id, service, events, departments, visits, materials_submitted,
    distinct_materials, repeated_material_submissions, apply_time, accept_time,
    finish_time, deliver_time, status, clock_days, paused_days, sla_days,
    sla_calendar_days, statutory_days, limit_text, outcome, due_soon, days_left,
    lead_hours, lead_days, waiting_hours, waiting_work_hours, service_hours,
    service_work_hours, case_start, case_end``.

    >>> m = case_metrics(procmine.read_log("out/log.parquet"))   # doctest: +SKIP
    >>> (m.visits <= 1).mean()                                    # 最多跑一次率  # doctest: +SKIP
    """
    return measure(log, rules, as_of=as_of, engine=engine, events=False).cases


# ----------------------------------------------------------------------------- rates


def rate(mask: pd.Series) -> float | None:
    """Share of True among the non-missing values (None when there are none)."""
    m = mask.dropna()
    return float(m.astype(bool).mean()) if len(m) else None


def service_rates(cases: pd.DataFrame) -> dict:
    """The per-service rates every command reports, from per-case metrics (one service's rows)."""
    v = cases["visits"].astype("Float64")
    closed = cases[cases["outcome"].isin(["即办", "提前", "按时", "超期"])]
    open_ = cases[cases["status"] == "在办"]
    both = cases[cases["sla_days"].notna() & cases["statutory_days"].notna()]
    stat_sum = float(both["statutory_days"].astype(float).sum()) if len(both) else 0.0
    limited = cases[cases["sla_days"].notna()]
    complete = cases["correction_requested"].eq(False) if "correction_requested" in cases else None
    return {
        "zero_trip_rate": rate(v.eq(0).where(v.notna())),                # 跑零次率
        "at_most_once_rate": rate(v.le(1).where(v.notna())),             # 最多跑一次率
        # the strict promise assumes complete materials: the same rate among cases without a 补正
        "at_most_once_rate_complete": (rate(v[complete.to_numpy()].le(1).where(v[complete.to_numpy()].notna()))
                                       if complete is not None else None),
        "trips_unknown": int(v.isna().sum()),                            # cases whose trips cannot be counted
        "statutory_breaches": (int(cases["over_statute"].fillna(False).astype(bool).sum())
                               if "over_statute" in cases else 0),       # 超过法定时限 (the legal breach)
        "clock_unknown": int(cases["outcome"].isin(["计时不明", "状态不明"]).sum()),
        "average_visits": float(v.mean()) if v.notna().any() else None,  # 平均跑动次数
        "closed_accepted": int(len(closed)),
        "on_time_rate": rate(closed["outcome"].isin(ON_TIME)) if len(closed) else None,   # 按时办结率
        "early_rate": rate(closed["outcome"] == "提前") if len(closed) else None,           # 提前办结率
        "overdue_rate": rate(closed["outcome"] == "超期") if len(closed) else None,         # 超期办结率
        "open_cases": int(len(open_)),
        "open_overdue": int((open_["outcome"] == "超期在办").sum()),                         # 超期在办数
        "due_soon": int(open_["due_soon"].sum()),                                            # 临期
        "instant_share": rate(limited["sla_days"].astype(float) == 0) if len(limited) else None,  # 即办件占比
        "compression_ratio": ((stat_sum - float(both["sla_days"].astype(float).sum())) / stat_sum
                              if stat_sum > 0 else None),                                   # 承诺时限压缩比
    }
