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

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .eventlog import conform_columns
from .parsing import str_match
from .rules import Rules, load_rules
from .workdays import WorkCalendar

TZ = "Asia/Shanghai"
TRIP_EVIDENCE_KINDS = ("intake", "pickup", "correction", "remote_delivery")
OUTCOMES = ("即办", "提前", "按时", "超期", "办结", "在办", "超期在办", "未受理", "撤回")
ON_TIME = ("即办", "提前", "按时")


def _hours(delta: pd.Series) -> pd.Series:
    return delta.dt.total_seconds() / 3600.0


def local_day(ts: pd.Series) -> np.ndarray:
    """Calendar day (Shanghai) as an integer day number, for fast grouping."""
    return ts.dt.tz_convert(TZ).dt.tz_localize(None).to_numpy(dtype="datetime64[D]").astype(np.int64)


def _has(pattern: str) -> str:
    return f".*(?:{pattern})"


def sorted_log(log: pd.DataFrame) -> pd.DataFrame:
    """The log in case/time order, canonical columns present (a copy; the caller's frame is untouched)."""
    log = conform_columns(log)
    ts = log["start_time"].fillna(log["end_time"]).to_numpy(dtype="datetime64[ns]").view("int64")
    end = log["end_time"].fillna(log["start_time"]).to_numpy(dtype="datetime64[ns]").view("int64")
    codes, _ = pd.factorize(log["case_id"], sort=True)
    order = np.lexsort((np.arange(len(log)), end, ts, codes))
    return log.iloc[order].reset_index(drop=True)


def event_facts(log: pd.DataFrame, rules: Rules | None = None, calendar: WorkCalendar | None = None) -> pd.DataFrame:
    """One row per event (case/time order): ``case_id, service, activity, department,
    start, end, ts, pos, trip, trip_kind, trip_at, trip_until, wait_hours,
    wait_work_hours, wait_owner, service_hours, service_work_hours, materials, sla_days``."""
    rules = rules or load_rules()
    calendar = calendar or rules.calendar()
    log = sorted_log(log)
    case = log["case_id"]
    start, end = log["start_time"], log["end_time"]
    ts = start.fillna(end)
    first_in_case = (case != case.shift()).fillna(True).to_numpy(dtype=bool)
    act = log["activity"].astype("string")
    chan = log["channel"].astype("string")
    staff = str_match(act, _has(rules.staff_travel))
    remote = str_match(act, _has(rules.remote_delivery))
    pickup = str_match(act, _has(rules.pickup)) & ~remote
    correction = str_match(act, _has(rules.correction)) & ~pickup
    intake = str_match(act, _has(rules.intake)) & ~correction & ~pickup & ~remote & ~staff
    window = str_match(act, _has(rules.window_step))
    online_step = str_match(act, _has(rules.online_step)) & ~window
    online = str_match(chan, _has(rules.online_channel)) & ~window
    # the first in-person intake step of a case is the intake; later ones are back-office
    walk_in = intake & ~online_step
    rank = pd.Series(walk_in.astype(np.int64)).groupby(case.to_numpy()).cumsum().to_numpy()
    first_intake = walk_in & (rank == 1)
    inferred = (pickup | correction | first_intake) & ~online & ~staff & ~remote
    known = log["in_person"].notna().to_numpy()
    stated = log["in_person"].fillna(False).to_numpy(dtype=bool)
    trip = np.where(known, stated & ~staff, inferred)
    kind = np.select([staff, pickup, correction, first_intake, remote, intake & online_step],
                     ["staff_travel", "pickup", "correction", "intake", "remote_delivery", "online_intake"], "other")
    # presence: a pick-up counts when collected (its end); other steps from start to end
    trip_at = ts.where(~pickup, end.fillna(start))
    trip_until = end.fillna(start)
    prev_end = end.fillna(start).shift()
    prev_end[first_in_case] = pd.NaT
    wait = _hours(ts - prev_end).clip(lower=0)
    wait_work = calendar.working_hours(prev_end, ts)
    service = _hours(end - start)
    service_work = calendar.working_hours(start, end)
    owner = np.where(pickup | correction, "applicant", "office")
    return pd.DataFrame({
        "case_id": case, "service": log["service"], "activity": act, "department": log["department"],
        "start": start, "end": end, "ts": ts,
        "pos": pd.Series(np.ones(len(log), dtype=np.int64)).groupby(case.to_numpy()).cumsum().to_numpy() - 1,
        "trip": trip, "trip_kind": kind, "trip_at": trip_at, "trip_until": trip_until,
        "wait_hours": wait.to_numpy(), "wait_work_hours": wait_work.to_numpy(), "wait_owner": owner,
        "service_hours": service.to_numpy(), "service_work_hours": service_work.to_numpy(),
        "materials": log["materials"], "sla_days": log["sla_days"], "channel_online": online,
        "in_person_known": known,
    })


def trip_visits(facts: pd.DataFrame, gap_hours: float) -> pd.DataFrame:
    """The trip events with ``visit`` (1, 2, … per case): trips on the same calendar
    day at most ``gap_hours`` apart (one's end to the next one's start) are one visit.
    Defined once, in the engine's SQL (``procmine.engine.duckdb.TRIP_VISITS_SQL``)."""
    from .engine.duckdb import trip_visit_numbers

    t = facts.loc[facts["trip"], ["case_id", "service", "activity", "trip_kind", "trip_at", "trip_until"]]
    if t.empty:
        return t.assign(visit=pd.Series([], dtype="int64"))
    local = pd.DataFrame({"_row": np.arange(len(t), dtype=np.int64),
                          "case_id": t["case_id"].astype(str).to_numpy(),
                          "trip_at": _local(t["trip_at"]), "trip_until": _local(t["trip_until"])})
    v = trip_visit_numbers(local, gap_hours)
    rows = v["_row"].to_numpy()
    return t.iloc[rows].assign(visit=v["visit"].to_numpy())


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


def trips_known_by_service(facts: pd.DataFrame) -> pd.Series:
    """Whether a service's trips can be counted: some 是否到场 value, a classifiable
    step (intake, correction, pick-up, delivery) or an online channel."""
    evidence = (facts["in_person_known"] | facts["trip_kind"].isin(TRIP_EVIDENCE_KINDS) | facts["channel_online"])
    return evidence.groupby(facts["service"].fillna("")).any()


def material_handovers(facts: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """One row per document handed over: case_id, service, activity, department, material (canonical)."""
    arr = pa.array(facts["materials"].array) if len(facts) else pa.array([], pa.list_(pa.string()))
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    flat = pc.list_flatten(arr)
    parents = pc.list_parent_indices(arr).to_numpy(zero_copy_only=False)
    names = pd.Series(pd.array(flat, dtype="string"))
    codes, uniques = pd.factorize(names)
    canon = np.array([rules.catalogue.normalize(u) for u in uniques] + [""], dtype=object)
    taken = facts[["case_id", "service", "activity", "department", "pos"]].iloc[parents].reset_index(drop=True)
    taken["material"] = pd.array(canon[np.where(codes < 0, len(uniques), codes)], dtype="string")
    return taken


# ----------------------------------------------------------------------------- lifecycle


def read_status(values: pd.Series, rules: Rules) -> tuple[pd.Series, dict[str, int]]:
    """办件状态 text → 办结 / 不予受理 / 撤回 / 在办 (NA when empty or not understood),
    and the texts not understood with their case counts."""
    order = [("撤回", rules.status["withdrawn"]), ("不予受理", rules.status["not_accepted"]),
             ("在办", rules.status["open"]), ("办结", rules.status["closed"])]
    compiled = [(label, re.compile(p)) for label, p in order]
    codes, uniq = pd.factorize(values, use_na_sentinel=True)
    out, unknown = [], {}
    for u in uniq:
        text = str(u).strip()
        label = next((lab for lab, rx in compiled if rx.search(text)), None)
        out.append(label)
        if label is None:
            unknown[text] = 0
    mapped = np.array(out + [None], dtype=object)[np.where(codes < 0, len(uniq), codes)]
    result = pd.Series(mapped, index=values.index, dtype="string")
    for text in unknown:
        unknown[text] = int((values == text).sum())
    return result, unknown


def _first_time(mask: np.ndarray, times: pd.Series, case: pd.Series, last: bool = False) -> pd.Series:
    sel = times[mask]
    g = sel.groupby(case[mask].to_numpy())
    return g.max() if last else g.min()


def _pauses(facts: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Clock pauses: case_id, pause_from, pause_to (pause_to NaT = not resumed)."""
    act = facts["activity"]
    lc = rules.lifecycle
    start, end = facts["start"].fillna(facts["end"]), facts["end"].fillna(facts["start"])
    parts = []
    single = str_match(act, _has(lc["special"])) & ~str_match(act, _has(lc["special_start"] + "|" + lc["special_end"]))
    if single.any():
        parts.append(pd.DataFrame({"case_id": facts["case_id"][single], "pause_from": start[single],
                                   "pause_to": end[single]}))
    for open_p, close_p in ((lc["special_start"], lc["special_end"]), (lc["correction_notice"], lc["correction_received"])):
        opens = str_match(act, _has(open_p))
        closes = str_match(act, _has(close_p)) & ~opens
        if not opens.any():
            continue
        left = pd.DataFrame({"case_id": facts["case_id"][opens].astype(str).to_numpy(),
                             "t": end[opens].to_numpy()}).sort_values("t", kind="stable")
        right = pd.DataFrame({"case_id": facts["case_id"][closes].astype(str).to_numpy(),
                              "t": end[closes].to_numpy(), "pause_to": end[closes].to_numpy()}).sort_values("t", kind="stable")
        left = left.dropna(subset=["t"])
        right = right.dropna(subset=["t"])
        if right.empty:
            m = left.assign(pause_to=pd.NaT)
        else:
            m = pd.merge_asof(left, right, on="t", by="case_id", direction="forward", allow_exact_matches=True)
        parts.append(pd.DataFrame({"case_id": m["case_id"], "pause_from": m["t"], "pause_to": m["pause_to"]}))
    if not parts:
        return pd.DataFrame({"case_id": pd.Series([], dtype="string"),
                             "pause_from": pd.Series([], dtype=f"datetime64[ns, {TZ}]"),
                             "pause_to": pd.Series([], dtype=f"datetime64[ns, {TZ}]")})
    out = pd.concat(parts, ignore_index=True)
    out["case_id"] = out["case_id"].astype("string")
    for c in ("pause_from", "pause_to"):
        out[c] = pd.to_datetime(out[c], utc=True).dt.tz_convert(TZ)
    return out


def _paused_days(pauses: pd.DataFrame, lo: pd.Series, hi: pd.Series, calendar: WorkCalendar,
                 calendar_days: bool = False) -> pd.Series:
    """Working days (or calendar days) in the union of each case's pauses, clipped to [lo, hi]."""
    if pauses.empty:
        return pd.Series(0.0, index=lo.index)
    p = pauses.copy()
    p["lo"] = p["case_id"].map(lo)
    p["hi"] = p["case_id"].map(hi)
    p["pause_to"] = p["pause_to"].fillna(p["hi"])
    p["a"] = p[["pause_from", "lo"]].max(axis=1)
    p["b"] = p[["pause_to", "hi"]].min(axis=1)
    p = p[(p["b"] > p["a"]).fillna(False)].sort_values(["case_id", "a"], kind="stable")
    if p.empty:
        return pd.Series(0.0, index=lo.index)
    # union of overlapping intervals per case
    b_run = p.groupby("case_id")["b"].cummax()
    prev = b_run.groupby(p["case_id"]).shift()
    block = (prev.isna() | (p["a"] > prev)).cumsum()
    u = p.assign(block=block.to_numpy()).groupby(["case_id", "block"]).agg(a=("a", "min"), b=("b", "max")).reset_index()
    if calendar_days:
        days = (local_day(u["b"]) - local_day(u["a"])).astype(float)
        days = pd.Series(days, index=u.index)
    else:
        days = calendar.days_between(u["a"], u["b"])
    return days.groupby(u["case_id"]).sum().reindex(lo.index).fillna(0.0)


class Note(str):
    """A note: the English text (what the CLI prints) that also knows its catalogue
    message, so a report can say it in its own language."""

    message: str
    params: dict

    def __new__(cls, message: str, **params) -> "Note":
        from .messages import say

        obj = super().__new__(cls, say(message, "en", **params))
        obj.message, obj.params = message, params
        return obj

    def to_dict(self) -> dict:
        return {"message": self.message, "params": self.params, "text": str(self)}


note = Note


@dataclass
class Measured:
    """Events and cases measured once (what :func:`measure` returns)."""

    facts: pd.DataFrame
    cases: pd.DataFrame
    handovers: pd.DataFrame
    trips_known: pd.Series  # service → bool
    as_of: pd.Timestamp
    calendar: WorkCalendar
    notes: list["Note"]            # str(note) is the English text; .message/.params for the catalogue
    unparsed_limits: pd.DataFrame  # service, text, cases
    unknown_status: dict[str, int]


def measure(log: pd.DataFrame, rules: Rules | str | None = None, *, as_of=None,
            calendar: WorkCalendar | None = None) -> Measured:
    """Measure every event and case of ``log`` by the definitions above."""
    rules = load_rules(rules)
    calendar = calendar or rules.calendar()
    log = sorted_log(log)
    facts = event_facts(log, rules, calendar)
    notes: list[Note] = []
    case = facts["case_id"]
    g = facts.groupby("case_id", sort=True, observed=True)
    idx = g.size().index
    first = g.first()
    service = first["service"]
    lg = log.groupby("case_id", sort=True, observed=True)
    # -- as of
    times = pd.concat([log[c].dropna() for c in ("start_time", "end_time", "accept_time", "finish_time",
                                                 "apply_time", "deliver_time")])
    as_of = _as_of(as_of if as_of is not None else rules.as_of, times)
    # -- milestones from steps
    act = facts["activity"]
    lc = rules.lifecycle
    start, end = facts["start"].fillna(facts["end"]), facts["end"].fillna(facts["start"])
    accept_step = str_match(act, _has(lc["accept"])) & ~str_match(act, _has(lc["not_accept"]))
    apply_step = str_match(act, _has(lc["apply"])) & ~accept_step
    finish_step = str_match(act, _has(lc["finish"]))
    delivery = facts["trip_kind"].isin(["pickup", "remote_delivery"]).to_numpy()
    step_accept = _first_time(accept_step, end, case).reindex(idx)
    step_apply = _first_time(apply_step, start, case).reindex(idx)
    # the decision is taken when its step ends (its only time, when it has one)
    step_finish = _first_time(finish_step, end, case, last=True).reindex(idx)
    step_deliver = _first_time(delivery, end, case, last=True).reindex(idx)
    first_ts = g["ts"].min()
    last_end = pd.concat([g["start"].max(), g["end"].max()], axis=1).max(axis=1)
    last_work = _first_time(~delivery, end, case, last=True).reindex(idx).fillna(last_end)
    col = {c: (lg[c].min() if c in ("apply_time", "accept_time", "due_time") else lg[c].max()).reindex(idx)
           for c in ("apply_time", "accept_time", "finish_time", "deliver_time", "due_time")}
    by_service = lambda mask: mask.groupby(service).transform("any")  # noqa: E731
    svc_accepts = by_service(step_accept.notna() | col["accept_time"].notna())
    svc_finishes = by_service(step_finish.notna() | col["finish_time"].notna())
    no_accept_vocab = sorted(set(service[~svc_accepts].dropna()))
    no_finish_vocab = sorted(set(service[~svc_finishes].dropna()))
    if no_accept_vocab:
        notes.append(note("note.no_accept", services=", ".join(no_accept_vocab)))
    if no_finish_vocab:
        notes.append(note("note.no_finish", services=", ".join(no_finish_vocab)))
    # -- status
    status_raw = lg["status"].last().reindex(idx)
    status, unknown_status = read_status(status_raw, rules)
    if unknown_status:
        notes.append(note("note.status_unknown",
                          values=", ".join(f"{k!r} ({v})" for k, v in sorted(unknown_status.items()))))
    rej = str_match(act, _has(rules.status["not_accepted"]))
    wdr = str_match(act, _has(rules.status["withdrawn"]))
    step_status = pd.Series(pd.NA, index=idx, dtype="string")
    step_status[pd.Series(wdr).groupby(case.to_numpy()).any().reindex(idx).fillna(False).to_numpy()] = "撤回"
    rej_case = pd.Series(rej).groupby(case.to_numpy()).any().reindex(idx).fillna(False).to_numpy()
    step_status[rej_case & step_status.isna().to_numpy()] = "不予受理"
    finish = col["finish_time"].fillna(step_finish)
    has_delivery = pd.Series(delivery).groupby(case.to_numpy()).any().reindex(idx).fillna(False).astype(bool)
    fallback_ok = has_delivery | ~svc_accepts
    finish = finish.where(svc_finishes, last_work.where(fallback_ok))
    status = status.fillna(step_status)
    status = status.fillna(pd.Series(np.where(finish.notna(), "办结", "在办"), index=idx, dtype="string"))
    finish = finish.where(status == "办结")
    accept = col["accept_time"].fillna(step_accept)
    accept = accept.where(svc_accepts, first_ts)
    # decided without a recognisable 受理 (e.g. a truncated export): its first step, counted in the notes
    fallback_accept = accept.isna() & (status == "办结")
    if fallback_accept.any():
        notes.append(note("note.fallback_accept", n=int(fallback_accept.sum())))
    accept = accept.where(~fallback_accept, first_ts)
    accept = accept.where(status != "不予受理")
    apply_t = col["apply_time"].fillna(step_apply).fillna(first_ts)
    deliver = col["deliver_time"].fillna(step_deliver)
    # -- limits
    limits = pd.DataFrame({"sla": lg["sla_days"].max(), "cal": lg["sla_calendar_days"].max(),
                           "stat": lg["statutory_days"].max(), "text": lg["limit_text"].first()}).reindex(idx)
    sla = limits["sla"].astype("Float64")
    if rules.sla_days:
        no_limit = sla.isna() & limits["cal"].isna() & col["due_time"].isna() & limits["text"].isna()
        sla = sla.where(~no_limit, service.map(rules.sla_days).astype("Float64"))
    # -- the clock
    accepted = accept.notna() & status.isin(["办结", "在办"])
    clock_end = finish.where(status == "办结", as_of).where(accepted)
    pauses = _pauses(facts, rules)
    paused = _paused_days(pauses, accept.where(accepted), clock_end, calendar)
    gross = calendar.working_days(accept.where(accepted), clock_end)
    clock = (gross - paused.where(accepted)).clip(lower=0)
    paused_cal = _paused_days(pauses, accept.where(accepted), clock_end, calendar, calendar_days=True)
    cal_clock = pd.Series(np.nan, index=idx)
    ok = accepted & clock_end.notna()
    cal_clock[ok] = (local_day(clock_end[ok]) - local_day(accept[ok])) - paused_cal[ok]
    # -- outcome
    sla_f = sla.astype(float)
    cal_f = limits["cal"].astype(float)
    due = col["due_time"]
    over = pd.Series(np.where(sla_f.notna(), clock > sla_f,
                     np.where(cal_f.notna(), cal_clock > cal_f,
                              np.where(due.notna() & clock_end.notna(),
                                       _day(clock_end) > _day(due), np.nan))), index=idx)
    has_limit = sla_f.notna() | cal_f.notna() | (due.notna() & clock_end.notna())
    instant = sla_f == 0
    same_day = pd.Series(False, index=idx)
    same_day[ok] = local_day(clock_end[ok]) == local_day(accept[ok])
    over = over.where(~instant, ~same_day)
    early = pd.Series(np.where(sla_f.notna(), clock < sla_f, np.where(cal_f.notna(), cal_clock < cal_f,
                               np.where(due.notna() & clock_end.notna(), _day(clock_end) < _day(due), False))),
                      index=idx) & ~instant
    left = pd.Series(np.where(sla_f.notna(), sla_f - clock, np.where(cal_f.notna(), cal_f - cal_clock, np.nan)),
                     index=idx)
    if (due.notna() & sla_f.isna() & cal_f.isna()).any():
        dl = calendar.days_between(as_of_series(as_of, idx), due) if due.notna().any() else None
        left = left.fillna(dl)
    decided = status == "办结"
    open_ = status == "在办"
    outcome = np.select(
        [status == "撤回", status == "不予受理", open_ & ~accepted, open_ & (over == 1) & has_limit, open_,
         decided & ~has_limit, decided & instant & ~(over == 1), decided & (over == 1), decided & early,
         decided],
        ["撤回", "未受理", "在办", "超期在办", "在办", "办结", "即办", "超期", "提前", "按时"], default="在办")
    due_soon = open_ & accepted & has_limit & (over != 1) & (left <= rules.warn_days)
    # -- visits, documents, times
    known = trips_known_by_service(facts)
    visits = visits_per_case(facts, rules.same_visit_gap_hours).reindex(idx).fillna(0).astype("Int64")
    svc_known = service.fillna("").map(known).fillna(False).astype(bool)
    visits = visits.where(svc_known.to_numpy(), pd.NA)
    hand = material_handovers(facts, rules)
    submitted = hand.groupby("case_id").size()
    distinct = hand.groupby("case_id")["material"].nunique()
    lead_end = deliver.fillna(last_end)
    out = pd.DataFrame({
        "service": service,
        "events": g.size(),
        "departments": g["department"].nunique().where(g["department"].count() > 0).astype("Int64"),
        "visits": visits,
        "materials_submitted": submitted.reindex(idx, fill_value=0).astype("int64"),
        "distinct_materials": distinct.reindex(idx, fill_value=0).astype("int64"),
    })
    out["repeated_material_submissions"] = out["materials_submitted"] - out["distinct_materials"]
    out["apply_time"] = apply_t
    out["accept_time"] = accept
    out["finish_time"] = finish
    out["deliver_time"] = deliver
    out["status"] = status.astype("string")
    out["clock_days"] = clock.where(accepted)
    out["paused_days"] = paused.where(accepted)
    out["sla_days"] = sla
    out["sla_calendar_days"] = limits["cal"].astype("Float64")
    out["statutory_days"] = limits["stat"].astype("Float64")
    out["limit_text"] = limits["text"].astype("string")
    out["outcome"] = pd.Series(outcome, index=idx, dtype="string")
    out["due_soon"] = due_soon.astype(bool)
    out["days_left"] = left.where(open_ & accepted & has_limit)
    out["lead_hours"] = _hours(lead_end - apply_t).round(3)
    out["lead_days"] = calendar.working_days(apply_t, lead_end)
    out["waiting_hours"] = g["wait_hours"].sum(min_count=1).round(3)
    out["waiting_work_hours"] = g["wait_work_hours"].sum(min_count=1).round(3)
    out["service_hours"] = g["service_hours"].sum(min_count=1).round(3)
    out["service_work_hours"] = g["service_work_hours"].sum(min_count=1).round(3)
    out["case_start"] = pd.concat([g["start"].min(), g["end"].min()], axis=1).min(axis=1)
    out["case_end"] = last_end
    out.index.name = "case_id"
    cases = out.reset_index()
    unparsed = (cases[cases["limit_text"].notna()].groupby(["service", "limit_text"]).size()
                .rename("cases").reset_index().rename(columns={"limit_text": "text"}))
    if calendar.note:
        notes.append(calendar.note)
    return Measured(facts, cases, hand, known, as_of, calendar, notes, unparsed, unknown_status)


def _day(ts: pd.Series) -> np.ndarray:
    out = np.full(len(ts), np.iinfo(np.int64).min)
    ok = ts.notna().to_numpy()
    out[ok] = local_day(ts[ok])
    return out


def as_of_series(as_of: pd.Timestamp, index) -> pd.Series:
    return pd.Series(as_of, index=index)


def _as_of(value, times: pd.Series) -> pd.Timestamp:
    if value is None or value == "":
        if times.empty:
            return pd.Timestamp.now(tz=TZ).floor("s")
        return pd.Timestamp(times.max()).tz_convert(TZ)
    from .errors import UsageError

    try:
        ts = pd.Timestamp(str(value))
    except ValueError:
        raise UsageError(f"--as-of must be a date like 2024-07-01, not {value!r}") from None
    if ts.tzinfo is None:
        ts = ts.tz_localize(TZ)
        if ts == ts.normalize() and len(str(value)) <= 10:
            ts = ts + pd.Timedelta(hours=23, minutes=59, seconds=59)  # a date: as of the end of that day
    return ts.tz_convert(TZ)


def case_metrics(log: pd.DataFrame, rules: Rules | str | None = None, *, as_of=None) -> pd.DataFrame:
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
    return measure(log, rules, as_of=as_of).cases


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
    return {
        "zero_trip_rate": rate(v.eq(0).where(v.notna())),                # 跑零次率
        "at_most_once_rate": rate(v.le(1).where(v.notna())),             # 最多跑一次率
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
