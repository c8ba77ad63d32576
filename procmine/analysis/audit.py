"""Audit a canonical log against 最多跑一次: findings ranked by impact.

Analysis only: this module returns plain data (:class:`AuditResult`); the CLI
and the reports render it. Every number comes from :mod:`procmine.engine.metrics`, so
``procmine cases`` and ``procmine audit`` agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..config import VERSION as __version__
from ..messages import say
from ..engine.metrics import measure, note, service_rates
from ..rules import Rules, load_rules

KINDS = ("excess_visits", "repeated_material", "shareable_material", "rework", "duplicate_check", "rubber_stamp",
         "parallelizable", "serial_signoff", "bottleneck", "sla_overrun", "open_overdue", "rating_driver",
         "bundle_candidate")
DIMENSION = {"excess_visits": "trips", "repeated_material": "documents", "shareable_material": "documents",
             "rework": "steps", "duplicate_check": "steps", "rubber_stamp": "steps", "serial_signoff": "steps",
             "parallelizable": "time", "bottleneck": "time", "sla_overrun": "time", "open_overdue": "time",
             "rating_driver": "trips", "bundle_candidate": "trips"}
FACTOR_DIMENSION = {"trips": "trips", "outcome": "time", "correction": "documents", "channel": "trips",
                    "department": "time"}
LEGAL_BREACH = ("sla_overrun", "open_overdue")  # 超期: always high severity
EVIDENCE = 5


@dataclass
class Finding:
    kind: str
    service: str
    cases: int
    impact: float
    unit: str  # trips | documents | steps | work_hours | working_days | cases
    evidence: list[str]
    params: dict  # what the summary states; summary = say("finding." + kind, lang, **params)
    severity: str = "low"
    activity: str | None = None
    department: str | None = None
    material: str | None = None
    details: dict = field(default_factory=dict)
    score: float = 0.0
    action: str = ""
    action_key: str = ""

    @property
    def dimension(self) -> str:
        if self.kind == "rating_driver":
            return FACTOR_DIMENSION.get(self.details.get("factor"), "time")
        return DIMENSION[self.kind]

    @property
    def message(self) -> str:
        return "finding." + self.kind

    @property
    def summary(self) -> str:
        return self.text("zh")

    def text(self, lang: str = "zh") -> str:
        return say(self.message, lang, **self.params)

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "service": self.service}
        for key in ("activity", "department", "material"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out.update({"dimension": self.dimension, "cases": self.cases,
                    "impact": {"value": _r(self.impact), "unit": self.unit},
                    "evidence": self.evidence, "severity": self.severity, "summary": self.summary,
                    "action": self.action})
        if self.details:
            out["details"] = self.details
        return out


@dataclass
class AuditResult:
    """Findings (ranked), per-service metrics, what was skipped and why, and the per-case table."""

    findings: list[Finding]
    metrics: dict[str, dict]
    skipped: list[dict]
    notes: list[str]
    cases: pd.DataFrame
    rules: str
    as_of: pd.Timestamp | None = None
    calendar_note: str = ""
    measured: object = None  # procmine.engine.metrics.Measured: the events and cases behind every number

    @property
    def handovers(self) -> pd.DataFrame | None:
        """Documents handed over (one row each), for the reports; read on first use."""
        return None if self.measured is None else self.measured.handovers

    def masked(self, masker) -> "AuditResult":
        """A copy whose evidence and summaries show no raw ID or phone numbers."""
        import copy

        out = copy.copy(self)
        out.findings = []
        for f in self.findings:
            g = copy.copy(f)
            g.evidence = masker.ids(f.evidence)
            g.params = {k: masker.text(v) if isinstance(v, str) else v for k, v in f.params.items()}
            out.findings.append(g)
        return out

    def to_dict(self) -> dict:
        return {
            "procmine": __version__, "rules": self.rules,
            "log": {"cases": int(len(self.cases)), "services": sorted(self.metrics),
                    "as_of": None if self.as_of is None else self.as_of.isoformat()},
            "calendar": self.calendar_note,
            "metrics": self.metrics,
            "findings": [f.to_dict() for f in self.findings],
            "skipped": self.skipped, "notes": self.notes,
        }

    def to_json(self) -> str:
        """Deterministic JSON: the same log gives the same bytes."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, sort_keys=False) + "\n"


def _r(x: float | None, nd: int = 2):
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return None
    x = float(x)
    return int(x) if x.is_integer() else round(x, nd)


def _evidence(ids: pd.Series, weight: pd.Series | None = None) -> list[str]:
    """Up to EVIDENCE case ids, heaviest first (ties: by id); an id counts once, with
    the weight of its first occurrence."""
    names = np.asarray(pd.Series(ids).astype(str).to_numpy(), dtype=object)
    if not len(names):
        return []
    uniq, first = np.unique(names, return_index=True)  # sorted ids, where each first occurs
    if weight is None:
        return uniq[:EVIDENCE].tolist()
    w = pd.Series(weight).to_numpy(dtype=float, na_value=np.nan)[first]
    order = np.argsort(-w, kind="stable")  # by weight, descending; ids ascending within; NaN last
    return uniq[order[:EVIDENCE]].tolist()


def _top(counts, k: int = 3) -> str:
    """The ``k`` largest counts (ties: by name) of a name → count mapping, as 名(n)、名(n)."""
    items = sorted(((str(name), int(n)) for name, n in counts.items()), key=lambda x: (-x[1], x[0]))[:k]
    return "、".join(f"{name}({n})" for name, n in items)


def _fmt(x: float, nd: int = 1) -> str:
    x = float(x)
    return f"{x:,.0f}" if abs(x) >= 100 or x.is_integer() else f"{x:,.{nd}f}"


def _pct(x: float) -> str:
    return f"{x:.0%}"


# what the findings read from the log itself, besides the engine's tables (ratings, applicants)
SIDE_COLUMNS = ("case_id", "service", "activity", "department", "start_time", "end_time", "channel", "rating",
                "rating_time", "rating_channel", "rating_text", "rectify_status", "rectify_time", "applicant",
                "applicant_id")


def side_log(path) -> pd.DataFrame | None:
    """The columns of a Parquet log the ratings and 一件事 findings need, read only when
    the log has ratings or applicants (None otherwise)."""
    from ..log.eventlog import conform_columns, has_values, read_columns

    if not has_values(path, ("rating", "applicant", "applicant_id")):
        return None
    return conform_columns(read_columns(path, SIDE_COLUMNS))


class _Ctx:
    def __init__(self, m, rules: Rules) -> None:
        self.rules = rules
        self.t = rules.thresholds
        self.min_cases = int(self.t.get("min_cases", 5))
        self.m = m
        self.calendar = self.m.calendar
        self.cases = self.m.cases
        self.service_cases = self.cases.groupby("service").size().to_dict()
        self.findings: list[Finding] = []
        self.skipped: list[dict] = []

    def add(self, f: Finding) -> None:
        if f.cases < self.min_cases or f.impact <= 0:
            return
        # a finding across services (a 一件事 candidate, a rating driver) is measured against all cases
        share = f.cases / max(self.service_cases.get(f.service, len(self.cases)), 1)
        f.severity = ("high" if f.kind in LEGAL_BREACH or share >= self.t.get("severity_high_share", 0.5) else
                      "medium" if share >= self.t.get("severity_medium_share", 0.2) else "low")
        f.details = {"share_of_cases": round(share, 4), **f.details}
        f.score = f.impact * self.rules.ranking_hours.get(f.unit, 1.0)
        f.action_key = f.action_key or f"action.{f.kind}"
        f.action = say(f.action_key, "zh")
        self.findings.append(f)

    def skip(self, kind: str, key: str, service: str | None = None, **params) -> None:
        entry = {"kind": kind, "reason": say(key, "en", service=service or "", **params), "message": key,
                 "params": {"service": service or "", **params}}
        if service is not None:
            entry["service"] = service
        self.skipped.append(entry)


def audit(log, rules: Rules | str | None = None, *, as_of=None, engine=None) -> AuditResult:
    """Audit a canonical log (a DataFrame, or the path of a Parquet log: a file or a
    partitioned directory); findings ranked by impact (weighted to working hours).
    ``engine``: "duckdb" (default), "spark" or an ``EngineOptions``. The findings'
    counts over events are aggregated in the engine (:mod:`procmine.engine.findings`);
    only per-finding rows come back.

    >>> result = audit("out/log.parquet")                       # doctest: +SKIP
    >>> result.findings[0].summary                              # doctest: +SKIP
    """
    from ..engine.findings import aggregate

    rules = load_rules(rules)
    side = log if isinstance(log, pd.DataFrame) else side_log(log)
    # ratings and 一件事 read the per-event table, and a log already in memory is small
    # enough to bring its events back; otherwise they stay in the engine (read on demand)
    wants_events = isinstance(log, pd.DataFrame) or (side is not None and any(
        c in side and side[c].notna().any() for c in ("rating", "applicant", "applicant_id")))
    m = measure(log, rules, as_of=as_of, engine=engine, events=wants_events,
                inside=lambda eng, as_of_us: aggregate(eng, rules, as_of_us))
    log = side
    ctx = _Ctx(m, rules)
    agg = m.aggregates
    known = ctx.m.trips_known
    has_trips = bool(known.any()) and bool(agg.flags["trips"])
    has_materials = bool((ctx.cases["materials_submitted"] > 0).any())
    has_service_time = bool(agg.flags["service_time"])
    has_departments = bool(agg.flags["departments"])
    has_sla = bool(ctx.cases["outcome"].isin(["即办", "提前", "按时", "超期", "超期在办"]).any()
                   or ctx.cases["sla_days"].notna().any())

    if has_trips:
        _excess_visits(ctx, agg)
    else:
        ctx.skip("excess_visits", "skip.excess_visits")
    for service in sorted(s for s, ok in known.items() if not ok and s):
        if has_trips:
            ctx.skip("excess_visits", "skip.trips_service", service)
    if has_materials:
        _repeated_material(ctx, agg)
        _shareable_material(ctx, agg)
    else:
        for kind in ("repeated_material", "shareable_material"):
            ctx.skip(kind, "skip.materials")
    _rework(ctx, agg)
    if has_departments:
        _duplicate_check(ctx, agg)
    else:
        ctx.skip("duplicate_check", "skip.departments")
    if has_service_time:
        _rubber_stamp(ctx, agg)
    else:
        ctx.skip("rubber_stamp", "skip.service_time")
    _parallelizable(ctx, agg)
    _serial_signoff(ctx, agg)
    _bottleneck(ctx, agg)
    if has_sla:
        _sla_overrun(ctx, agg)
        _open_overdue(ctx)
    else:
        ctx.skip("sla_overrun", "skip.sla")

    _rating_drivers(ctx, log)
    _bundle_candidates(ctx, log)
    ctx.findings.sort(key=lambda x: (-x.score, x.kind, x.service, x.activity or "", x.department or "",
                                     x.material or ""))
    metrics = _service_metrics(ctx, agg, has_materials)
    notes = list(ctx.m.notes)
    if not has_departments:
        notes.append(note("note.no_departments_audit"))
    if len(ctx.m.unparsed_limits):
        notes.append(note("note.unparsed_limits", limits=", ".join(
            f"{r.service}: {r.text!r} ({int(r.cases)})" for r in ctx.m.unparsed_limits.itertuples(index=False))))
    cal = ctx.calendar
    calendar_note = (f"working days on the Chinese calendar (State Council holiday schedule incl. make-up days); "
                     f"office hours {', '.join(a + '-' + b for a, b in cal.office_hours)}; clock from the "
                     f"{'day of' if cal.first_day == 'include' else 'working day after'} acceptance")
    return AuditResult(ctx.findings, metrics, ctx.skipped, notes, ctx.cases, rules.name,
                       as_of=ctx.m.as_of, calendar_note=calendar_note, measured=ctx.m)


# ----------------------------------------------------------------------------- metrics


def _service_metrics(ctx: _Ctx, agg, has_materials: bool) -> dict[str, dict]:
    out = {}
    share = agg["shareable"]
    share_by = share.groupby("service")["n"].sum() if len(share) else pd.Series(dtype="int64")
    ow = agg["office_wait"]
    office_wait = pd.Series(ow["median_wait"].to_numpy(dtype=float), index=ow["service"].astype(str).to_numpy())
    unparsed = ctx.m.unparsed_limits
    read = ["service", "events", "visits", "outcome", "status", "sla_days", "statutory_days", "due_soon",
            "materials_submitted", "repeated_material_submissions", "clock_days", "lead_days",
            "correction_requested", "over_statute"]
    for service, g in ctx.cases[read].groupby("service", sort=True):  # the columns read, not every column copied
        m = {"cases": int(len(g)), "events": int(g["events"].sum()),
             "steps_per_case": _r(g["events"].mean(), 3)}
        rates = service_rates(g)
        for key in ("zero_trip_rate", "at_most_once_rate", "at_most_once_rate_complete"):
            rates[key] = _r(rates[key], 4) if rates[key] is not None else None
        rates["average_visits"] = _r(rates["average_visits"], 3) if rates["average_visits"] is not None else None
        for key in ("on_time_rate", "early_rate", "overdue_rate", "instant_share", "compression_ratio"):
            rates[key] = _r(rates[key], 4) if rates[key] is not None else None
        m.update(rates)
        v = g["visits"]
        m["visits_distribution"] = ({str(k): int(n) for k, n in v.dropna().astype(int).value_counts().sort_index().items()}
                                    if v.notna().any() else None)
        if has_materials:
            m["documents_per_case"] = _r(g["materials_submitted"].mean(), 3)
            m["repeated_submissions"] = int(g["repeated_material_submissions"].sum())
            m["shareable_submissions"] = int(share_by.get(service, 0))
        else:
            m["documents_per_case"] = m["repeated_submissions"] = m["shareable_submissions"] = None
        closed = g[g["status"] == "办结"]
        m["median_clock_days"] = _r(closed["clock_days"].median()) if closed["clock_days"].notna().any() else None
        m["median_sla_days"] = _r(g["sla_days"].astype(float).median()) if g["sla_days"].notna().any() else None
        m["median_lead_days"] = _r(g["lead_days"].median()) if g["lead_days"].notna().any() else None
        w = office_wait.get(str(service))
        m["median_wait_work_hours"] = _r(w) if w is not None and w == w else None
        u = unparsed[unparsed["service"] == service]
        m["unparsed_limits"] = {str(r.text): int(r.cases) for r in u.itertuples(index=False)}
        m["outcomes"] = {str(k): int(n) for k, n in g["outcome"].value_counts().sort_index().items()}
        out[str(service)] = m
    return out


# ----------------------------------------------------------------------------- kinds
# Each kind reads the engine's aggregates (procmine.engine.findings): one row per
# candidate, its counts and sums, and its evidence; here: thresholds and wording.


def _hours(us) -> float:
    """Integer microseconds (an engine sum) → hours."""
    return float(us) / 3_600_000_000 if us is not None and us == us else 0.0


def _counts(frame: pd.DataFrame, keys: list[str], name: str) -> dict[tuple, dict[str, int]]:
    """An aggregate's rows (keys…, name, n) → {key: {name: count, names ascending}}."""
    out: dict[tuple, dict[str, int]] = {}
    if frame.empty:
        return out
    frame = frame[frame[name].notna()].sort_values(keys + [name], kind="stable")
    cols = [frame[k].astype(object).to_numpy() for k in keys]
    names = frame[name].astype(object).to_numpy()
    ns = frame["n"].to_numpy(dtype="int64")
    for i in range(len(frame)):
        d = out.setdefault(tuple(c[i] for c in cols), {})
        d[str(names[i])] = d.get(str(names[i]), 0) + int(ns[i])
    return out


def _excess_visits(ctx: _Ctx, agg) -> None:
    cases = ctx.cases[["service", "case_id", "visits"]]
    steps_by = _counts(agg["later_trips"], ["service"], "activity")
    kinds_by = _counts(agg["later_trips"], ["service"], "trip_kind")
    for service, g in cases.groupby("service", sort=True):
        v = g["visits"]
        multi = g[v.notna() & (v.fillna(0) > 1)]
        if multi.empty:
            continue
        extra = int((multi["visits"].astype(int) - 1).sum())
        steps, kinds = steps_by.get((service,), {}), kinds_by.get((service,), {})
        share = len(multi) / len(g)
        top_kind = min(kinds.items(), key=lambda x: (-x[1], x[0]))[0] if kinds else ""
        f = Finding("excess_visits", service, int(len(multi)), extra, "trips",
                    _evidence(multi["case_id"], multi["visits"].astype(float)),
                    {"service": service, "cases": len(multi), "share": _pct(share), "extra": extra, "steps": _top(steps)},
                    details={"extra_trip_steps": {str(k): int(n) for k, n in steps.items()}},
                    action_key=f"action.{top_kind}" if top_kind in ("pickup", "correction", "intake") else "")
        ctx.add(f)


def _repeated_material(ctx: _Ctx, agg) -> None:
    w = agg["repeated_where"]
    depts_by = _counts(w[w["what"] == "department"], ["service", "material"], "name")
    steps_by = _counts(w[w["what"] == "activity"], ["service", "material"], "name")
    ev = agg.evidence["repeated"]
    for r in agg["repeated"].sort_values(["service", "material"], kind="stable").itertuples(index=False):
        service, material = r.service, r.material
        depts, steps = depts_by.get((service, material), {}), steps_by.get((service, material), {})
        at = _top(depts) if len(depts) > 1 else _top(steps)
        extra = int(r.extra)
        ctx.add(Finding(
            "repeated_material", service, int(r.cases), extra, "documents", ev.get((service, material), []),
            {"service": service, "material": material, "cases": int(r.cases), "extra": extra, "where": at},
            material=material,
            details={"steps": {str(k): int(v) for k, v in steps.items()},
                     "departments": {str(k): int(v) for k, v in depts.items()}}))


def _shareable_material(ctx: _Ctx, agg) -> None:
    source_of = dict(zip(agg["share_names"]["material"], agg["share_names"]["source"]))
    steps_by = _counts(agg["shareable_steps"], ["service", "material"], "activity")
    ev = agg.evidence["shareable"]
    for r in agg["shareable"].sort_values(["service", "material"], kind="stable").itertuples(index=False):
        service, material = r.service, r.material
        source = source_of[material]
        steps = steps_by.get((service, material), {})
        ctx.add(Finding(
            "shareable_material", service, int(r.cases), int(r.n), "documents", ev.get((service, material), []),
            {"service": service, "material": material, "source": source,
             "source_en": "shared data" if source == "数据共享" else "e-licences", "cases": int(r.cases),
             "count": int(r.n)},
            material=material, details={"source": source, "steps": {str(k): int(v) for k, v in steps.items()}}))


def _rework(ctx: _Ctx, agg) -> None:
    ev = agg.evidence["rework"]
    per_day = ctx.calendar.office_hours_per_day
    for r in agg["rework"].sort_values(["service", "activity"], kind="stable").itertuples(index=False):
        hours = _hours(r.us)
        ctx.add(Finding(
            "rework", r.service, int(r.cases), int(r.n), "steps", ev.get((r.service, r.activity), []),
            {"service": r.service, "activity": r.activity, "cases": int(r.cases), "count": int(r.n),
             "work_hours": _fmt(hours), "per_case": _fmt(hours / per_day / max(int(r.cases), 1))},
            activity=r.activity, details={"work_hours": _r(hours)}))


def _duplicate_check(ctx: _Ctx, agg) -> None:
    depts_by = _counts(agg["duplicate_depts"], ["service", "activity"], "department")
    ev = agg.evidence["duplicate"]
    for r in agg["duplicate"].sort_values(["service", "activity"], kind="stable").itertuples(index=False):
        depts = depts_by.get((r.service, r.activity), {})
        ctx.add(Finding(
            "duplicate_check", r.service, int(r.cases), int(r.extra), "steps", ev.get((r.service, r.activity), []),
            {"service": r.service, "activity": r.activity, "cases": int(r.cases), "departments": len(depts),
             "where": _top(depts)},
            activity=r.activity, details={"departments": sorted(depts)}))


def _rubber_stamp(ctx: _Ctx, agg) -> None:
    from ..engine.findings import rubber_qualifies

    ev = agg.evidence["rubber"]
    per_day = ctx.calendar.office_hours_per_day
    for r in agg["rubber"].sort_values(["service", "activity"], kind="stable").itertuples(index=False):
        if not rubber_qualifies(r, ctx.t):
            continue
        median = float(r.median_minutes)
        pass_share = int(r.passed) / int(r.occurrences)
        hours = _hours(r.us)
        ctx.add(Finding(
            "rubber_stamp", r.service, int(r.cases), hours, "work_hours", ev.get((r.service, r.activity), []),
            {"service": r.service, "activity": r.activity, "minutes": _fmt(median, 0),
             "pass_share": f"{pass_share:.1%}", "work_hours": _fmt(hours),
             "per_case": _fmt(hours / per_day / max(int(r.cases), 1))},
            activity=r.activity,
            details={"median_minutes": _r(median), "pass_share": _r(pass_share, 4), "occurrences": int(r.occurrences),
                     "median_wait_work_hours": _r(r.median_wait)}))


PAIRS_LISTED = 5  # pairs a parallelizable finding names in its sentence (details hold them all)


def _parallelizable(ctx: _Ctx, agg) -> None:
    """One finding per service: the pairs of its steps that cases run in either order,
    listed by cases affected; its cases are the cases with any such pair (once), its
    impact the working days the pair affecting most cases would save (the pairs'
    savings overlap inside a case: they are not added up)."""
    per_day = ctx.calendar.office_hours_per_day
    ev = agg.evidence.get("parallel", {})
    frame = agg["parallel"]
    if frame.empty:
        return
    distinct = dict(zip(agg["parallel_cases"]["service"].astype(str), agg["parallel_cases"]["cases"].astype(int)))
    for service, g in frame.groupby("service", sort=True):
        g = g.assign(n=g["n"].astype("int64")).sort_values(["n", "a", "b"], ascending=[False, True, True],
                                                           kind="stable")
        pairs = []
        for r in g.itertuples(index=False):
            p = int(r.a_first) / int(r.n)
            pairs.append({"a": r.a, "b": r.b, "cases": int(r.n), "share_a_first": _r(p, 4),
                          "median_saving_working_days": _r(float(r.median) / per_day),
                          "saving_working_days": _r(_hours(r.us) / per_day)})
        top = pairs[0]
        first = g.iloc[0]
        # the saving a case on average (the median is 0 where most cases of a pair lose nothing)
        def avg(x):
            return _fmt((x["saving_working_days"] or 0) / max(x["cases"], 1), 2)
        listed = "；".join(say("label.pair", "zh", a=x["a"], b=x["b"], cases=x["cases"], days=avg(x))
                          for x in pairs[:PAIRS_LISTED])
        listed_en = "; ".join(say("label.pair", "en", a=x["a"], b=x["b"], cases=x["cases"], days=avg(x))
                              for x in pairs[:PAIRS_LISTED])
        more = len(pairs) - PAIRS_LISTED
        ctx.add(Finding(
            "parallelizable", str(service), int(distinct.get(str(service), top["cases"])),
            _hours(first["us"]) / per_day, "working_days",
            ev.get((service, first["a"], first["b"]), []),
            {"service": service, "pairs": len(pairs), "listed": listed, "listed_en": listed_en,
             "more": say("label.more_pairs", "zh", n=more) if more > 0 else "",
             "more_en": say("label.more_pairs", "en", n=more) if more > 0 else "",
             "cases": int(distinct.get(str(service), top["cases"]))},
            activity=f"{top['a']} | {top['b']}",
            details={"pairs": pairs, "share_a_first": top["share_a_first"],
                     "median_saving_work_hours": _r(float(first["median"]))}))


def _serial_signoff(ctx: _Ctx, agg) -> None:
    ev = agg.evidence["serial"]
    per_day = ctx.calendar.office_hours_per_day
    for r in agg["serial"].sort_values(["service", "department", "chain"], kind="stable").itertuples(index=False):
        levels, wait = int(r.levels), _hours(r.us)
        ctx.add(Finding(
            "serial_signoff", r.service, int(r.cases), int(r.extra), "steps",
            ev.get((r.service, r.department, r.chain), []),
            {"service": r.service, "department": r.department, "levels": levels, "chain": r.chain,
             "work_hours": _fmt(wait), "per_case": _fmt(wait / per_day / max(int(r.cases), 1))},
            department=r.department, activity=r.chain,
            details={"levels": levels, "wait_work_hours_between_levels": _r(wait)}))


def _duration(hours: float, per_day: float) -> tuple[str, str]:
    """A wait in the unit a leader reads: working days from one office day up, else working hours."""
    if hours >= per_day:
        return say("unit.working_days", "zh", n=_fmt(hours / per_day)), say("unit.working_days", "en", n=_fmt(hours / per_day))
    return say("unit.work_hours", "zh", n=_fmt(hours)), say("unit.work_hours", "en", n=_fmt(hours))


VIEWS = ("department", "activity", "handover")


def _bottleneck(ctx: _Ctx, agg) -> None:
    """Waits the office controls, inside the legal clock (受理 → 办结), §45 pauses left
    out. Baseline: the median of the non-zero waits of the service's other steps (a
    department or handover: of all its steps), so that it is never 0 when most steps
    follow at once. A step, department or handover is a bottleneck only when its own
    median wait is above its baseline; its impact is the working time its waits add
    beyond the baseline, in working days: per affected case, and over the cases
    affected (selection: :func:`procmine.engine.findings._bottleneck`)."""
    if not agg.flags.get("waits"):
        ctx.skip("bottleneck", "skip.no_waits")
        return
    if not agg.flags.get("baseline"):
        ctx.skip("bottleneck", "skip.no_baseline")
        return
    per_day = ctx.calendar.office_hours_per_day
    ev = agg.evidence.get("bottleneck", {})
    for r in agg["bottleneck"].itertuples(index=False):
        service, view, key = str(r.service), VIEWS[int(r.view)], str(r.key)
        base = float(r.base)
        delay, p50, p90 = float(r.delay), float(r.p50), float(r.p90)
        cases = int(r.cases)
        days = delay / per_day
        per_case = days / max(cases, 1)
        label_key = {"activity": "label.before_step", "department": "label.department",
                     "handover": "label.handover"}[view]
        base_key = {"activity": "label.baseline_others", "department": "label.baseline_depts",
                    "handover": "label.baseline_all"}[view]
        (p50_zh, p50_en), (p90_zh, p90_en), (b_zh, b_en) = (_duration(p50, per_day), _duration(p90, per_day),
                                                            _duration(base, per_day))
        ctx.add(Finding(
            "bottleneck", service, cases, days, "working_days", ev.get((int(r.s), int(r.view), int(r.k)), []),
            {"service": service, "label": say(label_key, "zh", name=key), "label_en": say(label_key, "en", name=key),
             "p50": p50_zh, "p90": p90_zh, "baseline": say(base_key, "zh", wait=b_zh),
             "baseline_en": say(base_key, "en", wait=b_en), "cases": cases, "per_case": _fmt(per_case),
             "days": _fmt(days), "p50_en": p50_en, "p90_en": p90_en},
            activity=key if view == "activity" else None,
            department=key if view in ("department", "handover") else None,
            details={"view": view, "wait_p50_work_hours": _r(p50), "wait_p90_work_hours": _r(p90),
                     "baseline_work_hours": _r(base), "events": int(r.events),
                     "excess_work_hours": _r(delay), "excess_working_days_per_case": _r(per_case),
                     "excess_in_late_cases_work_hours": _r(float(r.in_late))}))


def _sla_overrun(ctx: _Ctx, agg) -> None:
    cases = ctx.cases
    over = cases[cases["outcome"] == "超期"]
    if over.empty:
        return
    went = _counts(agg["late_steps"], ["service"], "activity")
    for service, g in over.groupby("service", sort=True):
        late = g["days_over"].astype(float).fillna(0)  # the case model's, against the limit the outcome uses
        excess = float(late.sum())
        where = went.get((service,), {})
        limit = g["sla_days"].astype(float).median()
        ctx.add(Finding(
            "sla_overrun", service, int(len(g)), excess if excess > 0 else float(len(g)),
            "working_days" if excess > 0 else "cases",
            _evidence(g["case_id"], late),
            {"service": service, "cases": len(g), "limit": _fmt(limit) if limit == limit else "—",
             "days": _fmt(excess), "steps": _top(where)},
            details={"time_went_to": {str(k): int(v) for k, v in where.items()},
                     "sla_days": _r(limit), "over_statute": _statutory(g)}))


def _open_overdue(ctx: _Ctx) -> None:
    cases = ctx.cases
    over = cases[cases["outcome"] == "超期在办"]
    for service, g in over.groupby("service", sort=True):
        late = (-g["days_left"]).fillna(0).clip(lower=0)
        ctx.add(Finding(
            "open_overdue", service, int(len(g)), float(len(g)), "cases", _evidence(g["case_id"], late),
            {"service": service, "cases": len(g), "as_of": f"{ctx.m.as_of:%Y-%m-%d}", "days": _fmt(float(late.sum()))},
            details={"days_over": _r(float(late.sum())), "over_statute": _statutory(g)}))


def _statutory(g: pd.DataFrame) -> int | None:
    """How many of these cases are past the statutory limit too (the case model's flag)."""
    if "over_statute" not in g:
        return None
    return int(g["over_statute"].astype("boolean").fillna(False).astype(bool).sum())


FACTOR_LABELS = {"trips": ("跑动次数", "number of trips"), "outcome": ("是否按时办结", "on time or late"),
                 "correction": ("是否要求补正", "whether a correction was requested"),
                 "channel": ("受理渠道", "channel"), "department": ("承办部门", "department")}


def _rating_drivers(ctx: _Ctx, log: pd.DataFrame) -> None:
    """好差评: process factors whose groups differ in 差评率 (interval excluding zero)."""
    from .ratings import analyse_ratings, paradoxical

    if log is None or "rating" not in log or log["rating"].isna().all():
        ctx.skip("rating_driver", "skip.ratings")
        return
    r = analyse_ratings(log, ctx.rules, measured=ctx.m)
    if r is None or r.drivers.empty:
        return
    min_points = ctx.t.get("rating_driver_min_points", 5) / 100
    same_as = getattr(r, "same_as", None) or {}
    for d in r.drivers.itertuples(index=False):
        if not d.significant or d.difference < min_points:
            continue
        zh, en = FACTOR_LABELS[d.factor]
        cases = int(d.high_cases)
        paradox = paradoxical(d.factor, str(d.high), str(d.low))
        twin = same_as.get(d.factor)
        if paradox:
            reading = "reading.paradox"
        elif twin:
            reading = "reading.same_groups"
        else:
            reading = "reading.driver"
        twin_zh, twin_en = FACTOR_LABELS.get(twin, ("", ""))
        ctx.add(Finding(
            "rating_driver", "全部事项", cases, round(float(d.difference) * 100, 1), "points", [],
            {"factor": zh, "factor_en": en, "high": d.high, "high_rate": _pct(d.high_rate), "low": d.low,
             "low_rate": _pct(d.low_rate), "points": _fmt(d.difference * 100), "ci_low": _fmt(d.ci_low * 100),
             "ci_high": _fmt(d.ci_high * 100),
             "reading": say(reading, "zh", high=d.high, low=d.low, other=twin_zh),
             "reading_en": say(reading, "en", high=d.high, low=d.low, other=twin_en)},
            details={"factor": d.factor, "high_cases": int(d.high_cases), "low_cases": int(d.low_cases),
                     "difference": _r(d.difference, 4), "ci": [_r(d.ci_low, 4), _r(d.ci_high, 4)],
                     "high": str(d.high), "low": str(d.low), "high_rate": _r(d.high_rate, 4),
                     "low_rate": _r(d.low_rate, 4), "paradoxical": paradox, "same_groups_as": twin}))


def _bundle_candidates(ctx: _Ctx, log: pd.DataFrame) -> None:
    """一件事 nobody declared yet: services the same applicants apply for together."""
    from .bundles import applicant_key, candidate_bundles, load_bundles

    key = applicant_key(log) if log is not None else None
    if key is None:
        ctx.skip("bundle_candidate", "skip.applicants")
        return
    declared = ctx.rules.bundles.get("declared")
    cand = candidate_bundles(ctx.cases, key, load_bundles(declared) if declared else [], ctx.m, ctx.rules)
    for c in cand.itertuples(index=False):
        extra = c.extra_trips if c.extra_trips is not None else 0
        ctx.add(Finding(
            "bundle_candidate", c.services, int(c.applicants), float(max(extra, 0) + c.repeated_documents),
            "trips" if c.extra_trips is not None else "documents", list(c.evidence),
            {"services": c.services, "applicants": int(c.applicants), "trips": "—" if c.trips is None else c.trips,
             "repeated": int(c.repeated_documents)},
            details={"applicants": int(c.applicants), "trips": c.trips, "extra_trips": c.extra_trips,
                     "repeated_documents": int(c.repeated_documents)}))
