"""Audit a canonical log against 最多跑一次: findings ranked by impact.

Analysis only: this module returns plain data (:class:`AuditResult`); the CLI
and the reports render it. Every number comes from :mod:`procmine.metrics`, so
``procmine cases`` and ``procmine audit`` agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from . import __version__
from .messages import say
from .metrics import measure, note, service_rates, trip_visits
from .parsing import str_match
from .rules import Rules, load_rules

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
    handovers: pd.DataFrame | None = None  # documents handed over (one row each), for the reports
    as_of: pd.Timestamp | None = None
    calendar_note: str = ""
    measured: object = None  # procmine.metrics.Measured: the events and cases behind every number

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


def _top(counts: pd.Series, k: int = 3) -> str:
    counts = counts.sort_index().sort_values(ascending=False, kind="stable").head(k)
    return "、".join(f"{name}({int(n)})" for name, n in counts.items())


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
    from .eventlog import conform_columns, read_columns

    probe = read_columns(path, ("rating", "applicant", "applicant_id"))
    if probe.empty or not probe.notna().any().any():
        return None
    return conform_columns(read_columns(path, SIDE_COLUMNS))


class _Ctx:
    def __init__(self, m, rules: Rules) -> None:
        self.rules = rules
        self.t = rules.thresholds
        self.min_cases = int(self.t.get("min_cases", 5))
        self.m = m
        self.facts = self.m.facts
        self.calendar = self.m.calendar
        self.handovers = self.m.handovers
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
    ``engine``: "duckdb" (default), "spark" or an ``EngineOptions``.

    >>> result = audit("out/log.parquet")                       # doctest: +SKIP
    >>> result.findings[0].summary                              # doctest: +SKIP
    """
    rules = load_rules(rules)
    m = measure(log, rules, as_of=as_of, engine=engine)
    if not isinstance(log, pd.DataFrame):
        log = side_log(log)
    ctx = _Ctx(m, rules)
    f = ctx.facts
    known = ctx.m.trips_known
    has_trips = bool(known.any()) and bool(f["trip"].any())
    has_materials = bool((ctx.cases["materials_submitted"] > 0).any())
    has_service_time = bool(f["service_hours"].notna().any())
    has_departments = bool(f["department"].notna().any())
    has_sla = bool(ctx.cases["outcome"].isin(["即办", "提前", "按时", "超期", "超期在办"]).any()
                   or ctx.cases["sla_days"].notna().any())

    if has_trips:
        _excess_visits(ctx)
    else:
        ctx.skip("excess_visits", "skip.excess_visits")
    for service in sorted(s for s, ok in known.items() if not ok and s):
        if has_trips:
            ctx.skip("excess_visits", "skip.trips_service", service)
    if has_materials:
        hand = ctx.handovers
        _repeated_material(ctx, hand)
        _shareable_material(ctx, hand)
    else:
        for kind in ("repeated_material", "shareable_material"):
            ctx.skip(kind, "skip.materials")
    _rework(ctx)
    if has_departments:
        _duplicate_check(ctx)
    else:
        ctx.skip("duplicate_check", "skip.departments")
    if has_service_time:
        _rubber_stamp(ctx)
    else:
        ctx.skip("rubber_stamp", "skip.service_time")
    _parallelizable(ctx)
    _serial_signoff(ctx)
    _bottleneck(ctx, has_departments)
    if has_sla:
        _sla_overrun(ctx)
        _open_overdue(ctx)
    else:
        ctx.skip("sla_overrun", "skip.sla")

    _rating_drivers(ctx, log)
    _bundle_candidates(ctx, log)
    ctx.findings.sort(key=lambda x: (-x.score, x.kind, x.service, x.activity or "", x.department or "",
                                     x.material or ""))
    metrics = _service_metrics(ctx, has_materials)
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
    return AuditResult(ctx.findings, metrics, ctx.skipped, notes, ctx.cases, rules.name, ctx.handovers,
                       as_of=ctx.m.as_of, calendar_note=calendar_note, measured=ctx.m)


# ----------------------------------------------------------------------------- metrics


def _service_metrics(ctx: _Ctx, has_materials: bool) -> dict[str, dict]:
    out = {}
    cat = ctx.rules.catalogue
    hand = ctx.handovers
    shareable = hand[_shareable(hand, cat)] if len(hand) else hand
    share_by = shareable.groupby("service").size() if len(shareable) else pd.Series(dtype="int64")
    office_wait = ctx.facts[ctx.facts["wait_owner"] == "office"].groupby("service")["wait_work_hours"].median()
    unparsed = ctx.m.unparsed_limits
    for service, g in ctx.cases.groupby("service", sort=True):
        m = {"cases": int(len(g)), "events": int(g["events"].sum()),
             "steps_per_case": _r(g["events"].mean(), 3)}
        rates = service_rates(g)
        for key in ("zero_trip_rate", "at_most_once_rate"):
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
        w = office_wait.get(service)
        m["median_wait_work_hours"] = _r(w) if w is not None and w == w else None
        u = unparsed[unparsed["service"] == service]
        m["unparsed_limits"] = {str(r.text): int(r.cases) for r in u.itertuples(index=False)}
        m["outcomes"] = {str(k): int(n) for k, n in g["outcome"].value_counts().sort_index().items()}
        out[str(service)] = m
    return out


# ----------------------------------------------------------------------------- kinds


def _excess_visits(ctx: _Ctx) -> None:
    cases = ctx.cases
    trips = ctx.m.trips if ctx.m.trips is not None else trip_visits(ctx.facts, ctx.rules.same_visit_gap_hours)
    later = trips[trips["visit"] > 1].drop_duplicates(["case_id", "visit"])  # the step that opened each extra visit
    for service, g in cases.groupby("service", sort=True):
        v = g["visits"]
        multi = g[v.notna() & (v.fillna(0) > 1)]
        if multi.empty:
            continue
        extra = int((multi["visits"].astype(int) - 1).sum())
        lv = later[later["service"] == service]
        steps = lv["activity"].value_counts()
        kinds = lv["trip_kind"].value_counts()
        share = len(multi) / len(g)
        top_kind = str(kinds.sort_index().sort_values(ascending=False, kind="stable").index[0]) if len(kinds) else ""
        f = Finding("excess_visits", service, int(len(multi)), extra, "trips",
                    _evidence(multi["case_id"], multi["visits"].astype(float)),
                    {"service": service, "cases": len(multi), "share": _pct(share), "extra": extra, "steps": _top(steps)},
                    details={"extra_trip_steps": {str(k): int(n) for k, n in steps.sort_index().items()}},
                    action_key=f"action.{top_kind}" if top_kind in ("pickup", "correction", "intake") else "")
        ctx.add(f)


def _repeated_material(ctx: _Ctx, hand: pd.DataFrame) -> None:
    per = hand.groupby(["service", "case_id", "material"], sort=True).size().rename("n").reset_index()
    rep = per[per["n"] > 1]
    if rep.empty:
        return
    where_all = hand.merge(rep[["service", "case_id", "material"]], on=["service", "case_id", "material"])
    places = {k: g for k, g in where_all.groupby(["service", "material"], sort=False)}
    for (service, material), g in rep.groupby(["service", "material"], sort=True):
        extra = int((g["n"] - 1).sum())
        where = places[(service, material)]
        depts = where["department"].dropna().value_counts()
        steps = where["activity"].value_counts()
        at = _top(depts) if len(depts) > 1 else _top(steps)
        ctx.add(Finding(
            "repeated_material", service, int(len(g)), extra, "documents", _evidence(g["case_id"], g["n"]),
            {"service": service, "material": material, "cases": len(g), "extra": extra, "where": at},
            material=material,
            details={"steps": {str(k): int(v) for k, v in steps.sort_index().items()},
                     "departments": {str(k): int(v) for k, v in depts.sort_index().items()}}))


def _shareable(hand: pd.DataFrame, cat) -> np.ndarray:
    """The hand-overs of documents that e-licences or shared data could replace."""
    names = [m for m in hand["material"].dropna().unique() if cat.replaceable(m) is not None]
    return hand["material"].isin(names).to_numpy(dtype=bool)


def _shareable_material(ctx: _Ctx, hand: pd.DataFrame) -> None:
    cat = ctx.rules.catalogue
    share = hand[_shareable(hand, cat)]
    for (service, material), g in share.groupby(["service", "material"], sort=True):
        n_cases = g["case_id"].nunique()
        source = cat.replaceable(material)
        per_case = g.groupby("case_id").size()
        ctx.add(Finding(
            "shareable_material", service, int(n_cases), int(len(g)), "documents",
            _evidence(per_case.index.to_series(), per_case),
            {"service": service, "material": material, "source": source,
             "source_en": "shared data" if source == "数据共享" else "e-licences", "cases": n_cases, "count": len(g)},
            material=material, details={"source": source,
                                        "steps": {str(k): int(v) for k, v in g["activity"].value_counts().sort_index().items()}}))


def _rework(ctx: _Ctx) -> None:
    f = ctx.facts
    occ = f.groupby(["case_id", "activity"], sort=False).cumcount()
    repeats = f[occ > 0].assign(hours=lambda d: d["wait_work_hours"].fillna(0) + d["service_work_hours"].fillna(0))
    for (service, activity), g in repeats.groupby(["service", "activity"], sort=True):
        per_case = g.groupby("case_id").size()
        hours = float(g["hours"].sum())
        ctx.add(Finding(
            "rework", service, int(len(per_case)), int(len(g)), "steps", _evidence(per_case.index.to_series(), per_case),
            {"service": service, "activity": activity, "cases": len(per_case), "count": len(g), "work_hours": _fmt(hours)},
            activity=activity, details={"work_hours": _r(hours)}))


def _duplicate_check(ctx: _Ctx) -> None:
    f = ctx.facts[ctx.facts["department"].notna()]
    n = f.groupby(["service", "activity", "case_id"], sort=True)["department"].nunique().rename("n").reset_index()
    dup = n[n["n"] > 1]
    if dup.empty:
        return
    involved = f.merge(dup[["service", "activity", "case_id"]], on=["service", "activity", "case_id"])
    depts_by = {k: g["department"] for k, g in involved.groupby(["service", "activity"], sort=False)}
    for (service, activity), g in dup.groupby(["service", "activity"], sort=True):
        depts = depts_by[(service, activity)]
        ctx.add(Finding(
            "duplicate_check", service, int(len(g)), int((g["n"] - 1).sum()), "steps", _evidence(g["case_id"], g["n"]),
            {"service": service, "activity": activity, "cases": len(g), "departments": depts.nunique(),
             "where": _top(depts.value_counts())},
            activity=activity, details={"departments": sorted(map(str, depts.unique()))}))


def _rubber_stamp(ctx: _Ctx) -> None:
    f, rules = ctx.facts, ctx.rules
    sign = str_match(f["activity"], f".*(?:{rules.signoff})")
    reject = str_match(f["activity"], f".*(?:{rules.reject})")
    # a step "passes" when no reject-type step and no repeat of itself follows in the case
    rej_pos = f.loc[reject, ["case_id", "pos"]].groupby("case_id")["pos"].max()
    last_pos_same = f.groupby(["case_id", "activity"])["pos"].transform("max")
    cand = f[sign].copy()
    cand["later_reject"] = (cand["case_id"].map(rej_pos).fillna(-1).to_numpy() > cand["pos"].to_numpy())
    cand["repeated_later"] = last_pos_same[sign].to_numpy() > cand["pos"].to_numpy()
    cand["passes"] = ~(cand["later_reject"] | cand["repeated_later"])
    max_min = ctx.t.get("rubber_stamp_max_minutes", 15)
    min_pass = ctx.t.get("rubber_stamp_min_pass_share", 0.98)
    for (service, activity), g in cand.groupby(["service", "activity"], sort=True):
        minutes = g["service_hours"].dropna() * 60
        if len(minutes) < ctx.min_cases:
            continue
        median = float(minutes.median())
        pass_share = float(g["passes"].mean())
        if median > max_min or pass_share < min_pass:
            continue
        hours = float((g["wait_work_hours"].fillna(0) + g["service_work_hours"].fillna(0)).sum())
        ctx.add(Finding(
            "rubber_stamp", service, int(g["case_id"].nunique()), hours, "work_hours",
            _evidence(g["case_id"], g["wait_work_hours"].fillna(0)),
            {"service": service, "activity": activity, "minutes": _fmt(median, 0), "pass_share": f"{pass_share:.1%}",
             "work_hours": _fmt(hours)},
            activity=activity,
            details={"median_minutes": _r(median), "pass_share": _r(pass_share, 4), "occurrences": int(len(g)),
                     "median_wait_work_hours": _r(g["wait_work_hours"].median())}))


def _parallelizable(ctx: _Ctx) -> None:
    f = ctx.facts
    min_cases = int(ctx.t.get("parallel_min_cases", 20))
    min_share = ctx.t.get("parallel_min_share_each_order", 0.2)
    per_day = ctx.calendar.office_hours_per_day
    first = f.drop_duplicates(["case_id", "activity"])
    span = (first["wait_work_hours"].fillna(0) + first["service_work_hours"].fillna(0)).to_numpy()
    first = first.assign(span=span)
    for service, g in first.groupby("service", sort=True):
        counts = g["activity"].value_counts()
        counts = counts[counts >= min_cases]
        acts = sorted(counts.sort_index().sort_values(ascending=False, kind="stable").index[:40])
        if len(acts) < 2:
            continue
        sub = g[g["activity"].isin(acts)]  # one row per case and activity (first occurrences)
        case, case_names = pd.factorize(sub["case_id"], sort=True)
        col = sub["activity"].map({a: i for i, a in enumerate(acts)}).to_numpy(dtype=np.int64)
        pos = np.full((len(case_names), len(acts)), np.nan)
        spn = np.full((len(case_names), len(acts)), np.nan)
        pos[case, col] = sub["pos"].to_numpy(dtype=float)
        spn[case, col] = sub["span"].to_numpy(dtype=float)
        present = ~np.isnan(pos)
        case_names = np.asarray(case_names.astype(str), dtype=object)
        for (i, a), (j, b) in combinations(enumerate(acts), 2):
            both = present[:, i] & present[:, j]
            n_both = int(both.sum())
            if n_both < min_cases:
                continue
            p = float((pos[both, i] < pos[both, j]).mean())
            if min(p, 1 - p) < min_share:
                continue
            saving = np.minimum(spn[both, i], spn[both, j])
            ctx.add(Finding(
                "parallelizable", service, n_both, float(saving.sum()), "work_hours",
                _evidence(pd.Series(case_names[both]), pd.Series(saving)),
                {"service": service, "a": a, "b": b, "share_a": _pct(p),
                 "median_days": _fmt(float(np.median(saving)) / per_day), "work_hours": _fmt(float(saving.sum()))},
                activity=f"{a} | {b}", details={"share_a_first": _r(p, 4),
                                                "median_saving_work_hours": _r(float(np.median(saving)))}))


def _serial_signoff(ctx: _Ctx) -> None:
    f = ctx.facts
    sign = str_match(f["activity"], f".*(?:{ctx.rules.signoff})")
    dept = f["department"].fillna("").astype(str).to_numpy()
    case = f["case_id"].to_numpy()
    new = np.ones(len(f), dtype=bool)
    new[1:] = ~(sign[1:] & sign[:-1] & (dept[1:] == dept[:-1]) & (case[1:] == case[:-1]))
    run = np.cumsum(new)
    s = f.loc[sign, ["case_id", "service", "department", "activity", "wait_work_hours"]].assign(run=run[sign])
    if s.empty:
        return
    min_levels = int(ctx.t.get("serial_signoff_min_levels", 3))
    # per run (runs are contiguous in s): size, first row, chain text, waits after the first level
    r = s["run"].to_numpy()
    starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
    levels = np.diff(np.r_[starts, len(s)])
    level = np.arange(len(s)) - np.repeat(starts, levels)
    wait = np.where(level > 0, s["wait_work_hours"].to_numpy(dtype=float, na_value=np.nan), 0.0)
    wait = np.add.reduceat(np.nan_to_num(wait, nan=0.0), starts)
    keep = levels >= min_levels
    if not keep.any():
        return
    acts = np.asarray(s["activity"].astype(object).to_numpy(), dtype=object)
    chain = [" → ".join(map(str, acts[a:a + n])) for a, n in zip(starts[keep], levels[keep])]
    first = s.iloc[starts[keep]]
    runs = pd.DataFrame({"case_id": first["case_id"].to_numpy(), "service": first["service"].to_numpy(),
                         "department": first["department"].to_numpy(), "levels": levels[keep],
                         "wait": wait[keep], "chain": chain})
    runs["department"] = runs["department"].fillna("（未注明部门）")
    for (service, department, chain), g in runs.groupby(["service", "department", "chain"], sort=True):
        levels = int(g["levels"].iloc[0])
        ctx.add(Finding(
            "serial_signoff", service, int(g["case_id"].nunique()), int(((g["levels"] - 1)).sum()), "steps",
            _evidence(g["case_id"], g["wait"]),
            {"service": service, "department": department, "levels": levels, "chain": chain,
             "work_hours": _fmt(float(g["wait"].sum()))},
            department=department, activity=chain,
            details={"levels": levels, "wait_work_hours_between_levels": _r(float(g["wait"].sum()))}))


def _duration(hours: float, per_day: float) -> tuple[str, str]:
    """A wait in the unit a leader reads: working days from one office day up, else working hours."""
    if hours >= per_day:
        return say("unit.working_days", "zh", n=_fmt(hours / per_day)), say("unit.working_days", "en", n=_fmt(hours / per_day))
    return say("unit.work_hours", "zh", n=_fmt(hours)), say("unit.work_hours", "en", n=_fmt(hours))


def _bottleneck(ctx: _Ctx, has_departments: bool) -> None:
    """Waits the office controls, inside the legal clock (受理 → 办结), in working hours.
    Baseline: the typical step's typical wait (median over the service's steps of their
    median wait). A step, department or handover is a bottleneck only when its own
    median wait is above the baseline; its impact is the working time its waits add
    beyond the baseline."""
    f = ctx.facts
    c = ctx.cases.set_index("case_id")
    lo = f["case_id"].map(c["accept_time"])
    hi = f["case_id"].map(c["finish_time"].fillna(pd.Timestamp(ctx.m.as_of)))
    inside = ((f["ts"] > lo) & (f["ts"] <= hi)).fillna(False).to_numpy()
    mask = (f["wait_work_hours"].notna() & (f["pos"] > 0)).to_numpy() & (f["wait_owner"] == "office").to_numpy() & inside
    if not mask.any():
        ctx.skip("bottleneck", "skip.no_waits")
        return
    per_day = ctx.calendar.office_hours_per_day
    act, act_names = pd.factorize(f["activity"])
    dept, dept_names = pd.factorize(f["department"])
    case, case_names = pd.factorize(f["case_id"])
    svc, svc_names = pd.factorize(f["service"])
    prev = np.r_[-1, dept[:-1]]
    n_dept = max(len(dept_names), 1)
    base = pd.DataFrame({"case": case[mask], "service": svc[mask], "activity": act[mask], "department": dept[mask],
                         "prev": prev[mask], "wait": f["wait_work_hours"].to_numpy()[mask]})
    base["pos"] = np.arange(len(base), dtype=np.int64)
    case_names = np.asarray(case_names.astype(str), dtype=object)
    top = int(ctx.t.get("bottleneck_top", 10))
    order = {"department": 0, "activity": 1, "handover": 2}

    def name(view: str, key: int) -> str:
        if view == "activity":
            return str(act_names[key])
        if view == "department":
            return str(dept_names[key])
        return f"{dept_names[key // n_dept]} → {dept_names[key % n_dept]}"

    for s_code, g in base.groupby("service", sort=False):
        service = str(svc_names[s_code]) if s_code >= 0 else ""
        typical = float(g.groupby("activity")["wait"].median().median())
        g = g.assign(excess=(g["wait"] - typical).clip(lower=0), pos2=g["pos"].astype(float) ** 2)
        has_dept = g["department"] >= 0
        views = []
        if has_departments and g.loc[has_dept, "department"].nunique() > 1:
            views.append(("department", g[has_dept].assign(key=g["department"])))
        views.append(("activity", g.assign(key=g["activity"])))
        if has_departments:
            ho = g[has_dept & (g["prev"] >= 0) & (g["department"] != g["prev"])]
            views.append(("handover", ho.assign(key=ho["prev"] * n_dept + ho["department"])))
        items = []
        for view, v in views:
            if v.empty:
                continue
            gk = v.groupby("key", sort=False)
            stats = pd.DataFrame({"delay": gk["excess"].sum(), "p50": gk["wait"].median(),
                                  "p90": gk["wait"].quantile(0.9), "events": gk.size(),
                                  "sig1": gk["pos"].sum(), "sig2": gk["pos2"].sum()})
            per_case = v.groupby(["key", "case"], sort=False)["excess"].sum()
            stats["cases"] = (per_case > 0).groupby(level=0).sum()
            # never a median at or below the baseline: it must exceed it by a visible margin
            margin = typical * (1 + ctx.t.get("bottleneck_min_excess_share", 0.1)) + 0.05
            stats = stats[(stats["delay"] > 0) & (stats["p50"] > margin)]
            for key, st in stats.iterrows():
                pc_ = per_case.loc[key]
                pc_.index = case_names[pc_.index.to_numpy()]
                items.append((float(st["delay"]), view, name(view, int(key)), st, pc_))
        items.sort(key=lambda x: (-round(x[0], 6), order[x[1]], x[2]))
        seen: set[tuple] = set()
        kept = []
        for item in items:  # the same waits seen through another view are one finding
            st = item[3]
            sig = (int(st["events"]), int(st["sig1"]), round(float(st["sig2"]), 3))
            if sig in seen:
                continue
            seen.add(sig)
            kept.append(item)
        late = set(ctx.cases.loc[ctx.cases["outcome"].isin(["超期", "超期在办"]), "case_id"].astype(str))
        for delay, view, key, st, per_case in kept[:top]:
            p50, p90 = float(st["p50"]), float(st["p90"])
            in_late = float(per_case[per_case.index.isin(late)].sum())
            label_key = {"activity": "label.before_step", "department": "label.department",
                         "handover": "label.handover"}[view]
            (p50_zh, p50_en), (p90_zh, p90_en), (b_zh, b_en) = (_duration(p50, per_day), _duration(p90, per_day),
                                                                _duration(typical, per_day))
            ctx.add(Finding(
                "bottleneck", service, int(st["cases"]), delay, "work_hours",
                _evidence(per_case.index.to_series(), per_case),
                {"service": service, "label": say(label_key, "zh", name=key), "label_en": say(label_key, "en", name=key),
                 "p50": p50_zh, "p90": p90_zh, "baseline": b_zh, "cases": int(st["cases"]), "work_hours": _fmt(delay)},
                activity=key if view == "activity" else None,
                department=key if view in ("department", "handover") else None,
                details={"view": view, "wait_p50_work_hours": _r(p50), "wait_p90_work_hours": _r(p90),
                         "baseline_work_hours": _r(typical), "events": int(st["events"]),
                         "excess_in_late_cases_work_hours": _r(in_late),
                         "en": {"p50": p50_en, "p90": p90_en, "baseline": b_en}}))
    for f_ in ctx.findings:  # English durations for the catalogue's en text
        if f_.kind == "bottleneck" and "en" in f_.details:
            en = f_.details.pop("en")
            f_.params.update({"p50_en": en["p50"], "p90_en": en["p90"], "baseline_en": en["baseline"]})


def _where_time_went(ctx: _Ctx, case_ids: pd.Series) -> pd.Series:
    """For each case, the step with the most office working time (ties: the step name), counted by step."""
    f = ctx.facts
    spent = f[f["case_id"].isin(case_ids)].assign(
        hours=lambda d: d["wait_work_hours"].where(d["wait_owner"] == "office").fillna(0)
        + d["service_work_hours"].fillna(0))
    worst = spent.sort_values(["case_id", "hours", "activity"], ascending=[True, False, True],
                              kind="stable").drop_duplicates("case_id")
    return worst["activity"].value_counts()


def _sla_overrun(ctx: _Ctx) -> None:
    cases = ctx.cases
    over = cases[cases["outcome"] == "超期"]
    if over.empty:
        return
    for service, g in over.groupby("service", sort=True):
        late = (g["clock_days"] - g["sla_days"].astype(float)).fillna(0)
        excess = float(late.sum())
        where = _where_time_went(ctx, g["case_id"])
        limit = g["sla_days"].astype(float).median()
        ctx.add(Finding(
            "sla_overrun", service, int(len(g)), excess if excess > 0 else float(len(g)),
            "working_days" if excess > 0 else "cases",
            _evidence(g["case_id"], late),
            {"service": service, "cases": len(g), "limit": _fmt(limit) if limit == limit else "—",
             "days": _fmt(excess), "steps": _top(where)},
            details={"time_went_to": {str(k): int(v) for k, v in where.sort_index().items()},
                     "sla_days": _r(limit)}))


def _open_overdue(ctx: _Ctx) -> None:
    cases = ctx.cases
    over = cases[cases["outcome"] == "超期在办"]
    for service, g in over.groupby("service", sort=True):
        late = (-g["days_left"]).fillna(0).clip(lower=0)
        ctx.add(Finding(
            "open_overdue", service, int(len(g)), float(len(g)), "cases", _evidence(g["case_id"], late),
            {"service": service, "cases": len(g), "as_of": f"{ctx.m.as_of:%Y-%m-%d}", "days": _fmt(float(late.sum()))},
            details={"days_over": _r(float(late.sum()))}))


FACTOR_LABELS = {"trips": ("跑动次数", "number of trips"), "outcome": ("是否按时办结", "on time or late"),
                 "correction": ("是否要求补正", "whether a correction was requested"),
                 "channel": ("受理渠道", "channel"), "department": ("承办部门", "department")}


def _rating_drivers(ctx: _Ctx, log: pd.DataFrame) -> None:
    """好差评: process factors whose groups differ in 差评率 (interval excluding zero)."""
    from .ratings import analyse_ratings

    if log is None or "rating" not in log or log["rating"].isna().all():
        ctx.skip("rating_driver", "skip.ratings")
        return
    r = analyse_ratings(log, ctx.rules, measured=ctx.m)
    if r is None or r.drivers.empty:
        return
    min_points = ctx.t.get("rating_driver_min_points", 5) / 100
    for d in r.drivers.itertuples(index=False):
        if not d.significant or d.difference < min_points:
            continue
        zh, en = FACTOR_LABELS[d.factor]
        cases = int(d.high_cases)
        ctx.add(Finding(
            "rating_driver", "全部事项", cases, round(float(d.difference) * 100, 1), "points", [],
            {"factor": zh, "factor_en": en, "high": d.high, "high_rate": _pct(d.high_rate), "low": d.low,
             "low_rate": _pct(d.low_rate), "points": _fmt(d.difference * 100), "ci_low": _fmt(d.ci_low * 100),
             "ci_high": _fmt(d.ci_high * 100)},
            details={"factor": d.factor, "high_cases": int(d.high_cases), "low_cases": int(d.low_cases),
                     "difference": _r(d.difference, 4), "ci": [_r(d.ci_low, 4), _r(d.ci_high, 4)]}))


def _bundle_candidates(ctx: _Ctx, log: pd.DataFrame) -> None:
    """一件事 nobody declared yet: services the same applicants apply for together."""
    from .bundles import _candidates, applicant_key, load_bundles

    key = applicant_key(log) if log is not None else None
    if key is None:
        ctx.skip("bundle_candidate", "skip.applicants")
        return
    declared = ctx.rules.bundles.get("declared")
    cand = _candidates(ctx.cases, key, load_bundles(declared) if declared else [], ctx.m, ctx.rules)
    for c in cand.itertuples(index=False):
        extra = c.extra_trips if c.extra_trips is not None else 0
        ctx.add(Finding(
            "bundle_candidate", c.services, int(c.applicants), float(max(extra, 0) + c.repeated_documents),
            "trips" if c.extra_trips is not None else "documents", list(c.evidence),
            {"services": c.services, "applicants": int(c.applicants), "trips": "—" if c.trips is None else c.trips,
             "repeated": int(c.repeated_documents)},
            details={"applicants": int(c.applicants), "trips": c.trips, "extra_trips": c.extra_trips,
                     "repeated_documents": int(c.repeated_documents)}))
