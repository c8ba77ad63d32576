"""Per-event facts and per-case metrics: the one definition `cases` and `audit` share.

Definitions (documented in the README):

- **trip (跑动)**: an event where the applicant came in person. The export's
  是否到场 value decides when present; otherwise the step name and channel do,
  by the patterns in the rules: a pick-up at a window, a correction handed in
  (unless the channel is online), and the case's *first* intake step (unless
  online). Staff travel (现场核查/勘验) is never the applicant's trip; post and
  e-delivery are not trips. Several trips on the same calendar day count once.
- **visits**: the number of distinct days with a trip.
- **waiting**: from the end (else start) of the previous step to the start
  (else end) of this one, within a case, never negative; **service**: end − start.
- **working days**: case start to case end on the Chinese calendar
  (see :class:`procmine.workdays.WorkCalendar`).
- **materials**: documents handed over, compared after normalisation through the
  e-licence catalogue (身份证 → 居民身份证); a repeated submission is a second or
  later hand-over of the same document in a case.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .parsing import str_match
from .rules import Rules, load_rules
from .workdays import WorkCalendar

def _hours(delta: pd.Series) -> pd.Series:
    return delta.dt.total_seconds() / 3600.0


def local_day(ts: pd.Series) -> np.ndarray:
    """Calendar day (Shanghai) as an integer day number, for fast grouping."""
    return ts.dt.tz_localize(None).to_numpy(dtype="datetime64[D]").astype(np.int64)


def sorted_log(log: pd.DataFrame) -> pd.DataFrame:
    """The log in case/time order (a copy; the caller's frame is not touched)."""
    ts = log["start_time"].fillna(log["end_time"]).to_numpy(dtype="datetime64[ns]").view("int64")
    end = log["end_time"].fillna(log["start_time"]).to_numpy(dtype="datetime64[ns]").view("int64")
    codes, _ = pd.factorize(log["case_id"], sort=True)
    order = np.lexsort((np.arange(len(log)), end, ts, codes))
    return log.iloc[order].reset_index(drop=True)


def event_facts(log: pd.DataFrame, rules: Rules | None = None) -> pd.DataFrame:
    """One row per event (sorted) with: ``case_id, service, activity, department,
    start, end, ts, pos`` (position in case), ``trip``, ``trip_kind``, ``wait_hours``,
    ``service_hours``."""
    rules = rules or load_rules()
    log = sorted_log(log)
    case = log["case_id"]
    start, end = log["start_time"], log["end_time"]
    ts = start.fillna(end)
    first_in_case = (case != case.shift()).fillna(True).to_numpy(dtype=bool)
    act = log["activity"].astype("string")
    chan = log["channel"].astype("string")
    staff = str_match(act, f".*(?:{rules.staff_travel})")
    remote = str_match(act, f".*(?:{rules.remote_delivery})")
    pickup = str_match(act, f".*(?:{rules.pickup})") & ~remote
    correction = str_match(act, f".*(?:{rules.correction})") & ~pickup
    intake = str_match(act, f".*(?:{rules.intake})") & ~correction & ~pickup & ~remote & ~staff
    online = str_match(chan, f".*(?:{rules.online_channel})")
    # the first intake-type step of each case is the intake; later ones are back-office
    intake_rank = pd.Series(intake.astype(np.int64)).groupby(case.to_numpy()).cumsum().to_numpy()
    first_intake = intake & (intake_rank == 1)
    inferred = pickup | (correction & ~online) | (first_intake & ~online)
    inferred &= ~staff & ~remote
    known = log["in_person"].notna().to_numpy()
    stated = log["in_person"].fillna(False).to_numpy(dtype=bool)
    trip = np.where(known, stated & ~staff, inferred)
    kind = np.select([staff, pickup, correction, first_intake, remote], ["staff_travel", "pickup", "correction",
                                                                         "intake", "remote_delivery"], "other")
    prev_end = end.fillna(start).shift()
    wait = _hours(ts - prev_end)
    wait = wait.where(~first_in_case, np.nan).clip(lower=0)
    service = _hours(end - start)
    return pd.DataFrame({
        "case_id": case, "service": log["service"], "activity": act, "department": log["department"],
        "start": start, "end": end, "ts": ts,
        "pos": pd.Series(np.ones(len(log), dtype=np.int64)).groupby(case.to_numpy()).cumsum().to_numpy() - 1,
        "trip": trip, "trip_kind": kind, "wait_hours": wait.to_numpy(), "service_hours": service.to_numpy(),
        "materials": log["materials"], "sla_days": log["sla_days"],
    })


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


def case_metrics(log: pd.DataFrame, rules: Rules | str | None = None, *, facts: pd.DataFrame | None = None,
                 calendar: WorkCalendar | None = None, handovers: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-case metrics: ``case_id, service, events, departments, visits,
    materials_submitted, distinct_materials, repeated_material_submissions,
    lead_hours, working_days, waiting_hours, service_hours, sla_days, over_sla``.

    >>> m = case_metrics(procmine.read_log("out/log.parquet"))   # doctest: +SKIP
    >>> (m.visits <= 1).mean()                                    # 最多跑一次率  # doctest: +SKIP
    """
    rules = load_rules(rules)
    facts = event_facts(log, rules) if facts is None else facts
    calendar = calendar or WorkCalendar(rules.first_day)
    g = facts.groupby("case_id", sort=True, observed=True)
    first = g.first()
    trips = facts.loc[facts["trip"], ["case_id", "ts"]]
    trip_days = trips.assign(day=local_day(trips["ts"])).drop_duplicates(["case_id", "day"])
    visits = trip_days.groupby("case_id").size()
    hand = material_handovers(facts, rules) if handovers is None else handovers
    submitted = hand.groupby("case_id").size()
    distinct = hand.groupby("case_id")["material"].nunique()
    starts = pd.concat([g["start"].min(), g["end"].min()], axis=1).min(axis=1)
    ends = pd.concat([g["start"].max(), g["end"].max()], axis=1).max(axis=1)
    sla = g["sla_days"].max().astype("Float64")
    if rules.sla_days:
        from_rules = first["service"].map(rules.sla_days).astype("Float64")
        sla = sla.fillna(from_rules)
    out = pd.DataFrame({
        "service": first["service"],
        "events": g.size(),
        "departments": g["department"].nunique(),
        "visits": visits.reindex(first.index, fill_value=0).astype("int64"),
        "materials_submitted": submitted.reindex(first.index, fill_value=0).astype("int64"),
        "distinct_materials": distinct.reindex(first.index, fill_value=0).astype("int64"),
    })
    out["repeated_material_submissions"] = out["materials_submitted"] - out["distinct_materials"]
    out["lead_hours"] = _hours(ends - starts).round(3)
    out["working_days"] = calendar.working_days(starts, ends)
    out["waiting_hours"] = g["wait_hours"].sum(min_count=1).round(3)
    out["service_hours"] = g["service_hours"].sum(min_count=1).round(3)
    out["sla_days"] = sla
    out["over_sla"] = (out["working_days"] > out["sla_days"]).astype("boolean").where(out["sla_days"].notna())
    out["case_start"] = starts
    out["case_end"] = ends
    out.index.name = "case_id"
    return out.reset_index()
