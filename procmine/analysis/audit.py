"""Audit a canonical log against 最多跑一次: findings ranked by impact.

Analysis only: this module returns plain data (:class:`AuditResult`); the CLI
and the reports render it. Every number comes from :mod:`procmine.engine.metrics`, so
``procmine cases`` and ``procmine audit`` agree. The findings are those of the
registered kinds (:mod:`procmine.analysis.kinds`, one module each): the audit runs
their engine steps, then asks each kind for its findings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from ..config import VERSION as __version__
from ..engine.metrics import measure, note, service_rates
from ..rules import Rules, load_rules
from .kinds import Context, Finding, registered, rnd

__all__ = ["AuditResult", "Finding", "audit", "side_log"]


def __getattr__(name: str):
    """``KINDS`` (the registered kinds' names, in order) and ``DIMENSION`` (kind → 四减
    dimension), read from the registry when asked: never a copied table."""
    if name == "KINDS":
        return tuple(k.name for k in registered())
    if name == "DIMENSION":
        return {k.name: k.dimension for k in registered()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


def audit(log, rules: Rules | str | None = None, *, as_of=None, engine=None) -> AuditResult:
    """Audit a canonical log (a DataFrame, or the path of a Parquet log: a file or a
    partitioned directory); findings ranked by impact (weighted to working hours).
    ``engine``: "duckdb" (default), "spark" or an ``EngineOptions``. The findings'
    counts over events are aggregated in the engine (each kind's step, run by
    :func:`procmine.engine.findings.aggregate`);
    only per-finding rows come back.

    >>> result = audit("out/log.parquet")                       # doctest: +SKIP
    >>> result.findings[0].summary                              # doctest: +SKIP
    """
    from ..engine.findings import aggregate

    rules = load_rules(rules)
    kinds = registered()
    steps = [k.aggregate for k in kinds if k.aggregate is not None]
    side = log if isinstance(log, pd.DataFrame) else side_log(log)
    # ratings and 一件事 read the per-event table, and a log already in memory is small
    # enough to bring its events back; otherwise they stay in the engine (read on demand)
    wants_events = isinstance(log, pd.DataFrame) or (side is not None and any(
        c in side and side[c].notna().any() for c in ("rating", "applicant", "applicant_id")))
    m = measure(log, rules, as_of=as_of, engine=engine, events=wants_events,
                inside=lambda eng, as_of_us: aggregate(eng, rules, as_of_us, steps))
    ctx = Context(m, rules, side)
    agg = m.aggregates
    known = ctx.m.trips_known
    has_trips = bool(known.any()) and bool(agg.flags["trips"])
    has_materials = bool((ctx.cases["materials_submitted"] > 0).any())
    has_service_time = bool(agg.flags["service_time"])
    has_departments = bool(agg.flags["departments"])
    has_sla = bool(ctx.cases["outcome"].isin(["即办", "提前", "按时", "超期", "超期在办"]).any()
                   or ctx.cases["sla_days"].notna().any())

    have = {"trips": has_trips, "materials": has_materials, "service_time": has_service_time,
            "departments": has_departments, "sla": has_sla}
    for kind in kinds:
        if kind.requires is not None and not have[kind.requires]:
            if kind.skip:
                ctx.skip(kind.name, kind.skip)
            continue
        kind.build(ctx, agg)
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


def _service_metrics(ctx: Context, agg, has_materials: bool) -> dict[str, dict]:
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
             "steps_per_case": rnd(g["events"].mean(), 3)}
        rates = service_rates(g)
        for key in ("zero_trip_rate", "at_most_once_rate", "at_most_once_rate_complete"):
            rates[key] = rnd(rates[key], 4) if rates[key] is not None else None
        rates["average_visits"] = rnd(rates["average_visits"], 3) if rates["average_visits"] is not None else None
        for key in ("on_time_rate", "early_rate", "overdue_rate", "instant_share", "compression_ratio"):
            rates[key] = rnd(rates[key], 4) if rates[key] is not None else None
        m.update(rates)
        v = g["visits"]
        m["visits_distribution"] = ({str(k): int(n) for k, n in v.dropna().astype(int).value_counts().sort_index().items()}
                                    if v.notna().any() else None)
        if has_materials:
            m["documents_per_case"] = rnd(g["materials_submitted"].mean(), 3)
            m["repeated_submissions"] = int(g["repeated_material_submissions"].sum())
            m["shareable_submissions"] = int(share_by.get(service, 0))
        else:
            m["documents_per_case"] = m["repeated_submissions"] = m["shareable_submissions"] = None
        closed = g[g["status"] == "办结"]
        m["median_clock_days"] = rnd(closed["clock_days"].median()) if closed["clock_days"].notna().any() else None
        m["median_sla_days"] = rnd(g["sla_days"].astype(float).median()) if g["sla_days"].notna().any() else None
        m["median_lead_days"] = rnd(g["lead_days"].median()) if g["lead_days"].notna().any() else None
        w = office_wait.get(str(service))
        m["median_wait_work_hours"] = rnd(w) if w is not None and w == w else None
        u = unparsed[unparsed["service"] == service]
        m["unparsed_limits"] = {str(r.text): int(r.cases) for r in u.itertuples(index=False)}
        m["outcomes"] = {str(k): int(n) for k, n in g["outcome"].value_counts().sort_index().items()}
        out[str(service)] = m
    return out
