"""Card history: the 红牌/黄牌 of each supervised day, kept, so a card has a past.

Each ``monitor`` run records the cards of its as-of date (:func:`record_day`) in
a history store, a Delta table: inside an appended dataset (``DIR/_cards/``),
else beside the log (``NAME.cards/``). A run replaces what an earlier run of the
same day recorded (one atomic commit), so re-running a day gives the same
history. A card that was open at the previous run and is not now is recorded
as closed that day, with the reason the case table gives (decided, withdrawn,
or still open but no longer near its limit: paused or extended).

:func:`card_history` reads the store as of a day: the cards raised that day,
those escalated (yellow → red), those red for at least ``long_days`` working
days, those closed, and per holding department the median working days from
card to decision. Nothing here re-derives a case fact: levels, departments,
statuses and finish times are those of ``monitor`` and the case table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..log.deltalog import is_delta
from ..errors import InputError, OutputError
from ..log.eventlog import TZ

LEVELS = {"红牌": "red", "黄牌": "yellow"}
CARD_STATES = ("red", "yellow", "paused")  # paused: its case in a §45 pause (the case table's in_pause)
COLUMNS = {"as_of": "string", "case_id": "string", "level": "string", "service": "string", "department": "string",
           "resource": "string", "activity": "string", "accept_time": "datetime64[us, UTC]", "clock_days": "float64",
           "sla_days": "float64", "days_over": "float64", "days_left": "float64", "status": "string",
           "finish_time": "datetime64[us, UTC]", "reason": "string"}
HISTORY_LABELS = {"case_id": "办件编号", "level": "级别", "service": "事项", "department": "承办部门",
                  "raised": "首次亮牌", "red_since": "红牌起始", "red_days": "红牌工作日", "closed": "销牌日期",
                  "reason": "销牌原因", "finish_time": "办结时间", "card_days": "亮牌至办结工作日",
                  "cards": "已办结卡数", "median_days": "中位工作日", "days_over": "超期工作日"}


def store_for(log: str | Path) -> Path:
    """Where the cards of a log are kept: ``DIR/_cards`` in a dataset built by
    appends, else ``NAME.cards`` beside the log (file or directory)."""
    log = Path(log)
    if is_delta(log):
        return log / "_cards"
    name = log.name.split(".")[0] if log.name else "log"
    return log.with_name(name + ".cards")


def _day(value) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def _read(store: Path) -> pd.DataFrame:
    if not is_delta(store):
        return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in COLUMNS.items()})
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..log.deltalog import open_table, plain_schema

    # the current files read directly (not deltalake's pyarrow dataset, which may abort at exit: delta-rs #2184)
    files = sorted(u.removeprefix("file://") for u in open_table(store).file_uris())
    schema = plain_schema(pq.read_schema(f) for f in files)
    frame = pa.concat_tables([pq.read_table(f).cast(pa.schema([schema.field(n) for n in pq.read_schema(f).names]))
                              for f in files], promote_options="default").to_pandas() if files else \
        pd.DataFrame(columns=list(COLUMNS))
    for c, t in COLUMNS.items():
        if c not in frame:
            frame[c] = pd.Series(pd.NA, index=frame.index, dtype="string" if t == "string" else "float64")
    return frame[list(COLUMNS)]


def record_day(store: str | Path, alerts: pd.DataFrame, cases: pd.DataFrame, as_of) -> pd.DataFrame:
    """Record the red and yellow cards of ``as_of`` (monitor's alerts) and the cards
    closed since the previous recorded run (their reason from ``cases``, the case
    table of the same run). Returns the rows recorded for the day."""
    store = Path(store)
    day = _day(as_of)
    past = _read(store)
    cards = alerts[alerts["level"].isin(list(LEVELS))]
    status = cases.set_index("case_id")
    now = pd.DataFrame({
        "as_of": day, "case_id": cards["case_id"].astype(str).to_numpy(),
        "level": cards["level"].map(LEVELS).to_numpy(), "service": cards["service"].to_numpy(),
        "department": cards["department"].to_numpy(), "resource": cards["resource"].to_numpy(),
        "activity": cards["activity"].to_numpy(), "accept_time": pd.to_datetime(cards["accept_time"], utc=True).to_numpy(),
        "clock_days": cards["clock_days"].astype(float).to_numpy(), "sla_days": cards["sla_days"].astype(float).to_numpy(),
        "days_over": pd.to_numeric(cards["days_over"], errors="coerce").to_numpy(dtype=float),
        "days_left": pd.to_numeric(cards["days_left"], errors="coerce").to_numpy(dtype=float)})
    now["status"] = now["case_id"].map(status["status"]).astype("string") if len(now) else pd.Series(dtype="string")
    now["finish_time"] = pd.NaT
    now["reason"] = pd.NA
    in_pause = set(cases.loc[cases["in_pause"].fillna(False).astype(bool), "case_id"].astype(str)) \
        if "in_pause" in cases else set()
    now.loc[now["case_id"].isin(in_pause), "level"] = "paused"  # shown as paused, not escalated
    runs = sorted(d for d in past.loc[past["level"] == "run", "as_of"].dropna().unique() if d < day)
    closed = pd.DataFrame()
    if runs:
        before = past[(past["as_of"] == runs[-1]) & past["level"].isin(list(CARD_STATES))]
        gone = before[~before["case_id"].isin(now["case_id"])]
        # a card whose case went into a §45 pause stays, paused (its clock stopped: no longer near its limit)
        held = gone[gone["case_id"].isin(in_pause)]
        gone = gone[~gone["case_id"].isin(in_pause)]
        if len(held):
            now = pd.concat([now, held.assign(as_of=day, level="paused",
                                              status=held["case_id"].map(status["status"]).astype("string"))],
                            ignore_index=True)
        if len(gone):
            st = status.reindex(gone["case_id"])
            reason = np.where(st["status"].eq("办结").fillna(False), "办结",
                              np.where(st["status"].eq("在办").fillna(False), "在办（暂停、延期或不再临期）",
                                       st["status"].fillna("不在本次数据中").astype(str)))
            closed = gone.assign(as_of=day, level="closed", status=st["status"].astype("string").to_numpy(),
                                 finish_time=pd.to_datetime(st["finish_time"], utc=True).to_numpy(), reason=reason)
    run = pd.DataFrame({"as_of": [day], "level": ["run"]})
    rows = pd.concat([x for x in (now, closed, run) if len(x)], ignore_index=True)
    rows = rows.reindex(columns=list(COLUMNS))
    for c, t in COLUMNS.items():
        rows[c] = rows[c].astype(t) if t != "datetime64[us, UTC]" else pd.to_datetime(rows[c], utc=True).astype(t)
    _write(store, rows, day)
    return rows


def _write(store: Path, rows: pd.DataFrame, day: str) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake
    from deltalake.exceptions import DeltaError

    table = pa.Table.from_pandas(rows, preserve_index=False).replace_schema_metadata(None)
    table = table.cast(pa.schema([pa.field(f.name, pa.string()) if pa.types.is_null(f.type) or
                                  pa.types.is_large_string(f.type) else f for f in table.schema]))
    try:
        if not is_delta(store):
            store.mkdir(parents=True, exist_ok=True)
            write_deltalake(str(store), table, mode="error")
        else:  # the day's rows replaced in one commit: a re-run gives the same history
            write_deltalake(str(store), table, mode="overwrite", predicate=f"as_of = '{day}'")
    except (DeltaError, OSError) as exc:
        raise OutputError(f"cannot record the cards of {day} in {store}: {str(exc).splitlines()[0]}",
                          hint="give a folder you can write to: procmine monitor LOG --cards DIR") from None


@dataclass
class CardHistory:
    """The card history as of a day (each table one row per card)."""

    as_of: str
    previous: str | None        # the run before it
    new: pd.DataFrame           # raised at this run
    escalated: pd.DataFrame     # red now, yellow at the previous run
    paused: pd.DataFrame        # its case in a §45 pause at this run
    long_open: pd.DataFrame     # red for at least long_days working days
    closed: pd.DataFrame        # closed at this run
    by_department: pd.DataFrame  # holding department, decided cards, median working days card → decision
    long_days: int
    runs: int

    def sheets(self) -> dict[str, pd.DataFrame]:
        return {"新亮牌": self.new, "黄转红": self.escalated, f"红牌≥{self.long_days}日": self.long_open,
                "暂停（§45）": self.paused, "已销牌": self.closed,
                "部门响应": self.by_department}

    def to_dict(self) -> dict:
        def rows(frame):
            out = frame.astype(object).where(frame.notna(), None)
            return [{k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in r.items()}
                    for r in out.to_dict(orient="records")]

        return {"as_of": self.as_of, "previous_run": self.previous, "runs": self.runs, "long_days": self.long_days,
                "new": rows(self.new), "escalated": rows(self.escalated), "long_open": rows(self.long_open),
                "paused": rows(self.paused),
                "closed": rows(self.closed), "by_department": rows(self.by_department)}


def card_history(store: str | Path, calendar, as_of=None, long_days: int = 10) -> CardHistory:
    """The history of the cards in ``store`` as of ``as_of`` (default: the latest
    run), counting working days on ``calendar`` (a :class:`procmine.calendar.workdays.WorkCalendar`)."""
    store = Path(store)
    past = _read(store)
    runs = sorted(past.loc[past["level"] == "run", "as_of"].dropna().unique())
    if not runs:
        raise InputError(f"no cards recorded in {store}", hint="run procmine monitor LOG first (each run records)")
    day = _day(as_of) if as_of is not None else runs[-1]
    runs = [d for d in runs if d <= day]
    if not runs or runs[-1] != day:
        raise InputError(f"no monitor run recorded for {day} in {store}",
                         hint=f"recorded runs: {', '.join(sorted(past.loc[past['level'] == 'run', 'as_of']))}")
    past = past[past["as_of"] <= day]
    cards = past[past["level"].isin(list(CARD_STATES))]
    closes = past[past["level"] == "closed"]
    previous = runs[-2] if len(runs) > 1 else None
    today = cards[cards["as_of"] == day].set_index("case_id")
    before = cards[cards["as_of"] == previous].set_index("case_id") if previous else today.iloc[0:0]

    # a card's episode: from the first run it was seen after its last closing
    def raised(case: str, upto: str) -> str:
        last_close = closes.loc[(closes["case_id"] == case) & (closes["as_of"] < upto), "as_of"]
        since = last_close.max() if len(last_close) else ""
        seen = cards.loc[(cards["case_id"] == case) & (cards["as_of"] > since) & (cards["as_of"] <= upto), "as_of"]
        return seen.min()

    def red_since(case: str) -> str:
        red_runs = set(cards.loc[(cards["case_id"] == case) & (cards["level"] == "red"), "as_of"])
        start = day
        for d in reversed(runs):
            if d not in red_runs:
                break
            start = d
        return start

    base = ["case_id", "level", "service", "department"]
    new = today[~today.index.isin(before.index)].reset_index()[base + ["days_over", "days_left"]]
    new.insert(4, "raised", day)
    esc = today[(today["level"] == "red") & today.index.isin(before.index[before["level"] == "yellow"])]
    escalated = esc.reset_index()[base + ["days_over"]]
    escalated["raised"] = [raised(c, day) for c in escalated["case_id"]]
    paused = today[today["level"] == "paused"].reset_index()[base]
    paused["raised"] = [raised(c, day) for c in paused["case_id"]]
    red = today[today["level"] == "red"].reset_index()
    red["red_since"] = [red_since(c) for c in red["case_id"]]
    red["red_days"] = _days(calendar, red["red_since"], pd.Series(day, index=red.index))
    long_open = red[red["red_days"] >= long_days][base + ["red_since", "red_days", "days_over"]].reset_index(drop=True)
    closed = _closed(closes, cards, raised, calendar)
    closed_today = closed[closed["closed"] == day].reset_index(drop=True)
    decided = closed[closed["reason"] == "办结"]
    by_dept = (decided.assign(department=decided["department"].fillna("（未注明部门）"))
               .groupby("department", sort=True)["card_days"].agg(cards="count", median_days="median").reset_index()
               if len(decided) else pd.DataFrame({"department": [], "cards": [], "median_days": []}))
    return CardHistory(day, previous, new, escalated.reset_index(drop=True), paused, long_open, closed_today,
                       by_dept, long_days, len(runs))


def _closed(closes: pd.DataFrame, cards: pd.DataFrame, raised, calendar) -> pd.DataFrame:
    """Every closing: the card's level and holding department at its last run, when it
    was raised, and the working days from then to the decision."""
    if closes.empty:
        return pd.DataFrame({c: [] for c in ("case_id", "level", "service", "department", "raised", "closed", "reason",
                                             "finish_time", "card_days")})
    out = closes.rename(columns={"as_of": "closed"}).reset_index(drop=True)
    last = cards.sort_values("as_of", kind="stable")
    out["level"] = [last.loc[(last["case_id"] == c) & (last["as_of"] < d), "level"].iloc[-1]
                    for c, d in zip(out["case_id"], out["closed"])]
    out["raised"] = [raised(c, d) for c, d in zip(out["case_id"], out["closed"])]
    decision = out["finish_time"].dt.tz_convert(TZ).dt.strftime("%Y-%m-%d")
    out["card_days"] = _days(calendar, out["raised"], decision).where(out["reason"] == "办结")
    out["finish_time"] = out["finish_time"].dt.tz_convert(TZ)
    return out[["case_id", "level", "service", "department", "raised", "closed", "reason", "finish_time",
                "card_days"]]


def _days(calendar, start: pd.Series, end: pd.Series) -> pd.Series:
    """Working days in (start day, end day] (dates as YYYY-MM-DD text)."""
    if len(start) == 0:
        return pd.Series([], dtype=float)
    s = pd.to_datetime(start, errors="coerce").dt.tz_localize(TZ)
    e = pd.to_datetime(end, errors="coerce").dt.tz_localize(TZ)
    from ..engine.workcal import days_between

    return days_between(calendar, s, e).set_axis(start.index)
