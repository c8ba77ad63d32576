"""Reengineering: replay the real cases under a plan, and draft plans from the audit.

A plan (YAML)::

    name: 企业开办一件事 优化方案
    service: 企业开办一件事          # optional: the plan touches only this service
    changes:
      - remove: 审核签发                         # drop a step: its wait and its work
      - merge: [初审, 复审]                      # consecutive steps become one (the wait between them goes)
        into: 审查
      - parallel: [印章刻制, 社保登记]            # run together: the block takes its longest branch
      - share: [居民身份证, 营业执照]            # documents from e-licences / shared data: not handed over
      - online: [申请受理]                       # intake online: not a trip
      - deliver: [窗口领取营业执照]              # post / e-delivery instead of pick-up: not a trip
      - cap_wait: {department: 公积金中心, hours: 24}   # or {activity: …}
      - bundle: {services: [设立登记, 社保开户], by: 申请人, as: 企业开办一件事}
        # 一件事: cases of these services with the same applicant (column `by`)
        # become one matter — one intake, each document once, one result,
        # the services' work running side by side from the common intake

Every real case is replayed: its observed waiting and service times are kept,
removed steps drop out, parallel blocks take the longest branch, trips and
documents are recounted, and working days are recomputed on the Chinese
calendar from the case's real start.
"""

from __future__ import annotations

import difflib
import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..errors import ConfigError
from ..config import read_config_text, unknown_key_error
from ..engine.metrics import event_facts, matter_days, measure, sorted_log
from ..rules import Rules, load_rules

CHANGE_KEYS = ("remove", "merge", "parallel", "share", "online", "deliver", "cap_wait", "bundle")
PLAN_KEYS = ("name", "service", "changes")
CHANGE_FIELDS = {"merge": ("into",)}  # a change's keys beside its kind
CHANGE_SPECS = {"cap_wait": ("department", "activity", "hours"), "bundle": ("services", "by", "as")}


def _known_keys(fields: dict, known, where: str) -> None:
    """A plan's keys are the ones it defines: a misspelt one is an error naming the nearest, never ignored."""
    for key in fields:
        if key not in known:
            raise unknown_key_error(key, known, where)


@dataclass
class Change:
    kind: str
    names: list[str]
    line: int
    into: str | None = None
    department: str | None = None
    hours: float | None = None
    by: str | None = None


@dataclass
class Plan:
    name: str
    service: str | None
    changes: list[Change]


@dataclass
class RedesignResult:
    plan: str
    table: pd.DataFrame  # service, measure, before, after, change, change_pct
    still_failing: pd.DataFrame  # case_id, service, visits_after, working_days_after, sla_days, reasons
    per_case: pd.DataFrame

    def to_dict(self) -> dict:
        rows = [{k: (None if isinstance(v, float) and not np.isfinite(v) else (round(v, 3) if isinstance(v, float) else v))
                 for k, v in r.items()} for r in self.table.to_dict(orient="records")]
        fail = self.still_failing.head(200)
        return {"plan": self.plan, "四减": rows,
                "still_failing": {"cases": int(len(self.still_failing)),
                                  "examples": [{"case_id": r.case_id, "service": r.service, "reasons": r.reasons}
                                               for r in fail.itertuples(index=False)]}}


def _names(node: yaml.Node) -> list[str]:
    if isinstance(node, yaml.ScalarNode):
        return [str(node.value)]
    if isinstance(node, yaml.SequenceNode):
        return [str(n.value) for n in node.value if isinstance(n, yaml.ScalarNode)]
    return []


def load_plan(path: str | Path) -> Plan:
    """Read a plan; errors name the line."""
    path = Path(path)
    text = read_config_text(path, "plan")
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"{path}, line {mark.line + 1 if mark else '?'}: not valid YAML "
                          f"({getattr(exc, 'problem', None) or exc})",
                          hint="quote names that contain ': ', ' #' or start with - * & ! | > ' \" % @ `") from None
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}: a plan is a mapping with 'changes:' (see templates/plans/)")
    top = {str(k.value): v for k, v in root.value}
    _known_keys(top, PLAN_KEYS, f"{path}, line {root.start_mark.line + 1}")
    if "changes" not in top or not isinstance(top["changes"], yaml.SequenceNode):
        raise ConfigError(f"{path}: no 'changes:' list")
    changes = []
    for item in top["changes"].value:
        line = item.start_mark.line + 1
        if not isinstance(item, yaml.MappingNode):
            raise ConfigError(f"{path}, line {line}: a change is a mapping such as 'remove: 审核签发'")
        fields = {str(k.value): v for k, v in item.value}
        kind = next((k for k in CHANGE_KEYS if k in fields), None)
        if kind is None:
            raise unknown_key_error(next(iter(fields), ""), CHANGE_KEYS, f"{path}, line {line}", what="change")
        others = [k for k in CHANGE_KEYS if k in fields and k != kind]
        if others:
            raise ConfigError(f"{path}, line {line}: one change per item, not {kind} and {others[0]}",
                              hint=f"write '- {others[0]}: …' as an item of its own")
        _known_keys(fields, {kind, *CHANGE_FIELDS.get(kind, ())}, f"{path}, line {line}")
        if kind in CHANGE_SPECS and isinstance(fields[kind], yaml.MappingNode):
            _known_keys({str(k.value): v for k, v in fields[kind].value}, CHANGE_SPECS[kind],
                        f"{path}, line {line}: {kind}")
        if kind == "bundle":
            spec = {str(k.value): v for k, v in fields["bundle"].value} if isinstance(fields["bundle"], yaml.MappingNode) else {}
            services = _names(spec["services"]) if "services" in spec else []
            if len(services) < 2 or "by" not in spec or "as" not in spec:
                raise ConfigError(f"{path}, line {line}: bundle needs services (two or more), by (the applicant "
                                 "column) and as (the name of the matter)")
            changes.append(Change("bundle", services, line, into=str(spec["as"].value), by=str(spec["by"].value)))
            continue
        if kind == "cap_wait":
            spec = {str(k.value): str(v.value) for k, v in fields["cap_wait"].value} \
                if isinstance(fields["cap_wait"], yaml.MappingNode) else {}
            if "hours" not in spec or not ({"department", "activity"} & spec.keys()):
                raise ConfigError(f"{path}, line {line}: cap_wait needs hours and a department or activity")
            try:
                hours = float(spec["hours"])
            except ValueError:
                raise ConfigError(f"{path}, line {line}: cap_wait hours must be a number") from None
            changes.append(Change("cap_wait", [spec.get("activity", "")] if "activity" in spec else [], line,
                                  department=spec.get("department"), hours=hours))
            continue
        names = _names(fields[kind])
        if not names:
            raise ConfigError(f"{path}, line {line}: '{kind}' needs a name or a list of names")
        if kind in ("merge", "parallel") and len(names) < 2:
            raise ConfigError(f"{path}, line {line}: '{kind}' needs at least two steps")
        into = str(fields["into"].value) if "into" in fields else (names[0] if kind == "merge" else None)
        changes.append(Change(kind, names, line, into=into))
    service = str(top["service"].value) if "service" in top else None
    name = str(top["name"].value) if "name" in top else path.stem
    return Plan(name, service, changes)


def _check(plan: Plan, log: pd.DataFrame, rules: Rules, path: str) -> None:
    acts = set(map(str, log["activity"].dropna().unique()))  # distinct values, not a Python object per row
    depts = set(map(str, log["department"].dropna().unique()))
    names = _document_names(log["materials"])  # each distinct name normalised once
    docs = {rules.catalogue.normalize(m) for m in names}
    if plan.service and plan.service not in set(log["service"].dropna().unique()):
        raise ConfigError(f"{path}: the plan's service {plan.service!r} is not in the log",
                         hint="services: " + ", ".join(sorted(map(str, log["service"].dropna().unique()))))

    def missing(name: str, pool: set[str], what: str, line: int) -> None:
        near = difflib.get_close_matches(name, sorted(pool), n=3, cutoff=0.3)
        raise ConfigError(f"{path}, line {line}: no {what} called {name!r} in the log",
                         hint=(f"did you mean: {', '.join(near)}\n" if near else "") +
                         f"{what}s in the log: {', '.join(sorted(pool)[:30])}")

    touched: dict[str, tuple[str, int]] = {}
    services = set(map(str, log["service"].dropna().unique()))
    for ch in plan.changes:
        if ch.kind == "bundle":
            for name in ch.names:
                if name not in services:
                    missing(name, services, "service", ch.line)
            if ch.by not in log.columns:
                missing(ch.by, {c for c in log.columns if c not in ("materials",)}, "column", ch.line)
            continue
        if ch.kind == "share":
            for d in ch.names:
                if rules.catalogue.normalize(d) not in docs:
                    missing(d, docs, "document", ch.line)
            continue
        if ch.kind == "cap_wait":
            if ch.department and ch.department not in depts:
                missing(ch.department, depts, "department", ch.line)
            for a in ch.names:
                if a not in acts:
                    missing(a, acts, "step", ch.line)
            continue
        for a in ch.names:
            if a not in acts:
                missing(a, acts, "step", ch.line)
            if ch.kind in ("remove", "merge", "parallel"):
                if a in touched and touched[a][0] != ch.kind:
                    raise ConfigError(f"{path}, line {ch.line}: {a!r} is already under '{touched[a][0]}' "
                                     f"(line {touched[a][1]}); a step cannot be both {touched[a][0]} and {ch.kind}")
                touched[a] = (ch.kind, ch.line)
        if ch.kind == "merge" and ch.into:
            acts.add(ch.into)  # later changes may name the merged step


def _document_names(values: pd.Series) -> set[str]:
    """The distinct document names of a materials column."""
    import pyarrow.compute as pc

    return {str(x) for x in pc.unique(_Documents(values).values).to_pylist() if x is not None}


def _hours_ns(h: np.ndarray) -> np.ndarray:
    return np.round(np.nan_to_num(h, nan=0.0) * 3600e9).astype(np.int64)


def replay(log: pd.DataFrame, plan: Plan, rules: Rules, facts: pd.DataFrame | None = None
           ) -> tuple[pd.DataFrame, pd.Series]:
    """The log as it would have run under ``plan`` (a new frame; ``log`` is untouched), and
    each case's unit (itself, or its 一件事 instance after a ``bundle``).

    Observed waiting and service times are kept. A removed step's wait and work go
    and later steps move up; a merged step loses the wait between its parts; a
    capped wait is shortened; a parallel block (consecutive once removals are
    applied) takes its longest branch; shared documents are not handed over and a
    removed step's documents are collected at the intake; online/deliver steps are
    no trips. Case-level milestones move with the steps before them. Cases outside
    the plan are copied unchanged. ``facts``: the log's per-event facts when already
    measured (:func:`procmine.engine.metrics.measure` gives them in the same case/event order
    as ``sorted_log``), else measured here."""
    base = sorted_log(log)
    cal = rules.calendar()
    facts = facts if facts is not None else event_facts(base, rules, cal)
    if len(facts) != len(base):
        facts = event_facts(base, rules, cal)
    n = len(base)
    case = base["case_id"].astype(str).to_numpy()
    act = base["activity"].astype(str).to_numpy()
    scope = (base["service"] == plan.service).fillna(False).to_numpy(bool) if plan.service else np.ones(n, bool)
    wait = facts["wait_hours"].to_numpy(dtype=float)
    svc = facts["service_hours"].to_numpy(dtype=float)
    span = np.nan_to_num(wait) + np.nan_to_num(svc)
    keep = np.ones(n, dtype=bool)
    carry = np.zeros(n)          # hours saved at this row: every later row of the case moves up by it
    own = np.zeros(n)            # hours this row itself moves up (besides what rows before it saved)
    end_from = np.arange(n)      # a merged step ends where its last part ended
    mats = _Documents(base["materials"])
    in_person = base["in_person"].copy()
    norm = functools.lru_cache(maxsize=None)(rules.catalogue.normalize)  # a log repeats few names many times
    first_row = np.r_[True, case[1:] != case[:-1]]
    case_starts = np.flatnonzero(first_row)      # each case's first row (rows are in case order)
    case_no = np.cumsum(first_row) - 1           # each row's case, numbered

    def run_ids(hit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows hit that remain, and each one's run: hit rows next to each other once
        removed rows are skipped, in one case."""
        idx = np.flatnonzero(hit & keep)
        if not len(idx):
            return idx, idx
        kept_pos = np.cumsum(keep) - 1
        new = np.r_[True, (np.diff(kept_pos[idx]) != 1) | (case_no[idx][1:] != case_no[idx][:-1])]
        return idx, np.cumsum(new) - 1

    def kept_runs(hit: np.ndarray) -> list[np.ndarray]:
        idx, rid = run_ids(hit)
        return np.split(idx, np.flatnonzero(np.diff(rid)) + 1) if len(idx) else []

    for ch in plan.changes:
        hit = scope & np.isin(act, ch.names)
        if ch.kind == "remove":
            gone = np.flatnonzero(hit & keep)
            carry[gone] += span[gone]
            # the documents of a removed step are still collected once, at the case's first
            # step that stays (none: they go with the step)
            stays = np.where(keep & ~hit, np.arange(n), n)
            first_stay = np.minimum.reduceat(stays, case_starts)[case_no] if len(gone) else stays
            gone = gone[(first_stay[gone] < n) & mats.nonempty(gone)]
            mats.load(np.concatenate((gone, first_stay[gone])))
            for i in gone:
                j = first_stay[i]
                have = {norm(m) for m in mats[j]}
                mats[j] += [m for m in mats[i] if norm(m) not in have]
            keep &= ~hit
        elif ch.kind == "merge":
            runs = kept_runs(hit)
            if runs:
                mats.load(np.concatenate(runs))
            for run in runs:
                act[run] = ch.into
                if len(run) < 2:
                    continue
                head, rest = run[0], run[1:]
                carry[rest] += np.nan_to_num(wait[rest])   # later steps move up by the waits that go
                own[rest] += np.nan_to_num(wait[rest])     # and so does each part's own end
                end_from[head] = run[-1]
                for r in rest:
                    mats[head] += mats[r]
                keep[rest] = False
        elif ch.kind == "cap_wait":
            sel = scope & keep & (np.isin(act, ch.names) if ch.names else
                                  (base["department"].astype(str).to_numpy() == ch.department))
            cut = np.where(sel, np.maximum(np.nan_to_num(wait) - ch.hours, 0), 0)
            wait = np.where(sel, np.nan_to_num(wait) - cut, wait)
            carry += cut
            own += cut
            span = np.nan_to_num(wait) + np.nan_to_num(svc)
        elif ch.kind == "share":
            canon = {norm(x) for x in ch.names}
            mats.drop(scope, lambda m: norm(m) in canon)
        elif ch.kind in ("online", "deliver"):
            in_person[hit] = False
    for ch in plan.changes:  # parallel blocks, on the steps that remain
        if ch.kind != "parallel":
            continue
        rows, rid = run_ids(scope & np.isin(act, ch.names))
        if not len(rows):
            continue
        length = np.bincount(rid)
        for n_steps in np.unique(length[length >= 2]):  # blocks of one length together: one row each
            idx = rows[length[rid] == n_steps].reshape(-1, n_steps)
            s = span[idx]
            before_j = np.concatenate((np.zeros((len(idx), 1)), np.cumsum(s, axis=1)[:, :-1]), axis=1)
            own[idx] += before_j            # every branch starts when the block starts
            carry[idx[:, -1]] += s.sum(axis=1) - s.max(axis=1)  # later steps: the block lasts its longest branch
    shift_h = pd.Series(carry).groupby(case_no).cumsum().to_numpy() - carry + own
    shift = _hours_ns(shift_h)
    start = base["start_time"].to_numpy(dtype="datetime64[ns]").view("int64")
    end = base["end_time"].to_numpy(dtype="datetime64[ns]").view("int64")
    nat = np.iinfo(np.int64).min
    # a merged step ends where its last part would have ended
    shift_end = shift[end_from]
    new_start = np.where(start == nat, nat, start - shift)
    new_end = np.where(end[end_from] == nat, nat, end[end_from] - shift_end)
    out = base.copy()
    out["activity"] = pd.array(act, dtype="string")
    out["start_time"] = pd.to_datetime(new_start.view("datetime64[ns]")).tz_localize("UTC").tz_convert("Asia/Shanghai")
    out["end_time"] = pd.to_datetime(new_end.view("datetime64[ns]")).tz_localize("UTC").tz_convert("Asia/Shanghai")
    out["start_time"] = out["start_time"].where(start != nat)
    out["end_time"] = out["end_time"].where(end[end_from] != nat)
    out["in_person"] = in_person
    out["materials"] = mats.series(base.index)
    _shift_milestones(out, base, facts["ts"], shift_h)
    out = out[keep].reset_index(drop=True)
    units = pd.Series(out["case_id"].astype(str).unique(), dtype=object)
    unit_of = pd.Series(units.to_numpy(), index=units.to_numpy())
    for ch in plan.changes:
        if ch.kind == "bundle":
            out, unit_of = _bundle(out, ch, unit_of, rules)
    return out, unit_of


def _shift_milestones(out: pd.DataFrame, base: pd.DataFrame, ts: pd.Series, shift_h: np.ndarray) -> None:
    """Case-level times move up by what the steps up to them saved (in place on ``out``).
    Times are compared and moved as UTC nanoseconds, cases as integer codes (no Python
    object per row)."""
    cols = [c for c in ("accept_time", "finish_time", "deliver_time") if base[c].notna().any()]
    if not np.any(shift_h) or not cols:
        return
    case = pd.factorize(base["case_id"], use_na_sentinel=False)[0]
    steps = pd.DataFrame({"case": case, "t": _utc_ns(ts), "shift": shift_h}).dropna(subset=["t"]).sort_values(
        "t", kind="stable")
    for col in cols:
        q = pd.DataFrame({"case": case, "t": _utc_ns(base[col]), "row": np.arange(len(base))}).dropna(
            subset=["t"]).sort_values("t", kind="stable")
        m = pd.merge_asof(q, steps, on="t", by="case", direction="backward")
        moved = _utc_ns(out[col]).copy()
        delta = pd.to_timedelta(m["shift"].fillna(0).to_numpy(), unit="h").to_numpy(dtype="timedelta64[ns]")
        moved[m["row"].to_numpy()] = m["t"].to_numpy(dtype="datetime64[ns]") - delta
        back = pd.Series(moved, index=out.index)
        tz = getattr(out[col].dtype, "tz", None)
        out[col] = (back.dt.tz_localize("UTC").dt.tz_convert(tz) if tz is not None else back).astype(out[col].dtype)


class _Documents:
    """Each row's documents, kept as the log's Arrow list column; rows a change edits one
    by one (a removed step's documents moved, merged steps') become Python lists first
    (:meth:`load`), and a ``share`` filters every row at once in Arrow. Missing lists
    read as empty ones, as in :func:`_lists`."""

    def __init__(self, values: pd.Series) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.array(values.array) if isinstance(values.dtype, pd.ArrowDtype) else None
        if arr is None or not pa.types.is_list(arr.type) and not pa.types.is_large_list(arr.type):
            arr = pa.array(_lists(values), type=pa.list_(pa.string()))  # Python lists: read once
        arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        self.type = arr.type
        lengths = pc.fill_null(pc.list_value_length(arr), 0).to_numpy(zero_copy_only=False)
        self.values = pc.list_flatten(arr)  # null lists emit nothing: they become empty ones
        self.offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        self.edited: dict[int, list] = {}

    def nonempty(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        out = self.offsets[rows + 1] > self.offsets[rows]
        for k, r in enumerate(rows.tolist()):
            if r in self.edited:
                out[k] = bool(self.edited[r])
        return out

    def load(self, rows: np.ndarray) -> None:
        """Make these rows Python lists (read from Arrow in one go)."""
        todo = [r for r in dict.fromkeys(np.asarray(rows, dtype=np.int64).tolist()) if r not in self.edited]
        if not todo:
            return
        names = self.values.to_pylist() if len(todo) > len(self.offsets) // 4 else None
        for r in todo:
            lo, hi = int(self.offsets[r]), int(self.offsets[r + 1])
            self.edited[r] = names[lo:hi] if names is not None else self.values.slice(lo, hi - lo).to_pylist()

    def __getitem__(self, row: int) -> list:
        return self.edited[int(row)]

    def __setitem__(self, row: int, docs: list) -> None:
        self.edited[int(row)] = docs

    def drop(self, rows: np.ndarray, gone) -> None:
        """Remove, in the rows marked, every document for which ``gone(name)`` is true
        (asked once per distinct name)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        rows = np.asarray(rows, dtype=bool)
        for r, docs in self.edited.items():
            if rows[r]:
                self.edited[r] = [m for m in docs if not gone(m)]
        if not len(self.values):
            return
        coded = pc.dictionary_encode(self.values)
        names = coded.dictionary.to_pylist()
        hit = np.array([gone(m) for m in names] + [False], dtype=bool)  # the last slot: a missing name
        idx = pc.fill_null(coded.indices, len(names)).to_numpy(zero_copy_only=False)
        parent = np.repeat(np.arange(len(self.offsets) - 1), np.diff(self.offsets))
        out = hit[idx] & rows[parent]
        if not out.any():
            return
        kept = ~out
        self.values = self.values.filter(pa.array(kept))
        counts = np.bincount(parent[kept], minlength=len(self.offsets) - 1)
        self.offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)

    def series(self, index: pd.Index) -> pd.Series:
        """The documents as a column of the log's dtype (edited rows replaced)."""
        import pyarrow as pa

        n = len(self.offsets) - 1
        offsets = pa.array(self.offsets.astype(np.int64 if pa.types.is_large_list(self.type) else np.int32))
        arr = type(pa.array([], self.type)).from_arrays(offsets, self.values, type=self.type)
        if self.edited:
            rows = np.fromiter(self.edited, dtype=np.int64, count=len(self.edited))
            extra = pa.array([self.edited[r] for r in rows.tolist()], type=self.type)
            pick = np.arange(n, dtype=np.int64)
            pick[rows] = n + np.arange(len(rows))
            arr = pa.concat_arrays([arr, extra]).take(pa.array(pick))
        return pd.Series(pd.array(arr, dtype=pd.ArrowDtype(self.type)), index=index)


def _lists(values: pd.Series) -> list[list]:
    """Each row's documents as a new Python list (empty for none), read by Arrow in one go
    when the column is an Arrow list."""
    if isinstance(values.dtype, pd.ArrowDtype):
        return [x if x is not None else [] for x in values.array.__arrow_array__().to_pylist()]
    return [list(m) if m is not None and m is not pd.NA else [] for m in values]


def _utc_ns(values: pd.Series) -> np.ndarray:
    """datetime64[ns] (UTC for zone-aware values; NaT kept) without a Python object per row."""
    values = pd.Series(values)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.to_numpy(dtype="datetime64[ns]")


def _bundle(log: pd.DataFrame, ch: Change, unit_of: pd.Series, rules: Rules) -> tuple[pd.DataFrame, pd.Series]:
    """Member cases of one applicant become one matter: one intake (the first member's), one
    result (the member that finishes last), each document once, the members' work side by side
    from the common intake."""
    from .bundles import group_instances

    facts = event_facts(log, rules)
    who = log.groupby("case_id")[ch.by].first().dropna()
    who.index = who.index.astype(str)
    cases = measure(log, rules).cases.assign(case_id=lambda d: d["case_id"].astype(str))
    # the same instances `procmine bundles` finds: one applicant's member cases within the window
    inst = group_instances(cases, tuple(ch.names), who, float(rules.bundles.get("window_days", 30)))
    name = (ch.into + "#" + inst.astype(str)) if len(inst) else pd.Series(dtype=object)
    if name.empty:
        return log, unit_of
    case = log["case_id"].astype(str)
    unit = case.map(name)
    inb = unit.notna().to_numpy()
    starts = facts.groupby("case_id")["ts"].min()
    ends = pd.concat([log["end_time"], log["start_time"]], axis=1).max(axis=1).groupby(case).max()
    unit_start = starts[name.index].groupby(name).min()
    first_member = starts[name.index].groupby(name).idxmin()
    last_member = ends[name.index].groupby(name).idxmax()
    kind = facts["trip_kind"].to_numpy()
    drop = inb & (kind == "intake") & ~case.isin(first_member.to_numpy()).to_numpy()
    drop |= inb & np.isin(kind, ["pickup", "remote_delivery"]) & ~case.isin(last_member.to_numpy()).to_numpy()
    out = log.copy()
    # members run side by side from the matter's intake
    delta = (case.map(starts) - unit.map(unit_start)).where(pd.Series(inb, index=log.index))
    delta = pd.to_timedelta(delta.fillna(pd.Timedelta(0)))
    for col in ("start_time", "end_time", "accept_time", "finish_time", "deliver_time"):
        out[col] = out[col] - delta.to_numpy()
    # one intake: the dropped intakes' documents go to the matter's intake; each document once
    norm = rules.catalogue.normalize
    mats = _lists(out["materials"])
    intake_row = {}
    for i in np.flatnonzero(inb & (kind == "intake") & ~drop):
        intake_row[unit.iat[i]] = i
    for i in np.flatnonzero(drop):
        j = intake_row.get(unit.iat[i])
        if j is not None:
            mats[j] += mats[i]
    seen: dict[str, set] = {}
    order = np.lexsort((np.arange(len(out)), out["start_time"].fillna(out["end_time"]).to_numpy(dtype="datetime64[ns]")))
    for i in order:
        if not inb[i] or drop[i]:
            continue
        have = seen.setdefault(unit.iat[i], set())
        kept = []
        for m in mats[i]:
            k = norm(m)
            if k not in have:
                have.add(k)
                kept.append(m)
        mats[i] = kept
    out["materials"] = pd.Series(pd.array(mats, dtype=log["materials"].dtype), index=out.index)
    out.loc[inb, "case_id"] = unit[inb]
    out.loc[inb, "service"] = ch.into
    out = out[~drop].reset_index(drop=True)
    unit_of = unit_of.copy()
    hit = unit_of.index.isin(name.index)
    unit_of[hit] = name.reindex(unit_of.index[hit]).to_numpy()
    return out, unit_of


def _per_unit(cases: pd.DataFrame, unit_of: pd.Series, log: pd.DataFrame, rules: Rules, as_of,
              calendar) -> pd.DataFrame:
    """Observed per-case metrics rolled up to units (a 一件事 instance sums its members; its
    working days are the case model's for the matter: first 受理 to last 办结, its pauses out,
    :func:`procmine.engine.metrics.matter_days`)."""
    c = cases.set_index("case_id")
    c.index = c.index.astype(str)
    u = unit_of.reindex(c.index).fillna(pd.Series(c.index, index=c.index))
    g = c.groupby(u.to_numpy())
    out = pd.DataFrame({
        "steps": g["events"].sum(), "documents": g["materials_submitted"].sum(),
        "trips": g["visits"].sum(min_count=1).where(~c["visits"].isna().groupby(u.to_numpy()).any()),
        "sla_days": g["sla_days"].max().astype(float),
    })
    multi = g.size() > 1
    clock = g["clock_days"].first()
    if multi.any():
        grouped = u[u.isin(multi.index[multi.to_numpy()])]
        span = matter_days(log, grouped, rules, as_of=as_of, calendar=calendar)
        clock = clock.astype(float)
        clock[multi] = span.reindex(clock.index[multi.to_numpy()].astype(str)).to_numpy()
    out["working_days"] = clock.astype(float)
    out["outcome"] = g["outcome"].first().where(~multi, pd.NA)
    return out


def redesign(log: pd.DataFrame, plan: Plan | str | Path, rules: Rules | str | None = None) -> RedesignResult:
    """Replay every case under ``plan``; the 四减 table compares observed and replayed
    per-case metrics, both from :func:`procmine.engine.metrics.measure` (an empty plan changes nothing).

    >>> r = redesign(log, "templates/plans/企业开办一件事.yaml")     # doctest: +SKIP
    >>> r.table                                                      # doctest: +SKIP
    """
    rules = load_rules(rules)
    path = str(plan) if not isinstance(plan, Plan) else plan.name
    plan = plan if isinstance(plan, Plan) else load_plan(plan)
    _check(plan, log, rules, path)
    observed = measure(log, rules, documents=False)  # the replay reads the events, not the handovers
    # the replayed log needs only what the engine reads (and the columns bundles group by):
    # provenance and other attributes are not copied through the replay
    from ..engine.runner import READ_COLUMNS

    wanted = READ_COLUMNS | {ch.by for ch in plan.changes if ch.kind == "bundle"}
    narrow = log[[c for c in log.columns if c in wanted]]
    after_log, unit_of = replay(narrow, plan, rules, facts=observed.facts)  # the same events, measured once
    # the replayed events stay in the engine: the still-failing reasons are read there
    replayed = measure(after_log, rules, as_of=observed.as_of, events=False, inside=_failing_steps)
    before = _per_unit(observed.cases, unit_of, narrow, rules, observed.as_of, observed.calendar)
    a = replayed.cases.set_index("case_id")
    a.index = a.index.astype(str)
    after = pd.DataFrame({"steps": a["events"], "documents": a["materials_submitted"],
                          "trips": a["visits"].astype("Float64").astype(float), "working_days": a["clock_days"],
                          "sla_days": a["sla_days"].astype(float), "outcome": a["outcome"]})
    after = after.reindex(before.index)
    after["steps"] = after["steps"].fillna(0)
    after["documents"] = after["documents"].fillna(0)
    per_case = pd.concat({"before": before.drop(columns=["sla_days"]), "after": after.drop(columns=["sla_days"])},
                         axis=1)
    per_case.columns = [f"{b}_{a_}" for a_, b in per_case.columns]
    services = pd.concat([observed.cases.assign(case_id=observed.cases["case_id"].astype(str))
                          .set_index("case_id")["service"].groupby(unit_of.reindex(
                              observed.cases["case_id"].astype(str)).fillna(pd.Series(
                                  observed.cases["case_id"].astype(str).to_numpy(),
                                  index=observed.cases["case_id"].astype(str).to_numpy())).to_numpy()).first()])
    unit_service = a["service"].reindex(per_case.index).fillna(services.reindex(per_case.index))
    per_case.insert(0, "service", unit_service)
    per_case["sla_days"] = after["sla_days"].fillna(before["sla_days"])
    table = _four_cuts(per_case)
    scope = per_case[per_case["service"] == plan.service] if plan.service else per_case
    failing = _still_failing(scope, *replayed.aggregates)
    return RedesignResult(plan.name, table, failing, per_case.reset_index().rename(columns={"index": "case_id"}))


MEASURES = [("steps", "环节数（减环节）"), ("documents", "提交材料份数（减材料）"), ("working_days", "办理工作日（减时间）"),
            ("trips", "跑动次数（减跑动）")]


def _four_cuts(pc: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for service, g in list(pc.groupby("service", sort=True)) + [("全部", pc)]:
        for key, label in MEASURES:
            b, a = g[f"{key}_before"].astype(float), g[f"{key}_after"].astype(float)
            both = b.notna() & a.notna()
            bm = float(b[both].mean()) if both.any() else float("nan")
            am = float(a[both].mean()) if both.any() else float("nan")
            rows.append({"service": service, "measure": label, "cases": int(both.sum()), "before": round(bm, 3),
                         "after": round(am, 3), "change": round(am - bm, 3),
                         "change_pct": round((am - bm) / bm, 4) if bm else None})
        tb, ta = g["trips_before"].astype(float), g["trips_after"].astype(float)
        known = tb.notna() & ta.notna()
        if known.any():
            ob, oa = float((tb[known] <= 1).mean()), float((ta[known] <= 1).mean())
            rows.append({"service": service, "measure": "最多跑一次率", "cases": int(known.sum()), "before": round(ob, 4),
                         "after": round(oa, 4), "change": round(oa - ob, 4), "change_pct": None})
    return pd.DataFrame(rows)


def _failing_steps(eng, as_of_us: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For the cases still over their limit or with more than one visit (``cases`` in
    the engine): each step with a trip, at its first position in the case, and the step
    that took the most time on the office's side (its waits and its work, in working
    hours; ties: the first name)."""
    from ..engine.definitions import FACTS_NAMED, hours

    bad = "(SELECT c FROM cases WHERE outcome IN ('超期', '超期在办') OR visits > 1)"
    trips = eng.fetch(f"""
SELECT case_id, activity, min(pos) AS pos FROM {FACTS_NAMED}
WHERE trip AND c IN {bad} GROUP BY case_id, activity ORDER BY case_id, pos""")
    longest = eng.fetch(f"""
SELECT case_id, activity FROM (
  SELECT case_id, activity,
         row_number() OVER (PARTITION BY c ORDER BY h DESC, activity ASC NULLS LAST) AS rk
  FROM (SELECT facts.*, CASE WHEN office THEN coalesce({hours('wait_work_us')}, 0) ELSE 0 END
                    + coalesce({hours('service_work_us')}, 0) AS h
        FROM {FACTS_NAMED} WHERE c IN {bad}) x) t
WHERE rk = 1""")
    return trips, longest


def _still_failing(pc: pd.DataFrame, trips: pd.DataFrame, longest: pd.DataFrame) -> pd.DataFrame:
    """The cases of ``pc`` still over their limit or with more than one trip after the
    plan, and why: ``trips`` and ``longest`` from :func:`_failing_steps`."""
    over = pc["outcome_after"].isin(["超期", "超期在办"]) if "outcome_after" in pc else pd.Series(False, index=pc.index)
    many = pc["trips_after"].astype(float) > 1
    bad = pc[over.fillna(False) | many.fillna(False)]
    if bad.empty:
        return pd.DataFrame(columns=["case_id", "service", "trips_after", "working_days_after", "sla_days", "reasons"])
    cid = trips["case_id"].astype(str).to_numpy(dtype=object)  # in case order, each step at its first trip
    steps = trips["activity"].astype(str).to_numpy(dtype=object)
    cut = np.flatnonzero(cid[1:] != cid[:-1]) + 1
    trip_steps = {cid[i]: "、".join(part) for i, part in zip(np.concatenate(([0], cut)), np.split(steps, cut))
                  if len(part)}
    longest = pd.Series(longest["activity"].to_numpy(dtype=object), index=longest["case_id"].astype(str).to_numpy())
    reasons = []
    has_outcome = "outcome_after" in bad
    for cid, trips_after, days_after, sla, outcome in zip(
            bad.index, bad["trips_after"], bad["working_days_after"], bad["sla_days"],
            bad["outcome_after"] if has_outcome else [None] * len(bad)):
        why = []
        if trips_after == trips_after and trips_after > 1:
            why.append(f"仍需跑动{int(trips_after)}次（{trip_steps.get(cid, '')}）")
        if outcome in ("超期", "超期在办"):
            why.append(f"仍超时限：{days_after:g}>{sla:g}个工作日，耗时最多的是「{longest.get(cid, '')}」")
        reasons.append("；".join(why))
    out = bad.reset_index().rename(columns={"index": "case_id"})[["case_id", "service", "trips_after",
                                                                   "working_days_after", "sla_days"]]
    out["reasons"] = reasons
    return out.sort_values(["service", "case_id"]).reset_index(drop=True)


def _yaml_name(name: object) -> str:
    """One name as a YAML flow scalar that reads back as exactly this string
    (quoted where needed: colons, quotes, '#', leading '-', '*', '&', …)."""
    name = str(name)
    if not name.isprintable():  # newlines, tabs, control characters: a one-line double-quoted scalar
        return json.dumps(name, ensure_ascii=True)
    text = yaml.safe_dump([name], default_flow_style=True, allow_unicode=True, width=1_000_000).strip()
    return text[1:-1]


def _yaml_list(names) -> str:
    return "[" + ", ".join(_yaml_name(n) for n in names) + "]"


def _comment(text: str) -> str:
    return "  # " + " ".join(str(text).split())


def _split_joined(text: str, sep: str, known: set[str], parts: int | None = None) -> list[str]:
    """Undo ``sep.join(names)`` where names may themselves contain ``sep``: the
    split whose pieces are all steps of the log (else the plain split)."""
    pieces = text.split(sep)

    def solve(i: int, left: int | None) -> list[str] | None:
        if i == len(pieces):
            return [] if left in (None, 0) else None
        if left == 0:
            return None
        for j in range(len(pieces), i, -1):
            cand = sep.join(pieces[i:j])
            if cand in known:
                rest = solve(j, None if left is None else left - 1)
                if rest is not None:
                    return [cand] + rest
        return None

    return solve(0, parts) or pieces


def suggest(log: pd.DataFrame, rules: Rules | str | None = None, masker=None) -> str:
    """A commented draft plan (YAML text) from the audit's findings, one service at a time.

    Names are written as YAML scalars that :func:`load_plan` reads back exactly;
    the comments (finding summaries) go through ``masker`` (a :class:`procmine.privacy.Masker`).
    """
    from .audit import audit

    rules = load_rules(rules)
    result = audit(log, rules)
    mask = masker.text if masker is not None else (lambda t: t)
    steps_known = set(log["activity"].dropna().astype(str))
    by_service: dict[str, list[str]] = {}
    for f in result.findings:
        lines = by_service.setdefault(f.service, [])
        note = _comment(mask(f.summary))
        if f.kind == "rubber_stamp":
            lines += [note, f"  - remove: {_yaml_name(f.activity)}"]
        elif f.kind == "parallelizable":
            pair = _split_joined(f.activity, " | ", steps_known, parts=2)
            if len(pair) == 2:
                lines += [note, f"  - parallel: {_yaml_list(pair)}"]
        elif f.kind == "shareable_material":
            lines += [note, f"  - share: {_yaml_list([f.material])}"]
        elif f.kind == "excess_visits":
            steps = list(f.details.get("extra_trip_steps", {}))
            pick = [s for s in steps if any(k in s for k in ("领", "取", "送达", "发证"))]
            if pick:
                lines += [note, f"  - deliver: {_yaml_list(pick)}   # 邮寄或电子送达代替窗口领取"]
        elif f.kind == "bottleneck" and f.details.get("view") == "department":
            # the service's typical wait, from working hours to elapsed hours (7.5 office hours ≈ one day)
            cap = max(float(f.details.get("baseline_work_hours") or 7.5) * 24 / 7.5, 1.0)
            lines += [note, f"  - cap_wait: {{department: {_yaml_name(f.department)}, hours: {cap:.0f}}}"
                            "   # 承诺等待不超过本事项典型水平"]
        elif f.kind == "serial_signoff":
            levels = _split_joined(f.activity, " → ", steps_known)
            if len(levels) >= 2:
                lines += [note, f"  - merge: {_yaml_list(levels[:2])}   # 合并前两级审批",
                          f"    into: {_yaml_name(levels[0])}"]
        elif f.kind == "repeated_material" and rules.catalogue.replaceable(f.material) is None:
            lines += [_comment(f"{mask(f.summary)}（不在电子证照目录：可改为一次收取、部门间共享）")]
    out = ["# procmine suggest: a draft plan per service, from the audit findings.",
           "# Edit it, keep what the department agrees to, then run: procmine redesign LOG --plan THIS_FILE",
           "# (one plan per service: split this file, or keep the service you are redesigning)", ""]
    first = True
    for service in sorted(by_service):
        lines = [ln for ln in by_service[service] if ln.strip()]
        if not any(ln.lstrip().startswith("- ") for ln in lines):
            continue
        seen, uniq = set(), []
        for ln in lines:  # a change suggested by two findings appears once
            if ln.lstrip().startswith("- ") and ln in seen:
                continue
            seen.add(ln)
            uniq.append(ln)
        prefix = "" if first else "# "
        block = [f"name: {_yaml_name(f'{service} 优化方案（草稿）')}", f"service: {_yaml_name(service)}",
                 "changes:"] + uniq
        out += [prefix + ln if not first else ln for ln in block] + [""]
        first = False
    if first:
        out += ["name: 无建议", "changes: []   # the audit found nothing with a standard fix"]
    return "\n".join(out) + "\n"
